//! The datapath of one poll-mode thread, and its flow API.
//!
//! [`Datapath::process`] is the whole fast path for one received [`Batch`]:
//!
//! 1. extract a [`FlowKey`] from every packet;
//! 2. look every key up in the exact-match cache ([`Emc`]);
//! 3. look the misses up in the megaflow cache, all at once
//!    ([`MegaflowCache::lookup_batch`]);
//! 4. hand what is still missing to the slow path ([`UpcallHandler`]), install
//!    its answer (actions + wildcard mask) as a megaflow, and go on;
//! 5. credit each packet to its megaflow's counters and run the megaflow's
//!    actions on it, in batch order;
//! 6. transmit what the actions queued, one burst per output port.
//!
//! The flow API ([`Datapath::flow_put`], [`Datapath::flow_del`],
//! [`Datapath::flow_get`], [`Datapath::flow_dump`]) has the shape of Open
//! vSwitch's dpif: megaflows are named by their mask and masked key.
//!
//! Steady state (every packet hits a cached flow) allocates nothing: all
//! scratch space is reserved when the datapath and its ports are made.

use crate::actions::{self, Action};
use crate::emc::{Emc, EmcConfig};
use crate::extract::extract;
use crate::flow::{FlowKey, FlowMask};
use crate::megaflow::{FlowRef, Megaflow, MegaflowCache, MegaflowError};
use crate::packet::{Batch, Packet, PacketPool, PortNo, BATCH_SIZE};

/// Why the datapath dropped a packet. Drops are counted, never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum DropReason {
    /// The flow's actions dropped it (an explicit drop, or no output).
    Action = 0,
    /// The slow path gave no actions for it.
    UpcallDeclined,
    /// An output named a port the datapath does not have.
    NoSuchPort,
    /// A port's transmit queue was full for this batch.
    TxQueueFull,
    /// The port did not take it on transmit.
    TxFailed,
    /// No buffer was free to copy it for a second output.
    PoolExhausted,
    /// The queue to the slow path (userspace action) was full.
    UserspaceQueueFull,
    /// An action could not be applied (no headroom for a push, no tag to pop).
    ActionFailed,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 8;

    /// Every reason, in counter order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::Action,
        DropReason::UpcallDeclined,
        DropReason::NoSuchPort,
        DropReason::TxQueueFull,
        DropReason::TxFailed,
        DropReason::PoolExhausted,
        DropReason::UserspaceQueueFull,
        DropReason::ActionFailed,
    ];

    /// A short name for counters.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Action => "action",
            DropReason::UpcallDeclined => "upcall_declined",
            DropReason::NoSuchPort => "no_such_port",
            DropReason::TxQueueFull => "tx_queue_full",
            DropReason::TxFailed => "tx_failed",
            DropReason::PoolExhausted => "pool_exhausted",
            DropReason::UserspaceQueueFull => "userspace_queue_full",
            DropReason::ActionFailed => "action_failed",
        }
    }
}

/// Counters of one datapath (one poll-mode thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PmdStats {
    /// Packets received into [`Datapath::process`].
    pub rx_packets: u64,
    /// Lookups answered by the exact-match cache.
    pub emc_hits: u64,
    /// Lookups answered by the megaflow cache.
    pub megaflow_hits: u64,
    /// Lookups that went to the slow path.
    pub upcalls: u64,
    /// Megaflows installed from upcalls.
    pub flows_installed: u64,
    /// Upcall answers that could not be installed (flow limit); the packet
    /// was still handled.
    pub install_failures: u64,
    /// Packets handed to ports.
    pub tx_packets: u64,
    /// Packets queued to the slow path by a userspace action.
    pub userspace_packets: u64,
    /// Drops, indexed by [`DropReason`].
    pub drops: [u64; DropReason::COUNT],
}

impl PmdStats {
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Drops for every reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}

/// What the slow path answers for a packet that missed both caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcallReply {
    /// Actions for this packet and every packet the megaflow matches.
    pub actions: Box<[Action]>,
    /// The fields the answer depended on; everything else is wildcarded.
    pub mask: FlowMask,
}

