//! Flows as sets: reading flow files, comparing two versions of a flow
//! table (`diff-flows`, `replace-flows`) and ordering a dump (`--sort`).
//!
//! A flow is identified as Open vSwitch's classifier identifies it: by
//! table, priority and match. Two versions of a flow are the same when
//! their cookie, timeouts and actions (compared as printed) are; flags are
//! not compared, because a switch does not report all of them.

use std::cmp::Ordering;
use std::collections::HashMap;

use rvs_openflow::flow_syntax::{format_actions, format_match, FlowMode, FlowSpec};
use rvs_openflow::oxm::OxmType;
use rvs_openflow::types::DEFAULT_PRIORITY;
use rvs_openflow::{FlowMod, FlowModCommand, FlowModFlags, FlowStats, Instruction, Match};

use super::error::{OfctlError, Result};
use super::names::PortNames;

/// One line of a flow file that holds a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLine<'a> {
    /// 1-based line number.
    pub number: usize,
    /// The text, without its comment.
    pub text: &'a str,
}

/// The lines of `content` that hold flows: `#` starts a comment, blank
/// lines are skipped, numbering counts every line.
pub fn flow_lines(content: &str) -> Vec<FlowLine<'_>> {
    content
        .split('\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let text = line.split('#').next().unwrap_or("");
            (!text.trim().is_empty()).then_some(FlowLine {
                number: i + 1,
                text,
            })
        })
        .collect()
}

/// The command a line of `add-flows` starts with (`add`, `modify`,
/// `delete`, `modify_strict`, `delete_strict`, or any prefix of them, as
/// `ovs-ofctl` reads it), and the rest of the line.
pub fn split_command(line: &str) -> (FlowModCommand, &str) {
    let trimmed = line.trim_start_matches([' ', '\t', '\r', '\n']);
    let len = trimmed
        .find([',', ' ', '\t', '\r', '\n'])
        .unwrap_or(trimmed.len());
    let word = &trimmed[..len];
    if !word.is_empty() {
        for (name, command) in [
            ("add", FlowModCommand::Add),
            ("delete", FlowModCommand::Delete),
            ("delete_strict", FlowModCommand::DeleteStrict),
            ("modify", FlowModCommand::Modify),
            ("modify_strict", FlowModCommand::ModifyStrict),
        ] {
            if name.starts_with(word) {
                return (command, &trimmed[len..]);
            }
        }
    }
    (FlowModCommand::Add, line)
}

/// Whether `text` (a flow without actions) sets `keyword`.
pub fn has_keyword(text: &str, keyword: &str) -> bool {
    text.split([',', ' ', '\t', '\r', '\n'])
        .map(|token| token.split(['=', ':']).next().unwrap_or(""))
        .any(|key| key == keyword)
}

/// The flow syntax a flow-mod command reads.
pub fn mode_of(command: FlowModCommand) -> FlowMode {
    match command {
        FlowModCommand::Add => FlowMode::Add,
        FlowModCommand::Modify | FlowModCommand::ModifyStrict => FlowMode::Modify,
        _ => FlowMode::Filter,
    }
}

/// One version of a flow: what `diff-flows` compares and `replace-flows`
/// installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowVersion {
    /// `cookie=`.
    pub cookie: u64,
    /// `idle_timeout=`.
    pub idle_timeout: u16,
    /// `hard_timeout=`.
    pub hard_timeout: u16,
    /// Only `send_flow_rem` is kept from a file; none from a switch.
    pub flags: FlowModFlags,
    /// The instructions.
    pub instructions: Vec<Instruction>,
}

impl FlowVersion {
    fn same_as(&self, other: &FlowVersion) -> bool {
        self.cookie == other.cookie
            && self.idle_timeout == other.idle_timeout
            && self.hard_timeout == other.hard_timeout
            && format_actions(&self.instructions) == format_actions(&other.instructions)
    }
}

/// What identifies a flow in its table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The table.
    pub table_id: u8,
    /// The priority.
    pub priority: u16,
    /// The match.
    pub match_: Match,
}

/// A flow in two versions, either of which may be missing.
#[derive(Debug, Clone)]
pub struct FlowPair {
    /// The flow.
    pub key: FlowKey,
    /// The versions from the first and second source.
    pub versions: [Option<FlowVersion>; 2],
}

/// Two flow tables side by side.
#[derive(Debug, Clone, Default)]
pub struct FlowTables {
    pairs: Vec<FlowPair>,
    index: HashMap<FlowKey, usize>,
}

