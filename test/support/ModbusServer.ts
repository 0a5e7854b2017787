/**
 * A real Modbus server for tests: Debian's python3-pymodbus (3.0) running
 * `modbus/modbus_server.py`, serving a register map over TCP on a free loopback port, or
 * over RTU on one end of a socat pseudo-terminal pair (`startModbusRtuServer`, whose
 * `device` is the other end for the client). Not Bramble's code: what it answers is what a
 * PLC speaking the protocol answers (exception 2 for an unmapped register, silence for an
 * unknown unit id on RTU).
 *
 * Faults are real too: `pause()` stops the process (SIGSTOP), so TCP connections stay open
 * and requests go unanswered until `resume()`; `restart()` kills it and starts a new one on
 * the same port with the same map.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Table name → (0-based address → value); `co`/`di` values are 0/1. */
export interface ModbusUnitMap {
  readonly hr?: Readonly<Record<number, number>>
  readonly ir?: Readonly<Record<number, number>>
  readonly co?: Readonly<Record<number, number>>
  readonly di?: Readonly<Record<number, number>>
}

export interface ModbusServer {
  /** TCP: the port on 127.0.0.1. RTU: 0. */
  readonly port: number
  /** RTU: the pty the client opens. */
  readonly device?: string
  /** Sets registers (or bits) from `address` on; resolves once the server has them. */
  set(unit: number, table: keyof ModbusUnitMap, address: number, values: ReadonlyArray<number>): Promise<void>
  /** Stops answering (SIGSTOP) until `resume`. */
  pause(): void
  resume(): void
  /** Kills the server and starts it again on the same port, with the initial map. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/** The system Python (Debian's packages are installed there, not in a pyenv/venv on PATH). */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"
const SCRIPT = join(import.meta.dirname, "modbus", "modbus_server.py")

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

interface Running {
  readonly child: ChildProcess
  readonly lines: Array<string>
  waiters: Array<() => void>
}

const launch = async (config: unknown): Promise<Running> => {
  const child = spawn(PYTHON, [SCRIPT, JSON.stringify(config)], { stdio: ["pipe", "pipe", "pipe"] })
  const running: Running = { child, lines: [], waiters: [] }
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  let buffer = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    let newline: number
    while ((newline = buffer.indexOf("\n")) >= 0) {
      running.lines.push(buffer.slice(0, newline))
      buffer = buffer.slice(newline + 1)
      const waiters = running.waiters
      running.waiters = []
      for (const wake of waiters) wake()
    }
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pymodbus server did not start within 20 s: ${stderr}`)), 20_000)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`pymodbus server exited (${code}) before it was ready; is python3-pymodbus installed (bash deploy/setup.sh)? ${stderr}`))
    })
    const check = () => {
      if (running.lines.includes("ready")) {
        clearTimeout(timer)
        resolve()
      } else running.waiters.push(check)
    }
    check()
  })
  child.removeAllListeners("exit")
  return running
}

const kill = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGCONT")
    child.kill("SIGKILL")
  })

const make = async (config: Record<string, unknown>, port: number, device: string | undefined, cleanup: () => Promise<void>): Promise<ModbusServer> => {
  let running = await launch(config)
  return {
    port,
    ...(device === undefined ? {} : { device }),
    set: async (unit, table, address, values) => {
      const target = running.lines.filter((l) => l === "set").length + 1
      running.child.stdin!.write(`${JSON.stringify({ unit, table, address, values })}\n`)
      const current = running
      await new Promise<void>((resolve) => {
        const check = () => (current.lines.filter((l) => l === "set").length >= target ? resolve() : current.waiters.push(check))
        check()
      })
    },
    pause: () => void running.child.kill("SIGSTOP"),
    resume: () => void running.child.kill("SIGCONT"),
    restart: async () => {
      await kill(running.child)
      running = await launch(config)
    },
    stop: async () => {
      await kill(running.child)
      await cleanup()
    }
  }
}

const unitsJson = (units: Readonly<Record<number, ModbusUnitMap>>) => units

/** A pymodbus TCP server on a free loopback port serving `units` (unit id → map). */
export const startModbusTcpServer = async (units: Readonly<Record<number, ModbusUnitMap>>): Promise<ModbusServer> => {
  const port = await freePort()
  return make({ transport: "tcp", port, units: unitsJson(units) }, port, undefined, async () => {})
}

/**
 * A pymodbus RTU server on one end of a socat pty pair; the client opens `device`, the
 * other end. Needs socat (deploy/setup.sh installs it).
 */
export const startModbusRtuServer = async (
  units: Readonly<Record<number, ModbusUnitMap>>,
  options: { readonly baudRate?: number } = {}
): Promise<ModbusServer> => {
  const dir = await mkdtemp(join(tmpdir(), "bramble-rtu-"))
  const client = join(dir, "client")
  const server = join(dir, "server")
  const socat = spawn("socat", [`pty,raw,echo=0,link=${client}`, `pty,raw,echo=0,link=${server}`], { stdio: "ignore" })
  const deadline = Date.now() + 10_000
  while (!(existsSync(client) && existsSync(server))) {
    if (socat.exitCode !== null || Date.now() > deadline) throw new Error("socat did not create the pty pair (is socat installed? bash deploy/setup.sh)")
    await new Promise((r) => setTimeout(r, 50))
  }
  return make(
    { transport: "rtu", device: server, baudrate: options.baudRate ?? 19200, units: unitsJson(units) },
    0,
    client,
    async () => {
      await kill(socat)
      await rm(dir, { recursive: true, force: true })
    }
  )
}
