//! `rvs-dbbench`: the configuration database measured side by side with
//! Open vSwitch's own `ovsdb-server`, on the same schema, in the same run.
//!
//! - `txn`: transactions per second from 1 and from N concurrent clients,
//!   each committing small updates to a row of its own (every commit is
//!   synced to disk by both servers).
//! - `add-port`: how long one `add-port` takes (a whole `ovs-vsctl` or
//!   `rvs-vsctl` run: connect, read the database, commit) with 1k or 10k
//!   ports already on the bridge.

use anyhow::{bail, Context, Result};
use rvs_ovsdb::client::Client;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ServerKind {
    /// `rvs-ovsdb-server`.
    Rvs,
    /// Open vSwitch's `ovsdb-server`.
    Ovs,
}

impl ServerKind {
    /// The name in output.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Rvs => "rvs-ovsdb-server",
            ServerKind::Ovs => "ovsdb-server",
        }
    }
}

/// A database server running in a temporary directory.
pub struct BenchServer {
    child: Child,
    dir: PathBuf,
    kind: ServerKind,
}

impl std::fmt::Debug for BenchServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchServer")
            .field("kind", &self.kind)
            .finish()
    }
}

fn sibling_bin(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

impl BenchServer {
    /// Starts a server of `kind` on a new database with the vswitch schema.
    pub fn start(kind: ServerKind) -> Result<BenchServer> {
        let dir = std::env::temp_dir().join(format!(
            "rvs-dbbench-{}-{}-{}",
            kind.name(),
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&dir)?;
        let db = dir.join("conf.db");
        let sock = dir.join("db.sock");
        let child = match kind {
            ServerKind::Rvs => Command::new(sibling_bin("rvs-ovsdb-server"))
                .arg(&db)
                .arg("--remote")
                .arg(format!("punix:{}", sock.display()))
                .stderr(Stdio::null())
                .spawn()
                .context(
                    "cannot start rvs-ovsdb-server (build it: cargo build --release -p rvs-ovsdb)",
                )?,
            ServerKind::Ovs => {
                let schema = dir.join("vswitch.ovsschema");
                std::fs::write(&schema, rvs_ovsdb::server::VSWITCH_SCHEMA)?;
                let st = Command::new("ovsdb-tool")
                    .arg("create")
                    .arg(&db)
                    .arg(&schema)
                    .status()
                    .context("cannot run ovsdb-tool (apt-get install openvswitch-common)")?;
                if !st.success() {
                    bail!("ovsdb-tool create failed");
                }
                Command::new("ovsdb-server")
                    .arg(&db)
                    .arg(format!("--remote=punix:{}", sock.display()))
                    .arg(format!("--unixctl={}", dir.join("ctl").display()))
                    .arg("--no-chdir")
                    .stderr(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .context("cannot start ovsdb-server (apt-get install openvswitch-common)")?
            }
        };
        let s = BenchServer { child, dir, kind };
        let t0 = Instant::now();
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("{} did not start", kind.name());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(s)
    }

    /// `unix:PATH`.
    pub fn remote(&self) -> String {
        format!("unix:{}", self.dir.join("db.sock").display())
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn check(r: &[Value]) -> Result<()> {
    if let Some(e) = r.iter().find(|x| x.get("error").is_some()) {
        bail!("transaction failed: {e}");
    }
    Ok(())
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub bench: &'static str,
    pub server: &'static str,
    /// Clients (txn) or ports present (add-port).
    pub n: usize,
    /// What the tool was (add-port).
    pub tool: Option<String>,
    /// Transactions per second (txn).
    pub txn_per_sec: Option<f64>,
    /// Median milliseconds per add-port (add-port).
    pub ms_median: Option<f64>,
    /// Every sample, ms (add-port).
    pub ms_samples: Vec<f64>,
}

/// Transactions per second with `clients` concurrent clients for `secs`.
pub fn txn_rate(kind: ServerKind, clients: usize, secs: f64, durable: bool) -> Result<Measurement> {
    let s = BenchServer::start(kind)?;
    let mut c = Client::connect(&s.remote())?;
    // A root row with one bridge per client.
    let mut ops = vec![json!({"op": "insert", "table": "Open_vSwitch", "row": {
        "bridges": ["set", (0..clients).map(|i| json!(["named-uuid", format!("b{i}")])).collect::<Vec<_>>()]}})];
    for i in 0..clients {
        ops.push(json!({"op": "insert", "table": "Bridge", "uuid-name": format!("b{i}"), "row": {"name": format!("bench{i}")}}));
    }
    check(&c.transact("Open_vSwitch", &ops)?)?;
    let remote = s.remote();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let remote = remote.clone();
            std::thread::spawn(move || -> Result<u64> {
                let mut c = Client::connect(&remote)?;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let mut ops = vec![json!({"op": "update", "table": "Bridge", "where": [["name", "==", format!("bench{i}")]],
                                 "row": {"external_ids": ["map", [["n", n.to_string()]]]}})];
                    if durable {
                        ops.push(json!({"op": "commit", "durable": true}));
                    }
                    let r = c.transact("Open_vSwitch", &ops)?;
                    check(&r)?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let t0 = Instant::now();
    let mut total = 0;
    for t in threads {
        total += t
            .join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    }
    let el = t0.elapsed().as_secs_f64();
    Ok(Measurement {
        bench: if durable { "txn-durable" } else { "txn" },
        server: kind.name(),
        n: clients,
        tool: None,
        txn_per_sec: Some(total as f64 / el),
        ms_median: None,
        ms_samples: Vec::new(),
    })
}

/// Fills bridge br0 with `ports` ports (each with its interface), in
/// transactions of 500.
fn populate(c: &mut Client, ports: usize) -> Result<()> {
    check(&c.transact(
        "Open_vSwitch",
        &[
            json!({"op": "insert", "table": "Open_vSwitch", "row": {"bridges": ["named-uuid", "br"]}}),
            json!({"op": "insert", "table": "Bridge", "uuid-name": "br", "row": {"name": "br0"}}),
        ],
    )?)?;
    let mut done = 0;
    while done < ports {
        let n = (ports - done).min(500);
        let mut ops = Vec::new();
        let mut refs = Vec::new();
        for i in done..done + n {
            ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": format!("i{i}"), "row": {"name": format!("p{i}")}}));
            ops.push(json!({"op": "insert", "table": "Port", "uuid-name": format!("p{i}"),
                            "row": {"name": format!("p{i}"), "interfaces": ["named-uuid", format!("i{i}")]}}));
            refs.push(json!(["named-uuid", format!("p{i}")]));
        }
        ops.push(
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
                        "mutations": [["ports", "insert", ["set", refs]]]}),
        );
        check(&c.transact("Open_vSwitch", &ops)?)?;
        done += n;
    }
    Ok(())
}

/// Times `samples` runs of `tool --no-wait add-port br0 NEW` with `ports`
/// ports present.
pub fn add_port_time(
    kind: ServerKind,
    tool: &Path,
    ports: usize,
    samples: usize,
) -> Result<Measurement> {
    let s = BenchServer::start(kind)?;
    let mut c = Client::connect(&s.remote())?;
    populate(&mut c, ports)?;
    let mut ms = Vec::new();
    for k in 0..samples {
        let t0 = Instant::now();
        let out = Command::new(tool)
            .arg(format!("--db={}", s.remote()))
            .args(["--no-wait", "add-port", "br0", &format!("new{k}")])
            .output()
            .with_context(|| format!("cannot run {}", tool.display()))?;
        let el = t0.elapsed().as_secs_f64() * 1e3;
        if !out.status.success() {
            bail!(
                "{} add-port failed: {}",
                tool.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ms.push(el);
    }
    let mut sorted = ms.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    Ok(Measurement {
        bench: "add-port",
        server: kind.name(),
        n: ports,
        tool: Some(
            tool.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        txn_per_sec: None,
        ms_median: Some(sorted[sorted.len() / 2]),
        ms_samples: ms,
    })
}