impl FlowTables {
    /// Sets version `side` (0 or 1) of the flow `key`; a later version of
    /// the same side replaces an earlier one.
    pub fn insert(&mut self, side: usize, key: FlowKey, version: FlowVersion) {
        match self.index.get(&key) {
            Some(&i) => self.pairs[i].versions[side] = Some(version),
            None => {
                let mut versions = [None, None];
                versions[side] = Some(version);
                self.index.insert(key.clone(), self.pairs.len());
                self.pairs.push(FlowPair { key, versions });
            }
        }
    }

    /// Adds a flow read from a file (`FlowSpec` in add mode).
    pub fn insert_spec(&mut self, side: usize, spec: &FlowSpec) {
        self.insert(
            side,
            FlowKey {
                table_id: spec.table_id.unwrap_or(0),
                priority: spec.priority,
                match_: spec.match_.clone(),
            },
            FlowVersion {
                cookie: spec.cookie,
                idle_timeout: spec.idle_timeout,
                hard_timeout: spec.hard_timeout,
                flags: FlowModFlags(spec.flags.bits() & FlowModFlags::SEND_FLOW_REM.bits()),
                instructions: spec.instructions.clone(),
            },
        );
    }

    /// Adds a flow a switch reported.
    pub fn insert_stats(&mut self, side: usize, stats: &FlowStats) {
        self.insert(
            side,
            FlowKey {
                table_id: stats.table_id,
                priority: stats.priority,
                match_: stats.match_.clone(),
            },
            FlowVersion {
                cookie: stats.cookie,
                idle_timeout: stats.idle_timeout,
                hard_timeout: stats.hard_timeout,
                flags: FlowModFlags::EMPTY,
                instructions: stats.instructions.clone(),
            },
        );
    }

    /// The flows by table, then from high to low priority, then by match
    /// as printed: the order `diff-flows` prints and `replace-flows`
    /// sends in.
    pub fn sorted(&self) -> Vec<&FlowPair> {
        let mut pairs: Vec<(&FlowPair, String)> = self
            .pairs
            .iter()
            .map(|p| (p, format_match(&p.key.match_)))
            .collect();
        pairs.sort_by(|(a, am), (b, bm)| {
            a.key
                .table_id
                .cmp(&b.key.table_id)
                .then(b.key.priority.cmp(&a.key.priority))
                .then(am.cmp(bm))
        });
        pairs.into_iter().map(|(p, _)| p).collect()
    }

    /// The flow-mods that make a switch holding side 1 hold side 0: per
    /// table, strict deletions of the flows only the switch has, then
    /// additions of the flows that are new or changed (all of them with
    /// `readd`).
    pub fn replacement(&self, readd: bool) -> Vec<FlowMod> {
        let sorted = self.sorted();
        let mut mods = Vec::new();
        let mut i = 0;
        while i < sorted.len() {
            let table = sorted[i].key.table_id;
            let end = sorted[i..]
                .iter()
                .position(|p| p.key.table_id != table)
                .map_or(sorted.len(), |n| i + n);
            for p in &sorted[i..end] {
                if let [None, Some(_)] = &p.versions {
                    let mut fm = FlowMod::new(FlowModCommand::DeleteStrict, p.key.match_.clone());
                    fm.table_id = p.key.table_id;
                    fm.priority = p.key.priority;
                    mods.push(fm);
                }
            }
            for p in &sorted[i..end] {
                if let [Some(file), sw] = &p.versions {
                    if readd || sw.as_ref().is_none_or(|sw| !sw.same_as(file)) {
                        let mut fm = FlowMod::add(p.key.match_.clone(), file.instructions.clone());
                        fm.table_id = p.key.table_id;
                        fm.priority = p.key.priority;
                        fm.cookie = file.cookie;
                        fm.idle_timeout = file.idle_timeout;
                        fm.hard_timeout = file.hard_timeout;
                        fm.flags = file.flags;
                        mods.push(fm);
                    }
                }
            }
            i = end;
        }
        mods
    }

    /// The `diff-flows` lines: `-` for versions only or differently in
    /// the first source, `+` for the second.
    pub fn diff(&self, names: Option<&PortNames>) -> Vec<String> {
        let mut lines = Vec::new();
        for p in self.sorted() {
            let differ = match &p.versions {
                [Some(a), Some(b)] => !a.same_as(b),
                _ => true,
            };
            if !differ {
                continue;
            }
            for (sign, version) in [('-', &p.versions[0]), ('+', &p.versions[1])] {
                if let Some(v) = version {
                    let text = version_line(&p.key, v);
                    let text = match names {
                        Some(n) => n.rewrite_flow(&text),
                        None => text,
                    };
                    lines.push(format!("{sign}{text}"));
                }
            }
        }
        lines
    }
}

