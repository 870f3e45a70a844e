//! vhost-user ports: a frontend (a VMM, DPDK's virtio-user, a traffic
//! generator) shares its memory and virtqueues over a unix socket, and the
//! poll-mode thread that owns the port moves packets in and out of them.
//!
//! # Two halves
//!
//! * The **control thread** (one per port, [`device`]) speaks the
//!   vhost-user protocol through the `vhost` crate: features, memory table
//!   (mapped with `vm-memory`), ring addresses, kick/call eventfds, ring
//!   start/stop/enable, config space. After each change it publishes an
//!   immutable [`Snapshot`] of what the data path needs.
//! * The **data path** ([`VhostUserPort`], a [`Port`]) runs in the PMD: at
//!   the start of each burst it looks at one atomic generation number, and
//!   only when it moved does it switch to the new snapshot. It polls the
//!   guest's transmit rings directly (the frontend is told not to kick),
//!   fills its receive rings, publishes each used index once per burst and
//!   writes the call eventfd only when the frontend asked (EVENT_IDX or
//!   `NO_INTERRUPT`).
//!
//! When the control thread must know the data path let go of a ring
//! (GET_VRING_BASE, a new memory table, a disconnect), it waits until the
//! PMD acknowledged the new generation. A port that no PMD polls yet is
//! acknowledged at once.
//!
//! Why not `vhost-user-backend`: its `VhostUserDaemon` runs the rings from
//! its own epoll threads, woken per kick; rvs polls rings from the PMD that
//! owns them, so it uses the protocol layer (`vhost`) and the memory layer
//! (`vm-memory`) under it, and its own ring code ([`vring`]) with the checks
//! a hostile frontend calls for and a used-index write per burst.
//!
//! # Modes
//!
//! * `vhostuserclient`: rvs connects to the frontend's socket
//!   (`options:vhost-server-path`) and reconnects when it goes away (the
//!   mode Open vSwitch recommends: the VM survives a switch restart).
//! * `vhostuser`: rvs listens on a socket and the frontend connects.

pub mod device;
pub mod vring;

use crate::packet::{Batch, Packet, PacketPool};
use crate::port::{Port, PortError, PortStats};
use arc_swap::ArcSwapOption;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vring::{Fault, Guest, RingLayout, RingState};

/// Most queue pairs a port offers (`options:n_rxq` picks up to this).
pub const MAX_QUEUE_PAIRS: usize = 8;

/// Who listens on the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VhostMode {
    /// rvs connects to the frontend's socket, and reconnects.
    Client(PathBuf),
    /// rvs listens here; the frontend connects.
    Server(PathBuf),
}

/// How a vhost-user port is set up.
#[derive(Debug, Clone)]
pub struct VhostUserConfig {
    pub mode: VhostMode,
    /// Queue pairs offered (VIRTIO_NET_F_MQ when more than one).
    pub queue_pairs: usize,
    /// The MTU offered in the config space (VIRTIO_NET_F_MTU).
    pub mtu: u16,
}

/// One queue as the data path needs it.
#[derive(Debug, Clone)]
pub struct QueueSnapshot {
    pub layout: RingLayout,
    /// Where the device starts in the avail ring.
    pub base: u16,
    /// Moves each time the queue is (re)started: the data path then
    /// starts over from `base`.
    pub epoch: u64,
    /// The frontend's call eventfd.
    pub call: Option<Arc<File>>,
}

/// What the data path needs of a configured device.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub mem: Guest,
    /// Running queues by index (even: the guest's receive queues, odd: its
    /// transmit queues); `None` when not running.
    pub queues: Vec<Option<QueueSnapshot>>,
    /// Bytes of `virtio_net_hdr` before each frame.
    pub hdr_len: usize,
    /// VIRTIO_NET_F_MRG_RXBUF was negotiated.
    pub mergeable: bool,
}

/// Per-queue counters.
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

