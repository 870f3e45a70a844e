//! Exact-match cache: the first lookup a packet meets.
//!
//! The EMC maps a whole [`FlowKey`] (every field, no mask) to the megaflow that
//! last matched it. It is per poll-mode thread, so it needs no locks; it is a
//! plain array indexed by the key's hash, with [`EMC_WAYS`] candidate slots
//! per key, as in Open vSwitch.
//!
//! The default size is 16384 entries (Open vSwitch has 8192): measured with
//! `rvs-pktgen micro --case emc_hit --flows 8192`, 8192 entries held 80% of
//! 8192 flows and ran at 28.6 Mpps, 16384 entries held 95–97% and ran at
//! 33.6–34.6 Mpps; 32768 and 65536 gained little more (see BENCHMARKS.md).
//! An entry is 76 bytes, so the default costs 1.2 MiB per poll-mode thread.
//!
//! Entries are not removed when a megaflow goes away: an entry holds a
//! [`FlowRef`] (slot and generation) and the megaflow cache refuses a stale
//! one, so a deleted flow can never be returned.
//!
//! Insertion is probabilistic (Open vSwitch inserts 1 in 100 by default): with
//! many flows, inserting every miss would make the cache thrash, and the
//! flows that carry most packets are the ones that get in. `insert_inv_prob`
//! sets the odds (1 = always, 0 = never, which also disables lookups).

use crate::flow::FlowKey;
use crate::megaflow::FlowRef;

/// Candidate slots per key.
pub const EMC_WAYS: usize = 2;

/// EMC settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmcConfig {
    /// Number of entries; rounded up to a power of two, at least 2.
    pub entries: usize,
    /// Insert 1 in this many candidates (1 = every time, 0 = EMC disabled).
    pub insert_inv_prob: u32,
}

impl Default for EmcConfig {
    fn default() -> Self {
        EmcConfig {
            entries: 16384,
            insert_inv_prob: 100,
        }
    }
}

/// A cache line per key so that a compare touches one line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct EmcKey(FlowKey);

#[derive(Clone, Copy)]
struct EmcMeta {
    hash: u32,
    flow: FlowRef,
}

const EMPTY: EmcMeta = EmcMeta {
    hash: 0,
    flow: FlowRef::NONE,
};

/// The exact-match cache of one poll-mode thread.
pub struct Emc {
    keys: Box<[EmcKey]>,
    meta: Box<[EmcMeta]>,
    mask: usize,
    shift: u32,
    insert_inv_prob: u32,
    rng: u64,
}

impl std::fmt::Debug for Emc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emc")
            .field("entries", &self.keys.len())
            .field("insert_inv_prob", &self.insert_inv_prob)
            .finish()
    }
}

impl Emc {
    /// An empty cache.
    pub fn new(config: EmcConfig) -> Emc {
        let n = config.entries.max(2).next_power_of_two();
        Emc {
            keys: vec![EmcKey::default(); n].into_boxed_slice(),
            meta: vec![EMPTY; n].into_boxed_slice(),
            mask: n - 1,
            shift: n.trailing_zeros(),
            insert_inv_prob: config.insert_inv_prob,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Whether lookups and inserts happen at all.
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.insert_inv_prob != 0
    }

    /// Number of entries.
    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    #[inline(always)]
    fn slot(&self, hash: u64, way: usize) -> usize {
        ((hash >> (way as u32 * self.shift)) as usize) & self.mask
    }

    /// The flow cached for `key` (whose [`FlowKey::hash`] is `hash`), if any.
    /// The caller must still check that the flow is alive.
    #[inline(always)]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<FlowRef> {
        for way in 0..EMC_WAYS {
            let i = self.slot(hash, way);
            let m = &self.meta[i];
            if m.hash == hash as u32 && !m.flow.is_none() && self.keys[i].0 == *key {
                return Some(m.flow);
            }
        }
        None
    }

