//! DPDK testpmd as the virtio-user frontend of rvs's vhost-user ports.
//! Needs root and Debian's dpdk-dev + librte-net-virtio23 (./scripts/test.sh
//! installs them); testpmd runs without hugepages.
//!
//! How the counts are made exact: one testpmd in `rxonly` mode started with
//! `start tx_first N` sends exactly N bursts of 32 frames on each of its
//! ports (txonly's frames: 64 bytes, IPv4/UDP, destination MAC
//! 02:00:00:00:00:<peer port>) and then only receives, so what one port sent
//! and what the other received must agree frame for frame. N is kept small
//! enough for a 256-entry ring, so that nothing is dropped for lack of room;
//! repeated rounds make a moderate, loss-free rate.

use rvs_tests::{
    unique_name, workspace_bin, TempDir, Testpmd, TestpmdOptions, Veth, VirtioUser, Vswitchd,
};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// One switch and one testpmd at a time: each busy-polls a core, and this
/// machine has two.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const READY: Duration = Duration::from_secs(30);

/// Frames per `start tx_first` round and port: 4 bursts of 32.
const BURSTS: u32 = 4;
const FRAMES: u64 = 32 * BURSTS as u64;

fn ofctl(sw: &Vswitchd, args: &[&str]) -> String {
    let out = Command::new(workspace_bin("rvs-ctl", "rvs-ofctl"))
        .env("RVS_RUNDIR", sw.rundir())
        .args(args)
        .output()
        .expect("run rvs-ofctl");
    assert!(
        out.status.success(),
        "rvs-ofctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sw.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The switch's PMD on CPU 1, testpmd's forwarding core on CPU 0.
fn switch() -> Vswitchd {
    let sw = Vswitchd::start();
    sw.vsctl(&["set", "Open_vSwitch", ".", "other_config:pmd-cpu-mask=0x2"]);
    sw
}

/// Adds `vhostuserclient` ports `names` (ofport 1, 2, …) to `br`, each
/// connecting to its socket in `socks`; asserts that none reports an error.
fn add_client_ports(sw: &Vswitchd, br: &str, names: &[&str], socks: &[std::path::PathBuf]) {
    for (i, (name, sock)) in names.iter().zip(socks).enumerate() {
        sw.vsctl(&[
            "add-port",
            br,
            name,
            "--",
            "set",
            "Interface",
            name,
            "type=vhostuserclient",
            &format!("options:vhost-server-path={}", sock.display()),
            &format!("ofport_request={}", i + 1),
        ]);
        let err = sw.vsctl(&["get", "Interface", name, "error"]);
        let err = err.trim();
        assert!(
            err.is_empty() || err == "[]",
            "rvs port error: {err}\n{}",
            sw.log()
        );
    }
}

/// A bridge with two `vhostuserclient` ports, `p1` (ofport 1) and `p2`
/// (ofport 2), and one testpmd in `mode` listening on both sockets; ready.
fn two_port_setup(mode: &str, flows: &[&str]) -> (Vswitchd, Testpmd, String) {
    let sw = switch();
    let br = unique_name("tb");
    sw.vsctl(&["add-br", &br]);
    let dir = TempDir::new("rvsq");
    let socks = [dir.path().join("p1.sock"), dir.path().join("p2.sock")];
    let mut tp = Testpmd::start_in(
        dir,
        TestpmdOptions {
            ports: socks.iter().map(VirtioUser::server).collect(),
            forward_mode: mode.to_string(),
            ..Default::default()
        },
    );
    add_client_ports(&sw, &br, &["p1", "p2"], &socks);
    if !flows.is_empty() {
        ofctl(&sw, &["del-flows", &br]);
        for f in flows {
            ofctl(&sw, &["add-flow", &br, f]);
        }
    }
    tp.wait_ready(READY);
    (sw, tp, br)
}

/// `rounds` rounds of `start tx_first BURSTS` … `stop` (with a pause for the
/// switch to deliver); the per-port forward statistics summed.
fn tx_first_rounds(tp: &mut Testpmd, rounds: usize) -> Vec<rvs_tests::TestpmdFwdStats> {
    let mut total: Vec<rvs_tests::TestpmdFwdStats> = Vec::new();
    for _ in 0..rounds {
        tp.start_tx_first(BURSTS);
        std::thread::sleep(Duration::from_millis(200));
        let f = tp.stop();
        if total.len() < f.len() {
            total.resize(f.len(), Default::default());
        }
        for (t, s) in total.iter_mut().zip(&f) {
            t.rx_packets += s.rx_packets;
            t.rx_dropped += s.rx_dropped;
            t.tx_packets += s.tx_packets;
            t.tx_dropped += s.tx_dropped;
        }
    }
    total
}

#[test]
fn testpmd_helper_drives_null_ports_and_cleans_up() {
    let _serial = serial();
    let mut tp = Testpmd::start(TestpmdOptions {
        other_vdevs: vec!["net_null0".into(), "net_null1".into()],
        forward_mode: "rxonly".into(),
        ..Default::default()
    });
    tp.wait_ready(READY);
    tp.start_tx_first(BURSTS);
    std::thread::sleep(Duration::from_millis(100));
    let f = tp.stop();
    assert_eq!(f.len(), 2, "{}", tp.log());
    // The null port takes every frame and makes up endless ones to receive.
    assert_eq!(f[0].tx_packets, FRAMES, "{f:?}");
    assert_eq!(f[1].tx_packets, FRAMES, "{f:?}");
    assert!(f[0].rx_packets > 0, "{f:?}");
    let s = tp.port_stats();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].tx_packets, FRAMES, "{s:?}");
    assert!(tp.link_up(0));
    assert!(tp.quit(), "testpmd did not quit cleanly:\n{}", tp.log());
    let runtime = tp.runtime_dir();
    drop(tp);
    assert!(!runtime.exists(), "{} was left behind", runtime.display());
}

