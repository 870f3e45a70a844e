//! Split virtqueues in a frontend's memory, as the poll-mode thread walks
//! them: taking the frames a guest transmits (its TX queues) and filling the
//! buffers it posts for receiving (its RX queues).
//!
//! Everything the frontend wrote is untrusted: ring indices, descriptor
//! indices, chain links, addresses, lengths and flags. Every access goes
//! through [`Guest`], which refuses addresses outside the regions the
//! frontend shared; each descriptor is read once and used as read (a guest
//! rewriting it meanwhile changes nothing); a chain is cut after as many
//! links as the queue has entries. A bad entry drops its packet with a
//! [`Fault`] reason; a bad avail index breaks the queue until the frontend
//! sets it up again.
//!
//! [`Guest`] translates a guest address range that lies within one region
//! with a short search over the (few) regions and copies with plain memory
//! operations; anything else (a range across two regions) goes through
//! `vm-memory`'s general accessors. Measured with testpmd: `vm-memory`'s
//! per-access region iteration alone took over half of the PMD's time.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// One mapped region: guest physical start, length, where it is mapped
/// here.
#[derive(Debug, Clone, Copy)]
struct HostRegion {
    gpa: u64,
    len: u64,
    host: *mut u8,
}

/// A frontend's memory as the data path reads and writes it.
#[derive(Debug, Clone)]
pub struct Guest {
    mem: Arc<GuestMemoryMmap>,
    regions: Vec<HostRegion>,
    /// The CPU has PREFETCHW (prefetch for writing).
    prefetchw: bool,
}

// SAFETY: the raw pointers point into the mappings `mem` owns (an `Arc`
// kept alongside), which are valid for as long as this value exists and
// may be used from any thread; all access through them is by copies and
// atomics, never references.
unsafe impl Send for Guest {}
// SAFETY: as above; `Guest` has no interior mutability of its own.
unsafe impl Sync for Guest {}

impl Guest {
    /// The fast view of `mem` (which it keeps alive).
    pub fn new(mem: Arc<GuestMemoryMmap>) -> Guest {
        let regions = GuestMemoryBackend::iter(&*mem)
            .filter_map(|r| {
                let host = r.get_host_address(vm_memory::MemoryRegionAddress(0)).ok()?;
                Some(HostRegion {
                    gpa: r.start_addr().0,
                    len: r.len(),
                    host,
                })
            })
            .collect();
        #[cfg(target_arch = "x86_64")]
        // CPUID 8000_0001h ECX bit 8: PREFETCHW (3DNowPrefetch).
        let prefetchw = (std::arch::x86_64::__cpuid(0x8000_0001).ecx >> 8) & 1 == 1;
        #[cfg(not(target_arch = "x86_64"))]
        let prefetchw = false;
        Guest {
            mem,
            regions,
            prefetchw,
        }
    }

    /// The memory, for `vm-memory`'s accessors.
    pub fn mem(&self) -> &GuestMemoryMmap {
        &self.mem
    }

    /// The host address of `[gpa, gpa + len)` if it lies in one region.
    #[inline]
    fn host(&self, gpa: u64, len: usize) -> Option<*mut u8> {
        let end = gpa.checked_add(len as u64)?;
        for r in &self.regions {
            if gpa >= r.gpa && end <= r.gpa + r.len {
                // SAFETY: `gpa - r.gpa` is below `r.len`, the size of the
                // mapping `r.host` starts (checked just above).
                return Some(unsafe { r.host.add((gpa - r.gpa) as usize) });
            }
        }
        None
    }

