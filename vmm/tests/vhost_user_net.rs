//! The driver end to end against rvs's real vhost-user backend
//! (`VhostUserPort`), whose data path the test thread drives the way a
//! PMD would. The port's control thread waits for the data path to take
//! up changes, so the driver's setup runs on a helper thread while this
//! one keeps polling the port ([`Switch::serve`]). Nothing waits on a
//! fixed sleep: whatever is not immediate is polled for with a deadline.

use rvs_datapath::packet::{Batch, Packet, PacketPool};
use rvs_datapath::port::vhost::{VhostMode, VhostUserConfig, VhostUserPort};
use rvs_datapath::port::Port;
use rvs_vmm::net::{
    NetConfig, NetDriver, DEFAULT_FEATURES, F_EVENT_IDX, F_MRG_RXBUF, F_VERSION_1, RX_QUEUE,
    TX_QUEUE,
};
use rvs_vmm::vhost_user::{Listener, VhostUserNet};
use rvs_vmm::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(10);
const MTU: u16 = 1500;

/// The port under test and what a PMD would hold for it.
struct Switch {
    port: VhostUserPort,
    pool: PacketPool,
    batch: Batch,
}

impl Switch {
    fn open(mode: VhostMode) -> Switch {
        let port = VhostUserPort::open(
            "vhu0",
            VhostUserConfig {
                mode,
                queue_pairs: 1,
                mtu: MTU,
            },
        )
        .expect("open the port");
        Switch {
            port,
            pool: PacketPool::new(512, 2048),
            batch: Batch::new(),
        }
    }

    /// One PMD turn with nothing to send.
    fn poll(&mut self) {
        let mut none = Vec::new();
        self.port.tx_burst(&mut none, &mut self.pool);
    }

    /// Runs `f` on a helper thread while this one polls the port.
    fn serve<T: Send>(&mut self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            let h = s.spawn(f);
            let t0 = Instant::now();
            while !h.is_finished() {
                assert!(t0.elapsed() < 2 * DEADLINE, "a request hangs");
                self.poll();
                std::thread::yield_now();
            }
            match h.join() {
                Ok(v) => v,
                Err(e) => std::panic::resume_unwind(e),
            }
        })
    }

    /// One receive burst: the frames the driver transmitted.
    fn receive(&mut self) -> Vec<Vec<u8>> {
        self.port.rx_burst(&mut self.batch, &mut self.pool);
        let v = self
            .batch
            .packets()
            .iter()
            .map(|p| p.data().to_vec())
            .collect();
        self.pool.put_batch(&mut self.batch);
        v
    }

    /// Bursts until `n` frames came, and checks that no more come.
    fn receive_n(&mut self, n: usize) -> Vec<Vec<u8>> {
        let t0 = Instant::now();
        let mut v = Vec::new();
        while v.len() < n {
            assert!(t0.elapsed() < DEADLINE, "received {} of {n}", v.len());
            v.extend(self.receive());
        }
        assert_eq!(v.len(), n, "more frames than sent");
        assert!(self.receive().is_empty(), "more frames than sent");
        v
    }

    /// One transmit burst to the driver.
    fn send(&mut self, frames: &[Vec<u8>]) {
        let mut pkts: Vec<Packet> = frames
            .iter()
            .map(|f| {
                let mut p = self.pool.get().expect("a packet");
                assert!(p.set_frame(f));
                p
            })
            .collect();
        self.port.tx_burst(&mut pkts, &mut self.pool);
        assert!(pkts.is_empty());
    }
}

