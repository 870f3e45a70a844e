//! A polling userspace virtio-net driver over split rings, for a
//! vhost-user backend: the traffic generator's fast path (`rvs-pktgen`),
//! and the VMM's reference for what a guest driver does.
//!
//! [`NetDriver::start`] builds everything once: one memfd-backed
//! [`GuestMemory`] region holding queue pair 0's rings (receive queue 0,
//! transmit queue 1) and `queue_size` buffers of `buf_size` bytes per
//! queue; descriptor *i* of a queue always points at buffer *i* of that
//! queue, so descriptors are written once up front (a transmit only sets
//! its length). Every receive buffer is posted before the backend sees
//! the rings. Then it negotiates, shares the memory, sets the queues up
//! and enables them.
//!
//! The data path ([`NetDriver::send_with`], [`NetDriver::recv_with`])
//! allocates nothing, takes no lock and makes at most one syscall per
//! call: each call publishes the avail index once (a release store) and
//! writes the kick eventfd only if the device asked for it
//! (VRING_USED_F_NO_NOTIFY clear, or with EVENT_IDX the `avail_event`
//! rule). A polling backend (rvs's PMD, Open vSwitch's DPDK PMD) sets
//! NO_NOTIFY, so it costs no eventfd write. The driver polls too: it asks
//! for no interrupts (VRING_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX a
//! `used_event` kept one behind what it has read, which the device never
//! crosses).
//!
//! Everything the device writes into the used rings is hostile input: an
//! id out of range or not in flight, a length larger than its buffer (or
//! a receive shorter than the header), a used index more than a ring
//! ahead, or with MRG_RXBUF a `num_buffers` that does not match what was
//! returned, is counted ([`NetStats::rx_bad`], [`NetStats::tx_bad`]) and
//! skipped. Frames are read only inside the buffer the entry names, up to
//! the length checked; nothing panics.
//!
//! Buffers are handed to the caller's closures as slices of the shared
//! mapping while the device does not own them (a transmit buffer before
//! it is made available, a receive buffer between its return and its
//! repost at the end of the call); a device that writes them anyway can
//! only change the bytes the closure sees.

pub mod ring;

use crate::memory::GuestMemory;
use crate::vhost_user::VhostUserNet;
pub use crate::Error;
use ring::{page_up, valid_size, RingLayout, SplitRing, VRING_AVAIL_F_NO_INTERRUPT};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// VIRTIO_NET_F_MTU: the config space holds the device's MTU.
pub const F_MTU: u64 = 1 << 3;
/// VIRTIO_NET_F_MRG_RXBUF: a received frame may span several buffers.
pub const F_MRG_RXBUF: u64 = 1 << 15;
/// VIRTIO_NET_F_MQ: more than one queue pair.
pub const F_MQ: u64 = 1 << 22;
/// VIRTIO_F_RING_EVENT_IDX: notifications by `used_event`/`avail_event`.
pub const F_EVENT_IDX: u64 = 1 << 29;
/// VHOST_USER_F_PROTOCOL_FEATURES: vhost-user protocol features (and
/// SET_VRING_ENABLE).
pub const F_PROTOCOL_FEATURES: u64 = 1 << 30;
/// VIRTIO_F_VERSION_1: a virtio 1.x device (12-byte header, little endian).
pub const F_VERSION_1: u64 = 1 << 32;

/// The features [`NetConfig::default`] asks for, chosen for a polling
/// backend:
///
/// - VERSION_1 (agreed whenever offered anyway): little-endian rings and
///   the 12-byte header;
/// - PROTOCOL_FEATURES: REPLY_ACK (setup errors are reported, not
///   silently ignored), CONFIG (the MTU), SET_VRING_ENABLE;
/// - MRG_RXBUF: costs nothing for frames that fit one buffer (with
///   VERSION_1 the header has `num_buffers` either way) and lets larger
///   frames through instead of having the backend drop them;
/// - MTU: only tells that the config space holds it.
///
/// Not EVENT_IDX: against a backend that polls, both sides end up never
/// notifying with or without it, but with it the device reads
/// `used_event` on each used-index update and writes `avail_event` on
/// each burst — extra shared cache lines for nothing. Ask for it in
/// [`NetConfig::features`] against a backend that sleeps.
pub const DEFAULT_FEATURES: u64 = F_VERSION_1 | F_PROTOCOL_FEATURES | F_MRG_RXBUF | F_MTU;

