//! rvs-vswitchd driven by the real Faucet OpenFlow 1.3 controller (PyPI
//! `faucet`, installed by ./scripts/test.sh into a virtualenv whose bin
//! directory is `RVS_FAUCET_BIN`). Needs root.
//!
//! The bridge is `fail_mode=secure`, `protocols=OpenFlow13` with a fixed
//! datapath id; three veth ports whose peers sit in their own namespaces are
//! one untagged VLAN in Faucet's configuration. Faucet then programs its
//! four-table pipeline (VLAN push, eth_src learning with PACKET_IN to the
//! controller, eth_dst forwarding, flooding) and learns the hosts from
//! PACKET_INs, as it does with Open vSwitch.
//!
//! Every test uses its own namespaces, links, bridge, controller port and
//! directories, removed on drop even when an assertion fails.

use rvs_tests::{faucet_bin_dir, unique_name, ChildGuard, Faucet, Veth, Vswitchd};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One switch at a time: each busy-polls a core, and this machine has two.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bridge's datapath id, the same in the bridge's other_config and in
/// Faucet's `dp_id`.
const DPID: u64 = 0x0000_0000_00f0_0c01;

/// How long Faucet and the switch get to connect and for Faucet to program
/// the pipeline (Faucet starts in a few seconds; a switch reconnects with
/// back-off).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// How long hosts get to reach each other once the pipeline is programmed
/// (the first packets of each host go to Faucet to be learned).
const LEARN_TIMEOUT: Duration = Duration::from_secs(30);

/// One ICMP echo from `v` to `dst`; true if it was answered.
fn ping_once(v: &Veth, dst: &str) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            v.ns.name(),
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "-q",
            dst,
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Pings until an echo comes back or `timeout` passes.
fn ping_until(v: &Veth, dst: &str, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if ping_once(v, dst) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A raw-socket sniffer on `v`'s eth0 counting received frames whose source
/// MAC is `src` (and, if given, whose destination MAC is `dst`) until it is
/// read.
struct Sniffer {
    child: ChildGuard,
}

impl Sniffer {
    /// Starts counting for `secs` seconds; returns once the socket is bound.
    fn start(v: &Veth, src: &str, dst: Option<&str>, secs: f64) -> Sniffer {
        let dst = dst
            .map(|d| format!("'{d}'"))
            .unwrap_or_else(|| "None".into());
        let script = format!(
            "import socket,time\n\
             def mac(b): return ':'.join('%02x' % x for x in b)\n\
             s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))\n\
             s.bind(('eth0',0))\ns.settimeout(0.1)\nprint('ready',flush=True)\n\
             dst={dst}\nn=0\nend=time.time()+{secs}\n\
             while time.time()<end:\n\
             \x20   try:\n\
             \x20       f,a=s.recvfrom(4000)\n\
             \x20   except socket.timeout:\n\
             \x20       continue\n\
             \x20   if a[2]==socket.PACKET_OUTGOING or len(f)<14:\n\
             \x20       continue\n\
             \x20   if mac(f[6:12])=='{src}' and (dst is None or mac(f[0:6])==dst):\n\
             \x20       n+=1\n\
             print(n,flush=True)"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", v.ns.name(), "python3", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a sniffer");
        let mut first = String::new();
        let stdout = child.stdout.as_mut().expect("sniffer stdout");
        let mut r = BufReader::new(stdout);
        r.read_line(&mut first).expect("sniffer output");
        assert_eq!(first.trim(), "ready", "the sniffer did not start");
        Sniffer {
            child: ChildGuard(child),
        }
    }

    /// Waits for the sniffer to finish and returns what it counted.
    fn count(mut self) -> u64 {
        let mut s = String::new();
        if let Some(mut out) = self.child.0.stdout.take() {
            let _ = out.read_to_string(&mut s);
        }
        let _ = self.child.0.wait();
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("the sniffer printed {s:?}"))
    }
}

/// Faucet's configuration: one datapath, the given (OpenFlow port, name)
/// pairs untagged in VLAN 100.
fn faucet_yaml(ports: &[(u32, &str)]) -> String {
    let mut y = format!(
        "vlans:\n  office:\n    vid: 100\ndps:\n  rvs:\n    dp_id: {DPID:#x}\n    hardware: \"Open vSwitch\"\n    interfaces:\n"
    );
    for (ofport, name) in ports {
        y.push_str(&format!(
            "      {ofport}:\n        name: \"{name}\"\n        native_vlan: office\n"
        ));
    }
    y
}