/// The slow path: called for each packet that no cached flow matches.
pub trait UpcallHandler {
    /// Decides what to do with `packet`, whose key is `key`. `None` drops it
    /// and installs nothing (counted as [`DropReason::UpcallDeclined`]).
    fn upcall(&mut self, key: &FlowKey, packet: &Packet) -> Option<UpcallReply>;
}

/// Where transmitted packets go: the ports' side of the datapath.
pub trait Transmit {
    /// Sends the packets in `pkts` on `port`, taking them out of the vector
    /// and returning their buffers to `pool` when done with them. Packets
    /// left in `pkts` were not sent; the datapath counts them as
    /// [`DropReason::TxFailed`] and recycles them.
    fn transmit(&mut self, port: PortNo, pkts: &mut Vec<Packet>, pool: &mut PacketPool);
}

/// What one call of [`Datapath::process`] needs from its caller.
#[derive(Debug)]
pub struct ProcessContext<'a, U: UpcallHandler + ?Sized, T: Transmit + ?Sized> {
    /// The caller's clock, in milliseconds, read once per batch.
    pub now_ms: u64,
    /// Buffers for copies (multiple outputs) and for recycling.
    pub pool: &'a mut PacketPool,
    /// The slow path.
    pub upcall: &'a mut U,
    /// The ports.
    pub tx: &'a mut T,
}

/// How [`Datapath::flow_put`] treats an existing flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Fail if the flow exists.
    Create,
    /// Fail if the flow does not exist; replace its actions.
    Modify,
    /// Create or replace.
    CreateOrModify,
}

/// How often (in the caller's milliseconds) [`Datapath::process`] re-ranks
/// the megaflow subtables by their hits, as Open vSwitch does once a second.
pub const RANK_INTERVAL_MS: u64 = 1000;

/// Datapath port numbers are below this.
pub const MAX_PORTS: usize = 1 << 16;

/// A datapath port number at or above [`MAX_PORTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("datapath port number {0} is out of range (the limit is 65535)")]
pub struct PortOutOfRange(pub PortNo);

/// Settings of a [`Datapath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatapathConfig {
    /// Exact-match cache size and insertion odds.
    pub emc: EmcConfig,
    /// Most megaflows installed at once (Open vSwitch's default is 200000).
    pub flow_limit: usize,
    /// Packets the slow path can have queued by userspace actions.
    pub userspace_queue: usize,
    /// Packets each port's transmit queue holds per batch.
    pub tx_queue: usize,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            emc: EmcConfig::default(),
            flow_limit: 200_000,
            userspace_queue: 1024,
            tx_queue: 2 * BATCH_SIZE,
        }
    }
}

/// A packet queued for the slow path by a userspace action.
#[derive(Debug)]
pub struct UserspacePacket {
    /// The action's cookie.
    pub cookie: u32,
    /// The packet, as it was when the action ran.
    pub packet: Packet,
}

/// The per-batch state the actions write to: everything of the datapath but
/// its caches, so that actions can run while a megaflow is borrowed.
#[derive(Debug)]
pub(crate) struct Outputs {
    /// Transmit queue per port number; `None` = no such port.
    pub(crate) tx: Vec<Option<Vec<Packet>>>,
    /// Ports with queued packets, in first-use order.
    pub(crate) dirty: Vec<PortNo>,
    pub(crate) userspace: Vec<UserspacePacket>,
    pub(crate) userspace_limit: usize,
    pub(crate) stats: PmdStats,
}

impl Outputs {
    #[inline(always)]
    pub(crate) fn drop(&mut self, reason: DropReason, pkt: Packet, pool: &mut PacketPool) {
        self.stats.drops[reason as usize] += 1;
        pool.put(pkt);
    }

    /// Queues `pkt` on `port`'s transmit queue.
    #[inline(always)]
    pub(crate) fn output(&mut self, port: PortNo, pkt: Packet, pool: &mut PacketPool) {
        match self.tx.get_mut(port as usize) {
            Some(Some(q)) => {
                if q.len() == q.capacity() {
                    self.drop(DropReason::TxQueueFull, pkt, pool);
                    return;
                }
                if q.is_empty() {
                    self.dirty.push(port);
                }
                q.push(pkt);
            }
            _ => self.drop(DropReason::NoSuchPort, pkt, pool),
        }
    }

