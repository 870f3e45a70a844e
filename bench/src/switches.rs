//! The switches under test and what starting, programming and stopping
//! them needs: `rvs-vswitchd` (the sibling of this executable, embedded
//! database), a private Open vSwitch 3.1 with DPDK, and the Linux bridge.
//! Shared by `rvs-pktgen testpmd` and `rvs-pktgen compare`.
//!
//! Every switch is built with one bridge and two ports, ofport 1 and 2,
//! of one of the kinds of [`Ports`], and the flow table `in_port=1,
//! actions=output:2` (and the reverse with `bidir`) — the same work for
//! each. Everything a switch started (processes, directories, DPDK's
//! runtime directory, links) is removed by `Drop`, also on an error or
//! Ctrl-C ([`install_interrupt_handler`] makes every wait here give up).

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Makes SIGINT/SIGTERM set [`INTERRUPTED`], which every wait checks.
pub fn install_interrupt_handler() -> Result<()> {
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")
}

/// Where the switch runs.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// The CPU of the switch's one poll-mode thread.
    pub switch_cpu: usize,
    /// The CPU for the switch's other threads (the generator's).
    pub other_cpu: usize,
    /// Memory for Open vSwitch's DPDK (`-m`, MB).
    pub ovs_mem_mb: usize,
    /// Keep the run directory (logs).
    pub keep: bool,
}

/// The two ports a switch gets.
#[derive(Debug, Clone)]
pub enum Ports {
    /// vhost-user ports that connect to these sockets (rvs
    /// `vhostuserclient`, Open vSwitch `dpdkvhostuserclient`).
    VhostClient([PathBuf; 2]),
    /// These network devices (veth ends), AF_XDP in generic mode for rvs
    /// and Open vSwitch, enslaved for the Linux bridge.
    Afxdp([String; 2]),
}

/// Set by SIGINT/SIGTERM; every wait checks it.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);
pub static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps `d`, waking early (with an error) on Ctrl-C.
pub fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check_interrupted()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs a command to completion; its stdout, or an error with its stderr.
pub fn run_cmd(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A fresh directory under the temporary directory, removed on drop unless
/// kept.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    keep: bool,
}

impl RunDir {
    pub fn new(what: &str, keep: bool) -> Result<RunDir> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rvs-pktgen-{what}-{}-{seq}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(RunDir { path, keep })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// DPDK keeps a runtime directory per `--file-prefix` under /var/run/dpdk
/// (as root) that it does not remove at exit.
pub fn remove_dpdk_runtime_dir(prefix: &str) {
    let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(prefix));
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Waits for `child` up to `limit`, killing it after that.
pub fn reap(child: &mut Child, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The median of `v` (0 for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------------------
// The switches
// ---------------------------------------------------------------------------

/// The directory of this executable, where `cargo build` puts the other
/// workspace binaries of the same profile.
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("{} has no parent directory", exe.display()))
}

/// A workspace binary next to this executable, or an error saying how to
/// build it.
pub fn sibling(name: &str) -> Result<PathBuf> {
    let dir = bin_dir()?;
    let path = dir.join(name);
    if !path.exists() {
        let release = if dir.file_name().is_some_and(|n| n == "debug") {
            ""
        } else {
            " --release"
        };
        bail!(
            "{} not found: build it first with `cargo build{release} -p rvs-vswitchd -p rvs-ctl` \
             (rvs-pktgen runs the rvs-vswitchd, rvs-vsctl, rvs-ofctl and rvs-appctl next to itself)",
            path.display()
        );
    }
    Ok(path)
}

/// Where Open vSwitch's DPDK build lives in Debian's
/// `openvswitch-switch-dpdk` (an alternative for ovs-vswitchd that this
/// benchmark runs directly, leaving the system's choice alone).
pub const OVS_VSWITCHD_DPDK: &str = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk";
pub const OVS_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Starts an Open vSwitch daemon with its control socket and log as
/// `<dir>/<name>.ctl` and `<dir>/<name>.log`, in its own process group (a
/// Ctrl-C reaches only us; `Drop` stops it in order).
fn spawn_daemon(c: &mut Command, dir: &Path, name: &str) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    c.arg(format!(
        "--unixctl={}",
        dir.join(format!("{name}.ctl")).display()
    ))
    .arg(format!(
        "--log-file={}",
        dir.join(format!("{name}.log")).display()
    ))
    .arg("--no-chdir")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .process_group(0)
    .spawn()
}

