//! Reconciliation: makes the running switch match the configuration, and
//! says what to write back to the database (`ofport`, `error`,
//! `mac_in_use`, `link_state`, `cur_cfg`).
//!
//! Ports are opened by a [`PortFactory`] (devices in production, in-memory
//! rings in tests). An interface that cannot be opened gets a sentence in
//! `Interface.error` and `ofport` -1, and everything else keeps forwarding.

use crate::config::{valid_netdev_name, valid_port_name, Config, FailMode, IfaceCfg};
use crate::mac_learning::OfPort;
use crate::ofproto::{ofpp, FlowTables};
use crate::pmd::{BridgeSet, PmdCmd, PmdHandle, Shared};
use crate::xlate::{ControllerSpecs, TableCounters, XBridge, XPort};
use rvs_datapath::flow::format_mac;
use rvs_datapath::port::Port;
use rvs_datapath::{DatapathConfig, PortNo};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Opens ports for interfaces.
pub trait PortFactory {
    /// Opens `iface` of `bridge`; the error is the sentence for
    /// `Interface.error`.
    fn open(&mut self, bridge: &str, iface: &IfaceCfg) -> Result<Box<dyn Port>, String>;
}

/// An interface the switch has open.
#[derive(Debug, Clone)]
struct Open {
    bridge: String,
    kind: String,
    options: BTreeMap<String, String>,
    dp_port: PortNo,
    ofport: OfPort,
    pmd: usize,
    mac: Option<[u8; 6]>,
    opened: std::time::Instant,
}

/// A port of a bridge, as OpenFlow describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub name: String,
    pub ofport: OfPort,
    pub dp_port: PortNo,
    pub mac: [u8; 6],
    /// How long the port has been open.
    pub age: std::time::Duration,
}

/// The running switch.
pub struct Switch {
    pub shared: Arc<Shared>,
    pmds: Vec<PmdHandle>,
    open: HashMap<String, Open>,
    /// Interfaces that failed, with their error, so it is not retried and
    /// rewritten on every reconciliation.
    failed: HashMap<String, (String, BTreeMap<String, String>, String)>,
    tables: HashMap<String, Arc<FlowTables>>,
    /// The fail mode each bridge's tables were set up for.
    fail_modes: HashMap<String, FailMode>,
    /// Bridges switching as NORMAL because no controller is connected.
    fail_open: BTreeSet<String>,
    specs: Arc<ControllerSpecs>,
    counters: HashMap<String, Arc<TableCounters>>,
    dpids: HashMap<String, u64>,
    cfg: Config,
    flow_limit: usize,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("pmds", &self.pmds.len())
            .field("ports", &self.open.len())
            .finish()
    }
}

fn uuid_json(u: &str) -> Value {
    json!(["uuid", u])
}

impl Switch {
    /// A switch with one poll-mode thread per entry of `cores` (each pinned
    /// to that core when it is `Some`).
    pub fn new(cores: &[Option<usize>], dp: DatapathConfig) -> Switch {
        let shared = Arc::new(Shared::default());
        let cores = if cores.is_empty() { &[None][..] } else { cores };
        let pmds = cores
            .iter()
            .enumerate()
            .map(|(i, c)| PmdHandle::start(i, *c, shared.clone(), dp))
            .collect();
        Switch {
            shared,
            pmds,
            open: HashMap::new(),
            failed: HashMap::new(),
            tables: HashMap::new(),
            fail_modes: HashMap::new(),
            fail_open: BTreeSet::new(),
            specs: Arc::default(),
            counters: HashMap::new(),
            dpids: HashMap::new(),
            cfg: Config::default(),
            flow_limit: 200_000,
        }
    }

    /// Changes the flow tables of `bridge` with `f` and publishes them to
    /// the PMDs (which then revalidate). `None` if there is no such bridge.
    pub fn modify_tables<R>(
        &mut self,
        bridge: &str,
        f: impl FnOnce(&mut FlowTables) -> R,
    ) -> Option<R> {
        let t = self.tables.get_mut(bridge)?;
        let r = f(Arc::make_mut(t));
        self.republish();
        Some(r)
    }

