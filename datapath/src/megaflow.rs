//! Megaflow cache: the datapath classifier (Open vSwitch's "dpcls").
//!
//! A megaflow is a (mask, masked key) pair with actions: every packet whose
//! key, masked, equals the masked key takes those actions. The cache does
//! tuple-space search: one [`Subtable`] per distinct mask, each a hash table of
//! masked keys. A lookup masks the packet's key with each subtable's mask in
//! turn and probes that subtable's table, stopping at the first hit.
//!
//! Megaflows carry no priority: the slow path only ever installs megaflows
//! that do not overlap, so whichever subtable answers first answers right.
//! Subtables are therefore probed in order of how many hits they had since the
//! last ranking ([`MegaflowCache::rank_subtables`]), so busy masks are found
//! after fewer probes.
//!
//! Megaflows live in a slab; a [`FlowRef`] names a slot and its generation, so
//! references held elsewhere (the EMC) go stale rather than dangle when a flow
//! is deleted.

use crate::actions::Action;
use crate::flow::{FlowKey, FlowMask, FLOW_WORDS};
use hashbrown::HashTable;

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

/// An installed megaflow.
#[derive(Debug, Clone)]
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

#[derive(Debug)]
struct Slot {
    gen: u32,
    subtable: u32,
    flow: Option<Megaflow>,
}

/// A hash-table entry: the masked key, inline so that a probe touches one
/// allocation, and the slab slot.
#[derive(Clone, Copy)]
struct SubtableEntry {
    key: [u64; FLOW_WORDS],
    slot: u32,
}

/// All megaflows that share one mask.
pub struct Subtable {
    mask: FlowMask,
    table: HashTable<SubtableEntry>,
    hits: u64,
}

impl std::fmt::Debug for Subtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subtable")
            .field("mask", &self.mask)
            .field("flows", &self.table.len())
            .field("hits", &self.hits)
            .finish()
    }
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
    /// the key has bits outside its mask
    #[error("the key has bits set outside its mask; mask the key first")]
    KeyOutsideMask,
}

