/**
 * Hosts on a network, on one machine: each host is a Linux network namespace with its own
 * interface on a bridge, so a bramble's Pis are separate hosts with their own addresses and
 * the default ports — the production path, not three servers on loopback. The bridge has an
 * address in the root namespace too: that is where the database and the test's publishers
 * live, reachable from every host like the LAN's InfluxDB and devices.
 *
 * Faults are nftables rules inside a host's namespace (tables `inet bramble_fault`), as a
 * cut cable or a dead switch port looks to the Pi: isolate a host from its peers, split a
 * minority from a majority, drop one direction only, flap, heal. The database and the
 * publishers stay reachable throughout (a device next to an isolated Pi still publishes).
 *
 * Needs root (ip netns, veth, bridge, nft). Without it `makeNetworkLab` fails loudly: these
 * tests never skip, so a CI without the privilege goes red rather than quietly green.
 */
import { execFile, execFileSync } from "node:child_process"
import { randomInt } from "node:crypto"
import { promisify } from "node:util"
import { Effect, type Scope } from "effect"

const run = promisify(execFile)

/** One host of the lab. */
export interface LabHost {
  readonly name: string
  /** Its address on the lab network. */
  readonly ip: string
  /** The network namespace (`ip netns exec <ns> …`). */
  readonly ns: string
}

export interface NetworkLab {
  /** The bridge's address in the root namespace: the database and publishers bind here. */
  readonly gateway: string
  readonly hosts: ReadonlyArray<LabHost>
  readonly host: (name: string) => LabHost
  /** argv prefix that runs a command on `host`. */
  readonly exec: (host: string) => ReadonlyArray<string>
  /** Drop all traffic between `host` and every other host (both directions). */
  readonly isolate: (host: string) => Effect.Effect<void>
  /** Drop traffic between the hosts of `minority` and all the others (both directions). */
  readonly split: (minority: ReadonlyArray<string>) => Effect.Effect<void>
  /** `host` receives from its peers, but nothing it sends reaches them. */
  readonly dropOutgoing: (host: string) => Effect.Effect<void>
  /** Remove every fault. */
  readonly heal: Effect.Effect<void>
  /** Kill every process running in `host`'s namespace (a power cut), SIGKILL. */
  readonly powerOff: (host: string) => Effect.Effect<void>
  /** A short description of the faults now in place. */
  readonly faults: () => string
}

/** A loud, specific failure when the machine cannot host the lab. */
export class NetworkLabUnavailable extends Error {}

const PREFIX = "brl"

const sh = (args: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: () => run(args[0]!, args.slice(1), { timeout: 20_000 }),
    catch: (error) => new Error(`${args.join(" ")}: ${error instanceof Error ? error.message : String(error)}`)
  }).pipe(Effect.orDie, Effect.asVoid)

const nftScript = (ns: string, script: string) =>
  Effect.tryPromise({
    try: () =>
      new Promise<void>((resolve, reject) => {
        const child = execFile("ip", ["netns", "exec", ns, "nft", "-f", "-"], { timeout: 20_000 }, (error) => (error ? reject(error) : resolve()))
        child.stdin!.end(script)
      }),
    catch: (error) => new Error(`nft in ${ns}: ${error instanceof Error ? error.message : String(error)}\n${script}`)
  }).pipe(Effect.orDie)

/** Check the privileges and tools up front, with what to do about each. */
const preflight = () => {
  if (process.getuid?.() !== 0) {
    throw new NetworkLabUnavailable("the multi-host tests need root (network namespaces, veth, bridge, nftables); run the suite as root or with sudo — they do not skip")
  }
  for (const tool of ["ip", "nft"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" })
    } catch {
      throw new NetworkLabUnavailable(`the multi-host tests need \`${tool}\` (iproute2, nftables): run \`bash deploy/setup.sh\`, which installs them`)
    }
  }
}

/** Remove what an earlier run that was killed left behind (namespaces and bridges of dead test processes). */
const sweepLeftovers = () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  let names: Array<string> = []
  try {
    names = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(`${PREFIX}-`))
  } catch {
    return
  }
  for (const ns of names) {
    const pid = Number(ns.split("-")[1])
    if (Number.isInteger(pid) && alive(pid) && pid !== process.pid) continue
    try {
      execFileSync("sh", ["-c", `ip netns pids ${ns} | xargs -r kill -9; ip netns del ${ns}`], { stdio: "ignore" })
    } catch {
      // gone already
    }
  }
  let bridges: Array<string> = []
  try {
    bridges = execFileSync("ip", ["-o", "link", "show", "type", "bridge"], { encoding: "utf8" }).split("\n")
      .map((l) => l.split(": ")[1]?.split("@")[0] ?? "").filter((n) => new RegExp(`^${PREFIX}[0-9a-z]{7}$`).test(n))
  } catch {
    return
  }
  for (const bridge of bridges) {
    const pid = parseInt(bridge.slice(PREFIX.length, PREFIX.length + 5), 36)
    if (alive(pid) && pid !== process.pid) continue
    try {
      execFileSync("ip", ["link", "del", bridge], { stdio: "ignore" })
    } catch {
      // gone already
    }
  }
}

/**
 * Make `count` hosts (`h1`…) on a fresh /24 of 10.231.x.0 — addresses that exist only inside
 * this lab. Closing the scope kills whatever still runs in them and removes everything.
 */
