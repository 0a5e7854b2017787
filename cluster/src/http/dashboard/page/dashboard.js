// @ts-check
/*
 * The dashboard's script, served as /assets/dashboard.js after uPlot (the page:
 * ../DashboardPage.ts). Plain ES2017, no build step and no framework, so a Pi's browser runs
 * it as it is; type-checked by tsc (./tsconfig.json, `npm run typecheck`) with the DOM's and
 * uPlot's types. Elements carry `data-*` attributes (device, point counts, current values)
 * that the end-to-end test reads.
 */
(function () {
  "use strict";
  var WINDOW_MS = 15 * 60 * 1000;
  var PALETTE = ["#fb923c", "#38bdf8", "#a3e635", "#f472b6", "#facc15", "#c084fc", "#2dd4bf", "#fb7185", "#60a5fa", "#fcd34d"];
  var NODE_COLORS = ["#22d3ee", "#a78bfa", "#f472b6", "#fbbf24", "#34d399", "#f87171", "#60a5fa", "#e879f9"];
  var devices = {};
  var order = [];
  var alarms = {};
  var scatter = null;
  var scatterKeys = "";
  var dirty = {};
  var scatterDirty = false;
  var nodeColor = {};
  var overview = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function fmt(v, d) { return v === undefined || v === null || !isFinite(v) ? "–" : Number(v).toFixed(d); }
  function ago(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }
  function rate(v) { return v >= 100 ? v.toFixed(0) : v.toFixed(1); }
  function colorOf(node) {
    if (!(node in nodeColor)) nodeColor[node] = NODE_COLORS[Object.keys(nodeColor).length % NODE_COLORS.length];
    return nodeColor[node];
  }
  function axisStyle(extra) {
    var a = { stroke: "#8b9bb4", grid: { stroke: "#1f2a40", width: 1 }, ticks: { stroke: "#24324d", width: 1 } };
    for (var k in extra) a[k] = extra[k];
    return a;
  }

  // ---- devices and their charts ----------------------------------------------------
  function deviceFor(r) {
    var key = r.device + "/" + r.sensor;
    var d = devices[key];
    if (d) return d;
    d = { key: key, device: r.device, sensor: r.sensor, partition: r.partition, ts: [], temperature: [], humidity: [], latest: {}, lastTs: 0, color: PALETTE[order.length % PALETTE.length], windowText: "", forecastText: "" };
    devices[key] = d;
    order.push(key);
    order.sort();
    createCard(d);
    scatterDirty = true;
    return d;
  }

  function createCard(d) {
    var card = el("section", "card");
    card.setAttribute("data-device", d.device);
    card.setAttribute("data-sensor", d.sensor);
    card.setAttribute("data-points", "0");
    var head = el("header");
    var title = el("h3", null, d.device);
    if (d.sensor !== "env") title.appendChild(el("span", "meta", " / " + d.sensor));
    head.appendChild(title);
    d.metaEl = el("span", "meta", "partition " + d.partition);
    head.appendChild(d.metaEl);
    card.appendChild(head);
    var values = el("div", "values");
    d.tempEl = valueBox(values, "temp", "°C", "temperature");
    d.humEl = valueBox(values, "hum", "%", "humidity");
    card.appendChild(values);
    d.othersEl = el("div", "others");
    card.appendChild(d.othersEl);
    d.alarmEl = el("div", "alarm-note");
    card.appendChild(d.alarmEl);
    d.chartEl = el("div", "chart");
    card.appendChild(d.chartEl);
    var foot = el("footer");
    d.seenEl = el("span", null, "");
    d.windowEl = el("span", null, "");
    foot.appendChild(d.seenEl);
    foot.appendChild(d.windowEl);
    card.appendChild(foot);
    d.card = card;
    var list = $("devices");
    var notice = $("no-devices");
    if (notice) notice.remove();
    var idx = order.indexOf(d.key);
    var next = null;
    for (var i = idx + 1; i < order.length && !next; i++) if (devices[order[i]] && devices[order[i]].card && devices[order[i]].card.parentNode) next = devices[order[i]].card;
    list.insertBefore(card, next);
    d.chart = new uPlot(chartOptions(d.chartEl.clientWidth || 400), [[], [], []], d.chartEl);
  }

  function valueBox(parent, cls, unit, metric) {
    var box = el("div", "value " + cls);
    var num = el("span", "num", "–");
    num.setAttribute("data-metric", metric);
    box.appendChild(num);
    box.appendChild(el("span", "unit", unit));
    box.appendChild(el("span", "label", metric));
    parent.appendChild(box);
    return num;
  }

  // A flat series (a DHT11 reads whole degrees) would otherwise get a huge padded range.
  /** @param {number} span @returns {import("uplot").Range.Function} */
  function rangeAtLeast(span) {
    return function (u, min, max) {
      if (min === null || max === null) return [0, span];
      if (max - min < span) { var mid = (min + max) / 2; return [mid - span / 2, mid + span / 2]; }
      var pad = (max - min) * 0.08;
      return [min - pad, max + pad];
    };
  }

  function two(n) { return n < 10 ? "0" + n : String(n); }
  // One line per tick (uPlot's default adds a date line that crowds a small chart).
  function timeLabels(u, splits) {
    return splits.map(function (ts) {
      var d = new Date(ts * 1000);
      return two(d.getHours()) + ":" + two(d.getMinutes()) + (d.getSeconds() ? ":" + two(d.getSeconds()) : "");
    });
  }

  function chartOptions(width) {
    return {
      width: Math.max(260, width),
      height: 190,
      legend: { show: false },
      cursor: { points: { size: 6 } },
      scales: { x: { time: true }, t: { auto: true, range: rangeAtLeast(2) }, h: { auto: true, range: rangeAtLeast(6) } },
      series: [
        {},
        { label: "Temperature", scale: "t", stroke: "#fb923c", width: 2, fill: "rgba(251,146,60,.06)", value: function (u, v) { return fmt(v, 1) + " °C"; } },
        { label: "Humidity", scale: "h", stroke: "#38bdf8", width: 2, value: function (u, v) { return fmt(v, 1) + " %"; } }
      ],
      axes: [
        axisStyle({ space: 70, values: timeLabels }),
        axisStyle({ scale: "t", size: 50, values: function (u, vals) { return vals.map(function (v) { return fmt(v, 1) + "°"; }); } }),
        axisStyle({ scale: "h", side: 1, size: 46, grid: { show: false }, values: function (u, vals) { return vals.map(function (v) { return fmt(v, 0) + "%"; }); } })
      ]
    };
  }

  function insertAt(arr, ts) {
    var i = arr.length;
    while (i > 0 && arr[i - 1] > ts) i--;
    return i;
  }

  function addReading(r) {
    var d = deviceFor(r);
    var t = r.ts / 1000;
    var i = insertAt(d.ts, t);
    if (i > 0 && d.ts[i - 1] === t) i = i - 1; // same event time: a replay, overwrite
    else {
      d.ts.splice(i, 0, t);
      d.temperature.splice(i, 0, null);
      d.humidity.splice(i, 0, null);
    }
    d.temperature[i] = "temperature" in r.values ? r.values.temperature : null;
    d.humidity[i] = "humidity" in r.values ? r.values.humidity : null;
    if (r.ts >= d.lastTs) { d.lastTs = r.ts; d.latest = r.values; d.partition = r.partition; }
    var cutoff = (Date.now() - WINDOW_MS) / 1000;
    var drop = 0;
    while (drop < d.ts.length && d.ts[drop] < cutoff) drop++;
    if (drop > 0) { d.ts.splice(0, drop); d.temperature.splice(0, drop); d.humidity.splice(0, drop); }
    dirty[d.key] = true;
    scatterDirty = true;
  }

  function renderDevice(d) {
    d.chart.setData([d.ts, d.temperature, d.humidity]);
    d.card.setAttribute("data-points", String(d.ts.length));
    d.tempEl.textContent = fmt(d.latest.temperature, 1);
    d.humEl.textContent = fmt(d.latest.humidity, 1);
    d.tempEl.parentNode.style.display = "temperature" in d.latest ? "" : "none";
    d.humEl.parentNode.style.display = "humidity" in d.latest ? "" : "none";
    var others = [];
    for (var k in d.latest) if (k !== "temperature" && k !== "humidity") others.push(k + " " + fmt(d.latest[k], 2));
    d.othersEl.textContent = others.join(" · ");
    var owner = ownerOf(d.partition);
    d.metaEl.textContent = "partition " + d.partition + (owner ? " · " + owner : "");
    d.windowEl.textContent = d.windowText + (d.windowText && d.forecastText ? " · " : "") + d.forecastText;
    var raised = Object.keys(alarms).filter(function (k) { return alarms[k].device === d.device; }).map(function (k) { return alarms[k]; });
    d.card.classList.toggle("alarmed", raised.length > 0);
    d.card.setAttribute("data-alarms", String(raised.length));
    d.alarmEl.textContent = raised.map(function (a) { return "⚠ " + a.rule + ": " + a.message; }).join(" · ");
  }

  function ownerOf(p) {
    if (!overview) return null;
    for (var i = 0; i < overview.owners.length; i++) if (overview.owners[i].partition === p) return overview.owners[i].owner;
    return null;
  }

  function renderSeen() {
    var now = Date.now();
    for (var i = 0; i < order.length; i++) {
      var d = devices[order[i]];
      d.seenEl.textContent = d.lastTs ? "updated " + ago(now - d.lastTs) + " · " + d.ts.length + " points" : "";
    }
  }

  // ---- temperature against humidity ------------------------------------------------
  // In uPlot's faceted mode (2) each series is [xs, ys]; its points are drawn as one path.
  function dots(u, seriesIdx) {
    var data = u.data[seriesIdx];
    var path = new Path2D();
    var r = 3.5 * uPlot.pxRatio;
    for (var i = 0; i < data[0].length; i++) {
      var cx = u.valToPos(data[0][i], "x", true);
      var cy = u.valToPos(data[1][i], "y", true);
      path.moveTo(cx + r, cy);
      path.arc(cx, cy, r, 0, 2 * Math.PI);
    }
    return { stroke: path, fill: path };
  }

  function renderScatter() {
    var keys = order.filter(function (k) { return devices[k].temperature.some(function (v) { return v !== null; }) && devices[k].humidity.some(function (v) { return v !== null; }); });
    var host = $("scatter");
    var width = host.clientWidth || 400;
    if (keys.join("|") !== scatterKeys) {
      if (scatter) scatter.destroy();
      scatter = null;
      scatterKeys = keys.join("|");
      if (keys.length === 0) return;
      var series = [null];
      keys.forEach(function (k) {
        var d = devices[k];
        series.push({
          label: d.device, stroke: d.color, fill: d.color + "88", width: 1,
          paths: dots,
          points: { show: false },
          facets: [{ scale: "x", auto: true }, { scale: "y", auto: true }]
        });
      });
      scatter = new uPlot({
        mode: 2, width: width, height: 300,
        legend: { live: false },
        cursor: { show: false },
        scales: { x: { time: false, auto: true, range: rangeAtLeast(2) }, y: { auto: true, range: rangeAtLeast(6) } },
        series: series,
        axes: [
          axisStyle({ label: "temperature °C", labelSize: 20, values: function (u, vals) { return vals.map(function (v) { return v + "°"; }); } }),
          axisStyle({ label: "humidity %", labelSize: 20, size: 44 })
        ]
      }, scatterData(keys), host);
    } else if (scatter) {
      scatter.setData(scatterData(keys));
    }
    host.setAttribute("data-series", String(keys.length));
  }

  function scatterData(keys) {
    var data = [null];
    keys.forEach(function (k) {
      var d = devices[k], xs = [], ys = [];
      for (var i = 0; i < d.ts.length; i++) {
        if (d.temperature[i] !== null && d.humidity[i] !== null) { xs.push(d.temperature[i]); ys.push(d.humidity[i]); }
      }
      data.push([xs, ys]);
    });
    return data;
  }

  // ---- cluster, partitions, alarms -------------------------------------------------
  function renderCluster(o) {
    overview = o;
    $("cluster-name").textContent = o.cluster;
    $("answered-by").textContent = "served by " + o.self;
    var members = $("members");
    members.innerHTML = "";
    var inRate = 0, outRate = 0, lag = 0, lagKnown = false, sinkMs = null, gaps = 0, missing = 0;
    o.members.forEach(function (m) {
      var row = el("div", "member");
      row.setAttribute("data-node", m.node);
      row.setAttribute("data-health", m.health);
      var sw = el("span", "swatch");
      sw.style.background = colorOf(m.node);
      row.appendChild(sw);
      var mid = el("div");
      var name = el("div", "name", m.node + " ");
      var dot = el("span", "dot " + m.health);
      dot.title = m.health + (m.problem ? ": " + m.problem : "");
      name.appendChild(dot);
      mid.appendChild(name);
      var sub = m.status
        ? rate(m.status.rates.readingsIn) + " readings/s in · " + rate(m.status.rates.readingsOut) + " out · up " + ago(m.status.uptimeMs).replace(" ago", "") +
          (m.status.config && m.status.config.version !== undefined ? " · config v" + m.status.config.version : "")
        : (m.problem || m.health);
      if (m.problem && m.status) sub = m.problem;
      mid.appendChild(el("div", "sub", sub));
      row.appendChild(mid);
      row.appendChild(el("div", "sub", m.partitions.length + " partition" + (m.partitions.length === 1 ? "" : "s")));
      members.appendChild(row);
      if (m.status) {
        inRate += m.status.rates.readingsIn;
        outRate += m.status.rates.readingsOut;
        if (m.status.lag) { lag += m.status.lag.pending; lagKnown = true; }
        if (m.status.storage.writes > 0) sinkMs = Math.max(sinkMs || 0, m.status.storage.lastWriteMs);
        // Readings the devices' seq says never reached the log (Gap dead letters).
        if (m.status.totals.sequence) { gaps += m.status.totals.sequence.gaps; missing += m.status.totals.sequence.missing; }
      }
    });
    $("kpi-in").textContent = rate(inRate);
    $("kpi-out").textContent = rate(outRate);
    $("kpi-lag").textContent = lagKnown ? String(lag) : "–";
    $("kpi-sink").textContent = sinkMs === null ? "–" : sinkMs + " ms";
    var gapKpi = $("kpi-missing");
    gapKpi.textContent = String(missing);
    gapKpi.setAttribute("data-gaps", String(gaps));
    gapKpi.style.color = missing > 0 ? "var(--bad)" : "";
    gapKpi.title = gaps + " gap(s) in device seqs: see the Gap dead letters (deadletter.Gap) for each range";
    // Partitions that keep failing, from their owners' status (reason and stream sequence).
    var failing = {};
    o.members.forEach(function (m) {
      if (!m.status) return;
      m.status.partitions.forEach(function (p) { if (p.failing) failing[p.partition] = p.failing; });
    });
    var pmap = $("pmap");
    pmap.innerHTML = "";
    o.owners.forEach(function (p) {
      var f = failing[p.partition];
      var cell = el("div", "part" + (p.owner ? "" : " unowned") + (f ? " failing" : ""), "p" + p.partition);
      cell.setAttribute("data-partition", String(p.partition));
      if (f) cell.setAttribute("data-failing", String(f.seq === undefined ? f.checkpointedSeq : f.seq));
      if (p.owner) { cell.style.background = colorOf(p.owner); cell.title = "partition " + p.partition + " → " + p.owner; }
      else cell.title = "partition " + p.partition + ": no owner (rebalancing)";
      if (f) cell.title += "\nFAILING " + (f.seq === undefined ? "after stream sequence " + f.checkpointedSeq : "at stream sequence " + f.seq) + " (" + f.failures + " failures): " + f.reason;
      pmap.appendChild(cell);
    });
    for (var i = 0; i < order.length; i++) dirty[order[i]] = true;
  }

  function renderAlarms() {
    var list = $("alarms");
    list.innerHTML = "";
    var keys = Object.keys(alarms).sort();
    list.setAttribute("data-count", String(keys.length));
    if (keys.length === 0) { var empty = list.appendChild(el("li", "empty", "No active alarms")); empty.style.background = "none"; empty.style.borderLeft = "none"; return; }
    keys.forEach(function (k) {
      var a = alarms[k];
      var li = el("li", a.severity ? "sev-" + a.severity : null, a.device + " — " + a.rule + (a.severity ? " [" + a.severity + "]" : ""));
      li.setAttribute("data-alarm", k);
      if (a.severity) li.setAttribute("data-severity", a.severity);
      if (a.ack) li.setAttribute("data-acked", "true");
      li.appendChild(el("small", null, a.message + " · raised " + ago(Date.now() - a.at) +
        (a.ack ? " · acknowledged " + ago(Date.now() - a.ack.at) + (a.ack.note ? ": " + a.ack.note : "") : "")));
      list.appendChild(li);
    });
  }

  function addAlarm(a) {
    var key = a.device + "/" + a.rule;
    if (a.state === "cleared") delete alarms[key];
    else alarms[key] = a;
    for (var i = 0; i < order.length; i++) if (devices[order[i]].device === a.device) dirty[order[i]] = true;
  }

  // ---- plumbing --------------------------------------------------------------------
  function render() {
    for (var k in dirty) if (devices[k]) renderDevice(devices[k]);
    dirty = {};
    if (scatterDirty) { renderScatter(); scatterDirty = false; }
    renderSeen();
  }

  function getJson(path) {
    return fetch(path, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(path + ": " + r.status);
      return r.json();
    });
  }

  function setLive(state, text) {
    var dot = $("live-dot");
    dot.className = "dot " + state;
    $("live-text").textContent = text;
    document.body.setAttribute("data-live", state);
  }

  function connect() {
    var source = new EventSource("/events");
    source.onopen = function () { setLive("ok", "live"); };
    source.onerror = function () { setLive("down", "reconnecting…"); };
    source.addEventListener("readings", function (e) { JSON.parse(e.data).forEach(addReading); });
    source.addEventListener("windows", function (e) {
      JSON.parse(e.data).forEach(function (w) {
        var d = devices[w.device + "/" + w.sensor];
        if (d && w.metric === "temperature") { d.windowText = w.window + " mean " + fmt(w.mean, 2) + " °C (n=" + w.count + ")"; dirty[d.key] = true; }
      });
    });
    source.addEventListener("forecasts", function (e) {
      JSON.parse(e.data).forEach(function (f) {
        var d = devices[f.device + "/" + f.sensor];
        if (d && f.metric === "temperature") { d.forecastText = "next " + f.window + " ≈ " + fmt(f.mean, 2) + " °C"; dirty[d.key] = true; }
      });
    });
    source.addEventListener("alarms", function (e) { JSON.parse(e.data).forEach(addAlarm); renderAlarms(); });
    source.addEventListener("cluster", function (e) { renderCluster(JSON.parse(e.data)); });
  }

  window.addEventListener("resize", function () {
    for (var i = 0; i < order.length; i++) {
      var d = devices[order[i]];
      d.chart.setSize({ width: Math.max(260, d.chartEl.clientWidth), height: 190 });
    }
    if (scatter) scatter.setSize({ width: $("scatter").clientWidth, height: 300 });
  });

  setInterval(render, 1000);
  getJson("/api/cluster").then(renderCluster).catch(function () {});
  function loadAlarms() { getJson("/api/alarms").then(function (r) { r.alarms.forEach(addAlarm); renderAlarms(); }).catch(function () { renderAlarms(); }); }
  loadAlarms();
  // Acknowledgements are not in the live feed (they are not alarm events): fetched again now and then.
  setInterval(loadAlarms, 15000);
  getJson("/api/history?minutes=15").then(function (r) {
    r.readings.forEach(addReading);
    render();
  }).catch(function () {}).then(function () {
    document.body.setAttribute("data-history", "loaded");
    connect();
  });
})();