/// A flow as `diff-flows` prints it: `[table=N ]MATCH[ cookie=..]
/// [ idle_timeout=..][ hard_timeout=..] actions=...`.
fn version_line(key: &FlowKey, v: &FlowVersion) -> String {
    let mut s = String::new();
    if key.table_id != 0 {
        s.push_str(&format!("table={} ", key.table_id));
    }
    s.push_str(&match_with_priority(key.priority, &key.match_));
    if v.cookie != 0 {
        s.push_str(&format!(" cookie={:#x}", v.cookie));
    }
    if v.idle_timeout != 0 {
        s.push_str(&format!(" idle_timeout={}", v.idle_timeout));
    }
    if v.hard_timeout != 0 {
        s.push_str(&format!(" hard_timeout={}", v.hard_timeout));
    }
    s.push_str(" actions=");
    s.push_str(&format_actions(&v.instructions));
    s
}

/// `priority=N,FIELDS` (the priority left out when it is the default).
pub fn match_with_priority(priority: u16, m: &Match) -> String {
    let mut s = String::new();
    if priority != DEFAULT_PRIORITY {
        s.push_str(&format!("priority={priority},"));
    }
    s.push_str(&format_match(m));
    if s.ends_with(',') {
        s.pop();
    }
    s
}

// ---------------------------------------------------------------------------
// --sort

/// Names `--sort` takes besides the OXM names, as `ovs-ofctl` spells them.
const FIELD_ALIASES: &[(&str, &str)] = &[
    ("dl_src", "eth_src"),
    ("dl_dst", "eth_dst"),
    ("dl_type", "eth_type"),
    ("dl_vlan_pcp", "vlan_pcp"),
    ("nw_src", "ipv4_src"),
    ("ip_src", "ipv4_src"),
    ("nw_dst", "ipv4_dst"),
    ("ip_dst", "ipv4_dst"),
    ("nw_proto", "ip_proto"),
    ("nw_ecn", "ip_ecn"),
    ("tp_src", "tcp_src"),
    ("tp_dst", "tcp_dst"),
    ("icmp_type", "icmpv4_type"),
    ("icmp_code", "icmpv4_code"),
    ("ipv6_label", "ipv6_flabel"),
    ("nd_target", "ipv6_nd_target"),
    ("nd_sll", "ipv6_nd_sll"),
    ("nd_tll", "ipv6_nd_tll"),
    ("tun_id", "tunnel_id"),
];

/// The OXM type `--sort=NAME` sorts by.
pub fn sort_field(name: &str) -> Result<OxmType> {
    let name = FIELD_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, oxm)| *oxm);
    (0..=u8::MAX >> 1)
        .map(OxmType::basic)
        .find(|t| t.name() == Some(name))
        .ok_or_else(|| {
            OfctlError::Usage(format!(
                "{name}: unknown field name (for --sort or --rsort)"
            ))
        })
}

/// The value bytes of `ty` in `m`, masked bits zero, or `None` if the
/// match does not have the field.
fn field_value(m: &Match, ty: OxmType) -> Option<Vec<u8>> {
    let field = m.get(ty)?;
    let mut tlv = Vec::new();
    field.emit(&mut tlv).ok()?;
    let payload = tlv.get(4..)?;
    let len = if field.has_mask() {
        payload.len() / 2
    } else {
        payload.len()
    };
    Some(payload[..len].to_vec())
}