/// The OpenFlow port number the switch gave an interface.
fn ofport(sw: &Vswitchd, iface: &str) -> u32 {
    let s = sw.vsctl(&["get", "Interface", iface, "ofport"]);
    let n: i64 = s
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ofport of {iface} is {s:?}\n{}", sw.log()));
    assert!(n > 0, "{iface} has no OpenFlow port ({n})\n{}", sw.log());
    n as u32
}

/// The failure context: both sides' logs.
fn logs(sw: &Vswitchd, faucet: &Faucet) -> String {
    format!(
        "\n=== faucet (OpenFlow port {}) ===\n{}\n=== rvs-vswitchd ===\n{}",
        faucet.port(),
        faucet.log(),
        sw.log()
    )
}

#[test]
fn faucet_programs_a_secure_bridge_and_learns_the_hosts() {
    // Fail at once, with what to do, when Faucet is missing.
    faucet_bin_dir();
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("rfa", "10.88.0.1");
    let b = Veth::new("rfb", "10.88.0.2");
    let c = Veth::new("rfc", "10.88.0.3");
    let br = unique_name("rb");
    let dpid = format!("other_config:datapath-id={DPID:016x}");
    sw.vsctl(&[
        "add-br",
        &br,
        "--",
        "set",
        "Bridge",
        &br,
        "fail_mode=secure",
        "protocols=OpenFlow13",
        &dpid,
        "--",
        "add-port",
        &br,
        &a.host,
        "--",
        "add-port",
        &br,
        &b.host,
        "--",
        "add-port",
        &br,
        &c.host,
    ]);
    let ports = [
        (ofport(&sw, &a.host), "a"),
        (ofport(&sw, &b.host), "b"),
        (ofport(&sw, &c.host), "c"),
    ];

    // Secure and no controller yet: an empty flow table forwards nothing,
    // not even a's ARP broadcasts.
    let sniffer = Sniffer::start(&b, &a.mac, None, 2.5);
    assert!(
        !ping_once(&a, &b.ip),
        "a reached b through a secure bridge without a controller\n{}",
        sw.log()
    );
    let leaked = sniffer.count();
    assert_eq!(
        leaked,
        0,
        "b received {leaked} frames from a through a secure bridge without a controller\n{}",
        sw.log()
    );

    let faucet = Faucet::start(&faucet_yaml(&ports));
    sw.vsctl(&["set-controller", &br, &faucet.target()]);
    // Faucet logs this once the handshake (HELLO, FEATURES, PORT_DESC) is
    // done and it sends its pipeline.
    assert!(
        faucet.wait_for_log("Cold start configuring DP", CONNECT_TIMEOUT),
        "Faucet never configured the datapath (no OpenFlow 1.3 handshake with dpid {DPID:#x}?){}",
        logs(&sw, &faucet)
    );

    // Every pair reaches each other once Faucet has learned the hosts.
    for (from, to) in [(&a, &b), (&b, &c), (&c, &a)] {
        assert!(
            ping_until(from, &to.ip, LEARN_TIMEOUT),
            "{} -> {} failed with Faucet in control{}",
            from.ip,
            to.ip,
            logs(&sw, &faucet)
        );
    }
    let flog = faucet.faucet_log();
    for (v, (port, _)) in [&a, &b, &c].iter().zip(ports) {
        assert!(
            flog.contains(&format!("L2 learned on Port {port} {}", v.mac)),
            "Faucet did not learn {} on port {port} from a PACKET_IN{}",
            v.mac,
            logs(&sw, &faucet)
        );
    }

    // Learned: a's unicast to b follows b's eth_dst flow and is not flooded
    // to c.
    let sniffer = Sniffer::start(&c, &a.mac, Some(&b.mac), 2.0);
    for _ in 0..3 {
        assert!(
            ping_once(&a, &b.ip),
            "a -> b failed after learning{}",
            logs(&sw, &faucet)
        );
    }
    let flooded = sniffer.count();
    assert_eq!(
        flooded,
        0,
        "c received {flooded} of a's unicast frames to b after Faucet learned b{}",
        logs(&sw, &faucet)
    );

    // The controller goes away: a secure bridge keeps the flows Faucet
    // installed, so learned hosts still reach each other.
    let flog = faucet.log();
    drop(faucet);
    assert!(
        ping_until(&a, &b.ip, Duration::from_secs(5)),
        "a -> b failed after the controller went away (secure mode keeps the flows)\n\
         === faucet (stopped) ===\n{flog}\n=== rvs-vswitchd ===\n{}",
        sw.log()
    );
}
