//! Megaflow cache: the datapath classifier (Open vSwitch's "dpcls").
//!
//! A megaflow is a (mask, masked key) pair with actions: every packet whose
//! key, masked, equals the masked key takes those actions. The cache does
//! tuple-space search: one subtable per distinct mask, each a hash index of
//! masked keys. A lookup masks the packet's key with each subtable's mask in
//! turn and probes that subtable, stopping at the first hit.
//!
//! Megaflows carry no priority: the slow path only installs megaflows that do
//! not overlap, so whichever subtable answers first answers right. Subtables
//! are probed in order of their hits since the last ranking
//! ([`MegaflowCache::rank_subtables`]), so busy masks are found sooner.
//!
//! # Memory layout, and why not a general hash map
//!
//! Each megaflow lives in a 128-byte slab slot: one cache line for its masked
//! key, one for everything the fast path reads or writes after a match
//! (generation, counters, and up to three actions inline). A subtable's index
//! ([`FlowIndex`]) holds only 32-bit hash signatures and slot numbers, seven to
//! a 64-byte bucket. A lookup thus reads one bucket line, then the slot's two
//! lines. A batch is looked up in three passes per subtable — hash all keys and
//! touch their buckets, match signatures and touch candidate slots, compare
//! keys — so that the cache misses of the 32 packets overlap instead of
//! following one another. With a million megaflows nearly every access misses
//! the caches, and this overlap is what keeps the rate up: the first version,
//! a `hashbrown::HashTable` of inline keys probed one packet at a time, ran the
//! 1M-flow case at 3.3 Mpps on this machine (see BENCHMARKS.md for the figures
//! after the change).
//!
//! Megaflows are named by a [`FlowRef`] (slot and generation), so references
//! held elsewhere (the EMC) go stale rather than dangle when a flow is deleted.

use crate::actions::{Action, ActionList};
use crate::flow::{FlowKey, FlowMask};
use std::hint::black_box;

/// A reference to a megaflow: slab slot and generation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FlowRef {
    slot: u32,
    gen: u32,
}

impl FlowRef {
    /// A reference to nothing.
    pub const NONE: FlowRef = FlowRef {
        slot: u32::MAX,
        gen: 0,
    };

    /// A reference to `slot` at generation `gen`.
    pub const fn new(slot: u32, gen: u32) -> FlowRef {
        FlowRef { slot, gen }
    }

    /// Whether this is [`FlowRef::NONE`].
    #[inline(always)]
    pub fn is_none(self) -> bool {
        self.slot == u32::MAX
    }

    /// The slab slot.
    #[inline(always)]
    pub fn slot(self) -> usize {
        self.slot as usize
    }
}

/// Counters of one megaflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MegaflowStats {
    /// Packets that took this flow.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Time of the last hit, in the caller's clock (milliseconds); 0 = never.
    pub used: u64,
    /// Union of the TCP flags seen.
    pub tcp_flags: u16,
}

/// A megaflow as the flow API reports it (a copy, not a reference into the
/// cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Megaflow {
    /// The masked key.
    pub key: FlowKey,
    /// The mask.
    pub mask: FlowMask,
    /// What to do with matching packets.
    pub actions: Box<[Action]>,
    /// Counters.
    pub stats: MegaflowStats,
}

/// The part of a slot the fast path touches after a match: one cache line.
#[derive(Debug, Clone)]
pub(crate) struct SlotHot {
    pub(crate) gen: u32,
    /// `u16::MAX` when the slot is free.
    subtable: u16,
    pub(crate) tcp_flags: u16,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) used: u64,
    pub(crate) actions: ActionList,
}

const FREE: u16 = u16::MAX;

/// A slab slot: the masked key's line, then the hot line.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Slot {
    key: FlowKey,
    hot: SlotHot,
}

// The layout this module's performance rests on.
const _: () = assert!(std::mem::size_of::<Slot>() == 128);

/// Entries per index bucket.
const BUCKET_WAYS: usize = 7;
const EMPTY: u32 = u32::MAX;
/// A lookup hint: "probe the whole chain" (never a real slot: slots are
/// fewer than `u32::MAX - 1`).
const PROBE: u32 = u32::MAX - 1;