/// Orders flows by `keys` (`None`: the priority) as `--sort`/`--rsort`
/// do; flows without a field come after those with it, in either
/// direction; ties keep the switch's order.
pub fn sort_flows(flows: &mut [FlowStats], keys: &[(Option<OxmType>, bool)]) {
    flows.sort_by(|a, b| {
        for (field, descending) in keys {
            let ord = match field {
                None => a.priority.cmp(&b.priority),
                Some(ty) => match (field_value(&a.match_, *ty), field_value(&b.match_, *ty)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => return Ordering::Less,
                    (None, Some(_)) => return Ordering::Greater,
                    (None, None) => Ordering::Equal,
                },
            };
            if ord != Ordering::Equal {
                return if *descending { ord.reverse() } else { ord };
            }
        }
        Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_openflow::flow_syntax::parse_flow;

    fn spec(text: &str) -> FlowSpec {
        parse_flow(text, FlowMode::Add).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn lines_skip_comments_and_blanks() {
        let content = "# header\n\nin_port=1,actions=drop # trailing\n   \n\tip actions=drop";
        let lines = flow_lines(content);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].number, 3);
        assert_eq!(lines[0].text, "in_port=1,actions=drop ");
        assert_eq!(lines[1].number, 5);
    }

    #[test]
    fn keywords() {
        assert!(has_keyword("table=0,priority=5,ip", "priority"));
        assert!(has_keyword("priority:5", "priority"));
        assert!(!has_keyword("ip,nw_src=1.2.3.4", "priority"));
    }

    #[test]
    fn commands_at_line_start() {
        assert_eq!(split_command("delete in_port=1").0, FlowModCommand::Delete);
        assert_eq!(
            split_command(" modify_strict,ip actions=drop").0,
            FlowModCommand::ModifyStrict
        );
        assert_eq!(split_command("d ip").0, FlowModCommand::Delete);
        let (c, rest) = split_command("ip,actions=drop");
        assert_eq!((c, rest), (FlowModCommand::Add, "ip,actions=drop"));
    }

    #[test]
    fn diff_matches_ovs_ofctl() {
        let mut t = FlowTables::default();
        for line in [
            "actions=drop",
            "priority=5,ip,nw_dst=10.0.0.1 actions=output:1",
            "table=1,cookie=0x5,idle_timeout=10,priority=7,in_port=3 actions=drop",
            " in_port=2 actions=output:1",
        ] {
            t.insert_spec(0, &spec(line));
        }
        for line in [
            "priority=5,ip,nw_dst=10.0.0.1 actions=output:2",
            "table=1,cookie=0x5,idle_timeout=10,priority=7,in_port=3 actions=drop",
            "hard_timeout=5,send_flow_rem,in_port=2 actions=output:1",
        ] {
            t.insert_spec(1, &spec(line));
        }
        // What ovs-ofctl 3.1 diff-flows prints for the same two files.
        assert_eq!(
            t.diff(None),
            [
                "- actions=drop",
                "-in_port=2 actions=output:1",
                "+in_port=2 hard_timeout=5 actions=output:1",
                "-priority=5,ip,nw_dst=10.0.0.1 actions=output:1",
                "+priority=5,ip,nw_dst=10.0.0.1 actions=output:2",
            ]
        );
    }

    #[test]
    fn replacement_deletes_then_adds_per_table() {
        let mut t = FlowTables::default();
        t.insert_spec(0, &spec("priority=5,in_port=1 actions=output:2"));
        t.insert_spec(0, &spec("table=1,priority=5,in_port=1 actions=drop"));
        t.insert_spec(0, &spec("priority=6,in_port=3 actions=drop"));
        t.insert_spec(1, &spec("priority=5,in_port=1 actions=output:2"));
        t.insert_spec(1, &spec("priority=9,in_port=9 actions=drop"));
        t.insert_spec(1, &spec("priority=6,in_port=3 actions=output:1"));
        let mods = t.replacement(false);
        let summary: Vec<(FlowModCommand, u8, u16)> = mods
            .iter()
            .map(|m| (m.command, m.table_id, m.priority))
            .collect();
        assert_eq!(
            summary,
            [
                (FlowModCommand::DeleteStrict, 0, 9),
                (FlowModCommand::Add, 0, 6),
                (FlowModCommand::Add, 1, 5),
            ]
        );
        assert_eq!(t.replacement(true).len(), 4);
    }

    #[test]
    fn sorting_by_field_puts_missing_last() {
        let stats = |text: &str| {
            let s = spec(text);
            FlowStats {
                table_id: 0,
                duration_sec: 0,
                duration_nsec: 0,
                priority: s.priority,
                idle_timeout: 0,
                hard_timeout: 0,
                flags: FlowModFlags::EMPTY,
                cookie: 0,
                packet_count: 0,
                byte_count: 0,
                match_: s.match_,
                instructions: s.instructions,
            }
        };
        let mut flows = vec![
            stats("priority=1,tcp,tp_src=80 actions=drop"),
            stats("priority=3,ip actions=drop"),
            stats("priority=2,tcp,tp_src=22 actions=drop"),
        ];
        let tcp_src = sort_field("tp_src").unwrap();
        sort_flows(&mut flows, &[(Some(tcp_src), true)]);
        assert_eq!(
            flows.iter().map(|f| f.priority).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        sort_flows(&mut flows, &[(None, false)]);
        assert_eq!(
            flows.iter().map(|f| f.priority).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        sort_flows(&mut flows, &[(None, true)]);
        assert_eq!(
            flows.iter().map(|f| f.priority).collect::<Vec<_>>(),
            [3, 2, 1]
        );
        assert!(sort_field("nonsense").is_err());
    }
}
