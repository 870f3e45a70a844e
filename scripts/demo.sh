#!/usr/bin/env bash
# The rvs demo (the README's main job): a working switch with its embedded
# database, and real traffic between three network-namespace hosts.
#
#   1. builds rvs (release) and starts rvs-vswitchd in a temporary directory;
#   2. makes hosts h1, h2, h3 in their own namespaces, each on a veth pair,
#      and attaches the host ends to bridge br0 (h1, h2 as AF_XDP ports,
#      h3 as an AF_PACKET port) with rvs-vsctl;
#   3. runs traffic: ping, a UDP echo, and a few seconds of UDP from h1 to h2;
#   4. programs the bridge with OpenFlow (rvs-ofctl): a drop rule for h3
#      cuts it off, deleting the rule restores it at once;
#   5. prints what happened: throughput, the poll-mode thread's counters,
#      the learned MAC addresses, the megaflows, the flow table, the
#      configuration;
#   6. removes everything on exit, also on Ctrl-C.
#
# Run as root (namespaces, AF_XDP). Options: DEMO_SECONDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "error: the demo needs root: it creates network namespaces and AF_XDP sockets" >&2
  exit 1
fi

PACKAGES=(iproute2 python3 iputils-ping)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q "${missing[@]}"
fi

echo "==> building rvs (release)"
cargo build --release -q -p rvs-vswitchd -p rvs-ctl
BIN=$PWD/target/release
SECS=${DEMO_SECONDS:-3}
ID=$$
DIR=$(mktemp -d /tmp/rvs-demo.XXXXXX)
export RVS_RUNDIR=$DIR
BR=br$((ID % 100000))
NS=()
LINKS=()
DAEMON=

cleanup() {
  set +e
  echo "==> cleaning up"
  if [ -n "$DAEMON" ]; then
    "$BIN/rvs-appctl" exit >/dev/null 2>&1
    for _ in $(seq 50); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DAEMON" 2>/dev/null
  fi
  for l in "${LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting rvs-vswitchd (database and sockets in $DIR)"
"$BIN/rvs-vswitchd" --rundir "$DIR" --dbdir "$DIR" 2>"$DIR/vswitchd.log" &
DAEMON=$!
for _ in $(seq 200); do [ -S "$DIR/rvs-vswitchd.ctl" ] && break; sleep 0.05; done
[ -S "$DIR/rvs-vswitchd.ctl" ] || { cat "$DIR/vswitchd.log"; echo "rvs-vswitchd did not start" >&2; exit 1; }

echo "==> three hosts in namespaces, on veth pairs"
for i in 1 2 3; do
  ns=rvsdemo$ID-h$i
  host=rd$((ID % 100000))h$i
  ip netns add "$ns"; NS+=("$ns")
  ip link add "$host" type veth peer name "${host}p"; LINKS+=("$host")
  ip link set "${host}p" netns "$ns"
  ip netns exec "$ns" ip link set "${host}p" name eth0
  ip netns exec "$ns" ip addr add "10.99.$((ID % 200)).$i/24" dev eth0
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip link set lo up
  ip link set "$host" up
done
H1=rd$((ID % 100000))h1; H2=rd$((ID % 100000))h2; H3=rd$((ID % 100000))h3
IP1=10.99.$((ID % 200)).1; IP2=10.99.$((ID % 200)).2; IP3=10.99.$((ID % 200)).3

echo "==> rvs-vsctl: bridge $BR with $H1, $H2 (afxdp) and $H3 (afpacket)"
"$BIN/rvs-vsctl" add-br "$BR" \
  -- add-port "$BR" "$H1" -- set Interface "$H1" type=afxdp options:xdp-mode=generic \
  -- add-port "$BR" "$H2" -- set Interface "$H2" type=afxdp options:xdp-mode=generic \
  -- add-port "$BR" "$H3" -- set Interface "$H3" type=afpacket

echo "==> ping h1 -> h3"
ip netns exec "rvsdemo$ID-h1" ping -c 3 -i 0.2 -W 1 "$IP3"

echo "==> UDP echo h1 -> h2"
ip netns exec "rvsdemo$ID-h2" python3 -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',9000)); s.settimeout(10)
d,a=s.recvfrom(100); s.sendto(d,a)" &
ECHO=$!
sleep 0.3
ip netns exec "rvsdemo$ID-h1" python3 -c "
import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
t=time.time(); s.sendto(b'hello rvs',('$IP2',9000)); d,a=s.recvfrom(100)
print('echo from %s:%d: %r in %.2f ms' % (a[0],a[1],d,(time.time()-t)*1000))"
wait $ECHO || true

echo "==> UDP from h1 to h2 for ${SECS}s (Python sockets on both ends: the hosts, not the switch, set the pace)"
ip netns exec "rvsdemo$ID-h2" python3 -c "
import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',9001)); s.settimeout(1)
n=0
try:
    while True:
        s.recvfrom(2000); n+=1
except socket.timeout: pass
print('h2 received %d datagrams' % n)" &
SINK=$!
sleep 0.3
ip netns exec "rvsdemo$ID-h1" python3 -c "
import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
end=time.time()+$SECS; n=0; p=b'x'*18
while time.time()<end:
    for _ in range(64): s.sendto(p,('$IP2',9001))
    n+=64
print('h1 sent %d datagrams: %.0f per second' % (n, n/$SECS))"
wait $SINK || true

echo "==> OpenFlow: rvs-ofctl add-flow $BR \"priority=100,ip,nw_dst=$IP3,actions=drop\""
"$BIN/rvs-ofctl" add-flow "$BR" "priority=100,ip,nw_dst=$IP3,actions=drop"
if ip netns exec "rvsdemo$ID-h1" ping -c 2 -i 0.2 -W 1 "$IP3" >/dev/null 2>&1; then
  echo "error: h3 still reachable with the drop rule in place" >&2; exit 1
fi
echo "    ping h1 -> h3: no answer, as the rule says"
"$BIN/rvs-ofctl" del-flows "$BR" --strict "priority=100,ip,nw_dst=$IP3"
ip netns exec "rvsdemo$ID-h1" ping -c 2 -i 0.2 -W 1 "$IP3" >/dev/null
echo "    rule deleted: ping h1 -> h3 answers again"

echo
echo "==> rvs-ofctl dump-flows $BR"
"$BIN/rvs-ofctl" dump-flows "$BR"
echo "==> rvs-appctl dpif-netdev/pmd-stats-show"
"$BIN/rvs-appctl" dpif-netdev/pmd-stats-show
echo "==> rvs-appctl fdb/show $BR"
"$BIN/rvs-appctl" fdb/show "$BR"
echo "==> rvs-appctl dpctl/dump-flows (megaflows)"
"$BIN/rvs-appctl" dpctl/dump-flows
echo "==> rvs-appctl ofproto/trace: how h1's UDP to h2 is switched"
MAC1=$(ip netns exec "rvsdemo$ID-h1" cat /sys/class/net/eth0/address)
MAC2=$(ip netns exec "rvsdemo$ID-h2" cat /sys/class/net/eth0/address)
"$BIN/rvs-appctl" ofproto/trace "$BR" "in_port=$H1,dl_src=$MAC1,dl_dst=$MAC2,udp,nw_src=$IP1,nw_dst=$IP2,tp_dst=9001"
echo "==> rvs-vsctl show"
"$BIN/rvs-vsctl" show
