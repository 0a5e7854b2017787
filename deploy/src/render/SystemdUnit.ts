/**
 * The systemd unit that runs one Bramble node on a Pi. The node starts and supervises its
 * own nats-server as a child process, so this is the only unit a Pi needs. The unit is
 * hardened as far as GPIO access allows: sensors need /dev/gpiomem (node-dht-sensor),
 * /dev/gpiochip* and writes under /sys/class/gpio (onoff), all of which the `gpio` group owns
 * on Raspberry Pi OS.
 *
 * `deploy/systemd/bramble-node.service` is `renderNodeUnit()` with no node: the node name is
 * then the host name (`%H`), so the same file works on every Pi named after its node.
 */
import { DEFAULT_HEAP_LIMIT } from "@bramble/config"
import { nodeMemoryOptions } from "./HeapLimit.js"
import { checkInstallPath, lines } from "./internal/text.js"

/** Defaults of the paths a unit (and a deployment) uses on the Pis. */
export const NODE_INSTALL_DEFAULTS = {
  binPath: "/usr/local/bin/bramble",
  configPath: "/etc/bramble/cluster.yaml",
  envPath: "/etc/bramble/bramble.env",
  dataDir: "/var/lib/bramble"
} as const

/** What varies between units. Paths must be absolute, with no spaces, quotes, `$` or `%`. */
export interface NodeUnitOptions {
  /** The node's name in the cluster file; unset = the host name (`%H`). */
  readonly node?: string
  /** The `bramble` executable. Default `/usr/local/bin/bramble`. */
  readonly binPath?: string
  /** The cluster file. Default `/etc/bramble/cluster.yaml`. */
  readonly configPath?: string
  /** The environment file (secrets). Default `/etc/bramble/bramble.env`. */
  readonly envPath?: string
  /** Where nodes keep their data (the cluster file's `dataDir`). Default `/var/lib/bramble`. */
  readonly dataDir?: string
  /** The node's V8 heap limit in bytes (the cluster file's `heapLimit`). Default 768 MiB. */
  readonly heapLimit?: number
}

const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/

/**
 * Where the unit may write. Under /var/lib, systemd creates and owns the directory itself
 * (`StateDirectory=`); anywhere else it must exist and be listed in `ReadWritePaths=`.
 */
const dataDirSettings = (dataDir: string): ReadonlyArray<string> => {
  const state = /^\/var\/lib\/(.+)$/.exec(dataDir)?.[1]
  return state !== undefined
    ? [
      "# systemd creates it, owned by bramble:gpio; the rest of the file system is read-only.",
      `StateDirectory=${state}`,
      "StateDirectoryMode=0750"
    ]
    : [
      "# The rest of the file system is read-only; create this first:",
      `#   sudo install -d -m 0750 -o bramble -g gpio ${dataDir}`,
      `ReadWritePaths=${dataDir}`
    ]
}