/// Where the driver's memory sits in the "guest" address space (not 0,
/// so that a guest address taken for a frontend address shows).
pub const GUEST_BASE: u64 = 0x4000_0000;

/// Most bytes of a frame joined from several receive buffers.
pub const MAX_JOINED: usize = 65_536 + 1024;

/// Bytes of driver memory at most (rings and buffers).
const MAX_MEMORY: u64 = 4 << 30;

/// The virtqueue of the receive queue of pair 0.
pub const RX_QUEUE: usize = 0;
/// The virtqueue of the transmit queue of pair 0.
pub const TX_QUEUE: usize = 1;

/// How the driver is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// Entries per queue (a power of two up to 32768).
    pub queue_size: u16,
    /// Bytes per buffer, the virtio-net header included.
    pub buf_size: u32,
    /// Virtio features wanted (agreed: those the backend offers).
    pub features: u64,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            queue_size: 1024,
            buf_size: 2048,
            features: DEFAULT_FEATURES,
        }
    }
}

/// What the driver counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames queued for transmission.
    pub tx_packets: u64,
    /// Bytes of those frames (no header).
    pub tx_bytes: u64,
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes of those frames (no header).
    pub rx_bytes: u64,
    /// Eventfd writes to the device (kicks).
    pub kicks: u64,
    /// `send_with` calls that found the transmit ring full.
    pub tx_full: u64,
    /// Receive used entries skipped: bad id, bad length, inconsistent
    /// `num_buffers`, a used index more than a ring ahead (once per value).
    pub rx_bad: u64,
    /// Transmit used entries skipped: bad id, a used index more than a
    /// ring ahead (once per value).
    pub tx_bad: u64,
}

/// One virtqueue: its ring, its buffers and eventfds.
#[derive(Debug)]
struct Queue {
    layout: RingLayout,
    ring: SplitRing,
    /// Buffer 0 here and in the guest address space.
    bufs: *mut u8,
    buf_gpa: u64,
    kick: EventFd,
    call: EventFd,
    /// The last broken used index counted, so it is counted once.
    bad_idx: Option<u16>,
}

// SAFETY: `bufs` points into the driver's shared mapping, which is not
// tied to a thread; a queue is used only through `&mut` by its owner.
unsafe impl Send for Queue {}

impl Queue {
    /// Pending used entries, or `None` after counting a broken used index
    /// in `bad`.
    #[inline]
    fn pending(&mut self, bad: &mut u64) -> Option<u16> {
        match self.ring.used_pending() {
            Ok(n) => Some(n),
            Err(idx) => {
                if self.bad_idx != Some(idx) {
                    self.bad_idx = Some(idx);
                    *bad += 1;
                }
                None
            }
        }
    }

    /// Publishes the avail index; kicks if the device asked.
    #[inline]
    fn publish(&mut self, kicks: &mut u64) {
        if self.ring.publish() {
            // A full counter (EAGAIN) means the device has a kick pending
            // anyway.
            let _ = self.kick.write(1);
            *kicks += 1;
        }
    }
}

/// The virtio-net driver (see the module documentation).
#[derive(Debug)]
pub struct NetDriver {
    conn: VhostUserNet,
    rx: Queue,
    tx: Queue,
    features: u64,
    hdr_len: usize,
    buf_size: usize,
    mrg: bool,
    stats: NetStats,
    /// Transmit descriptors the driver owns (capacity: the queue size).
    tx_free: Vec<u16>,
    /// Receive descriptors returned in this call, reposted at its end
    /// (capacity: the queue size).
    rx_done: Vec<u16>,
    /// Where a frame over several receive buffers is joined.
    scratch: Box<[u8]>,
    /// Declared last: the rings point into it.
    mem: GuestMemory,
}

