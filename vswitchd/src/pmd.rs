//! Poll-mode threads: each owns its ports' receive queues, its datapath
//! (EMC and megaflow cache) and its packet pool, and loops: receive a burst
//! from each port, run the fast path, transmit.
//!
//! The control plane talks to a PMD through a command channel that the PMD
//! polls between bursts, and through [`Shared`], which holds the bridges'
//! translation snapshot (swapped whole, read without locks) and the MAC
//! tables (locked only by upcalls, in the slow path). A miss is translated
//! in the PMD thread itself, from the snapshot.
//!
//! Output to a port another PMD owns: the packet moves, without a copy,
//! into that port's inbox (a bounded queue; full means a counted drop),
//! and the owner transmits it with its own bursts. The buffers then go to
//! a shared spare queue from which a PMD whose pool runs low refills, so
//! pools stay balanced whatever the traffic matrix.
//!
//! Revalidation: whenever the snapshot or a MAC table changes, a shared
//! sequence number moves; each PMD then re-translates every megaflow it
//! holds and modifies or deletes only those whose answer changed. Idle
//! megaflows (unused for [`IDLE_MS`]) are removed. About once a second each
//! megaflow's new traffic is credited to the rules it was translated from.

use crate::mac_learning::MacTable;
use crate::ofproto::Rule;
use crate::xlate::{translate, translate_traced, TableCounters, XBridge, CONTROLLER_COOKIE};
use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};
use rvs_datapath::port::{Port, PortStats};
use rvs_datapath::{
    Action, Batch, Datapath, DatapathConfig, FlowKey, FlowMask, Megaflow, Packet, PacketPool,
    PmdStats, PortNo, ProcessContext, PutMode, Transmit, UpcallHandler, UpcallReply,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// Megaflows unused for this long are removed (Open vSwitch: 10 s).
pub const IDLE_MS: u64 = 10_000;

/// Every bridge, as translation sees them.
#[derive(Debug, Default)]
pub struct BridgeSet {
    pub bridges: Vec<XBridge>,
    /// Datapath port → index in `bridges`.
    pub by_dp: HashMap<PortNo, usize>,
}

impl BridgeSet {
    /// Builds the set and its port index.
    pub fn new(bridges: Vec<XBridge>) -> BridgeSet {
        let mut by_dp = HashMap::new();
        for (i, b) in bridges.iter().enumerate() {
            for p in b.by_dp.keys() {
                by_dp.insert(*p, i);
            }
        }
        BridgeSet { bridges, by_dp }
    }
}

/// A packet that a `controller` action sent to the slow path, on its way
/// to the OpenFlow connections.
#[derive(Debug)]
pub struct PacketInEvent {
    /// The datapath port it arrived on.
    pub dp_port: PortNo,
    /// The userspace cookie (see [`crate::xlate::ControllerSpecs`]).
    pub cookie: u32,
    /// The packet as the actions left it.
    pub data: Vec<u8>,
}

/// Packets for the controller waiting for the connection manager; beyond,
/// they are dropped and counted (`packet_in_dropped`).
pub const PACKET_IN_QUEUE: usize = 1024;

/// Packets waiting in a port's inbox for the PMD that owns the port.
pub const INBOX_LEN: usize = 1024;

/// Buffers on their way back from a PMD that transmitted them for another.
const SPARE_LEN: usize = 65536;

/// Each port's inbox, by datapath port.
pub type Inboxes = HashMap<PortNo, Sender<Packet>>;

/// What the PMDs share with the control plane.
#[derive(Debug)]
pub struct Shared {
    pub bridges: ArcSwap<BridgeSet>,
    /// MAC tables by bridge name.
    pub macs: Mutex<HashMap<String, MacTable>>,
    /// Moves when megaflows may need revalidation.
    pub reval_seq: AtomicU64,
    pub epoch: Instant,
    /// Packets for the controller.
    pub packet_in_tx: Sender<PacketInEvent>,
    pub packet_in_rx: Receiver<PacketInEvent>,
    /// Where to put packets for a port another PMD owns.
    pub inboxes: ArcSwap<Inboxes>,
    /// Moves when `inboxes` changes.
    pub inbox_gen: AtomicU64,
    /// Moves after packets were put in any inbox: a PMD drains its
    /// inboxes only when it moved (one load per iteration instead of a
    /// channel poll per port).
    pub inbox_posted: AtomicU64,
    /// Buffers that crossed to another PMD, for pools that run low.
    pub spare_tx: Sender<Packet>,
    pub spare_rx: Receiver<Packet>,
}

impl Default for Shared {
    fn default() -> Self {
        let (packet_in_tx, packet_in_rx) = crossbeam_channel::bounded(PACKET_IN_QUEUE);
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(SPARE_LEN);
        Shared {
            bridges: ArcSwap::from_pointee(BridgeSet::default()),
            macs: Mutex::new(HashMap::new()),
            reval_seq: AtomicU64::new(0),
            epoch: Instant::now(),
            packet_in_tx,
            packet_in_rx,
            inboxes: ArcSwap::from_pointee(HashMap::new()),
            inbox_gen: AtomicU64::new(0),
            inbox_posted: AtomicU64::new(0),
            spare_tx,
            spare_rx,
        }
    }
}

impl Shared {
    /// Publishes a new bridge set and asks the PMDs to revalidate.
    pub fn publish(&self, set: BridgeSet) {
        self.bridges.store(Arc::new(set));
        self.reval_seq.fetch_add(1, Ordering::Release);
    }

    /// Milliseconds since start.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Translates `key` through its bridge, learning as NORMAL does.
    pub fn translate(&self, key: &FlowKey, learn: bool) -> Option<crate::xlate::Translation> {
        self.translate_with(key, learn, false)
    }

    /// [`Shared::translate`] with the step-by-step trace, not learning
    /// (`ofproto/trace`).
    pub fn trace(&self, key: &FlowKey) -> Option<crate::xlate::Translation> {
        self.translate_with(key, false, true)
    }

    fn translate_with(
        &self,
        key: &FlowKey,
        learn: bool,
        tracing: bool,
    ) -> Option<crate::xlate::Translation> {
        let set = self.bridges.load();
        let &bi = set.by_dp.get(&key.in_port())?;
        let br = &set.bridges[bi];
        let now = self.epoch.elapsed().as_secs();
        let mut macs = self.macs.lock().unwrap_or_else(|e| e.into_inner());
        if !macs.contains_key(&br.name) {
            macs.insert(br.name.clone(), MacTable::default());
        }
        let mac = macs.get_mut(&br.name)?;
        let before = mac.generation();
        // Revalidation must not learn from a masked key.
        let t = if tracing {
            translate_traced(br, key, mac, now, learn)
        } else {
            translate(br, key, mac, now, learn)
        };
        if mac.generation() != before {
            self.reval_seq.fetch_add(1, Ordering::Release);
        }
        Some(t)
    }
}

/// A request to a PMD.
pub enum PmdCmd {
    /// Poll this port (and make it a valid output).
    AddPort(PortNo, Box<dyn Port>),
    /// Stop polling a port; the port is dropped (closed).
    DelPort(PortNo),
    /// Report counters.
    Stats(Sender<PmdReport>),
    /// Report megaflows.
    DumpFlows(Sender<Vec<Megaflow>>),
    /// Zero the counters.
    ClearStats,
    /// Remove every megaflow.
    FlushFlows,
    /// Change the most megaflows kept.
    SetFlowLimit(usize),
    /// Run datapath actions on one packet (an OpenFlow PACKET_OUT) that
    /// counts as coming from `in_port`.
    Execute {
        in_port: PortNo,
        data: Vec<u8>,
        actions: Vec<Action>,
    },
    /// Pin the thread to this core (or unpin it: every CPU).
    Pin(Option<usize>),
    /// Stop polling a port and hand it back (to move it to another PMD).
    Release(PortNo, Sender<Option<Box<dyn Port>>>),
    /// Exit the loop.
    Stop,
}

impl std::fmt::Debug for PmdCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PmdCmd::AddPort(n, p) => write!(f, "AddPort({n}, {})", p.name()),
            PmdCmd::DelPort(n) => write!(f, "DelPort({n})"),
            PmdCmd::Stats(_) => write!(f, "Stats"),
            PmdCmd::DumpFlows(_) => write!(f, "DumpFlows"),
            PmdCmd::ClearStats => write!(f, "ClearStats"),
            PmdCmd::FlushFlows => write!(f, "FlushFlows"),
            PmdCmd::SetFlowLimit(n) => write!(f, "SetFlowLimit({n})"),
            PmdCmd::Execute { in_port, data, .. } => {
                write!(f, "Execute(in_port {in_port}, {} bytes)", data.len())
            }
            PmdCmd::Pin(c) => write!(f, "Pin({c:?})"),
            PmdCmd::Release(n, _) => write!(f, "Release({n})"),
            PmdCmd::Stop => write!(f, "Stop"),
        }
    }
}

