//! OpenFlow 1.3 against rvs-vswitchd with the real `ovs-ofctl -O
//! OpenFlow13` (Debian's openvswitch-common): the commands people script
//! with, and traffic between network namespaces obeying the flows. Needs
//! root. Every test uses its own namespaces, links and bridge names,
//! removed on drop.

use rvs_tests::{unique_name, ChildGuard, TempDir, Veth, Vswitchd};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One switch at a time: each busy-polls a core, and this machine has two.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bridge on a running switch, driven by the real ovs-ofctl.
struct Bridge<'a> {
    sw: &'a Vswitchd,
    name: String,
}

impl Bridge<'_> {
    fn target(&self) -> String {
        format!(
            "unix:{}",
            self.sw
                .rundir()
                .join(format!("{}.mgmt", self.name))
                .display()
        )
    }

    /// Runs `ovs-ofctl -O OpenFlow13 CMD <bridge> ARGS`; (ok, stdout, stderr).
    fn try_ofctl(&self, cmd: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow13", cmd, &self.target()])
            .args(args)
            .output()
            .expect("run ovs-ofctl (Debian openvswitch-common)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ofctl(&self, cmd: &str, args: &[&str]) -> String {
        let (ok, out, err) = self.try_ofctl(cmd, args);
        assert!(
            ok,
            "ovs-ofctl {cmd} {args:?} failed: {err}\nswitch log:\n{}",
            self.sw.log()
        );
        out
    }

    /// `dump-flows --no-stats` without the reply header, one flow a line.
    fn flows(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ofctl("dump-flows", &["--no-stats"])
            .lines()
            .filter(|l| !l.starts_with("OFPST_FLOW"))
            .map(|l| l.trim().to_string())
            .collect();
        v.sort();
        v
    }

    /// Packet count of the flow whose `--no-stats` text is `flow`.
    fn n_packets(&self, flow: &str) -> u64 {
        for l in self.ofctl("dump-flows", &[]).lines() {
            let l = l.trim();
            // " cookie=.., duration=.., table=.., n_packets=N, n_bytes=M, <flow>"
            let Some(i) = l.find("n_packets=") else {
                continue;
            };
            let rest = &l[i + "n_packets=".len()..];
            let n: u64 = rest.split(',').next().unwrap().parse().unwrap();
            let after_bytes = rest.split_once("n_bytes=").unwrap().1;
            let text = after_bytes.split_once(", ").map_or("", |x| x.1);
            let table = l
                .split_once("table=")
                .map(|x| x.1.split(',').next().unwrap())
                .unwrap_or("0");
            let with_table = if table == "0" {
                text.to_string()
            } else {
                format!("table={table}, {text}")
            };
            if text == flow || with_table == flow {
                return n;
            }
        }
        panic!("no flow {flow:?} in\n{}", self.ofctl("dump-flows", &[]));
    }
}