/// The interface names and the `Interface` settings of the two ports,
/// for a switch whose vhost-user client type is `vhost_type`.
fn port_settings(ports: &Ports, vhost_type: &str) -> [(String, Vec<String>); 2] {
    let one = |i: usize| match ports {
        Ports::VhostClient(socks) => (
            format!("vhu{i}"),
            vec![
                format!("type={vhost_type}"),
                format!("options:vhost-server-path={}", socks[i].display()),
            ],
        ),
        Ports::Afxdp(devs) => (
            devs[i].clone(),
            vec![
                "type=afxdp".to_string(),
                "options:xdp-mode=generic".to_string(),
            ],
        ),
    };
    [one(0), one(1)]
}

/// A switch with one bridge `br0` and two ports, ofport 1 and 2.
pub trait SwitchUnderTest {
    /// The name in results (`rvs`, `ovs`, `linux-bridge`).
    fn name(&self) -> &'static str;
    /// Adds the two ports (vhost-user ones connect once their sockets
    /// listen) and programs the flow table.
    fn add_ports(&mut self, ports: &Ports, bidir: bool) -> Result<()>;
    /// Why a port is not up, if the switch says (its `Interface.error`).
    fn port_errors(&self) -> String;
    /// Clears the poll-mode threads' counters.
    fn clear_pmd_stats(&self) -> Result<()>;
    /// (busy share of the window, packets received) of the poll-mode
    /// threads since the last clear.
    fn pmd_busy(&self, window: Duration) -> Result<(f64, u64)>;
    fn log(&self) -> String;
}

/// A private Open vSwitch with DPDK: its own ovsdb-server and
/// ovs-vswitchd-dpdk in a temporary directory (OVS_RUNDIR, OVS_DBDIR,
/// OVS_LOGDIR, `--unixctl`), so that nothing touches a system-wide
/// instance. Both are asked to exit on drop, then killed.
#[derive(Debug)]
pub struct OvsDpdk {
    dir: RunDir,
    port_names: Vec<String>,
    ovsdb: Option<Child>,
    vswitchd: Option<Child>,
    prefix: String,
}

impl OvsDpdk {
    fn env(&self, c: &mut Command) {
        let d = &self.dir.path;
        c.env("OVS_RUNDIR", d)
            .env("OVS_DBDIR", d)
            .env("OVS_LOGDIR", d)
            .env("OVS_SYSCONFDIR", d);
    }

    fn db(&self) -> String {
        format!("unix:{}", self.dir.path.join("db.sock").display())
    }

    fn vsctl(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ovs-vsctl");
        self.env(&mut c);
        c.arg(format!("--db={}", self.db()))
            .arg("--timeout=60")
            .args(args);
        run_cmd(&mut c).map_err(|e| anyhow!("{e}\novs-vswitchd log:\n{}", tail(&self.log(), 20)))
    }

    fn ofctl(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ovs-ofctl");
        self.env(&mut c);
        c.args(args);
        run_cmd(&mut c)
    }

    fn appctl(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ovs-appctl");
        self.env(&mut c);
        c.arg("-t")
            .arg(self.dir.path.join("ovs-vswitchd.ctl"))
            .args(args);
        run_cmd(&mut c)
    }