#[test]
fn flow_in_port_1_to_output_2_delivers_every_frame() {
    let _serial = serial();
    let (sw, mut tp, _br) = two_port_setup("rxonly", &["in_port=1,actions=output:2"]);
    let t = tx_first_rounds(&mut tp, 20);
    // Port 0 (rvs port 1) sent 20 * FRAMES, all reaching port 1 (rvs port
    // 2); port 1's own frames match no flow and are dropped by rvs.
    assert_eq!(t[0].tx_packets, 20 * FRAMES, "{t:?}\n{}", sw.log());
    assert_eq!(t[0].tx_dropped, 0, "{t:?}");
    assert_eq!(t[1].rx_packets, t[0].tx_packets, "{t:?}\n{}", sw.log());
    assert_eq!(t[0].rx_packets, 0, "{t:?}");
}

#[test]
fn normal_delivers_both_ways() {
    let _serial = serial();
    // NORMAL, with the bridge's own port kept out: its IPv6 router
    // solicitations would be flooded to the testpmd ports too.
    let (sw, mut tp, _br) = two_port_setup(
        "rxonly",
        &[
            "priority=10,in_port=LOCAL,actions=drop",
            "priority=0,actions=NORMAL",
        ],
    );
    let t = tx_first_rounds(&mut tp, 10);
    // txonly's destination MACs (02:00:00:00:00:0x) are nobody's: NORMAL
    // floods each frame to the other port.
    assert_eq!(t[1].rx_packets, t[0].tx_packets, "{t:?}\n{}", sw.log());
    assert_eq!(t[0].rx_packets, t[1].tx_packets, "{t:?}\n{}", sw.log());
    assert_eq!(t[0].tx_packets, 10 * FRAMES, "{t:?}");
}

