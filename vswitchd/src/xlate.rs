//! Translation: a packet's key through a bridge's flow tables into datapath
//! actions and the megaflow mask that makes the answer valid for every
//! packet the mask matches.
//!
//! The mask holds exactly what translation consulted: the in-port (always),
//! the bits of every rule that had to be checked, and for NORMAL the VLAN
//! and both MAC addresses. NORMAL traffic between two hosts therefore
//! shares one megaflow whatever its IP addresses and ports are.

use crate::mac_learning::{is_multicast, MacTable, OfPort};
use crate::ofproto::{ofpp, FlowTables, OfAction, Rule};
use rvs_datapath::flow::{format_mac, VLAN_CFI};
use rvs_datapath::{Action, Field, FlowKey, FlowMask, PortNo};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// VLAN behaviour of a port (`Port.tag`, `Port.trunks`, `Port.vlan_mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VlanMode {
    /// Untagged frames belong to this VLAN; tagged ones are dropped.
    Access(u16),
    /// Tagged frames of the listed VLANs (all if `None`); untagged frames
    /// belong to `native` (or VLAN 0) and leave untagged.
    Trunk {
        trunks: Option<BTreeSet<u16>>,
        native: Option<u16>,
    },
}

impl VlanMode {
    /// The VLAN an incoming frame with `tci` (0 = untagged) belongs to, or
    /// `None` when the port does not accept it.
    pub fn ingress_vlan(&self, tci: u16) -> Option<u16> {
        let tagged = tci & VLAN_CFI != 0;
        let vid = tci & 0x0fff;
        match self {
            // Priority-tagged frames (VID 0) count as untagged.
            VlanMode::Access(tag) => (!tagged || vid == 0).then_some(*tag),
            VlanMode::Trunk { trunks, native } => {
                if !tagged || vid == 0 {
                    Some(native.unwrap_or(0))
                } else if trunks.as_ref().is_none_or(|t| t.contains(&vid)) {
                    Some(vid)
                } else {
                    None
                }
            }
        }
    }

    /// Whether the port carries `vlan`.
    pub fn carries(&self, vlan: u16) -> bool {
        match self {
            VlanMode::Access(tag) => *tag == vlan,
            VlanMode::Trunk { trunks, native } => {
                *native == Some(vlan)
                    || (vlan == 0 && native.is_none())
                    || trunks.as_ref().is_none_or(|t| t.contains(&vlan))
            }
        }
    }

    /// The VID a frame of `vlan` leaves this port tagged with (`None`:
    /// untagged).
    pub fn egress_tag(&self, vlan: u16) -> Option<u16> {
        match self {
            VlanMode::Access(_) => None,
            VlanMode::Trunk { native, .. } => {
                if *native == Some(vlan) || vlan == 0 {
                    None
                } else {
                    Some(vlan)
                }
            }
        }
    }
}

/// A port as translation sees it.
#[derive(Debug, Clone)]
pub struct XPort {
    pub ofport: OfPort,
    pub dp_port: PortNo,
    pub name: String,
    pub vlan: VlanMode,
}

/// What a packet sent to the controller carries besides itself: why, from
/// which table and rule, and how much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControllerSpec {
    /// `true`: a table-miss rule sent it (PACKET_IN reason NO_MATCH).
    pub table_miss: bool,
    pub table: u8,
    pub max_len: u16,
    pub cookie: u64,
}

/// Numbers for [`ControllerSpec`]s, so that a datapath `userspace` action
/// (which carries a `u32`) can say which one it is. Numbers are never
/// reused, so a megaflow installed before a change still reports right.
#[derive(Debug, Default)]
pub struct ControllerSpecs {
    inner: Mutex<(Vec<ControllerSpec>, HashMap<ControllerSpec, u32>)>,
}

/// The bit of a `userspace` cookie that says "to the controller"; the
/// low bits number a [`ControllerSpec`].
pub const CONTROLLER_COOKIE: u32 = 0x8000_0000;

/// Most distinct specs kept; beyond, new ones share the first's number
/// (the packet still reaches the controller, with table 0 and cookie 0).
const MAX_SPECS: usize = 1 << 20;

