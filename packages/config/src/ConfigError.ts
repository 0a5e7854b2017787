/**
 * What is wrong with a cluster file, precisely enough to fix it: every problem names its
 * path in the document (and its line, when the file has one) and the reason.
 */
import { Data } from "effect"

/** One problem in the file. */
export interface ConfigProblem {
  /** Dotted path into the document, e.g. `nodes[1].nats.port`. */
  readonly path: string
  readonly message: string
  /** 1-based line in the file, when known. */
  readonly line?: number
}

export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly reason: "NotFound" | "Unreadable" | "Syntax" | "Invalid"
  readonly file: string
  readonly problems: ReadonlyArray<ConfigProblem>
}> {
  override get message(): string {
    const head = {
      NotFound: `cluster file ${this.file} does not exist`,
      Unreadable: `cluster file ${this.file} cannot be read`,
      Syntax: `cluster file ${this.file} is not valid YAML`,
      Invalid: `cluster file ${this.file} is invalid`
    }[this.reason]
    const lines = this.problems.map((p) =>
      `  - ${p.path === "" ? "(top level)" : p.path}${p.line === undefined ? "" : ` (line ${p.line})`}: ${p.message}`
    )
    return [head + (lines.length > 0 ? ":" : ""), ...lines].join("\n")
  }
}
