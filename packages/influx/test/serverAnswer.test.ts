import { assert, describe, it } from "@effect/vitest"
import { parseRefusal, reasonForStatus } from "../src/internal/serverAnswer.js"

// Bodies as the servers send them: influxd 1.6.7 recorded in this repo's tests, InfluxDB
// 2.x and 3.x from their documentation (no binaries on Debian 12 to record them from).
const batch = ["good f=1 1", "bad line", "m,t=x time=3 3"]

describe("serverAnswer", () => {
  it("status - 4xx is Rejected, 5xx and 429 Unavailable, 408 Timeout", () => {
    assert.strictEqual(reasonForStatus(400, ""), "Rejected")
    assert.strictEqual(reasonForStatus(401, ""), "Rejected")
    assert.strictEqual(reasonForStatus(404, ""), "Rejected")
    assert.strictEqual(reasonForStatus(413, ""), "Rejected")
    assert.strictEqual(reasonForStatus(408, ""), "Timeout")
    assert.strictEqual(reasonForStatus(429, ""), "Unavailable")
    assert.strictEqual(reasonForStatus(500, "{\"error\":\"timeout\"}"), "Unavailable")
    assert.strictEqual(reasonForStatus(503, ""), "Unavailable")
  })

  it("status - influxd's 500 for a missing retention policy is Rejected, no retry fixes it", () => {
    assert.strictEqual(reasonForStatus(500, "{\"error\":\"retention policy not found: nope\"}"), "Rejected")
  })

  it("influxdb 1.x - a parse error names the line, mapped back to the write's index", () => {
    const body = "{\"error\":\"partial write: unable to parse 'bad line': invalid field format dropped=0\"}"
    const { detail, rejected } = parseRefusal(body, batch, 5_000, "400 Bad Request")
    assert.strictEqual(detail, "partial write: unable to parse 'bad line': invalid field format dropped=0")
    assert.deepStrictEqual(rejected, [{ index: 5_001, line: "bad line", message: "invalid field format" }])
  })

  it("influxdb 1.x - a partial write without line names keeps the server's message", () => {
    const body =
      "{\"error\":\"partial write: invalid field name: input field \\\"time\\\" on measurement \\\"m\\\" is invalid dropped=1\"}"
    const { detail, rejected } = parseRefusal(body, batch, 0, "400 Bad Request")
    assert.match(detail, /invalid field name: input field "time" on measurement "m" is invalid dropped=1/)
    assert.deepStrictEqual(rejected, [])
  })

  it("influxdb 2.x - code/message/line", () => {
    const body = "{\"code\":\"invalid\",\"message\":\"unable to parse 'bad line': missing fields\",\"line\":2}"
    const { detail, rejected } = parseRefusal(body, batch, 10, "400 Bad Request")
    assert.strictEqual(detail, "unable to parse 'bad line': missing fields")
    assert.deepStrictEqual(rejected, [{ index: 11, line: "bad line", message: "missing fields" }])
  })

  it("influxdb 3.x - the data array lists every rejected line", () => {
    const body = JSON.stringify({
      error: "partial write of line protocol occurred",
      data: [
        { original_line: "bad line", line_number: 2, error_message: "No fields were provided" },
        { original_line: "m,t=x time=3 3", line_number: 3, error_message: "invalid column name time" }
      ]
    })
    const { detail, rejected } = parseRefusal(body, batch, 0, "400 Bad Request")
    assert.strictEqual(detail, "partial write of line protocol occurred")
    assert.deepStrictEqual(rejected, [
      { index: 1, line: "bad line", message: "No fields were provided" },
      { index: 2, line: "m,t=x time=3 3", message: "invalid column name time" }
    ])
  })

  it("an empty or non-JSON body keeps the status text or the text itself", () => {
    assert.strictEqual(parseRefusal("\n", batch, 0, "401 Unauthorized").detail, "401 Unauthorized")
    assert.strictEqual(parseRefusal("upstream down", batch, 0, "502 Bad Gateway").detail, "upstream down")
    assert.strictEqual(parseRefusal("x".repeat(5_000), batch, 0, "").detail.length, 2_001)
  })
})
