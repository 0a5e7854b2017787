/**
 * @bramble/actor-actuator — actuator actors: digital outputs (relays, LEDs, buzzers) on
 * while the alarms they watch are raised.
 */
export * from "./ActuatorActor.js"
export * from "./AlarmMatch.js"