impl ControllerSpecs {
    /// The userspace cookie for `spec`.
    pub fn cookie(&self, spec: ControllerSpec) -> u32 {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&i) = g.1.get(&spec) {
            return CONTROLLER_COOKIE | i;
        }
        if g.0.len() >= MAX_SPECS {
            return CONTROLLER_COOKIE;
        }
        let i = g.0.len() as u32;
        g.0.push(spec);
        g.1.insert(spec, i);
        CONTROLLER_COOKIE | i
    }

    /// The spec behind a userspace cookie, if it is a controller one.
    pub fn get(&self, cookie: u32) -> Option<ControllerSpec> {
        if cookie & CONTROLLER_COOKIE == 0 {
            return None;
        }
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0.get((cookie & !CONTROLLER_COOKIE) as usize).copied()
    }
}

/// Per-table lookup and match counters of a bridge (what `dump-tables`
/// shows), credited with the traffic of each megaflow.
#[derive(Debug)]
pub struct TableCounters {
    /// (lookups, matches) per table.
    pub tables: Vec<(AtomicU64, AtomicU64)>,
}

impl Default for TableCounters {
    fn default() -> Self {
        TableCounters {
            tables: (0..255)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
        }
    }
}

impl TableCounters {
    /// Counts `packets` looked up in `table`, matched or not.
    pub fn credit(&self, table: u8, matched: bool, packets: u64) {
        if let Some((l, m)) = self.tables.get(table as usize) {
            l.fetch_add(packets, Ordering::Relaxed);
            if matched {
                m.fetch_add(packets, Ordering::Relaxed);
            }
        }
    }

    /// (lookups, matches) of `table`.
    pub fn get(&self, table: u8) -> (u64, u64) {
        self.tables.get(table as usize).map_or((0, 0), |(l, m)| {
            (l.load(Ordering::Relaxed), m.load(Ordering::Relaxed))
        })
    }
}

/// A bridge as translation sees it: an immutable snapshot.
#[derive(Debug, Clone)]
pub struct XBridge {
    pub name: String,
    pub ports: BTreeMap<OfPort, XPort>,
    pub by_dp: HashMap<PortNo, OfPort>,
    pub tables: Arc<FlowTables>,
    /// Switch as NORMAL whatever the tables say: `fail_mode=standalone`
    /// with controllers configured and none connected.
    pub fail_open: bool,
    pub specs: Arc<ControllerSpecs>,
    pub table_counters: Arc<TableCounters>,
}

impl XBridge {
    /// A bridge with `ports` and `tables`.
    pub fn new(name: &str, ports: Vec<XPort>, tables: Arc<FlowTables>) -> XBridge {
        let by_dp = ports.iter().map(|p| (p.dp_port, p.ofport)).collect();
        XBridge {
            name: name.to_string(),
            ports: ports.into_iter().map(|p| (p.ofport, p)).collect(),
            by_dp,
            tables,
            fail_open: false,
            specs: Arc::default(),
            table_counters: Arc::default(),
        }
    }
}

/// What translation decided.
#[derive(Debug, Clone)]
pub struct Translation {
    /// Datapath actions (empty: drop).
    pub actions: Vec<Action>,
    /// The megaflow mask.
    pub mask: FlowMask,
    /// The rules that matched, for crediting their counters.
    pub rules: Vec<Arc<Rule>>,
    /// The tables looked up, and whether a rule matched in each.
    pub tables: Vec<(u8, bool)>,
    /// Where those lookups are counted.
    pub table_counters: Option<Arc<TableCounters>>,
    /// A step by step account (for `ofproto/trace`).
    pub trace: Vec<String>,
}

/// The OpenFlow action set (`write_actions`), run when the pipeline
/// ends, in the order OpenFlow 1.3 gives: pop, push, TTL, set-field,
/// output.
#[derive(Debug, Default, Clone)]
struct ActionSet {
    pop: bool,
    push: Option<u16>,
    dec_ttl: bool,
    sets: Vec<OfAction>,
    output: Option<OfAction>,
}