/// A directory of its own for a test's socket, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rvs-vmm-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn sock(&self) -> PathBuf {
        self.0.join("vhu0.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An Ethernet frame of `len` bytes that says `tag` and `seq`.
fn frame(tag: u8, seq: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    for (i, b) in f[14..].iter_mut().enumerate() {
        *b = tag ^ (seq as u8) ^ (i as u8).wrapping_mul(7);
    }
    f[14] = tag;
    f[15..17].copy_from_slice(&seq.to_be_bytes());
    f
}

/// A server-mode port and a driver started on it with `cfg`.
fn started(dir: &TempDir, cfg: NetConfig) -> (Switch, NetDriver) {
    let mut sw = Switch::open(VhostMode::Server(dir.sock()));
    let conn = VhostUserNet::connect(&dir.sock(), DEADLINE).expect("connect");
    let drv = sw
        .serve(|| NetDriver::start(conn, &cfg))
        .expect("start the driver");
    assert!(sw.port.link_up(), "link up once the driver started");
    (sw, drv)
}

/// Sends `frames` through `send_with` in bursts of up to 32.
fn send_all(drv: &mut NetDriver, frames: &[Vec<u8>]) {
    let mut next = 0;
    while next < frames.len() {
        let n = (frames.len() - next).min(32);
        let sent = drv.send_with(n, |buf| {
            let f = &frames[next];
            buf[..f.len()].copy_from_slice(f);
            next += 1;
            f.len()
        });
        assert_eq!(sent, n, "the ring has room");
    }
}

/// Receives until `n` frames came (the port sends nothing by itself).
fn recv_n(sw: &mut Switch, drv: &mut NetDriver, n: usize) -> Vec<Vec<u8>> {
    let t0 = Instant::now();
    let mut v = Vec::new();
    while v.len() < n {
        assert!(t0.elapsed() < DEADLINE, "received {} of {n}", v.len());
        drv.recv_with(32, |f| v.push(f.to_vec()));
        sw.poll();
    }
    assert_eq!(drv.recv_with(32, |_| panic!("more frames than sent")), 0);
    v
}

/// Frames of many lengths with `tag`.
fn frames(tag: u8, n: u16) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| frame(tag, i, 60 + (usize::from(i) * 97) % 1455))
        .collect()
}

fn both_ways(features: u64) {
    let dir = TempDir::new("both");
    let cfg = NetConfig {
        queue_size: 256,
        features,
        ..NetConfig::default()
    };
    let (mut sw, mut drv) = started(&dir, cfg);
    assert_eq!(drv.features() & F_VERSION_1, F_VERSION_1);
    assert_eq!(drv.features() & F_EVENT_IDX, features & F_EVENT_IDX);
    assert_eq!(drv.header_len(), 12);
    assert_eq!(drv.max_frame(), 2048 - 12);
    let mtu = sw.serve(|| drv.connection().mtu()).expect("GET_CONFIG");
    assert_eq!(mtu, Some(MTU));

    // Driver to port, several times round the ring (and the indices).
    for round in 0..4u8 {
        let sent = frames(round, 200);
        send_all(&mut drv, &sent);
        assert_eq!(sw.receive_n(sent.len()), sent, "round {round}");
    }
    // Port to driver.
    for round in 0..4u8 {
        let out = frames(0x80 | round, 200);
        for chunk in out.chunks(32) {
            sw.send(chunk);
        }
        assert_eq!(recv_n(&mut sw, &mut drv, out.len()), out, "round {round}");
    }
    let st = drv.stats();
    assert_eq!((st.tx_packets, st.rx_packets), (800, 800));
    assert_eq!((st.rx_bad, st.tx_bad, st.tx_full), (0, 0, 0));
    // The port polls and says so: the one kick at start is all.
    assert_eq!(st.kicks, 1, "no kicks against a polling backend");
    let ps = sw.port.stats();
    assert_eq!((ps.rx_packets, ps.rx_dropped), (800, 0));
    assert_eq!((ps.tx_packets, ps.tx_dropped), (800, 0));
    assert!(!drv.peer_closed());
}

#[test]
fn frames_cross_both_ways_exactly() {
    both_ways(DEFAULT_FEATURES);
}

#[test]
fn frames_cross_both_ways_with_event_idx() {
    both_ways(DEFAULT_FEATURES | F_EVENT_IDX);
}

#[test]
fn frames_over_several_small_buffers_are_joined() {
    let dir = TempDir::new("mrg");
    let cfg = NetConfig {
        queue_size: 128,
        buf_size: 256,
        ..NetConfig::default()
    };
    let (mut sw, mut drv) = started(&dir, cfg);
    assert_ne!(drv.features() & F_MRG_RXBUF, 0);
    let out: Vec<Vec<u8>> = [60usize, 243, 244, 245, 500, 1514, 1000]
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(7, i as u16, len))
        .collect();
    for round in 0..10 {
        sw.send(&out);
        assert_eq!(recv_n(&mut sw, &mut drv, out.len()), out, "round {round}");
    }
    assert_eq!(drv.stats().rx_bad, 0);
    // Transmits are cut to one buffer.
    assert_eq!(drv.max_frame(), 244);
}