export const makeNetworkLab = (options: { readonly hosts: ReadonlyArray<string> }): Effect.Effect<NetworkLab, NetworkLabUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.try({ try: preflight, catch: (e) => e as NetworkLabUnavailable })
    yield* Effect.sync(sweepLeftovers)
    // A subnet no interface of this machine uses.
    const used = execFileSync("ip", ["-4", "-o", "addr"], { encoding: "utf8" })
    let subnet = ""
    for (let tries = 0; tries < 50 && subnet === ""; tries++) {
      const candidate = `10.231.${randomInt(1, 255)}`
      if (!used.includes(` ${candidate}.`)) subnet = candidate
    }
    const id = `${process.pid}-${randomInt(0, 0xffff).toString(16)}`
    // brl + pid (base 36, 5 chars) + 2 random chars: ≤ 15 characters with the veth suffix,
    // and the sweeper can tell whether the test process that made it is still alive.
    const bridge = `${PREFIX}${process.pid.toString(36).padStart(5, "0")}${randomInt(36 * 36).toString(36).padStart(2, "0")}`
    const gateway = `${subnet}.1`
    const hosts: Array<LabHost> = options.hosts.map((name, i) => ({ name, ip: `${subnet}.${11 + i}`, ns: `${PREFIX}-${id}-${name}` }))

    yield* Effect.acquireRelease(
      Effect.gen(function*() {
        yield* sh(["ip", "link", "add", bridge, "type", "bridge"])
        yield* sh(["ip", "addr", "add", `${gateway}/24`, "dev", bridge])
        yield* sh(["ip", "link", "set", bridge, "up"])
        for (const [i, host] of hosts.entries()) {
          const outside = `${bridge}v${i}`
          yield* sh(["ip", "netns", "add", host.ns])
          yield* sh(["ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", host.ns])
          yield* sh(["ip", "link", "set", outside, "master", bridge])
          yield* sh(["ip", "link", "set", outside, "up"])
          yield* sh(["ip", "-n", host.ns, "addr", "add", `${host.ip}/24`, "dev", "eth0"])
          yield* sh(["ip", "-n", host.ns, "link", "set", "eth0", "up"])
          yield* sh(["ip", "-n", host.ns, "link", "set", "lo", "up"])
          yield* sh(["ip", "-n", host.ns, "route", "add", "default", "via", gateway])
        }
      }),
      () =>
        Effect.sync(() => {
          for (const host of hosts) {
            try {
              execFileSync("sh", ["-c", `ip netns pids ${host.ns} | xargs -r kill -9; ip netns del ${host.ns}`], { stdio: "ignore" })
            } catch {
              // already gone
            }
          }
          try {
            execFileSync("ip", ["link", "del", bridge], { stdio: "ignore" })
          } catch {
            // already gone
          }
        })
    )

    const byName = new Map(hosts.map((h) => [h.name, h]))
    const host = (name: string) => {
      const h = byName.get(name)
      if (h === undefined) throw new Error(`no host ${name} in the lab (${[...byName.keys()].join(", ")})`)
      return h
    }
    const inPlace = new Map<string, string>()

    // One table per host, replaced whole on every change: a fault is exactly what it says.
    const setRules = (name: string, drop: { readonly from: ReadonlyArray<string>; readonly to: ReadonlyArray<string> }, label: string) => {
      const h = host(name)
      const set = (ips: ReadonlyArray<string>) => `{ ${ips.join(", ")} }`
      const script = [
        "table inet bramble_fault",
        "delete table inet bramble_fault",
        "table inet bramble_fault {",
        "  chain input {",
        "    type filter hook input priority 0; policy accept;",
        ...(drop.from.length > 0 ? [`    ip saddr ${set(drop.from)} drop`] : []),
        "  }",
        "  chain output {",
        "    type filter hook output priority 0; policy accept;",
        ...(drop.to.length > 0 ? [`    ip daddr ${set(drop.to)} drop`] : []),
        "  }",
        "}"
      ].join("\n")
      return Effect.andThen(nftScript(h.ns, script), Effect.sync(() => inPlace.set(name, label)))
    }
    const peersOf = (names: ReadonlyArray<string>) => hosts.filter((h) => !names.includes(h.name)).map((h) => h.ip)

    const split = (minority: ReadonlyArray<string>) =>
      Effect.forEach(minority, (name) => {
        const others = peersOf(minority)
        return setRules(name, { from: others, to: others }, `${name} cut off from ${hosts.filter((h) => !minority.includes(h.name)).map((h) => h.name).join(",")}`)
      }, { discard: true })

    const lab: NetworkLab = {
      gateway,
      hosts,
      host,
      exec: (name) => ["ip", "netns", "exec", host(name).ns],
      isolate: (name) => split([name]),
      split,
      dropOutgoing: (name) => setRules(name, { from: [], to: peersOf([name]) }, `${name} → peers dropped`),
      heal: Effect.forEach(hosts, (h) =>
        nftScript(h.ns, "table inet bramble_fault\ndelete table inet bramble_fault\n").pipe(
          Effect.andThen(Effect.sync(() => inPlace.delete(h.name)))
        ), { discard: true }),
      powerOff: (name) => sh(["sh", "-c", `ip netns pids ${host(name).ns} | xargs -r kill -9`]),
      faults: () => (inPlace.size === 0 ? "none" : [...inPlace.values()].join("; "))
    }
    return lab
  })
