//! The MAC learning table behind the NORMAL action: which port a MAC address
//! was last seen on, per VLAN, with aging and a size limit.
//!
//! Learning happens in the slow path (translation), never per packet in the
//! fast path: a megaflow for NORMAL traffic matches the source MAC, so a
//! frame from an unknown source misses the caches and is learned here.
//! Every change bumps a generation, which revalidation uses to know that
//! megaflows may now be stale.

use std::collections::HashMap;

/// A port number as the bridge knows it (OpenFlow port number).
pub type OfPort = u32;

/// One learned address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacEntry {
    pub port: OfPort,
    /// When last seen (seconds on the caller's clock).
    pub seen: u64,
}

/// What learning a frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// A new address.
    New,
    /// A known address that moved to another port.
    Moved { from: OfPort },
    /// Already known on this port (its age was refreshed).
    Refreshed,
    /// Not learned: the source is a multicast/broadcast address.
    Ignored,
    /// Not learned: the table is full of live entries.
    Full,
}

/// The MAC learning table of one bridge.
#[derive(Debug, Clone)]
pub struct MacTable {
    entries: HashMap<(u16, [u8; 6]), MacEntry>,
    /// Seconds after which an entry is forgotten (Open vSwitch: 300).
    pub aging: u64,
    /// Most entries kept (Open vSwitch: 2048 by default, `other_config:mac-table-size`).
    pub max: usize,
    generation: u64,
}

impl Default for MacTable {
    fn default() -> Self {
        MacTable::new(300, 2048)
    }
}

/// Whether a MAC address is multicast (including broadcast).
pub fn is_multicast(mac: [u8; 6]) -> bool {
    mac[0] & 1 != 0
}

impl MacTable {
    /// An empty table.
    pub fn new(aging: u64, max: usize) -> MacTable {
        MacTable {
            entries: HashMap::new(),
            aging,
            max: max.max(1),
            generation: 0,
        }
    }

    /// Counts changes that could alter a forwarding decision.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Records that `mac` was seen on `port` in `vlan` at time `now`.
    pub fn learn(&mut self, vlan: u16, mac: [u8; 6], port: OfPort, now: u64) -> Learned {
        if is_multicast(mac) {
            return Learned::Ignored;
        }
        if let Some(e) = self.entries.get_mut(&(vlan, mac)) {
            e.seen = now;
            if e.port == port {
                return Learned::Refreshed;
            }
            let from = e.port;
            e.port = port;
            self.generation += 1;
            return Learned::Moved { from };
        }
        if self.entries.len() >= self.max {
            self.expire(now);
            if self.entries.len() >= self.max {
                // Make room by forgetting the stalest entry, as Open vSwitch
                // does, so that new hosts are not black-holed.
                let Some((&k, _)) = self.entries.iter().min_by_key(|(_, e)| e.seen) else {
                    return Learned::Full;
                };
                self.entries.remove(&k);
            }
        }
        self.entries
            .insert((vlan, mac), MacEntry { port, seen: now });
        self.generation += 1;
        Learned::New
    }

    /// The port `mac` is on in `vlan`, if known and not aged out.
    pub fn lookup(&self, vlan: u16, mac: [u8; 6], now: u64) -> Option<OfPort> {
        self.entries
            .get(&(vlan, mac))
            .filter(|e| now.saturating_sub(e.seen) < self.aging)
            .map(|e| e.port)
    }

    /// Forgets entries older than the aging time; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let aging = self.aging;
        let before = self.entries.len();
        self.entries
            .retain(|_, e| now.saturating_sub(e.seen) < aging);
        let n = before - self.entries.len();
        if n > 0 {
            self.generation += 1;
        }
        n
    }

    /// Forgets everything learned on `port` (it went away).
    pub fn flush_port(&mut self, port: OfPort) {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.port != port);
        if self.entries.len() != before {
            self.generation += 1;
        }
    }

    /// Forgets everything.
    pub fn flush(&mut self) {
        if !self.entries.is_empty() {
            self.generation += 1;
        }
        self.entries.clear();
    }

    /// Entries as (vlan, mac, port, age in seconds), sorted by port, VLAN and
    /// address, as `fdb/show` prints them.
    pub fn dump(&self, now: u64) -> Vec<(u16, [u8; 6], OfPort, u64)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .map(|(&(vlan, mac), e)| (vlan, mac, e.port, now.saturating_sub(e.seen)))
            .collect();
        v.sort_by_key(|&(vlan, mac, port, _)| (port, vlan, mac));
        v
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    #[test]
    fn learns_moves_ages_and_ignores_multicast() {
        let mut t = MacTable::new(300, 10);
        assert_eq!(t.learn(0, A, 1, 0), Learned::New);
        assert_eq!(t.lookup(0, A, 10), Some(1));
        assert_eq!(t.lookup(10, A, 10), None, "VLANs are separate");
        assert_eq!(t.learn(0, A, 1, 5), Learned::Refreshed);
        let g = t.generation();
        assert_eq!(t.learn(0, A, 2, 6), Learned::Moved { from: 1 });
        assert!(t.generation() > g);
        assert_eq!(t.lookup(0, A, 305), Some(2));
        assert_eq!(t.lookup(0, A, 306), None, "aged out");
        assert_eq!(t.learn(0, [0xff; 6], 1, 0), Learned::Ignored);
        assert_eq!(t.learn(0, [1, 0, 0x5e, 0, 0, 1], 1, 0), Learned::Ignored);
        assert_eq!(t.expire(1000), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn a_full_table_forgets_the_stalest_entry() {
        let mut t = MacTable::new(300, 2);
        t.learn(0, A, 1, 0);
        t.learn(0, B, 2, 10);
        let c = [2, 0, 0, 0, 0, 3];
        assert_eq!(t.learn(0, c, 3, 20), Learned::New);
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(0, A, 20), None);
        assert_eq!(t.lookup(0, c, 20), Some(3));
        t.flush_port(2);
        assert_eq!(t.lookup(0, B, 20), None);
        assert_eq!(t.dump(25), vec![(0, c, 3, 5)]);
    }
}
