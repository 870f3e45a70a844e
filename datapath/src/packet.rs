//! Packet buffers and batches.
//!
//! A [`Packet`] owns a fixed-size buffer allocated once, when its
//! [`PacketPool`] is made; the frame sits at an offset inside it so that
//! headers (a VLAN tag now, VXLAN later) can be pushed in front without a copy
//! of the payload. A [`Batch`] holds up to [`BATCH_SIZE`] packets; it is the
//! unit in which the fast path receives, looks up, executes and transmits.
//!
//! Nothing here allocates after construction: packets move between the pool,
//! batches and transmit queues, whose capacities are reserved up front.

use crate::extract::HeaderOffsets;

/// Packets per batch, as in DPDK and Open vSwitch (`NETDEV_MAX_BURST`).
pub const BATCH_SIZE: usize = 32;

/// Bytes reserved in front of a received frame for pushed headers.
pub const HEADROOM: usize = 128;

/// Largest frame a default buffer holds (a 1500-byte MTU frame with VLAN tags
/// fits, as does a 2 KiB jumbo-less DPDK mbuf's worth).
pub const DEFAULT_FRAME_ROOM: usize = 2048;

/// A datapath port number.
pub type PortNo = u32;

/// One packet: a frame inside an owned buffer, plus per-packet metadata the
/// fast path fills in.
pub struct Packet {
    buf: Box<[u8]>,
    start: usize,
    len: usize,
    /// Port the packet arrived on.
    pub in_port: PortNo,
    /// Where extraction found the L3 and L4 headers.
    pub offsets: HeaderOffsets,
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("in_port", &self.in_port)
            .field("len", &self.len)
            .field("headroom", &self.start)
            .finish()
    }
}

impl Packet {
    /// A packet with room for `frame_room` bytes after [`HEADROOM`] bytes of
    /// headroom. This allocates; the fast path takes packets from a pool.
    pub fn with_room(frame_room: usize) -> Packet {
        Packet {
            buf: vec![0u8; HEADROOM + frame_room].into_boxed_slice(),
            start: HEADROOM,
            len: 0,
            in_port: 0,
            offsets: HeaderOffsets::NONE,
        }
    }

    /// The frame.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Frame length in bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame is empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes free in front of the frame.
    #[inline(always)]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Bytes free after the frame.
    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.start - self.len
    }

    /// Empties the packet and restores the default headroom.
    #[inline]
    pub fn reset(&mut self) {
        self.start = HEADROOM.min(self.buf.len());
        self.len = 0;
        self.in_port = 0;
        self.offsets = HeaderOffsets::NONE;
    }

    /// Replaces the frame with a copy of `frame` at the default headroom.
    /// Returns false (and leaves the packet empty) when it does not fit.
    #[inline]
    pub fn set_frame(&mut self, frame: &[u8]) -> bool {
        self.reset();
        if frame.len() > self.tailroom() {
            return false;
        }
        self.buf[self.start..self.start + frame.len()].copy_from_slice(frame);
        self.len = frame.len();
        true
    }

    /// Makes the frame `len` bytes long, as after a receive into
    /// [`Packet::spare_mut`]. Returns false when it does not fit.
    #[inline]
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > self.buf.len() - self.start {
            return false;
        }
        self.len = len;
        true
    }

    /// The whole buffer after the frame start, for a receive to write into.
    #[inline]
    pub fn spare_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    /// Grows the frame by `n` bytes at the front and returns the new front
    /// bytes, or `None` when the headroom is too small. Header offsets shift.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        self.len += n;
        self.offsets = self.offsets.shifted(n as isize);
        Some(&mut self.buf[self.start..self.start + n])
    }

    /// Removes `n` bytes from the front of the frame. Returns false when the
    /// frame is shorter than that. Header offsets shift.
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        self.offsets = self.offsets.shifted(-(n as isize));
        true
    }

    /// Inserts `n` bytes at offset `at` of the frame, moving the bytes before
    /// `at` forward into the headroom (cheaper than moving the payload).
    /// Returns the inserted bytes, or `None` when `at` is past the end or the
    /// headroom is too small. Header offsets at or after `at` keep pointing at
    /// the same headers.
    pub fn insert(&mut self, at: usize, n: usize) -> Option<&mut [u8]> {
        if at > self.len || n > self.start {
            return None;
        }
        let old = self.start;
        self.buf.copy_within(old..old + at, old - n);
        self.start -= n;
        self.len += n;
        self.offsets = self.offsets.shifted_from(at, n as isize);
        Some(&mut self.buf[self.start + at..self.start + at + n])
    }

    /// Removes `n` bytes at offset `at`, moving the bytes before them back.
    /// Returns false when the range is outside the frame.
    pub fn remove(&mut self, at: usize, n: usize) -> bool {
        if at.checked_add(n).is_none_or(|end| end > self.len) {
            return false;
        }
        let old = self.start;
        self.buf.copy_within(old..old + at, old + n);
        self.start += n;
        self.len -= n;
        self.offsets = self.offsets.removed(at, n);
        true
    }

    /// Copies frame and metadata into `other` (which keeps its own buffer).
    /// Returns false when the frame does not fit there.
    pub fn clone_into(&self, other: &mut Packet) -> bool {
        if !other.set_frame(self.data()) {
            return false;
        }
        other.in_port = self.in_port;
        other.offsets = self.offsets;
        true
    }
}

