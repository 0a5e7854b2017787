/**
 * Is this machine a Raspberry Pi? Asked before any native addon is loaded: the bcm2835
 * library inside node-dht-sensor maps physical memory when run as root, which must
 * never happen on a machine whose memory map it does not know.
 */
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { join } from "node:path"

/** Where the device tree names the board, relative to the filesystem root. */
const MODEL_FILES = ["proc/device-tree/model", "sys/firmware/devicetree/base/model"] as const

/**
 * The board's model string (e.g. "Raspberry Pi 4 Model B Rev 1.4") when `root` is a
 * Raspberry Pi's filesystem root, otherwise `undefined`.
 */
export const raspberryPiModel = (root: string): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    for (const file of MODEL_FILES) {
      try {
        // The device tree stores the model NUL-terminated.
        const model = (await readFile(join(root, file), "utf8")).replace(/\0/g, "").trim()
        if (model.includes("Raspberry Pi")) return model
      } catch {
        // Missing file: try the next location.
      }
    }
    return undefined
  })