impl NetDriver {
    /// Sets the device up over `conn` (see the module documentation) and
    /// returns it running.
    pub fn start(mut conn: VhostUserNet, cfg: &NetConfig) -> Result<NetDriver, Error> {
        let qs = cfg.queue_size;
        if !valid_size(qs) {
            return Err(Error::QueueSize(qs));
        }
        let buf_size = cfg.buf_size as usize;
        if !(128..=MAX_JOINED as u32).contains(&cfg.buf_size) {
            return Err(Error::Config(format!(
                "buffer size {} is not between 128 and {MAX_JOINED} bytes",
                cfg.buf_size
            )));
        }

        // The memory: queue 0's rings, queue 1's, then the buffers.
        let (rx_layout, at) = RingLayout::packed_at(GUEST_BASE, qs);
        let (tx_layout, at) = RingLayout::packed_at(at, qs);
        let per_queue = u64::from(qs) * u64::from(cfg.buf_size);
        let rx_bufs = at;
        let tx_bufs = rx_bufs + per_queue;
        let size = page_up(tx_bufs + per_queue) - GUEST_BASE;
        if size > MAX_MEMORY {
            return Err(Error::Config(format!(
                "{qs} entries of {} bytes per queue need {size} bytes, more than {MAX_MEMORY}",
                cfg.buf_size
            )));
        }
        let mem = GuestMemory::new(&[(GUEST_BASE, size)])?;

        let features = conn.negotiate(cfg.features)?;
        let event_idx = features & F_EVENT_IDX != 0;
        let mrg = features & F_MRG_RXBUF != 0;
        let hdr_len = if features & (F_VERSION_1 | F_MRG_RXBUF) != 0 {
            12
        } else {
            10
        };

        let mut rx = make_queue(&mem, rx_layout, rx_bufs, per_queue, event_idx)?;
        let mut tx = make_queue(&mem, tx_layout, tx_bufs, per_queue, event_idx)?;
        for id in 0..qs {
            let off = u64::from(id) * u64::from(cfg.buf_size);
            rx.ring.write_desc(
                id,
                rx.buf_gpa + off,
                cfg.buf_size,
                ring::VRING_DESC_F_WRITE,
                0,
            );
            rx.ring.push_avail(id);
            tx.ring.write_desc(id, tx.buf_gpa + off, 0, 0, 0);
        }
        for q in [&mut rx, &mut tx] {
            if event_idx {
                q.ring.suppress_used_event();
            } else {
                q.ring.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
            }
        }
        // Every receive buffer is available before the device looks; no
        // kick (there is no kick eventfd yet).
        rx.ring.publish();

        conn.set_mem_table(&mem)?;
        for (q, queue) in [(RX_QUEUE, &rx), (TX_QUEUE, &tx)] {
            let l = queue.layout;
            conn.setup_queue(q, l.size, l.desc, l.avail, l.used, &queue.kick, &queue.call)?;
        }
        conn.enable_queue(RX_QUEUE, true)?;
        conn.enable_queue(TX_QUEUE, true)?;

        // One kick, so that a backend that does not poll learns of the
        // receive buffers posted before it had the kick eventfd.
        let mut stats = NetStats::default();
        if rx.kick.write(1).is_ok() {
            stats.kicks += 1;
        }
        Ok(NetDriver {
            conn,
            rx,
            tx,
            features,
            hdr_len,
            buf_size,
            mrg,
            stats,
            tx_free: (0..qs).rev().collect(),
            rx_done: Vec::with_capacity(usize::from(qs)),
            scratch: vec![0u8; MAX_JOINED].into_boxed_slice(),
            mem,
        })
    }

    /// The virtio features agreed.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Bytes of `virtio_net_hdr` before each frame: 12 with VERSION_1 or
    /// MRG_RXBUF, else 10.
    pub fn header_len(&self) -> usize {
        self.hdr_len
    }

    /// The largest frame one buffer holds.
    pub fn max_frame(&self) -> usize {
        self.buf_size - self.hdr_len
    }

    /// Entries per queue.
    pub fn queue_size(&self) -> u16 {
        self.rx.layout.size
    }

