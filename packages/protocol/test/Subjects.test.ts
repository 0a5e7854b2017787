/**
 * The subject rules a stored message must pass before a NATS client is sent it, and the
 * escaping used to log and dead-letter a subject that fails them.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Subjects } from "@bramble/protocol"

const anyChar = fc.oneof(
  fc.constantFrom(" ", "\t", "\r", "\n", "\u0000", "\u000b", "\u000c", "\u001f", "\u007f", "\u0085", "\u2028", "\\", "\"", ".", "*", ">"),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 })
)
const subjectLike = fc.string({ unit: anyChar, maxLength: 40 })

describe("Subjects - deliverable subjects", () => {
  it("a subject with a tab, CR, LF or space is not deliverable, and not a readings subject either", () => {
    for (const bad of ["readings.0.dev-a.line\nbreak", "readings.0.dev-a.tab\tbreak", "readings.0.dev-a.cr\rbreak", "readings.0.dev a.env"]) {
      assert.isFalse(Subjects.isDeliverableSubject(bad), JSON.stringify(bad))
      assert.isUndefined(Subjects.parseReadingsSubject(bad), JSON.stringify(bad))
    }
    // Other control characters cross the client protocol: refused as ids, but deliverable.
    assert.isTrue(Subjects.isDeliverableSubject("readings.0.dev-a.nul\u0000x"))
    assert.isUndefined(Subjects.parseReadingsSubject("readings.0.dev-a.nul\u0000x"))
    assert.isTrue(Subjects.isDeliverableSubject(Subjects.readingsSubject(3, "greenhouse-1", "env")))
  })

  it("isDeliverableSubject is false exactly when the subject holds protocol white space; every parsed readings subject is deliverable", () => {
    fc.assert(
      fc.property(subjectLike, fc.nat(16), (text, p) => {
        const deliverable = Subjects.isDeliverableSubject(text)
        assert.strictEqual(deliverable, ![" ", "\t", "\r", "\n"].some((c) => text.includes(c)))
        for (const subject of [text, `readings.${p}.${text}.env`, `readings.${p}.dev.${text}`]) {
          if (Subjects.parseReadingsSubject(subject) !== undefined) assert.isTrue(Subjects.isDeliverableSubject(subject), JSON.stringify(subject))
        }
      }),
      { numRuns: 2_000 }
    )
  })

  it("escapeSubject leaves no control character or bare quote, and reads back to the original", () => {
    assert.strictEqual(Subjects.escapeSubject("readings.0.dev-a.line\nbreak"), "readings.0.dev-a.line\\nbreak")
    assert.strictEqual(Subjects.escapeSubject("readings.0.dev-a.env"), "readings.0.dev-a.env")
    fc.assert(
      fc.property(subjectLike, (text) => {
        const escaped = Subjects.escapeSubject(text)
        assert.isFalse(/[\u0000-\u001f]/.test(escaped), JSON.stringify(escaped))
        assert.strictEqual(JSON.parse(`"${escaped}"`), text)
        assert.isTrue(Subjects.isDeliverableSubject(escaped.replace(/ /g, "_")))
      }),
      { numRuns: 2_000 }
    )
  })
})
