/**
 * Small deterministic randomness for the simulated drivers.
 *
 * The simulated DHT derives every value from a hash of (seed, pin, time), not from a
 * sequential generator: a reading is then a pure function of when it was taken, so two
 * sensors, or the same sensor read in a different order, still give reproducible
 * values. The press generator only needs a stream of numbers, so it uses mulberry32.
 */

const TWO_32 = 0x1_0000_0000

/** murmur3's 32-bit finaliser: good avalanche for a handful of integer keys. */
const fmix32 = (input: number): number => {
  let h = input >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85eb_ca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2_ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * A uniform number in [0, 1) determined by the keys. Keys are finite numbers; values
 * beyond 32 bits (millisecond timestamps) are folded in as two words.
 */
export const hashUnit = (...keys: ReadonlyArray<number>): number => {
  let h = 0x9e37_79b9
  for (const key of keys) {
    const truncated = Math.trunc(key)
    const low = ((truncated % TWO_32) + TWO_32) % TWO_32
    const high = Math.floor(truncated / TWO_32)
    h = fmix32(h ^ fmix32(low))
    h = fmix32(h ^ fmix32(high + 0x632b_e5ab))
  }
  return h / TWO_32
}

/** A standard normal deviate (Box-Muller) determined by the keys. */
export const hashGaussian = (...keys: ReadonlyArray<number>): number => {
  // 1 - u keeps the logarithm's argument in (0, 1].
  const u1 = 1 - hashUnit(...keys, 1)
  const u2 = hashUnit(...keys, 2)
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}

/** mulberry32: a tiny seeded generator of uniform numbers in [0, 1). */
export const mulberry32 = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b_79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / TWO_32
  }
}