#[test]
fn without_mrg_rxbuf_frames_fit_one_buffer() {
    let dir = TempDir::new("no-mrg");
    let cfg = NetConfig {
        queue_size: 64,
        features: DEFAULT_FEATURES & !F_MRG_RXBUF,
        ..NetConfig::default()
    };
    let (mut sw, mut drv) = started(&dir, cfg);
    assert_eq!(drv.features() & F_MRG_RXBUF, 0);
    assert_eq!(drv.header_len(), 12, "VERSION_1");
    let out = frames(9, 50);
    for chunk in out.chunks(25) {
        sw.send(chunk);
    }
    assert_eq!(recv_n(&mut sw, &mut drv, out.len()), out);
    send_all(&mut drv, &out);
    assert_eq!(sw.receive_n(out.len()), out);
}

#[test]
fn a_full_tx_ring_gives_a_partial_count() {
    let dir = TempDir::new("full");
    let cfg = NetConfig {
        queue_size: 64,
        ..NetConfig::default()
    };
    let (mut sw, mut drv) = started(&dir, cfg);
    let f = frame(1, 0, 100);
    let build = |buf: &mut [u8]| {
        buf[..f.len()].copy_from_slice(&f);
        f.len()
    };
    // The port takes nothing until it polls its receive side.
    assert_eq!(drv.send_with(100, build), 64, "only the ring's worth");
    assert_eq!(drv.stats().tx_full, 1);
    assert_eq!(drv.send_with(10, build), 0, "still full");
    assert_eq!(drv.stats().tx_full, 2);
    assert_eq!(drv.tx_in_flight(), 64);
    assert_eq!(sw.receive_n(64).len(), 64);
    // The ring is reaped on the next call.
    assert_eq!(drv.send_with(10, build), 10);
    assert_eq!(sw.receive_n(10).len(), 10);
    // A build that stops early queues what it built.
    let mut k = 0;
    let sent = drv.send_with(10, |buf| {
        k += 1;
        if k > 3 {
            return 0;
        }
        buf[..f.len()].copy_from_slice(&f);
        f.len()
    });
    assert_eq!(sent, 3);
    assert_eq!(sw.receive_n(3).len(), 3);
    assert_eq!(drv.stats().tx_packets, 64 + 10 + 3);
}

#[test]
fn the_switch_connects_to_our_listener_in_client_mode() {
    let dir = TempDir::new("client");
    let listener = Listener::bind(&dir.sock()).expect("listen");
    let mut sw = Switch::open(VhostMode::Client(dir.sock()));
    let s = listener.accept(DEADLINE).expect("the port connects");
    let conn = VhostUserNet::from_stream(s);
    let cfg = NetConfig {
        queue_size: 128,
        ..NetConfig::default()
    };
    let mut drv = sw
        .serve(|| NetDriver::start(conn, &cfg))
        .expect("start the driver");
    assert!(sw.port.link_up());
    let sent = frames(3, 100);
    send_all(&mut drv, &sent);
    assert_eq!(sw.receive_n(sent.len()), sent);
    let out = frames(4, 60);
    for chunk in out.chunks(30) {
        sw.send(chunk);
    }
    assert_eq!(recv_n(&mut sw, &mut drv, out.len()), out);

    // Nobody else connects: a timeout that names the socket.
    let e = listener
        .accept(Duration::from_millis(50))
        .expect_err("nobody else connects");
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("vhu0.sock"), "{e}");

    // The listener's socket file goes with it.
    drop(listener);
    assert!(!dir.sock().exists(), "socket file removed");
}

#[test]
fn the_driver_sees_the_switch_hang_up() {
    let dir = TempDir::new("hangup");
    let (sw, drv) = started(&dir, NetConfig::default());
    assert!(!drv.peer_closed());
    drop(sw);
    let t0 = Instant::now();
    while !drv.peer_closed() {
        assert!(t0.elapsed() < DEADLINE, "the hang-up is not seen");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_socket_in_use_gives_a_clear_error() {
    let dir = TempDir::new("in-use");
    let first = Listener::bind(&dir.sock()).expect("listen");
    let e = Listener::bind(&dir.sock()).expect_err("the path is taken");
    assert!(matches!(e, Error::SocketInUse { .. }), "{e}");
    assert!(e.to_string().contains("in use"), "{e}");
    assert!(dir.sock().exists(), "the first listener's socket stays");
    drop(first);

    // A stale socket file (its listener gone without removing it) is
    // replaced.
    let stale = std::os::unix::net::UnixListener::bind(dir.sock()).expect("bind");
    drop(stale);
    assert!(dir.sock().exists());
    let l = Listener::bind(&dir.sock()).expect("a stale socket is replaced");
    drop(l);

    // A file that is not a socket is left alone.
    std::fs::write(dir.sock(), b"data").expect("write");
    assert!(Listener::bind(&dir.sock()).is_err());
    assert_eq!(std::fs::read(dir.sock()).expect("read"), b"data");

    // Nobody listening: connect gives up after its timeout.
    let e = VhostUserNet::connect(&dir.0.join("nobody.sock"), Duration::from_millis(50))
        .expect_err("nobody listens");
    assert!(matches!(e, Error::Connect { .. }), "{e}");
}

/// Writes `v` at guest address `gpa` of the driver's memory.
fn poke(drv: &NetDriver, gpa: u64, v: &[u8]) {
    let p = drv.memory().host_ptr(gpa, v.len()).expect("inside");
    // SAFETY: `v.len()` bytes inside the driver's mapping, as checked by
    // `host_ptr`; the test plays the device, which may write there.
    unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len()) }
}

