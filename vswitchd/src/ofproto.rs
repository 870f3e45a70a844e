//! OpenFlow-style flow tables of a bridge: rules with a match, a priority
//! and actions, in numbered tables searched from table 0, with `goto_table`.
//!
//! A match is expressed over the datapath's [`FlowKey`] fields (with a
//! [`FlowMask`]) plus the pipeline's `metadata` register, so that checking a
//! rule against a packet is the same word loop the datapath uses, and the
//! bits a rule looked at can be added to a megaflow's mask directly.
//!
//! The tables are immutable once built: a change builds a new
//! [`FlowTables`] and publishes it, so translation in the datapath threads
//! never waits for the control plane.

use crate::mac_learning::OfPort;
use rvs_datapath::{FlowKey, FlowMask, FLOW_WORDS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Reserved port numbers, as in OpenFlow 1.3.
pub mod ofpp {
    use super::OfPort;
    /// The largest number of an ordinary port.
    pub const MAX: OfPort = 0xffff_ff00;
    pub const IN_PORT: OfPort = 0xffff_fff8;
    pub const TABLE: OfPort = 0xffff_fff9;
    pub const NORMAL: OfPort = 0xffff_fffa;
    pub const FLOOD: OfPort = 0xffff_fffb;
    pub const ALL: OfPort = 0xffff_fffc;
    pub const CONTROLLER: OfPort = 0xffff_fffd;
    pub const LOCAL: OfPort = 0xffff_fffe;
    pub const ANY: OfPort = 0xffff_ffff;
}

/// What a rule matches: datapath key fields under a mask, and the metadata
/// register. In the key, `in_port` is the OpenFlow port number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Match {
    pub key: FlowKey,
    pub mask: FlowMask,
    pub metadata: u64,
    pub metadata_mask: u64,
}

impl Match {
    /// Matches every packet.
    pub fn any() -> Match {
        Match::default()
    }

    /// A match from key and mask (the key is masked here).
    pub fn new(key: FlowKey, mask: FlowMask) -> Match {
        Match {
            key: key.masked(&mask),
            mask,
            metadata: 0,
            metadata_mask: 0,
        }
    }

    /// Whether a packet with `key` (whose `in_port` is the OpenFlow port)
    /// and `metadata` matches.
    #[inline]
    pub fn matches(&self, key: &FlowKey, metadata: u64) -> bool {
        key.matches(&self.mask, &self.key) && (metadata & self.metadata_mask) == self.metadata
    }

    /// Whether two matches are the same (for modify/delete "strict").
    pub fn same_as(&self, other: &Match) -> bool {
        self == other
    }

    /// Whether this match is at least as specific as `other`: every packet
    /// it matches, `other` matches too (for non-strict modify/delete).
    pub fn is_within(&self, other: &Match) -> bool {
        (0..FLOW_WORDS).all(|i| {
            let om = other.mask.words[i];
            self.mask.words[i] & om == om && self.key.words[i] & om == other.key.words[i]
        }) && self.metadata_mask & other.metadata_mask == other.metadata_mask
            && self.metadata & other.metadata_mask == other.metadata
    }
}

/// One OpenFlow action, as the pipeline runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfAction {
    /// To a port (an ordinary one, or `IN_PORT`, `LOCAL`).
    Output(OfPort),
    /// The MAC-learning switch.
    Normal,
    /// To every port but the input port (and ports excluded from flooding).
    Flood,
    /// To every port but the input port.
    All,
    /// To the controller (OpenFlow comes with a later issue: counted and
    /// queued to the slow path).
    Controller {
        max_len: u16,
    },
    /// Push an 802.1Q tag with VID 0.
    PushVlan {
        tpid: u16,
    },
    /// Remove the outer tag.
    PopVlan,
    /// Set the VID of the outer tag (pushing one if there is none).
    SetVlanVid(u16),
    SetEthSrc([u8; 6]),
    SetEthDst([u8; 6]),
    SetIpv4Src(u32),
    SetIpv4Dst(u32),
    SetTpSrc(u16),
    SetTpDst(u16),
    /// Decrement the IP TTL (drop at zero).
    DecTtl,
}

/// Counters credited to a rule (from the megaflows it produced).
#[derive(Debug, Default)]
pub struct RuleStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