    /// The counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Whether the backend hung up (polls the socket, does not block).
    pub fn peer_closed(&self) -> bool {
        self.conn.peer_closed()
    }

    /// The control connection (for the MTU, or to stop queues).
    pub fn connection(&mut self) -> &mut VhostUserNet {
        &mut self.conn
    }

    /// The shared memory.
    pub fn memory(&self) -> &GuestMemory {
        &self.mem
    }

    /// Guest addresses of queue `q`'s rings (0: receive, 1: transmit).
    pub fn ring_layout(&self, q: usize) -> Option<RingLayout> {
        match q {
            RX_QUEUE => Some(self.rx.layout),
            TX_QUEUE => Some(self.tx.layout),
            _ => None,
        }
    }

    /// Transmit descriptors the device holds.
    pub fn tx_in_flight(&self) -> usize {
        usize::from(self.tx.layout.size) - self.tx_free.len()
    }

    /// Takes back the transmit buffers the device is done with.
    #[inline]
    fn reap_tx(&mut self) {
        let Some(n) = self.tx.pending(&mut self.stats.tx_bad) else {
            return;
        };
        for _ in 0..n {
            match self.tx.ring.take_used() {
                // Every id taken was in flight, so the stack never
                // outgrows its capacity.
                Ok((id, _)) => self.tx_free.push(id),
                Err(_) => self.stats.tx_bad += 1,
            }
        }
        if n > 0 {
            self.tx.ring.suppress_used_event();
        }
    }

    /// Transmits up to `n` frames: `build(buf)` writes one frame (no
    /// virtio header; a zero header goes in front) into `buf`
    /// ([`NetDriver::max_frame`] bytes) and returns its length, 0 to stop
    /// (longer is cut to the buffer). Returns how many were queued: fewer
    /// when the ring is full ([`NetStats::tx_full`]). Used transmit
    /// entries are reaped first; one avail-index store per call, a kick
    /// only if the device asked.
    pub fn send_with(&mut self, n: usize, mut build: impl FnMut(&mut [u8]) -> usize) -> usize {
        self.reap_tx();
        let hdr = self.hdr_len;
        let max = self.buf_size - hdr;
        let mut sent = 0;
        while sent < n {
            let Some(id) = self.tx_free.pop() else {
                self.stats.tx_full += 1;
                break;
            };
            // SAFETY: `id < queue_size` (ids on the free stack come from
            // `0..qs` or were checked by `take_used`), so the buffer
            // `[id * buf_size, +buf_size)` lies inside the transmit
            // buffers mapped at `bufs`. The device does not own it (not
            // in flight), and nothing else in this process refers to it
            // while `frame` lives.
            let frame = unsafe {
                let b = self.tx.bufs.add(usize::from(id) * self.buf_size);
                std::ptr::write_bytes(b, 0, hdr);
                std::slice::from_raw_parts_mut(b.add(hdr), max)
            };
            let len = build(frame).min(max);
            if len == 0 {
                self.tx_free.push(id);
                break;
            }
            self.tx.ring.set_desc_len(id, (hdr + len) as u32);
            self.tx.ring.push_avail(id);
            self.stats.tx_bytes += len as u64;
            sent += 1;
        }
        self.stats.tx_packets += sent as u64;
        self.tx.publish(&mut self.stats.kicks);
        sent
    }

