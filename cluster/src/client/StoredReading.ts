/**
 * Readings as the log stores them, read back: what `bramble export`, device queries and the
 * dashboard's history decode from READINGS.
 */
import { decodeReadings, type Reading, Subjects } from "@bramble/protocol"

const LIMITS = { maxPayloadBytes: 1024 * 1024, maxFutureSkewMs: Number.MAX_SAFE_INTEGER }

/** A message of READINGS: its subject, when JetStream stored it (ms since the epoch), its body. */
export interface StoredMessage {
  readonly subject: string
  readonly storedAt: number
  readonly data: Uint8Array
}

/** A stored reading, decoded as the partition worker decodes it; undefined if it was refused. */
export const storedReadings = (m: StoredMessage): ReadonlyArray<Reading> => {
  const where = Subjects.parseReadingsSubject(m.subject)
  if (where === undefined) return []
  return decodeReadings(m.data, where.device, where.sensor, m.storedAt, LIMITS).readings
}

/** The last reading a stored message holds (a batch record holds several). */
export const storedReading = (m: StoredMessage): Reading | undefined => storedReadings(m).at(-1)