impl HeaderOffsets {
    /// Offsets after `delta` bytes were added to (or, negative, removed from)
    /// the front of the frame. An offset that would fall before the frame
    /// becomes absent.
    #[inline]
    pub fn shifted(self, delta: isize) -> HeaderOffsets {
        self.shifted_from(0, delta)
    }

    /// Offsets after `delta` bytes were inserted (or removed) just before
    /// offset `at`: offsets at or after `at` move, earlier ones stay.
    #[inline]
    pub fn shifted_from(self, at: usize, delta: isize) -> HeaderOffsets {
        let f = |o: u16| -> u16 {
            if o == HeaderOffsets::ABSENT || (o as usize) < at {
                return o;
            }
            match (o as isize).checked_add(delta) {
                Some(n) if (0..HeaderOffsets::ABSENT as isize).contains(&n) => n as u16,
                _ => HeaderOffsets::ABSENT,
            }
        };
        HeaderOffsets {
            l3: f(self.l3),
            l4: f(self.l4),
        }
    }

    /// Offsets after the `n` bytes at offset `at` were removed: later
    /// headers move back, a header that started inside the removed bytes is
    /// gone.
    #[inline]
    pub fn removed(self, at: usize, n: usize) -> HeaderOffsets {
        let f = |o: u16| -> u16 {
            let ou = o as usize;
            if o == HeaderOffsets::ABSENT || ou < at {
                o
            } else if ou < at + n {
                HeaderOffsets::ABSENT
            } else {
                (ou - n) as u16
            }
        };
        HeaderOffsets {
            l3: f(self.l3),
            l4: f(self.l4),
        }
    }
}

/// A fixed stock of packets, allocated once.
#[derive(Debug)]
pub struct PacketPool {
    free: Vec<Packet>,
    capacity: usize,
}

impl PacketPool {
    /// A pool of `count` packets of `frame_room` bytes each.
    pub fn new(count: usize, frame_room: usize) -> PacketPool {
        PacketPool {
            free: (0..count).map(|_| Packet::with_room(frame_room)).collect(),
            capacity: count,
        }
    }