fn peek_u64(drv: &NetDriver, gpa: u64) -> u64 {
    let p = drv.memory().host_ptr(gpa, 8).expect("inside");
    let mut b = [0u8; 8];
    // SAFETY: eight bytes inside the driver's mapping.
    unsafe { std::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), 8) }
    u64::from_le_bytes(b)
}

/// Plays the device: writes used entries (id, len) from used index
/// `from` on and publishes the index after them.
fn hostile_used(drv: &NetDriver, q: usize, from: u16, entries: &[(u32, u32)]) -> u16 {
    let l = drv.ring_layout(q).expect("queue");
    let mut idx = from;
    for &(id, len) in entries {
        let slot = u64::from(idx % l.size);
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&id.to_le_bytes());
        e[4..].copy_from_slice(&len.to_le_bytes());
        poke(drv, l.used + 4 + 8 * slot, &e);
        idx = idx.wrapping_add(1);
    }
    poke(drv, l.used + 2, &idx.to_le_bytes());
    idx
}

/// The buffer of receive descriptor `id`, as the descriptor says.
fn rx_buf(drv: &NetDriver, id: u16) -> u64 {
    let l = drv.ring_layout(RX_QUEUE).expect("rx");
    peek_u64(drv, l.desc + 16 * u64::from(id))
}

/// A receive buffer with a header saying `num_buffers` and then `frame`.
fn fill_rx(drv: &NetDriver, id: u16, num_buffers: u16, frame: &[u8]) -> u32 {
    let mut b = vec![0u8; 12];
    b[10..12].copy_from_slice(&num_buffers.to_le_bytes());
    b.extend_from_slice(frame);
    poke(drv, rx_buf(drv, id), &b);
    b.len() as u32
}

#[test]
fn hostile_used_entries_are_counted_and_skipped() {
    let dir = TempDir::new("hostile");
    let cfg = NetConfig {
        queue_size: 64,
        ..NetConfig::default()
    };
    let (_sw, mut drv) = started(&dir, cfg);
    // The port sends nothing to the driver here, so the test is the only
    // writer of the receive used ring.
    let good = frame(5, 0, 80);
    let l5 = fill_rx(&drv, 5, 40, &good[..60]);
    let l6 = fill_rx(&drv, 6, 2, &good[..60]);
    let l8 = fill_rx(&drv, 8, 1, &good);
    let idx = hostile_used(
        &drv,
        RX_QUEUE,
        0,
        &[
            (1000, 100),   // an id out of range
            (3, 100_000),  // a length far past the buffer
            (3, 60),       // an id returned twice
            (4, 5),        // shorter than the header
            (5, l5),       // num_buffers beyond what was returned
            (6, l6),       // num_buffers 2, and the second is ...
            (7, u32::MAX), // ... far too long
            (8, l8),       // a good one
            (u32::MAX, 0), // an id that does not even fit 16 bits
        ],
    );
    let mut got = Vec::new();
    assert_eq!(drv.recv_with(64, |f| got.push(f.to_vec())), 1);
    assert_eq!(got, vec![good.clone()]);
    assert_eq!(drv.stats().rx_bad, 7);
    assert_eq!(drv.stats().rx_packets, 1);

    // Every buffer taken went back: a good frame in each again.
    let mut entries = Vec::new();
    for id in [3u16, 4, 5, 6, 7, 8] {
        entries.push((u32::from(id), fill_rx(&drv, id, 1, &good)));
    }
    let idx = hostile_used(&drv, RX_QUEUE, idx, &entries);
    assert_eq!(drv.recv_with(64, |f| assert_eq!(f, &good[..])), 6);
    assert_eq!(drv.stats().rx_bad, 7);

    // A used index more than a ring ahead: counted once, nothing read.
    hostile_used(&drv, RX_QUEUE, idx.wrapping_add(1000), &[]);
    assert_eq!(
        drv.recv_with(64, |_| panic!("a frame from a broken ring")),
        0
    );
    assert_eq!(
        drv.recv_with(64, |_| panic!("a frame from a broken ring")),
        0
    );
    assert_eq!(drv.stats().rx_bad, 8);

    // Transmit used entries for ids never sent, or out of range.
    hostile_used(&drv, TX_QUEUE, 0, &[(0, 0), (64, 0), (9999, 0)]);
    let f = frame(6, 0, 60);
    let sent = drv.send_with(4, |buf| {
        buf[..f.len()].copy_from_slice(&f);
        f.len()
    });
    assert_eq!(sent, 4, "the free descriptors are untouched");
    assert_eq!(drv.stats().tx_bad, 3);
    assert_eq!(drv.tx_in_flight(), 4);
}