impl RuleStats {
    /// Adds traffic.
    pub fn credit(&self, packets: u64, bytes: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// One flow rule.
#[derive(Debug)]
pub struct Rule {
    pub table: u8,
    pub priority: u16,
    pub m: Match,
    /// Apply-actions, in order.
    pub actions: Vec<OfAction>,
    /// `write_metadata`: (value, mask).
    pub write_metadata: Option<(u64, u64)>,
    /// `goto_table`.
    pub goto: Option<u8>,
    pub cookie: u64,
    pub stats: RuleStats,
}

impl Rule {
    /// A rule in `table` with `priority`, match and apply-actions.
    pub fn new(table: u8, priority: u16, m: Match, actions: Vec<OfAction>) -> Rule {
        Rule {
            table,
            priority,
            m,
            actions,
            write_metadata: None,
            goto: None,
            cookie: 0,
            stats: RuleStats::default(),
        }
    }
}

/// Every table of a bridge; rules in each table by descending priority.
#[derive(Debug, Clone, Default)]
pub struct FlowTables {
    tables: Vec<Vec<Arc<Rule>>>,
}

impl FlowTables {
    /// The default of a new bridge: one priority-0 rule in table 0 that
    /// sends everything to NORMAL.
    pub fn normal() -> FlowTables {
        let mut t = FlowTables::default();
        t.add(Rule::new(0, 0, Match::any(), vec![OfAction::Normal]));
        t
    }

    /// Adds a rule, replacing one with the same table, priority and match.
    pub fn add(&mut self, rule: Rule) {
        let t = rule.table as usize;
        if self.tables.len() <= t {
            self.tables.resize_with(t + 1, Vec::new);
        }
        let table = &mut self.tables[t];
        table.retain(|r| !(r.priority == rule.priority && r.m.same_as(&rule.m)));
        let pos = table.partition_point(|r| r.priority >= rule.priority);
        table.insert(pos, Arc::new(rule));
    }

    /// Removes the rules of `table` (all tables if `None`) whose match lies
    /// within `m`; returns how many.
    pub fn delete(&mut self, table: Option<u8>, m: &Match) -> usize {
        let mut n = 0;
        for (i, t) in self.tables.iter_mut().enumerate() {
            if table.is_some_and(|x| x as usize != i) {
                continue;
            }
            let before = t.len();
            t.retain(|r| !r.m.is_within(m));
            n += before - t.len();
        }
        n
    }

    /// The rules of table `t`, highest priority first.
    pub fn table(&self, t: u8) -> &[Arc<Rule>] {
        self.tables
            .get(t as usize)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// Every rule, table by table.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> + '_ {
        self.tables.iter().flatten()
    }

    /// Number of tables that exist (the highest used number plus one).
    pub fn n_tables(&self) -> usize {
        self.tables.len()
    }

    /// The highest-priority rule of table `t` matching the packet, adding to
    /// `wc` the bits of every rule that had to be looked at to decide it.
    pub fn lookup(
        &self,
        t: u8,
        key: &FlowKey,
        metadata: u64,
        wc: &mut FlowMask,
    ) -> Option<&Arc<Rule>> {
        for r in self.table(t) {
            // A rule that was checked constrains the megaflow whether it
            // matched or not: a packet differing in those bits could go
            // another way.
            *wc = wc.union(&r.m.mask);
            if r.m.matches(key, metadata) {
                return Some(r);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_datapath::Field;

    fn m(fields: &[Field], set: impl Fn(&mut FlowKey)) -> Match {
        let mut k = FlowKey::default();
        set(&mut k);
        Match::new(k, FlowMask::of_fields(fields))
    }

    #[test]
    fn highest_priority_match_wins_and_mask_covers_what_was_checked() {
        let mut t = FlowTables::normal();
        t.add(Rule::new(
            0,
            100,
            m(&[Field::Ipv4Dst, Field::DlType], |k| {
                k.set_dl_type(0x0800);
                k.set_ipv4_dst(0x0a000002);
            }),
            vec![],
        ));
        let mut pkt = FlowKey::default();
        pkt.set_dl_type(0x0800);
        pkt.set_ipv4_dst(0x0a000003);
        let mut wc = FlowMask::default();
        let r = t.lookup(0, &pkt, 0, &mut wc).unwrap();
        assert_eq!(r.priority, 0, "the drop rule does not match");
        assert!(wc.has_field(Field::Ipv4Dst), "but it was checked");
        pkt.set_ipv4_dst(0x0a000002);
        let mut wc = FlowMask::default();
        assert_eq!(t.lookup(0, &pkt, 0, &mut wc).unwrap().priority, 100);
        // Replacing: same priority and match.
        t.add(Rule::new(
            0,
            100,
            m(&[Field::Ipv4Dst, Field::DlType], |k| {
                k.set_dl_type(0x0800);
                k.set_ipv4_dst(0x0a000002);
            }),
            vec![OfAction::Flood],
        ));
        assert_eq!(t.table(0).len(), 2);
        assert_eq!(t.table(0)[0].actions, vec![OfAction::Flood]);
    }

    #[test]
    fn non_strict_delete_removes_rules_within_the_filter() {
        let mut t = FlowTables::normal();
        for ip in 1..=3u32 {
            t.add(Rule::new(
                0,
                10,
                m(&[Field::Ipv4Dst, Field::DlType], |k| {
                    k.set_dl_type(0x0800);
                    k.set_ipv4_dst(ip);
                }),
                vec![],
            ));
        }
        let ip_only = m(&[Field::DlType], |k| k.set_dl_type(0x0800));
        assert_eq!(t.delete(Some(0), &ip_only), 3);
        assert_eq!(
            t.table(0).len(),
            1,
            "the catch-all NORMAL rule is not within dl_type=ip"
        );
        assert_eq!(t.delete(None, &Match::any()), 1);
        assert_eq!(t.rules().count(), 0);
    }
}