    /// Makes `bridge` switch as NORMAL regardless of its tables (fail-open)
    /// or not.
    pub fn set_fail_open(&mut self, bridge: &str, on: bool) {
        let changed = if on {
            self.fail_open.insert(bridge.to_string())
        } else {
            self.fail_open.remove(bridge)
        };
        if changed {
            crate::info!(
                "{bridge}: {}",
                if on {
                    "no controller connected: switching as NORMAL (fail-open, fail_mode=standalone)"
                } else {
                    "leaving fail-open: the flow tables decide"
                }
            );
            self.republish();
        }
    }

    /// Whether `bridge` is in fail-open.
    pub fn is_fail_open(&self, bridge: &str) -> bool {
        self.fail_open.contains(bridge)
    }

    /// The datapath id of `bridge`.
    pub fn datapath_id(&self, bridge: &str) -> Option<u64> {
        self.dpids.get(bridge).copied()
    }

    /// The lookup and match counters of `bridge`'s tables.
    pub fn table_counters(&self, bridge: &str) -> Arc<TableCounters> {
        self.counters.get(bridge).cloned().unwrap_or_default()
    }

    /// The ports of `bridge` that are open, by OpenFlow port number.
    pub fn bridge_ports(&self, bridge: &str) -> Vec<PortInfo> {
        let mut v: Vec<PortInfo> = self
            .open
            .iter()
            .filter(|(_, o)| o.bridge == bridge)
            .map(|(n, o)| PortInfo {
                name: n.clone(),
                ofport: o.ofport,
                dp_port: o.dp_port,
                mac: o.mac.unwrap_or([0; 6]),
                age: o.opened.elapsed(),
            })
            .collect();
        v.sort_by_key(|p| p.ofport);
        v
    }

    /// The PMD that owns datapath port `dp`.
    pub fn pmd_of(&self, dp: PortNo) -> Option<&PmdHandle> {
        self.open
            .values()
            .find(|o| o.dp_port == dp)
            .and_then(|o| self.pmds.get(o.pmd))
    }

    /// Counters and link state of every open port, by datapath port.
    pub fn port_reports(&self) -> HashMap<PortNo, crate::pmd::PortReport> {
        let mut by_dp = HashMap::new();
        for pmd in &self.pmds {
            if let Some(r) = pmd.report() {
                for p in r.ports {
                    by_dp.insert(p.no, p);
                }
            }
        }
        by_dp
    }