/// Waits until `f` holds (PMDs credit rule counters about once a second).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(10), "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A switch with bridge `b` (fail_mode secure: no flows at all) and the
/// given veths as ports 1, 2, ... (by `ofport_request`).
fn setup<'a>(sw: &'a Vswitchd, hosts: &[&Veth]) -> Bridge<'a> {
    let name = unique_name("ob");
    let mut args: Vec<String> = vec!["add-br".into(), name.clone()];
    args.extend(["--", "set", "Bridge", &name, "fail_mode=secure"].map(String::from));
    for (i, h) in hosts.iter().enumerate() {
        args.extend([
            "--".to_string(),
            "add-port".into(),
            name.clone(),
            h.host.clone(),
            "--".into(),
            "set".into(),
            "Interface".into(),
            h.host.clone(),
            format!("ofport_request={}", i + 1),
        ]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sw.vsctl(&refs);
    Bridge { sw, name }
}

#[test]
fn ovs_ofctl_shows_adds_dumps_modifies_and_deletes_flows() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("ofa", "10.82.0.1");
    let b = Veth::new("ofb", "10.82.0.2");
    // Standalone (the default): the bridge starts with the NORMAL flow.
    let name = unique_name("ob");
    sw.vsctl(&["add-br", &name, "--", "add-port", &name, &a.host]);
    sw.vsctl(&["add-port", &name, &b.host]);
    let br = Bridge { sw: &sw, name };
    assert_eq!(br.flows(), vec!["priority=0 actions=NORMAL"]);

    // show: features, every port with its name and address, the config.
    let show = br.ofctl("show", &[]);
    assert!(show.contains("OFPT_FEATURES_REPLY (OF1.3)"), "{show}");
    assert!(show.contains("n_tables:254"), "{show}");
    for (h, n) in [(&a, 1), (&b, 2)] {
        assert!(show.contains(&format!(" {n}({}): addr:", h.host)), "{show}");
    }
    assert!(
        show.contains(&format!(" LOCAL({}): addr:", br.name)),
        "{show}"
    );
    assert!(show.contains("OFPT_GET_CONFIG_REPLY"), "{show}");

    // add-flow and add-flows: dump-flows lists exactly what was added.
    br.ofctl("del-flows", &[]);
    assert!(br.flows().is_empty(), "del-flows removes the NORMAL flow");
    br.ofctl(
        "add-flow",
        &["priority=100,ip,nw_dst=10.82.0.9,actions=drop"],
    );
    let dir = TempDir::new("offl");
    let file = dir.path().join("flows.txt");
    std::fs::write(
        &file,
        "# comment\n\
         in_port=1,actions=output:2\n\
         \n\
         in_port=2,actions=output:1\n\
         table=1,priority=5,tcp,tp_dst=80,actions=mod_dl_dst:02:00:00:00:00:01,output:2\n\
         cookie=0x42,priority=7,dl_src=01:00:00:00:00:00/01:00:00:00:00:00,actions=goto_table:1\n",
    )
    .unwrap();
    br.ofctl("add-flows", &[file.to_str().unwrap()]);
    let expected = [
        "cookie=0x42, priority=7,dl_src=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:1",
        "in_port=1 actions=output:2",
        "in_port=2 actions=output:1",
        "priority=100,ip,nw_dst=10.82.0.9 actions=drop",
        "table=1, priority=5,tcp,tp_dst=80 actions=set_field:02:00:00:00:00:01->eth_dst,output:2",
    ];
    assert_eq!(br.flows(), expected);

    // Counters grow with traffic.
    assert_eq!(br.n_packets("in_port=1 actions=output:2"), 0);
    let _srv = b.udp_echo_server(7100);
    assert!(a.udp_echo(&b.ip, 7100, 1.0), "{}", sw.log());
    eventually("in_port=1 counters grow", || {
        br.n_packets("in_port=1 actions=output:2") >= 1
    });
    eventually("in_port=2 counters grow", || {
        br.n_packets("in_port=2 actions=output:1") >= 1
    });
    let agg = br.ofctl("dump-aggregate", &[]);
    assert!(agg.contains("flow_count=5"), "{agg}");

    // dump-ports: the ports' counters, one port or all.
    let ports = br.ofctl("dump-ports", &[]);
    assert!(ports.contains("3 ports"), "{ports}");
    let one = br.ofctl("dump-ports", &["1"]);
    assert!(one.contains("1 ports") && one.contains("port  1:"), "{one}");
    let desc = br.ofctl("dump-ports-desc", &[]);
    assert!(desc.contains(&format!("2({})", b.host)), "{desc}");

    // mod-flows changes the actions of what it selects, keeps the rest.
    br.ofctl("mod-flows", &["in_port=2,actions=drop"]);
    let f = br.flows();
    assert!(f.contains(&"in_port=2 actions=drop".to_string()), "{f:?}");
    assert!(
        f.contains(&"in_port=1 actions=output:2".to_string()),
        "{f:?}"
    );

    // del-flows with a filter (non-strict: everything within it), strict.
    br.ofctl(
        "del-flows",
        &[
            "--strict",
            "priority=7,dl_src=01:00:00:00:00:00/01:00:00:00:00:00",
        ],
    );
    assert!(br.flows().iter().all(|l| !l.contains("cookie=0x42")));
    br.ofctl("del-flows", &["ip"]);
    let f = br.flows();
    assert!(
        !f.iter().any(|l| l.contains("nw_dst=10.82.0.9")) && !f.iter().any(|l| l.contains("tcp")),
        "ip covers the drop rule and the tcp rule: {f:?}"
    );
    assert_eq!(f.len(), 2, "{f:?}");
    br.ofctl("del-flows", &["in_port=1"]);
    assert_eq!(br.flows(), vec!["in_port=2 actions=drop"]);

    // Errors come back as OpenFlow errors, and the switch keeps serving.
    let (ok, _, err) = br.try_ofctl("add-flow", &["table=300,actions=drop"]);
    assert!(!ok, "table 300 does not exist");
    let _ = err;
    let (ok, _, err) = br.try_ofctl("add-flow", &["table=2,actions=goto_table:1"]);
    assert!(!ok, "goto_table must go forward: {err}");
    assert_eq!(br.flows(), vec!["in_port=2 actions=drop"]);
}

