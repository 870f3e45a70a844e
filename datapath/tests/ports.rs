//! Host ports against real devices: AF_PACKET and AF_XDP on veth pairs whose
//! other end is in a network namespace, and TAP devices.
//!
//! Every test makes its own namespaces and devices, named after the process
//! id and a counter, and removes them on drop (also when it fails). Traffic
//! comes from and goes to Python sockets run with `ip netns exec`. The tests
//! need root, `ip` and `python3`.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use rvs_datapath::flow::format_mac;
use rvs_datapath::port::afpacket::{AfPacketConfig, AfPacketPort, AfPacketRx, AfPacketTx};
use rvs_datapath::port::afxdp::{AfXdpPort, XdpActiveMode, XdpMode};
use rvs_datapath::port::tap::TapPort;
use rvs_datapath::port::{Port, PortError};
use rvs_datapath::{Batch, Packet, PacketPool};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// A per-thread counting allocator, to show that bursts do not allocate.

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; the thread-local counter
// is a const-initialised Cell, which itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: `p` was allocated by `System` through this allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `realloc`'s contract.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations, reallocations and frees made by this thread so far.
fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

// ---------------------------------------------------------------------------
// Namespaces, devices and processes that clean up after themselves.

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name of at most 12 bytes, unique in this process and unlikely to clash
/// with another's.
fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) -> Output {
    run("ip", args)
}

#[derive(Debug)]
struct NetNs(String);