    /// Queues `pkt` for the slow path.
    #[inline]
    pub(crate) fn userspace(&mut self, cookie: u32, packet: Packet, pool: &mut PacketPool) {
        if self.userspace.len() >= self.userspace_limit {
            self.drop(DropReason::UserspaceQueueFull, packet, pool);
            return;
        }
        self.stats.userspace_packets += 1;
        self.userspace.push(UserspacePacket { cookie, packet });
    }
}

/// The datapath state of one poll-mode thread: its caches, counters and
/// per-port transmit queues.
#[derive(Debug)]
pub struct Datapath {
    emc: Emc,
    megaflows: MegaflowCache,
    out: Outputs,
    tx_queue: usize,
    keys: [FlowKey; BATCH_SIZE],
    hashes: [u64; BATCH_SIZE],
    refs: [FlowRef; BATCH_SIZE],
    last_rank_ms: u64,
}

impl Datapath {
    /// A datapath with no ports and no flows.
    pub fn new(config: DatapathConfig) -> Datapath {
        Datapath {
            emc: Emc::new(config.emc),
            megaflows: MegaflowCache::new(config.flow_limit),
            out: Outputs {
                tx: Vec::new(),
                dirty: Vec::new(),
                userspace: Vec::with_capacity(config.userspace_queue),
                userspace_limit: config.userspace_queue,
                stats: PmdStats::default(),
            },
            tx_queue: config.tx_queue.max(1),
            keys: [FlowKey::default(); BATCH_SIZE],
            hashes: [0; BATCH_SIZE],
            refs: [FlowRef::NONE; BATCH_SIZE],
            last_rank_ms: 0,
        }
    }

    /// Makes `port` a valid output and reserves its transmit queue. Port
    /// numbers index a table, so they must be below [`MAX_PORTS`]: the
    /// control plane maps OpenFlow port numbers onto dense datapath ones.
    pub fn add_port(&mut self, port: PortNo) -> Result<(), PortOutOfRange> {
        if port as usize >= MAX_PORTS {
            return Err(PortOutOfRange(port));
        }
        let i = port as usize;
        if self.out.tx.len() <= i {
            self.out.tx.resize_with(i + 1, || None);
        }
        if self.out.tx[i].is_none() {
            self.out.tx[i] = Some(Vec::with_capacity(self.tx_queue));
        }
        let ports = self.out.tx.iter().filter(|q| q.is_some()).count();
        self.out
            .dirty
            .reserve(ports.saturating_sub(self.out.dirty.len()));
        Ok(())
    }

    /// Removes `port`; later outputs to it are dropped as
    /// [`DropReason::NoSuchPort`].
    pub fn del_port(&mut self, port: PortNo) {
        if let Some(q) = self.out.tx.get_mut(port as usize) {
            *q = None;
        }
    }

    /// Counters.
    pub fn stats(&self) -> &PmdStats {
        &self.out.stats
    }

    /// Zeroes the counters.
    pub fn clear_stats(&mut self) {
        self.out.stats = PmdStats::default();
    }

    /// The exact-match cache.
    pub fn emc(&self) -> &Emc {
        &self.emc
    }

    /// The megaflow cache.
    pub fn megaflows(&self) -> &MegaflowCache {
        &self.megaflows
    }

    /// Re-ranks the megaflow subtables by recent hits now.
    /// [`Datapath::process`] also does it by itself every
    /// [`RANK_INTERVAL_MS`] of the caller's clock.
    pub fn rank_subtables(&mut self) {
        self.megaflows.rank_subtables();
    }