#[test]
fn a_backend_that_does_not_answer_times_out() {
    let dir = TempDir::new("mute");
    // Accepts and reads, never answers.
    let l = std::os::unix::net::UnixListener::bind(dir.sock()).expect("bind");
    let mut conn = VhostUserNet::connect(&dir.sock(), DEADLINE).expect("connect");
    let (mut peer, _) = l.accept().expect("accept");
    let reader = std::thread::spawn(move || {
        let mut b = [0u8; 256];
        while matches!(std::io::Read::read(&mut peer, &mut b), Ok(n) if n > 0) {}
    });
    conn.set_request_timeout(Some(Duration::from_millis(100)));
    let t0 = Instant::now();
    let e = conn.negotiate(DEFAULT_FEATURES).expect_err("no answer");
    assert!(
        matches!(
            e,
            Error::RequestTimeout {
                request: "GET_FEATURES",
                ..
            }
        ),
        "{e}"
    );
    assert!(t0.elapsed() < DEADLINE);
    assert!(conn.peer_closed(), "the connection was shut down");
    reader.join().expect("reader");
}

// ---------------------------------------------------------------------
// The VMM's virtio-net PCI device, driven by a hostile guest driver
// (register writes as the guest would make them), backed by the real port.
// ---------------------------------------------------------------------

mod pci_device {
    use super::*;
    use rvs_vmm::devices::PciFunction;
    use rvs_vmm::kvm::Vm;
    use rvs_vmm::virtio_pci::{status, VirtioNet, BAR_SIZE};

    const BAR: u64 = 0xe000_0000;
    const RING: u64 = 0x20_0000;

    fn w8(d: &mut VirtioNet, off: u64, v: u8) {
        d.bar_write(off, &[v]);
    }
    fn w16(d: &mut VirtioNet, off: u64, v: u16) {
        d.bar_write(off, &v.to_le_bytes());
    }
    fn w32(d: &mut VirtioNet, off: u64, v: u32) {
        d.bar_write(off, &v.to_le_bytes());
    }
    fn r8(d: &mut VirtioNet, off: u64) -> u8 {
        let mut b = [0u8; 1];
        d.bar_read(off, &mut b);
        b[0]
    }
    fn r16(d: &mut VirtioNet, off: u64) -> u16 {
        let mut b = [0u8; 2];
        d.bar_read(off, &mut b);
        u16::from_le_bytes(b)
    }

    /// A VM (for its memory and ioeventfds), the port, and the device.
    fn device(dir: &TempDir) -> (Vm, Switch, VirtioNet) {
        let vm = Vm::new(std::path::Path::new("/dev/kvm"), 16 << 20).expect("a KVM VM");
        let mut sw = Switch::open(VhostMode::Server(dir.sock()));
        let conn = VhostUserNet::connect(&dir.sock(), DEADLINE).expect("connect");
        let mem = vm.memory().clone();
        let fd = vm.fd();
        let d = sw
            .serve(|| VirtioNet::new(fd, BAR, conn, mem, [2, 0, 0, 0, 0, 9]))
            .expect("the device");
        (vm, sw, d)
    }

    /// The driver's steps up to FEATURES_OK with `features` (lo, hi).
    fn negotiate(d: &mut VirtioNet, lo: u32, hi: u32) -> u8 {
        w8(d, 0x14, 0);
        w8(d, 0x14, status::ACKNOWLEDGE | status::DRIVER);
        w32(d, 0x08, 0);
        w32(d, 0x0c, lo);
        w32(d, 0x08, 1);
        w32(d, 0x0c, hi);
        w8(
            d,
            0x14,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
        );
        r8(d, 0x14)
    }

