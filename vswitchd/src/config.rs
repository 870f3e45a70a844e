//! The switch configuration as the database holds it: bridges, ports,
//! interfaces, read from `select` results into plain structs.

use crate::xlate::VlanMode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// An interface row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceCfg {
    pub uuid: String,
    pub name: String,
    /// `Interface.type` ("" means system).
    pub kind: String,
    pub options: BTreeMap<String, String>,
    pub ofport_request: Option<u32>,
}

/// A port row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCfg {
    pub name: String,
    pub vlan: VlanMode,
    pub interfaces: Vec<IfaceCfg>,
}

/// `Bridge.fail_mode`: what the bridge does without a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Switch as a learning switch (NORMAL) when no controller is
    /// connected; the default.
    #[default]
    Standalone,
    /// Only the flow tables decide, controller or not.
    Secure,
}

/// A `Controller` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerCfg {
    pub uuid: String,
    /// `tcp:IP[:PORT]`, `ptcp:[PORT][:IP]`, `unix:PATH`, `punix:PATH`.
    pub target: String,
    /// ms without a message before an echo request (0: never).
    pub inactivity_probe_ms: u64,
    /// Longest wait between reconnection attempts (ms).
    pub max_backoff_ms: u64,
}

/// A bridge row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeCfg {
    pub uuid: String,
    pub name: String,
    pub ports: BTreeMap<String, PortCfg>,
    pub other_config: BTreeMap<String, String>,
    pub fail_mode: FailMode,
    /// `Bridge.protocols` (empty: the default, which includes OpenFlow13).
    pub protocols: BTreeSet<String>,
    pub controllers: Vec<ControllerCfg>,
}