/// Seven (signature, slot) pairs and an overflow count: one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Bucket {
    sigs: [u32; BUCKET_WAYS],
    slots: [u32; BUCKET_WAYS],
    /// Entries that wanted this bucket or an earlier one but were placed
    /// further on: while non-zero, a probe must go on past this bucket.
    overflow: u32,
    _pad: u32,
}

const EMPTY_BUCKET: Bucket = Bucket {
    sigs: [0; BUCKET_WAYS],
    slots: [EMPTY; BUCKET_WAYS],
    overflow: 0,
    _pad: 0,
};

/// An open-addressing index from a key hash to slab slots, with linear
/// probing over buckets. It stores no keys: the caller checks candidates
/// against the slab.
#[derive(Debug, Clone)]
pub(crate) struct FlowIndex {
    buckets: Vec<Bucket>,
    len: usize,
}

impl FlowIndex {
    fn new() -> FlowIndex {
        FlowIndex {
            buckets: vec![EMPTY_BUCKET; 2],
            len: 0,
        }
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        (hash as usize) & (self.buckets.len() - 1)
    }

    #[inline(always)]
    fn sig(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// The first slot in `hash`'s home bucket whose signature matches; else
    /// `EMPTY` when the key is certainly absent (no match and nothing
    /// overflowed past the bucket), or `PROBE` when only a full
    /// [`FlowIndex::find`] can tell. A hint for the pipelined lookup.
    #[inline(always)]
    fn first_candidate(&self, hash: u64) -> u32 {
        let b = &self.buckets[self.home(hash)];
        let sig = Self::sig(hash);
        // Branch-free, so the compiler compares all seven signatures at once.
        let mut hits = 0u32;
        for w in 0..BUCKET_WAYS {
            hits |= ((b.sigs[w] == sig) as u32) << w;
        }
        while hits != 0 {
            let w = hits.trailing_zeros() as usize;
            if b.slots[w] != EMPTY {
                return b.slots[w];
            }
            hits &= hits - 1;
        }
        if b.overflow == 0 {
            EMPTY
        } else {
            PROBE
        }
    }

    /// The slot whose signature matches `hash` and for which `is_it` holds.
    #[inline]
    fn find(&self, hash: u64, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.buckets.len() - 1;
        let sig = Self::sig(hash);
        let mut b = self.home(hash);
        loop {
            let bucket = &self.buckets[b];
            for w in 0..BUCKET_WAYS {
                let s = bucket.slots[w];
                if bucket.sigs[w] == sig && s != EMPTY && is_it(s) {
                    return Some(s);
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = (b + 1) & mask;
        }
    }

    fn insert(&mut self, hash: u64, slot: u32, rehash: &impl Fn(u32) -> u64) {
        // Keep the load under 75% of the entries so probes stay short.
        if (self.len + 1) * 4 > self.buckets.len() * BUCKET_WAYS * 3 {
            self.grow(rehash);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, slot: u32) {
        let mask = self.buckets.len() - 1;
        let mut b = self.home(hash);
        loop {
            let bucket = &mut self.buckets[b];
            if let Some(w) = bucket.slots.iter().position(|s| *s == EMPTY) {
                bucket.slots[w] = slot;
                bucket.sigs[w] = Self::sig(hash);
                return;
            }
            bucket.overflow += 1;
            b = (b + 1) & mask;
        }
    }

    fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let mask = self.buckets.len() - 1;
        let home = self.home(hash);
        let mut b = home;
        loop {
            if let Some(w) = self.buckets[b].slots.iter().position(|s| *s == slot) {
                self.buckets[b].slots[w] = EMPTY;
                // Undo the overflow marks the insert left on the way here.
                let mut o = home;
                while o != b {
                    self.buckets[o].overflow -= 1;
                    o = (o + 1) & mask;
                }
                self.len -= 1;
                return true;
            }
            if self.buckets[b].overflow == 0 {
                return false;
            }
            b = (b + 1) & mask;
        }
    }

    fn grow(&mut self, rehash: &impl Fn(u32) -> u64) {
        let doubled = vec![EMPTY_BUCKET; self.buckets.len() * 2];
        let old = std::mem::replace(&mut self.buckets, doubled);
        for bucket in &old {
            for w in 0..BUCKET_WAYS {
                let s = bucket.slots[w];
                if s != EMPTY {
                    self.place(rehash(s), s);
                }
            }
        }
    }
}

/// All megaflows that share one mask.
#[derive(Debug)]
struct Subtable {
    mask: FlowMask,
    index: FlowIndex,
    hits: u64,
}

/// Why a megaflow could not be installed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MegaflowError {
    /// a megaflow with this mask and key already exists (use modify)
    #[error("a megaflow with this mask and key already exists (use modify)")]
    Exists,
    /// no megaflow has this mask and key
    #[error("no megaflow has this mask and key")]
    NotFound,
    /// the megaflow table is full
    #[error("the megaflow table is full ({0} flows); raise the flow limit or wait for idle flows to expire")]
    Full(usize),
    /// too many distinct masks
    #[error("too many distinct megaflow masks ({0}); the slow path must wildcard more uniformly")]
    TooManyMasks(usize),
}

/// Most subtables (distinct masks) a cache holds.
pub const MAX_SUBTABLES: usize = 4096;

/// Scratch space of one batch lookup.
struct BatchScratch {
    hashes: [u64; 32],
    candidates: [u32; 32],
}

/// The megaflow classifier of one poll-mode thread.
#[derive(Debug)]
pub struct MegaflowCache {
    slots: Vec<Slot>,
    free: Vec<u32>,
    subtables: Vec<Subtable>,
    /// Subtable indexes in probe order.
    order: Vec<u16>,
    limit: usize,
    len: usize,
}

impl MegaflowCache {
    /// An empty cache that holds at most `limit` megaflows.
    pub fn new(limit: usize) -> MegaflowCache {
        MegaflowCache {
            slots: Vec::new(),
            free: Vec::new(),
            subtables: Vec::new(),
            order: Vec::new(),
            limit,
            len: 0,
        }
    }

    /// Megaflows installed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no megaflow is installed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most megaflows this cache will hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the flow limit (existing flows stay even above it).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Subtables that hold at least one megaflow.
    pub fn subtable_count(&self) -> usize {
        self.subtables.iter().filter(|s| s.index.len > 0).count()
    }

    #[inline(always)]
    fn live_slot(&self, r: FlowRef) -> Option<&Slot> {
        match self.slots.get(r.slot()) {
            Some(s) if s.hot.gen == r.gen && s.hot.subtable != FREE => Some(s),
            _ => None,
        }
    }

    /// Whether `r` names a megaflow that is still installed.
    #[inline(always)]
    pub fn contains(&self, r: FlowRef) -> bool {
        self.live_slot(r).is_some()
    }

    /// The fast path's view of a live megaflow.
    #[inline(always)]
    pub(crate) fn hot_mut(&mut self, r: FlowRef) -> Option<&mut SlotHot> {
        match self.slots.get_mut(r.slot()) {
            Some(s) if s.hot.gen == r.gen && s.hot.subtable != FREE => Some(&mut s.hot),
            _ => None,
        }
    }

    /// A copy of the megaflow `r` names, if it is still installed.
    pub fn get(&self, r: FlowRef) -> Option<Megaflow> {
        let s = self.live_slot(r)?;
        Some(self.describe(s))
    }

    fn describe(&self, s: &Slot) -> Megaflow {
        let h = &s.hot;
        Megaflow {
            key: s.key,
            mask: self.subtables[h.subtable as usize].mask,
            actions: h.actions.as_slice().into(),
            stats: MegaflowStats {
                packets: h.packets,
                bytes: h.bytes,
                used: h.used,
                tcp_flags: h.tcp_flags,
            },
        }
    }

    /// Replaces the actions of the megaflow `r` names. Its counters stay.
    pub fn set_actions(&mut self, r: FlowRef, actions: &[Action]) -> Result<(), MegaflowError> {
        let hot = self.hot_mut(r).ok_or(MegaflowError::NotFound)?;
        hot.actions = ActionList::new(actions);
        Ok(())
    }

    fn subtable_index(&self, mask: &FlowMask) -> Option<usize> {
        self.subtables.iter().position(|s| s.mask == *mask)
    }

    /// Finds the megaflow with exactly this mask and (masked) key.
    pub fn find(&self, key: &FlowKey, mask: &FlowMask) -> Option<FlowRef> {
        let st = &self.subtables[self.subtable_index(mask)?];
        let masked = key.masked(mask);
        let slots = &self.slots;
        let s = st
            .index
            .find(masked.hash(), |s| slots[s as usize].key == masked)?;
        Some(FlowRef::new(s, slots[s as usize].hot.gen))
    }

    /// Installs a new megaflow. `key` is masked here, so a raw packet key may
    /// be passed. Fails if the same (mask, masked key) exists, the cache is at
    /// its limit, or there are too many masks.
    pub fn insert(
        &mut self,
        key: &FlowKey,
        mask: &FlowMask,
        actions: &[Action],
    ) -> Result<FlowRef, MegaflowError> {
        let masked = key.masked(mask);
        if self.find(&masked, mask).is_some() {
            return Err(MegaflowError::Exists);
        }
        if self.len >= self.limit.min(PROBE as usize - 1) {
            return Err(MegaflowError::Full(self.limit));
        }
        let st_idx = match self.subtable_index(mask) {
            Some(i) => i,
            // A subtable whose flows are all gone takes the new mask: masks
            // come and go as the OpenFlow tables change.
            None => match self.subtables.iter().position(|s| s.index.len == 0) {
                Some(i) => {
                    let st = &mut self.subtables[i];
                    st.mask = *mask;
                    st.hits = 0;
                    i
                }
                None if self.subtables.len() >= MAX_SUBTABLES => {
                    return Err(MegaflowError::TooManyMasks(MAX_SUBTABLES))
                }
                None => {
                    self.subtables.push(Subtable {
                        mask: *mask,
                        index: FlowIndex::new(),
                        hits: 0,
                    });
                    self.order.push((self.subtables.len() - 1) as u16);
                    self.subtables.len() - 1
                }
            },
        };
        let hot = |gen| SlotHot {
            gen,
            subtable: st_idx as u16,
            tcp_flags: 0,
            packets: 0,
            bytes: 0,
            used: 0,
            actions: ActionList::new(actions),
        };
        let slot = match self.free.pop() {
            Some(s) => {
                let sl = &mut self.slots[s as usize];
                sl.key = masked;
                sl.hot = hot(sl.hot.gen);
                s
            }
            None => {
                self.slots.push(Slot {
                    key: masked,
                    hot: hot(1),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.subtables[st_idx]
            .index
            .insert(masked.hash(), slot, &|s| slots[s as usize].key.hash());
        self.len += 1;
        Ok(FlowRef::new(slot, self.slots[slot as usize].hot.gen))
    }

    /// Removes the megaflow `r` names and returns it.
    pub fn remove(&mut self, r: FlowRef) -> Option<Megaflow> {
        let s = self.live_slot(r)?;
        let flow = self.describe(s);
        let st = s.hot.subtable as usize;
        let removed = self.subtables[st].index.remove(flow.key.hash(), r.slot);
        assert!(
            removed,
            "a live megaflow slot is missing from its subtable's index"
        );
        if self.subtables[st].index.len == 0 {
            // Give the memory of a subtable's grown index back.
            self.subtables[st].index = FlowIndex::new();
        }
        let slot = &mut self.slots[r.slot()];
        slot.hot.subtable = FREE;
        slot.hot.actions = ActionList::new(&[]);
        // A new generation makes every outstanding FlowRef to this slot
        // stale. A slot whose generation would wrap is retired for good, so
        // that a very old reference can never name a new flow.
        if let Some(gen) = slot.hot.gen.checked_add(1) {
            slot.hot.gen = gen;
            self.free.push(r.slot);
        }
        self.len -= 1;
        Some(flow)
    }

    /// Looks up one key.
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey) -> Option<FlowRef> {
        let slots = &self.slots;
        for &si in &self.order {
            let st = &mut self.subtables[si as usize];
            if st.index.len == 0 {
                continue;
            }
            let mask = &st.mask;
            let hash = key.masked_hash(mask);
            if let Some(s) = st
                .index
                .find(hash, |s| key.matches(mask, &slots[s as usize].key))
            {
                st.hits += 1;
                return Some(FlowRef::new(s, slots[s as usize].hot.gen));
            }
        }
        None
    }

    /// Looks up the keys whose bit is set in `todo` (bit i = `keys[i]`),
    /// writing each hit to `out[i]`. Returns the bitmap of keys still missing.
    /// See the module docs for the three passes per subtable.
    #[inline]
    pub fn lookup_batch(&mut self, keys: &[FlowKey], out: &mut [FlowRef], mut todo: u32) -> u32 {
        assert!(keys.len() <= 32 && out.len() >= keys.len());
        let mut scratch = BatchScratch {
            hashes: [0; 32],
            candidates: [EMPTY; 32],
        };
        let slots = &self.slots;
        for &si in &self.order {
            if todo == 0 {
                break;
            }
            let st = &mut self.subtables[si as usize];
            if st.index.len == 0 {
                continue;
            }
            let mask = &st.mask;
            let index = &st.index;
            // Pass 1: hash every key and touch its home bucket.
            let mut left = todo;
            while left != 0 {
                let i = left.trailing_zeros() as usize;
                left &= left - 1;
                let h = keys[i].masked_hash(mask);
                scratch.hashes[i] = h;
                black_box(index.buckets[index.home(h)].overflow);
            }
            // Pass 2: match signatures; touch the candidate slots' keys.
            let mut left = todo;
            while left != 0 {
                let i = left.trailing_zeros() as usize;
                left &= left - 1;
                let c = index.first_candidate(scratch.hashes[i]);
                scratch.candidates[i] = c;
                if c < PROBE {
                    black_box(slots[c as usize].key.words[0]);
                }
            }
            // Pass 3: compare keys; fall back to a full probe on a mismatch.
            let mut left = todo;
            let mut hits = 0;
            while left != 0 {
                let i = left.trailing_zeros() as usize;
                left &= left - 1;
                let key = &keys[i];
                let c = scratch.candidates[i];
                let found = if c == EMPTY {
                    None
                } else if c != PROBE && key.matches(mask, &slots[c as usize].key) {
                    Some(c)
                } else {
                    // A signature collision, or a chain past the home bucket.
                    index.find(scratch.hashes[i], |s| {
                        key.matches(mask, &slots[s as usize].key)
                    })
                };
                if let Some(s) = found {
                    out[i] = FlowRef::new(s, slots[s as usize].hot.gen);
                    todo &= !(1 << i);
                    hits += 1;
                }
            }
            st.hits += hits;
        }
        todo
    }

    /// Re-sorts the subtables by hits since the last ranking (most first) and
    /// starts counting again. The poll loop calls this about once a second.
    pub fn rank_subtables(&mut self) {
        let subtables = &self.subtables;
        self.order.sort_unstable_by(|a, b| {
            let (a, b) = (&subtables[*a as usize], &subtables[*b as usize]);
            b.hits.cmp(&a.hits).then(b.index.len.cmp(&a.index.len))
        });
        for st in &mut self.subtables {
            st.hits = 0;
        }
    }

    /// Subtables in probe order: mask, flows, hits since the last ranking.
    pub fn subtables(&self) -> impl Iterator<Item = (&FlowMask, usize, u64)> + '_ {
        self.order
            .iter()
            .map(|&i| &self.subtables[i as usize])
            .filter(|s| s.index.len > 0)
            .map(|s| (&s.mask, s.index.len, s.hits))
    }

    /// Every installed megaflow (copied) with its reference.
    pub fn iter(&self) -> impl Iterator<Item = (FlowRef, Megaflow)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.hot.subtable != FREE)
            .map(|(i, s)| (FlowRef::new(i as u32, s.hot.gen), self.describe(s)))
    }

    /// Removes every megaflow.
    pub fn clear(&mut self) {
        let refs: Vec<FlowRef> = self.iter().map(|(r, _)| r).collect();
        for r in refs {
            self.remove(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Field;

    fn key(port: u32, dst: u32, tp: u16) -> FlowKey {
        let mut k = FlowKey::default();
        k.set_in_port(port);
        k.set_dl_type(0x0800);
        k.set_ipv4_dst(dst);
        k.set_tp_dst(tp);
        k
    }

    #[test]
    fn insert_lookup_remove() {
        let mut c = MegaflowCache::new(10);
        let m = FlowMask::of_fields(&[Field::InPort, Field::Ipv4Dst]);
        let r = c.insert(&key(1, 10, 80), &m, &[Action::Output(2)]).unwrap();
        // Matches regardless of the wildcarded port.
        assert_eq!(c.lookup(&key(1, 10, 443)), Some(r));
        assert_eq!(c.lookup(&key(2, 10, 80)), None);
        assert_eq!(
            c.insert(&key(1, 10, 99), &m, &[]),
            Err(MegaflowError::Exists)
        );
        let f = c.remove(r).unwrap();
        assert_eq!(&*f.actions, &[Action::Output(2)]);
        assert_eq!(f.mask, m);
        assert!(c.get(r).is_none(), "stale reference must not resolve");
        assert!(c.remove(r).is_none());
        assert_eq!(c.lookup(&key(1, 10, 80)), None);
        // The slot is reused with a new generation.
        let r2 = c.insert(&key(1, 10, 80), &m, &[]).unwrap();
        assert_eq!(r2.slot(), r.slot());
        assert_ne!(r2, r);
        assert!(c.get(r).is_none());
        assert!(c.get(r2).is_some());
    }

    #[test]
    fn masks_of_deleted_flows_are_reused() {
        let mut c = MegaflowCache::new(1 << 20);
        let mask = |i: usize| {
            let mut m = FlowMask::of_fields(&[Field::InPort]);
            m.words[6] = i as u64 + 1;
            m
        };
        let refs: Vec<FlowRef> = (0..MAX_SUBTABLES)
            .map(|i| c.insert(&key(1, 0, 0), &mask(i), &[]).unwrap())
            .collect();
        assert_eq!(
            c.insert(&key(1, 0, 0), &mask(MAX_SUBTABLES), &[]),
            Err(MegaflowError::TooManyMasks(MAX_SUBTABLES))
        );
        c.remove(refs[7]).unwrap();
        let r = c.insert(&key(1, 0, 0), &mask(MAX_SUBTABLES), &[]).unwrap();
        assert_eq!(c.lookup(&key(1, 0, 0)).map(|_| ()), Some(()));
        assert_eq!(c.get(r).unwrap().mask, mask(MAX_SUBTABLES));
        assert_eq!(c.subtable_count(), MAX_SUBTABLES);
    }

    #[test]
    fn limit_is_enforced() {
        let mut c = MegaflowCache::new(2);
        let m = FlowMask::EXACT;
        c.insert(&key(1, 1, 1), &m, &[]).unwrap();
        c.insert(&key(1, 2, 1), &m, &[]).unwrap();
        assert_eq!(
            c.insert(&key(1, 3, 1), &m, &[]),
            Err(MegaflowError::Full(2))
        );
    }

    #[test]
    fn index_survives_growth_and_removal_with_overflow_chains() {
        let mut c = MegaflowCache::new(1 << 20);
        let m = FlowMask::EXACT;
        let refs: Vec<FlowRef> = (0..5000u32)
            .map(|i| {
                c.insert(&key(i, i * 7, 1), &m, &[Action::Output(i)])
                    .unwrap()
            })
            .collect();
        for (i, r) in refs.iter().enumerate() {
            assert_eq!(c.lookup(&key(i as u32, i as u32 * 7, 1)), Some(*r));
        }
        for r in refs.iter().step_by(2) {
            c.remove(*r).unwrap();
        }
        for (i, r) in refs.iter().enumerate() {
            let want = (i % 2 == 1).then_some(*r);
            assert_eq!(c.lookup(&key(i as u32, i as u32 * 7, 1)), want);
        }
        assert_eq!(c.len(), 2500);
        assert_eq!(c.iter().count(), 2500);
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.lookup(&key(1, 7, 1)), None);
    }

    #[test]
    fn batch_lookup_spans_subtables_and_ranking_reorders() {
        let mut c = MegaflowCache::new(100);
        let m1 = FlowMask::of_fields(&[Field::InPort]);
        let m2 = FlowMask::of_fields(&[Field::Ipv4Dst, Field::TpDst]);
        let r1 = c.insert(&key(1, 0, 0), &m1, &[]).unwrap();
        let r2 = c.insert(&key(0, 7, 53), &m2, &[]).unwrap();
        let keys = [key(1, 9, 9), key(5, 7, 53), key(5, 7, 54)];
        let mut out = [FlowRef::NONE; 3];
        let left = c.lookup_batch(&keys, &mut out, 0b111);
        assert_eq!(left, 0b100);
        assert_eq!(out[0], r1);
        assert_eq!(out[1], r2);
        for _ in 0..5 {
            c.lookup(&key(9, 7, 53));
        }
        c.rank_subtables();
        let first = c.subtables().next().unwrap();
        assert_eq!(first.0, &m2);
        assert_eq!(c.subtable_count(), 2);
    }
}