    /// Asks the CPU to start loading the cache line at `gpa` (nothing
    /// happens for an address outside the memory). A frame's buffer was
    /// last touched by the guest's CPU; fetching the next one while this
    /// one is copied hides that miss.
    #[inline]
    pub fn prefetch(&self, gpa: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.host(gpa, 1) {
            // SAFETY: a prefetch is a hint: it reads nothing the program
            // sees and cannot fault; `p` is inside a live mapping anyway.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    p.cast::<i8>(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = gpa;
    }

    /// Like [`Guest::prefetch`], for a line about to be written: the
    /// line is fetched for ownership, so the store that follows does not
    /// wait for the guest's CPU to give it up. A plain prefetch where the
    /// CPU lacks PREFETCHW.
    #[inline]
    pub fn prefetch_write(&self, gpa: u64) {
        #[cfg(target_arch = "x86_64")]
        if self.prefetchw {
            if let Some(p) = self.host(gpa, 1) {
                // SAFETY: PREFETCHW (checked present) is a hint: it
                // changes no register, memory or flag the program sees and
                // cannot fault.
                unsafe {
                    std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
                }
            }
            return;
        }
        self.prefetch(gpa);
    }

    /// Copies guest memory at `gpa` into `buf`.
    #[inline]
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        match self.host(gpa, buf.len()) {
            Some(p) => {
                // SAFETY: `p..p+buf.len()` lies inside a live mapping
                // (checked by `host`); `buf` is ours and cannot overlap it
                // (guest memory is never handed out as a Rust slice).
                unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
                Ok(())
            }
            None => self
                .mem
                .read_slice(buf, GuestAddress(gpa))
                .map_err(|_| Fault::BadAddress),
        }
    }

    /// Copies `buf` into guest memory at `gpa`.
    #[inline]
    pub fn write(&self, gpa: u64, buf: &[u8]) -> Result<(), Fault> {
        match self.host(gpa, buf.len()) {
            Some(p) => {
                // SAFETY: as in `read`, the other way round.
                unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, buf.len()) };
                Ok(())
            }
            None => self
                .mem
                .write_slice(buf, GuestAddress(gpa))
                .map_err(|_| Fault::BadAddress),
        }
    }

    /// Reads `N` bytes (a descriptor, a used entry): a fixed-size copy the
    /// compiler turns into a few moves.
    #[inline]
    pub fn read_array<const N: usize>(&self, gpa: u64) -> Result<[u8; N], Fault> {
        match self.host(gpa, N) {
            // SAFETY: `p..p+N` lies inside a live mapping (checked by
            // `host`); an unaligned read of plain bytes.
            Some(p) => Ok(unsafe { std::ptr::read_unaligned(p.cast::<[u8; N]>()) }),
            None => {
                let mut b = [0u8; N];
                self.read(gpa, &mut b)?;
                Ok(b)
            }
        }
    }

    /// Writes `N` bytes, as [`Guest::read_array`] reads them.
    #[inline]
    pub fn write_array<const N: usize>(&self, gpa: u64, v: [u8; N]) -> Result<(), Fault> {
        match self.host(gpa, N) {
            Some(p) => {
                // SAFETY: as in `read_array`.
                unsafe { std::ptr::write_unaligned(p.cast::<[u8; N]>(), v) };
                Ok(())
            }
            None => self.write(gpa, &v),
        }
    }

    /// An atomic 16-bit load (ring indices and flags).
    #[inline]
    pub fn load_u16(&self, gpa: u64, order: Ordering) -> Result<u16, Fault> {
        match self.host(gpa, 2) {
            Some(p) if p as usize % 2 == 0 => {
                // SAFETY: `p` is 2-byte aligned and points to 2 bytes of a
                // live mapping that other processes access only through
                // atomic or plain memory operations, never Rust references.
                Ok(unsafe { AtomicU16::from_ptr(p.cast::<u16>()) }.load(order))
            }
            _ => self
                .mem
                .load::<u16>(GuestAddress(gpa), order)
                .map_err(|_| Fault::BadAddress),
        }
    }

    /// An atomic 16-bit store.
    #[inline]
    pub fn store_u16(&self, gpa: u64, v: u16, order: Ordering) -> Result<(), Fault> {
        match self.host(gpa, 2) {
            Some(p) if p as usize % 2 == 0 => {
                // SAFETY: as in `load_u16`.
                unsafe { AtomicU16::from_ptr(p.cast::<u16>()) }.store(v, order);
                Ok(())
            }
            _ => self
                .mem
                .store(v, GuestAddress(gpa), order)
                .map_err(|_| Fault::BadAddress),
        }
    }
}