/// The megaflow classifier of one poll-mode thread.
#[derive(Debug)]
pub struct MegaflowCache {
    slots: Vec<Slot>,
    free: Vec<u32>,
    subtables: Vec<Subtable>,
    /// Subtable indexes in probe order.
    order: Vec<u32>,
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
        self.subtables
            .iter()
            .filter(|s| !s.table.is_empty())
            .count()
    }

    /// The live megaflow `r` names, if it still exists.
    #[inline(always)]
    pub fn get(&self, r: FlowRef) -> Option<&Megaflow> {
        match self.slots.get(r.slot()) {
            Some(s) if s.gen == r.gen => s.flow.as_ref(),
            _ => None,
        }
    }

    /// Mutable access to the live megaflow `r` names.
    #[inline(always)]
    pub fn get_mut(&mut self, r: FlowRef) -> Option<&mut Megaflow> {
        match self.slots.get_mut(r.slot()) {
            Some(s) if s.gen == r.gen => s.flow.as_mut(),
            _ => None,
        }
    }

    fn subtable_index(&self, mask: &FlowMask) -> Option<usize> {
        self.subtables.iter().position(|s| s.mask == *mask)
    }

    /// Finds the megaflow with exactly this mask and (masked) key.
    pub fn find(&self, key: &FlowKey, mask: &FlowMask) -> Option<FlowRef> {
        let st = &self.subtables[self.subtable_index(mask)?];
        let masked = key.masked(mask);
        let hash = masked.hash();
        let e = st.table.find(hash, |e| e.key == masked.words)?;
        Some(FlowRef::new(e.slot, self.slots[e.slot as usize].gen))
    }

    /// Installs a new megaflow. `key` is masked here, so a raw packet key may
    /// be passed. Fails if the same (mask, masked key) exists or the cache is
    /// at its limit.
    pub fn insert(
        &mut self,
        key: &FlowKey,
        mask: &FlowMask,
        actions: Box<[Action]>,
    ) -> Result<FlowRef, MegaflowError> {
        let masked = key.masked(mask);
        if self.find(&masked, mask).is_some() {
            return Err(MegaflowError::Exists);
        }
        if self.len >= self.limit {
            return Err(MegaflowError::Full(self.limit));
        }
        let st_idx = match self.subtable_index(mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable {
                    mask: *mask,
                    table: HashTable::new(),
                    hits: 0,
                });
                self.order.push((self.subtables.len() - 1) as u32);
                self.subtables.len() - 1
            }
        };
        let flow = Megaflow {
            key: masked,
            mask: *mask,
            actions,
            stats: MegaflowStats::default(),
        };
        let slot = match self.free.pop() {
            Some(s) => {
                let sl = &mut self.slots[s as usize];
                sl.flow = Some(flow);
                sl.subtable = st_idx as u32;
                s
            }
            None => {
                self.slots.push(Slot {
                    gen: 1,
                    subtable: st_idx as u32,
                    flow: Some(flow),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let hash = masked.hash();
        self.subtables[st_idx].table.insert_unique(
            hash,
            SubtableEntry {
                key: masked.words,
                slot,
            },
            |e| FlowKey { words: e.key }.hash(),
        );
        self.len += 1;
        Ok(FlowRef::new(slot, self.slots[slot as usize].gen))
    }

    /// Removes the megaflow `r` names and returns it.
    pub fn remove(&mut self, r: FlowRef) -> Option<Megaflow> {
        let slot = self.slots.get_mut(r.slot())?;
        if slot.gen != r.gen || slot.flow.is_none() {
            return None;
        }
        let flow = slot.flow.take()?;
        // A new generation makes every outstanding FlowRef to this slot stale.
        slot.gen = slot.gen.wrapping_add(1).max(1);
        let st = &mut self.subtables[slot.subtable as usize];
        let hash = flow.key.hash();
        if let Ok(e) = st.table.find_entry(hash, |e| e.slot == r.slot) {
            e.remove();
        }
        self.free.push(r.slot);
        self.len -= 1;
        if st.table.is_empty() {
            // Keep the subtable (its index is referenced by slots) but do not
            // probe it until it has flows again.
            st.hits = 0;
        }
        Some(flow)
    }

    /// Looks up one key.
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey) -> Option<FlowRef> {
        for &si in &self.order {
            let st = &mut self.subtables[si as usize];
            if st.table.is_empty() {
                continue;
            }
            let hash = key.masked_hash(&st.mask);
            if let Some(e) = st
                .table
                .find(hash, |e| key.matches(&st.mask, &FlowKey { words: e.key }))
            {
                st.hits += 1;
                let slot = e.slot;
                return Some(FlowRef::new(slot, self.slots[slot as usize].gen));
            }
        }
        None
    }

    /// Looks up the keys whose bit is set in `todo` (bit i = `keys[i]`),
    /// writing each hit to `out[i]`. Returns the bitmap of keys still missing.
    /// Each subtable is probed for every remaining key before the next one,
    /// so its mask and table stay hot in cache.
    #[inline]
    pub fn lookup_batch(&mut self, keys: &[FlowKey], out: &mut [FlowRef], mut todo: u32) -> u32 {
        debug_assert!(keys.len() <= 32 && out.len() >= keys.len());
        for &si in &self.order {
            if todo == 0 {
                break;
            }
            let st = &mut self.subtables[si as usize];
            if st.table.is_empty() {
                continue;
            }
            let mask = st.mask;
            let mut left = todo;
            let mut hits = 0;
            while left != 0 {
                let i = left.trailing_zeros() as usize;
                left &= left - 1;
                let key = &keys[i];
                let hash = key.masked_hash(&mask);
                if let Some(e) = st
                    .table
                    .find(hash, |e| key.matches(&mask, &FlowKey { words: e.key }))
                {
                    out[i] = FlowRef::new(e.slot, self.slots[e.slot as usize].gen);
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
        self.order.sort_by(|a, b| {
            let (a, b) = (&subtables[*a as usize], &subtables[*b as usize]);
            b.hits.cmp(&a.hits).then(b.table.len().cmp(&a.table.len()))
        });
        for st in &mut self.subtables {
            st.hits = 0;
        }
    }

    /// Subtables in probe order, with their flow and hit counts.
    pub fn subtables(&self) -> impl Iterator<Item = (&FlowMask, usize, u64)> + '_ {
        self.order
            .iter()
            .map(|&i| &self.subtables[i as usize])
            .filter(|s| !s.table.is_empty())
            .map(|s| (&s.mask, s.table.len(), s.hits))
    }

    /// Every installed megaflow with its reference.
    pub fn iter(&self) -> impl Iterator<Item = (FlowRef, &Megaflow)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.flow.as_ref().map(|f| (FlowRef::new(i as u32, s.gen), f)))
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
        let r = c
            .insert(&key(1, 10, 80), &m, Box::new([Action::Output(2)]))
            .unwrap();
        // Matches regardless of the wildcarded port.
        assert_eq!(c.lookup(&key(1, 10, 443)), Some(r));
        assert_eq!(c.lookup(&key(2, 10, 80)), None);
        assert_eq!(
            c.insert(&key(1, 10, 99), &m, Box::new([])),
            Err(MegaflowError::Exists)
        );
        let f = c.remove(r).unwrap();
        assert_eq!(&*f.actions, &[Action::Output(2)]);
        assert!(c.get(r).is_none(), "stale reference must not resolve");
        assert_eq!(c.lookup(&key(1, 10, 80)), None);
        // The slot is reused with a new generation.
        let r2 = c.insert(&key(1, 10, 80), &m, Box::new([])).unwrap();
        assert_eq!(r2.slot(), r.slot());
        assert_ne!(r2, r);
        assert!(c.get(r).is_none());
        assert!(c.get(r2).is_some());
    }

    #[test]
    fn limit_is_enforced() {
        let mut c = MegaflowCache::new(2);
        let m = FlowMask::EXACT;
        c.insert(&key(1, 1, 1), &m, Box::new([])).unwrap();
        c.insert(&key(1, 2, 1), &m, Box::new([])).unwrap();
        assert_eq!(
            c.insert(&key(1, 3, 1), &m, Box::new([])),
            Err(MegaflowError::Full(2))
        );
    }

    #[test]
    fn batch_lookup_spans_subtables_and_ranking_reorders() {
        let mut c = MegaflowCache::new(100);
        let m1 = FlowMask::of_fields(&[Field::InPort]);
        let m2 = FlowMask::of_fields(&[Field::Ipv4Dst, Field::TpDst]);
        let r1 = c.insert(&key(1, 0, 0), &m1, Box::new([])).unwrap();
        let r2 = c.insert(&key(0, 7, 53), &m2, Box::new([])).unwrap();
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
