//! rvs-vswitchd switching real traffic between network namespaces over veth
//! pairs (AF_PACKET ports unless said otherwise). Needs root. Every test
//! uses its own namespaces, links and bridge names, removed on drop.

use rvs_tests::{ovs_vsctl, run_status, unique_name, ChildGuard, Veth, Vswitchd};
use serde_json::Value;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// One switch at a time: each busy-polls a core, and this machine has two.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts, inside `v`'s namespace, frames to UDP port `port` seen on eth0
/// during `secs` seconds (a raw socket, so it sees what the switch floods).
fn sniff_udp(v: &Veth, port: u16, secs: f64) -> ChildGuard {
    let script = format!(
        "import socket,time,struct\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))\n\
         s.bind(('eth0',0))\ns.settimeout(0.1)\nn=0\nend=time.time()+{secs}\nwhile time.time()<end:\n    try:\n        f=s.recv(2000)\n    except socket.timeout:\n        continue\n\
         if len(f)>=38 and f[12:14]==b'\\x08\\x00' and f[23]==17 and struct.unpack('!H',f[36:38])[0]=={port}:\n        n+=1\nprint(n,flush=True)"
    );
    let child = Command::new("ip")
        .args(["netns", "exec", v.ns.name(), "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start a sniffer");
    ChildGuard(child)
}

fn sniffed(mut g: ChildGuard) -> u64 {
    let out = g.0.stdout.take().unwrap();
    let _ = g.0.wait();
    let mut s = String::new();
    use std::io::Read;
    let mut r = std::io::BufReader::new(out);
    let _ = r.read_to_string(&mut s);
    s.trim().parse().unwrap_or(u64::MAX)
}

/// Sends `n` datagrams from `n` different source ports.
fn udp_burst(v: &Veth, dst: &str, port: u16, n: usize) {
    let script = format!(
        "import socket\nfor i in range({n}):\n    s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n    s.sendto(b'x'*32,('{dst}',{port}))\n    s.close()"
    );
    let st = Command::new("ip")
        .args(["netns", "exec", v.ns.name(), "python3", "-c", &script])
        .status()
        .unwrap();
    assert!(st.success());
}

fn ping(v: &Veth, dst: &str) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            v.ns.name(),
            "ping",
            "-c",
            "2",
            "-W",
            "1",
            "-i",
            "0.2",
            dst,
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn hosts_reach_each_other_learning_stops_flooding_one_megaflow_per_pair() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("rsa", "10.81.0.1");
    let b = Veth::new("rsb", "10.81.0.2");
    let c = Veth::new("rsc", "10.81.0.3");
    let br = unique_name("rb");
    sw.vsctl(&[
        "add-br", &br, "--", "add-port", &br, &a.host, "--", "add-port", &br, &b.host, "--",
        "add-port", &br, &c.host,
    ]);
    let _srv = b.udp_echo_server(7000);
    assert!(
        a.udp_echo(&b.ip, 7000, 1.0),
        "UDP echo a->b failed\n{}",
        sw.log()
    );
    assert!(ping(&a, &b.ip), "ICMP a->b failed");
    // Both MACs are learned now: c must not see a's unicast to b.
    let sniffer = sniff_udp(&c, 7000, 2.0);
    std::thread::sleep(Duration::from_millis(300));
    udp_burst(&a, &b.ip, 7000, 20);
    assert_eq!(
        sniffed(sniffer),
        0,
        "the third host saw unicast traffic after learning"
    );
    let (ok, fdb, _) = sw.appctl(&["fdb/show", &br]);
    assert!(ok && fdb.contains(&a.mac) && fdb.contains(&b.mac), "{fdb}");
    // 20 flows (source ports) from a to b share one megaflow that
    // wildcards the IP and L4 fields.
    let (ok, flows, err) = sw.appctl(&["--format", "json", "dpctl/dump-flows"]);
    assert!(ok, "{err}");
    let flows: Value = serde_json::from_str(&flows).unwrap();
    let pair: Vec<&Value> = flows
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let s = f["flow"].as_str().unwrap();
            s.contains(&format!("src={}", a.mac)) && s.contains(&format!("dst={}", b.mac))
        })
        .collect();
    assert_eq!(pair.len(), 1, "{flows:#}");
    assert!(pair[0]["packets"].as_u64().unwrap() >= 20, "{:#}", pair[0]);
    let s = pair[0]["flow"].as_str().unwrap();
    assert!(
        s.contains("wildcarded:") && s.contains("ipv4_src") && s.contains("tp_src"),
        "{s}"
    );
}