impl BridgeCfg {
    /// Whether `Bridge.protocols` lets OpenFlow 1.3 connections in.
    pub fn allows_of13(&self) -> bool {
        self.protocols.is_empty() || self.protocols.contains("OpenFlow13")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub root: Option<String>,
    pub next_cfg: i64,
    pub cur_cfg: i64,
    pub bridges: BTreeMap<String, BridgeCfg>,
    pub other_config: BTreeMap<String, String>,
}

/// The transaction that reads everything [`Config::from_results`] needs.
pub fn read_ops() -> Vec<Value> {
    vec![
        json!({"op": "select", "table": "Open_vSwitch", "where": [],
               "columns": ["_uuid", "bridges", "next_cfg", "cur_cfg", "other_config"]}),
        json!({"op": "select", "table": "Bridge", "where": [],
               "columns": ["_uuid", "name", "ports", "other_config", "fail_mode", "protocols", "controller"]}),
        json!({"op": "select", "table": "Port", "where": [],
               "columns": ["_uuid", "name", "interfaces", "tag", "trunks", "vlan_mode"]}),
        json!({"op": "select", "table": "Interface", "where": [],
               "columns": ["_uuid", "name", "type", "options", "ofport_request"]}),
        json!({"op": "select", "table": "Controller", "where": [],
               "columns": ["_uuid", "target", "inactivity_probe", "max_backoff"]}),
    ]
}

fn uuid_of(v: &Value) -> Option<String> {
    v.as_array()
        .filter(|a| a.len() == 2 && a[0] == "uuid")
        .and_then(|a| a[1].as_str())
        .map(String::from)
}

/// The elements of a set datum (a bare atom is a set of one).
fn set_elems(v: &Value) -> Vec<Value> {
    match v.as_array() {
        Some(a) if a.len() == 2 && a[0] == "set" => a[1].as_array().cloned().unwrap_or_default(),
        _ => vec![v.clone()],
    }
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Some(pairs) = v
        .as_array()
        .filter(|a| a.len() == 2 && a[0] == "map")
        .and_then(|a| a[1].as_array())
    {
        for p in pairs {
            if let (Some(k), Some(val)) = (p[0].as_str(), p[1].as_str()) {
                m.insert(k.to_string(), val.to_string());
            }
        }
    }
    m
}

fn rows(r: &Value) -> &[Value] {
    r["rows"].as_array().map(|a| a.as_slice()).unwrap_or(&[])
}

impl Config {
    /// Builds the configuration from the results of [`read_ops`].
    pub fn from_results(results: &[Value]) -> Config {
        let mut cfg = Config::default();
        let Some(root) = results.first().map(rows).and_then(|r| r.first()) else {
            return cfg;
        };
        cfg.root = uuid_of(&root["_uuid"]);
        cfg.next_cfg = root["next_cfg"].as_i64().unwrap_or(0);
        cfg.cur_cfg = root["cur_cfg"].as_i64().unwrap_or(0);
        cfg.other_config = map_of(&root["other_config"]);
        let wanted: BTreeSet<String> = set_elems(&root["bridges"])
            .iter()
            .filter_map(uuid_of)
            .collect();
        let ifaces: BTreeMap<String, IfaceCfg> = results
            .get(3)
            .map(rows)
            .unwrap_or(&[])
            .iter()
            .filter_map(|r| {
                let uuid = uuid_of(&r["_uuid"])?;
                Some((
                    uuid.clone(),
                    IfaceCfg {
                        uuid,
                        name: r["name"].as_str()?.to_string(),
                        kind: r["type"].as_str().unwrap_or("").to_string(),
                        options: map_of(&r["options"]),
                        ofport_request: set_elems(&r["ofport_request"])
                            .first()
                            .and_then(Value::as_u64)
                            .map(|v| v as u32),
                    },
                ))
            })
            .collect();
        let ports: BTreeMap<String, PortCfg> = results
            .get(2)
            .map(rows)
            .unwrap_or(&[])
            .iter()
            .filter_map(|r| {
                let uuid = uuid_of(&r["_uuid"])?;
                let tag = set_elems(&r["tag"])
                    .first()
                    .and_then(Value::as_u64)
                    .map(|t| t as u16);
                let trunks: BTreeSet<u16> = set_elems(&r["trunks"])
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|t| t as u16)
                    .collect();
                let mode = set_elems(&r["vlan_mode"])
                    .first()
                    .and_then(|v| v.as_str().map(String::from));
                let trunks = (!trunks.is_empty()).then_some(trunks);
                let vlan = match (mode.as_deref(), tag) {
                    (Some("native-untagged") | Some("native-tagged"), t) => {
                        VlanMode::Trunk { trunks, native: t }
                    }
                    (Some("trunk"), _) | (_, None) => VlanMode::Trunk {
                        trunks,
                        native: None,
                    },
                    (_, Some(t)) => VlanMode::Access(t),
                };
                let interfaces = set_elems(&r["interfaces"])
                    .iter()
                    .filter_map(uuid_of)
                    .filter_map(|u| ifaces.get(&u).cloned())
                    .collect();
                Some((
                    uuid,
                    PortCfg {
                        name: r["name"].as_str()?.to_string(),
                        vlan,
                        interfaces,
                    },
                ))
            })
            .collect();
        let controllers: BTreeMap<String, ControllerCfg> = results
            .get(4)
            .map(rows)
            .unwrap_or(&[])
            .iter()
            .filter_map(|r| {
                let uuid = uuid_of(&r["_uuid"])?;
                let num = |k: &str| set_elems(&r[k]).first().and_then(Value::as_u64);
                Some((
                    uuid.clone(),
                    ControllerCfg {
                        uuid,
                        target: r["target"].as_str()?.to_string(),
                        inactivity_probe_ms: num("inactivity_probe").unwrap_or(5000),
                        max_backoff_ms: num("max_backoff").unwrap_or(8000).max(1000),
                    },
                ))
            })
            .collect();
        for r in results.get(1).map(rows).unwrap_or(&[]) {
            let Some(uuid) = uuid_of(&r["_uuid"]) else {
                continue;
            };
            if !wanted.contains(&uuid) {
                continue;
            }
            let Some(name) = r["name"].as_str() else {
                continue;
            };
            let bports = set_elems(&r["ports"])
                .iter()
                .filter_map(uuid_of)
                .filter_map(|u| ports.get(&u).cloned())
                .map(|p| (p.name.clone(), p))
                .collect();
            let fail_mode = match set_elems(&r["fail_mode"]).first().and_then(Value::as_str) {
                Some("secure") => FailMode::Secure,
                _ => FailMode::Standalone,
            };
            let mut ctls: Vec<ControllerCfg> = set_elems(&r["controller"])
                .iter()
                .filter_map(uuid_of)
                .filter_map(|u| controllers.get(&u).cloned())
                .collect();
            ctls.sort_by(|a, b| a.target.cmp(&b.target));
            cfg.bridges.insert(
                name.to_string(),
                BridgeCfg {
                    uuid,
                    name: name.to_string(),
                    ports: bports,
                    other_config: map_of(&r["other_config"]),
                    fail_mode,
                    protocols: set_elems(&r["protocols"])
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    controllers: ctls,
                },
            );
        }
        cfg
    }
}

