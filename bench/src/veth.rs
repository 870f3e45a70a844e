//! `rvs-pktgen veth`: switch throughput between two network namespaces over
//! veth pairs, rvs side by side with the Linux bridge.
//!
//! One measurement: two fresh namespaces, *gen* and *sink*, each with a veth
//! pair whose inner end is `eth0` and whose host end stays in the root
//! namespace; the switch under test joins the two host ends:
//!
//! - `rvs-afxdp`: `rvs-vswitchd` (the sibling of this executable) in a
//!   temporary run directory, one bridge with both host ends as AF_XDP
//!   ports in generic mode;
//! - `rvs-afpacket`: the same with AF_PACKET ports;
//! - `linux-bridge`: a kernel bridge with both host ends enslaved.
//!
//! A ping from sink to gen first lets the switch learn both MAC addresses.
//! Then `rvs-pktgen gen` runs inside *gen* (see [`crate::gen`]) towards the
//! sink's MAC, and the sink's `eth0` `rx_packets` counter, read before and
//! after, gives what the switch forwarded. Offered = what the generator
//! sent; both are divided by the generator's own elapsed time.
//!
//! Rounds interleave the switches (round 1: A, B, C; round 2: A, B, C; …)
//! so that drift in the machine's speed hits each alike; the summary is the
//! median per switch. Everything a measurement made (namespaces, links, the
//! daemon and its directory) is removed after it by `Drop` guards, also on
//! an error or Ctrl-C (SIGINT/SIGTERM stop the run between steps).
//!
//! **What the figures mean on a small machine.** With rvs, the generator and
//! rvs's poll-mode thread each busy-poll a CPU, and rvs's losses show as
//! `rx_dropped` on the generator-side port (its socket's ring overflowed:
//! the thread is the bottleneck). The Linux bridge has no thread of its own:
//! it forwards inside the generator's send, as softirq on the generator's
//! CPU, so it can never lose a frame here and is limited to what one CPU
//! does for generator and bridge together.

use crate::gen::GenKind;
use crate::switches::{
    check_interrupted, install_interrupt_handler, ipv6_off_script, median, run, sibling, sleep,
    unique_ifname, Link, INTERRUPTED, SEQ,
};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The switches `veth` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchKind {
    /// rvs-vswitchd with AF_XDP ports (generic mode).
    RvsAfXdp,
    /// rvs-vswitchd with AF_PACKET ports.
    RvsAfPacket,
    /// The kernel's bridge.
    LinuxBridge,
}

impl SwitchKind {
    /// Every switch, in the default order.
    pub const ALL: [SwitchKind; 3] = [
        SwitchKind::RvsAfXdp,
        SwitchKind::RvsAfPacket,
        SwitchKind::LinuxBridge,
    ];

    /// The name on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            SwitchKind::RvsAfXdp => "rvs-afxdp",
            SwitchKind::RvsAfPacket => "rvs-afpacket",
            SwitchKind::LinuxBridge => "linux-bridge",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<SwitchKind> {
        SwitchKind::ALL.into_iter().find(|k| k.name() == s)
    }

    fn is_rvs(self) -> bool {
        self != SwitchKind::LinuxBridge
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct VethOptions {
    pub switches: Vec<SwitchKind>,
    /// Generator run time per measurement.
    pub seconds: f64,
    pub rounds: usize,
    /// The generator's port.
    pub gen: GenKind,
    pub flows: u32,
    /// Frame size on the wire, FCS included.
    pub size: usize,
    /// JSON lines instead of a table.
    pub json: bool,
}

/// One measurement (one JSON line, `"type": "sample"`).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub round: usize,
    pub switch: &'static str,
    pub gen: &'static str,
    pub flows: u32,
    pub size: usize,
    /// The generator's elapsed time.
    pub seconds: f64,
    /// Frames the generator sent.
    pub sent: u64,
    /// Frames its port could not send.
    pub gen_tx_dropped: u64,
    /// Frames the sink's eth0 received.
    pub received: u64,
    pub offered_mpps: f64,
    pub forwarded_mpps: f64,
    /// rvs only: the PMD threads' `lost` (datapath drops) over the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_lost: Option<u64>,
    /// rvs only: the loss lines of `dpif-netdev/pmd-stats-show` and the
    /// two ports' statistics, for reading (not in JSON).
    #[serde(skip)]
    pub switch_notes: Vec<String>,
}

/// The median per switch (one JSON line, `"type": "summary"`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub switch: &'static str,
    pub rounds: usize,
    pub forwarded_mpps: f64,
    pub offered_mpps: f64,
    pub forwarded_samples: Vec<f64>,
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
struct NetNs {
    name: String,
}

impl NetNs {
    fn new(role: &str) -> Result<NetNs> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("rvs-pktgen-{role}-{}-{seq}", std::process::id());
        run("ip", &["netns", "add", &name])?;
        let ns = NetNs { name };
        ns.exec(&["sh", "-c", &ipv6_off_script(&["all", "default"])])?;
        Ok(ns)
    }

