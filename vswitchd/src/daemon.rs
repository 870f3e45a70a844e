//! The daemon's main loop: the database (embedded or external), the
//! monitor that wakes reconciliation, the write-back of what happened, the
//! statistics refresh, the control socket.

use crate::appctl;
use crate::config::{read_ops, Config};
use crate::connmgr::ConnMgr;
use crate::switch::{PortFactory, Switch};
use rvs_datapath::DatapathConfig;
use rvs_ovsdb::client::{Client, ClientError};
use rvs_ovsdb::server::{vswitch_schema, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sockets go here: `db.sock` (embedded database), `rvs-vswitchd.ctl`.
    pub rundir: PathBuf,
    /// The embedded database's file goes here (`conf.db`).
    pub dbdir: PathBuf,
    /// An external database (`unix:PATH` or `tcp:IP:PORT`) instead of the
    /// embedded one.
    pub db: Option<String>,
    /// Poll-mode threads when `other_config:pmd-cpu-mask` is not set.
    pub n_pmds: usize,
    /// Seconds between statistics refreshes.
    pub stats_interval: u64,
}

/// Why the daemon stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// the embedded database could not start
    #[error("the embedded database could not start: {0}")]
    Db(#[from] rvs_ovsdb::server::ServerError),
    /// the database connection failed
    #[error(transparent)]
    Client(#[from] ClientError),
    /// the control socket could not be created
    #[error("cannot create the control socket {path}: {source}")]
    Ctl {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Monitored columns: what reconciliation depends on (not what it writes).
fn monitor_requests() -> Value {
    json!({
        "Open_vSwitch": [{"columns": ["bridges", "next_cfg", "other_config"]}],
        "Bridge": [{"columns": ["name", "ports", "other_config", "fail_mode", "protocols", "controller"]}],
        "Controller": [{"columns": ["target", "inactivity_probe", "max_backoff"]}],
        "Port": [{"columns": ["name", "interfaces", "tag", "trunks", "vlan_mode"]}],
        "Interface": [{"columns": ["name", "type", "options", "ofport_request"]}],
    })
}

/// The cores of `pmd-cpu-mask` (hex, as Open vSwitch takes it), or `n`
/// unpinned threads when it is absent or invalid.
pub fn pmd_cores(mask: Option<&String>, n: usize) -> Vec<Option<usize>> {
    if let Some(m) = mask {
        match u128::from_str_radix(m.trim_start_matches("0x"), 16) {
            Ok(bits) if bits != 0 => {
                return (0..128).filter(|i| bits >> i & 1 == 1).map(Some).collect();
            }
            _ => {
                crate::warn!("other_config:pmd-cpu-mask={m:?} is not a non-zero hex mask; ignored")
            }
        }
    }
    vec![None; n.max(1)]
}

/// Runs the switch until `exit` is set (by `exit` on the control socket,
/// or a signal handler).
pub fn run(
    opts: &Options,
    factory: &mut dyn PortFactory,
    exit: Arc<AtomicBool>,
) -> Result<(), DaemonError> {
    let _server = match &opts.db {
        Some(_) => None,
        None => {
            let s = Server::open(&[opts.dbdir.join("conf.db")], &vswitch_schema())?;
            s.listen(&format!("punix:{}", opts.rundir.join("db.sock").display()))?;
            Some(s)
        }
    };
    let remote = opts
        .db
        .clone()
        .unwrap_or_else(|| format!("unix:{}", opts.rundir.join("db.sock").display()));
    let mut mon = Client::connect(&remote)?;
    mon.call(
        "monitor_cond",
        json!(["Open_vSwitch", "rvs-vswitchd", monitor_requests()]),
    )?;
    let mut rw = Client::connect(&remote)?;
    // other_config:pmd-cpu-mask (hex) picks the cores, one PMD pinned to
    // each; a change re-pins, adds or removes threads at run time.
    let first = Config::from_results(&rw.transact("Open_vSwitch", &read_ops())?);
    let cores = pmd_cores(first.other_config.get("pmd-cpu-mask"), opts.n_pmds);
    let switch = Arc::new(Mutex::new(Switch::new(&cores, DatapathConfig::default())));
    let mut connmgr = ConnMgr::new(switch.clone(), &opts.rundir);
    let ctl = opts.rundir.join("rvs-vswitchd.ctl");
    appctl::serve(
        &ctl,
        Arc::new(appctl::Ctx {
            switch: switch.clone(),
            exit: exit.clone(),
        }),
    )
    .map_err(|source| DaemonError::Ctl {
        path: ctl.display().to_string(),
        source,
    })?;
    crate::info!(
        "rvs-vswitchd: running with database {remote}, control socket {}",
        ctl.display()
    );
    let mut last: Option<Config> = None;
    let mut last_stats = Instant::now();
    let mut dirty = true;
    while !exit.load(Ordering::SeqCst) {
        if dirty {
            dirty = false;
            let results = rw.transact("Open_vSwitch", &read_ops())?;
            let cfg = Config::from_results(&results);
            if last.as_ref() != Some(&cfg) || cfg.cur_cfg != cfg.next_cfg {
                let ops = switch
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reconcile(&cfg, factory);
                connmgr.reconcile(&cfg);
                if !ops.is_empty() {
                    let r = rw.transact("Open_vSwitch", &ops)?;
                    if let Some(e) = r.iter().find(|x| x.get("error").is_some()) {
                        // A concurrent change (a row deleted meanwhile):
                        // the next notification brings a fresh read.
                        crate::warn!("rvs-vswitchd: writing the switch state back failed: {e}");
                        dirty = true;
                    }
                }
                if last.as_ref().is_some_and(|l| {
                    l.other_config.get("pmd-cpu-mask") != cfg.other_config.get("pmd-cpu-mask")
                }) {
                    let cores = pmd_cores(cfg.other_config.get("pmd-cpu-mask"), opts.n_pmds);
                    switch
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .set_pmd_cores(&cores, DatapathConfig::default());
                }
                last = Some(cfg);
            }
        }
        match mon.next_notification(Duration::from_millis(200)) {
            Ok(_) => dirty = true,
            Err(ClientError::Timeout(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if last_stats.elapsed() >= Duration::from_secs(opts.stats_interval) {
            last_stats = Instant::now();
            if let Some(cfg) = &last {
                let mut ops = switch
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .statistics_ops(cfg);
                for c in connmgr.controller_status() {
                    ops.push(json!({"op": "update", "table": "Controller",
                        "where": [["_uuid", "==", ["uuid", c.uuid]]],
                        "row": {"is_connected": c.connected, "role": c.role}}));
                }
                if !ops.is_empty() {
                    let _ = rw.transact("Open_vSwitch", &ops)?;
                }
            }
        }
    }
    crate::info!("rvs-vswitchd: exiting");
    connmgr.shutdown();
    // Dropping the switch stops the PMDs and closes every port (removing
    // the devices rvs created and detaching XDP programs).
    drop(switch);
    let _ = std::fs::remove_file(opts.rundir.join("db.sock"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pmd_cores;

    #[test]
    fn pmd_cpu_mask_picks_cores() {
        assert_eq!(
            pmd_cores(Some(&"0x6".to_string()), 1),
            vec![Some(1), Some(2)]
        );
        assert_eq!(pmd_cores(Some(&"1".to_string()), 4), vec![Some(0)]);
        assert_eq!(pmd_cores(Some(&"zz".to_string()), 2), vec![None, None]);
        assert_eq!(pmd_cores(None, 1), vec![None]);
    }
}
