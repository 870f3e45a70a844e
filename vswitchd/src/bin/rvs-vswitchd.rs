//! `rvs-vswitchd`: the rvs switch daemon.

use anyhow::{bail, Context, Result};
use clap::Parser;
use rvs_vswitchd::daemon::{self, Options};
use rvs_vswitchd::ports::SystemPorts;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "rvs-vswitchd",
    version,
    about = "The rvs virtual switch daemon",
    long_about = "The rvs virtual switch daemon. It keeps its configuration in an OVSDB \
        database — embedded by default, served on <rundir>/db.sock for rvs-vsctl and \
        the real ovs-vsctl — and switches packets between the ports it lists with \
        poll-mode threads. rvs-appctl (or ovs-appctl -t <rundir>/rvs-vswitchd.ctl) \
        asks it questions.\n\n\
        Examples:\n  rvs-vswitchd --rundir /tmp/rvs --dbdir /tmp/rvs\n  \
        RVS_RUNDIR=/tmp/rvs rvs-vsctl add-br br0\n  \
        RVS_RUNDIR=/tmp/rvs rvs-vsctl add-port br0 veth0\n  \
        RVS_RUNDIR=/tmp/rvs rvs-appctl dpif-netdev/pmd-stats-show"
)]
struct Cli {
    /// Where sockets go (db.sock, rvs-vswitchd.ctl). Default: $RVS_RUNDIR,
    /// else /var/run/rvs.
    #[arg(long)]
    rundir: Option<PathBuf>,
    /// Where the embedded database file (conf.db) goes. Default: $RVS_DBDIR,
    /// else /var/lib/rvs.
    #[arg(long)]
    dbdir: Option<PathBuf>,
    /// Use an external database (unix:PATH or tcp:IP:PORT, e.g. a
    /// rvs-ovsdb-server) instead of the embedded one.
    #[arg(long)]
    db: Option<String>,
    /// Poll-mode threads.
    #[arg(long, default_value_t = 1)]
    n_pmds: usize,
    /// Seconds between Interface statistics refreshes.
    #[arg(long, default_value_t = 5)]
    stats_interval: u64,
    /// Write the process id to FILE.
    #[arg(long)]
    pidfile: Option<PathBuf>,
    /// Run in the background; returns once the switch is serving.
    #[arg(long)]
    detach: bool,
    /// With --detach: write the log here (default <rundir>/rvs-vswitchd.log).
    #[arg(long)]
    log_file: Option<PathBuf>,
}

fn dir(arg: &Option<PathBuf>, env: &str, default: &str) -> PathBuf {
    arg.clone()
        .or_else(|| std::env::var_os(env).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(default))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rundir = dir(&cli.rundir, "RVS_RUNDIR", "/var/run/rvs");
    let dbdir = dir(&cli.dbdir, "RVS_DBDIR", "/var/lib/rvs");
    for d in [&rundir, &dbdir] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    if cli.n_pmds == 0 || cli.n_pmds > 64 {
        bail!("--n-pmds must be between 1 and 64");
    }
    if cli.detach {
        // Start again in the background, log to a file, and wait until the
        // control socket answers.
        let log = cli
            .log_file
            .clone()
            .unwrap_or_else(|| rundir.join("rvs-vswitchd.log"));
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open log file {}", log.display()))?;
        let ctl = rundir.join("rvs-vswitchd.ctl");
        let _ = std::fs::remove_file(&ctl);
        // The child gets the resolved directories: drop the ones given
        // (as `--rundir X` or `--rundir=X`) so none is given twice.
        let mut args: Vec<String> = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "--detach" || a.starts_with("--rundir=") || a.starts_with("--dbdir=") {
                continue;
            }
            if a == "--rundir" || a == "--dbdir" {
                it.next();
                continue;
            }
            args.push(a);
        }
        let mut child = Command::new(std::env::current_exe()?)
            .args(&args)
            .arg("--rundir")
            .arg(&rundir)
            .arg("--dbdir")
            .arg(&dbdir)
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .context("cannot start the background daemon")?;
        let t0 = Instant::now();
        while !ctl.exists() {
            if let Some(st) = child.try_wait()? {
                bail!("rvs-vswitchd exited at start ({st}); see {}", log.display());
            }
            if t0.elapsed() > Duration::from_secs(20) {
                bail!(
                    "rvs-vswitchd did not come up within 20 s; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("{}", child.id());
        return Ok(());
    }
    if let Some(p) = &cli.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pidfile {}", p.display()))?;
    }
    let exit = Arc::new(AtomicBool::new(false));
    let flag = exit.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot install the signal handler")?;
    let opts = Options {
        rundir,
        dbdir,
        db: cli.db.clone(),
        n_pmds: cli.n_pmds,
        stats_interval: cli.stats_interval.max(1),
    };
    rvs_datapath::port::set_event_log(|m| rvs_vswitchd::info!("{m}"));
    let mut ports = SystemPorts {
        rundir: opts.rundir.clone(),
    };
    let r = daemon::run(&opts, &mut ports, exit);
    if let Some(p) = &cli.pidfile {
        let _ = std::fs::remove_file(p);
    }
    r.context("rvs-vswitchd stopped")
}