/// Descriptor flag: the chain goes on at `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (else it reads it).
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer is a table of descriptors.
pub const VRING_DESC_F_INDIRECT: u16 = 4;
/// Used-ring flag: the driver need not kick.
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;
/// Avail-ring flag: the device need not interrupt.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Why a packet (or a queue) was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Fault {
    /// The avail index moved by more than the queue size: the queue is
    /// broken until the frontend sets it up again.
    BadAvailIndex,
    /// A head or `next` index past the end of the descriptor table.
    BadDescIndex,
    /// A chain longer than the queue (a loop).
    ChainTooLong,
    /// An indirect descriptor (not negotiated).
    Indirect,
    /// A device-writable buffer where the device must read (a guest's
    /// transmit), or a read-only one where it must write (its receive).
    WrongDirection,
    /// An address or length outside the memory the frontend shared.
    BadAddress,
    /// Less than a `virtio_net_hdr` before the frame.
    ShortHeader,
    /// A frame longer than a packet buffer holds, or shorter than an
    /// Ethernet header.
    BadLength,
    /// The guest posted too few receive buffers for a frame.
    NoRxBuffers,
    /// The queue is not running (not set up, disabled or stopped).
    NotReady,
}

impl Fault {
    /// Number of reasons.
    pub const COUNT: usize = 10;

    /// Every reason, in counter order.
    pub const ALL: [Fault; Fault::COUNT] = [
        Fault::BadAvailIndex,
        Fault::BadDescIndex,
        Fault::ChainTooLong,
        Fault::Indirect,
        Fault::WrongDirection,
        Fault::BadAddress,
        Fault::ShortHeader,
        Fault::BadLength,
        Fault::NoRxBuffers,
        Fault::NotReady,
    ];

    /// A short name for counters.
    pub fn name(self) -> &'static str {
        match self {
            Fault::BadAvailIndex => "bad_avail_index",
            Fault::BadDescIndex => "bad_descriptor_index",
            Fault::ChainTooLong => "chain_too_long",
            Fault::Indirect => "indirect_descriptor",
            Fault::WrongDirection => "wrong_direction",
            Fault::BadAddress => "bad_address",
            Fault::ShortHeader => "short_header",
            Fault::BadLength => "bad_length",
            Fault::NoRxBuffers => "no_rx_buffers",
            Fault::NotReady => "queue_not_ready",
        }
    }
}

/// Where a running split queue lives (guest physical addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    /// Entries (a power of two, at most 32768).
    pub size: u16,
    pub desc: GuestAddress,
    pub avail: GuestAddress,
    pub used: GuestAddress,
    /// VIRTIO_RING_F_EVENT_IDX was negotiated.
    pub event_idx: bool,
}

impl RingLayout {
    /// Whether the three parts lie inside `mem` (checked once when the
    /// queue starts; entries are still checked one by one).
    pub fn fits(&self, mem: &Guest) -> bool {
        let n = u64::from(self.size);
        let parts = [
            (self.desc, 16 * n),
            (self.avail, 6 + 2 * n),
            (self.used, 6 + 8 * n),
        ];
        self.size.is_power_of_two()
            && parts.iter().all(|(a, len)| {
                let mut buf = [0u8; 1];
                a.0.checked_add(len - 1).is_some()
                    && mem.read(a.0, &mut buf).is_ok()
                    && mem.read(a.0 + len - 1, &mut buf).is_ok()
            })
    }
}

/// One descriptor as read (once) from the table.
#[derive(Debug, Clone, Copy)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

fn read_desc(mem: &Guest, l: &RingLayout, i: u16) -> Result<Desc, Fault> {
    if i >= l.size {
        return Err(Fault::BadDescIndex);
    }
    let b: [u8; 16] = mem.read_array(l.desc.0 + 16 * u64::from(i))?;
    Ok(Desc {
        addr: u64::from_le_bytes(b[0..8].try_into().unwrap_or_default()),
        len: u32::from_le_bytes(b[8..12].try_into().unwrap_or_default()),
        flags: u16::from_le_bytes([b[12], b[13]]),
        next: u16::from_le_bytes([b[14], b[15]]),
    })
}

/// The device's position in one queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingState {
    /// Next avail entry to take.
    pub last_avail: u16,
    /// Next used entry to fill.
    pub used_idx: u16,
    /// `used_idx` when the frontend was last told (for EVENT_IDX).
    pub signalled_used: u16,
    /// Set when the queue is unusable until set up again.
    pub broken: bool,
    /// Entries known to be available beyond `last_avail` (from the last
    /// look at the avail index), so that a burst reads the index once,
    /// not once per frame.
    pub known: u16,
}

