/**
 * Which live member should own which partition. Every node computes it from the same
 * member list with no coordination, so it must be a pure function of that list (order and
 * duplicates ignored), spread partitions evenly (every member owns ⌊P/N⌋ or ⌈P/N⌉), and move
 * as few partitions as it can when a member joins or leaves — every move is a handover.
 *
 * Scheme: rendezvous (highest-random-weight) hashing with bounded loads. Each
 * (member, partition) pair gets a pseudo-random score; pairs are taken best score first,
 * and a partition goes to the member of its pair unless that member is full. A member is
 * full at ⌈P/N⌉, and at ⌊P/N⌋ once P mod N members have reached ⌈P/N⌉, which is exactly
 * the ±1 balance. Plain rendezvous hashing would move only the joiner's partitions but is
 * not balanced; the load bound costs a few extra moves (measured, and checked by a property
 * test: at most the joiner's share plus N − 1 more), where round-robin over sorted names
 * moves about three times the joiner's share.
 */

/** 32-bit FNV-1a with a murmur3 finaliser: fast, deterministic, well spread over small inputs. */
export const score = (member: string, partition: number): number => {
  const text = `${member}/${partition}`
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The owner of every partition (index = partition), given the live members. With no
 * members every entry is undefined.
 */
export const assignPartitions = (members: Iterable<string>, partitions: number): Array<string | undefined> => {
  const names = [...new Set(members)].sort()
  const owners: Array<string | undefined> = Array.from({ length: partitions }, () => undefined)
  if (names.length === 0) return owners
  const floor = Math.floor(partitions / names.length)
  const extra = partitions % names.length
  const pairs: Array<readonly [number, number, string]> = []
  for (let p = 0; p < partitions; p++) for (const m of names) pairs.push([score(m, p), p, m])
  // Ties (rare with 32-bit scores) are broken by partition, then name: still a total order.
  pairs.sort((a, b) => b[0] - a[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0))
  const load = new Map(names.map((m) => [m, 0]))
  let atCeiling = 0
  let assigned = 0
  for (const [, p, m] of pairs) {
    if (owners[p] !== undefined) continue
    const count = load.get(m)!
    if (count >= (atCeiling < extra ? floor + 1 : floor)) continue
    owners[p] = m
    load.set(m, count + 1)
    if (count + 1 === floor + 1) atCeiling++
    if (++assigned === partitions) break
  }
  return owners
}

/** The partitions `member` should own. */
export const partitionsOf = (owners: ReadonlyArray<string | undefined>, member: string): Array<number> =>
  owners.flatMap((owner, partition) => (owner === member ? [partition] : []))