/// Sends a UDP datagram from `from` to `to_ip:port` and waits for the echo.
fn reaches(from: &Veth, to_ip: &str, port: u16) -> bool {
    from.udp_echo(to_ip, port, 0.5)
}

#[test]
fn traffic_obeys_the_flows_and_a_removed_drop_rule_stops_dropping_at_once() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("ofa", "10.83.0.1");
    let b = Veth::new("ofb", "10.83.0.2");
    let c = Veth::new("ofc", "10.83.0.3");
    let br = setup(&sw, &[&a, &b, &c]);
    assert!(br.flows().is_empty(), "fail_mode=secure: no default flow");
    let _sb = b.udp_echo_server(7200);
    let _sc = c.udp_echo_server(7200);
    assert!(!reaches(&a, &b.ip, 7200), "no flows: nothing forwarded");

    // Forwarding by in_port (ARP included), with a multi-table pipeline:
    // table 0 sends everything to table 1, table 1 decides.
    br.ofctl("add-flow", &["table=0,actions=goto_table:1"]);
    br.ofctl("add-flow", &["table=1,in_port=1,actions=output:2,output:3"]);
    br.ofctl("add-flow", &["table=1,in_port=2,actions=output:1"]);
    br.ofctl("add-flow", &["table=1,in_port=3,actions=output:1"]);
    assert!(reaches(&a, &b.ip, 7200), "a->b\n{}", sw.log());
    assert!(reaches(&a, &c.ip, 7200), "a->c\n{}", sw.log());

    // A higher-priority drop rule for one IP (the others have the default
    // priority, 32768): c is cut off, b is not.
    br.ofctl(
        "add-flow",
        &["table=1,priority=40000,ip,nw_dst=10.83.0.3,actions=drop"],
    );
    assert!(!reaches(&a, &c.ip, 7200), "the drop rule must drop");
    assert!(reaches(&a, &b.ip, 7200), "b is not affected");
    // Removing it restores traffic at once: ovs-ofctl returns after a
    // barrier, which rvs answers once every PMD has revalidated.
    br.ofctl(
        "del-flows",
        &["--strict", "table=1,priority=40000,ip,nw_dst=10.83.0.3"],
    );
    assert!(reaches(&a, &c.ip, 7200), "stale megaflow kept dropping");
}

#[test]
fn set_field_rewrites_a_mac_address_on_the_way() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("ofa", "10.84.0.1");
    let b = Veth::new("ofb", "10.84.0.2");
    let br = setup(&sw, &[&a, &b]);
    // a believes b's address belongs to a MAC that does not exist; only the
    // rewrite makes the frames acceptable to b's kernel.
    let fake = "02:00:00:00:00:99";
    a.ns.exec(
        "ip",
        &["neigh", "replace", &b.ip, "lladdr", fake, "dev", "eth0"],
    );
    let _sb = b.udp_echo_server(7300);
    br.ofctl("add-flow", &["in_port=2,actions=output:1"]);
    br.ofctl("add-flow", &["in_port=1,arp,actions=output:2"]);
    br.ofctl("add-flow", &["priority=10,in_port=1,ip,actions=output:2"]);
    assert!(
        !reaches(&a, &b.ip, 7300),
        "without the rewrite b drops them"
    );
    br.ofctl(
        "add-flow",
        &[&format!(
            "priority=20,in_port=1,dl_dst={fake},actions=set_field:{}->eth_dst,output:2",
            b.mac
        )],
    );
    assert!(reaches(&a, &b.ip, 7300), "rewritten: {}", sw.log());
}

/// Runs in `v`'s namespace: waits for a UDP frame tagged with VLAN `vid`,
/// answers it with a frame tagged the same way (addresses and ports
/// swapped), prints the VID seen.
fn tagged_echo(v: &Veth, vid: u16, secs: f64) -> ChildGuard {
    let script = format!(
        r#"import socket,struct,time
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))
s.bind(('eth0',0))
s.setsockopt(263,8,1)
s.settimeout(0.1)
end=time.time()+{secs}
def csum(b):
    if len(b)%2: b+=b'\0'
    t=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while t>>16: t=(t&0xffff)+(t>>16)
    return (~t)&0xffff