impl ActionSet {
    fn write(&mut self, actions: &[OfAction]) {
        for a in actions {
            match *a {
                OfAction::PopVlan => self.pop = true,
                OfAction::PushVlan { tpid } => self.push = Some(tpid),
                OfAction::DecTtl => self.dec_ttl = true,
                OfAction::Output(_)
                | OfAction::Normal
                | OfAction::Flood
                | OfAction::All
                | OfAction::Controller { .. } => self.output = Some(*a),
                set => {
                    // One action of each kind: a later write replaces it.
                    let kind = std::mem::discriminant(&set);
                    self.sets.retain(|x| std::mem::discriminant(x) != kind);
                    self.sets.push(set);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        !self.pop
            && self.push.is_none()
            && !self.dec_ttl
            && self.sets.is_empty()
            && self.output.is_none()
    }

    fn to_list(&self) -> Vec<OfAction> {
        let mut v = Vec::new();
        if self.pop {
            v.push(OfAction::PopVlan);
        }
        if let Some(tpid) = self.push {
            v.push(OfAction::PushVlan { tpid });
        }
        if self.dec_ttl {
            v.push(OfAction::DecTtl);
        }
        v.extend_from_slice(&self.sets);
        v.extend(self.output);
        v
    }
}

struct Ctx<'a> {
    br: &'a XBridge,
    mac: &'a MacTable,
    now: u64,
    in_port: OfPort,
    /// The packet as the pipeline has changed it so far (OpenFlow in_port).
    cur: FlowKey,
    wc: FlowMask,
    out: Vec<Action>,
    rules: Vec<Arc<Rule>>,
    tables: Vec<(u8, bool)>,
    trace: Vec<String>,
    /// Whether to write `trace` (only `ofproto/trace` reads it; the
    /// upcall and revalidation paths skip the formatting).
    tracing: bool,
    /// The table and rule whose actions are running (for PACKET_IN).
    table: u8,
    rule: Option<Arc<Rule>>,
    metadata: u64,
    action_set: ActionSet,
    /// Set when an action dropped the packet (TTL expired).
    dropped: bool,
    /// Pipeline passes left (`output:TABLE` in a packet-out re-enters).
    depth: u8,
}

impl Ctx<'_> {
    fn tci(&self) -> u16 {
        self.cur.vlan_tci()
    }

    /// Makes the packet carry `tag` (a VID) or no tag, emitting the
    /// datapath actions that do so.
    fn set_tag(&mut self, tag: Option<u16>) {
        let tci = self.tci();
        let has = tci & VLAN_CFI != 0;
        match tag {
            None if has => {
                self.out.push(Action::PopVlan);
                self.cur.set_vlan_tci(0);
            }
            None => {}
            Some(vid) if has && tci & 0x0fff == vid => {}
            Some(vid) => {
                if has {
                    self.out.push(Action::PopVlan);
                }
                let new = (tci & 0xe000) | VLAN_CFI | (vid & 0x0fff);
                self.out.push(Action::PushVlan {
                    tpid: 0x8100,
                    tci: new,
                });
                self.cur.set_vlan_tci(new);
            }
        }
    }

    /// Rewrites the TCI of the tag the packet has (pop and push with the
    /// new value, which the datapath does in place).
    fn set_tci(&mut self, new: u16) {
        if new == self.tci() {
            return;
        }
        self.out.push(Action::PopVlan);
        self.out.push(Action::PushVlan {
            tpid: 0x8100,
            tci: new,
        });
        self.cur.set_vlan_tci(new);
    }

    /// Runs the tables from `start` until a rule without `goto_table`,
    /// then the action set.
    fn pipeline(&mut self, start: u8) {
        let br = self.br;
        if self.br.fail_open {
            self.note(|| "fail-open: no controller connected, switching as NORMAL".into());
            self.normal();
            return;
        }
        let mut table = start;
        loop {
            let Some(rule) = br
                .tables
                .lookup(table, &self.cur, self.metadata, &mut self.wc)
                .cloned()
            else {
                self.tables.push((table, false));
                self.note(|| format!("table {table}: no match: dropped"));
                break;
            };
            self.tables.push((table, true));
            self.note(|| {
                format!(
                    "table {table}: priority {} cookie {:#x} matched",
                    rule.priority, rule.cookie
                )
            });
            self.table = table;
            self.rule = Some(rule.clone());
            self.run_actions(&rule.actions);
            if self.dropped {
                return;
            }
            if rule.clear_actions {
                self.action_set = ActionSet::default();
            }
            self.action_set.write(&rule.write_actions);
            if let Some((v, m)) = rule.write_metadata {
                self.metadata = (self.metadata & !m) | (v & m);
            }
            self.rules.push(rule.clone());
            match rule.goto {
                Some(next) if next > table => table = next,
                _ => break,
            }
        }
        if !self.action_set.is_empty() {
            let set = std::mem::take(&mut self.action_set).to_list();
            self.note(|| format!("action set: {set:?}"));
            self.run_actions(&set);
        }
    }

    fn output(&mut self, port: OfPort) {
        let Some(p) = self.br.ports.get(&port) else {
            self.note(|| format!("output to unknown port {port}: dropped"));
            return;
        };
        self.out.push(Action::Output(p.dp_port));
        self.note(|| format!("output:{} ({})", port, p.name));
    }

    fn normal(&mut self) {
        let mut wc = self.wc;
        wc.add_field(Field::EthSrc)
            .add_field(Field::EthDst)
            .add_field(Field::VlanTci);
        self.wc = wc;
        let Some(inp) = self.br.ports.get(&self.in_port) else {
            return;
        };
        let Some(vlan) = inp.vlan.ingress_vlan(self.tci()) else {
            let (name, vid) = (&inp.name, self.tci() & 0x0fff);
            let step = || format!("NORMAL: port {name} does not carry VLAN {vid}: dropped");
            if self.tracing {
                self.trace.push(step());
            }
            return;
        };
        let dst = self.cur.eth_dst();
        // The source was learned before translation started; here only the
        // forwarding decision.
        let targets: Vec<OfPort> = match self.lookup(vlan, dst) {
            Some(p) if p == self.in_port => {
                self.note(|| {
                    format!(
                        "NORMAL: {} is on the input port: dropped (no hairpin)",
                        format_mac(dst)
                    )
                });
                Vec::new()
            }
            Some(p) => {
                self.note(|| {
                    format!(
                        "NORMAL: learned {} on port {p} in VLAN {vlan}",
                        format_mac(dst)
                    )
                });
                vec![p]
            }
            None => {
                self.note(|| {
                    format!(
                        "NORMAL: {} {} in VLAN {vlan}: flooding",
                        format_mac(dst),
                        if is_multicast(dst) {
                            "is multicast"
                        } else {
                            "is not learned"
                        }
                    )
                });
                self.br
                    .ports
                    .values()
                    .filter(|p| p.ofport != self.in_port && p.vlan.carries(vlan))
                    .map(|p| p.ofport)
                    .collect()
            }
        };
        // Group outputs by the tag each needs so that each tag change is
        // emitted once: first the ports wanting the frame as it is.
        let mut by_tag: BTreeMap<Option<u16>, Vec<OfPort>> = BTreeMap::new();
        for p in targets {
            let tag = self.br.ports[&p].vlan.egress_tag(vlan);
            by_tag.entry(tag).or_default().push(p);
        }
        let cur_tag = (self.tci() & VLAN_CFI != 0).then_some(self.tci() & 0x0fff);
        if let Some(ports) = by_tag.remove(&cur_tag) {
            for p in ports {
                self.output(p);
            }
        }
        for (tag, ports) in by_tag {
            self.set_tag(tag);
            for p in ports {
                self.output(p);
            }
        }
    }

    fn lookup(&self, vlan: u16, dst: [u8; 6]) -> Option<OfPort> {
        if is_multicast(dst) {
            return None;
        }
        self.mac.lookup(vlan, dst, self.now)
    }

    fn run_actions(&mut self, actions: &[OfAction]) {
        for a in actions {
            match *a {
                OfAction::Output(p) if p == ofpp::TABLE => {
                    if self.depth > 0 {
                        self.depth -= 1;
                        self.pipeline(0);
                    }
                }
                OfAction::Output(p) if p == ofpp::IN_PORT => {
                    let ip = self.in_port;
                    self.output(ip);
                }
                OfAction::Output(p) if p == self.in_port => {
                    self.note(|| format!("output:{p} is the input port: skipped (use in_port)"));
                }
                OfAction::Output(p) => self.output(p),
                OfAction::Normal => self.normal(),
                OfAction::Flood | OfAction::All => {
                    let ports: Vec<OfPort> = self
                        .br
                        .ports
                        .keys()
                        .copied()
                        .filter(|p| *p != self.in_port)
                        .collect();
                    for p in ports {
                        self.output(p);
                    }
                }
                OfAction::Controller { max_len } => {
                    let spec = ControllerSpec {
                        table_miss: self.rule.as_ref().is_some_and(|r| r.is_table_miss()),
                        table: self.table,
                        max_len,
                        cookie: self.rule.as_ref().map_or(0, |r| r.cookie),
                    };
                    let c = self.br.specs.cookie(spec);
                    self.out.push(Action::Userspace(c));
                    self.note(|| format!("controller (max_len={max_len})"));
                }

                OfAction::PushVlan { tpid } => {
                    let tci = VLAN_CFI | (self.tci() & 0xe000);
                    self.out.push(Action::PushVlan { tpid, tci });
                    self.cur.set_vlan_tci(tci);
                }
                OfAction::PopVlan => {
                    if self.tci() & VLAN_CFI != 0 {
                        self.out.push(Action::PopVlan);
                        self.cur.set_vlan_tci(0);
                    }
                }
                OfAction::SetVlanVid(vid) => self.set_tag(Some(vid)),
                OfAction::SetTagVid(vid) => {
                    let tci = self.tci();
                    if tci & VLAN_CFI != 0 {
                        self.set_tci((tci & 0xf000) | (vid & 0x0fff));
                    }
                }
                OfAction::SetTagPcp(pcp) => {
                    let tci = self.tci();
                    if tci & VLAN_CFI != 0 {
                        self.set_tci((tci & 0x1fff) | (u16::from(pcp & 7) << 13));
                    }
                }
                OfAction::SetEthSrc(m) => {
                    self.out.push(Action::SetEthSrc(m));
                    self.cur.set_eth_src(m);
                }
                OfAction::SetEthDst(m) => {
                    self.out.push(Action::SetEthDst(m));
                    self.cur.set_eth_dst(m);
                }
                OfAction::SetIpv4Src(a) => {
                    self.out.push(Action::SetIpv4Src(a));
                    self.cur.set_ipv4_src(a);
                }
                OfAction::SetIpv4Dst(a) => {
                    self.out.push(Action::SetIpv4Dst(a));
                    self.cur.set_ipv4_dst(a);
                }
                OfAction::SetTpSrc(p) => {
                    self.out.push(Action::SetTpSrc(p));
                    self.cur.set_tp_src(p);
                }
                OfAction::SetTpDst(p) => {
                    self.out.push(Action::SetTpDst(p));
                    self.cur.set_tp_dst(p);
                }
                OfAction::DecTtl => {
                    let mut wc = self.wc;
                    wc.add_field(Field::NwTtl).add_field(Field::DlType);
                    self.wc = wc;
                    let ttl = self.cur.nw_ttl();
                    if ttl <= 1 || self.cur.dl_type() != 0x0800 {
                        self.note(|| "dec_ttl: TTL expired or not IPv4: dropped".into());
                        self.out.clear();
                        self.dropped = true;
                        return;
                    }
                    self.out.push(Action::SetIpv4Ttl(ttl - 1));
                    self.cur.set_nw_ttl(ttl - 1);
                }
            }
        }
    }
}

/// Translates a packet whose datapath key is `key` through `br` at time
/// `now` (seconds), learning its source address in `mac` when `learn`.
/// The step-by-step `trace` stays empty: see [`translate_traced`].
pub fn translate(
    br: &XBridge,
    key: &FlowKey,
    mac: &mut MacTable,
    now: u64,
    learn: bool,
) -> Translation {
    translate_with(br, key, mac, now, learn, false)
}

/// [`translate`], also writing the step-by-step account `trace` (for
/// `ofproto/trace`).
pub fn translate_traced(
    br: &XBridge,
    key: &FlowKey,
    mac: &mut MacTable,
    now: u64,
    learn: bool,
) -> Translation {
    translate_with(br, key, mac, now, learn, true)
}

fn translate_with(
    br: &XBridge,
    key: &FlowKey,
    mac: &mut MacTable,
    now: u64,
    learn: bool,
    tracing: bool,
) -> Translation {
    let mask = FlowMask::of_fields(&[Field::InPort]);
    let Some(&in_port) = br.by_dp.get(&key.in_port()) else {
        return Translation {
            actions: Vec::new(),
            mask,
            rules: Vec::new(),
            tables: Vec::new(),
            table_counters: None,
            trace: vec![format!(
                "datapath port {} is not on bridge {}",
                key.in_port(),
                br.name
            )],
        };
    };
    let mut cur = *key;
    cur.set_in_port(in_port);
    // NORMAL learns from the packet as it arrives.
    if let Some(p) = br.ports.get(&in_port).filter(|_| learn) {
        if let Some(vlan) = p.vlan.ingress_vlan(key.vlan_tci()) {
            mac.learn(vlan, key.eth_src(), in_port, now);
        }
    }
    let mut cx = Ctx::new(br, mac, now, in_port, cur, mask);
    cx.tracing = tracing;
    cx.pipeline(0);
    cx.finish()
}

impl<'a> Ctx<'a> {
    /// Adds a step to the trace, formatting it only when tracing.
    fn note(&mut self, step: impl FnOnce() -> String) {
        if self.tracing {
            self.trace.push(step());
        }
    }