/// A PMD's counters and ports.
#[derive(Debug, Clone, Default)]
pub struct PmdReport {
    pub id: usize,
    pub core: Option<usize>,
    pub stats: PmdStats,
    pub megaflows: usize,
    /// Loop iterations that received something / nothing.
    pub busy_iterations: u64,
    pub idle_iterations: u64,
    /// Time spent in busy iterations (ns).
    pub busy_ns: u64,
    /// Per port.
    pub ports: Vec<PortReport>,
    /// Nanoseconds since the counters were cleared.
    pub elapsed_ns: u64,
    pub revalidations: u64,
    pub expired: u64,
    /// Packets for the controller dropped because the queue was full.
    pub packet_in_dropped: u64,
    /// Packets for a port of another PMD dropped because its inbox was
    /// full.
    pub inbox_dropped: u64,
    /// The last revalidation sequence this PMD has applied.
    pub seen_seq: u64,
}

/// One port of a PMD.
#[derive(Debug, Clone)]
pub struct PortReport {
    pub no: PortNo,
    pub name: String,
    pub stats: PortStats,
    /// Time (ns) spent receiving and processing its packets since the
    /// counters were cleared.
    pub busy_ns: u64,
    pub link_up: bool,
    /// Port-specific lines (vhost-user queues, features, drops).
    pub details: Vec<(String, String)>,
}

