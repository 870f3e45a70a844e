//! The driver side of one split virtqueue (virtio 1.x §2.7) in mapped
//! guest memory: descriptor table and avail ring written here, used ring
//! read here, everything through raw pointers into the shared mapping
//! with atomic (indices, flags, event fields) or volatile (entries,
//! descriptors) accesses, since the device writes the same memory from
//! another process.
//!
//! The used ring is hostile input: [`SplitRing::used_pending`] refuses a
//! used index more than a ring's worth ahead, and [`SplitRing::take_used`]
//! hands out only ids that are in range and were in flight (each once).
//! Lengths are the caller's to check against its buffers. Nothing here
//! reads or writes outside the three ring parts whose addresses were
//! checked when the ring was made.
//!
//! The indices are free-running `u16`s that wrap at 65535 → 0; slots are
//! `index & (size - 1)` (the size is a power of two).

use std::sync::atomic::{fence, AtomicU16, Ordering};

/// Descriptor flag: the chain continues in `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (receive).
pub const VRING_DESC_F_WRITE: u16 = 2;
/// `avail->flags`: the driver wants no used-buffer notifications.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// `used->flags`: the device wants no available-buffer notifications (kicks).
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;

/// Guest addresses of a split ring's three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    /// Entries (a power of two up to 32768).
    pub size: u16,
    /// Descriptor table: `16 * size` bytes, 16-aligned.
    pub desc: u64,
    /// Avail ring: flags, idx, `size` ids, `used_event`; 2-aligned.
    pub avail: u64,
    /// Used ring: flags, idx, `size` (id, len) pairs, `avail_event`; 4-aligned.
    pub used: u64,
}

impl RingLayout {
    /// Bytes of the descriptor table.
    pub fn desc_len(size: u16) -> usize {
        16 * usize::from(size)
    }

    /// Bytes of the avail ring, `used_event` included.
    pub fn avail_len(size: u16) -> usize {
        6 + 2 * usize::from(size)
    }

    /// Bytes of the used ring, `avail_event` included.
    pub fn used_len(size: u16) -> usize {
        6 + 8 * usize::from(size)
    }

    /// A ring laid out from `gpa` (page-aligned) as the legacy layout
    /// does: descriptors, avail ring right after, used ring on the next
    /// page boundary. Returns it and the first page boundary after it.
    pub fn packed_at(gpa: u64, size: u16) -> (RingLayout, u64) {
        let avail = gpa + RingLayout::desc_len(size) as u64;
        let used = page_up(avail + RingLayout::avail_len(size) as u64);
        let end = page_up(used + RingLayout::used_len(size) as u64);
        (
            RingLayout {
                size,
                desc: gpa,
                avail,
                used,
            },
            end,
        )
    }
}

/// `x` rounded up to a multiple of 4 KiB.
pub(crate) fn page_up(x: u64) -> u64 {
    (x + 0xfff) & !0xfff
}

/// Whether a queue size is valid for a split ring.
pub fn valid_size(size: u16) -> bool {
    size != 0 && size <= 32768 && size.is_power_of_two()
}

/// EVENT_IDX: whether moving an index from `old` to `new` crossed
/// `event` (the `vring_need_event` of the virtio spec), all wrapping.
#[inline]
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// The driver side of one split ring (see the module documentation).
#[derive(Debug)]
pub struct SplitRing {
    size: u16,
    mask: u16,
    desc: *mut u8,
    avail: *mut u8,
    used: *mut u8,
    event_idx: bool,
    /// The next avail index to fill (published or not).
    next_avail: u16,
    /// The avail index last stored for the device.
    published: u16,
    /// How far the used ring has been read.
    last_used: u16,
    /// Whether each descriptor id is the device's (posted, not returned).
    in_flight: Box<[bool]>,
}

// SAFETY: the raw pointers point into a shared mapping that is not tied to
// a thread; the ring is only used through `&mut self` by whoever owns it.
unsafe impl Send for SplitRing {}