/// In `t`'s namespace, sends one 802.1Q-tagged UDP datagram (VID `vid`)
/// from a made-up host to `dst_mac`/`dst_ip`:`port`, then waits for a
/// UDP datagram back to the made-up host and prints the VID it arrived
/// with (`none` if untagged, `timeout` if nothing came). The kernel may carry
/// a received tag outside the frame; the script reads it from
/// PACKET_AUXDATA then.
fn trunk_exchange(
    t: &Veth,
    vid: u16,
    fake_mac: &str,
    fake_ip: &str,
    dst_mac: &str,
    dst_ip: &str,
    port: u16,
) -> String {
    let script = format!(
        r#"import socket,struct,time
def mac(s): return bytes(int(x,16) for x in s.split(':'))
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16
    return (~s)&0xffff
src=socket.inet_aton('{fake_ip}'); dst=socket.inet_aton('{dst_ip}')
payload=b'vlan-test'
udp=struct.pack('!HHHH',40000,{port},8+len(payload),0)+payload
ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),1,0,64,17,0,src,dst)
ip=ip[:10]+struct.pack('!H',csum(ip))+ip[12:]
frame=mac('{dst_mac}')+mac('{fake_mac}')+struct.pack('!HH',0x8100,{vid})+struct.pack('!H',0x0800)+ip+udp
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))
s.bind(('eth0',0))
s.setsockopt(263,8,1)
s.sendto(frame,('eth0',0))
s.settimeout(0.2)
end=time.time()+3
res='timeout'
while time.time()<end:
    try:
        f,anc,_,_=s.recvmsg(2000,socket.CMSG_SPACE(32))
    except socket.timeout:
        continue
    if f[0:6]!=mac('{fake_mac}'):
        continue
    tag=None
    if f[12:14]==b'\x81\x00':
        tag=struct.unpack('!H',f[14:16])[0]&0xfff; f=f[:12]+f[16:]
    for lvl,typ,data in anc:
        if lvl==263 and typ==8 and len(data)>=20:
            st,ln,sn,m,n,tci,tpid=struct.unpack('IIIHHHH',data[:20])
            if st & (1<<4): tag=tci&0xfff
    if f[12:14]==b'\x08\x00' and f[23]==17:
        res=str(tag) if tag is not None else 'none'
        break
print(res)"#
    );
    let out = Command::new("ip")
        .args(["netns", "exec", t.ns.name(), "python3", "-c", &script])
        .output()
        .expect("run the trunk script");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn vlans_isolate_access_ports_and_a_trunk_carries_both() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("rva", "10.82.0.1");
    let a2 = Veth::new("rvz", "10.82.0.4");
    let e = Veth::new("rve", "10.82.0.5");
    let b = Veth::new("rvb", "10.84.0.2");
    let t = Veth::new("rvt", "10.85.0.9");
    let br = unique_name("rb");
    sw.vsctl(&[
        "add-br",
        &br,
        "--",
        "add-port",
        &br,
        &a.host,
        "tag=10",
        "--",
        "add-port",
        &br,
        &a2.host,
        "tag=10",
        "--",
        "add-port",
        &br,
        &e.host,
        "tag=20",
        "--",
        "add-port",
        &br,
        &b.host,
        "tag=20",
        "--",
        "add-port",
        &br,
        &t.host,
        "trunks=10,20",
    ]);
    // Same VLAN: reachable. Same subnet, other VLAN: isolated.
    let _s1 = a2.udp_echo_server(7100);
    assert!(
        a.udp_echo(&a2.ip, 7100, 1.0),
        "tag 10 <-> tag 10 failed\n{}",
        sw.log()
    );
    let _s2 = e.udp_echo_server(7101);
    assert!(!a.udp_echo(&e.ip, 7101, 0.3), "tag 10 reached tag 20");
    // The trunk: a frame tagged 10 reaches the VLAN 10 access host untagged,
    // and its echo comes back tagged 10; the same with 20.
    let _ea = a.udp_echo_server(7102);
    let _eb = b.udp_echo_server(7102);
    for (host, vid, fake_ip, fake_mac) in [
        (&a, 10, "10.82.0.77", "02:aa:00:00:00:0a"),
        (&b, 20, "10.84.0.77", "02:aa:00:00:00:14"),
    ] {
        host.ns.exec(
            "ip",
            &[
                "neigh", "replace", fake_ip, "lladdr", fake_mac, "dev", "eth0",
            ],
        );
        let got = trunk_exchange(&t, vid, fake_mac, fake_ip, &host.mac, &host.ip, 7102);
        assert_eq!(got, vid.to_string(), "trunk VLAN {vid}\n{}", sw.log());
    }
}