    fn new(
        br: &'a XBridge,
        mac: &'a MacTable,
        now: u64,
        in_port: OfPort,
        cur: FlowKey,
        wc: FlowMask,
    ) -> Ctx<'a> {
        Ctx {
            br,
            mac,
            now,
            in_port,
            cur,
            wc,
            out: Vec::new(),
            rules: Vec::new(),
            tables: Vec::new(),
            trace: Vec::new(),
            tracing: false,
            table: 0,
            rule: None,
            metadata: 0,
            action_set: ActionSet::default(),
            dropped: false,
            depth: 1,
        }
    }

    fn finish(self) -> Translation {
        Translation {
            actions: self.out,
            mask: self.wc,
            rules: self.rules,
            tables: self.tables,
            table_counters: Some(self.br.table_counters.clone()),
            trace: self.trace,
        }
    }
}

/// Translates the actions of a PACKET_OUT for a packet whose key is `key`
/// (its `in_port` the OpenFlow port it counts as coming from, possibly
/// `CONTROLLER` or `LOCAL`): `output:TABLE` runs it through the tables.
pub fn translate_packet_out(
    br: &XBridge,
    key: &FlowKey,
    mac: &MacTable,
    now: u64,
    actions: &[OfAction],
) -> Translation {
    let in_port = key.in_port();
    let mut cx = Ctx::new(br, mac, now, in_port, *key, FlowMask::default());
    cx.run_actions(actions);
    cx.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofproto::{Match, Rule};

    const H1: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const H2: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn port(of: OfPort, vlan: VlanMode) -> XPort {
        XPort {
            ofport: of,
            dp_port: of + 100,
            name: format!("p{of}"),
            vlan,
        }
    }

    fn trunk() -> VlanMode {
        VlanMode::Trunk {
            trunks: None,
            native: None,
        }
    }

    fn key(in_dp: PortNo, src: [u8; 6], dst: [u8; 6], vlan: Option<u16>) -> FlowKey {
        let mut k = FlowKey::default();
        k.set_in_port(in_dp);
        k.set_eth_src(src);
        k.set_eth_dst(dst);
        k.set_dl_type(0x0800);
        k.set_ipv4_src(0x0a000001);
        k.set_ipv4_dst(0x0a000002);
        k.set_nw_proto(17);
        k.set_tp_src(1234);
        k.set_tp_dst(53);
        if let Some(v) = vlan {
            k.set_vlan_tci(VLAN_CFI | v);
        }
        k
    }

    fn bridge(ports: Vec<XPort>) -> XBridge {
        XBridge::new("br0", ports, Arc::new(FlowTables::normal()))
    }

    #[test]
    fn normal_floods_then_learns_and_wildcards_l3_l4() {
        let br = bridge(vec![port(1, trunk()), port(2, trunk()), port(3, trunk())]);
        let mut mac = MacTable::default();
        let t = translate_traced(&br, &key(101, H1, H2, None), &mut mac, 0, true);
        assert_eq!(
            t.actions,
            vec![Action::Output(102), Action::Output(103)],
            "{:?}",
            t.trace
        );
        // The reply goes straight back to the learned port.
        let t = translate_traced(&br, &key(102, H2, H1, None), &mut mac, 1, true);
        assert_eq!(t.actions, vec![Action::Output(101)]);
        for f in [Field::InPort, Field::EthSrc, Field::EthDst, Field::VlanTci] {
            assert!(t.mask.has_field(f), "{f:?} must be matched");
        }
        for f in [
            Field::Ipv4Src,
            Field::Ipv4Dst,
            Field::NwProto,
            Field::TpSrc,
            Field::TpDst,
        ] {
            assert!(!t.mask.has_field(f), "{f:?} must be wildcarded");
        }
    }

    #[test]
    fn no_hairpin_and_unknown_ports_drop() {
        let br = bridge(vec![port(1, trunk()), port(2, trunk())]);
        let mut mac = MacTable::default();
        translate_traced(&br, &key(101, H2, H1, None), &mut mac, 0, true);
        // H1 -> H2 where H2 lives on the input port.
        let t = translate_traced(&br, &key(101, H1, H2, None), &mut mac, 1, true);
        assert!(t.actions.is_empty(), "{:?}", t.trace);
        let t = translate_traced(&br, &key(999, H1, H2, None), &mut mac, 1, true);
        assert!(t.actions.is_empty());
    }

    #[test]
    fn vlans_isolate_access_ports_and_trunks_carry_tags() {
        let br = bridge(vec![
            port(1, VlanMode::Access(10)),
            port(2, VlanMode::Access(20)),
            port(3, VlanMode::Access(10)),
            port(
                4,
                VlanMode::Trunk {
                    trunks: Some([10, 20].into()),
                    native: None,
                },
            ),
        ]);
        let mut mac = MacTable::default();
        // From access VLAN 10: to the other VLAN-10 access port untagged,
        // to the trunk tagged 10; never to VLAN 20.
        let t = translate_traced(&br, &key(101, H1, [0xff; 6], None), &mut mac, 0, true);
        assert_eq!(
            t.actions,
            vec![
                Action::Output(103),
                Action::PushVlan {
                    tpid: 0x8100,
                    tci: VLAN_CFI | 10
                },
                Action::Output(104)
            ],
            "{:?}",
            t.trace
        );
        // From the trunk tagged 20: to access port 2 untagged only.
        let t = translate_traced(&br, &key(104, H2, [0xff; 6], Some(20)), &mut mac, 0, true);
        assert_eq!(
            t.actions,
            vec![Action::PopVlan, Action::Output(102)],
            "{:?}",
            t.trace
        );
        // A tagged frame on an access port is dropped; a VLAN the trunk does
        // not carry too.
        assert!(
            translate_traced(&br, &key(101, H1, H2, Some(10)), &mut mac, 0, true)
                .actions
                .is_empty()
        );
        assert!(
            translate_traced(&br, &key(104, H1, H2, Some(30)), &mut mac, 0, true)
                .actions
                .is_empty()
        );
        // Learning is per VLAN.
        assert_eq!(mac.lookup(10, H1, 0), Some(1));
        assert_eq!(mac.lookup(20, H1, 0), None);
    }

    #[test]
    fn rules_take_precedence_over_normal_and_goto_chains_tables() {
        let mut tables = FlowTables::normal();
        let mut k = FlowKey::default();
        k.set_dl_type(0x0800);
        k.set_ipv4_dst(0x0a000002);
        let m = Match::new(k, FlowMask::of_fields(&[Field::DlType, Field::Ipv4Dst]));
        let mut r = Rule::new(0, 100, m, vec![OfAction::SetEthDst([2, 0, 0, 0, 0, 9])]);
        r.goto = Some(1);
        tables.add(r);
        tables.add(Rule::new(1, 0, Match::any(), vec![OfAction::Output(2)]));
        let br = XBridge::new(
            "br0",
            vec![port(1, trunk()), port(2, trunk())],
            Arc::new(tables),
        );
        let mut mac = MacTable::default();
        let t = translate_traced(&br, &key(101, H1, H2, None), &mut mac, 0, true);
        assert_eq!(
            t.actions,
            vec![Action::SetEthDst([2, 0, 0, 0, 0, 9]), Action::Output(102)]
        );
        assert_eq!(t.rules.len(), 2);
        assert!(t.mask.has_field(Field::Ipv4Dst));
        assert!(!t.mask.has_field(Field::TpDst));
        // Another destination falls through to NORMAL.
        let mut other = key(101, H1, H2, None);
        other.set_ipv4_dst(0x0a000003);
        let t = translate_traced(&br, &other, &mut mac, 0, true);
        assert_eq!(t.actions, vec![Action::Output(102)]);
        assert!(
            t.mask.has_field(Field::Ipv4Dst),
            "the checked rule still constrains the megaflow"
        );
    }
}
