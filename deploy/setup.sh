#!/usr/bin/env bash
# Bramble setup: installs whatever is missing on Debian 12 / Ubuntu / Raspberry Pi OS and
# builds the workspace. Idempotent: run it as often as you like. Works as root or with sudo.
#
#   bash deploy/setup.sh            install + build
#   bash deploy/setup.sh --check    only report what is missing
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
die() { printf '\033[31msetup failed: %s\033[0m\n' "$*" >&2; exit 1; }

check_only=false
[ "${1:-}" = "--check" ] && check_only=true

# sudo is needed only to install Debian packages: a user whose machine has them all runs
# this without it.
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages: the servers Bramble runs (nats-server 2.9.10+, victoria-metrics for the
# InfluxDB v2 write path, influxdb 1.x for the v1 path), MQTT test clients, and the
# toolchain node-gyp needs for the native addons (node-dht-sensor, epoll, msgpackr-extract).
declare -A provides=(
  [nats-server]=nats-server
  [victoria-metrics]=victoria-metrics
  [influxd]=influxdb
  [mosquitto_pub]=mosquitto-clients
  [make]=build-essential
  [g++]=build-essential
  [python3]=python3
  [setpriv]=util-linux
  [chromium]=chromium
  [openssl]=openssl
  # The multi-host tests (test/net): each Pi a network namespace, faults as nftables rules.
  [ip]=iproute2
  [nft]=nftables
  # The Modbus tests: a real Modbus server (pymodbus), over TCP and, through a socat
  # pseudo-terminal pair, over RTU (pyserial-asyncio).
  [socat]=socat
)
# Python modules the tests run as servers, by the Debian package that ships each. Debian's
# packages install into the system Python, which a pyenv or venv on PATH does not see.
declare -A python_modules=(
  [pymodbus]=python3-pymodbus
  [serial_asyncio]=python3-serial-asyncio
  # Third-party clients of the ingest tests (test/e2e/ingest-routes.test.ts, write-endpoint.test.ts).
  [paho.mqtt.client]=python3-paho-mqtt
  [influxdb]=python3-influxdb
)
missing=()
for cmd in "${!provides[@]}"; do
  # ip and nft live in /usr/sbin, outside a normal user's PATH.
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || missing+=("${provides[$cmd]}")
done
for module in "${!python_modules[@]}"; do
  /usr/bin/python3 -c "import $module" >/dev/null 2>&1 || missing+=("${python_modules[$module]}")
done
missing=($(printf '%s\n' "${missing[@]:-}" | sort -u | grep -v '^$' || true))

step "Debian packages"
if [ ${#missing[@]} -eq 0 ]; then
  ok "nats-server, victoria-metrics, influxdb, mosquitto-clients and build tools are installed"
elif $check_only; then
  echo "    missing: ${missing[*]}"
else
  echo "    installing: ${missing[*]}"
  [ -z "$SUDO" ] || command -v sudo >/dev/null || die "installing ${missing[*]} needs root: run as root, or install sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed (network? apt sources?)"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
  # The Debian packages start system services on ports 4222/8086/8428; Bramble starts its
  # own servers on free ports, so the system ones are left as the administrator chose.
fi

step "Node.js"
command -v node >/dev/null || die "Node.js 20 or newer is required and not installed.
    Debian 12 ships Node 18, which is too old. Install Node 20+ from NodeSource
    (https://github.com/nodesource/distributions) or Raspberry Pi OS's 'nodejs' if >= 20, then re-run."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old; Bramble needs Node 20 or newer"
ok "node $(node --version), npm $(npm --version)"

# Debian installs nats-server in /usr/sbin, outside a normal user's PATH (bramble adds it).
nats_bin=$(command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true)
nats_version=$([ -n "$nats_bin" ] && "$nats_bin" --version 2>/dev/null | sed 's/.*v//' || true)
ok "nats-server ${nats_version:-missing}"

$check_only && exit 0

step "npm dependencies (package-lock.json)"
# node-gyp compiles the native addons against Node's headers, which it downloads unless told
# where they are. NodeSource's and Debian's nodejs packages install them in /usr/include/node:
# use those when they are this node's, so the build needs no download.
headers=/usr/include/node/node_version.h
if [ -z "${npm_config_nodedir:-}" ] && [ "$(npm config get nodedir)" = "undefined" ] && [ -f "$headers" ] \
  && [ "$(sed -n 's/^#define NODE_\(MAJOR\|MINOR\|PATCH\)_VERSION \([0-9]*\).*/\2/p' "$headers" | paste -sd.)" = "$(node -p process.versions.node)" ]; then
  export npm_config_nodedir=/usr
fi
# npm 11 runs only the install scripts listed under "allowScripts" in package.json; the
# native addons are listed there. `npm install` keeps an existing node_modules (re-runs are
# quick); the lock is complete (every platform's optional packages), so it installs exactly
# what the lock says and leaves it unchanged, as `npm ci` would.
npm install --no-audit --no-fund --loglevel=error || die "npm install failed"

step "native addons"
node --input-type=module -e '
import { createRequire } from "node:module"
const require = createRequire(process.cwd() + "/packages/hardware/package.json")
const failures = []
for (const [name, load] of [
  ["node-dht-sensor", () => require("node-dht-sensor")],
  ["epoll (onoff)", () => require("epoll")],
  ["msgpackr-extract", () => { const m = require("msgpackr-extract"); if (!m.extractStrings) throw new Error("no native extractStrings") }]
]) {
  try { load(); console.log("    ok: " + name) } catch (e) { failures.push(name + ": " + e.message) }
}
// Modbus RTU only (modbus-serial runs Modbus TCP without it): a warning, not a failure.
try {
  require("@serialport/bindings-cpp/dist/serialport-bindings.js")
  console.log("    ok: serialport (Modbus RTU)")
} catch (e) {
  console.log("    warning: serialport did not load (" + e.message.split("\n")[0] + "); Modbus RTU will not work until: npm rebuild @serialport/bindings-cpp")
}
if (failures.length) { console.error(failures.join("\n")); process.exit(1) }
' || die "a native addon did not build; check that build-essential and python3 are installed, then run: npm rebuild"

step "build"
npm run build --silent || die "the TypeScript build failed"
ok "workspace built"

step "the bramble command"
# npm links `node_modules/.bin/bramble` at install time to cluster/bin/bramble.js, a file in
# git (not a build output), so the README's `npx bramble demo` works on the first run.
[ -x node_modules/.bin/bramble ] || die "npm linked no node_modules/.bin/bramble; run: npm install"
version=$(node_modules/.bin/bramble --version) || die "node_modules/.bin/bramble does not run"
ok "$version: run it as npx bramble (from anywhere in this clone), e.g. npx bramble demo"