/** Renders `bramble-node.service`. Same options, same text. */
export const renderNodeUnit = (options: NodeUnitOptions = {}): string => {
  if (options.node !== undefined && !NODE_NAME.test(options.node)) {
    throw new RangeError(`not a node name: "${options.node}" (expected 1-64 of A-Z a-z 0-9 _ -)`)
  }
  const binPath = checkInstallPath("binPath", options.binPath ?? NODE_INSTALL_DEFAULTS.binPath)
  const configPath = checkInstallPath("configPath", options.configPath ?? NODE_INSTALL_DEFAULTS.configPath)
  const envPath = checkInstallPath("envPath", options.envPath ?? NODE_INSTALL_DEFAULTS.envPath)
  const dataDir = checkInstallPath("dataDir", options.dataDir ?? NODE_INSTALL_DEFAULTS.dataDir)
  const node = options.node ?? "%H"
  const memoryOptions = nodeMemoryOptions(options.heapLimit ?? DEFAULT_HEAP_LIMIT)

  return lines(
    "# bramble-node.service: one Bramble node and the nats-server it starts and supervises.",
    options.node === undefined
      ? "# Rendered by Bramble (@bramble/deploy). The node name is this Pi's host name (%H) unless\n# BRAMBLE_NODE is set in the environment file."
      : `# Rendered by Bramble (@bramble/deploy) for node ${options.node}.`,
    "# Install as /etc/systemd/system/bramble-node.service, then:",
    "#   sudo systemctl daemon-reload && sudo systemctl enable --now bramble-node",
    "",
    "[Unit]",
    `Description=Bramble node ${node}`,
    "# A Pi has no battery-backed clock and readings carry event time, so start once the clock",
    "# is set (enable systemd-time-wait-sync.service to make time-sync.target wait for NTP).",
    "After=network-online.target time-sync.target",
    "Wants=network-online.target",
    "# Never stop retrying: a node that gives up is a sensor that stops reporting.",
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=simple",
    "User=bramble",
    "# The gpio group owns /dev/gpiomem, /dev/gpiochip* and /sys/class/gpio on Raspberry Pi OS.",
    "Group=gpio",
    `Environment=BRAMBLE_CONFIG=${configPath}`,
    `Environment=BRAMBLE_NODE=${node}`,
    "Environment=BRAMBLE_NODE_ARGS=",
    "# The node's V8 heap limit: heapLimit in the cluster file (default 768 MiB). Left to V8, the",
    "# limit is half the Pi's memory (up to 2 GiB) and the heap grows to 4x what the node uses",
    "# between collections; under this limit it stays close to it. And a young generation of",
    "# 4 MiB per semi-space (V8's own is 16): ~25 MB less RSS. nats-server ignores both.",
    // Quoted whole: the value holds a space, and systemd splits unquoted assignments there.
    `Environment="NODE_OPTIONS=${memoryOptions}"`,
    "# Values in this file override the four above; database secrets live there, not here.",
    `EnvironmentFile=${envPath}`,
    `WorkingDirectory=${dataDir}`,
    `ExecStart=${binPath} node --config \${BRAMBLE_CONFIG} --node \${BRAMBLE_NODE} $BRAMBLE_NODE_ARGS`,
    "SyslogIdentifier=bramble-node",
    "",
    "# Restart after a crash, waiting longer each time: from RestartSec up to",
    "# RestartMaxDelaySec in RestartSteps steps. systemd older than 254 (Raspberry Pi OS",
    "# bookworm has 252) logs \"Unknown key\" for those two and keeps the fixed RestartSec.",
    "Restart=on-failure",
    "RestartSec=2s",
    "RestartSteps=6",
    "RestartMaxDelaySec=2min",
    "",
    "# SIGTERM goes to the node alone, which shuts down in order (sensors, partitions and",
    "# actors first, so other nodes can take its partitions over; its nats-server last).",
    "# Anything still running after TimeoutStopSec is SIGKILLed.",
    "KillMode=mixed",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=90s",
    "",
    "# nats-server holds a file per JetStream block and a socket per client, MQTT device and route.",
    "LimitNOFILE=65536",
    "",
    `# ${dataDir}/<node>/ holds nats-server.conf, nats-server.log and the JetStream store.`,
    dataDirSettings(dataDir),
    "",
    "# Hardening that leaves GPIO working.",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "# read-only, not yes: a checkout under /home/pi can still be run.",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectHostname=yes",
    "RestrictSUIDSGID=yes",
    "RestrictRealtime=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "SystemCallArchitectures=native",
    "UMask=0027",
    "# Deliberately not set:",
    "#   PrivateDevices=yes          hides /dev/gpiomem and /dev/gpiochip*",
    "#   ProtectKernelTunables=yes   makes /sys read-only: no GPIO export, direction or value writes",
    "#   ProtectClock=yes, DeviceAllow=, DevicePolicy=closed",
    "#                               a device allow-list that leaves out the GPIO devices",
    "#   MemoryDenyWriteExecute=yes  Node.js's JIT compiler needs writable, executable memory",
    "#   PrivateUsers=yes            the gpio group would not exist inside the user namespace",
    "",
    "[Install]",
    "WantedBy=multi-user.target"
  )
}
