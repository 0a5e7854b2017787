/**
 * @bramble/actor-sensor — sensor actors: read hardware (or its simulated twin), keep every
 * reading in an on-disk outbox, and deliver it to the log in order, exactly once.
 */
export * from "./AlarmSender.js"
export * from "./Delivery.js"
export * from "./I2cSensor.js"
export * from "./ModbusSensor.js"
export * from "./OneWireSensor.js"
export * from "./Outbox.js"
export * from "./PolledSensor.js"
export * from "./Publish.js"
export * from "./ReportByException.js"
export * from "./SensorActor.js"
export * from "./SensorAlarms.js"
export * from "./SensorSpec.js"
