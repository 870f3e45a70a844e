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
//!
//! A rule keeps the OpenFlow match and instructions it was made from
//! (what `dump-flows` prints back), its timeouts and flags, and counters
//! shared by every version of the rule (a modify keeps them unless
//! `reset_counts`), credited by the datapath threads from the megaflows the
//! rule produced.

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
    /// To the controller, as a PACKET_IN with at most `max_len` bytes of
    /// the packet.
    Controller {
        max_len: u16,
    },
    /// Push an 802.1Q tag with VID 0.
    PushVlan {
        tpid: u16,
    },
    /// Remove the outer tag.
    PopVlan,
    /// Set the VID of the outer tag (pushing one if there is none), as
    /// `mod_vlan_vid` does.
    SetVlanVid(u16),
    /// Set the VID of the outer tag if there is one (OpenFlow 1.3
    /// `set_field:V->vlan_vid`).
    SetTagVid(u16),
    /// Set the PCP of the outer tag if there is one.
    SetTagPcp(u8),
    SetEthSrc([u8; 6]),
    SetEthDst([u8; 6]),
    SetIpv4Src(u32),
    SetIpv4Dst(u32),
    SetTpSrc(u16),
    SetTpDst(u16),
    /// Decrement the IP TTL (drop at zero).
    DecTtl,
}

/// Counters credited to a rule (from the megaflows it produced), shared by
/// the versions of a rule that a modify makes.
#[derive(Debug, Default)]
pub struct RuleStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// When traffic was last credited (ms on the switch's clock), for the
    /// idle timeout.
    pub used_ms: AtomicU64,
}

impl RuleStats {
    /// Adds traffic seen up to `now_ms`.
    pub fn credit(&self, packets: u64, bytes: u64, now_ms: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.used_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// (packets, bytes).
    pub fn get(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// What a rule carries for OpenFlow: the wire form it was added with, its
/// timeouts, flags and age.
#[derive(Debug, Clone, Default)]
pub struct RuleMeta {
    /// The OXM match as the controller sent it.
    pub of_match: rvs_openflow::Match,
    /// The instructions as the controller sent them.
    pub instructions: Vec<rvs_openflow::Instruction>,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: rvs_openflow::FlowModFlags,
    /// When the rule was added (ms on the switch's clock).
    pub created_ms: u64,
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
    /// `write_actions`: merged into the action set.
    pub write_actions: Vec<OfAction>,
    /// `clear_actions`.
    pub clear_actions: bool,
    pub cookie: u64,
    pub stats: Arc<RuleStats>,
    pub meta: RuleMeta,
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
            write_actions: Vec::new(),
            clear_actions: false,
            cookie: 0,
            stats: Arc::default(),
            meta: RuleMeta::default(),
        }
    }

    /// Whether the rule is a table-miss rule (priority 0, matches all).
    pub fn is_table_miss(&self) -> bool {
        self.priority == 0 && self.m == Match::any()
    }

    /// Whether the rule outputs to `port` (for `out_port` filters); any port
    /// matches [`ofpp::ANY`].
    pub fn outputs_to(&self, port: OfPort) -> bool {
        port == ofpp::ANY
            || self
                .actions
                .iter()
                .chain(&self.write_actions)
                .any(|a| match a {
                    OfAction::Output(p) => *p == port,
                    OfAction::Normal => port == ofpp::NORMAL,
                    OfAction::Flood => port == ofpp::FLOOD,
                    OfAction::All => port == ofpp::ALL,
                    OfAction::Controller { .. } => port == ofpp::CONTROLLER,
                    _ => false,
                })
    }
}

/// Which rules a modify or delete selects.
#[derive(Debug, Clone, Copy)]
pub struct Selector<'a> {
    /// One table, or all.
    pub table: Option<u8>,
    pub m: &'a Match,
    /// `Some(priority)`: strict (same match and priority).
    pub strict_priority: Option<u16>,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub out_port: OfPort,
}

impl Selector<'_> {
    /// Whether `r` is selected.
    pub fn selects(&self, r: &Rule) -> bool {
        if self.table.is_some_and(|t| t != r.table) {
            return false;
        }
        if (r.cookie ^ self.cookie) & self.cookie_mask != 0 {
            return false;
        }
        let matched = match self.strict_priority {
            Some(p) => r.priority == p && r.m.same_as(self.m),
            None => r.m.is_within(self.m),
        };
        matched && r.outputs_to(self.out_port)
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
        let mut r = Rule::new(0, 0, Match::any(), vec![OfAction::Normal]);
        r.meta.instructions = vec![rvs_openflow::Instruction::ApplyActions(vec![
            rvs_openflow::Action::output(rvs_openflow::PortNo::NORMAL),
        ])];
        t.add(r);
        t
    }

    /// Adds a rule, replacing one with the same table, priority and match
    /// (which is returned).
    pub fn add(&mut self, rule: Rule) -> Option<Arc<Rule>> {
        let t = rule.table as usize;
        if self.tables.len() <= t {
            self.tables.resize_with(t + 1, Vec::new);
        }
        let table = &mut self.tables[t];
        let old = table
            .iter()
            .position(|r| r.priority == rule.priority && r.m.same_as(&rule.m))
            .map(|i| table.remove(i));
        let pos = table.partition_point(|r| r.priority >= rule.priority);
        table.insert(pos, Arc::new(rule));
        old
    }

    /// Whether a rule of the same table and priority overlaps `rule` (some
    /// packet could match both), for `CHECK_OVERLAP`.
    pub fn overlaps(&self, rule: &Rule) -> bool {
        self.table(rule.table).iter().any(|r| {
            r.priority == rule.priority
                && !r.m.same_as(&rule.m)
                && (0..FLOW_WORDS).all(|i| {
                    let both = r.m.mask.words[i] & rule.m.mask.words[i];
                    r.m.key.words[i] & both == rule.m.key.words[i] & both
                })
                && (r.m.metadata ^ rule.m.metadata) & r.m.metadata_mask & rule.m.metadata_mask == 0
        })
    }

    /// Removes the rules `sel` selects and returns them.
    pub fn remove(&mut self, sel: &Selector<'_>) -> Vec<Arc<Rule>> {
        let mut out = Vec::new();
        for t in &mut self.tables {
            t.retain(|r| {
                if sel.selects(r) {
                    out.push(r.clone());
                    false
                } else {
                    true
                }
            });
        }
        out
    }

    /// Replaces each rule `sel` selects by what `f` makes of it; returns
    /// how many.
    pub fn modify(&mut self, sel: &Selector<'_>, f: impl Fn(&Rule) -> Rule) -> usize {
        let mut n = 0;
        for t in &mut self.tables {
            for r in t.iter_mut() {
                if sel.selects(r) {
                    *r = Arc::new(f(r));
                    n += 1;
                }
            }
        }
        n
    }

    /// Removes exactly these rules (by identity); returns those that were
    /// still there.
    pub fn remove_rules(&mut self, rules: &[Arc<Rule>]) -> Vec<Arc<Rule>> {
        let mut out = Vec::new();
        for t in &mut self.tables {
            t.retain(|r| {
                if rules.iter().any(|x| Arc::ptr_eq(x, r)) {
                    out.push(r.clone());
                    false
                } else {
                    true
                }
            });
        }
        out
    }

    /// Number of rules in every table.
    pub fn len(&self) -> usize {
        self.tables.iter().map(Vec::len).sum()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