    /// Sets queue `q` up at `at` (desc, then avail, then used a page on).
    fn queue(d: &mut VirtioNet, q: u16, at: u64, size: u16) {
        w16(d, 0x16, q);
        w16(d, 0x18, size);
        for (off, addr) in [(0x20, at), (0x28, at + 0x1000), (0x30, at + 0x2000)] {
            w32(d, off, addr as u32);
            w32(d, off + 4, (addr >> 32) as u32);
        }
        w16(d, 0x1c, 1);
    }

    fn driver_ok(sw: &mut Switch, d: &mut VirtioNet) -> u8 {
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK;
        sw.serve(|| w8(d, 0x14, s));
        r8(d, 0x14)
    }

    #[test]
    fn a_well_behaved_driver_gets_the_device_to_the_backend() {
        let dir = TempDir::new("pci-ok");
        let (_vm, mut sw, mut d) = device(&dir);
        // The PCI identity and a BAR that sizes as 16 KiB.
        assert_eq!(d.config_read(0), 0x1041_1af4);
        d.config_write(0x10, 0, &[0xff; 4]);
        assert_eq!(d.config_read(0x10) & !0xf, !(BAR_SIZE as u32 - 1) & !0xf);
        d.config_write(0x10, 0, &[0; 4]);
        assert_eq!(u64::from(d.config_read(0x10) & !0xf), BAR);
        let st = negotiate(&mut d, 1 << 5, 1);
        assert_ne!(st & status::FEATURES_OK, 0);
        // The MAC in the device configuration.
        assert_eq!(r8(&mut d, 0x3000 + 5), 9);
        queue(&mut d, 0, RING, 64);
        queue(&mut d, 1, RING + 0x4000, 64);
        let st = driver_ok(&mut sw, &mut d);
        assert_eq!(st & status::NEEDS_RESET, 0, "status {st:#x}");
        assert!(d.active());
        assert!(sw.port.link_up());
    }

    #[test]
    fn rings_outside_guest_memory_get_needs_reset_and_nothing_running() {
        let dir = TempDir::new("pci-bad-ring");
        let (_vm, mut sw, mut d) = device(&dir);
        negotiate(&mut d, 0, 1);
        queue(&mut d, 0, RING, 64);
        queue(&mut d, 1, 0x7fff_0000_0000, 64);
        let st = driver_ok(&mut sw, &mut d);
        assert_ne!(st & status::NEEDS_RESET, 0, "status {st:#x}");
        assert!(!d.active());
        // A reset and a correct setup work afterwards.
        sw.serve(|| w8(&mut d, 0x14, 0));
        negotiate(&mut d, 0, 1);
        queue(&mut d, 0, RING, 64);
        queue(&mut d, 1, RING + 0x4000, 64);
        let st = driver_ok(&mut sw, &mut d);
        assert_eq!(st & status::NEEDS_RESET, 0, "status {st:#x}");
        assert!(d.active());
    }

    #[test]
    fn features_not_offered_and_skipped_steps_are_refused() {
        let dir = TempDir::new("pci-bad-feat");
        let (_vm, mut sw, mut d) = device(&dir);
        // A feature bit the device never offered: FEATURES_OK does not stick.
        let st = negotiate(&mut d, 0, 1 | (1 << 31));
        assert_eq!(st & status::FEATURES_OK, 0);
        // No VERSION_1: refused too.
        let st = negotiate(&mut d, 1 << 5, 0);
        assert_eq!(st & status::FEATURES_OK, 0);
        // DRIVER_OK without FEATURES_OK.
        w8(&mut d, 0x14, 0);
        sw.serve(|| {
            w8(
                &mut d,
                0x14,
                status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
            )
        });
        assert_ne!(r8(&mut d, 0x14) & status::NEEDS_RESET, 0);
        assert!(!d.active());
        // A queue size that is no power of two, or too big, is ignored.
        w8(&mut d, 0x14, 0);
        w16(&mut d, 0x16, 0);
        w16(&mut d, 0x18, 100);
        assert_eq!(r16(&mut d, 0x18), 256);
        w16(&mut d, 0x18, 4096);
        assert_eq!(r16(&mut d, 0x18), 256);
        // A queue that does not exist reads as size 0 and ignores writes.
        w16(&mut d, 0x16, 7);
        w16(&mut d, 0x18, 16);
        assert_eq!(r16(&mut d, 0x18), 0);
    }
}
