/**
 * The dashboard page: one HTML document, its stylesheet and script (./page/dashboard.css,
 * ./page/dashboard.js) and uPlot (a ~50 KB canvas charting library built for time series,
 * fast on a Pi's browser and on the Pi serving it), all from `/assets/` (./Assets.ts).
 *
 * What it shows, updating live over Server-Sent Events (`/events`) without a reload:
 *   - the cluster: members with their health and rates, and the partition map (who owns what);
 *   - the alarms raised now (device cards with one get a red edge);
 *   - temperature against humidity for every device (scatter);
 *   - per device: current values, temperature and humidity over the last minutes, the last
 *     closed window and the forecast of the next one.
 * On load it fetches the last minutes of readings from the log (`/api/history`), so the
 * charts start full rather than empty.
 *
 * The script is plain ES2017 with no build step and no framework, type-checked by tsc
 * (`// @ts-check`, ./page/tsconfig.json). Elements carry `data-*` attributes (device, point
 * counts, current values) that the end-to-end test reads.
 */

/** The dashboard HTML for a node. */
export const dashboardPage = (options: { readonly cluster: string; readonly node: string }): string => {
  const esc = (text: string) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" })[c]!)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bramble — ${esc(options.cluster)}</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='5' cy='6' r='3' fill='%23a855f7'/%3E%3Ccircle cx='10' cy='5' r='3' fill='%237c3aed'/%3E%3Ccircle cx='8' cy='10' r='3' fill='%236d28d9'/%3E%3C/svg%3E">
<link rel="stylesheet" href="/assets/uPlot.min.css">
<link rel="stylesheet" href="/assets/dashboard.css">
</head>
<body>
<header class="top">
  <h1>Bramble <span id="cluster-name">${esc(options.cluster)}</span></h1>
  <span class="live"><span id="live-dot" class="dot"></span><span id="live-text">connecting…</span></span>
  <span class="live" id="answered-by">served by ${esc(options.node)}</span>
  <div class="kpis">
    <div class="kpi"><b id="kpi-in">–</b><small>readings/s in</small></div>
    <div class="kpi"><b id="kpi-out">–</b><small>stored/s</small></div>
    <div class="kpi"><b id="kpi-lag">–</b><small>lag</small></div>
    <div class="kpi"><b id="kpi-sink">–</b><small>db write</small></div>
    <div class="kpi"><b id="kpi-missing">–</b><small>missing (seq gaps)</small></div>
  </div>
</header>
<main>
  <div class="row">
    <div class="stack">
      <section class="panel"><h2>Nodes &amp; partitions</h2><div id="members" class="members"></div><div id="pmap" class="pmap"></div></section>
      <section class="panel"><h2>Active alarms</h2><ul id="alarms" class="alarms"></ul></section>
    </div>
    <section class="panel"><h2>Temperature against humidity</h2><div id="scatter" data-series="0"></div></section>
  </div>
  <section id="devices" class="devices"><div id="no-devices" class="notice">Waiting for readings…</div></section>
</main>
<script src="/assets/uplot.iife.min.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`
}