/// Whether `name` can name a Linux network device.
/// Whether `name` suits an interface of type `kind`: vhost-user ports
/// are no kernel devices, so their names may be longer (libvirt names
/// them after the VM), but a `vhostuser` port's name is also its socket's
/// file name; every other type needs a valid network device name.
pub fn valid_port_name(name: &str, kind: &str) -> bool {
    match kind {
        "vhostuser" | "vhostuserclient" => {
            !name.is_empty()
                && name.len() <= 255
                && name != "."
                && name != ".."
                && !name
                    .chars()
                    .any(|c| c == '/' || c.is_whitespace() || c.is_control())
        }
        _ => valid_netdev_name(name),
    }
}

pub fn valid_netdev_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhost_user_ports_may_have_long_names_devices_may_not() {
        let long = "vm-web-frontend-eth0";
        assert!(!valid_port_name(long, "afxdp"));
        assert!(!valid_port_name(long, ""));
        assert!(valid_port_name(long, "vhostuserclient"));
        assert!(valid_port_name(long, "vhostuser"));
        assert!(!valid_port_name("a/b", "vhostuser"));
        assert!(!valid_port_name("..", "vhostuserclient"));
        assert!(valid_port_name("eth0", "system"));
    }

    #[test]
    fn netdev_names() {
        assert!(valid_netdev_name("br0"));
        assert!(valid_netdev_name("veth-a_1.2"));
        assert!(!valid_netdev_name("a-very-long-name-x"));
        assert!(!valid_netdev_name("bad/name"));
        assert!(!valid_netdev_name("has space"));
        assert!(!valid_netdev_name(""));
    }

    #[test]
    fn reads_bridges_ports_and_vlans() {
        let results = vec![
            json!({"rows": [{"_uuid": ["uuid", "r"], "bridges": ["uuid", "b"], "next_cfg": 3, "cur_cfg": 2, "other_config": ["map", []]}]}),
            json!({"rows": [{"_uuid": ["uuid", "b"], "name": "br0", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]], "other_config": ["map", []]}]}),
            json!({"rows": [
                {"_uuid": ["uuid", "p1"], "name": "p1", "interfaces": ["uuid", "i1"], "tag": 10, "trunks": ["set", []], "vlan_mode": ["set", []]},
                {"_uuid": ["uuid", "p2"], "name": "p2", "interfaces": ["uuid", "i2"], "tag": ["set", []], "trunks": ["set", [10, 20]], "vlan_mode": ["set", []]}]}),
            json!({"rows": [
                {"_uuid": ["uuid", "i1"], "name": "p1", "type": "afxdp", "options": ["map", [["xdp-mode", "generic"]]], "ofport_request": 7},
                {"_uuid": ["uuid", "i2"], "name": "p2", "type": "", "options": ["map", []], "ofport_request": ["set", []]}]}),
        ];
        let c = Config::from_results(&results);
        assert_eq!(c.next_cfg, 3);
        let br = &c.bridges["br0"];
        assert_eq!(br.ports["p1"].vlan, VlanMode::Access(10));
        assert_eq!(
            br.ports["p2"].vlan,
            VlanMode::Trunk {
                trunks: Some([10, 20].into()),
                native: None
            }
        );
        let i1 = &br.ports["p1"].interfaces[0];
        assert_eq!((i1.kind.as_str(), i1.ofport_request), ("afxdp", Some(7)));
        assert_eq!(i1.options["xdp-mode"], "generic");
    }
}
