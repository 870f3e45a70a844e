#!/usr/bin/env bash
# rvs's whole test suite: the README's test command, and what CI runs.
#
# 1. installs the system packages the tests need (idempotent: apt runs only
#    when something is missing);
# 2. checks formatting and lints;
# 3. runs every test of the workspace.
#
# Run as root: the integration tests make network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use. Keep this list the single place they are named.
#   iproute2            network namespaces (ip netns)
#   openvswitch-common  the real ovsdb-client and ovsdb-server, to test against
#   iputils-ping        ICMP between test namespaces
#   python3             small UDP senders, echo servers and sniffers in namespaces
#   python3-venv        the virtualenv that Faucet (the OpenFlow controller) runs in
#   python3-dev gcc     to build the C extension of one of Faucet's dependencies (pytricia)
#   dpdk-dev            dpdk-testpmd, the virtio-user frontend of the vhost-user port tests
#   librte-net-virtio23 testpmd's virtio-user driver (net_virtio_user vdevs)
#   openvswitch-switch-dpdk  Open vSwitch 3.1 with DPDK, the rival `rvs-pktgen compare`
#                       measures against (its test runs a private instance)
PACKAGES=(iproute2 openvswitch-common iputils-ping python3 python3-venv python3-dev gcc dpdk-dev librte-net-virtio23 openvswitch-switch-dpdk)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing system packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: the tests need root (network namespaces) and these packages: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # openvswitch-switch(-dpdk) would start the system's Open vSwitch daemons
  # on install; a policy-rc.d that says "no" keeps services from starting
  # (the tests start their own private instances).
  policy_added=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
  if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "error: run the tests as root: they create network namespaces" >&2
  exit 1
fi

# The real ovs-vsctl ships in openvswitch-switch, whose install would start
# Open vSwitch's daemons. Unpack just its files instead (no services run).
export RVS_TOOLS=${RVS_TOOLS:-/opt/rvs-tools}
export RVS_OVS_VSCTL="$RVS_TOOLS/openvswitch-switch/usr/bin/ovs-vsctl"
if [ ! -x "$RVS_OVS_VSCTL" ]; then
  echo "==> unpacking ovs-vsctl from Debian's openvswitch-switch into $RVS_TOOLS"
  mkdir -p "$RVS_TOOLS/openvswitch-switch"
  tmp=$(mktemp -d); chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -q openvswitch-switch) || { apt-get update -q && (cd "$tmp" && apt-get download -q openvswitch-switch); }
  dpkg-deb -x "$tmp"/openvswitch-switch_*.deb "$RVS_TOOLS/openvswitch-switch"
  rm -rf "$tmp"
fi
"$RVS_OVS_VSCTL" --version | head -1

# QEMU (Debian's qemu-system-x86), to boot the guest image of
# scripts/guest-image.sh under TCG (this machine's nested KVM cannot boot
# Linux). Installing it would replace a newer qemu-utils some machines have,
# so it is unpacked with the libraries an install would add, behind a wrapper
# that points QEMU at them. A machine that has qemu-system-x86_64 uses it.
export RVS_QEMU="$RVS_TOOLS/qemu/run-qemu"
if command -v qemu-system-x86_64 >/dev/null; then
  RVS_QEMU=$(command -v qemu-system-x86_64)
elif [ ! -x "$RVS_QEMU" ]; then
  echo "==> unpacking qemu-system-x86 into $RVS_TOOLS/qemu"
  qpkgs=$(apt-get install -s -y --no-install-recommends qemu-system-x86 2>/dev/null | awk '/^Inst/{print $2}')
  if [ -z "$qpkgs" ]; then
    apt-get update -q
    qpkgs=$(apt-get install -s -y --no-install-recommends qemu-system-x86 | awk '/^Inst/{print $2}')
  fi
  tmp=$(mktemp -d); chmod 755 "$tmp"
  # shellcheck disable=SC2086
  (cd "$tmp" && apt-get download -q $qpkgs)
  mkdir -p "$RVS_TOOLS/qemu/root"
  for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$RVS_TOOLS/qemu/root"; done
  rm -rf "$tmp"
  q="$RVS_TOOLS/qemu/root"
  cat > "$RVS_QEMU" <<WRAP
#!/bin/sh
export LD_LIBRARY_PATH="$q/usr/lib/x86_64-linux-gnu:$q/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$q/usr/bin/qemu-system-x86_64" -L "$q/usr/share/seabios" -L "$q/usr/share/qemu" "\$@"
WRAP
  chmod +x "$RVS_QEMU"
fi
"$RVS_QEMU" --version | head -1

# Faucet, the OpenFlow 1.3 controller the tests drive rvs with, from PyPI
# into a virtualenv made with Debian's python3 (not whatever python3 is first
# on PATH). faucet execs osken-manager, so the tests put this bin first on
# PATH. faucet pins os-ken; eventlet is pinned to the version tested with.
FAUCET_VERSION=1.10.12
export RVS_FAUCET_BIN="$RVS_TOOLS/faucet-venv/bin"
if ! "$RVS_FAUCET_BIN/python3" -c "import importlib.metadata as m, sys; sys.exit(m.version('faucet') != '$FAUCET_VERSION')" 2>/dev/null; then
  echo "==> installing Faucet $FAUCET_VERSION into $RVS_TOOLS/faucet-venv"
  rm -rf "$RVS_TOOLS/faucet-venv"
  /usr/bin/python3 -m venv "$RVS_TOOLS/faucet-venv"
  pip_log=$(mktemp)
  if ! "$RVS_FAUCET_BIN/pip" install --disable-pip-version-check -q \
      "faucet==$FAUCET_VERSION" "eventlet==0.41.3" >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    echo "error: pip install faucet==$FAUCET_VERSION failed" >&2
    exit 1
  fi
  rm -f "$pip_log"
fi
echo "faucet $FAUCET_VERSION ($RVS_FAUCET_BIN)"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"

# One closing line for the whole run: cargo prints a result line per test
# binary, and the last of them is often a crate with no doc tests.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