    /// Receives up to `max` frames, each passed to `f` without its
    /// header; with MRG_RXBUF a frame over several buffers is joined
    /// first. The buffers are reposted at the end (one avail-index store,
    /// a kick only if the device asked). Returns how many frames `f` saw.
    pub fn recv_with(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        if max == 0 {
            return 0;
        }
        // Nothing new: no store at all (an empty poll must not dirty the
        // cache lines the device reads).
        let mut left = match self.rx.pending(&mut self.stats.rx_bad) {
            Some(0) | None => return 0,
            Some(n) => n,
        };
        let hdr = self.hdr_len;
        let bs = self.buf_size;
        let mut frames = 0;
        while frames < max && left > 0 {
            left -= 1;
            let (id, len) = match self.rx.ring.take_used() {
                Ok(e) => e,
                Err(_) => {
                    self.stats.rx_bad += 1;
                    continue;
                }
            };
            // Taken from the device: ours until reposted below (once,
            // since `take_used` hands out each id once).
            self.rx_done.push(id);
            let len = len as usize;
            if len > bs || len < hdr {
                self.stats.rx_bad += 1;
                continue;
            }
            // SAFETY: `id < queue_size` (checked by `take_used`), so the
            // buffer `[id * buf_size, +buf_size)` lies inside the receive
            // buffers, and `len <= buf_size`. The device returned it and
            // gets it back only at the end of this call.
            let data =
                unsafe { std::slice::from_raw_parts(self.rx.bufs.add(usize::from(id) * bs), len) };
            let nbufs = if self.mrg {
                u16::from_le_bytes([data[10], data[11]])
            } else {
                1
            };
            if nbufs == 1 {
                self.stats.rx_bytes += (len - hdr) as u64;
                f(&data[hdr..]);
                frames += 1;
                continue;
            }
            // The rest of the frame must already be in the used ring.
            if nbufs == 0 || nbufs - 1 > left {
                self.stats.rx_bad += 1;
                continue;
            }
            let mut joined = len - hdr;
            self.scratch[..joined].copy_from_slice(&data[hdr..]);
            let mut ok = true;
            for _ in 1..nbufs {
                left -= 1;
                match self.rx.ring.take_used() {
                    Ok((id, len)) => {
                        self.rx_done.push(id);
                        let len = len as usize;
                        if !ok || len > bs || joined + len > self.scratch.len() {
                            ok = false;
                            continue;
                        }
                        // SAFETY: as above: `id` checked, `len <= buf_size`.
                        let more = unsafe {
                            std::slice::from_raw_parts(self.rx.bufs.add(usize::from(id) * bs), len)
                        };
                        self.scratch[joined..joined + len].copy_from_slice(more);
                        joined += len;
                    }
                    Err(_) => ok = false,
                }
            }
            if ok {
                self.stats.rx_bytes += joined as u64;
                f(&self.scratch[..joined]);
                frames += 1;
            } else {
                self.stats.rx_bad += 1;
            }
        }
        self.stats.rx_packets += frames as u64;
        for &id in &self.rx_done {
            self.rx.ring.push_avail(id);
        }
        self.rx_done.clear();
        self.rx.ring.suppress_used_event();
        self.rx.publish(&mut self.stats.kicks);
        frames
    }
}

/// A queue whose rings are at `layout` and `size` bytes of buffers at
/// `bufs` (guest addresses inside `mem`).
fn make_queue(
    mem: &GuestMemory,
    layout: RingLayout,
    bufs: u64,
    size: u64,
    event_idx: bool,
) -> Result<Queue, Error> {
    let qs = layout.size;
    let ptr = |gpa: u64, len: usize| {
        mem.host_ptr(gpa, len).ok_or_else(|| {
            Error::Config(format!(
                "internal: {gpa:#x}+{len} is outside the driver's memory"
            ))
        })
    };
    let desc = ptr(layout.desc, RingLayout::desc_len(qs))?;
    let avail = ptr(layout.avail, RingLayout::avail_len(qs))?;
    let used = ptr(layout.used, RingLayout::used_len(qs))?;
    let host_bufs = ptr(bufs, usize::try_from(size).unwrap_or(usize::MAX))?;
    // SAFETY: the three parts were just found inside `mem` with their full
    // lengths; `packed_at` aligns them (desc and used on pages, avail
    // right after 16-byte descriptors); `mem` is kept in the same
    // `NetDriver` as the ring and outlives it; only this ring accesses
    // them in this process.
    let ring = unsafe { SplitRing::new(qs, desc, avail, used, 0, event_idx) };
    let eventfd = || EventFd::new(EFD_NONBLOCK).map_err(Error::EventFd);
    Ok(Queue {
        layout,
        ring,
        bufs: host_bufs,
        buf_gpa: bufs,
        kick: eventfd()?,
        call: eventfd()?,
        bad_idx: None,
    })
}