/// A running PMD.
#[derive(Debug)]
pub struct PmdHandle {
    pub id: usize,
    pub tx: Sender<PmdCmd>,
    thread: Option<JoinHandle<()>>,
}

impl PmdHandle {
    /// Starts PMD `id`, pinned to `core` when given (a failure to pin is
    /// logged and the thread runs unpinned).
    pub fn start(
        id: usize,
        core: Option<usize>,
        shared: Arc<Shared>,
        config: DatapathConfig,
    ) -> PmdHandle {
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name(format!("pmd{id}"))
            .spawn(move || {
                let mut pinned = None;
                if let Some(c) = core {
                    match rvs_datapath::port::pin_thread_to_core(c) {
                        Ok(()) => pinned = Some(c),
                        Err(e) => crate::warn!("pmd{id}: {e}; running unpinned"),
                    }
                }
                Pmd::new(id, pinned, shared, config).run(rx)
            })
            .expect("spawn a PMD thread");
        PmdHandle {
            id,
            tx,
            thread: Some(thread),
        }
    }

    /// Sends a command (ignored if the PMD has exited).
    pub fn send(&self, cmd: PmdCmd) {
        let _ = self.tx.send(cmd);
    }

    /// Asks for counters and waits for them.
    pub fn report(&self) -> Option<PmdReport> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(PmdCmd::Stats(tx));
        rx.recv_timeout(std::time::Duration::from_secs(5)).ok()
    }

    /// Takes port `no` back from this PMD (`None` if it does not poll it).
    pub fn release(&self, no: PortNo) -> Option<Box<dyn Port>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(PmdCmd::Release(no, tx));
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .ok()
            .flatten()
    }

    /// Asks for the megaflows and waits for them.
    pub fn dump_flows(&self) -> Vec<Megaflow> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(PmdCmd::DumpFlows(tx));
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .unwrap_or_default()
    }
}

