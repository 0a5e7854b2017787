/**
 * What a node exports on `/metrics`: readings in and out, rejections, consumer lag, actor
 * restarts and mailbox depth, database write latency and failures, sensors, and the process
 * itself (memory matters on a Pi). Built from the same status the admin actor answers, so
 * `bramble status`, the dashboard and Prometheus agree.
 *
 * Device aggregators are summed per partition rather than labelled per device: a bramble
 * can have thousands of devices, and one time series per device per metric would cost
 * Prometheus more than it tells an operator (`bramble device ID` answers for one device).
 */
import type { Admin } from "@bramble/protocol"
import type { Histogram, MetricFamily, Sample } from "./Prometheus.js"

export interface NodeMetricsInput {
  readonly status: Admin.NodeStatus
  readonly actors: ReadonlyArray<Admin.ActorInfo>
  readonly writeLatency: Histogram | undefined
}

const counter = (name: string, help: string, samples: ReadonlyArray<Sample>): MetricFamily => ({ name, help, type: "counter", samples })
const gauge = (name: string, help: string, samples: ReadonlyArray<Sample>): MetricFamily => ({ name, help, type: "gauge", samples })

/** The families of one node. */
export const nodeMetrics = (input: NodeMetricsInput): ReadonlyArray<MetricFamily> => {
  const { status } = input
  const node = { node: status.node }
  const perPartition = (value: (p: Admin.PartitionStatus) => number) =>
    status.partitions.map((p) => ({ labels: { ...node, partition: String(p.partition) }, value: value(p) }))
  const withLag = status.partitions.filter((p) => p.lag !== undefined)
  const s = status.storage

  const workers = input.actors.filter((a) => a.kind !== "aggregator" && a.kind !== "supervisor")
  const agg = { live: 0, mailbox: 0, restarts: 0 }
  for (const a of input.actors) {
    if (a.kind !== "aggregator") continue
    agg.live += 1
    agg.mailbox += a.mailboxSize
    agg.restarts += a.restarts
  }
  const supervisors = input.actors.filter((a) => a.kind === "supervisor")

  const families: Array<MetricFamily> = [
    gauge("bramble_info", "Versions of this node (value is always 1)", [{
      labels: { ...node, version: status.versions.bramble, nodejs: status.versions.node, nats_server: status.versions.natsServer },
      value: 1
    }]),
    gauge("bramble_uptime_seconds", "Seconds since the node started", [{ labels: node, value: status.uptimeMs / 1000 }]),
    ...(status.config?.version === undefined
      ? []
      : [gauge("bramble_config_version", "The version of the cluster file whose live sections (rules) the node runs (docs/live-config.md)", [{ labels: node, value: status.config.version }])]),
    gauge("bramble_config_error", "1 while the node cannot run the newest version of the cluster file (it keeps the previous one)", [{ labels: node, value: status.config?.error === undefined ? 0 : 1 }]),
    ...(status.clock?.synchronized === undefined
      ? []
      : [gauge("bramble_node_clock_synchronized", "1 while the node's clock is synchronized (timedatectl NTPSynchronized)", [{ labels: node, value: status.clock.synchronized ? 1 : 0 }])]),
    counter("bramble_readings_received_total", "Readings taken from the READINGS log, per partition", perPartition((p) => p.received)),
    counter("bramble_readings_accepted_total", "Readings that decoded and validated, per partition", perPartition((p) => p.accepted)),
    counter("bramble_readings_rejected_total", "Readings refused and dead-lettered, per partition", perPartition((p) => p.rejected)),
    counter("bramble_readings_too_late_total", "Readings too late for every window they belong to, per partition", perPartition((p) => p.tooLate)),
    // Gap detection (../partition/SequenceGaps.ts): what the devices' seqs say is missing from the log.
    counter("bramble_seq_gaps_total", "Gaps in devices' seq reported (one Gap dead letter each), per partition", perPartition((p) => p.sequence?.gaps ?? 0)),
    counter("bramble_seq_gap_readings_total", "Readings inside the reported gaps when they were reported, per partition", perPartition((p) => p.sequence?.gapReadings ?? 0)),
    counter("bramble_seq_late_filled_total", "Readings of reported gaps that arrived afterwards (reordered, not lost), per partition", perPartition((p) => p.sequence?.lateFilled ?? 0)),
    counter("bramble_mqtt_recovered_total", "MQTT readings nats-server PUBACKed but never copied into READINGS, put back from its $MQTT_msgs stream, per partition", perPartition((p) => p.sequence?.recovered ?? 0)),
    gauge("bramble_seq_missing", "Readings reported missing and not arrived since (gap readings minus late-filled), per partition", perPartition((p) => p.sequence?.missing ?? 0)),
    counter("bramble_seq_restarts_total", "Devices' seq restarting from a much lower number (a device reset its count), per partition", perPartition((p) => p.sequence?.restarts ?? 0)),
    counter("bramble_seq_duplicates_total", "Readings whose seq had been seen already, per partition", perPartition((p) => p.sequence?.duplicates ?? 0)),
    counter("bramble_windows_emitted_total", "Window results closed and emitted, per partition", perPartition((p) => p.windowsEmitted)),
    counter("bramble_readings_duplicate_total", "Readings not counted again in windows (same device, sensor, metric and event time), per partition", perPartition((p) => p.duplicates ?? 0)),
    counter("bramble_readings_clock_ahead_total", "Readings refused as ClockAhead (the device's clock runs ahead), per partition", perPartition((p) => p.clockAhead ?? 0)),
    counter("bramble_partition_failures_total", "Runs of the partition's worker that failed (each restarts from the checkpoint), per partition", perPartition((p) => p.failures ?? 0)),
    gauge("bramble_partition_failing", "1 while the partition keeps failing (not yet checkpointed past the point of failure)", perPartition((p) => p.failing === undefined ? 0 : 1)),
    gauge(
      "bramble_partition_failing_seq",
      "While failing: the stream sequence the failure is tied to, or the last good checkpoint's when not known",
      status.partitions.filter((p) => p.failing !== undefined).map((p) => ({
        labels: { ...node, partition: String(p.partition) },
        value: p.failing!.seq ?? p.failing!.checkpointedSeq
      }))
    ),
    gauge(
      "bramble_device_clock_skew_seconds",
      "Estimated clock skew of the devices whose readings were refused for their time (stored time minus event time; negative: ahead)",
      (status.clocks ?? []).map((c) => ({ labels: { ...node, device: c.device, partition: String(c.partition), reason: c.reason }, value: c.skewMs / 1000 }))
    ),
    gauge("bramble_partition_checkpoint_seq", "Stream sequence covered by the partition's last checkpoint", perPartition((p) => p.checkpointedSeq)),
    gauge(
      "bramble_partition_checkpoint_age_seconds",
      "Seconds since the partition's last checkpoint",
      status.partitions.filter((p) => p.lastCheckpointAt > 0).map((p) => ({
        labels: { ...node, partition: String(p.partition) },
        value: Math.max(0, (status.startedAt + status.uptimeMs - p.lastCheckpointAt) / 1000)
      }))
    ),
    gauge("bramble_consumer_pending", "Readings of the partition not yet delivered to this node (lag)", withLag.map((p) => ({ labels: { ...node, partition: String(p.partition) }, value: p.lag!.pending }))),
    gauge("bramble_consumer_ack_pending", "Readings delivered but not yet checkpointed and acknowledged", withLag.map((p) => ({ labels: { ...node, partition: String(p.partition) }, value: p.lag!.ackPending }))),
    counter("bramble_readings_written_total", "Raw readings written to the database", [{ labels: node, value: s.readingsWritten }]),
    counter("bramble_sink_points_written_total", "Points (readings and window results) written to the database", [{ labels: node, value: s.pointsWritten }]),
    counter("bramble_sink_writes_total", "Successful database writes (batches)", [{ labels: node, value: s.writes }]),
    counter("bramble_sink_write_failures_total", "Database writes that failed and were retried", [{ labels: node, value: s.writeFailures }]),
    counter("bramble_sink_points_rejected_total", "Points the database refused (dead-lettered)", [{ labels: node, value: s.pointsRejected }]),
    gauge("bramble_sink_unavailable", "1 while the database is unreachable", [{ labels: node, value: s.unavailableSince === undefined ? 0 : 1 }]),
    gauge("bramble_sink_last_write_seconds", "Duration of the last successful database write", [{ labels: node, value: s.lastWriteMs / 1000 }])
  ]
  if (input.writeLatency !== undefined) {
    families.push({
      name: "bramble_sink_write_duration_seconds",
      help: "Duration of successful database writes",
      type: "histogram",
      samples: input.writeLatency.samples(node)
    })
  }
  families.push(
    counter("bramble_actor_restarts_total", "Restarts of each worker and actor (device aggregators are summed)", [
      ...workers.map((a) => ({ labels: { ...node, actor: a.name, kind: a.kind }, value: a.restarts })),
      { labels: { ...node, actor: "aggregators", kind: "aggregator" }, value: agg.restarts }
    ]),
    gauge("bramble_actor_mailbox_depth", "Messages waiting in each actor's mailbox (device aggregators are summed)", [
      ...workers.filter((a) => a.mailboxCapacity > 0).map((a) => ({ labels: { ...node, actor: a.name, kind: a.kind }, value: a.mailboxSize })),
      { labels: { ...node, actor: "aggregators", kind: "aggregator" }, value: agg.mailbox }
    ]),
    gauge("bramble_actor_up", "1 while a worker or actor is running", workers.map((a) => ({ labels: { ...node, actor: a.name, kind: a.kind }, value: a.state === "running" ? 1 : 0 }))),
    gauge("bramble_aggregators_live", "Device aggregator actors in memory (not passivated)", [{ labels: node, value: agg.live }]),
    counter("bramble_supervisor_restarts_total", "Restarts of each supervisor", supervisors.map((a) => ({ labels: { ...node, supervisor: a.name }, value: a.restarts }))),
    counter("bramble_sensor_reads_total", "Sensor reads, per device", status.sensors.map((x) => ({ labels: { ...node, device: x.device }, value: x.reads }))),
    counter("bramble_sensor_read_failures_total", "Failed sensor reads, per device", status.sensors.map((x) => ({ labels: { ...node, device: x.device }, value: x.readFailures }))),
    counter("bramble_sensor_published_total", "Readings a sensor published to NATS, per device", status.sensors.map((x) => ({ labels: { ...node, device: x.device }, value: x.published }))),
    counter("bramble_sensor_dropped_total", "Readings a sensor dropped because its buffer was full, per device", status.sensors.map((x) => ({ labels: { ...node, device: x.device }, value: x.dropped }))),
    gauge("bramble_sensor_buffered", "Readings a sensor holds while NATS is unreachable, per device", status.sensors.map((x) => ({ labels: { ...node, device: x.device }, value: x.buffered })))
  )
  const ingest = status.ingest
  if (ingest !== undefined) {
    families.push(
      counter("bramble_ingest_messages_total", "Messages of routed topics the ingest router read (on the node owning partition 0)", [{ labels: node, value: ingest.messages }]),
      counter("bramble_ingest_readings_total", "Readings the ingest routes made of them, put into READINGS", [{ labels: node, value: ingest.readings }]),
      counter("bramble_ingest_refused_total", "Parts of routed messages their dialect refused (dead-lettered)", [{ labels: node, value: ingest.refused }]),
      counter("bramble_ingest_no_route_total", "Messages no ingest route takes, dead-lettered as NoRoute (MQTT QoS 1 included)", [{ labels: node, value: ingest.noRoute }])
    )
  }
  const forwarders = status.forwarders ?? []
  if (forwarders.length > 0) {
    const per = (value: (f: Admin.ForwarderStatus) => number | undefined) =>
      forwarders.flatMap((f) => {
        const v = value(f)
        return v === undefined ? [] : [{ labels: { ...node, target: f.name, kind: f.kind, source: f.source }, value: v }]
      })
    families.push(
      counter("bramble_forward_items_sent_total", "Items a forward target accepted, per target", per((f) => f.sent)),
      counter("bramble_forward_batches_total", "Batches delivered to a forward target and acknowledged, per target", per((f) => f.batches)),
      counter("bramble_forward_failures_total", "Failed deliveries to a forward target that were retried, per target", per((f) => f.failures)),
      counter("bramble_forward_dead_lettered_total", "Items a forward target refused (4xx), dead-lettered, per target", per((f) => f.deadLettered)),
      counter("bramble_forward_skipped_total", "Items not forwarded (no ThingsBoard token for the device, not decodable), per target", per((f) => f.skipped)),
      counter("bramble_forward_held_back_total", "Alarm events not forwarded because their rule's notifyEvery held them back (a flapping alarm), per target", per((f) => f.heldBack)),
      gauge("bramble_forward_lag", "Messages of a forward target's consumer not yet delivered (the target's, over all nodes)", per((f) => f.lag)),
      gauge("bramble_forward_unavailable", "1 while a forward target is unreachable", per((f) => f.unavailableSince === undefined ? 0 : 1))
    )
  }
  return families
}

/** The Node.js process (memory and CPU matter on a Pi). */
export const processMetrics = (): ReadonlyArray<MetricFamily> => {
  const memory = process.memoryUsage()
  const cpu = process.cpuUsage()
  return [
    gauge("process_resident_memory_bytes", "Resident memory size in bytes", [{ value: memory.rss }]),
    gauge("nodejs_heap_used_bytes", "V8 heap in use, bytes", [{ value: memory.heapUsed }]),
    counter("process_cpu_seconds_total", "User and system CPU time spent, seconds", [{ value: (cpu.user + cpu.system) / 1e6 }]),
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, seconds", [{ value: Math.floor(Date.now() / 1000 - process.uptime()) }])
  ]
}