impl NetNs {
    fn new() -> NetNs {
        let name = unique("rvsns");
        ip(&["netns", "add", &name]);
        let ns = NetNs(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["netns", "exec", &self.0];
        args.extend_from_slice(cmd);
        ip(&args)
    }

    fn spawn(&self, cmd: &[&str]) -> ChildGuard {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a process in a namespace");
        ChildGuard(Some(child))
    }

    fn python(&self, script: &str) -> ChildGuard {
        self.spawn(&["python3", "-c", script])
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process, killed on drop unless waited for.
#[derive(Debug)]
struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Whether it exited (successfully or not).
    fn exited(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }

    /// Waits for it; returns success and stdout.
    fn finish(mut self) -> (bool, String) {
        let out = self.0.take().unwrap().wait_with_output().unwrap();
        if !out.status.success() {
            eprintln!("child stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A veth pair: `host` in the root namespace (for a port to open), `eth0`
/// in namespace `ns` with 10.77.0.1/24 and fd77::1/64. Neighbour entries
/// for 10.77.0.2 and fd77::2 point at [`PEER_MAC`], so the namespace sends
/// without asking.
#[derive(Debug)]
struct Veth {
    host: String,
    ns: NetNs,
    ns_mac: [u8; 6],
}

const NS_IP: [u8; 4] = [10, 77, 0, 1];
const PEER_IP: [u8; 4] = [10, 77, 0, 2];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0x77, 0, 2];

impl Veth {
    fn new() -> Veth {
        Veth::with_ip("10.77.0.1")
    }

    fn with_ip(addr: &str) -> Veth {
        let ns = NetNs::new();
        let host = unique("rvh");
        let peer = format!("{host}p");
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", &peer, "netns", &ns.0,
        ]);
        let mut veth = Veth {
            host,
            ns,
            ns_mac: [0; 6],
        };
        let ns = &veth.ns;
        ns.exec(&["ip", "link", "set", &peer, "name", "eth0"]);
        ns.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        ns.exec(&["ip", "addr", "add", "fd77::1/64", "dev", "eth0", "nodad"]);
        ns.exec(&["ip", "link", "set", "eth0", "up"]);
        ip(&["link", "set", &veth.host, "up"]);
        let mac = ns.exec(&["cat", "/sys/class/net/eth0/address"]);
        veth.ns_mac = parse_mac(&String::from_utf8_lossy(&mac.stdout));
        veth
    }

    /// Static neighbour entries for the peer addresses.
    fn add_peer_neighbours(&self, dev: &str) {
        let mac = format_mac(PEER_MAC);
        for addr in ["10.77.0.2", "fd77::2"] {
            self.ns.exec(&[
                "ip",
                "neigh",
                "replace",
                addr,
                "lladdr",
                &mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ]);
        }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .stderr(Stdio::null())
            .status();
    }
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (i, part) in s.trim().split(':').enumerate() {
        mac[i] = u8::from_str_radix(part, 16).unwrap();
    }
    mac
}

/// Whether `ip link show` knows device `name` (in the root namespace).
fn device_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn link_details(name: &str) -> String {
    String::from_utf8_lossy(&ip(&["-d", "link", "show", name]).stdout).into_owned()
}

// ---------------------------------------------------------------------------
// Traffic.

/// Python: send `count` UDP datagrams with `payload` to `addr`:`port`.
fn udp_send_script(addr: &str, port: u16, payload: &str, count: u32) -> String {
    let family = if addr.contains(':') {
        "AF_INET6"
    } else {
        "AF_INET"
    };
    format!(
        "import socket,time\ns=socket.socket(socket.{family},socket.SOCK_DGRAM)\n\
         for i in range({count}):\n    s.sendto(b'{payload}',('{addr}',{port}))\n    time.sleep(0.02)\n"
    )
}

/// Python: receive one UDP datagram on `port` within `timeout` seconds and
/// print it.
fn udp_recv_script(port: u16, timeout: f64) -> String {
    format!(
        "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0',{port}))\ns.settimeout({timeout})\nd=s.recv(2000)\n\
         sys.stdout.write(d.decode())\n"
    )
}

/// Receives from `port` until a frame satisfies `want` or `timeout` passes.
fn receive_until(
    port: &mut dyn Port,
    pool: &mut PacketPool,
    timeout: Duration,
    mut want: impl FnMut(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut batch = Batch::new();
    while Instant::now() < deadline {
        if port.rx_burst(&mut batch, pool) == 0 {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let mut found = None;
        for p in batch.packets() {
            if found.is_none() && want(p.data()) {
                found = Some(p.data().to_vec());
            }
        }
        pool.put_batch(&mut batch);
        if found.is_some() {
            return found;
        }
    }
    None
}

/// What a received frame holds, as etherparse sees it.
#[derive(Debug)]
struct Seen {
    vlan: Option<u16>,
    tcp: bool,
    dst_port: u16,
    payload: Vec<u8>,
    checksum_ok: bool,
}

fn inspect(frame: &[u8]) -> Option<Seen> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let vlan = p.link_exts.first().and_then(|e| match e {
        etherparse::LinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
        _ => None,
    });
    let (tcp, dst_port, payload, checksum_ok) = match (p.net?, p.transport?) {
        (NetSlice::Ipv4(ip), TransportSlice::Udp(u)) => {
            let h = ip.header().to_header();
            let c = u.to_header().calc_checksum_ipv4(&h, u.payload()).ok()?;
            (
                false,
                u.destination_port(),
                u.payload().to_vec(),
                c == u.checksum(),
            )
        }
        (NetSlice::Ipv6(ip), TransportSlice::Udp(u)) => {
            let h = ip.header().to_header();
            let c = u.to_header().calc_checksum_ipv6(&h, u.payload()).ok()?;
            (
                false,
                u.destination_port(),
                u.payload().to_vec(),
                c == u.checksum(),
            )
        }
        (NetSlice::Ipv4(ip), TransportSlice::Tcp(t)) => {
            let h = ip.header().to_header();
            let c = t.to_header().calc_checksum_ipv4(&h, t.payload()).ok()?;
            (
                true,
                t.destination_port(),
                t.payload().to_vec(),
                c == t.checksum(),
            )
        }
        (NetSlice::Ipv6(ip), TransportSlice::Tcp(t)) => {
            let h = ip.header().to_header();
            let c = t.to_header().calc_checksum_ipv6(&h, t.payload()).ok()?;
            (
                true,
                t.destination_port(),
                t.payload().to_vec(),
                c == t.checksum(),
            )
        }
        _ => return None,
    };
    Some(Seen {
        vlan,
        tcp,
        dst_port,
        payload,
        checksum_ok,
    })
}

/// A UDP/IPv4 frame from the peer to the namespace, with a full checksum.
fn frame_to_ns(dst_mac: [u8; 6], port: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(PEER_MAC, dst_mac)
        .ipv4(PEER_IP, NS_IP, 64)
        .udp(40000, port);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

/// Transmits `frame` through `port` every 50 ms until `listener` exits or
/// 5 s pass; returns what the listener printed.
fn send_until_received(
    port: &mut dyn Port,
    pool: &mut PacketPool,
    frame: &[u8],
    mut listener: ChildGuard,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !listener.exited() {
        let mut p = pool.get().unwrap();
        assert!(p.set_frame(frame));
        let mut out: Vec<Packet> = vec![p];
        port.tx_burst(&mut out, pool);
        assert!(out.is_empty());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, out) = listener.finish();
    assert!(ok, "the listener in the namespace got nothing");
    out
}

fn pool() -> PacketPool {
    PacketPool::new(256, 2048)
}

// ---------------------------------------------------------------------------
// AF_PACKET.

#[test]
fn afpacket_refuses_a_missing_device() {
    match AfPacketPort::open("rvsnosuchdev0") {
        Err(PortError::NoSuchDevice(n)) => assert_eq!(n, "rvsnosuchdev0"),
        other => panic!("expected NoSuchDevice, got {other:?}"),
    }
}

/// Ring kinds and TX methods to try.
fn v2_ring() -> AfPacketConfig {
    AfPacketConfig {
        rx: AfPacketRx::Frames,
        tx: AfPacketTx::Ring,
        ..AfPacketConfig::default()
    }
}

fn v3_ring() -> AfPacketConfig {
    AfPacketConfig {
        tx: AfPacketTx::Ring,
        ..AfPacketConfig::default()
    }
}

#[test]
fn afpacket_receives_udp_with_completed_checksums() {
    afpacket_receives_udp(&AfPacketConfig::default());
}

#[test]
fn afpacket_v2_receives_udp_with_completed_checksums() {
    afpacket_receives_udp(&v2_ring());
}

fn afpacket_receives_udp(cfg: &AfPacketConfig) {
    let veth = Veth::new();
    veth.add_peer_neighbours("eth0");
    let mut port = AfPacketPort::open_with(&veth.host, cfg).unwrap();
    let mut pool = pool();
    assert!(port.link_up());
    assert!(port.mac().is_some());
    assert!(link_details(&veth.host).contains("promiscuity 1"));

    let _sender = veth
        .ns
        .python(&udp_send_script("10.77.0.2", 9999, "hello-v4", 50));
    let f = receive_until(&mut port, &mut pool, Duration::from_secs(5), |f| {
        inspect(f).is_some_and(|s| s.dst_port == 9999)
    })
    .expect("the namespace's UDP datagram reached the port");
    let s = inspect(&f).unwrap();
    assert_eq!(s.payload, b"hello-v4");
    assert!(s.checksum_ok, "UDP checksum was not completed");
    assert!(port.stats().csum_completed >= 1);
    assert!(port.stats().rx_packets >= 1);

    let _sender6 = veth
        .ns
        .python(&udp_send_script("fd77::2", 9997, "hello-v6", 50));
    let f = receive_until(&mut port, &mut pool, Duration::from_secs(5), |f| {
        inspect(f).is_some_and(|s| s.dst_port == 9997)
    })
    .expect("the namespace's UDP/IPv6 datagram reached the port");
    let s = inspect(&f).unwrap();
    assert_eq!(s.payload, b"hello-v6");
    assert!(s.checksum_ok, "UDP/IPv6 checksum was not completed");

    drop(port);
    assert!(link_details(&veth.host).contains("promiscuity 0"));
}

#[test]
fn afpacket_completes_tcp_checksums() {
    let veth = Veth::new();
    veth.add_peer_neighbours("eth0");
    let mut port = AfPacketPort::open(&veth.host).unwrap();
    let mut pool = pool();
    // Connection attempts: SYNs (and their retries) carry partial checksums.
    let _client = veth.ns.python(
        "import socket\nfor a in [('10.77.0.2',9996),('fd77::2',9995)]:\n    \
         s=socket.socket(socket.AF_INET6 if ':' in a[0] else socket.AF_INET)\n    \
         s.settimeout(1.5)\n    try:\n        s.connect(a)\n    except Exception:\n        pass\n",
    );
    for port_no in [9996, 9995] {
        let f = receive_until(&mut port, &mut pool, Duration::from_secs(5), |f| {
            inspect(f).is_some_and(|s| s.tcp && s.dst_port == port_no)
        })
        .expect("the namespace's TCP SYN reached the port");
        assert!(
            inspect(&f).unwrap().checksum_ok,
            "TCP checksum to {port_no}"
        );
    }
    assert!(port.stats().csum_completed >= 2);
}

/// Python: send `frame` (hex) `count` times from a raw socket on `dev`.
fn raw_send_script(dev: &str, frame: &[u8], count: u32) -> String {
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "import socket,time\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('{dev}',0))\nf=bytes.fromhex('{hex}')\n\
         for i in range({count}):\n    s.send(f)\n    time.sleep(0.02)\n"
    )
}

#[test]
fn afpacket_puts_the_vlan_tag_back() {
    afpacket_vlan(&AfPacketConfig::default());
}

#[test]
fn afpacket_v2_puts_the_vlan_tag_back() {
    afpacket_vlan(&v2_ring());
}

#[test]
fn afxdp_generic_keeps_an_inline_vlan_tag() {
    afxdp_vlan(XdpMode::Generic);
}

#[test]
fn afxdp_native_keeps_an_inline_vlan_tag() {
    afxdp_vlan(XdpMode::Native);
}

fn afxdp_vlan(mode: XdpMode) {
    let veth = Veth::new();
    let mut port = AfXdpPort::open(&veth.host, mode).unwrap();
    let mut pool = pool();
    let b = PacketBuilder::ethernet2(veth.ns_mac, PEER_MAC)
        .single_vlan(10.try_into().unwrap())
        .ipv4(NS_IP, PEER_IP, 64)
        .udp(40000, 9994);
    let mut frame = Vec::new();
    b.write(&mut frame, b"tagged").unwrap();
    let _sender = veth.ns.python(&raw_send_script("eth0", &frame, 50));
    let f = receive_until(&mut port, &mut pool, Duration::from_secs(5), |f| {
        inspect(f).is_some_and(|s| s.dst_port == 9994)
    })
    .expect("the tagged frame reached the port");
    assert_eq!(f, frame, "the frame arrives as sent, 802.1Q tag included");
}

/// The kernel takes the outer tag of a received frame out into metadata
/// (the test kernel may have no 802.1Q devices, so a raw socket sends the
/// tagged frame); the port must put it back.
fn afpacket_vlan(cfg: &AfPacketConfig) {
    let veth = Veth::new();
    let mut port = AfPacketPort::open_with(&veth.host, cfg).unwrap();
    let mut pool = pool();
    let b = PacketBuilder::ethernet2(veth.ns_mac, PEER_MAC)
        .single_vlan(10.try_into().unwrap())
        .ipv4(NS_IP, PEER_IP, 64)
        .udp(40000, 9994);
    let mut frame = Vec::new();
    b.write(&mut frame, b"tagged").unwrap();
    let _sender = veth.ns.python(&raw_send_script("eth0", &frame, 50));
    let f = receive_until(&mut port, &mut pool, Duration::from_secs(5), |f| {
        inspect(f).is_some_and(|s| s.dst_port == 9994)
    })
    .expect("the tagged frame reached the port");
    assert_eq!(f, frame, "the frame arrives as sent, 802.1Q tag included");
    assert_eq!(inspect(&f).unwrap().vlan, Some(10));
}

#[test]
fn afpacket_transmits_to_the_namespace() {
    afpacket_transmits(&AfPacketConfig::default());
}

#[test]
fn afpacket_transmits_through_a_v3_tx_ring() {
    afpacket_transmits(&v3_ring());
}

#[test]
fn afpacket_transmits_through_a_v2_tx_ring() {
    afpacket_transmits(&v2_ring());
}

fn afpacket_transmits(cfg: &AfPacketConfig) {
    let veth = Veth::new();
    let mut port = AfPacketPort::open_with(&veth.host, cfg).unwrap();
    let mut pool = pool();
    let listener = veth.ns.python(&udp_recv_script(9993, 5.0));
    let frame = frame_to_ns(veth.ns_mac, 9993, b"from-the-switch");
    let got = send_until_received(&mut port, &mut pool, &frame, listener);
    assert_eq!(got, "from-the-switch");
    let st = port.stats();
    assert!(st.tx_packets >= 1);
    assert_eq!(st.tx_dropped, 0);
}

#[test]
fn afpacket_drops_and_counts_truncated_frames() {
    let veth = Veth::new();
    veth.add_peer_neighbours("eth0");
    ip(&["link", "set", &veth.host, "mtu", "9000"]);
    veth.ns.exec(&["ip", "link", "set", "eth0", "mtu", "9000"]);
    let cfg = AfPacketConfig {
        rx_block_size: 4096,
        rx_blocks: 16,
        ..AfPacketConfig::default()
    };
    let mut port = AfPacketPort::open_with(&veth.host, &cfg).unwrap();
    let mut pool = pool();
    let big = "x".repeat(6000);
    let _sender = veth
        .ns
        .python(&udp_send_script("10.77.0.2", 9992, &big, 20));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut batch = Batch::new();
    while port.truncated() == 0 && Instant::now() < deadline {
        port.rx_burst(&mut batch, &mut pool);
        assert!(batch.packets().iter().all(|p| p.len() < 4096));
        pool.put_batch(&mut batch);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(port.truncated() >= 1);
    assert!(port.stats().rx_dropped >= port.truncated());
}

/// Moves every frame from `a` to `b` and back until `stop` is set.
fn forward(
    mut a: Box<dyn Port>,
    mut b: Box<dyn Port>,
    stop: Arc<AtomicBool>,
) -> [Box<dyn Port>; 2] {
    let mut pool = PacketPool::new(512, 2048);
    let mut batch = Batch::new();
    let mut out = Vec::with_capacity(32);
    while !stop.load(Ordering::Relaxed) {
        let mut moved = 0;
        for a_to_b in [true, false] {
            let (from, to) = if a_to_b {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            moved += from.rx_burst(&mut batch, &mut pool);
            out.extend(batch.drain());
            if !out.is_empty() {
                to.tx_burst(&mut out, &mut pool);
            }
        }
        if moved == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    [a, b]
}

/// ns1 (10.77.0.1) and ns2 (10.77.0.2) joined through two ports and a
/// forwarding loop: a UDP echo and a TCP echo from ns1 to ns2 must work.
/// The namespaces' checksums are partial, so this only works if the ports
/// complete them.
fn echo_through(open: impl Fn(&str) -> Box<dyn Port>) -> [Box<dyn Port>; 2] {
    let v1 = Veth::with_ip("10.77.0.1");
    let v2 = Veth::with_ip("10.77.0.2");
    let a = open(&v1.host);
    let b = open(&v2.host);
    let stop = Arc::new(AtomicBool::new(false));
    let fwd = {
        let stop = stop.clone();
        std::thread::spawn(move || forward(a, b, stop))
    };
    let _udp_server = v2.ns.python(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0',7777))\nwhile True:\n    d,a=s.recvfrom(2000)\n    s.sendto(d,a)\n",
    );
    let _tcp_server = v2.ns.python(
        "import socket\ns=socket.create_server(('0.0.0.0',7778))\nwhile True:\n    \
         c,a=s.accept()\n    d=c.recv(2000)\n    c.sendall(d)\n    c.close()\n",
    );
    let udp = v1.ns.python(
        "import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.settimeout(0.5)\nfor i in range(20):\n    s.sendto(b'udp-echo',('10.77.0.2',7777))\n    \
         try:\n        d=s.recv(2000)\n        sys.stdout.write(d.decode())\n        break\n    \
         except socket.timeout:\n        pass\n",
    );
    let (_, udp_out) = udp.finish();
    let tcp = v1.ns.python(
        "import socket,sys,time\nfor i in range(20):\n    try:\n        \
         c=socket.create_connection(('10.77.0.2',7778),timeout=1)\n        c.sendall(b'tcp-echo')\n        \
         sys.stdout.write(c.recv(2000).decode())\n        break\n    except Exception:\n        \
         time.sleep(0.2)\n",
    );
    let (_, tcp_out) = tcp.finish();
    stop.store(true, Ordering::Relaxed);
    let ports = fwd.join().unwrap();
    assert_eq!(udp_out, "udp-echo", "UDP echo across the ports");
    assert_eq!(tcp_out, "tcp-echo", "TCP echo across the ports");
    ports
}

#[test]
fn afpacket_end_to_end_udp_and_tcp_echo() {
    afpacket_end_to_end(&AfPacketConfig::default());
}

#[test]
fn afpacket_v2_end_to_end_udp_and_tcp_echo() {
    afpacket_end_to_end(&v2_ring());
}

fn afpacket_end_to_end(cfg: &AfPacketConfig) {
    let ports = echo_through(|dev| Box::new(AfPacketPort::open_with(dev, cfg).unwrap()));
    for p in &ports {
        let st = p.stats();
        assert!(st.csum_completed > 0, "{}: {st:?}", p.name());
        assert!(
            st.rx_packets > 0 && st.tx_packets > 0,
            "{}: {st:?}",
            p.name()
        );
    }
}

// ---------------------------------------------------------------------------
// AF_XDP.

#[test]
fn xdp_mode_option_parses() {
    assert_eq!("generic".parse::<XdpMode>().unwrap(), XdpMode::Generic);
    assert_eq!("native".parse::<XdpMode>().unwrap(), XdpMode::Native);
    assert_eq!(
        "best-effort".parse::<XdpMode>().unwrap(),
        XdpMode::BestEffort
    );
    let e = "fast".parse::<XdpMode>().unwrap_err().to_string();
    assert!(e.contains("xdp-mode \"fast\""), "{e}");
}

fn afxdp_rx_and_tx(mode: XdpMode, expect: XdpActiveMode) {
    let veth = Veth::new();
    veth.add_peer_neighbours("eth0");
    let mut port = AfXdpPort::open(&veth.host, mode).unwrap();
    assert_eq!(port.active_mode(), expect);
    assert!(link_details(&veth.host).contains("xdp"));
    let mut pool = pool();

    let _sender = veth
        .ns
        .python(&udp_send_script("10.77.0.2", 9999, "hello-xdp", 50));
    let f = receive_until(&mut port, &mut pool, Duration::from_secs(5), |f| {
        inspect(f).is_some_and(|s| s.dst_port == 9999)
    })
    .expect("the namespace's UDP datagram reached the AF_XDP port");
    let s = inspect(&f).unwrap();
    assert_eq!(s.payload, b"hello-xdp");
    assert!(s.checksum_ok, "partial UDP checksum was not completed");
    assert!(port.stats().csum_completed >= 1);

    let listener = veth.ns.python(&udp_recv_script(9993, 5.0));
    let frame = frame_to_ns(veth.ns_mac, 9993, b"xdp-to-ns");
    let got = send_until_received(&mut port, &mut pool, &frame, listener);
    assert_eq!(got, "xdp-to-ns");

    drop(port);
    let details = link_details(&veth.host);
    assert!(!details.contains("xdp"), "XDP left attached: {details}");
}

#[test]
fn afxdp_generic_receives_and_transmits() {
    afxdp_rx_and_tx(XdpMode::Generic, XdpActiveMode::Generic);
}

#[test]
fn afxdp_native_on_veth_receives_and_transmits() {
    afxdp_rx_and_tx(XdpMode::Native, XdpActiveMode::NativeCopy);
}

#[test]
fn afxdp_end_to_end_udp_and_tcp_echo() {
    let ports = echo_through(|dev| Box::new(AfXdpPort::open(dev, XdpMode::BestEffort).unwrap()));
    for p in &ports {
        let st = p.stats();
        assert!(st.csum_completed > 0, "{}: {st:?}", p.name());
    }
}

// ---------------------------------------------------------------------------
// TAP.

#[test]
fn tap_is_created_up_and_removed_on_drop() {
    let name = unique("rvt");
    match TapPort::open(&name, false) {
        Err(PortError::NoSuchDevice(n)) => assert_eq!(n, name),
        other => panic!("expected NoSuchDevice, got {other:?}"),
    }
    let port = TapPort::open(&name, true).unwrap();
    assert!(port.created());
    assert!(device_exists(&name));
    let details = link_details(&name);
    assert!(details.contains("tun type tap"), "{details}");
    assert!(details.contains(",UP"), "{details}");
    let sysfs = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).unwrap();
    assert_eq!(port.mac(), Some(parse_mac(&sysfs)));
    drop(port);
    assert!(!device_exists(&name), "the TAP device outlived its port");
}

#[test]
fn tap_keeps_a_persistent_device_it_did_not_create() {
    let name = unique("rvt");
    ip(&["tuntap", "add", "dev", &name, "mode", "tap"]);
    let port = TapPort::open(&name, false).unwrap();
    assert!(!port.created());
    drop(port);
    assert!(device_exists(&name));
    ip(&["link", "del", &name]);
}

#[test]
fn tap_exchanges_frames_with_the_host_stack() {
    let ns = NetNs::new();
    let name = unique("rvt");
    let mut port = TapPort::open(&name, true).unwrap();
    // Moving the device takes it down; the port's descriptor stays attached.
    ip(&["link", "set", &name, "netns", &ns.0]);
    ns.exec(&["ip", "addr", "add", "10.77.0.1/24", "dev", &name]);
    ns.exec(&["ip", "link", "set", &name, "up"]);
    ns.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.77.0.2",
        "lladdr",
        &format_mac(PEER_MAC),
        "dev",
        &name,
        "nud",
        "permanent",
    ]);
    let mut pool = pool();

    let _sender = ns.python(&udp_send_script("10.77.0.2", 9999, "from-tap-host", 50));
    let f = receive_until(&mut port, &mut pool, Duration::from_secs(5), |f| {
        inspect(f).is_some_and(|s| s.dst_port == 9999)
    })
    .expect("the host stack's datagram reached the TAP port");
    let s = inspect(&f).unwrap();
    assert_eq!(s.payload, b"from-tap-host");
    assert!(s.checksum_ok, "TAP frames carry full checksums");

    let mac = ns.exec(&["cat", &format!("/sys/class/net/{name}/address")]);
    let tap_mac = parse_mac(&String::from_utf8_lossy(&mac.stdout));
    let listener = ns.python(&udp_recv_script(9993, 5.0));
    let frame = frame_to_ns(tap_mac, 9993, b"to-tap-host");
    let got = send_until_received(&mut port, &mut pool, &frame, listener);
    assert_eq!(got, "to-tap-host");
    assert!(port.stats().tx_packets >= 1);
}

// ---------------------------------------------------------------------------
// The fast path.

/// Receives and transmits bursts while the namespace sends, and counts the
/// heap operations of this thread meanwhile: there must be none.
fn bursts_do_not_allocate(port: &mut dyn Port, veth: &Veth) {
    let mut pool = pool();
    let mut batch = Batch::new();
    let mut out: Vec<Packet> = Vec::with_capacity(32);
    let frame = frame_to_ns(veth.ns_mac, 9, b"discard me");
    let _sender = veth
        .ns
        .python(&udp_send_script("10.77.0.2", 9999, "steady", 200));
    // Warm up: the first frames arrive, every lazily allocated thing is made.
    let deadline = Instant::now() + Duration::from_secs(5);
    while port.rx_burst(&mut batch, &mut pool) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    pool.put_batch(&mut batch);
    let before = allocs();
    let (mut received, mut bursts) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (received < 5 || bursts < 200) && Instant::now() < deadline {
        received += port.rx_burst(&mut batch, &mut pool);
        pool.put_batch(&mut batch);
        for _ in 0..8 {
            let mut p = pool.get().unwrap();
            p.set_frame(&frame);
            out.push(p);
        }
        port.tx_burst(&mut out, &mut pool);
        bursts += 1;
        std::thread::sleep(Duration::from_micros(500));
    }
    let made = allocs() - before;
    assert!(received >= 5, "{}: received {received}", port.name());
    assert_eq!(
        made,
        0,
        "{}: heap operations in {bursts} bursts",
        port.name()
    );
}

#[test]
fn afpacket_bursts_do_not_allocate() {
    for cfg in [AfPacketConfig::default(), v2_ring()] {
        let veth = Veth::new();
        veth.add_peer_neighbours("eth0");
        let mut port = AfPacketPort::open_with(&veth.host, &cfg).unwrap();
        bursts_do_not_allocate(&mut port, &veth);
    }
}

#[test]
fn afxdp_bursts_do_not_allocate() {
    let veth = Veth::new();
    veth.add_peer_neighbours("eth0");
    let mut port = AfXdpPort::open(&veth.host, XdpMode::Generic).unwrap();
    bursts_do_not_allocate(&mut port, &veth);
}