    pub fn start(opts: &SwitchConfig) -> Result<OvsDpdk> {
        if !Path::new(OVS_VSWITCHD_DPDK).exists() {
            bail!(
                "{OVS_VSWITCHD_DPDK} not found: install Debian's openvswitch-switch-dpdk \
                 (apt-get install openvswitch-switch-dpdk), or measure rvs alone with --switch rvs"
            );
        }
        let dir = RunDir::new("ovs", opts.keep)?;
        let prefix = format!(
            "rvs-pktgen-ovs-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut o = OvsDpdk {
            dir,
            port_names: Vec::new(),
            ovsdb: None,
            vswitchd: None,
            prefix,
        };
        let d = o.dir.path.clone();
        let conf = d.join("conf.db");
        let mut c = Command::new("ovsdb-tool");
        c.arg("create").arg(&conf).arg(OVS_SCHEMA);
        run_cmd(&mut c)?;
        let mut c = Command::new("ovsdb-server");
        o.env(&mut c);
        c.arg(&conf)
            .arg(format!("--remote=punix:{}", d.join("db.sock").display()));
        o.ovsdb = Some(
            spawn_daemon(&mut c, &d, "ovsdb-server")
                .context("cannot run ovsdb-server: install Debian's openvswitch-switch")?,
        );
        let t0 = Instant::now();
        while std::os::unix::net::UnixStream::connect(d.join("db.sock")).is_err() {
            check_interrupted()?;
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("ovsdb-server did not listen within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Open vSwitch's other threads (mostly idle) stay off the PMD's CPU.
        let lcore_cpu = opts.other_cpu;
        o.vsctl(&[
            "--no-wait",
            "init",
            "--",
            "set",
            "Open_vSwitch",
            ".",
            "other_config:dpdk-init=true",
            &format!(
                "other_config:dpdk-extra=--no-huge -m {} --legacy-mem --no-pci --file-prefix={}",
                opts.ovs_mem_mb, o.prefix
            ),
            &format!("other_config:pmd-cpu-mask={:#x}", 1u64 << opts.switch_cpu),
            &format!("other_config:dpdk-lcore-mask={:#x}", 1u64 << lcore_cpu),
        ])?;
        let mut c = Command::new(OVS_VSWITCHD_DPDK);
        o.env(&mut c);
        c.arg(o.db());
        o.vswitchd = Some(
            spawn_daemon(&mut c, &d, "ovs-vswitchd")
                .with_context(|| format!("cannot run {OVS_VSWITCHD_DPDK}"))?,
        );
        // add-br waits (--timeout=60) until ovs-vswitchd has initialised
        // DPDK and applied the configuration.
        o.vsctl(&[
            "add-br",
            "br0",
            "--",
            "set",
            "Bridge",
            "br0",
            "datapath_type=netdev",
        ])?;
        Ok(o)
    }
}

impl SwitchUnderTest for OvsDpdk {
    fn name(&self) -> &'static str {
        "ovs"
    }

    fn add_ports(&mut self, ports: &Ports, bidir: bool) -> Result<()> {
        for (i, (name, settings)) in port_settings(ports, "dpdkvhostuserclient")
            .into_iter()
            .enumerate()
        {
            let mut args = vec!["add-port", "br0", &name, "--", "set", "Interface", &name];
            args.extend(settings.iter().map(String::as_str));
            let req = format!("ofport_request={}", i + 1);
            args.push(&req);
            self.vsctl(&args)?;
            self.port_names.push(name);
        }
        let br = format!("unix:{}", self.dir.path.join("br0.mgmt").display());
        self.ofctl(&["del-flows", &br])?;
        self.ofctl(&["add-flow", &br, "in_port=1,actions=output:2"])?;
        if bidir {
            self.ofctl(&["add-flow", &br, "in_port=2,actions=output:1"])?;
        }
        Ok(())
    }

    fn port_errors(&self) -> String {
        self.port_names
            .iter()
            .map(|p| {
                let e = self
                    .vsctl(&["get", "Interface", p, "error"])
                    .unwrap_or_default();
                format!("{p}: {}", e.trim())
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn clear_pmd_stats(&self) -> Result<()> {
        self.appctl(&["dpif-netdev/pmd-stats-clear"]).map(drop)
    }

    fn pmd_busy(&self, _window: Duration) -> Result<(f64, u64)> {
        let s = self.appctl(&["dpif-netdev/pmd-stats-show"])?;
        Ok(parse_ovs_pmd_busy(&s))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("ovs-vswitchd.log")).unwrap_or_default()
    }
}

/// From Open vSwitch's `dpif-netdev/pmd-stats-show`: the processing share
/// (`processing cycles: N (P%)`) and `packets received` of the poll-mode
/// threads (the main thread's block is skipped).
pub fn parse_ovs_pmd_busy(s: &str) -> (f64, u64) {
    let (mut busy, mut packets, mut in_pmd) = (0.0, 0, false);
    for line in s.lines() {
        if line.starts_with("pmd thread") {
            in_pmd = true;
        } else if !line.starts_with(' ') {
            in_pmd = false;
        }
        if !in_pmd {
            continue;
        }
        let t = line.trim();
        if let Some(n) = t.strip_prefix("packets received:") {
            packets += n.trim().parse::<u64>().unwrap_or(0);
        }
        if t.starts_with("processing cycles:") {
            if let Some(p) = t
                .split('(')
                .nth(1)
                .and_then(|x| x.split('%').next())
                .and_then(|x| x.trim().parse::<f64>().ok())
            {
                busy += p / 100.0;
            }
        }
    }
    (busy, packets)
}

impl Drop for OvsDpdk {
    fn drop(&mut self) {
        if self.vswitchd.is_some() {
            let _ = self.appctl(&["exit"]);
        }
        if let Some(mut c) = self.vswitchd.take() {
            reap(&mut c, Duration::from_secs(10));
        }
        if let Some(mut c) = self.ovsdb.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        remove_dpdk_runtime_dir(&self.prefix);
    }
}

/// rvs-vswitchd (the sibling of this executable) in a temporary run
/// directory with its embedded database. Asked to exit on drop, then
/// killed.
#[derive(Debug)]
pub struct Rvs {
    dir: RunDir,
    port_names: Vec<String>,
    child: Option<Child>,
}

impl Rvs {
    fn tool(&self, name: &str, args: &[&str]) -> Result<String> {
        let mut c = Command::new(sibling(name)?);
        c.env("RVS_RUNDIR", &self.dir.path).args(args);
        run_cmd(&mut c).map_err(|e| anyhow!("{e}\nrvs-vswitchd log:\n{}", tail(&self.log(), 20)))
    }

    pub fn start(opts: &SwitchConfig) -> Result<Rvs> {
        let vswitchd = sibling("rvs-vswitchd")?;
        for b in ["rvs-vsctl", "rvs-ofctl", "rvs-appctl"] {
            sibling(b)?;
        }
        let dir = RunDir::new("rvs", opts.keep)?;
        let log = std::fs::File::create(dir.path.join("vswitchd.log"))
            .with_context(|| format!("cannot create a log in {}", dir.path.display()))?;
        use std::os::unix::process::CommandExt;
        let child = Command::new(&vswitchd)
            .arg("--rundir")
            .arg(&dir.path)
            .arg("--dbdir")
            .arg(&dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", vswitchd.display()))?;
        let mut r = Rvs {
            dir,
            port_names: Vec::new(),
            child: Some(child),
        };
        let ctl = r.dir.path.join("rvs-vswitchd.ctl");
        let t0 = Instant::now();
        while !ctl.exists() {
            check_interrupted()?;
            if let Some(Ok(Some(st))) = r.child.as_mut().map(|c| c.try_wait()) {
                bail!("rvs-vswitchd exited at start ({st}):\n{}", r.log());
            }
            if t0.elapsed() > Duration::from_secs(20) {
                bail!("rvs-vswitchd did not start in 20 s:\n{}", r.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        r.tool(
            "rvs-vsctl",
            &[
                "--timeout=20",
                "set",
                "Open_vSwitch",
                ".",
                &format!("other_config:pmd-cpu-mask={:#x}", 1u64 << opts.switch_cpu),
                "--",
                "add-br",
                "br0",
            ],
        )?;
        Ok(r)
    }
}

impl SwitchUnderTest for Rvs {
    fn name(&self) -> &'static str {
        "rvs"
    }

    fn add_ports(&mut self, ports: &Ports, bidir: bool) -> Result<()> {
        for (i, (name, settings)) in port_settings(ports, "vhostuserclient")
            .into_iter()
            .enumerate()
        {
            let mut args = vec![
                "--timeout=20",
                "add-port",
                "br0",
                &name,
                "--",
                "set",
                "Interface",
                &name,
            ];
            args.extend(settings.iter().map(String::as_str));
            let req = format!("ofport_request={}", i + 1);
            args.push(&req);
            self.tool("rvs-vsctl", &args)?;
            let err = self.tool("rvs-vsctl", &["get", "Interface", &name, "error"])?;
            let err = err.trim().trim_matches('"').replace("\\\"", "\"");
            if !err.is_empty() && err != "[]" {
                bail!("rvs port error: {err} (rvs-vsctl get Interface {name} error)");
            }
            self.port_names.push(name);
        }
        self.tool("rvs-ofctl", &["del-flows", "br0"])?;
        self.tool(
            "rvs-ofctl",
            &["add-flow", "br0", "in_port=1,actions=output:2"],
        )?;
        if bidir {
            self.tool(
                "rvs-ofctl",
                &["add-flow", "br0", "in_port=2,actions=output:1"],
            )?;
        }
        Ok(())
    }

    fn port_errors(&self) -> String {
        self.port_names
            .iter()
            .map(|p| {
                let e = self
                    .tool("rvs-vsctl", &["get", "Interface", p, "error"])
                    .unwrap_or_default();
                format!("{p}: {}", e.trim())
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn clear_pmd_stats(&self) -> Result<()> {
        self.tool("rvs-appctl", &["dpif-netdev/pmd-stats-clear"])
            .map(drop)
    }

    fn pmd_busy(&self, window: Duration) -> Result<(f64, u64)> {
        let s = self.tool(
            "rvs-appctl",
            &["--format", "json", "dpif-netdev/pmd-stats-show"],
        )?;
        let v: serde_json::Value = serde_json::from_str(&s)
            .with_context(|| format!("rvs-appctl printed {s:?}, not JSON"))?;
        Ok(parse_rvs_pmd_busy(&v, window))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("vswitchd.log")).unwrap_or_default()
    }
}

/// From rvs's `dpif-netdev/pmd-stats-show` in JSON: the poll-mode threads'
/// busy time (`busy_ns`: iterations that moved packets, receive included)
/// as a share of `window`, and their `packets`.
pub fn parse_rvs_pmd_busy(v: &serde_json::Value, window: Duration) -> (f64, u64) {
    let (mut busy_ns, mut packets) = (0u64, 0u64);
    for pmd in v.as_array().into_iter().flatten() {
        packets += pmd["packets"].as_u64().unwrap_or(0);
        // The thread's busy time (whole iterations that moved packets,
        // receive included); older versions reported only the ports'
        // processing time.
        match pmd["busy_ns"].as_u64() {
            Some(b) => busy_ns += b,
            None => {
                for p in pmd["ports"].as_array().into_iter().flatten() {
                    busy_ns += p["busy_ns"].as_u64().unwrap_or(0);
                }
            }
        }
    }
    let w = window.as_nanos().max(1) as f64;
    (busy_ns as f64 / w, packets)
}

impl Drop for Rvs {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = self.tool("rvs-appctl", &["exit"]);
            reap(&mut c, Duration::from_secs(10));
        }
    }
}

// ---------------------------------------------------------------------------
// Links and the Linux bridge
// ---------------------------------------------------------------------------

/// `<prefix><pid>x<seq>`, unique among running benchmarks and within the
/// 15 bytes of an interface name.
pub fn unique_ifname(prefix: &str) -> Result<String> {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}x{seq}", std::process::id());
    if name.len() > 15 {
        bail!("interface name {name} is longer than 15 bytes");
    }
    Ok(name)
}

/// Runs `ip` (or any command) with `args`; its stdout.
pub fn run(cmd: impl AsRef<Path>, args: &[&str]) -> Result<String> {
    run_cmd(Command::new(cmd.as_ref()).args(args))
}

/// A shell line that turns IPv6 off on `devs` (`all` and `default` for a
/// whole namespace), so that neighbour discovery and MLD add no frames to
/// the counts. Best effort: a kernel without IPv6 has nothing to turn off.
pub fn ipv6_off_script(devs: &[&str]) -> String {
    devs.iter()
        .map(|d| format!("echo 1 > /proc/sys/net/ipv6/conf/{d}/disable_ipv6 2>/dev/null;"))
        .collect::<String>()
        + " true"
}

/// A link in the root namespace (a veth end, which takes its peer along,
/// or a bridge), deleted on drop.
#[derive(Debug)]
pub struct Link {
    pub name: String,
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "del", &self.name]);
    }
}

/// A veth pair in the root namespace, both ends up, IPv6 off: the
/// generator's end and the switch's end. Dropping it deletes both.
#[derive(Debug)]
pub struct VethPair {
    pub switch_end: Link,
    pub gen_end: String,
}

impl VethPair {
    pub fn new() -> Result<VethPair> {
        let sw = unique_ifname("pks")?;
        let gen = unique_ifname("pkg")?;
        run(
            "ip",
            &["link", "add", &sw, "type", "veth", "peer", "name", &gen],
        )?;
        let pair = VethPair {
            switch_end: Link { name: sw },
            gen_end: gen,
        };
        run(
            "sh",
            &[
                "-c",
                &ipv6_off_script(&[&pair.switch_end.name, &pair.gen_end]),
            ],
        )?;
        for d in [&pair.switch_end.name, &pair.gen_end] {
            run("ip", &["link", "set", d, "up"])?;
        }
        Ok(pair)
    }
}

/// A kernel bridge. It has no flow table: with two ports it floods what it
/// has not learned to the other one, which is the same forwarding.
#[derive(Debug)]
pub struct LinuxBridge {
    br: Link,
}

impl LinuxBridge {
    pub fn start() -> Result<LinuxBridge> {
        let name = unique_ifname("pkb")?;
        run("ip", &["link", "add", &name, "type", "bridge"])?;
        let br = Link { name };
        run("sh", &["-c", &ipv6_off_script(&[&br.name])])?;
        run("ip", &["link", "set", &br.name, "up"])?;
        Ok(LinuxBridge { br })
    }
}

impl SwitchUnderTest for LinuxBridge {
    fn name(&self) -> &'static str {
        "linux-bridge"
    }

    fn add_ports(&mut self, ports: &Ports, _bidir: bool) -> Result<()> {
        let Ports::Afxdp(devs) = ports else {
            bail!("the Linux bridge has no vhost-user ports");
        };
        for d in devs {
            run("ip", &["link", "set", d, "master", &self.br.name])?;
        }
        Ok(())
    }

    fn port_errors(&self) -> String {
        String::new()
    }

    fn clear_pmd_stats(&self) -> Result<()> {
        Ok(())
    }

    fn pmd_busy(&self, _window: Duration) -> Result<(f64, u64)> {
        bail!("the Linux bridge has no poll-mode thread (it forwards in the sender's softirq)")
    }

    fn log(&self) -> String {
        String::new()
    }
}