    /// Waits (at most `max`) until every PMD has revalidated against the
    /// tables published so far: after it, no megaflow forwards by a
    /// replaced rule. Returns whether they all got there.
    pub fn wait_revalidated(&self, max: std::time::Duration) -> bool {
        let target = self
            .shared
            .reval_seq
            .load(std::sync::atomic::Ordering::Acquire);
        let deadline = std::time::Instant::now() + max;
        loop {
            let done = self
                .pmds
                .iter()
                .all(|p| p.report().is_some_and(|r| r.seen_seq >= target));
            if done {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn republish(&mut self) {
        let cfg = std::mem::take(&mut self.cfg);
        self.publish(&cfg);
        self.cfg = cfg;
    }

    /// Sets up each bridge's tables for its fail mode: a new bridge, or
    /// one whose fail mode changed while it has no controller, starts with
    /// an empty table, plus the priority-0 NORMAL flow when standalone (an
    /// ordinary flow that `del-flows` removes), as Open vSwitch does.
    fn setup_tables(&mut self, cfg: &Config) {
        for (b, br) in &cfg.bridges {
            let fresh = !self.tables.contains_key(b);
            let changed = self.fail_modes.get(b).is_some_and(|m| *m != br.fail_mode);
            if fresh || (changed && br.controllers.is_empty()) {
                let t = match br.fail_mode {
                    FailMode::Standalone => FlowTables::normal(),
                    FailMode::Secure => FlowTables::default(),
                };
                self.tables.insert(b.clone(), Arc::new(t));
            }
            self.fail_modes.insert(b.clone(), br.fail_mode);
            self.counters.entry(b.clone()).or_default();
        }
        self.fail_modes.retain(|b, _| cfg.bridges.contains_key(b));
        self.counters.retain(|b, _| cfg.bridges.contains_key(b));
        self.fail_open.retain(|b| cfg.bridges.contains_key(b));
    }

    /// Each bridge's datapath id: `other_config:datapath-id` (16 hex
    /// digits) if set, else from the MAC of its internal port, else from
    /// its name; the operations that write it to `Bridge.datapath_id`.
    fn assign_dpids(&mut self, cfg: &Config) -> Vec<Value> {
        let mut ops = Vec::new();
        for (b, br) in &cfg.bridges {
            let configured = br.other_config.get("datapath-id").and_then(|v| {
                let h = v.trim_start_matches("0x");
                match (h.len(), u64::from_str_radix(h, 16)) {
                    (16, Ok(d)) => Some(d),
                    _ => {
                        crate::warn!(
                            "{b}: other_config:datapath-id={v:?} is not 16 hex digits; ignored"
                        );
                        None
                    }
                }
            });
            let dpid = configured
                .or_else(|| {
                    self.open
                        .get(b)
                        .filter(|o| o.bridge == *b)
                        .and_then(|o| o.mac)
                        .map(rvs_datapath::flow::mac_to_u64)
                })
                .unwrap_or_else(|| {
                    // A locally administered address from the name.
                    let h = b.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
                        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
                    });
                    (h & 0x0000_feff_ffff_ffff) | 0x0000_0200_0000_0000
                });
            if self.dpids.get(b) != Some(&dpid) {
                self.dpids.insert(b.clone(), dpid);
                if !br.uuid.is_empty() {
                    ops.push(json!({"op": "update", "table": "Bridge",
                        "where": [["_uuid", "==", uuid_json(&br.uuid)]],
                        "row": {"datapath_id": format!("{dpid:016x}")}}));
                }
            }
        }
        self.dpids.retain(|b, _| cfg.bridges.contains_key(b));
        ops
    }

    /// The poll-mode threads.
    pub fn pmds(&self) -> &[PmdHandle] {
        &self.pmds
    }

    /// Runs one PMD per entry of `cores` (pinned where `Some`): existing
    /// threads are re-pinned, new ones started, and the ports of threads
    /// that go away move to the least loaded of those that stay, without
    /// being closed (a VM's vhost-user connection survives). What
    /// `other_config:pmd-cpu-mask` changes at run time.
    pub fn set_pmd_cores(&mut self, cores: &[Option<usize>], dp: DatapathConfig) {
        let cores = if cores.is_empty() { &[None][..] } else { cores };
        for (i, c) in cores.iter().enumerate() {
            if let Some(p) = self.pmds.get(i) {
                p.send(PmdCmd::Pin(*c));
            } else {
                let h = PmdHandle::start(i, *c, self.shared.clone(), dp);
                self.pmds.push(h);
            }
        }
        while self.pmds.len() > cores.len() {
            let gone = self.pmds.len() - 1;
            let mut moving: Vec<(String, PortNo)> = self
                .open
                .iter()
                .filter(|(_, o)| o.pmd == gone)
                .map(|(n, o)| (n.clone(), o.dp_port))
                .collect();
            moving.sort();
            for (name, dp_port) in moving {
                let Some(port) = self.pmds[gone].release(dp_port) else {
                    continue;
                };
                // The thread with the fewest ports, but not the one going
                // away (the first of equals, as before).
                let target = (0..self.pmds.len() - 1)
                    .min_by_key(|&i| self.open.values().filter(|o| o.pmd == i).count())
                    .unwrap_or(0);
                self.pmds[target].send(PmdCmd::AddPort(dp_port, port));
                if let Some(o) = self.open.get_mut(&name) {
                    o.pmd = target;
                }
            }
            // Dropping the handle stops the thread.
            self.pmds.pop();
        }
        crate::info!(
            "poll-mode threads: {}",
            cores
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    Some(c) => format!("pmd{i} on core {c}"),
                    None => format!("pmd{i} unpinned"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    /// The flow tables of `bridge` (empty if there is no such bridge).
    pub fn tables(&self, bridge: &str) -> Arc<FlowTables> {
        self.tables.get(bridge).cloned().unwrap_or_default()
    }

    /// Interface name → (bridge, OpenFlow port, datapath port).
    pub fn ports(&self) -> Vec<(String, String, OfPort, PortNo)> {
        let mut v: Vec<_> = self
            .open
            .iter()
            .map(|(n, o)| (n.clone(), o.bridge.clone(), o.ofport, o.dp_port))
            .collect();
        v.sort();
        v
    }

    /// The PMD with the least measured receive work (busy time of its
    /// ports), ties broken by fewer ports: where a new port's queue goes.
    fn least_loaded_pmd(&self) -> usize {
        if self.pmds.len() == 1 {
            return 0;
        }
        let mut best = (u64::MAX, usize::MAX, 0);
        for (i, p) in self.pmds.iter().enumerate() {
            let (load, n) = p
                .report()
                .map(|r| {
                    (
                        r.ports.iter().map(|x| x.busy_ns).sum::<u64>(),
                        r.ports.len(),
                    )
                })
                .unwrap_or((u64::MAX, usize::MAX));
            if (load, n) < (best.0, best.1) {
                best = (load, n, i);
            }
        }
        best.2
    }

    fn free_dp_port(&self) -> PortNo {
        let used: BTreeSet<PortNo> = self.open.values().map(|o| o.dp_port).collect();
        (1..)
            .find(|p| !used.contains(p))
            .expect("port numbers left")
    }

    fn free_ofport(&self, bridge: &str, want: Option<u32>, local: bool) -> OfPort {
        let used: BTreeSet<OfPort> = self
            .open
            .values()
            .filter(|o| o.bridge == bridge)
            .map(|o| o.ofport)
            .collect();
        if local {
            return ofpp::LOCAL & 0xffff;
        }
        if let Some(w) = want.filter(|w| (1..=65279).contains(w) && !used.contains(w)) {
            return w;
        }
        (1..65280)
            .find(|p| !used.contains(p))
            .expect("ofport numbers left")
    }

    /// Brings the switch in line with `cfg`; returns the database
    /// operations that report the outcome (including `cur_cfg`).
    pub fn reconcile(&mut self, cfg: &Config, factory: &mut dyn PortFactory) -> Vec<Value> {
        let mut ops = Vec::new();
        // What should be open: interface name → (bridge, iface).
        let mut want: BTreeMap<String, (String, IfaceCfg)> = BTreeMap::new();
        for (bname, br) in &cfg.bridges {
            for p in br.ports.values() {
                for i in &p.interfaces {
                    want.insert(i.name.clone(), (bname.clone(), i.clone()));
                }
            }
        }
        // Close what went away or changed.
        let stale: Vec<String> = self
            .open
            .iter()
            .filter(|(n, o)| {
                want.get(*n).is_none_or(|(b, i)| {
                    *b != o.bridge || i.kind != o.kind || i.options != o.options
                })
            })
            .map(|(n, _)| n.clone())
            .collect();
        for n in stale {
            if let Some(o) = self.open.remove(&n) {
                self.pmds[o.pmd].send(PmdCmd::DelPort(o.dp_port));
                if let Ok(mut macs) = self.shared.macs.lock() {
                    if let Some(t) = macs.get_mut(&o.bridge) {
                        t.flush_port(o.ofport);
                    }
                }
            }
        }
        self.failed.retain(|n, (b, opts, _)| {
            want.get(n)
                .is_some_and(|(wb, i)| wb == b && &i.options == opts)
        });
        // Open what is new.
        for (name, (bridge, iface)) in &want {
            if self.open.contains_key(name) {
                continue;
            }
            if self.failed.contains_key(name) {
                continue;
            }
            let result = if !valid_netdev_name(bridge) {
                Err(format!(
                    "bridge name {bridge:?} is not a valid network device name (at most 15 characters, no '/', ':' or spaces)"
                ))
            } else if !valid_port_name(name, &iface.kind) {
                Err(if iface.kind.starts_with("vhostuser") {
                    format!("{name:?} is not a valid vhost-user port name (1 to 255 characters, no '/' or spaces)")
                } else {
                    format!(
                        "{name:?} is not a valid network device name (at most 15 characters, no '/', ':' or spaces)"
                    )
                })
            } else {
                factory.open(bridge, iface)
            };
            match result {
                Ok(port) => {
                    let local = name == bridge && iface.kind == "internal";
                    let ofport = self.free_ofport(bridge, iface.ofport_request, local);
                    let dp_port = self.free_dp_port();
                    let mac = port.mac();
                    let up = port.link_up();
                    let pmd = self.least_loaded_pmd();
                    self.pmds[pmd].send(PmdCmd::AddPort(dp_port, port));
                    self.open.insert(
                        name.clone(),
                        Open {
                            bridge: bridge.clone(),
                            kind: iface.kind.clone(),
                            options: iface.options.clone(),
                            dp_port,
                            ofport,
                            pmd,
                            mac,
                            opened: std::time::Instant::now(),
                        },
                    );
                    let mut row = json!({"ofport": ofport, "error": ["set", []],
                                         "link_state": if up { "up" } else { "down" }});
                    if let Some(m) = mac {
                        row["mac_in_use"] = json!(format_mac(m));
                    }
                    ops.push(json!({"op": "update", "table": "Interface",
                                    "where": [["_uuid", "==", uuid_json(&iface.uuid)]], "row": row}));
                }
                Err(e) => {
                    ops.push(json!({"op": "update", "table": "Interface",
                                    "where": [["_uuid", "==", uuid_json(&iface.uuid)]],
                                    "row": {"ofport": -1, "error": e.clone()}}));
                    self.failed
                        .insert(name.clone(), (bridge.clone(), iface.options.clone(), e));
                }
            }
        }
        self.apply_other_config(cfg);
        self.setup_tables(cfg);
        ops.extend(self.assign_dpids(cfg));
        self.cfg = cfg.clone();
        self.publish(cfg);
        if let Some(root) = &cfg.root {
            ops.push(json!({"op": "update", "table": "Open_vSwitch",
                            "where": [["_uuid", "==", uuid_json(root)]], "row": {"cur_cfg": cfg.next_cfg}}));
        }
        ops
    }

    /// `Open_vSwitch other_config:flow-limit` and the bridges'
    /// `other_config:mac-aging-time` / `mac-table-size`. Values that are not
    /// numbers are logged and ignored (the column has no error to set).
    fn apply_other_config(&mut self, cfg: &Config) {
        let num = |m: &BTreeMap<String, String>, k: &str, what: &str| -> Option<u64> {
            let v = m.get(k)?;
            match v.parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    crate::warn!("{what} other_config:{k}={v:?} is not a positive number; ignored");
                    None
                }
            }
        };
        let limit =
            num(&cfg.other_config, "flow-limit", "Open_vSwitch").unwrap_or(200_000) as usize;
        if limit != self.flow_limit {
            self.flow_limit = limit;
            for p in &self.pmds {
                p.send(PmdCmd::SetFlowLimit(limit));
            }
        }
        if let Ok(mut macs) = self.shared.macs.lock() {
            for (b, br) in &cfg.bridges {
                let t = macs.entry(b.clone()).or_default();
                t.aging = num(&br.other_config, "mac-aging-time", b).unwrap_or(300);
                t.max = num(&br.other_config, "mac-table-size", b).unwrap_or(2048) as usize;
            }
        }
    }

    /// Publishes the translation snapshot for the open ports.
    fn publish(&mut self, cfg: &Config) {
        let mut bridges = Vec::new();
        for (bname, br) in &cfg.bridges {
            let mut xports = Vec::new();
            for p in br.ports.values() {
                for i in &p.interfaces {
                    if let Some(o) = self.open.get(&i.name).filter(|o| &o.bridge == bname) {
                        xports.push(XPort {
                            ofport: o.ofport,
                            dp_port: o.dp_port,
                            name: i.name.clone(),
                            vlan: p.vlan.clone(),
                        });
                    }
                }
            }
            let tables = self.tables(bname);
            let mut xb = XBridge::new(bname, xports, tables);
            xb.fail_open = self.fail_open.contains(bname);
            xb.specs = self.specs.clone();
            xb.table_counters = self.table_counters(bname);
            bridges.push(xb);
        }
        self.tables.retain(|b, _| cfg.bridges.contains_key(b));
        if let Ok(mut macs) = self.shared.macs.lock() {
            macs.retain(|b, _| cfg.bridges.contains_key(b));
        }
        self.shared.publish(BridgeSet::new(bridges));
    }

    /// Database operations that store every interface's counters and link
    /// state.
    pub fn statistics_ops(&self, cfg: &Config) -> Vec<Value> {
        let by_dp = self.port_reports();
        let mut ops = Vec::new();
        for br in cfg.bridges.values() {
            for p in br.ports.values() {
                for i in &p.interfaces {
                    let Some(o) = self.open.get(&i.name) else {
                        continue;
                    };
                    let Some(port) = by_dp.get(&o.dp_port) else {
                        continue;
                    };
                    let s = &port.stats;
                    ops.push(json!({"op": "update", "table": "Interface",
                        "where": [["_uuid", "==", uuid_json(&i.uuid)]],
                        "row": {"statistics": ["map", [
                            ["rx_bytes", s.rx_bytes], ["rx_dropped", s.rx_dropped], ["rx_packets", s.rx_packets],
                            ["tx_bytes", s.tx_bytes], ["tx_dropped", s.tx_dropped], ["tx_packets", s.tx_packets]]],
                            "link_state": if port.link_up { "up" } else { "down" },
                            "status": ["map", port.details.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()]}}));
                }
            }
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BridgeCfg, PortCfg};
    use crate::xlate::VlanMode;
    use rvs_datapath::port::ring::ring_pair;

    struct Rings;
    impl PortFactory for Rings {
        fn open(&mut self, _bridge: &str, iface: &IfaceCfg) -> Result<Box<dyn Port>, String> {
            match iface.kind.as_str() {
                "" | "internal" => Ok(Box::new(ring_pair(&iface.name, "peer", 16).0)),
                other => Err(format!("unsupported interface type {other:?}")),
            }
        }
    }

    fn iface(name: &str, kind: &str, req: Option<u32>) -> IfaceCfg {
        IfaceCfg {
            uuid: format!("00000000-0000-4000-8000-{:012}", name.len()),
            name: name.into(),
            kind: kind.into(),
            options: BTreeMap::new(),
            ofport_request: req,
        }
    }

    fn cfg(ifaces: Vec<IfaceCfg>) -> Config {
        let mut ports = BTreeMap::new();
        for i in ifaces {
            ports.insert(
                i.name.clone(),
                PortCfg {
                    name: i.name.clone(),
                    vlan: VlanMode::Trunk {
                        trunks: None,
                        native: None,
                    },
                    interfaces: vec![i],
                },
            );
        }
        let mut bridges = BTreeMap::new();
        bridges.insert(
            "br0".into(),
            BridgeCfg {
                name: "br0".into(),
                ports,
                ..Default::default()
            },
        );
        Config {
            root: Some("r".into()),
            next_cfg: 5,
            cur_cfg: 0,
            bridges,
            other_config: BTreeMap::new(),
        }
    }

    #[test]
    fn opens_ports_reports_errors_and_bumps_cur_cfg() {
        let mut sw = Switch::new(&[None], DatapathConfig::default());
        let c = cfg(vec![
            iface("br0", "internal", None),
            iface("p1", "", Some(7)),
            iface("p2", "bogus", None),
        ]);
        let ops = sw.reconcile(&c, &mut Rings);
        let text = serde_json::to_string(&ops).unwrap();
        assert!(
            text.contains("\"ofport\":65534"),
            "the bridge port is LOCAL: {text}"
        );
        assert!(
            text.contains("\"ofport\":7"),
            "ofport_request honoured: {text}"
        );
        assert!(text.contains("unsupported interface type"), "{text}");
        assert!(text.contains("\"cur_cfg\":5"), "{text}");
        assert_eq!(sw.ports().len(), 2);
        // Unchanged config: nothing reopened, nothing rewritten but cur_cfg.
        let ops = sw.reconcile(&c, &mut Rings);
        assert_eq!(ops.len(), 1, "{ops:?}");
        // Removing a port closes it.
        let c2 = cfg(vec![iface("br0", "internal", None)]);
        sw.reconcile(&c2, &mut Rings);
        assert_eq!(sw.ports().len(), 1);
    }

    #[test]
    fn new_ports_go_to_the_least_loaded_pmd() {
        let mut sw = Switch::new(&[None, None], DatapathConfig::default());
        let c = cfg(vec![iface("p1", "", None), iface("p2", "", None)]);
        sw.reconcile(&c, &mut Rings);
        let per_pmd: Vec<usize> = sw
            .pmds()
            .iter()
            .map(|p| p.report().unwrap().ports.len())
            .collect();
        assert_eq!(per_pmd, vec![1, 1], "both idle: one port each");
    }

    #[test]
    fn pmd_threads_change_at_run_time_and_ports_move_without_closing() {
        let mut sw = Switch::new(&[None, None], DatapathConfig::default());
        let c = cfg(vec![iface("p1", "", None), iface("p2", "", None)]);
        sw.reconcile(&c, &mut Rings);
        let count = |sw: &Switch| -> Vec<usize> {
            sw.pmds()
                .iter()
                .map(|p| p.report().unwrap().ports.len())
                .collect()
        };
        assert_eq!(count(&sw), vec![1, 1]);
        sw.set_pmd_cores(&[None], DatapathConfig::default());
        assert_eq!(count(&sw), vec![2], "the second thread's port moved");
        sw.set_pmd_cores(&[None, None, None], DatapathConfig::default());
        assert_eq!(count(&sw).len(), 3);
        assert_eq!(
            count(&sw).iter().sum::<usize>(),
            2,
            "no port lost or doubled"
        );
        // Reconciling again keeps them open where they are.
        let ops = sw.reconcile(&c, &mut Rings);
        assert_eq!(ops.len(), 1, "{ops:?}");
    }

    #[test]
    fn a_bad_bridge_name_gets_an_error_not_a_half_built_bridge() {
        let mut sw = Switch::new(&[None], DatapathConfig::default());
        let mut c = cfg(vec![iface("p1", "", None)]);
        let br = c.bridges.remove("br0").unwrap();
        c.bridges.insert("this-name-is-far-too-long".into(), br);
        let ops = sw.reconcile(&c, &mut Rings);
        let text = serde_json::to_string(&ops).unwrap();
        assert!(text.contains("not a valid network device name"), "{text}");
        assert!(sw.ports().is_empty());
    }
}