while time.time()<end:
    try:
        f,anc,_,_=s.recvmsg(2000,socket.CMSG_SPACE(32))
    except socket.timeout:
        continue
    # The kernel moves the tag into metadata (PACKET_AUXDATA): put it back.
    for lvl,typ,data in anc:
        if lvl==263 and typ==8 and len(data)>=20:
            st,_,_,_,_,tci,tpid=struct.unpack('IIIHHHH',data[:20])
            if st&0x10:
                f=f[:12]+struct.pack('!HH',tpid or 0x8100,tci)+f[12:]
    if len(f)<46 or f[12:14]!=b'\x81\x00': continue
    v=struct.unpack('!H',f[14:16])[0]&0xfff
    if v!={vid} or f[16:18]!=b'\x08\x00' or f[27]!=17: continue
    ip=f[18:38]; udp=f[38:46]; data=f[46:18+struct.unpack('!H',ip[2:4])[0]]
    nip=bytearray(ip); nip[12:16]=ip[16:20]; nip[16:20]=ip[12:16]; nip[10:12]=b'\0\0'
    nip[10:12]=struct.pack('!H',csum(bytes(nip)))
    nudp=udp[2:4]+udp[0:2]+udp[4:6]+b'\0\0'
    s.send(f[6:12]+f[0:6]+f[12:18]+bytes(nip)+nudp+data)
    print(v,flush=True)
    break
"#
    );
    let child = Command::new("ip")
        .args(["netns", "exec", v.ns.name(), "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the tagged echo");
    std::thread::sleep(Duration::from_millis(300));
    ChildGuard(child)
}

#[test]
fn push_vlan_toward_a_trunk_and_pop_vlan_back_to_the_access_host() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let access = Veth::new("ofa", "10.85.0.1");
    let trunk = Veth::new("oft", "10.85.0.2");
    let br = setup(&sw, &[&access, &trunk]);
    // The access host sends untagged; the trunk sees VLAN 100. The kernel
    // here has no 8021q, so the trunk side answers with a raw socket.
    access.ns.exec(
        "ip",
        &[
            "neigh", "replace", &trunk.ip, "lladdr", &trunk.mac, "dev", "eth0",
        ],
    );
    br.ofctl(
        "add-flow",
        &["in_port=1,actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:2"],
    );
    br.ofctl(
        "add-flow",
        &["in_port=2,dl_vlan=100,actions=pop_vlan,output:1"],
    );
    let mut echo = tagged_echo(&trunk, 100, 8.0);
    let back = reaches(&access, &trunk.ip, 7400);
    let mut seen = String::new();
    if let Some(mut o) = echo.0.stdout.take() {
        let _ = echo.0.wait();
        use std::io::Read;
        let _ = o.read_to_string(&mut seen);
    }
    assert_eq!(seen.trim(), "100", "the trunk saw no frame tagged 100");
    assert!(
        back,
        "the tagged answer was not popped back to the access host"
    );
    let f = br.flows();
    assert!(
        f.contains(
            &"in_port=1 actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:2".to_string()
        ),
        "{f:?}"
    );
}

