/**
 * The admin actor computes a device's partition itself (to find its owner); it must agree
 * with nats-server's `partition(N, device)` mapping, checked here against the real server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Subjects } from "@bramble/protocol"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { fnv1a32, partitionOfDevice } from "../src/admin/DevicePartition.js"
import { natsFixture } from "../../test/support/NatsFixture.js"

describe("device partition", () => {
  it("fnv1a32 - matches the reference FNV-1a 32-bit test vectors", () => {
    assert.strictEqual(fnv1a32(""), 0x811c9dc5)
    assert.strictEqual(fnv1a32("a"), 0xe40c292c)
    assert.strictEqual(fnv1a32("foobar"), 0xbf9cf968)
  })

  it.live("partitionOfDevice - agrees with the partition nats-server maps each device's readings to", () =>
    Effect.scoped(Effect.gen(function*() {
      const partitions = 7
      const { server } = yield* natsFixture({ name: "partition", partitions })
      const devices = [
        ...Array.from({ length: 300 }, (_, i) => `device-${i}`),
        "greenhouse-1", "barn", "A", "z", "_", "-", "0123456789", "x".repeat(64), "Mixed_Case-42"
      ]
      const mapped = yield* Effect.promise(async () => {
        const nc = await connect({ servers: server.url })
        try {
          const seen = new Map<string, number>()
          const done = new Promise<void>((resolve) => {
            nc.subscribe("readings.>", {
              callback: (_error, msg) => {
                const where = Subjects.parseReadingsSubject(msg.subject)
                if (where !== undefined) seen.set(where.device, where.partition)
                if (seen.size === devices.length) resolve()
              }
            })
          })
          await nc.flush()
          for (const device of devices) nc.publish(Subjects.ingestSubject(device, "x"), "{}")
          await done
          return seen
        } finally {
          await nc.close()
        }
      })
      const disagreements = devices.filter((d) => mapped.get(d) !== partitionOfDevice(d, partitions))
      assert.deepStrictEqual(disagreements, [])
      // Every partition is used, so the comparison covered the whole range.
      assert.strictEqual(new Set(mapped.values()).size, partitions)
    })))
})