impl SplitRing {
    /// A ring whose parts are mapped at `desc`, `avail`, `used` here, with
    /// the avail and used indices both starting at `base`.
    ///
    /// # Safety
    ///
    /// `size` is a valid queue size; `desc`, `avail` and `used` are
    /// aligned to 16, 2 and 4 bytes and valid for reads and writes of
    /// [`RingLayout::desc_len`], [`RingLayout::avail_len`] and
    /// [`RingLayout::used_len`] bytes for as long as the ring is used, and
    /// nothing in this process other than the ring accesses them.
    pub unsafe fn new(
        size: u16,
        desc: *mut u8,
        avail: *mut u8,
        used: *mut u8,
        base: u16,
        event_idx: bool,
    ) -> SplitRing {
        SplitRing {
            size,
            mask: size - 1,
            desc,
            avail,
            used,
            event_idx,
            next_avail: base,
            published: base,
            last_used: base,
            in_flight: vec![false; usize::from(size)].into_boxed_slice(),
        }
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    pub fn next_avail(&self) -> u16 {
        self.next_avail
    }

    pub fn last_used(&self) -> u16 {
        self.last_used
    }

    /// Descriptors the device holds.
    pub fn in_flight(&self) -> usize {
        self.in_flight.iter().filter(|&&b| b).count()
    }

    /// The 16-bit field at byte `off` of the avail ring.
    #[inline]
    fn avail_u16(&self, off: usize) -> &AtomicU16 {
        debug_assert!(off % 2 == 0 && off + 2 <= RingLayout::avail_len(self.size));
        // SAFETY: callers pass 2-aligned offsets inside the avail ring,
        // which `new`'s contract makes valid while the ring lives.
        unsafe { AtomicU16::from_ptr(self.avail.add(off).cast::<u16>()) }
    }

    /// The 16-bit field at byte `off` of the used ring.
    #[inline]
    fn used_u16(&self, off: usize) -> &AtomicU16 {
        debug_assert!(off % 2 == 0 && off + 2 <= RingLayout::used_len(self.size));
        // SAFETY: as in `avail_u16`, for the used ring.
        unsafe { AtomicU16::from_ptr(self.used.add(off).cast::<u16>()) }
    }

    /// Writes descriptor `id` (taken modulo the size).
    pub fn write_desc(&mut self, id: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let i = usize::from(id & self.mask);
        // SAFETY: `i < size`, so the 16 bytes at `16 * i` are inside the
        // descriptor table (16-aligned); volatile because the device reads
        // them concurrently.
        unsafe {
            let d = self.desc.add(16 * i);
            d.cast::<u64>().write_volatile(addr.to_le());
            d.add(8).cast::<u32>().write_volatile(len.to_le());
            d.add(12).cast::<u16>().write_volatile(flags.to_le());
            d.add(14).cast::<u16>().write_volatile(next.to_le());
        }
    }

    /// Sets the length of descriptor `id` (taken modulo the size).
    #[inline]
    pub fn set_desc_len(&mut self, id: u16, len: u32) {
        let i = usize::from(id & self.mask);
        // SAFETY: as in `write_desc`: inside the table, 4-aligned.
        unsafe {
            self.desc
                .add(16 * i + 8)
                .cast::<u32>()
                .write_volatile(len.to_le())
        }
    }

    /// Puts `id` in the next avail slot (not yet visible to the device:
    /// see [`SplitRing::publish`]). `id` must be a descriptor id the
    /// driver owns (`< size`, not in flight); otherwise nothing happens
    /// and `false` is returned.
    #[inline]
    pub fn push_avail(&mut self, id: u16) -> bool {
        match self.in_flight.get_mut(usize::from(id)) {
            Some(f) if !*f => *f = true,
            _ => return false,
        }
        let slot = usize::from(self.next_avail & self.mask);
        // SAFETY: `slot < size`, so `4 + 2 * slot` is inside the avail
        // ring and 2-aligned; volatile because the device reads it.
        unsafe {
            self.avail
                .add(4 + 2 * slot)
                .cast::<u16>()
                .write_volatile(id.to_le())
        }
        self.next_avail = self.next_avail.wrapping_add(1);
        true
    }

    /// Makes what [`SplitRing::push_avail`] added visible to the device
    /// (one release store of the avail index) and says whether the
    /// device wants a kick for it: `used->flags` without
    /// VRING_USED_F_NO_NOTIFY, or with EVENT_IDX the new index crossing
    /// `avail_event`. Nothing to publish: no store, no kick.
    #[inline]
    pub fn publish(&mut self) -> bool {
        if self.next_avail == self.published {
            return false;
        }
        let old = self.published;
        let new = self.next_avail;
        self.avail_u16(2).store(new.to_le(), Ordering::Release);
        self.published = new;
        // The store above must be visible before we read whether the
        // device wants to be told (it may be about to stop polling).
        fence(Ordering::SeqCst);
        if self.event_idx {
            let off = 4 + 8 * usize::from(self.size);
            let event = u16::from_le(self.used_u16(off).load(Ordering::Acquire));
            need_event(event, new, old)
        } else {
            let flags = u16::from_le(self.used_u16(0).load(Ordering::Acquire));
            flags & VRING_USED_F_NO_NOTIFY == 0
        }
    }

    /// Used entries the device returned and we have not read yet, or
    /// `Err(idx)` if its used index is more than a ring's worth ahead
    /// (a broken or hostile device).
    #[inline]
    pub fn used_pending(&self) -> Result<u16, u16> {
        let idx = u16::from_le(self.used_u16(2).load(Ordering::Acquire));
        let n = idx.wrapping_sub(self.last_used);
        if n > self.size {
            Err(idx)
        } else {
            Ok(n)
        }
    }

    /// Reads the next used entry and moves past it. `Ok((id, len))` for
    /// an id that was in flight (it no longer is), `Err(id)` for an id out
    /// of range or not in flight. Call only while
    /// [`SplitRing::used_pending`] says there is one.
    #[inline]
    pub fn take_used(&mut self) -> Result<(u16, u32), u32> {
        let slot = usize::from(self.last_used & self.mask);
        // SAFETY: `slot < size`, so the 8 bytes at `4 + 8 * slot` are
        // inside the used ring, 4-aligned; volatile because the device
        // writes them (the acquire load of the used index in
        // `used_pending` orders these reads after it).
        let (id, len) = unsafe {
            let e = self.used.add(4 + 8 * slot);
            (
                u32::from_le(e.cast::<u32>().read_volatile()),
                u32::from_le(e.add(4).cast::<u32>().read_volatile()),
            )
        };
        self.last_used = self.last_used.wrapping_add(1);
        match u16::try_from(id)
            .ok()
            .and_then(|i| Some((i, self.in_flight.get_mut(usize::from(i))?)))
        {
            Some((i, f)) if *f => {
                *f = false;
                Ok((i, len))
            }
            _ => Err(id),
        }
    }

    /// `avail->flags` (VRING_AVAIL_F_NO_INTERRUPT).
    pub fn set_avail_flags(&mut self, flags: u16) {
        self.avail_u16(0).store(flags.to_le(), Ordering::Release);
    }

    /// With EVENT_IDX: `used_event` one behind what has been read, so the
    /// device (at most a ring ahead) never crosses it: no interrupts.
    #[inline]
    pub fn suppress_used_event(&mut self) {
        if self.event_idx {
            let off = 4 + 2 * usize::from(self.size);
            let v = self.last_used.wrapping_sub(1);
            self.avail_u16(off).store(v.to_le(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::GuestMemory;

    const GPA: u64 = 0x10_0000;

    /// A ring of `size` at `base` and a device side that reads and writes
    /// the same memory through its own pointers.
    struct Fixture {
        mem: GuestMemory,
        layout: RingLayout,
        ring: SplitRing,
        /// The device's view.
        last_avail: u16,
        used_idx: u16,
    }

    impl Fixture {
        fn new(size: u16, base: u16, event_idx: bool) -> Fixture {
            let (layout, end) = RingLayout::packed_at(GPA, size);
            let mem = GuestMemory::new(&[(GPA, end - GPA)]).expect("memory");
            let p = |gpa, len| mem.host_ptr(gpa, len).expect("inside");
            // SAFETY: the parts are inside `mem`, laid out aligned by
            // `packed_at`, and `mem` outlives the ring (same fixture,
            // never moved out).
            let ring = unsafe {
                SplitRing::new(
                    size,
                    p(layout.desc, RingLayout::desc_len(size)),
                    p(layout.avail, RingLayout::avail_len(size)),
                    p(layout.used, RingLayout::used_len(size)),
                    base,
                    event_idx,
                )
            };
            let mut f = Fixture {
                mem,
                layout,
                ring,
                last_avail: base,
                used_idx: base,
            };
            f.poke16(layout.used + 2, base);
            f
        }

        fn peek16(&self, gpa: u64) -> u16 {
            let p = self.mem.host_ptr(gpa, 2).expect("inside");
            // SAFETY: two bytes inside the memory, 2-aligned.
            u16::from_le(unsafe { p.cast::<u16>().read_volatile() })
        }

        fn poke16(&mut self, gpa: u64, v: u16) {
            let p = self.mem.host_ptr(gpa, 2).expect("inside");
            // SAFETY: as in `peek16`.
            unsafe { p.cast::<u16>().write_volatile(v.to_le()) }
        }

        fn poke32(&mut self, gpa: u64, v: u32) {
            let p = self.mem.host_ptr(gpa, 4).expect("inside");
            // SAFETY: four bytes inside the memory, 4-aligned.
            unsafe { p.cast::<u32>().write_volatile(v.to_le()) }
        }

        /// The device takes every available id.
        fn device_take(&mut self) -> Vec<u16> {
            let idx = self.peek16(self.layout.avail + 2);
            let mut v = Vec::new();
            while self.last_avail != idx {
                let slot = u64::from(self.last_avail % self.layout.size);
                v.push(self.peek16(self.layout.avail + 4 + 2 * slot));
                self.last_avail = self.last_avail.wrapping_add(1);
            }
            v
        }

        /// The device returns (id, len) entries and publishes them.
        fn device_return(&mut self, entries: &[(u32, u32)]) {
            for &(id, len) in entries {
                let slot = u64::from(self.used_idx % self.layout.size);
                self.poke32(self.layout.used + 4 + 8 * slot, id);
                self.poke32(self.layout.used + 8 + 8 * slot, len);
                self.used_idx = self.used_idx.wrapping_add(1);
            }
            let idx = self.used_idx;
            self.poke16(self.layout.used + 2, idx);
        }
    }

    #[test]
    fn need_event_matches_the_spec_across_the_wrap() {
        // Crossed exactly when old <= event < new (wrapping).
        assert!(need_event(5, 6, 5));
        assert!(!need_event(5, 5, 4));
        assert!(need_event(65535, 0, 65535));
        assert!(need_event(65534, 1, 65530));
        assert!(!need_event(2, 1, 65530));
        assert!(!need_event(65529, 1, 65530), "an event behind old");
        assert!(!need_event(7, 7, 7), "nothing published");
    }

    #[test]
    fn layout_is_aligned_and_disjoint() {
        for size in [1u16, 2, 64, 256, 1024, 32768] {
            let (l, end) = RingLayout::packed_at(0x1000, size);
            assert_eq!(l.desc % 16, 0);
            assert_eq!(l.avail, l.desc + 16 * u64::from(size));
            assert_eq!(l.used % 4096, 0);
            assert!(l.used >= l.avail + RingLayout::avail_len(size) as u64);
            assert!(end >= l.used + RingLayout::used_len(size) as u64);
            assert_eq!(end % 4096, 0);
        }
        assert!(valid_size(1) && valid_size(32768));
        assert!(!valid_size(0) && !valid_size(48) && !valid_size(65535));
    }

    #[test]
    fn indices_wrap_at_65535() {
        let mut f = Fixture::new(8, 65531, false);
        for round in 0..4u32 {
            for id in 0..6u16 {
                assert!(f.ring.push_avail(id));
            }
            f.ring.publish();
            let ids = f.device_take();
            assert_eq!(ids, (0..6).collect::<Vec<_>>(), "round {round}");
            let ret: Vec<(u32, u32)> = ids
                .iter()
                .rev()
                .map(|&i| (u32::from(i), 100 + round))
                .collect();
            f.device_return(&ret);
            assert_eq!(f.ring.used_pending(), Ok(6));
            for &(id, len) in &ret {
                assert_eq!(f.ring.take_used(), Ok((id as u16, len)));
            }
            assert_eq!(f.ring.used_pending(), Ok(0));
            assert_eq!(f.ring.in_flight(), 0);
        }
        // 65531 + 24 wrapped.
        assert_eq!(f.ring.next_avail(), 65531u16.wrapping_add(24));
        assert_eq!(f.ring.last_used(), 19);
    }

    #[test]
    fn hostile_used_entries_are_refused() {
        let mut f = Fixture::new(4, 65534, false);
        assert!(f.ring.push_avail(1));
        assert!(!f.ring.push_avail(1), "already in flight");
        assert!(!f.ring.push_avail(4), "out of range");
        f.ring.publish();
        f.device_take();
        // Out of range, not in flight, then the real one, then it again.
        f.device_return(&[(7, 0), (0, 0), (1, 9), (1, 9)]);
        // A used index more than a ring ahead is refused as a whole.
        let used = f.layout.used;
        f.poke16(used + 2, 65534u16.wrapping_add(5));
        assert_eq!(
            f.ring.used_pending(),
            Err(65534u16.wrapping_add(5)),
            "5 > size 4"
        );
        f.poke16(used + 2, 65534u16.wrapping_add(4));
        assert_eq!(f.ring.used_pending(), Ok(4));
        assert_eq!(f.ring.take_used(), Err(7));
        assert_eq!(f.ring.take_used(), Err(0));
        assert_eq!(f.ring.take_used(), Ok((1, 9)));
        assert_eq!(f.ring.take_used(), Err(1), "returned twice");
        assert_eq!(f.ring.used_pending(), Ok(0));
    }

    #[test]
    fn kicks_follow_no_notify_and_avail_event() {
        let mut f = Fixture::new(8, 0, false);
        assert!(!f.ring.publish(), "nothing to publish");
        f.ring.push_avail(0);
        assert!(f.ring.publish(), "flags 0: kick");
        let used = f.layout.used;
        f.poke16(used, VRING_USED_F_NO_NOTIFY);
        f.ring.push_avail(1);
        assert!(!f.ring.publish(), "NO_NOTIFY: no kick");

        let mut f = Fixture::new(8, 65534, true);
        let ev = f.layout.used + 4 + 8 * 8;
        // The device wants to hear once the index passes 65534.
        f.poke16(ev, 65534);
        f.ring.push_avail(0);
        f.ring.push_avail(1);
        assert!(f.ring.publish(), "65534 -> 0 crosses 65534");
        // A polling device keeps avail_event one behind what it took.
        f.device_take();
        f.poke16(ev, 65535);
        f.ring.push_avail(2);
        assert!(!f.ring.publish(), "avail_event behind: no kick");
        // used_event stays one behind what the driver read.
        f.ring.suppress_used_event();
        assert_eq!(f.peek16(f.layout.avail + 4 + 2 * 8), 65533);
    }
}
