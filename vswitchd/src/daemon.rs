//! The daemon's main loop: the database (embedded or external), the
//! monitor that wakes reconciliation, the write-back of what happened, the
//! statistics refresh, the control socket.

use crate::appctl;
use crate::config::{read_ops, Config};
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
    /// Poll-mode threads.
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
        "Bridge": [{"columns": ["name", "ports", "other_config"]}],
        "Port": [{"columns": ["name", "interfaces", "tag", "trunks", "vlan_mode"]}],
        "Interface": [{"columns": ["name", "type", "options", "ofport_request"]}],
    })
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
    let switch = Arc::new(Mutex::new(Switch::new(
        opts.n_pmds,
        DatapathConfig::default(),
    )));
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
    eprintln!(
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
                if !ops.is_empty() {
                    let r = rw.transact("Open_vSwitch", &ops)?;
                    if let Some(e) = r.iter().find(|x| x.get("error").is_some()) {
                        // A concurrent change (a row deleted meanwhile):
                        // the next notification brings a fresh read.
                        eprintln!("rvs-vswitchd: writing the switch state back failed: {e}");
                        dirty = true;
                    }
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
                let ops = switch
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .statistics_ops(cfg);
                if !ops.is_empty() {
                    let _ = rw.transact("Open_vSwitch", &ops)?;
                }
            }
        }
    }
    eprintln!("rvs-vswitchd: exiting");
    // Dropping the switch stops the PMDs and closes every port (removing
    // the devices rvs created and detaching XDP programs).
    drop(switch);
    let _ = std::fs::remove_file(opts.rundir.join("db.sock"));
    Ok(())
}
