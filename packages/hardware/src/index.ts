/**
 * @bramble/hardware: DHT11/DHT22, GPIO, Modbus, 1-wire and I2C drivers behind services, each with a simulated
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
export * from "./I2cBus.js"
export * from "./Bme280.js"
export * from "./Sht31.js"
export * from "./Ads1115.js"
export * from "./SimulatedI2c.js"