    /// An empty pool that keeps up to `capacity` packets given to it (for
    /// packets that belong to another thread's pool, on their way back).
    pub fn empty(capacity: usize) -> PacketPool {
        PacketPool {
            free: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// The most packets the pool keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes an empty packet, or `None` when the pool is exhausted.
    #[inline]
    pub fn get(&mut self) -> Option<Packet> {
        let mut p = self.free.pop()?;
        p.reset();
        Some(p)
    }

    /// Returns a packet to the pool. Packets beyond the pool's capacity
    /// (which were not its own) are freed, which is heap work: the fast path
    /// only ever returns the pool's own packets.
    #[inline]
    pub fn put(&mut self, p: Packet) {
        if self.free.len() < self.capacity {
            self.free.push(p);
        }
    }

    /// Returns every packet of `batch` to the pool, leaving it empty.
    pub fn put_batch(&mut self, batch: &mut Batch) {
        for p in batch.drain() {
            self.put(p);
        }
    }

    /// Packets available.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

/// Up to [`BATCH_SIZE`] packets. Pushing into a batch never allocates.
#[derive(Debug)]
pub struct Batch {
    pkts: Vec<Packet>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// An empty batch with room for [`BATCH_SIZE`] packets.
    pub fn new() -> Batch {
        Batch {
            pkts: Vec::with_capacity(BATCH_SIZE),
        }
    }

    /// Adds a packet; gives it back when the batch is full.
    #[inline]
    pub fn push(&mut self, p: Packet) -> Result<(), Packet> {
        if self.pkts.len() >= BATCH_SIZE {
            return Err(p);
        }
        self.pkts.push(p);
        Ok(())
    }

    /// Number of packets.
    #[inline]
    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    /// Whether the batch is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// Whether no more packets fit.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.pkts.len() >= BATCH_SIZE
    }

    /// The packets.
    #[inline]
    pub fn packets(&self) -> &[Packet] {
        &self.pkts
    }

    /// The packets, writable.
    #[inline]
    pub fn packets_mut(&mut self) -> &mut [Packet] {
        &mut self.pkts
    }

    /// Takes every packet out, in order.
    #[inline]
    pub fn drain(&mut self) -> std::vec::Drain<'_, Packet> {
        self.pkts.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_pull_front_use_headroom() {
        let mut p = Packet::with_room(64);
        assert!(p.set_frame(&[1, 2, 3, 4]));
        p.offsets = HeaderOffsets { l3: 2, l4: 3 };
        p.push_front(2).unwrap().copy_from_slice(&[9, 9]);
        assert_eq!(p.data(), &[9, 9, 1, 2, 3, 4]);
        assert_eq!(p.offsets, HeaderOffsets { l3: 4, l4: 5 });
        assert!(p.pull_front(2));
        assert_eq!(p.data(), &[1, 2, 3, 4]);
        assert_eq!(p.offsets, HeaderOffsets { l3: 2, l4: 3 });
        assert!(!p.pull_front(5));
        assert!(p.push_front(HEADROOM + 1).is_none());
    }

    #[test]
    fn insert_and_remove_keep_offsets_on_their_headers() {
        let mut p = Packet::with_room(64);
        p.set_frame(&[0, 1, 2, 3, 4, 5, 6, 7]);
        p.offsets = HeaderOffsets { l3: 4, l4: 6 };
        p.insert(4, 2).unwrap().copy_from_slice(&[0xa, 0xb]);
        assert_eq!(p.data(), &[0, 1, 2, 3, 0xa, 0xb, 4, 5, 6, 7]);
        assert_eq!(p.offsets, HeaderOffsets { l3: 6, l4: 8 });
        assert!(p.remove(4, 2));
        assert_eq!(p.data(), &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(p.offsets, HeaderOffsets { l3: 4, l4: 6 });
        // A header inside the removed bytes is gone; one after them moves.
        assert!(p.remove(3, 2));
        assert_eq!(p.data(), &[0, 1, 2, 5, 6, 7]);
        assert_eq!(
            p.offsets,
            HeaderOffsets {
                l3: HeaderOffsets::ABSENT,
                l4: 4
            }
        );
        assert!(!p.remove(5, 2));
        assert!(p.insert(7, 1).is_none());
    }

    #[test]
    fn set_frame_refuses_what_does_not_fit() {
        let mut p = Packet::with_room(4);
        assert!(!p.set_frame(&[0; 5]));
        assert!(p.is_empty());
        assert!(p.set_frame(&[0; 4]));
    }

    #[test]
    fn batch_holds_at_most_batch_size() {
        let mut pool = PacketPool::new(BATCH_SIZE + 1, 64);
        let mut b = Batch::new();
        for _ in 0..BATCH_SIZE {
            b.push(pool.get().unwrap()).unwrap();
        }
        assert!(b.is_full());
        assert!(b.push(pool.get().unwrap()).is_err());
        pool.put_batch(&mut b);
        assert_eq!(pool.available(), BATCH_SIZE);
        assert!(b.is_empty());
    }
}