    /// Looks up `keys` (at most 32), filling `hashes[i]` with each key's hash
    /// and `out[i]` with its cached flow; returns the bitmap of keys it had
    /// nothing for. Works in passes (hash and touch the slots' metadata;
    /// match hashes and touch the keys; compare keys) so that the cache
    /// misses of the batch overlap. The caller must still check the flows
    /// are alive.
    #[inline]
    pub fn lookup_batch(&self, keys: &[FlowKey], hashes: &mut [u64], out: &mut [FlowRef]) -> u32 {
        let n = keys.len();
        assert!(n <= 32 && hashes.len() >= n && out.len() >= n);
        let mut cand = [usize::MAX; 32];
        for i in 0..n {
            let h = keys[i].hash();
            hashes[i] = h;
            for way in 0..EMC_WAYS {
                std::hint::black_box(self.meta[self.slot(h, way)].hash);
            }
        }
        for i in 0..n {
            let h = hashes[i];
            for way in (0..EMC_WAYS).rev() {
                let s = self.slot(h, way);
                let m = &self.meta[s];
                if m.hash == h as u32 && !m.flow.is_none() {
                    cand[i] = s;
                }
            }
            if cand[i] != usize::MAX {
                std::hint::black_box(self.keys[cand[i]].0.words[0]);
            }
        }
        let mut miss = 0u32;
        for i in 0..n {
            let c = cand[i];
            if c != usize::MAX && self.keys[c].0 == keys[i] {
                out[i] = self.meta[c].flow;
            } else if let Some(f) = (c != usize::MAX)
                .then(|| self.lookup(&keys[i], hashes[i]))
                .flatten()
            {
                // Both ways had this hash; the other one holds the key.
                out[i] = f;
            } else {
                miss |= 1 << i;
            }
        }
        miss
    }

    /// Inserts `key → flow` with the configured probability.
    #[inline]
    pub fn probabilistic_insert(&mut self, key: &FlowKey, hash: u64, flow: FlowRef) {
        if self.insert_inv_prob == 0 {
            return;
        }
        if self.insert_inv_prob > 1 {
            // xorshift64: cheap, and good enough to pick 1 in N.
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if self.rng % self.insert_inv_prob as u64 != 0 {
                return;
            }
        }
        self.insert(key, hash, flow);
    }

    /// Inserts `key → flow` unconditionally: into the way that already holds
    /// the key, else an empty way, else the way the hash picks.
    pub fn insert(&mut self, key: &FlowKey, hash: u64, flow: FlowRef) {
        let mut victim = None;
        for way in 0..EMC_WAYS {
            let i = self.slot(hash, way);
            let m = self.meta[i];
            if m.hash == hash as u32 && self.keys[i].0 == *key {
                self.meta[i].flow = flow;
                return;
            }
            if m.flow.is_none() && victim.is_none() {
                victim = Some(i);
            }
        }
        let i = victim.unwrap_or_else(|| self.slot(hash, (hash >> 63) as usize % EMC_WAYS));
        self.keys[i] = EmcKey(*key);
        self.meta[i] = EmcMeta {
            hash: hash as u32,
            flow,
        };
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.meta.fill(EMPTY);
    }

    /// Entries that hold a flow (alive or stale).
    pub fn occupied(&self) -> usize {
        self.meta.iter().filter(|m| !m.flow.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> FlowKey {
        let mut k = FlowKey::default();
        k.words[4] = i;
        k
    }

    fn flow(i: u32) -> FlowRef {
        FlowRef::new(i, 1)
    }

    #[test]
    fn hit_after_insert_miss_for_other_keys() {
        let mut emc = Emc::new(EmcConfig {
            entries: 64,
            insert_inv_prob: 1,
        });
        let k = key(7);
        emc.probabilistic_insert(&k, k.hash(), flow(3));
        assert_eq!(emc.lookup(&k, k.hash()), Some(flow(3)));
        let other = key(8);
        assert_eq!(emc.lookup(&other, other.hash()), None);
        emc.insert(&k, k.hash(), flow(4));
        assert_eq!(emc.lookup(&k, k.hash()), Some(flow(4)));
        assert_eq!(emc.occupied(), 1);
        emc.clear();
        assert_eq!(emc.lookup(&k, k.hash()), None);
    }

    #[test]
    fn insert_probability_is_roughly_one_in_n() {
        let mut emc = Emc::new(EmcConfig {
            entries: 1 << 16,
            insert_inv_prob: 100,
        });
        for i in 0..100_000u64 {
            let k = key(i);
            emc.probabilistic_insert(&k, k.hash(), flow(i as u32));
        }
        let n = emc.occupied();
        assert!((500..2000).contains(&n), "inserted {n} of 100000");
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let mut emc = Emc::new(EmcConfig {
            entries: 16,
            insert_inv_prob: 0,
        });
        let k = key(1);
        emc.probabilistic_insert(&k, k.hash(), flow(1));
        assert!(!emc.enabled());
        assert_eq!(emc.lookup(&k, k.hash()), None);
    }

    #[test]
    fn many_keys_keep_the_latest_per_slot() {
        let mut emc = Emc::new(EmcConfig {
            entries: 8,
            insert_inv_prob: 1,
        });
        for i in 0..1000u64 {
            let k = key(i);
            emc.insert(&k, k.hash(), flow(i as u32));
            // The key just inserted is always found, whatever it evicted.
            assert_eq!(emc.lookup(&k, k.hash()), Some(flow(i as u32)));
        }
        assert!(emc.occupied() <= 8);
    }
}
