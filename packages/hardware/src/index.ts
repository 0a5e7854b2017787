/**
 * @bramble/hardware: DHT11/DHT22, GPIO and Modbus drivers behind services, each with a simulated
 * twin, plus the chip-base resolution newer Pi kernels need and per-sensor calibration.
 */
export * from "./Calibration.js"
export * from "./ChipBase.js"
export * from "./DhtDriver.js"
export * from "./DhtSensor.js"
export * from "./Gpio.js"
export * from "./GpioDriver.js"
export * from "./HardwareUnavailable.js"
export * from "./SimulatedDht.js"
export * from "./SimulatedGpio.js"
export * from "./ModbusDriver.js"
export * from "./ModbusMap.js"
export * from "./SimulatedModbus.js"
export * from "./OneWire.js"