    /// Takes the packets queued for the slow path by userspace actions.
    pub fn drain_userspace(&mut self) -> std::vec::Drain<'_, UserspacePacket> {
        self.out.userspace.drain(..)
    }

    /// Runs the fast path over `batch`, leaving it empty. See the module docs.
    pub fn process<U, T>(&mut self, batch: &mut Batch, ctx: &mut ProcessContext<'_, U, T>)
    where
        U: UpcallHandler + ?Sized,
        T: Transmit + ?Sized,
    {
        let n = batch.len();
        if n == 0 {
            return;
        }
        self.out.stats.rx_packets += n as u64;
        if ctx.now_ms.wrapping_sub(self.last_rank_ms) >= RANK_INTERVAL_MS {
            self.last_rank_ms = ctx.now_ms;
            self.megaflows.rank_subtables();
        }

        // 1. Keys.
        for (i, p) in batch.packets_mut().iter_mut().enumerate() {
            let (key, offsets) = extract(p.data(), p.in_port);
            p.offsets = offsets;
            self.keys[i] = key;
        }

        // 2. Exact-match cache.
        let all: u32 = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        let mut miss = all;
        if self.emc.enabled() {
            let emc_miss =
                self.emc
                    .lookup_batch(&self.keys[..n], &mut self.hashes[..n], &mut self.refs[..n]);
            miss = emc_miss;
            let mut hit = all & !emc_miss;
            while hit != 0 {
                let i = hit.trailing_zeros() as usize;
                hit &= hit - 1;
                if !self.megaflows.contains(self.refs[i]) {
                    // The flow was deleted since it was cached.
                    self.refs[i] = FlowRef::NONE;
                    miss |= 1 << i;
                }
            }
            self.out.stats.emc_hits += (n as u32 - miss.count_ones()) as u64;
        }

        // 3. Megaflow cache, for the whole remainder at once.
        if miss != 0 {
            let left = self
                .megaflows
                .lookup_batch(&self.keys[..n], &mut self.refs[..n], miss);
            let hits = miss & !left;
            self.out.stats.megaflow_hits += hits.count_ones() as u64;
            if self.emc.enabled() {
                let mut h = hits;
                while h != 0 {
                    let i = h.trailing_zeros() as usize;
                    h &= h - 1;
                    self.emc
                        .probabilistic_insert(&self.keys[i], self.hashes[i], self.refs[i]);
                }
            }
            miss = left;
        }

        // 4. Upcalls, one packet at a time: an earlier packet's megaflow may
        //    already cover a later one.
        if miss != 0 {
            self.handle_misses(batch, miss, ctx);
        }

        // 5. Execute, crediting each packet to its megaflow.
        for (i, p) in batch.drain().enumerate() {
            let r = std::mem::replace(&mut self.refs[i], FlowRef::NONE);
            if r.is_none() {
                // Already handled by the upcall path (see handle_misses).
                ctx.pool.put(p);
                continue;
            }
            match self.megaflows.hot_mut(r) {
                Some(flow) => {
                    flow.packets += 1;
                    flow.bytes += p.len() as u64;
                    flow.used = ctx.now_ms;
                    flow.tcp_flags |= self.keys[i].tcp_flags();
                    actions::execute(
                        flow.actions.as_slice(),
                        p,
                        &self.keys[i],
                        &mut self.out,
                        ctx.pool,
                    );
                }
                // Cannot happen: flows are only removed between batches.
                None => self.out.drop(DropReason::Action, p, ctx.pool),
            }
        }

        // 6. Transmit, once per port.
        self.flush(ctx.pool, ctx.tx);
    }

    /// Runs `actions` on one packet outside the caches (an OpenFlow
    /// PACKET_OUT) and transmits what they output. The packet's `in_port`
    /// is the datapath port it counts as coming from.
    pub fn execute<T: Transmit + ?Sized>(
        &mut self,
        mut pkt: Packet,
        actions: &[Action],
        pool: &mut PacketPool,
        tx: &mut T,
    ) {
        let (key, offsets) = extract(pkt.data(), pkt.in_port);
        pkt.offsets = offsets;
        actions::execute(actions, pkt, &key, &mut self.out, pool);
        self.flush(pool, tx);
    }

    fn handle_misses<U, T>(
        &mut self,
        batch: &mut Batch,
        mut miss: u32,
        ctx: &mut ProcessContext<'_, U, T>,
    ) where
        U: UpcallHandler + ?Sized,
        T: Transmit + ?Sized,
    {
        while miss != 0 {
            let i = miss.trailing_zeros() as usize;
            miss &= miss - 1;
            let key = self.keys[i];
            if let Some(r) = self.megaflows.lookup(&key) {
                self.refs[i] = r;
                self.out.stats.megaflow_hits += 1;
                continue;
            }
            self.out.stats.upcalls += 1;
            let pkt = &batch.packets()[i];
            let Some(reply) = ctx.upcall.upcall(&key, pkt) else {
                // Leave refs[i] NONE: the packet is dropped when grouping.
                self.out.stats.drops[DropReason::UpcallDeclined as usize] += 1;
                continue;
            };
            match self.megaflows.insert(&key, &reply.mask, &reply.actions) {
                Ok(r) => {
                    self.out.stats.flows_installed += 1;
                    self.refs[i] = r;
                    if self.emc.enabled() {
                        let h = key.hash();
                        self.hashes[i] = h;
                        self.emc.probabilistic_insert(&key, h, r);
                    }
                }
                Err(_) => {
                    // Not cacheable now (the flow limit, too many masks):
                    // this packet alone takes the answer. Swap it out of the
                    // batch for an empty buffer (recycled later, as its ref
                    // stays NONE) and run the actions on it.
                    self.out.stats.install_failures += 1;
                    let Some(spare) = ctx.pool.get() else {
                        self.out.stats.drops[DropReason::PoolExhausted as usize] += 1;
                        continue;
                    };
                    let pkt = std::mem::replace(&mut batch.packets_mut()[i], spare);
                    actions::execute(&reply.actions, pkt, &key, &mut self.out, ctx.pool);
                }
            }
        }
    }

    /// Hands every queued packet to its port.
    fn flush<T: Transmit + ?Sized>(&mut self, pool: &mut PacketPool, tx: &mut T) {
        for d in 0..self.out.dirty.len() {
            let port = self.out.dirty[d];
            let Some(Some(q)) = self.out.tx.get_mut(port as usize) else {
                continue;
            };
            let queued = q.len() as u64;
            tx.transmit(port, q, pool);
            let failed = q.len() as u64;
            self.out.stats.tx_packets += queued.saturating_sub(failed);
            self.out.stats.drops[DropReason::TxFailed as usize] += failed;
            for p in q.drain(..) {
                pool.put(p);
            }
        }
        self.out.dirty.clear();
    }

    /// Installs or changes a megaflow. The key is masked here. Modifying
    /// keeps the flow's counters.
    pub fn flow_put(
        &mut self,
        key: &FlowKey,
        mask: &FlowMask,
        actions: &[Action],
        mode: PutMode,
    ) -> Result<FlowRef, MegaflowError> {
        match (self.megaflows.find(key, mask), mode) {
            (Some(_), PutMode::Create) => Err(MegaflowError::Exists),
            (None, PutMode::Modify) => Err(MegaflowError::NotFound),
            (Some(r), _) => self.megaflows.set_actions(r, actions).map(|()| r),
            (None, _) => self.megaflows.insert(key, mask, actions),
        }
    }

    /// Removes the megaflow with this mask and key and returns what it was.
    pub fn flow_del(&mut self, key: &FlowKey, mask: &FlowMask) -> Result<Megaflow, MegaflowError> {
        let r = self
            .megaflows
            .find(key, mask)
            .ok_or(MegaflowError::NotFound)?;
        self.megaflows.remove(r).ok_or(MegaflowError::NotFound)
    }

    /// Removes the megaflow `r` names (as a dump or a lookup returned it).
    pub fn flow_del_ref(&mut self, r: FlowRef) -> Option<Megaflow> {
        self.megaflows.remove(r)
    }

    /// The megaflow with this mask and key.
    pub fn flow_get(&self, key: &FlowKey, mask: &FlowMask) -> Option<Megaflow> {
        self.megaflows.get(self.megaflows.find(key, mask)?)
    }

    /// Every megaflow, with the reference that [`Datapath::flow_del_ref`] takes.
    pub fn flow_dump(&self) -> impl Iterator<Item = (FlowRef, Megaflow)> + '_ {
        self.megaflows.iter()
    }

    /// Removes every megaflow (and so every EMC entry's target).
    pub fn flow_flush(&mut self) {
        self.megaflows.clear();
        self.emc.clear();
    }

    /// Changes the flow limit.
    pub fn set_flow_limit(&mut self, limit: usize) {
        self.megaflows.set_limit(limit);
    }
}
