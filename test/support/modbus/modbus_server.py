"""A Modbus server for Bramble's tests: pymodbus (Debian's python3-pymodbus 3.0), serving
a register map given as JSON, over TCP or RTU on a serial device (a socat pty in tests).

    python3 modbus_server.py '{"transport": "tcp", "port": 5020, "units": {...}}'
    python3 modbus_server.py '{"transport": "rtu", "device": "/tmp/x/b", "baudrate": 19200, "units": {...}}'

`units` maps a unit id to its tables, each a map of 0-based protocol address to value:
{"3": {"hr": {"0": 1, "1": 2}, "ir": {...}, "co": {"5": 1}, "di": {...}}}. Only the
addresses given exist: reading any other answers exception 2 (Illegal Data Address).
Each line on stdin sets values: {"unit": 3, "table": "hr", "address": 0, "values": [1, 2]}.
Prints "ready" once listening.
"""
import asyncio
import json
import sys
import threading

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

config = json.loads(sys.argv[1])


def block(values):
    return ModbusSparseDataBlock({int(address): value for address, value in values.items()})


slaves = {}
for unit, tables in config["units"].items():
    slaves[int(unit)] = ModbusSlaveContext(
        di=block(tables.get("di", {})),
        co=block(tables.get("co", {})),
        hr=block(tables.get("hr", {})),
        ir=block(tables.get("ir", {})),
        zero_mode=True,
    )
context = ModbusServerContext(slaves=slaves, single=False)

FUNCTION = {"co": 1, "di": 2, "hr": 3, "ir": 4}


def control():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        command = json.loads(line)
        context[command["unit"]].setValues(FUNCTION[command["table"]], command["address"], command["values"])
        print("set", flush=True)


async def main():
    threading.Thread(target=control, daemon=True).start()
    if config["transport"] == "tcp":
        server = await StartAsyncTcpServer(
            context=context,
            address=("127.0.0.1", config["port"]),
            framer=ModbusSocketFramer,
            allow_reuse_address=True,
            defer_start=True,
        )
        serving = asyncio.create_task(server.serve_forever())
        await server.serving
        print("ready", flush=True)
        await serving
        return
    else:
        server = await StartAsyncSerialServer(
            context=context,
            framer=ModbusRtuFramer,
            port=config["device"],
            baudrate=config.get("baudrate", 19200),
            parity=config.get("parity", "N"),
            bytesize=8,
            stopbits=1,
            timeout=0.05,
            defer_start=True,
        )
        await server.start()
    print("ready", flush=True)
    await server.serve_forever()


asyncio.run(main())
