/**
 * @bramble/actor-sensor — sensor actors: read hardware (or its simulated twin) and publish
 * readings into the log.
 */
export * from "./SensorActor.js"