    /// Runs a command inside the namespace; its stdout.
    fn exec(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A counter of the namespace's `eth0`.
    fn eth0_counter(&self, name: &str) -> Result<u64> {
        let path = format!("/sys/class/net/eth0/statistics/{name}");
        let s = self.exec(&["cat", &path])?;
        s.trim()
            .parse()
            .with_context(|| format!("{path} in {} holds {s:?}", self.name))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// A veth pair: host end `host` in the root namespace, `eth0` with `ip`/24
/// in `ns`; both up, IPv6 off.
fn veth_into(ns: &NetNs, prefix: &str, ip: &str) -> Result<Link> {
    let name = unique_ifname(prefix)?;
    run(
        "ip",
        &[
            "link", "add", &name, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ],
    )?;
    let link = Link { name };
    run("sh", &["-c", &ipv6_off_script(&[&link.name])])?;
    let ns_ip = |args: &[&str]| {
        let mut all = vec!["-n", ns.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    };
    ns_ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
    ns_ip(&["link", "set", "eth0", "up"])?;
    ns_ip(&["link", "set", "lo", "up"])?;
    run("ip", &["link", "set", &link.name, "up"])?;
    Ok(link)
}

/// A running `rvs-vswitchd` in a temporary run directory. Dropping it asks
/// it to exit (`rvs-appctl exit`, so it detaches its XDP programs and
/// removes its devices), kills it after 10 s, and removes the directory.
#[derive(Debug)]
struct RvsDaemon {
    child: Option<Child>,
    dir: PathBuf,
    vsctl: PathBuf,
    appctl: PathBuf,
}

impl RvsDaemon {
    fn start() -> Result<RvsDaemon> {
        let vswitchd = sibling("rvs-vswitchd")?;
        let vsctl = sibling("rvs-vsctl")?;
        let appctl = sibling("rvs-appctl")?;
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rvs-pktgen-{}-{seq}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut d = RvsDaemon {
            child: None,
            dir,
            vsctl,
            appctl,
        };
        let log = std::fs::File::create(d.dir.join("vswitchd.log"))
            .with_context(|| format!("cannot create a log in {}", d.dir.display()))?;
        // Its own process group: a Ctrl-C reaches only us, and the daemon is
        // stopped in order by Drop.
        use std::os::unix::process::CommandExt;
        let child = Command::new(&vswitchd)
            .arg("--rundir")
            .arg(&d.dir)
            .arg("--dbdir")
            .arg(&d.dir)
            .arg("--stats-interval")
            .arg("1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", vswitchd.display()))?;
        d.child = Some(child);
        let ctl = d.dir.join("rvs-vswitchd.ctl");
        let t0 = Instant::now();
        while !ctl.exists() {
            check_interrupted()?;
            if let Some(c) = d.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    bail!("rvs-vswitchd exited at start ({st}):\n{}", d.log());
                }
            }
            if t0.elapsed() > Duration::from_secs(20) {
                bail!("rvs-vswitchd did not start in 20 s:\n{}", d.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vswitchd.log")).unwrap_or_default()
    }

    fn tool(&self, tool: &Path, args: &[&str]) -> Result<String> {
        let out = Command::new(tool)
            .env("RVS_RUNDIR", &self.dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", tool.display()))?;
        if !out.status.success() {
            bail!(
                "{} {} failed: {}\nrvs-vswitchd log:\n{}",
                tool.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn vsctl(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["--timeout=20"];
        all.extend_from_slice(args);
        self.tool(&self.vsctl, &all)
    }

    fn appctl(&self, args: &[&str]) -> Result<String> {
        self.tool(&self.appctl, args)
    }
}

impl Drop for RvsDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new(&self.appctl)
                .env("RVS_RUNDIR", &self.dir)
                .arg("exit")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let t0 = Instant::now();
            let mut exited = false;
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    exited = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !exited {
                eprintln!("rvs-vswitchd did not exit in 10 s; killing it");
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The switch under test, torn down on drop.
#[derive(Debug)]
enum Switch {
    Rvs(RvsDaemon),
    /// Held only to be deleted on drop.
    Bridge {
        _bridge: Link,
    },
}

/// Builds `kind` between the host ends `a` and `b`.
fn build_switch(kind: SwitchKind, a: &str, b: &str) -> Result<Switch> {
    match kind {
        SwitchKind::RvsAfXdp | SwitchKind::RvsAfPacket => {
            let d = RvsDaemon::start()?;
            let br = unique_ifname("pb")?;
            let ty = if kind == SwitchKind::RvsAfXdp {
                "type=afxdp"
            } else {
                "type=afpacket"
            };
            let mut args = vec!["add-br", &br];
            for p in [a, b] {
                args.extend_from_slice(&[
                    "--",
                    "add-port",
                    &br,
                    p,
                    "--",
                    "set",
                    "Interface",
                    p,
                    ty,
                ]);
                if kind == SwitchKind::RvsAfXdp {
                    args.push("options:xdp-mode=generic");
                }
            }
            d.vsctl(&args)?;
            for p in [a, b] {
                let ofport = d.vsctl(&["get", "Interface", p, "ofport"])?;
                if ofport.trim().parse::<i64>().unwrap_or(-1) <= 0 {
                    let err = d
                        .vsctl(&["get", "Interface", p, "error"])
                        .unwrap_or_default();
                    bail!(
                        "rvs-vswitchd could not open {p} as {ty}: {}\n{}",
                        err.trim(),
                        d.log()
                    );
                }
            }
            Ok(Switch::Rvs(d))
        }
        SwitchKind::LinuxBridge => {
            let name = unique_ifname("pb")?;
            run("ip", &["link", "add", &name, "type", "bridge"])?;
            let br = Link { name };
            run("sh", &["-c", &ipv6_off_script(&[&br.name])])?;
            for p in [a, b] {
                run("ip", &["link", "set", p, "master", &br.name])?;
            }
            run("ip", &["link", "set", &br.name, "up"])?;
            Ok(Switch::Bridge { _bridge: br })
        }
    }
}

const GEN_IP: &str = "10.250.0.1";
const SINK_IP: &str = "10.250.0.2";

/// Pings gen from sink until one answer comes (up to 5 tries), so that the
/// switch learns both MAC addresses; false if none came.
fn warm_up(sink: &NetNs) -> Result<bool> {
    for _ in 0..5 {
        check_interrupted()?;
        if sink.exec(&["ping", "-c", "1", "-W", "1", GEN_IP]).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Runs the generator inside `ns` and parses its JSON line.
fn run_generator(ns: &NetNs, dst_mac: &str, opts: &VethOptions) -> Result<Value> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let exe = exe.to_string_lossy();
    let seconds = opts.seconds.to_string();
    let flows = opts.flows.to_string();
    let size = opts.size.to_string();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, &exe, "gen", "--iface", "eth0"])
        .args(["--kind", opts.gen.name(), "--seconds", &seconds])
        .args(["--dst-mac", dst_mac, "--flows", &flows, "--size", &size])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run ip netns exec")?;
    let limit = Duration::from_secs_f64(opts.seconds + 30.0);
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if INTERRUPTED.load(Ordering::Relaxed) || t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            check_interrupted()?;
            bail!("the generator did not finish in {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        use std::io::Read;
        so.read_to_string(&mut out)?;
    }
    if !status.success() {
        bail!("the generator failed ({status}); its errors are above");
    }
    serde_json::from_str(out.trim())
        .with_context(|| format!("the generator printed {out:?}, not one JSON object"))
}

/// The lines of `dpif-netdev/pmd-stats-show` about what arrived and what
/// was lost, and the sum of `lost:`.
fn pmd_loss(stats: &str) -> (Vec<String>, u64) {
    let mut lines = Vec::new();
    let mut lost = 0;
    for l in stats.lines() {
        let t = l.trim();
        if ["packets received:", "lost:", "drops", "avg processing time"]
            .iter()
            .any(|p| t.starts_with(p))
        {
            lines.push(format!("pmd {t}"));
        }
        if let Some(n) = t.strip_prefix("lost:") {
            lost += n.trim().parse::<u64>().unwrap_or(0);
        }
    }
    (lines, lost)
}

/// One measurement of `kind`.
fn measure(round: usize, kind: SwitchKind, opts: &VethOptions) -> Result<Sample> {
    // Declared in build order, so they are dropped in reverse: the switch,
    // then the veths, then the namespaces.
    let gen_ns = NetNs::new("gen")?;
    let sink_ns = NetNs::new("sink")?;
    let gen_link = veth_into(&gen_ns, "pg", GEN_IP)?;
    let sink_link = veth_into(&sink_ns, "ps", SINK_IP)?;
    let switch = build_switch(kind, &gen_link.name, &sink_link.name)?;
    if !warm_up(&sink_ns)? {
        eprintln!(
            "warning: {}: no ping answer between the namespaces before the run; \
             the switch may not be forwarding",
            kind.name()
        );
    }
    let sink_mac = sink_ns.exec(&["cat", "/sys/class/net/eth0/address"])?;
    if let Switch::Rvs(d) = &switch {
        d.appctl(&["dpif-netdev/pmd-stats-clear"])?;
    }
    let rx0 = sink_ns.eth0_counter("rx_packets")?;
    let g = run_generator(&gen_ns, sink_mac.trim(), opts)?;
    // Frames still in queues land within a few milliseconds.
    sleep(Duration::from_millis(200))?;
    let rx1 = sink_ns.eth0_counter("rx_packets")?;
    let field = |k: &str| {
        g.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| anyhow!("the generator's output has no {k}: {g}"))
    };
    let seconds = field("seconds")?;
    let sent = field("sent")? as u64;
    let gen_tx_dropped = field("tx_dropped")? as u64;
    let received = rx1.saturating_sub(rx0);
    let (mut switch_lost, mut switch_notes) = (None, Vec::new());
    if let Switch::Rvs(d) = &switch {
        let (lines, lost) = pmd_loss(&d.appctl(&["dpif-netdev/pmd-stats-show"])?);
        switch_lost = Some(lost);
        switch_notes = lines;
        // Interface statistics refresh every second (--stats-interval 1).
        sleep(Duration::from_millis(1100))?;
        for p in [&gen_link.name, &sink_link.name] {
            let s = d.vsctl(&["--no-wait", "get", "Interface", p, "statistics"])?;
            switch_notes.push(format!("port {p} {}", s.trim()));
        }
    }
    drop(switch);
    Ok(Sample {
        kind: "sample",
        round,
        switch: kind.name(),
        gen: opts.gen.name(),
        flows: opts.flows,
        size: opts.size,
        seconds,
        sent,
        gen_tx_dropped,
        received,
        offered_mpps: sent as f64 / seconds / 1e6,
        forwarded_mpps: received as f64 / seconds / 1e6,
        switch_lost,
        switch_notes,
    })
}

/// The caveat every run prints: who gets which CPU.
fn cpu_caveat() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "note: {cpus} CPUs. rvs: the generator busy-polls one CPU and rvs's poll-mode \
         thread (not pinned) the other; the kernel's share of each send (veth, generic XDP \
         or AF_PACKET delivery, the sink's receive) runs as softirq on the sending CPU. \
         Linux bridge: there is no switch thread; the bridge forwards inside the \
         generator's own send, on its CPU, so the generator offers only what one CPU can \
         both generate and bridge (offered = forwarded) and the other CPU stays mostly \
         idle. Compare figures side by side within one run."
    )
}

/// Runs the benchmark and prints the result.
pub fn run_veth(opts: &VethOptions) -> Result<()> {
    if opts.switches.is_empty() {
        bail!("--switch names no switch");
    }
    if !(opts.seconds > 0.0 && opts.seconds.is_finite()) {
        bail!(
            "--seconds must be a positive number of seconds, not {}",
            opts.seconds
        );
    }
    if opts.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("rvs-pktgen veth creates network namespaces and links: run it as root");
    }
    if opts.switches.iter().any(|s| s.is_rvs()) {
        for b in ["rvs-vswitchd", "rvs-vsctl", "rvs-appctl"] {
            sibling(b)?;
        }
    }
    install_interrupt_handler()?;

    let caveat = cpu_caveat();
    if opts.json {
        eprintln!("{caveat}");
    } else {
        println!(
            "veth throughput: {}-byte UDP frames, {} flow(s), generator {} port, {} s x {} round(s)",
            opts.size,
            opts.flows,
            opts.gen.name(),
            opts.seconds,
            opts.rounds
        );
        println!("{caveat}");
        println!();
        println!(
            "{:>5}  {:<13} {:>12} {:>14} {:>7}",
            "round", "switch", "offered Mpps", "forwarded Mpps", "loss"
        );
    }
    let mut samples: Vec<Sample> = Vec::new();
    for round in 1..=opts.rounds {
        for &kind in &opts.switches {
            check_interrupted()?;
            eprintln!("[round {round}/{}] {}", opts.rounds, kind.name());
            let s = measure(round, kind, opts)
                .with_context(|| format!("round {round}, {}", kind.name()))?;
            if opts.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                let loss = if s.sent > 0 {
                    100.0 * (1.0 - s.received as f64 / s.sent as f64)
                } else {
                    0.0
                };
                // A stray frame or two more than was sent is not a gain.
                let loss = if loss.abs() < 0.05 { 0.0 } else { loss };
                println!(
                    "{:>5}  {:<13} {:>12.3} {:>14.3} {:>6.1}%",
                    round, s.switch, s.offered_mpps, s.forwarded_mpps, loss
                );
                if s.gen_tx_dropped > 0 {
                    println!("       generator tx_dropped: {}", s.gen_tx_dropped);
                }
                for n in &s.switch_notes {
                    println!("       {n}");
                }
            }
            samples.push(s);
        }
    }
    if !opts.json {
        println!();
        println!("median of {} round(s):", opts.rounds);
        println!(
            "{:<13} {:>14} {:>12}  forwarded samples",
            "switch", "forwarded Mpps", "offered Mpps"
        );
    }
    for &kind in &opts.switches {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.switch == kind.name()).collect();
        let fwd: Vec<f64> = mine.iter().map(|s| s.forwarded_mpps).collect();
        let off: Vec<f64> = mine.iter().map(|s| s.offered_mpps).collect();
        let sum = Summary {
            kind: "summary",
            switch: kind.name(),
            rounds: mine.len(),
            forwarded_mpps: median(&fwd),
            offered_mpps: median(&off),
            forwarded_samples: fwd,
        };
        if opts.json {
            println!("{}", serde_json::to_string(&sum)?);
        } else {
            let list: Vec<String> = sum
                .forwarded_samples
                .iter()
                .map(|x| format!("{x:.3}"))
                .collect();
            println!(
                "{:<13} {:>14.3} {:>12.3}  {}",
                sum.switch,
                sum.forwarded_mpps,
                sum.offered_mpps,
                list.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_names_round_trip() {
        for k in SwitchKind::ALL {
            assert_eq!(SwitchKind::from_name(k.name()), Some(k));
        }
        assert_eq!(SwitchKind::from_name("ovs"), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn pmd_loss_sums_lost_and_keeps_the_loss_lines() {
        let s =
            "pmd thread numa_id 0 core_id 0:\n  packets received: 10\n  emc hits: 9\n  lost: 3\n  \
                 megaflows: 1\n  drops (tx queue full): 3\n";
        let (lines, lost) = pmd_loss(s);
        assert_eq!(lost, 3);
        assert_eq!(
            lines,
            [
                "pmd packets received: 10",
                "pmd lost: 3",
                "pmd drops (tx queue full): 3"
            ]
        );
    }

    #[test]
    fn interface_names_fit() {
        let n = unique_ifname("pg").unwrap();
        assert!(n.len() <= 15 && n.starts_with("pg"));
    }
}