#[test]
fn controller_bound_packets_and_packet_out_through_a_passive_controller_port() {
    // A minimal controller written with the rvs-openflow codec: it listens
    // on the ptcp target, gets a PACKET_IN for a table-miss flow and sends
    // the packet out by PACKET_OUT to the other port.
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("ofa", "10.86.0.1");
    let b = Veth::new("ofb", "10.86.0.2");
    let br = setup(&sw, &[&a, &b]);
    let port = rvs_tests::free_tcp_port();
    sw.vsctl(&[
        "set-controller",
        &br.name,
        &format!("ptcp:{port}:127.0.0.1"),
    ]);
    br.ofctl("add-flow", &["priority=0,actions=controller:65535"]);
    let mut conn = None;
    let t0 = Instant::now();
    while conn.is_none() && t0.elapsed() < Duration::from_secs(10) {
        conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut c = conn.expect("the ptcp controller target listens");
    use rvs_openflow::{Message, MessageBody, MessageFramer, PacketOut, PortNo, NO_BUFFER};
    use std::io::{Read, Write};
    c.write_all(&Message::hello(1).to_bytes().unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _sb = b.udp_echo_server(7500);
    // a sends; every frame goes to the controller, which forwards it.
    let sender = {
        let ns = a.ns.name().to_string();
        let dst = b.ip.clone();
        std::thread::spawn(move || {
            let script = format!(
                "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                 for i in range(30):\n    s.sendto(b'hi',('{dst}',7500))\n    time.sleep(0.1)"
            );
            let _ = Command::new("ip")
                .args(["netns", "exec", &ns, "python3", "-c", &script])
                .status();
        })
    };
    let mut framer = MessageFramer::new();
    let mut buf = [0u8; 65536];
    let mut packet_ins = 0;
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline && packet_ins < 3 {
        if let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            framer.push(&buf[..n]);
        }
        while let Ok(Some(raw)) = framer.next_message() {
            let Ok(m) = Message::parse(raw) else { continue };
            if let MessageBody::PacketIn(pi) = m.body {
                // A table-miss flow sent it: reason NO_MATCH, its table and
                // cookie; in_port in the match (a's frames and b's answers).
                assert_eq!(pi.reason, rvs_openflow::PacketInReason::NoMatch);
                assert_eq!((pi.table_id, pi.cookie), (0, 0));
                let in_port = pi.match_.in_port().expect("in_port in the match");
                if in_port != PortNo(1) && in_port != PortNo(2) {
                    // The bridge's own port (IPv6 router solicitations...).
                    assert_eq!(in_port, PortNo::LOCAL);
                    continue;
                }
                if in_port == PortNo(1) {
                    packet_ins += 1;
                }
                let other = PortNo(3 - in_port.0);
                let out = Message::new(
                    7,
                    MessageBody::PacketOut(PacketOut {
                        buffer_id: NO_BUFFER,
                        in_port,
                        actions: vec![rvs_openflow::Action::output(other)],
                        data: pi.data,
                    }),
                );
                c.write_all(&out.to_bytes().unwrap()).unwrap();
            }
        }
    }
    let _ = sender.join();
    assert!(
        packet_ins >= 3,
        "PACKET_INs seen: {packet_ins}\n{}",
        sw.log()
    );
    let st = br.ofctl("dump-ports", &["2"]);
    let tx: u64 = st
        .split("tx pkts=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(tx >= 1, "PACKET_OUT reached port 2: {st}");
}

/// Reads messages from `s` for up to `wait`; returns them decoded.
fn read_messages(
    s: &mut std::os::unix::net::UnixStream,
    framer: &mut rvs_openflow::MessageFramer,
    wait: Duration,
) -> (Vec<rvs_openflow::Message>, bool) {
    use std::io::Read;
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    loop {
        while let Ok(Some(raw)) = framer.next_message() {
            out.push(rvs_openflow::Message::parse(raw).expect("the switch sends valid messages"));
        }
        if Instant::now() >= deadline {
            return (out, false);
        }
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => framer.push(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (out, true),
        }
    }
}

#[test]
fn garbage_gets_openflow_errors_and_the_switch_keeps_serving() {
    use rvs_openflow::{Message, MessageBody, MessageFramer};
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("ofa", "10.87.0.1");
    let br = setup(&sw, &[&a]);
    br.ofctl("add-flow", &["in_port=1,actions=drop"]);
    let path = sw.rundir().join(format!("{}.mgmt", br.name));

    // A peer that speaks only OpenFlow 1.0 is refused with HELLO_FAILED.
    let mut s = UnixStream::connect(&path).unwrap();
    let mut f = MessageFramer::new();
    s.write_all(&[0x01, 0, 0, 8, 0, 0, 0, 1]).unwrap();
    let (msgs, closed) = read_messages(&mut s, &mut f, Duration::from_secs(3));
    assert!(closed, "the connection is closed after HELLO_FAILED");
    assert!(
        msgs.iter().any(|m| matches!(&m.body, MessageBody::Error(e)
            if e.code.kind == rvs_openflow::ErrorType::HelloFailed)),
        "{msgs:?}"
    );

    // After a good HELLO: an unknown type, a cut-short FLOW_MOD and an
    // echo, each answered in order.
    let mut s = UnixStream::connect(&path).unwrap();
    let mut f = MessageFramer::new();
    s.write_all(&Message::hello(1).to_bytes().unwrap()).unwrap();
    s.write_all(&[0x04, 200, 0, 8, 0, 0, 0, 2]).unwrap();
    s.write_all(&[
        0x04, 14, 0, 20, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ])
    .unwrap();
    s.write_all(
        &Message::new(4, MessageBody::EchoRequest(b"still here".to_vec()))
            .to_bytes()
            .unwrap(),
    )
    .unwrap();
    let (msgs, closed) = read_messages(&mut s, &mut f, Duration::from_secs(2));
    assert!(!closed);
    let errors: Vec<(u32, String)> = msgs
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Error(e) => Some((m.xid, e.code.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (2, "BAD_REQUEST/BAD_TYPE".to_string()),
            (3, "BAD_REQUEST/BAD_LEN".to_string())
        ]
    );
    assert!(msgs
        .iter()
        .any(|m| m.xid == 4 && matches!(&m.body, MessageBody::EchoReply(d) if d == b"still here")));

    // Random bodies behind valid headers, every type: errors or replies,
    // never a crash; then a header whose length is below 8 ends the
    // connection.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..2000u32 {
        let t = (next() % 32) as u8;
        if t == 0 {
            continue; // a second HELLO is ignored anyway
        }
        let len = (next() % 120) as usize;
        let mut m = vec![0x04, t, 0, 0];
        m.extend_from_slice(&(1000 + i).to_be_bytes());
        m.extend((0..len).map(|_| next() as u8));
        let total = (m.len() as u16).to_be_bytes();
        m[2..4].copy_from_slice(&total);
        s.write_all(&m).unwrap();
    }
    let (msgs, closed) = read_messages(&mut s, &mut f, Duration::from_secs(3));
    assert!(!closed, "garbage bodies are answered, not fatal");
    assert!(
        msgs.len() > 100,
        "most garbage gets an ERROR: {}",
        msgs.len()
    );
    s.write_all(&[0x04, 2, 0, 4, 0, 0, 0, 9]).unwrap();
    let (_, closed) = read_messages(&mut s, &mut f, Duration::from_secs(3));
    assert!(closed, "an unframeable stream is closed");

    // The switch serves everyone else, and the garbage (a fixed seed, so
    // the same bytes every run) changed no flow.
    assert!(br.ofctl("show", &[]).contains("OFPT_FEATURES_REPLY"));
    assert_eq!(br.flows(), vec!["in_port=1 actions=drop"]);
}

#[test]
fn idle_and_hard_timeouts_expire_flows_with_flow_removed() {
    use rvs_openflow::flow_syntax::{parse_flow, FlowMode};
    use rvs_openflow::{FlowModCommand, FlowRemovedReason, Message, MessageBody, MessageFramer};
    use std::io::{Read, Write};
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("ofa", "10.88.0.1");
    let b = Veth::new("ofb", "10.88.0.2");
    let br = setup(&sw, &[&a, &b]);
    let port = rvs_tests::free_tcp_port();
    sw.vsctl(&["set-controller", &br.name, &format!("ptcp:{port}")]);
    let mut c = None;
    let t0 = Instant::now();
    while c.is_none() && t0.elapsed() < Duration::from_secs(10) {
        c = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut c = c.expect("the ptcp controller target listens");
    c.write_all(&Message::hello(1).to_bytes().unwrap()).unwrap();
    let add = |text: &str, xid: u32| {
        let fm = parse_flow(text, FlowMode::Add)
            .unwrap()
            .to_flow_mod(FlowModCommand::Add);
        Message::new(xid, MessageBody::FlowMod(fm))
            .to_bytes()
            .unwrap()
    };
    // Idle 1 s without traffic; hard 2 s; idle 2 s kept busy by traffic.
    c.write_all(&add(
        "cookie=0x11,idle_timeout=1,send_flow_rem,priority=5,udp,actions=drop",
        2,
    ))
    .unwrap();
    c.write_all(&add(
        "cookie=0x22,hard_timeout=2,send_flow_rem,priority=6,tcp,actions=drop",
        3,
    ))
    .unwrap();
    c.write_all(&add(
        "cookie=0x33,idle_timeout=2,send_flow_rem,in_port=1,actions=output:2",
        4,
    ))
    .unwrap();
    c.write_all(&add("in_port=2,actions=output:1", 5)).unwrap();
    // Traffic that only the third flow sees (ARP answers use the fourth).
    let pinger = {
        let ns = a.ns.name().to_string();
        let dst = b.ip.clone();
        std::thread::spawn(move || {
            let _ = Command::new("ip")
                .args([
                    "netns", "exec", &ns, "ping", "-c", "25", "-i", "0.2", "-W", "1", &dst,
                ])
                .output();
        })
    };
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut framer = MessageFramer::new();
    let mut buf = [0u8; 65536];
    let mut removed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        if let Ok(n) = c.read(&mut buf) {
            assert!(n > 0, "the switch closed the connection\n{}", sw.log());
            framer.push(&buf[..n]);
        }
        while let Ok(Some(raw)) = framer.next_message() {
            let m = Message::parse(raw).unwrap();
            match m.body {
                MessageBody::FlowRemoved(fr) => removed.push((fr.cookie, fr.reason)),
                MessageBody::Error(e) => panic!("error from the switch: {}", e.code),
                _ => {}
            }
        }
    }
    let _ = pinger.join();
    removed.sort_by_key(|r| r.0);
    assert_eq!(
        removed,
        vec![
            (0x11, FlowRemovedReason::IdleTimeout),
            (0x22, FlowRemovedReason::HardTimeout)
        ],
        "the busy flow (0x33) must stay while traffic flows\n{}",
        sw.log()
    );
    let f = br.flows();
    assert!(f.iter().any(|l| l.contains("cookie=0x33")), "{f:?}");
    assert!(!f
        .iter()
        .any(|l| l.contains("cookie=0x11") || l.contains("cookie=0x22")));
    // Once the traffic stops, the idle flow goes too.
    eventually("the idle flow expires after the traffic stops", || {
        !br.flows().iter().any(|l| l.contains("cookie=0x33"))
    });
}

#[test]
fn rvs_ofctl_prints_what_ovs_ofctl_prints_for_the_same_switch() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("ofa", "10.89.0.1");
    let b = Veth::new("ofb", "10.89.0.2");
    let br = setup(&sw, &[&a, &b]);
    let rvs = |args: &[&str]| -> (bool, String, String) {
        let out = Command::new(rvs_tests::workspace_bin("rvs-ctl", "rvs-ofctl"))
            .env("RVS_RUNDIR", sw.rundir())
            .args(args)
            .output()
            .expect("run rvs-ofctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Flows added by rvs-ofctl (by bridge name), seen by both tools.
    let dir = TempDir::new("offl");
    let file = dir.path().join("flows");
    std::fs::write(
        &file,
        "in_port=1,actions=output:2\n\
         in_port=2,actions=output:1\n\
         table=0,priority=300,ip,nw_src=10.89.0.0/24,nw_dst=10.89.0.7,actions=drop\n\
         table=2,priority=9,udp,tp_dst=53,actions=push_vlan:0x8100,set_field:4097->vlan_vid,output:2\n\
         cookie=0x5,priority=1,arp,arp_op=1,actions=controller:64,goto_table:2\n",
    )
    .unwrap();
    let (ok, _, err) = rvs(&["add-flows", &br.name, file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = rvs(&["mod-flows", &br.name, "in_port=2,actions=output:1,output:2"]);
    assert!(ok, "{err}");
    let target = br.target();
    for cmd in [
        vec!["show"],
        vec!["dump-flows", "--no-stats"],
        vec!["dump-flows", "--no-stats", "ip"],
        vec!["dump-ports-desc"],
        vec!["dump-aggregate", "in_port=1"],
    ] {
        let (ok, theirs, err) = {
            let out = Command::new("ovs-ofctl")
                .args(["-O", "OpenFlow13", cmd[0], &target])
                .args(&cmd[1..])
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        assert!(ok, "ovs-ofctl {cmd:?}: {err}");
        let mut args = vec!["-O", "OpenFlow13", cmd[0], &target];
        args.extend(&cmd[1..]);
        let (ok, ours, err) = rvs(&args);
        assert!(ok, "rvs-ofctl {cmd:?}: {err}");
        assert_eq!(ours, theirs, "rvs-ofctl {cmd:?} differs from ovs-ofctl");
    }
    // del-flows through rvs-ofctl with a filter and --strict.
    let (ok, _, err) = rvs(&["del-flows", &br.name, "--strict", "priority=1,arp,arp_op=1"]);
    assert!(ok, "{err}");
    let (ok, _, err) = rvs(&["del-flows", &br.name, "ip"]);
    assert!(ok, "{err}");
    assert_eq!(
        br.flows(),
        vec![
            "in_port=1 actions=output:2",
            "in_port=2 actions=output:1,output:2"
        ],
        "ip covers the drop rule and the udp rule (in every table)"
    );
}
