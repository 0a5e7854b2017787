/**
 * @bramble/protocol — the Schemas of every message, the subjects, the wire codecs and the
 * typed rejection errors. Everything that crosses a process boundary is defined here.
 */
export * as Admin from "./Admin.js"
export * from "./Alarm.js"
export * as Codec from "./Codec.js"
export * from "./DeadLetter.js"
export * from "./Errors.js"
export * from "./Forecast.js"
export * from "./Reading.js"
export * as Subjects from "./Subjects.js"
export * from "./Version.js"
export * from "./WindowResult.js"