impl Drop for PmdHandle {
    fn drop(&mut self) {
        self.send(PmdCmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct PortTable<'a> {
    ports: &'a mut [(PortNo, Box<dyn Port>)],
    inboxes: &'a Inboxes,
    inbox_dropped: &'a mut u64,
    posted: &'a AtomicU64,
}

impl Transmit for PortTable<'_> {
    fn transmit(&mut self, port: PortNo, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        if let Some((_, p)) = self.ports.iter_mut().find(|(n, _)| *n == port) {
            p.tx_burst(pkts, pool);
        } else if let Some(inbox) = self.inboxes.get(&port) {
            // Another PMD owns the port: hand the packets over.
            for p in pkts.drain(..) {
                if let Err(e) = inbox.try_send(p) {
                    *self.inbox_dropped += 1;
                    pool.put(e.into_inner());
                }
            }
            // After the sends: a PMD that sees the new value sees them.
            self.posted.fetch_add(1, Ordering::Release);
        }
    }
}

/// Which rules a megaflow came from, and how much of its traffic has been
/// credited to them so far.
#[derive(Debug, Default)]
struct Attribution {
    rules: Vec<Arc<Rule>>,
    tables: Vec<(u8, bool)>,
    counters: Option<Arc<TableCounters>>,
    packets: u64,
    bytes: u64,
}

type Attributions = HashMap<(FlowKey, FlowMask), Attribution>;

struct Upcaller<'a> {
    shared: &'a Shared,
    attributions: &'a mut Attributions,
}

impl UpcallHandler for Upcaller<'_> {
    fn upcall(&mut self, key: &FlowKey, _packet: &Packet) -> Option<UpcallReply> {
        let t = self.shared.translate(key, true)?;
        self.attributions.insert(
            (key.masked(&t.mask), t.mask),
            Attribution {
                rules: t.rules,
                tables: t.tables,
                counters: t.table_counters,
                packets: 0,
                bytes: 0,
            },
        );
        Some(UpcallReply {
            actions: t.actions.into_boxed_slice(),
            mask: t.mask,
        })
    }
}

struct Pmd {
    id: usize,
    core: Option<usize>,
    shared: Arc<Shared>,
    dp: Datapath,
    pool: PacketPool,
    ports: Vec<(PortNo, Box<dyn Port>)>,
    /// Per entry of `ports`: its inbox (packets other PMDs output to it).
    inbox_rx: Vec<Receiver<Packet>>,
    /// The inboxes of every port, as last loaded.
    inboxes: Arc<Inboxes>,
    inbox_gen: u64,
    /// `Shared::inbox_posted` when the inboxes were last drained, and
    /// whether one was left non-empty.
    inbox_seen: u64,
    inbox_left: bool,
    /// Buffers of other PMDs being transmitted here, before they go back.
    foreign: PacketPool,
    xmit: Vec<Packet>,
    inbox_dropped: u64,
    batch: Batch,
    seen_seq: u64,
    busy: u64,
    idle: u64,
    busy_ns: u64,
    /// Per entry of `ports`: busy time spent on it.
    rxq_busy_ns: Vec<u64>,
    since: Instant,
    revalidations: u64,
    expired: u64,
    packet_in_dropped: u64,
    attributions: Attributions,
}

impl Pmd {
    fn new(id: usize, core: Option<usize>, shared: Arc<Shared>, config: DatapathConfig) -> Pmd {
        Pmd {
            id,
            core,
            shared,
            dp: Datapath::new(config),
            pool: PacketPool::new(4096, 2048),
            ports: Vec::new(),
            inbox_rx: Vec::new(),
            inboxes: Arc::new(HashMap::new()),
            inbox_gen: u64::MAX,
            inbox_seen: 0,
            inbox_left: true,
            foreign: PacketPool::empty(4 * rvs_datapath::BATCH_SIZE),
            xmit: Vec::with_capacity(rvs_datapath::BATCH_SIZE),
            inbox_dropped: 0,
            batch: Batch::new(),
            seen_seq: 0,
            busy: 0,
            idle: 0,
            busy_ns: 0,
            rxq_busy_ns: Vec::new(),
            since: Instant::now(),
            revalidations: 0,
            expired: 0,
            packet_in_dropped: 0,
            attributions: HashMap::new(),
        }
    }