impl QueueCounters {
    /// Adds a burst's traffic (the data path is the only writer).
    fn add(&self, packets: u64, bytes: u64) {
        if packets > 0 {
            self.packets.fetch_add(packets, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

/// What the control thread and the data path share.
#[derive(Debug)]
pub struct Shared {
    /// The current snapshot (`None`: no frontend, or not configured).
    pub snapshot: ArcSwapOption<Snapshot>,
    /// Moves with every snapshot.
    pub generation: AtomicU64,
    /// The generation the data path runs.
    pub acked: AtomicU64,
    /// Whether a PMD polls the port.
    pub polled: AtomicBool,
    /// Where the data path stopped in each avail ring (for
    /// GET_VRING_BASE).
    pub last_avail: Vec<AtomicU16>,
    /// A frontend is connected and has set the device up.
    pub link_up: AtomicBool,
    /// Per queue.
    pub counters: Vec<QueueCounters>,
    /// Dropped packets by [`Fault`].
    pub faults: [AtomicU64; Fault::COUNT],
    /// Negotiated virtio features, protocol features (for reports).
    pub features: AtomicU64,
    pub protocol_features: AtomicU64,
    /// A sentence about the connection (for `rvs-appctl`).
    pub status: Mutex<String>,
    /// Tells the control thread to stop.
    pub stop: AtomicBool,
    /// Ring epochs, never reused (across connections too).
    pub epochs: AtomicU64,
    /// A handle on the frontend connection, to cut it when the port goes
    /// away (the control thread may be blocked reading a message the
    /// frontend never finishes).
    pub connection: Mutex<Option<std::os::unix::net::UnixStream>>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            snapshot: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            polled: AtomicBool::new(false),
            last_avail: (0..2 * MAX_QUEUE_PAIRS)
                .map(|_| AtomicU16::new(0))
                .collect(),
            link_up: AtomicBool::new(false),
            counters: (0..2 * MAX_QUEUE_PAIRS)
                .map(|_| QueueCounters::default())
                .collect(),
            faults: Default::default(),
            features: AtomicU64::new(0),
            protocol_features: AtomicU64::new(0),
            status: Mutex::new("waiting for the frontend".into()),
            stop: AtomicBool::new(false),
            epochs: AtomicU64::new(0),
            connection: Mutex::new(None),
        }
    }

    /// Counts a dropped packet.
    fn fault(&self, f: Fault) {
        self.faults[f as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// A vhost-user port: the data path half, owned by a PMD; the control
/// thread runs as long as it exists.
#[derive(Debug)]
pub struct VhostUserPort {
    name: String,
    shared: Arc<Shared>,
    control: Option<std::thread::JoinHandle<()>>,
    /// The snapshot in use and its generation.
    cur: Option<Arc<Snapshot>>,
    generation: u64,
    /// Per queue: its state and the epoch it was started at.
    rings: Vec<(RingState, u64)>,
    /// The next guest transmit queue to poll first (fairness).
    next_txq: usize,
    stats: PortStats,
}

impl VhostUserPort {
    /// Starts the control thread (which connects or listens) and returns
    /// the data-path half.
    pub fn open(name: &str, config: VhostUserConfig) -> Result<VhostUserPort, PortError> {
        if config.queue_pairs == 0 || config.queue_pairs > MAX_QUEUE_PAIRS {
            return Err(PortError::BadOption(format!(
                "n_rxq={} is out of range: a vhost-user port has 1 to {MAX_QUEUE_PAIRS} queue pairs",
                config.queue_pairs
            )));
        }
        let shared = Arc::new(Shared::new());
        let control = device::spawn(name, config, shared.clone())?;
        Ok(VhostUserPort {
            name: name.to_string(),
            shared,
            control: Some(control),
            cur: None,
            generation: 0,
            rings: vec![(RingState::default(), u64::MAX); 2 * MAX_QUEUE_PAIRS],
            next_txq: 0,
            stats: PortStats::default(),
        })
    }

    /// Counters and negotiated features, for `rvs-appctl`.
    pub fn report(&self) -> Vec<(String, String)> {
        report(&self.shared)
    }

    /// The shared state (for tests and reports).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Switches to a new snapshot when the control thread published one.
    #[inline]
    fn sync(&mut self) {
        let g = self.shared.generation.load(Ordering::Acquire);
        if g == self.generation && self.shared.polled.load(Ordering::Relaxed) {
            return;
        }
        self.shared.polled.store(true, Ordering::Relaxed);
        // Where each running ring stopped, for GET_VRING_BASE (a ring this
        // side never ran keeps the base the control thread set).
        for (i, (st, epoch)) in self.rings.iter().enumerate() {
            if *epoch != u64::MAX {
                self.shared.last_avail[i].store(st.last_avail, Ordering::Relaxed);
            }
        }
        let snap = self.shared.snapshot.load_full();
        if let Some(s) = &snap {
            for (i, q) in s.queues.iter().enumerate() {
                if let Some(q) = q {
                    if self.rings[i].1 != q.epoch {
                        self.rings[i] = (RingState::start(&s.mem, &q.layout, q.base), q.epoch);
                        self.shared.last_avail[i].store(q.base, Ordering::Relaxed);
                    }
                } else {
                    self.rings[i].1 = u64::MAX;
                }
            }
        } else {
            for r in &mut self.rings {
                r.1 = u64::MAX;
            }
        }
        self.cur = snap;
        self.generation = g;
        self.shared.acked.store(g, Ordering::Release);
    }
}

/// Writes 1 to an eventfd (the frontend's call).
fn signal(call: &Option<Arc<File>>) {
    if let Some(f) = call {
        use std::io::Write;
        let _ = (&**f).write(&1u64.to_ne_bytes());
    }
}

impl Port for VhostUserPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, batch: &mut Batch, pool: &mut PacketPool) -> usize {
        self.sync();
        let VhostUserPort {
            cur,
            rings,
            shared,
            stats,
            next_txq,
            ..
        } = self;
        let Some(snap) = cur.as_deref() else {
            return 0;
        };
        let nq = snap.queues.len() / 2;
        let mut got = 0;
        for k in 0..nq {
            let q = 2 * ((*next_txq + k) % nq) + 1;
            let Some(qs) = &snap.queues[q] else {
                continue;
            };
            let (st, _) = &mut rings[q];
            let mut avail = match st.pending(&snap.mem, &qs.layout) {
                Ok(n) => n,
                Err(Fault::NotReady) => continue,
                Err(f) => {
                    shared.fault(f);
                    continue;
                }
            };
            let (mut packets, mut bytes) = (0u64, 0u64);
            let mut took = false;
            // Start fetching every buffer of the burst (the guest's CPU
            // wrote them) before copying the first.
            let room = (crate::packet::BATCH_SIZE - batch.len()).min(usize::from(avail));
            for k in 0..room as u16 {
                st.prefetch(&snap.mem, &qs.layout, k, snap.hdr_len as u64, false);
            }
            while avail > 0 && !batch.is_full() {
                // An empty pool leaves the frame in the guest's ring for
                // the next burst: nothing is lost, so nothing is counted.
                let Some(mut p) = pool.get() else {
                    break;
                };
                avail -= 1;
                took = true;
                // pop_tx never returns more than the room it was given, so
                // set_len cannot fail.
                match st.pop_tx(&snap.mem, &qs.layout, snap.hdr_len, p.spare_mut()) {
                    Ok(len) if p.set_len(len) => {
                        packets += 1;
                        bytes += len as u64;
                        if let Err(p) = batch.push(p) {
                            pool.put(p);
                        }
                    }
                    r => {
                        shared.fault(r.err().unwrap_or(Fault::BadLength));
                        stats.rx_dropped += 1;
                        pool.put(p);
                    }
                }
            }
            if took && st.flush(&snap.mem, &qs.layout) {
                signal(&qs.call);
            }
            // Counted once per burst, not per packet.
            stats.rx_packets += packets;
            stats.rx_bytes += bytes;
            shared.counters[q].add(packets, bytes);
            got += packets as usize;
        }
        *next_txq = next_txq.wrapping_add(1);
        got
    }

    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        self.sync();
        let VhostUserPort {
            cur,
            rings,
            shared,
            stats,
            ..
        } = self;
        // The receive queue of pair 0 (a PMD transmits on one queue).
        let q = 0;
        let Some((snap, qs)) = cur
            .as_deref()
            .and_then(|s| s.queues.first()?.as_ref().map(|qs| (s, qs)))
        else {
            // No frontend, or its receive queue is not running.
            let n = pkts.len() as u64;
            stats.tx_dropped += n;
            shared.faults[Fault::NotReady as usize].fetch_add(n, Ordering::Relaxed);
            for p in pkts.drain(..) {
                pool.put(p);
            }
            return;
        };
        let st = &mut rings[q].0;
        let (mut packets, mut bytes) = (0u64, 0u64);
        // Fetch the guest's receive buffers for writing, the whole burst
        // ahead, before the first copy.
        let ready = st.peek_pending(&snap.mem, &qs.layout);
        for k in 0..(pkts.len().min(usize::from(ready))) as u16 {
            st.prefetch(&snap.mem, &qs.layout, k, 0, true);
        }
        for p in pkts.drain(..) {
            match st.push_rx(
                &snap.mem,
                &qs.layout,
                snap.hdr_len,
                snap.mergeable,
                p.data(),
            ) {
                Ok(()) => {
                    packets += 1;
                    bytes += p.len() as u64;
                }
                Err(f) => {
                    shared.fault(f);
                    stats.tx_dropped += 1;
                }
            }
            pool.put(p);
        }
        if packets > 0 && st.flush(&snap.mem, &qs.layout) {
            signal(&qs.call);
        }
        stats.tx_packets += packets;
        stats.tx_bytes += bytes;
        shared.counters[q].add(packets, bytes);
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn link_up(&self) -> bool {
        self.shared.link_up.load(Ordering::Relaxed)
    }

    fn details(&self) -> Vec<(String, String)> {
        report(&self.shared)
    }
}

impl Drop for VhostUserPort {
    fn drop(&mut self) {
        self.shared.polled.store(false, Ordering::Relaxed);
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Ok(mut c) = self.shared.connection.lock() {
            if let Some(s) = c.take() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        if let Some(t) = self.control.take() {
            let _ = t.join();
        }
    }
}

/// Counters and features as (key, value) lines.
fn report(s: &Shared) -> Vec<(String, String)> {
    let mut v = vec![
        (
            "status".to_string(),
            s.status.lock().map(|x| x.clone()).unwrap_or_default(),
        ),
        (
            "features".to_string(),
            device::feature_names(s.features.load(Ordering::Relaxed)),
        ),
        (
            "protocol_features".to_string(),
            device::protocol_feature_names(s.protocol_features.load(Ordering::Relaxed)),
        ),
    ];
    for (i, c) in s.counters.iter().enumerate() {
        let p = c.packets.load(Ordering::Relaxed);
        if p > 0 {
            let dir = if i % 2 == 1 { "rx" } else { "tx" };
            v.push((
                format!("queue {} ({dir} of pair {})", i, i / 2),
                format!("{p} packets, {} bytes", c.bytes.load(Ordering::Relaxed)),
            ));
        }
    }
    for f in Fault::ALL {
        let n = s.faults[f as usize].load(Ordering::Relaxed);
        if n > 0 {
            v.push((format!("dropped ({})", f.name()), n.to_string()));
        }
    }
    v
}