#[test]
fn separate_generator_and_sink_processes_agree() {
    let _serial = serial();
    let sw = switch();
    let br = unique_name("tb");
    sw.vsctl(&["add-br", &br]);
    let (gdir, sdir) = (TempDir::new("rvsq"), TempDir::new("rvsq"));
    let (gsock, ssock) = (gdir.path().join("gen.sock"), sdir.path().join("sink.sock"));
    // The generator sends fixed bursts (rxonly + tx_first), the sink counts.
    let mut gen = Testpmd::start_in(
        gdir,
        TestpmdOptions {
            ports: vec![VirtioUser::server(&gsock)],
            forward_mode: "rxonly".into(),
            ..Default::default()
        },
    );
    let mut sink = Testpmd::start_in(
        sdir,
        TestpmdOptions {
            ports: vec![VirtioUser::server(&ssock)],
            forward_mode: "rxonly".into(),
            ..Default::default()
        },
    );
    add_client_ports(&sw, &br, &["gen", "sink"], &[gsock, ssock]);
    ofctl(&sw, &["del-flows", &br]);
    ofctl(&sw, &["add-flow", &br, "in_port=1,actions=output:2"]);
    gen.wait_ready(READY);
    sink.wait_ready(READY);
    sink.start_forwarding();
    let sent = tx_first_rounds(&mut gen, 10);
    std::thread::sleep(Duration::from_millis(300));
    let got = sink.stop();
    assert_eq!(sent[0].tx_packets, 10 * FRAMES, "{sent:?}");
    assert_eq!(
        got[0].rx_packets,
        sent[0].tx_packets,
        "{got:?}\n{}",
        sw.log()
    );
}

/// Pings from `a` to `b`, up to 3 tries of 2 pings.
fn ping(a: &Veth, b: &Veth) -> bool {
    (0..3).any(|_| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                a.ns.name(),
                "ping",
                "-c",
                "2",
                "-W",
                "1",
                "-i",
                "0.2",
                &b.ip,
            ])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

#[test]
fn testpmd_io_forwarding_joins_two_bridges() {
    let _serial = serial();
    // ns a — br1 — vhost p1 ⇄ testpmd io ⇄ vhost p2 — br2 — ns b: testpmd
    // plays a VM that forwards between its two NICs.
    let sw = switch();
    let a = Veth::new("rta", "10.83.0.1");
    let b = Veth::new("rtb", "10.83.0.2");
    let (br1, br2) = (unique_name("tb"), unique_name("tb"));
    let dir = TempDir::new("rvsq");
    let socks = [dir.path().join("p1.sock"), dir.path().join("p2.sock")];
    let mut tp = Testpmd::start_in(
        dir,
        TestpmdOptions {
            ports: socks.iter().map(VirtioUser::server).collect(),
            forward_mode: "io".into(),
            ..Default::default()
        },
    );
    sw.vsctl(&["add-br", &br1, "--", "add-port", &br1, &a.host]);
    sw.vsctl(&["add-br", &br2, "--", "add-port", &br2, &b.host]);
    add_client_ports(&sw, &br1, &["p1"], &socks[..1]);
    add_client_ports(&sw, &br2, &["p2"], &socks[1..]);
    tp.wait_ready(READY);
    tp.start_forwarding();
    assert!(ping(&a, &b), "no ping through testpmd\n{}", sw.log());
    let f = tp.stop();
    assert!(f[0].rx_packets > 0 && f[1].rx_packets > 0, "{f:?}");
}

#[test]
fn testpmd_frames_reach_a_host_in_a_namespace() {
    let _serial = serial();
    let sw = switch();
    let h = Veth::new("rth", "10.84.0.2");
    let br = unique_name("tb");
    // The host's veth end as an AF_XDP port, beside the vhost-user one.
    sw.vsctl(&[
        "add-br",
        &br,
        "--",
        "add-port",
        &br,
        &h.host,
        "--",
        "set",
        "Interface",
        &h.host,
        "type=afxdp",
        "options:xdp-mode=generic",
    ]);
    let dir = TempDir::new("rvsq");
    let sock = dir.path().join("p1.sock");
    // txonly frames addressed to the host: its MAC and IP.
    let mut tp = Testpmd::start_in(
        dir,
        TestpmdOptions {
            ports: vec![VirtioUser::server(&sock)],
            forward_mode: "rxonly".into(),
            args: vec![
                format!("--eth-peer=0,{}", h.mac),
                format!("--tx-ip=10.84.0.1,{}", h.ip),
            ],
            ..Default::default()
        },
    );
    add_client_ports(&sw, &br, &["p1"], &[sock]);
    tp.wait_ready(READY);
    let before: u64 =
        h.ns.exec("cat", &["/sys/class/net/eth0/statistics/rx_packets"])
            .trim()
            .parse()
            .unwrap();
    let f = tx_first_rounds(&mut tp, 2);
    std::thread::sleep(Duration::from_millis(300));
    let after: u64 =
        h.ns.exec("cat", &["/sys/class/net/eth0/statistics/rx_packets"])
            .trim()
            .parse()
            .unwrap();
    assert_eq!(f[0].tx_packets, 2 * FRAMES);
    assert!(
        after - before >= 2 * FRAMES,
        "the host received {} of {} frames\n{}",
        after - before,
        2 * FRAMES,
        sw.log()
    );
}