impl RingState {
    /// Starts at `base` (SET_VRING_BASE) and the used index the frontend
    /// left in memory; tells the driver not to kick (this side polls).
    ///
    /// When the two disagree, the used index wins for both: a frontend
    /// that reconnects to a new backend may send base 0 for a ring it has
    /// used (DPDK's virtio-user does), and going by it would replay stale
    /// entries. Every entry before the used index was completed.
    pub fn start(mem: &Guest, l: &RingLayout, base: u16) -> RingState {
        let used_idx = mem
            .load_u16(l.used.0 + 2, Ordering::Acquire)
            .unwrap_or(base);
        let s = RingState {
            last_avail: used_idx,
            used_idx,
            signalled_used: used_idx,
            broken: false,
            known: 0,
        };
        if !l.event_idx {
            let _ = mem.store_u16(l.used.0, VRING_USED_F_NO_NOTIFY, Ordering::Release);
        }
        s.suppress_kicks(mem, l);
        s
    }

    /// With EVENT_IDX, keeps `avail_event` one behind what was taken, so the
    /// driver's "kick if it crossed avail_event" never fires.
    fn suppress_kicks(&self, mem: &Guest, l: &RingLayout) {
        if l.event_idx {
            let at = l.used.0 + 4 + 8 * u64::from(l.size);
            let _ = mem.store_u16(at, self.last_avail.wrapping_sub(1), Ordering::Release);
        }
    }

    /// How many entries the driver has made available beyond ours; a jump
    /// of more than the queue size breaks the queue: that is reported once
    /// as [`Fault::BadAvailIndex`], and afterwards as [`Fault::NotReady`]
    /// until the frontend sets the queue up again.
    pub fn pending(&mut self, mem: &Guest, l: &RingLayout) -> Result<u16, Fault> {
        if self.broken {
            return Err(Fault::NotReady);
        }
        let idx = mem.load_u16(l.avail.0 + 2, Ordering::Acquire)?;
        let n = idx.wrapping_sub(self.last_avail);
        if n > l.size {
            self.broken = true;
            return Err(Fault::BadAvailIndex);
        }
        Ok(n)
    }

    /// Prefetches the buffer of the avail entry `ahead` places after the
    /// next one (its first descriptor's first cache line, past
    /// `skip` bytes of header). Reads the avail ring and the descriptor
    /// table, which are needed for that entry soon anyway; checks nothing
    /// and changes nothing.
    #[inline]
    pub fn prefetch(&self, mem: &Guest, l: &RingLayout, ahead: u16, skip: u64, write: bool) {
        let slot = u64::from(self.last_avail.wrapping_add(ahead) & (l.size - 1));
        let Ok(head) = mem.load_u16(l.avail.0 + 4 + 2 * slot, Ordering::Relaxed) else {
            return;
        };
        if let Ok(d) = read_desc(mem, l, head) {
            if write {
                mem.prefetch_write(d.addr.wrapping_add(skip));
            } else {
                mem.prefetch(d.addr.wrapping_add(skip));
            }
        }
        // The used entry this frame will take, a few entries ahead (eight
        // share a cache line, which the driver reads).
        let used = u64::from(self.used_idx.wrapping_add(ahead).wrapping_add(4) & (l.size - 1));
        mem.prefetch_write(l.used.0 + 4 + 8 * used);
    }

    /// How many entries look available, for prefetching only: changes
    /// nothing (a bad index is [`RingState::pending`]'s to report) and says
    /// 0 for anything odd.
    #[inline]
    pub fn peek_pending(&self, mem: &Guest, l: &RingLayout) -> u16 {
        if self.known > 0 {
            return self.known;
        }
        match mem.load_u16(l.avail.0 + 2, Ordering::Acquire) {
            Ok(idx) if !self.broken && idx.wrapping_sub(self.last_avail) <= l.size => {
                idx.wrapping_sub(self.last_avail)
            }
            _ => 0,
        }
    }

    /// The head index of the next avail entry (which is then taken).
    fn take_head(&mut self, mem: &Guest, l: &RingLayout) -> Result<u16, Fault> {
        let slot = u64::from(self.last_avail & (l.size - 1));
        let head = mem.load_u16(l.avail.0 + 4 + 2 * slot, Ordering::Relaxed)?;
        self.last_avail = self.last_avail.wrapping_add(1);
        Ok(head)
    }