#[test]
fn errors_deletion_and_restart() {
    let _serial = serial();
    let mut sw = Vswitchd::start();
    let a = Veth::new("rda", "10.86.0.1");
    let b = Veth::new("rdb", "10.86.0.2");
    let br = unique_name("rb");
    let missing = unique_name("nodev");
    sw.vsctl(&[
        "add-br", &br, "--", "add-port", &br, &a.host, "--", "add-port", &br, &b.host, "--",
        "add-port", &br, &missing,
    ]);
    let err = sw.vsctl(&["get", "Interface", &missing, "error"]);
    assert!(err.contains("No such device"), "{err}");
    let _srv = b.udp_echo_server(7200);
    assert!(
        a.udp_echo(&b.ip, 7200, 1.0),
        "a bad port stopped the others\n{}",
        sw.log()
    );
    // Bad types and options: a clear error, nothing built.
    sw.vsctl(&[
        "add-port",
        &br,
        "bogus0",
        "--",
        "set",
        "Interface",
        "bogus0",
        "type=frobnicator",
    ]);
    let err = sw.vsctl(&["get", "Interface", "bogus0", "error"]);
    assert!(err.contains("unsupported interface type"), "{err}");
    sw.vsctl(&[
        "add-port",
        &br,
        "bogus1",
        "--",
        "set",
        "Interface",
        "bogus1",
        "type=afxdp",
        "options:xdp-mode=warp",
    ]);
    let err = sw.vsctl(&["get", "Interface", "bogus1", "error"]);
    assert!(err.contains("xdp-mode") && err.contains("generic"), "{err}");
    sw.vsctl(&[
        "add-port",
        &br,
        "bogus2",
        "--",
        "set",
        "Interface",
        "bogus2",
        "type=tap",
        "options:color=blue",
    ]);
    let err = sw.vsctl(&["get", "Interface", "bogus2", "error"]);
    assert!(err.contains("takes no options"), "{err}");
    // The switch comes back from the database after a restart.
    sw.restart();
    assert!(
        a.udp_echo(&b.ip, 7200, 1.0),
        "not restored after restart\n{}",
        sw.log()
    );
    // Deleting a port stops its traffic; deleting the bridge removes the
    // device the switch created for it.
    sw.vsctl(&["del-port", &br, &b.host]);
    assert!(
        !a.udp_echo(&b.ip, 7200, 0.3),
        "traffic still reaches a deleted port"
    );
    let (_, show, _) = sw.appctl(&["dpif/show"]);
    assert!(!show.contains(&b.host), "{show}");
    assert!(Command::new("ip")
        .args(["link", "show", &br])
        .output()
        .unwrap()
        .status
        .success());
    sw.vsctl(&["del-br", &br]);
    let gone = || {
        !Command::new("ip")
            .args(["link", "show", &br])
            .output()
            .unwrap()
            .status
            .success()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !gone() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone(), "the bridge's internal device was left behind");
}

#[test]
fn bridge_names_that_cannot_be_devices_get_an_error() {
    let _serial = serial();
    let sw = Vswitchd::start();
    sw.vsctl(&["add-br", "name-far-too-long-for-linux"]);
    let err = sw.vsctl(&["get", "Interface", "name-far-too-long-for-linux", "error"]);
    assert!(err.contains("not a valid network device name"), "{err}");
}

#[test]
fn the_real_ovs_vsctl_drives_it_without_no_wait() {
    let _serial = serial();
    let sw = Vswitchd::start();
    let a = Veth::new("roa", "10.87.0.1");
    let b = Veth::new("rob", "10.87.0.2");
    let br = unique_name("rb");
    let db = format!("--db={}", sw.db());
    let vs = |args: &[&str]| {
        let mut all = vec![db.as_str(), "--timeout=20"];
        all.extend_from_slice(args);
        let (ok, out, err) = run_status(&ovs_vsctl(), &all);
        assert!(ok, "ovs-vsctl {args:?}: {err}\n{}", sw.log());
        out
    };
    vs(&["add-br", &br]);
    vs(&["add-port", &br, &a.host]);
    vs(&[
        "add-port",
        &br,
        &b.host,
        "--",
        "set",
        "Interface",
        &b.host,
        "type=afxdp",
        "options:xdp-mode=generic",
    ]);
    let ofport = vs(&["get", "Interface", &b.host, "ofport"]);
    assert!(
        ofport.trim().parse::<i64>().unwrap() > 0,
        "{ofport}\n{}",
        sw.log()
    );
    let _srv = b.udp_echo_server(7300);
    assert!(
        a.udp_echo(&b.ip, 7300, 1.0),
        "afpacket <-> afxdp echo failed\n{}",
        sw.log()
    );
    vs(&["del-port", &br, &b.host]);
    assert_eq!(vs(&["list-ports", &br]).trim(), a.host);
}