#[test]
fn vhostuser_port_listens_in_the_rundir_and_testpmd_connects() {
    let _serial = serial();
    let sw = switch();
    let br = unique_name("tb");
    sw.vsctl(&["add-br", &br]);
    for (i, name) in ["s1", "s2"].iter().enumerate() {
        sw.vsctl(&[
            "add-port",
            &br,
            name,
            "--",
            "set",
            "Interface",
            name,
            "type=vhostuser",
            &format!("ofport_request={}", i + 1),
        ]);
    }
    let socks: Vec<_> = ["s1", "s2"].iter().map(|n| sw.rundir().join(n)).collect();
    for s in &socks {
        assert!(
            s.exists(),
            "rvs does not listen on {}\n{}",
            s.display(),
            sw.log()
        );
    }
    ofctl(&sw, &["del-flows", &br]);
    ofctl(&sw, &["add-flow", &br, "in_port=1,actions=output:2"]);
    let mut tp = Testpmd::start(TestpmdOptions {
        ports: socks.iter().map(VirtioUser::client).collect(),
        forward_mode: "rxonly".into(),
        ..Default::default()
    });
    tp.wait_ready(READY);
    let t = tx_first_rounds(&mut tp, 5);
    assert_eq!(t[1].rx_packets, t[0].tx_packets, "{t:?}\n{}", sw.log());
    assert_eq!(t[0].tx_packets, 5 * FRAMES);
}

#[test]
fn traffic_resumes_after_testpmd_restarts() {
    let _serial = serial();
    let (sw, mut tp, _br) = two_port_setup("rxonly", &["in_port=1,actions=output:2"]);
    let t = tx_first_rounds(&mut tp, 3);
    assert_eq!(t[1].rx_packets, t[0].tx_packets, "{t:?}");
    // A crash, then a new testpmd on the same sockets: rvs reconnects.
    tp.kill();
    tp.restart();
    tp.wait_ready(READY);
    let t = tx_first_rounds(&mut tp, 3);
    assert_eq!(t[0].tx_packets, 3 * FRAMES, "{t:?}");
    assert_eq!(t[1].rx_packets, t[0].tx_packets, "{t:?}\n{}", sw.log());
}

#[test]
fn traffic_resumes_after_rvs_vswitchd_restarts() {
    let _serial = serial();
    let (mut sw, mut tp, br) = two_port_setup("rxonly", &["in_port=1,actions=output:2"]);
    let t = tx_first_rounds(&mut tp, 3);
    assert_eq!(t[1].rx_packets, t[0].tx_packets, "{t:?}");
    sw.restart();
    // testpmd (server=1) saw the socket close, marked its links down and
    // accepts the new connection: links come back up once rvs reconnects.
    // The flow table is not persistent: program it again.
    ofctl(&sw, &["del-flows", &br]);
    ofctl(&sw, &["add-flow", &br, "in_port=1,actions=output:2"]);
    for port in 0..2 {
        assert!(
            tp.wait_link(port, true, READY),
            "testpmd port {port} stays down after rvs-vswitchd restarted\n{}",
            sw.log()
        );
    }
    let t = tx_first_rounds(&mut tp, 3);
    assert_eq!(t[0].tx_packets, 3 * FRAMES, "{t:?}");
    assert_eq!(t[1].rx_packets, t[0].tx_packets, "{t:?}\n{}", sw.log());
}