    /// Fills the next used entry (the index is published by [`flush`]).
    ///
    /// [`flush`]: RingState::flush
    fn put_used(&mut self, mem: &Guest, l: &RingLayout, id: u16, len: u32) {
        let slot = u64::from(self.used_idx & (l.size - 1));
        let at = l.used.0 + 4 + 8 * slot;
        let mut e = [0u8; 8];
        e[0..4].copy_from_slice(&u32::from(id).to_le_bytes());
        e[4..8].copy_from_slice(&len.to_le_bytes());
        let _ = mem.write_array(at, e);
        self.used_idx = self.used_idx.wrapping_add(1);
    }

    /// Publishes the used index (once per burst) and says whether the
    /// frontend wants to be told (its call eventfd written).
    pub fn flush(&mut self, mem: &Guest, l: &RingLayout) -> bool {
        let _ = mem.store_u16(l.used.0 + 2, self.used_idx, Ordering::Release);
        self.suppress_kicks(mem, l);
        std::sync::atomic::fence(Ordering::SeqCst);
        let old = self.signalled_used;
        let new = self.used_idx;
        if old == new {
            return false;
        }
        let notify = if l.event_idx {
            let at = l.avail.0 + 4 + 2 * u64::from(l.size);
            match mem.load_u16(at, Ordering::Acquire) {
                Ok(event) => new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old),
                Err(_) => true,
            }
        } else {
            mem.load_u16(l.avail.0, Ordering::Acquire)
                .map_or(true, |f| f & VRING_AVAIL_F_NO_INTERRUPT == 0)
        };
        self.signalled_used = new;
        notify
    }

    /// Takes the next frame a guest transmitted: skips the `hdr_len`
    /// bytes of `virtio_net_hdr`, copies the frame into `out` and returns
    /// its length. The chain goes back to the used ring whatever happens.
    pub fn pop_tx(
        &mut self,
        mem: &Guest,
        l: &RingLayout,
        hdr_len: usize,
        out: &mut [u8],
    ) -> Result<usize, Fault> {
        let head = self.take_head(mem, l)?;
        let r = read_tx_chain(mem, l, head, hdr_len, out);
        self.put_used(mem, l, head, 0);
        r
    }

    /// Gives `frame` to the guest through its receive queue, behind a
    /// `virtio_net_hdr` of `hdr_len` bytes; with `mergeable`, over as many
    /// posted buffers as it takes (`num_buffers`). Without enough buffers
    /// nothing is consumed.
    pub fn push_rx(
        &mut self,
        mem: &Guest,
        l: &RingLayout,
        hdr_len: usize,
        mergeable: bool,
        frame: &[u8],
    ) -> Result<(), Fault> {
        const MAX_BUFS: usize = 64;
        let mut avail = if self.known > 0 {
            self.known
        } else {
            self.pending(mem, l)?
        };
        let start = *self;
        let total = hdr_len + frame.len();
        let mut done = 0usize;
        // Used entries are written as buffers are filled: the guest sees
        // none of them until `flush` publishes the used index, so a
        // failure only has to rewind the indices (no array of entries to
        // zero per frame: that was 64 stores a frame).
        let mut n = 0usize;
        // Where the header's num_buffers field went (it may straddle two
        // descriptors in a hostile layout).
        let mut nb_at: [Option<u64>; 2] = [None, None];
        while done < total {
            if avail == 0 && n < MAX_BUFS {
                // What was known ran out: look at the index again.
                avail = match self.pending(mem, l) {
                    Ok(a) => a,
                    Err(f) => {
                        // Rewind the indices but keep `broken`: a bad
                        // index is reported once, then NotReady.
                        let broken = self.broken;
                        *self = start;
                        self.broken = broken;
                        self.known = 0;
                        return Err(f);
                    }
                };
            }
            if avail == 0 || n == MAX_BUFS || (!mergeable && n == 1) {
                *self = start;
                return Err(if n > 0 && !mergeable {
                    Fault::BadLength
                } else {
                    Fault::NoRxBuffers
                });
            }
            avail -= 1;
            let head = match self.take_head(mem, l) {
                Ok(h) => h,
                Err(f) => {
                    *self = start;
                    return Err(f);
                }
            };
            match write_rx_chain(mem, l, head, hdr_len, frame, done, &mut nb_at) {
                Ok(w) => {
                    self.put_used(mem, l, head, w as u32);
                    n += 1;
                    done += w;
                }
                Err(f) => {
                    *self = start;
                    return Err(f);
                }
            }
        }
        let nb = (n as u16).to_le_bytes();
        match nb_at {
            [Some(a), Some(b)] if b == a + 1 => {
                let _ = mem.write_array(a, nb);
            }
            _ => {
                for (i, at) in nb_at.iter().enumerate() {
                    if let Some(a) = at {
                        let _ = mem.write_array(*a, [nb[i]]);
                    }
                }
            }
        }
        self.known = avail;
        Ok(())
    }
}