    fn run(mut self, rx: Receiver<PmdCmd>) {
        let mut iter: u64 = 0;
        let mut last_expire = 0u64;
        loop {
            let t0 = Instant::now();
            let mut got = 0;
            let now_ms = t0.duration_since(self.shared.epoch).as_millis() as u64;
            for i in 0..self.ports.len() {
                let (no, port) = &mut self.ports[i];
                let no = *no;
                let every = u64::from(port.rx_poll_every().max(1));
                if every > 1 && iter % every != 0 {
                    continue;
                }
                let n = port.rx_burst(&mut self.batch, &mut self.pool);
                if n == 0 {
                    continue;
                }
                got += n;
                let tp = Instant::now();
                for p in self.batch.packets_mut() {
                    p.in_port = no;
                }
                let mut up = Upcaller {
                    shared: &self.shared,
                    attributions: &mut self.attributions,
                };
                let mut tx = PortTable {
                    ports: &mut self.ports,
                    inboxes: &self.inboxes,
                    inbox_dropped: &mut self.inbox_dropped,
                    posted: &self.shared.inbox_posted,
                };
                let mut ctx = ProcessContext {
                    now_ms,
                    pool: &mut self.pool,
                    upcall: &mut up,
                    tx: &mut tx,
                };
                self.dp.process(&mut self.batch, &mut ctx);
                self.drain_userspace();
                self.rxq_busy_ns[i] += tp.elapsed().as_nanos() as u64;
            }
            let posted = self.shared.inbox_posted.load(Ordering::Acquire);
            if posted != self.inbox_seen || self.inbox_left {
                self.inbox_seen = posted;
                got += self.drain_inboxes();
            } else if self.pool.available() < self.pool.capacity() / 2 {
                self.refill_pool();
            }
            if got > 0 {
                self.busy += 1;
                self.busy_ns += t0.elapsed().as_nanos() as u64;
            } else {
                self.idle += 1;
            }
            iter += 1;
            if iter % 64 == 0 {
                // Control work between bursts.
                while let Ok(cmd) = rx.try_recv() {
                    if !self.command(cmd) {
                        return;
                    }
                }
                let g = self.shared.inbox_gen.load(Ordering::Acquire);
                if g != self.inbox_gen {
                    self.inbox_gen = g;
                    self.refresh_inboxes();
                }
                let seq = self.shared.reval_seq.load(Ordering::Acquire);
                if seq != self.seen_seq {
                    self.seen_seq = seq;
                    self.revalidate();
                }
                if now_ms >= last_expire + 1000 {
                    last_expire = now_ms;
                    self.credit_rules();
                    self.expire(now_ms);
                }
                if got == 0 && self.ports.is_empty() {
                    // Nothing to poll: do not spin a core for nothing.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    }

    /// Loads the inboxes of every port: ports of other PMDs become valid
    /// outputs here, and those that went away stop being.
    fn refresh_inboxes(&mut self) {
        let new = self.shared.inboxes.load_full();
        for no in self.inboxes.keys() {
            if !new.contains_key(no) && !self.ports.iter().any(|(n, _)| n == no) {
                self.dp.del_port(*no);
            }
        }
        for no in new.keys() {
            let _ = self.dp.add_port(*no);
        }
        self.inboxes = new;
    }

    /// Transmits what other PMDs queued for this PMD's ports, sends those
    /// buffers back through the spare queue, and refills the pool from it
    /// when low. Returns how many packets were sent.
    fn drain_inboxes(&mut self) -> usize {
        let mut sent = 0;
        self.inbox_left = false;
        for i in 0..self.ports.len() {
            while self.xmit.len() < rvs_datapath::BATCH_SIZE {
                match self.inbox_rx[i].try_recv() {
                    Ok(p) => self.xmit.push(p),
                    Err(_) => break,
                }
            }
            if self.xmit.len() == rvs_datapath::BATCH_SIZE {
                // More may wait: drain again next iteration.
                self.inbox_left = true;
            }
            if self.xmit.is_empty() {
                continue;
            }
            sent += self.xmit.len();
            self.ports[i].1.tx_burst(&mut self.xmit, &mut self.foreign);
            for p in self.xmit.drain(..) {
                self.foreign.put(p);
            }
            while let Some(p) = self.foreign.get() {
                // A full spare queue frees the buffer (heap work, rare).
                let _ = self.shared.spare_tx.try_send(p);
            }
        }
        if self.pool.available() < self.pool.capacity() / 2 {
            self.refill_pool();
        }
        sent
    }

    /// Takes buffers that crossed to other PMDs back from the spare queue.
    fn refill_pool(&mut self) {
        while self.pool.available() < self.pool.capacity() {
            match self.shared.spare_rx.try_recv() {
                Ok(p) => self.pool.put(p),
                Err(_) => break,
            }
        }
    }

    /// Hands controller-bound packets to the connection manager (a copy:
    /// the buffer goes back to the pool), dropping and counting them when
    /// it is behind.
    fn drain_userspace(&mut self) {
        for u in self.dp.drain_userspace() {
            if u.cookie & CONTROLLER_COOKIE != 0 {
                let ev = PacketInEvent {
                    dp_port: u.packet.in_port,
                    cookie: u.cookie,
                    data: u.packet.data().to_vec(),
                };
                if self.shared.packet_in_tx.try_send(ev).is_err() {
                    self.packet_in_dropped += 1;
                }
            }
            self.pool.put(u.packet);
        }
    }

    fn command(&mut self, cmd: PmdCmd) -> bool {
        match cmd {
            PmdCmd::AddPort(no, port) => {
                if self.dp.add_port(no).is_ok() {
                    self.remove_port(no);
                    let (tx, rx) = crossbeam_channel::bounded(INBOX_LEN);
                    self.ports.push((no, port));
                    self.inbox_rx.push(rx);
                    self.rxq_busy_ns.push(0);
                    self.shared.inboxes.rcu(|m| {
                        let mut m = (**m).clone();
                        m.insert(no, tx.clone());
                        m
                    });
                    self.shared.inbox_gen.fetch_add(1, Ordering::Release);
                }
            }
            PmdCmd::DelPort(no) => {
                self.remove_port(no);
                self.dp.del_port(no);
                // Megaflows that output to or came from the port go stale.
                self.revalidate();
            }
            PmdCmd::Stats(reply) => {
                let _ = reply.send(self.report());
            }
            PmdCmd::DumpFlows(reply) => {
                let _ = reply.send(self.dp.flow_dump().map(|(_, f)| f).collect());
            }
            PmdCmd::ClearStats => {
                self.dp.clear_stats();
                self.busy = 0;
                self.idle = 0;
                self.busy_ns = 0;
                self.rxq_busy_ns.iter_mut().for_each(|b| *b = 0);
                self.since = Instant::now();
            }
            PmdCmd::FlushFlows => self.dp.flow_flush(),
            PmdCmd::SetFlowLimit(n) => self.dp.set_flow_limit(n),
            PmdCmd::Execute {
                in_port,
                data,
                actions,
            } => {
                if let Some(mut p) = self.pool.get() {
                    if p.set_frame(&data) {
                        p.in_port = in_port;
                        let mut tx = PortTable {
                            ports: &mut self.ports,
                            inboxes: &self.inboxes,
                            inbox_dropped: &mut self.inbox_dropped,
                            posted: &self.shared.inbox_posted,
                        };
                        self.dp.execute(p, &actions, &mut self.pool, &mut tx);
                        self.drain_userspace();
                    } else {
                        self.pool.put(p);
                    }
                }
            }
            PmdCmd::Pin(core) => {
                let r = match core {
                    Some(c) => rvs_datapath::port::pin_thread_to_core(c).map(|()| Some(c)),
                    None => rvs_datapath::port::unpin_thread().map(|()| None),
                };
                match r {
                    Ok(c) => self.core = c,
                    Err(e) => crate::warn!("pmd{}: {e}", self.id),
                }
            }
            PmdCmd::Release(no, reply) => {
                let port = self.ports.iter().position(|(n, _)| *n == no).map(|i| {
                    self.rxq_busy_ns.remove(i);
                    // The inbox stays registered (same port number) and is
                    // drained into the port's new owner's queue below.
                    let rx = self.inbox_rx.remove(i);
                    while let Ok(p) = rx.try_recv() {
                        let _ = self.shared.spare_tx.try_send(p);
                    }
                    self.ports.remove(i).1
                });
                // Megaflows may still output to it: it stays a valid output
                // (through its inbox, once the new owner registers it).
                let _ = reply.send(port);
            }
            PmdCmd::Stop => return false,
        }
        true
    }

    fn remove_port(&mut self, no: PortNo) {
        if let Some(i) = self.ports.iter().position(|(n, _)| *n == no) {
            self.ports.remove(i);
            self.rxq_busy_ns.remove(i);
            let rx = self.inbox_rx.remove(i);
            self.shared.inboxes.rcu(|m| {
                let mut m = (**m).clone();
                m.remove(&no);
                m
            });
            self.shared.inbox_gen.fetch_add(1, Ordering::Release);
            // Whatever is still queued goes back as spare buffers.
            while let Ok(p) = rx.try_recv() {
                let _ = self.shared.spare_tx.try_send(p);
            }
        }
    }

    fn report(&self) -> PmdReport {
        PmdReport {
            id: self.id,
            core: self.core,
            stats: *self.dp.stats(),
            megaflows: self.dp.megaflows().len(),
            busy_iterations: self.busy,
            idle_iterations: self.idle,
            busy_ns: self.busy_ns,
            ports: self
                .ports
                .iter()
                .zip(&self.rxq_busy_ns)
                .map(|((n, p), b)| PortReport {
                    no: *n,
                    name: p.name().to_string(),
                    stats: p.stats(),
                    busy_ns: *b,
                    link_up: p.link_up(),
                    details: p.details(),
                })
                .collect(),
            elapsed_ns: self.since.elapsed().as_nanos() as u64,
            revalidations: self.revalidations,
            expired: self.expired,
            packet_in_dropped: self.packet_in_dropped,
            inbox_dropped: self.inbox_dropped,
            seen_seq: self.seen_seq,
        }
    }

    /// Credits each megaflow's traffic since the last pass to the rules it
    /// came from (what `dump-flows` counters show), and forgets megaflows
    /// that are gone.
    fn credit_rules(&mut self) {
        let now_ms = self.shared.now_ms();
        let mut live = std::collections::HashSet::new();
        for (_, f) in self.dp.flow_dump() {
            let k = (f.key, f.mask);
            if let Some(a) = self.attributions.get_mut(&k) {
                let (p, b) = (
                    f.stats.packets.saturating_sub(a.packets),
                    f.stats.bytes.saturating_sub(a.bytes),
                );
                if p > 0 {
                    for r in &a.rules {
                        r.stats.credit(p, b, now_ms);
                    }
                    if let Some(c) = &a.counters {
                        for &(t, matched) in &a.tables {
                            c.credit(t, matched, p);
                        }
                    }
                }
                a.packets = f.stats.packets;
                a.bytes = f.stats.bytes;
            }
            live.insert(k);
        }
        self.attributions.retain(|k, _| live.contains(k));
    }

    /// Re-translates every megaflow; keeps, modifies or deletes each.
    fn revalidate(&mut self) {
        self.revalidations += 1;
        // Traffic so far belongs to the rules that produced it.
        self.credit_rules();
        let flows: Vec<_> = self.dp.flow_dump().collect();
        for (r, f) in flows {
            match self.shared.translate(&f.key, false) {
                Some(t) if t.mask == f.mask => {
                    if *t.actions != *f.actions {
                        let _ = self
                            .dp
                            .flow_put(&f.key, &f.mask, &t.actions, PutMode::Modify);
                    }
                    if let Some(a) = self.attributions.get_mut(&(f.key, f.mask)) {
                        a.rules = t.rules;
                        a.tables = t.tables;
                        a.counters = t.table_counters;
                    }
                }
                _ => {
                    self.dp.flow_del_ref(r);
                    self.attributions.remove(&(f.key, f.mask));
                }
            }
        }
    }

    fn expire(&mut self, now_ms: u64) {
        let idle: Vec<_> = self
            .dp
            .flow_dump()
            .filter(|(_, f)| now_ms.saturating_sub(f.stats.used) >= IDLE_MS)
            .map(|(r, _)| r)
            .collect();
        for r in idle {
            self.dp.flow_del_ref(r);
            self.expired += 1;
        }
    }
}
