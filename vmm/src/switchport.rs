//! `--net bridge=BR`: the VMM puts its NIC on a bridge the libvirt way.
//! It listens on a vhost-user socket of its own and adds, in one OVSDB
//! transaction, a Port and an Interface of `type=vhostuserclient` with
//! `options:vhost-server-path` naming that socket, and the `external_ids`
//! libvirt sets — `attached-mac`, `iface-id`, `vm-id` — to bridge `BR`.
//! The switch (rvs-vswitchd, or Open vSwitch with `dpdkvhostuserclient`
//! ports after a type rename) then connects to the socket and reconnects
//! whenever it restarts. When the VM ends the port is removed again
//! ([`AttachedPort::detach`], also on drop).
//!
//! The transaction starts with a `wait` for the bridge, so a missing
//! bridge fails it whole: nothing is half-added.

use rvs_ovsdb::client::{Client, ClientError};
use serde_json::{json, Value};
use std::path::Path;

/// Why the port could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum SwitchPortError {
    #[error("cannot reach the switch's database {remote}: {source} (is rvs-vswitchd running? name its database with --db unix:PATH or set RVS_RUNDIR)")]
    Connect {
        remote: String,
        #[source]
        source: ClientError,
    },
    #[error("bridge {0} does not exist (rvs-vsctl add-br {0})")]
    NoBridge(String),
    #[error("the switch's database refused the port: {0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] ClientError),
}

/// The database the switch tools use by default: `unix:$RVS_RUNDIR/db.sock`
/// (`/var/run/rvs` without `RVS_RUNDIR`).
pub fn default_db() -> String {
    let rundir = std::env::var("RVS_RUNDIR").unwrap_or_else(|_| "/var/run/rvs".into());
    format!("unix:{rundir}/db.sock")
}

/// A port this VMM added to a bridge.
#[derive(Debug)]
pub struct AttachedPort {
    remote: String,
    bridge: String,
    pub name: String,
    port_uuid: String,
    attached: bool,
}

fn mac_text(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn first_error(results: &[Value]) -> Option<String> {
    results.iter().find_map(|r| {
        r.get("error").map(|e| {
            let details = r.get("details").and_then(Value::as_str).unwrap_or("");
            format!("{} {details}", e.as_str().unwrap_or("error"))
        })
    })
}

impl AttachedPort {
    /// Adds port `name` to `bridge` through the database at `remote`, as a
    /// vhost-user client of `socket`, with libvirt's external ids.
    pub fn attach(
        remote: &str,
        bridge: &str,
        name: &str,
        socket: &Path,
        mac: [u8; 6],
        vm_id: &str,
    ) -> Result<AttachedPort, SwitchPortError> {
        // A port of this name left by a VMM that was killed would make
        // the insert fail (names are unique): it is ours, remove it.
        remove_named(remote, name)?;
        let mut db = Client::connect(remote).map_err(|source| SwitchPortError::Connect {
            remote: remote.to_string(),
            source,
        })?;
        let ops = vec![
            json!({"op": "wait", "table": "Bridge", "timeout": 0,
                   "where": [["name", "==", bridge]], "columns": ["name"],
                   "until": "!=", "rows": []}),
            json!({"op": "insert", "table": "Interface", "uuid-name": "iface",
                   "row": {"name": name, "type": "vhostuserclient",
                           "options": ["map", [["vhost-server-path", socket.display().to_string()]]],
                           "external_ids": ["map", [
                               ["attached-mac", mac_text(mac)],
                               ["iface-id", name],
                               ["vm-id", vm_id]]]}}),
            json!({"op": "insert", "table": "Port", "uuid-name": "port",
                   "row": {"name": name, "interfaces": ["named-uuid", "iface"]}}),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                   "mutations": [["ports", "insert", ["set", [["named-uuid", "port"]]]]]}),
        ];
        let results = db.transact("Open_vSwitch", &ops)?;
        if let Some(Value::Object(r)) = results.first() {
            if r.get("error").and_then(Value::as_str) == Some("timed out") {
                return Err(SwitchPortError::NoBridge(bridge.to_string()));
            }
        }
        if let Some(e) = first_error(&results) {
            return Err(SwitchPortError::Refused(e));
        }
        let port_uuid = results
            .get(2)
            .and_then(|r| r["uuid"][1].as_str())
            .ok_or_else(|| SwitchPortError::Refused(format!("no port uuid in {results:?}")))?
            .to_string();
        Ok(AttachedPort {
            remote: remote.to_string(),
            bridge: bridge.to_string(),
            name: name.to_string(),
            port_uuid,
            attached: true,
        })
    }

    /// Removes the port from its bridge (the switch drops the Port and
    /// Interface rows with it). Idempotent.
    pub fn detach(&mut self) -> Result<(), SwitchPortError> {
        if !self.attached {
            return Ok(());
        }
        let mut db = Client::connect(&self.remote).map_err(|source| SwitchPortError::Connect {
            remote: self.remote.clone(),
            source,
        })?;
        let ops = vec![json!({"op": "mutate", "table": "Bridge",
               "where": [["name", "==", self.bridge]],
               "mutations": [["ports", "delete", ["set", [["uuid", self.port_uuid]]]]]})];
        let results = db.transact("Open_vSwitch", &ops)?;
        if let Some(e) = first_error(&results) {
            return Err(SwitchPortError::Refused(e));
        }
        self.attached = false;
        Ok(())
    }
}

/// The `error` column of Interface `name`, if the switch set one (why a
/// port did not come up).
pub fn interface_error(remote: &str, name: &str) -> Option<String> {
    let mut db = Client::connect(remote).ok()?;
    let r = db
        .transact(
            "Open_vSwitch",
            &[json!({"op": "select", "table": "Interface", "where": [["name", "==", name]], "columns": ["error"]})],
        )
        .ok()?;
    r.first()?["rows"].as_array()?.first()?["error"]
        .as_str()
        .map(str::to_string)
}

/// Removes port `name` from whichever bridge has it (for a VM whose
/// process died before it could do so itself). No such port is fine.
pub fn remove_named(remote: &str, name: &str) -> Result<(), SwitchPortError> {
    let mut db = Client::connect(remote).map_err(|source| SwitchPortError::Connect {
        remote: remote.to_string(),
        source,
    })?;
    let found = db.transact(
        "Open_vSwitch",
        &[json!({"op": "select", "table": "Port", "where": [["name", "==", name]], "columns": ["_uuid"]})],
    )?;
    let uuids: Vec<Value> = found
        .first()
        .and_then(|r| r["rows"].as_array())
        .map(|rows| rows.iter().map(|r| r["_uuid"].clone()).collect())
        .unwrap_or_default();
    if uuids.is_empty() {
        return Ok(());
    }
    let results = db.transact(
        "Open_vSwitch",
        &[json!({"op": "mutate", "table": "Bridge", "where": [],
                 "mutations": [["ports", "delete", ["set", uuids]]]})],
    )?;
    match first_error(&results) {
        Some(e) => Err(SwitchPortError::Refused(e)),
        None => Ok(()),
    }
}

impl Drop for AttachedPort {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            eprintln!("rvs-vmm: could not remove port {}: {e}", self.name);
        }
    }
}