fn read_tx_chain(
    mem: &Guest,
    l: &RingLayout,
    head: u16,
    hdr_len: usize,
    out: &mut [u8],
) -> Result<usize, Fault> {
    let mut idx = head;
    let mut skip = hdr_len;
    let mut len = 0usize;
    for _ in 0..l.size {
        let d = read_desc(mem, l, idx)?;
        if d.flags & VRING_DESC_F_INDIRECT != 0 {
            return Err(Fault::Indirect);
        }
        if d.flags & VRING_DESC_F_WRITE != 0 {
            return Err(Fault::WrongDirection);
        }
        let mut addr = d.addr;
        let mut n = d.len as usize;
        let s = skip.min(n);
        skip -= s;
        n -= s;
        addr = addr.checked_add(s as u64).ok_or(Fault::BadAddress)?;
        if n > 0 {
            let dst = out.get_mut(len..len + n).ok_or(Fault::BadLength)?;
            mem.read(addr, dst)?;
            len += n;
        }
        if d.flags & VRING_DESC_F_NEXT == 0 {
            if skip > 0 {
                return Err(Fault::ShortHeader);
            }
            if len < 14 {
                return Err(Fault::BadLength);
            }
            return Ok(len);
        }
        idx = d.next;
    }
    Err(Fault::ChainTooLong)
}

/// Writes the part of header + frame that starts at `from` into the chain
/// at `head`; returns how many bytes it took.
fn write_rx_chain(
    mem: &Guest,
    l: &RingLayout,
    head: u16,
    hdr_len: usize,
    frame: &[u8],
    from: usize,
    nb_at: &mut [Option<u64>; 2],
) -> Result<usize, Fault> {
    let total = hdr_len + frame.len();
    let mut pos = from;
    let mut idx = head;
    for _ in 0..l.size {
        let d = read_desc(mem, l, idx)?;
        if d.flags & VRING_DESC_F_INDIRECT != 0 {
            return Err(Fault::Indirect);
        }
        if d.flags & VRING_DESC_F_WRITE == 0 {
            return Err(Fault::WrongDirection);
        }
        let mut off = 0usize;
        let room = d.len as usize;
        while off < room && pos < total {
            let addr = d.addr.checked_add(off as u64).ok_or(Fault::BadAddress)?;
            if pos < hdr_len {
                // The header: zero (no offloads) but num_buffers, filled
                // in once the buffers are counted.
                let n = (hdr_len - pos).min(room - off);
                if n == 12 {
                    mem.write_array(addr, [0u8; 12])?;
                } else {
                    mem.write(addr, &[0u8; 12][..n])?;
                }
                for k in 0..n {
                    let hp = pos + k;
                    if hdr_len == 12 && (hp == 10 || hp == 11) {
                        nb_at[hp - 10] = Some(addr + k as u64);
                    }
                }
                pos += n;
                off += n;
            } else {
                let fpos = pos - hdr_len;
                let n = (frame.len() - fpos).min(room - off);
                mem.write(addr, &frame[fpos..fpos + n])?;
                pos += n;
                off += n;
            }
        }
        if d.flags & VRING_DESC_F_NEXT == 0 || pos >= total {
            if pos == from {
                // A chain with no room at all.
                return Err(Fault::BadLength);
            }
            return Ok(pos - from);
        }
        idx = d.next;
    }
    Err(Fault::ChainTooLong)
}
