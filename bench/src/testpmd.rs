//! `rvs-pktgen testpmd`: vhost-user switching throughput with DPDK's
//! `dpdk-testpmd` as traffic generator and sink, rvs side by side with Open
//! vSwitch 3.1's DPDK build.
//!
//! One measurement: a fresh switch in a temporary directory with two
//! vhost-user client ports (rvs: `type=vhostuserclient`; Open vSwitch:
//! `type=dpdkvhostuserclient`, both with `options:vhost-server-path`), the
//! flow table emptied and `in_port=1,actions=output:2` added (with `--bidir`
//! also `in_port=2,actions=output:1`), and one `dpdk-testpmd` process whose
//! two `net_virtio_user` ports listen on those paths (`server=1`).
//!
//! **Why one testpmd process in `flowgen` mode.** The obvious layout —
//! `txonly` in one testpmd and `rxonly` in another — needs three CPUs that
//! busy-poll (generator, sink, switch). On a 2-CPU machine two of them share
//! a CPU, and the scheduler's time slices make the result meaningless: the
//! sink drains one ring (256 packets) per slice and the switch drops the rest
//! (measured with Open vSwitch: 26 kpps delivered of 3.8 Mpps offered). So
//! one testpmd forwarding core on `--gen-cpu` both generates and receives,
//! and the switch's poll-mode thread has `--switch-cpu` to itself. testpmd's
//! `flowgen` engine does exactly that on each port: receive a burst and
//! count it, build a burst of `--flows` UDP flows and send it to the peer
//! port. Port 0's frames go through the switch to port 1 and are counted
//! there (forwarded); port 1 also transmits, and without `--bidir` the switch
//! drops those at its flow table (no flow matches `in_port=2`), the same
//! work for both switches.
//!
//! The window: `start`, `--warmup` seconds, the switch's PMD counters
//! cleared and testpmd's `show port stats all` taken, `--seconds`, then both
//! read again. testpmd's own `Rx-pps`/`Tx-pps` (since the previous show, by
//! its TSC) give forwarded and offered packets per second; the switch's PMD
//! busy share over the window tells who was the bottleneck: a switch below
//! 100% busy was waiting for testpmd.
//!
//! Runs interleave the switches and flow counts (run 1: rvs 1 flow, ovs 1
//! flow, rvs 1000 flows, ovs 1000 flows; run 2: …) so that drift in the
//! machine's speed hits each alike; the summary is the median per switch and
//! flow count, and rvs/ovs.
//!
//! Everything a measurement starts (testpmd, the switch's processes, their
//! directories, DPDK's `/var/run/dpdk/<prefix>`) is removed by `Drop`
//! guards, also on an error or Ctrl-C.

use crate::switches::{
    check_interrupted, install_interrupt_handler, median, reap, remove_dpdk_runtime_dir, sibling,
    sleep, tail, OvsDpdk, Ports, RunDir, Rvs, SwitchConfig, SwitchUnderTest, OVS_VSWITCHD_DPDK,
    SEQ,
};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The switches `testpmd` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchKind {
    /// rvs-vswitchd (the sibling of this executable), `vhostuserclient` ports.
    Rvs,
    /// Open vSwitch's `ovs-vswitchd-dpdk`, `dpdkvhostuserclient` ports.
    Ovs,
}

impl SwitchKind {
    /// The name on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            SwitchKind::Rvs => "rvs",
            SwitchKind::Ovs => "ovs",
        }
    }

    /// Parses `rvs`, `ovs` or `both` (rvs then ovs), or a comma-separated
    /// list of them.
    pub fn parse_list(s: &str) -> Result<Vec<SwitchKind>> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let add: &[SwitchKind] = match name {
                "rvs" => &[SwitchKind::Rvs],
                "ovs" => &[SwitchKind::Ovs],
                "both" => &[SwitchKind::Rvs, SwitchKind::Ovs],
                _ => bail!("unknown switch {name:?}: choose rvs, ovs or both"),
            };
            for k in add {
                if out.contains(k) {
                    bail!("--switch names {} twice", k.name());
                }
                out.push(*k);
            }
        }
        if out.is_empty() {
            bail!("--switch names no switch: choose rvs, ovs or both");
        }
        Ok(out)
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct TestpmdOptions {
    pub switches: Vec<SwitchKind>,
    /// Flow counts (testpmd `--flowgen-flows`), each measured in every run.
    pub flows: Vec<u32>,
    /// Length of the measured window.
    pub seconds: f64,
    /// Traffic before the window (flow setup, caches).
    pub warmup: f64,
    pub runs: usize,
    /// Frame size on the wire, FCS included (testpmd `--txpkts`).
    pub size: usize,
    /// The CPU of testpmd's forwarding core.
    pub gen_cpu: usize,
    /// The CPU of the switch's one poll-mode thread (`pmd-cpu-mask`).
    pub switch_cpu: usize,
    /// Also forward port 2 to port 1 and count both directions.
    pub bidir: bool,
    /// Memory for Open vSwitch's DPDK (`-m`, MB); testpmd gets 1024.
    pub ovs_mem_mb: usize,
    /// JSON lines instead of a table.
    pub json: bool,
    /// Keep each run's directory (logs) instead of removing it.
    pub keep: bool,
}

/// One measurement (one JSON line, `"type": "sample"`).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub run: usize,
    pub switch: &'static str,
    pub flows: u32,
    pub size: usize,
    pub bidir: bool,
    /// Frames per second testpmd sent into the switch (port 0; with
    /// `--bidir` both ports), millions.
    pub offered_mpps: f64,
    /// Frames per second testpmd received from the switch (port 1; with
    /// `--bidir` both ports), millions.
    pub forwarded_mpps: f64,
    /// Share of the window the switch's poll-mode thread spent processing
    /// packets (not polling empty queues), 0..1.
    pub switch_busy: Option<f64>,
    /// Busy time per packet the switch received, nanoseconds.
    pub switch_ns_per_pkt: Option<f64>,
    /// testpmd's forward statistics at `stop` (whole run, warm-up included).
    pub port0_tx: u64,
    pub port0_tx_dropped: u64,
    pub port1_rx: u64,
}

/// The median per switch and flow count (one JSON line, `"type": "summary"`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub switch: &'static str,
    pub flows: u32,
    pub runs: usize,
    pub forwarded_mpps: f64,
    pub offered_mpps: f64,
    pub switch_busy: Option<f64>,
    pub forwarded_samples: Vec<f64>,
}

// ---------------------------------------------------------------------------
// testpmd, driven over its interactive prompt
// ---------------------------------------------------------------------------

/// What testpmd prints before reading each command.
const PROMPT: &str = "testpmd> ";

/// One port's block of `show port stats` (cumulative since start or
/// `clear port stats`). Shared with the integration tests' testpmd helper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_missed: u64,
    pub tx_packets: u64,
    /// Since the previous `show port stats` of this port, by testpmd's clock.
    pub rx_pps: u64,
    pub tx_pps: u64,
}

/// One port's block of the "Forward statistics" that `stop` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardStats {
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
}

/// The number after `key` on `line` (`"RX-packets: 12  RX-missed: 0"`).
fn field(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// The port number of a `#### NIC statistics for port N ####` or
/// `---- Forward statistics for port N ----` header.
fn header_port(line: &str, what: &str) -> Option<usize> {
    let rest = &line[line.find(what)? + what.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Parses the output of `show port stats all` (or of one port) into
/// per-port statistics, indexed by port number.
pub fn parse_port_stats(out: &str) -> Vec<PortStats> {
    let mut v: Vec<PortStats> = Vec::new();
    let mut cur: Option<usize> = None;
    for line in out.lines() {
        if let Some(p) = header_port(line, "NIC statistics for port") {
            if v.len() <= p {
                v.resize(p + 1, PortStats::default());
            }
            cur = Some(p);
            continue;
        }
        let Some(p) = cur else { continue };
        let s = &mut v[p];
        for (key, slot) in [
            ("RX-packets:", &mut s.rx_packets),
            ("RX-missed:", &mut s.rx_missed),
            ("TX-packets:", &mut s.tx_packets),
            ("Rx-pps:", &mut s.rx_pps),
            ("Tx-pps:", &mut s.tx_pps),
        ] {
            if let Some(n) = field(line, key) {
                *slot = n;
            }
        }
    }
    v
}

/// Parses the per-port "Forward statistics" blocks that `stop` prints
/// (the accumulated block for all ports is skipped).
pub fn parse_forward_stats(out: &str) -> Vec<ForwardStats> {
    let mut v: Vec<ForwardStats> = Vec::new();
    let mut cur: Option<usize> = None;
    for line in out.lines() {
        if let Some(p) = header_port(line, "Forward statistics for port") {
            if v.len() <= p {
                v.resize(p + 1, ForwardStats::default());
            }
            cur = Some(p);
            continue;
        }
        if line.contains("Accumulated forward statistics") {
            cur = None;
            continue;
        }
        let Some(p) = cur else { continue };
        let s = &mut v[p];
        if let Some(n) = field(line, "RX-packets:") {
            s.rx_packets = n;
        }
        if let Some(n) = field(line, "RX-dropped:") {
            s.rx_dropped = n;
        }
        if let Some(n) = field(line, "TX-packets:") {
            s.tx_packets = n;
        }
        if let Some(n) = field(line, "TX-dropped:") {
            s.tx_dropped = n;
        }
    }
    v
}

/// A running `dpdk-testpmd -i` whose commands go to its stdin and whose
/// output (line-buffered through `stdbuf`) is collected by a thread. Killed,
/// and its DPDK runtime directory removed, on drop.
struct Testpmd {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    prefix: String,
    log: PathBuf,
}

impl Testpmd {
    /// Starts testpmd with `eal` and `app` arguments (`-i` is added), its
    /// output in `log`. Does not wait for it: with `server=1` ports it
    /// accepts its first connection before it configures the ports.
    fn spawn(prefix: &str, eal: &[String], app: &[String], log: PathBuf) -> Result<Testpmd> {
        remove_dpdk_runtime_dir(prefix);
        use std::os::unix::process::CommandExt;
        // One pipe for stdout and stderr (so that an error line cannot land
        // inside a prompt), line-buffered by stdbuf.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "exec \"$@\" 2>&1",
                "sh",
                "stdbuf",
                "-oL",
                "-eL",
                "dpdk-testpmd",
            ])
            .arg(format!("--file-prefix={prefix}"))
            .args(eal)
            .arg("--")
            .arg("-i")
            .args(app)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context(
                "cannot run stdbuf dpdk-testpmd: install Debian's dpdk-dev and librte-net-virtio23",
            )?;
        let out = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stdout.take() {
            let out = out.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .ok();
                // Raw reads, not lines: the prompt ends without a newline.
                let mut r = pipe;
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let s = String::from_utf8_lossy(&buf[..n]).replace('\r', "");
                    if let Some(f) = f.as_mut() {
                        let _ = f.write_all(s.as_bytes());
                    }
                    out.lock().unwrap_or_else(|e| e.into_inner()).push_str(&s);
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Testpmd {
            child: Some(child),
            stdin,
            out,
            prefix: prefix.to_string(),
            log,
        })
    }

    fn output(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn prompts(&self) -> usize {
        self.out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .matches(PROMPT)
            .count()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits until at least `n` prompts have been printed.
    fn wait_prompts(&mut self, n: usize, limit: Duration, what: &str) -> Result<()> {
        let t0 = Instant::now();
        while self.prompts() < n {
            check_interrupted()?;
            if let Some(st) = self.exited() {
                bail!(
                    "testpmd exited ({st}) {what}; its last lines ({}):\n{}",
                    self.log.display(),
                    tail(&self.output(), 30)
                );
            }
            if t0.elapsed() > limit {
                bail!(
                    "testpmd gave no prompt {what} within {} s; its last lines ({}):\n{}",
                    limit.as_secs(),
                    self.log.display(),
                    tail(&self.output(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Sends one command and waits for the next prompt; returns what the
    /// command printed.
    fn cmd(&mut self, line: &str, limit: Duration) -> Result<String> {
        let before = self.prompts();
        let start = self.output().len();
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("testpmd's stdin is closed"))?;
        writeln!(stdin, "{line}").context("cannot write to testpmd")?;
        stdin.flush()?;
        self.wait_prompts(before + 1, limit, &format!("after {line:?}"))?;
        Ok(self.output()[start..].to_string())
    }

    /// `quit`, then waits up to 10 s for the process to end.
    fn quit(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        if let Some(mut c) = self.child.take() {
            reap(&mut c, Duration::from_secs(10));
        }
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        remove_dpdk_runtime_dir(&self.prefix);
    }
}

// ---------------------------------------------------------------------------
// One measurement
// ---------------------------------------------------------------------------

/// The testpmd command line of a measurement: EAL arguments and testpmd's.
pub fn testpmd_args(
    socks: &[PathBuf; 2],
    flows: u32,
    opts: &TestpmdOptions,
) -> (Vec<String>, Vec<String>) {
    let main_cpu = if opts.gen_cpu == opts.switch_cpu {
        opts.gen_cpu
    } else {
        opts.switch_cpu
    };
    // The main lcore only reads commands; with two lcores on one CPU it
    // shares the generator's CPU.
    let lcores = if main_cpu == opts.gen_cpu {
        format!("--lcores=0@{},1@{}", opts.gen_cpu, opts.gen_cpu)
    } else {
        format!("--lcores=0@{main_cpu},1@{}", opts.gen_cpu)
    };
    let mut eal = vec![
        "--no-huge".to_string(),
        "-m".to_string(),
        "1024".to_string(),
        "--no-pci".to_string(),
        lcores,
        "--main-lcore=0".to_string(),
    ];
    for (i, s) in socks.iter().enumerate() {
        eal.push(format!(
            "--vdev=net_virtio_user{i},path={},server=1",
            s.display()
        ));
    }
    let app = vec![
        "--forward-mode=flowgen".to_string(),
        format!("--flowgen-flows={flows}"),
        format!("--txpkts={}", opts.size),
        "--nb-cores=1".to_string(),
        "--no-mlockall".to_string(),
    ];
    (eal, app)
}

fn measure(run: usize, kind: SwitchKind, flows: u32, opts: &TestpmdOptions) -> Result<Sample> {
    let cfg = SwitchConfig {
        switch_cpu: opts.switch_cpu,
        other_cpu: opts.gen_cpu,
        ovs_mem_mb: opts.ovs_mem_mb,
        keep: opts.keep,
    };
    let mut sw: Box<dyn SwitchUnderTest> = match kind {
        SwitchKind::Rvs => Box::new(Rvs::start(&cfg)?),
        SwitchKind::Ovs => Box::new(OvsDpdk::start(&cfg)?),
    };
    let dir = RunDir::new("testpmd", opts.keep)?;
    let socks = [dir.path.join("tp0.sock"), dir.path.join("tp1.sock")];
    let (eal, app) = testpmd_args(&socks, flows, opts);
    let prefix = format!(
        "rvs-pktgen-tp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let mut tp = Testpmd::spawn(&prefix, &eal, &app, dir.path.join("testpmd.log"))?;
    // testpmd binds its first socket at once and accepts on it before
    // creating the second; the switch's client ports retry until both are
    // there. Add them once the first socket exists.
    let t0 = Instant::now();
    while !socks[0].exists() {
        check_interrupted()?;
        if let Some(st) = tp.exited() {
            bail!(
                "testpmd exited at start ({st}):\n{}",
                tail(&tp.output(), 30)
            );
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!(
                "testpmd did not create {} in 30 s:\n{}",
                socks[0].display(),
                tail(&tp.output(), 30)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sw.add_ports(&Ports::VhostClient(socks.clone()), opts.bidir)?;
    tp.wait_prompts(
        1,
        Duration::from_secs(60),
        "while the switch connects to its ports",
    )
    .map_err(|e| {
        anyhow!(
            "{e}\nthe switch's ports: {}\nswitch log:\n{}",
            sw.port_errors(),
            tail(&sw.log(), 20)
        )
    })?;
    let cmd_limit = Duration::from_secs(30);
    tp.cmd("start", cmd_limit)?;
    sleep(Duration::from_secs_f64(opts.warmup))?;
    sw.clear_pmd_stats()?;
    tp.cmd("show port stats all", cmd_limit)?;
    let t_window = Instant::now();
    sleep(Duration::from_secs_f64(opts.seconds))?;
    let stats = parse_port_stats(&tp.cmd("show port stats all", cmd_limit)?);
    let window = t_window.elapsed();
    let (busy, sw_packets) = sw.pmd_busy(window)?;
    let fwd = parse_forward_stats(&tp.cmd("stop", cmd_limit)?);
    tp.quit();
    if stats.len() < 2 || fwd.len() < 2 {
        bail!(
            "testpmd printed statistics for {} port(s), not 2; its log: {}",
            stats.len().min(fwd.len()),
            dir.path.join("testpmd.log").display()
        );
    }
    let (offered, forwarded) = if opts.bidir {
        (
            stats[0].tx_pps + stats[1].tx_pps,
            stats[0].rx_pps + stats[1].rx_pps,
        )
    } else {
        (stats[0].tx_pps, stats[1].rx_pps)
    };
    let busy_secs = busy * window.as_secs_f64();
    Ok(Sample {
        kind: "sample",
        run,
        switch: kind.name(),
        flows,
        size: opts.size,
        bidir: opts.bidir,
        offered_mpps: offered as f64 / 1e6,
        forwarded_mpps: forwarded as f64 / 1e6,
        switch_busy: Some(busy),
        switch_ns_per_pkt: (sw_packets > 0).then(|| busy_secs * 1e9 / sw_packets as f64),
        port0_tx: fwd[0].tx_packets,
        port0_tx_dropped: fwd[0].tx_dropped,
        port1_rx: fwd[1].rx_packets,
    })
}

/// Checks the options and the machine before anything starts.
fn preflight(opts: &TestpmdOptions) -> Result<()> {
    if !(opts.seconds > 0.0 && opts.seconds.is_finite()) {
        bail!(
            "--seconds must be a positive number of seconds, not {}",
            opts.seconds
        );
    }
    if !(opts.warmup >= 0.0 && opts.warmup.is_finite()) {
        bail!("--warmup must be zero or more seconds, not {}", opts.warmup);
    }
    if opts.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if opts.flows.is_empty() || opts.flows.contains(&0) {
        bail!("--flows must list flow counts of at least 1, like 1,1000");
    }
    if !(64..=1518).contains(&opts.size) {
        bail!("--size must be between 64 and 1518 bytes");
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (what, c) in [
        ("--gen-cpu", opts.gen_cpu),
        ("--switch-cpu", opts.switch_cpu),
    ] {
        if c >= cpus {
            bail!(
                "{what} {c} does not exist: this machine has CPUs 0 to {}",
                cpus - 1
            );
        }
    }
    if opts.ovs_mem_mb < 2048 && opts.switches.contains(&SwitchKind::Ovs) {
        bail!("--ovs-mem-mb must be at least 2048: Open vSwitch's packet buffer pool does not fit in less without hugepages");
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("rvs-pktgen testpmd runs DPDK (/var/run/dpdk) and switches: run it as root");
    }
    if Command::new("dpdk-testpmd")
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        bail!("dpdk-testpmd not found: apt-get install dpdk-dev librte-net-virtio23");
    }
    if opts.switches.contains(&SwitchKind::Rvs) {
        for b in ["rvs-vswitchd", "rvs-vsctl", "rvs-ofctl", "rvs-appctl"] {
            sibling(b)?;
        }
    }
    if opts.switches.contains(&SwitchKind::Ovs) && !Path::new(OVS_VSWITCHD_DPDK).exists() {
        bail!(
            "{OVS_VSWITCHD_DPDK} not found: apt-get install openvswitch-switch-dpdk \
             (or measure rvs alone with --switch rvs)"
        );
    }
    Ok(())
}

/// Runs the benchmark and prints the result.
pub fn run_testpmd(opts: &TestpmdOptions) -> Result<()> {
    preflight(opts)?;
    install_interrupt_handler()?;
    let layout = format!(
        "testpmd forwarding core on CPU {}, the switch's poll-mode thread on CPU {}",
        opts.gen_cpu, opts.switch_cpu
    );
    if opts.json {
        eprintln!("{layout}");
    } else {
        println!(
            "testpmd flowgen -> switch (vhost-user) -> testpmd: {}-byte frames, flows {:?}, {}, {} s window after {} s warm-up, {} run(s)",
            opts.size,
            opts.flows,
            if opts.bidir { "both directions" } else { "port 1 -> port 2" },
            opts.seconds,
            opts.warmup,
            opts.runs
        );
        println!("{layout}");
        println!();
        println!(
            "{:>3}  {:<6} {:>6} {:>12} {:>14} {:>11} {:>12}",
            "run",
            "switch",
            "flows",
            "offered Mpps",
            "forwarded Mpps",
            "switch busy",
            "switch ns/p"
        );
    }
    let total = opts.runs * opts.flows.len() * opts.switches.len();
    let mut n = 0;
    let mut samples: Vec<Sample> = Vec::new();
    for run in 1..=opts.runs {
        for &flows in &opts.flows {
            for &kind in &opts.switches {
                check_interrupted()?;
                n += 1;
                eprintln!(
                    "[{n}/{total}] run {run}: {} with {flows} flow(s)…",
                    kind.name()
                );
                let s = measure(run, kind, flows, opts)
                    .with_context(|| format!("run {run}, {}, {flows} flow(s)", kind.name()))?;
                if opts.json {
                    println!("{}", serde_json::to_string(&s)?);
                } else {
                    println!(
                        "{:>3}  {:<6} {:>6} {:>12.3} {:>14.3} {:>10.0}% {:>12}",
                        run,
                        s.switch,
                        flows,
                        s.offered_mpps,
                        s.forwarded_mpps,
                        s.switch_busy.unwrap_or(0.0) * 100.0,
                        s.switch_ns_per_pkt
                            .map_or("-".to_string(), |x| format!("{x:.0}"))
                    );
                }
                samples.push(s);
            }
        }
    }
    if !opts.json {
        println!();
        println!("median of {} run(s):", opts.runs);
        println!(
            "{:<6} {:>6} {:>14} {:>12} {:>11}  forwarded samples",
            "switch", "flows", "forwarded Mpps", "offered Mpps", "switch busy"
        );
    }
    let mut summaries: Vec<Summary> = Vec::new();
    for &flows in &opts.flows {
        for &kind in &opts.switches {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.switch == kind.name() && s.flows == flows)
                .collect();
            let fwd: Vec<f64> = mine.iter().map(|s| s.forwarded_mpps).collect();
            let off: Vec<f64> = mine.iter().map(|s| s.offered_mpps).collect();
            let busy: Vec<f64> = mine.iter().filter_map(|s| s.switch_busy).collect();
            let sum = Summary {
                kind: "summary",
                switch: kind.name(),
                flows,
                runs: mine.len(),
                forwarded_mpps: median(&fwd),
                offered_mpps: median(&off),
                switch_busy: (!busy.is_empty()).then(|| median(&busy)),
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
                    "{:<6} {:>6} {:>14.3} {:>12.3} {:>10.0}%  {}",
                    sum.switch,
                    flows,
                    sum.forwarded_mpps,
                    sum.offered_mpps,
                    sum.switch_busy.unwrap_or(0.0) * 100.0,
                    list.join(", ")
                );
            }
            summaries.push(sum);
        }
        let find = |k: SwitchKind| {
            summaries
                .iter()
                .find(|s| s.switch == k.name() && s.flows == flows)
                .map(|s| s.forwarded_mpps)
        };
        if let (Some(r), Some(o)) = (find(SwitchKind::Rvs), find(SwitchKind::Ovs)) {
            if o > 0.0 {
                let ratio = r / o;
                if opts.json {
                    println!(
                        "{}",
                        serde_json::json!({"type": "ratio", "flows": flows, "rvs_over_ovs": ratio})
                    );
                } else {
                    println!("rvs/ovs {flows:>6} {ratio:>14.2}");
                }
            }
        }
    }
    if !opts.json {
        println!();
        println!(
            "A switch well below 100% busy was waiting for testpmd: then forwarded Mpps is \
             testpmd's limit, and switch busy and ns/packet compare the switches."
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switches::{parse_ovs_pmd_busy, parse_rvs_pmd_busy};

    const SHOW: &str = "\
  ######################## NIC statistics for port 0  ########################
  RX-packets: 0          RX-missed: 0          RX-bytes:  0
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: 30826464   TX-errors: 0          TX-bytes:  1972893696

  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:      4390278          Tx-bps:   2247822704
  ############################################################################

  ######################## NIC statistics for port 1  ########################
  RX-packets: 30826208   RX-missed: 0          RX-bytes:  1972877312
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: 416        TX-errors: 0          TX-bytes:  26624

  Throughput (since last show)
  Rx-pps:      4390277          Rx-bps:   2247822736
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
testpmd> ";

    const STOP: &str = "\
Telling cores to stop...
Waiting for lcores to finish...

  ---------------------- Forward statistics for port 0  ----------------------
  RX-packets: 0              RX-dropped: 0             RX-total: 0
  TX-packets: 32909184       TX-dropped: 256           TX-total: 32909440
  ----------------------------------------------------------------------------

  ---------------------- Forward statistics for port 1  ----------------------
  RX-packets: 32908928       RX-dropped: 0             RX-total: 32908928
  TX-packets: 416            TX-dropped: 96            TX-total: 512
  ----------------------------------------------------------------------------

  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++
  RX-packets: 32908928       RX-dropped: 0             RX-total: 32908928
  TX-packets: 32909600       TX-dropped: 352           TX-total: 32909952
  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++
";

    #[test]
    fn port_stats_parse_per_port() {
        let s = parse_port_stats(SHOW);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].tx_packets, 30826464);
        assert_eq!(s[0].tx_pps, 4390278);
        assert_eq!(s[1].rx_packets, 30826208);
        assert_eq!(s[1].rx_pps, 4390277);
        assert_eq!(s[1].tx_pps, 0);
    }

    #[test]
    fn forward_stats_skip_the_accumulated_block() {
        let f = parse_forward_stats(STOP);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].tx_packets, 32909184);
        assert_eq!(f[0].tx_dropped, 256);
        assert_eq!(f[1].rx_packets, 32908928);
        assert_eq!(f[1].tx_dropped, 96);
    }

    #[test]
    fn ovs_pmd_busy_reads_the_pmd_block_only() {
        let s = "pmd thread numa_id 0 core_id 1:\n  packets received: 16501408\n  \
                 idle cycles: 2356977456 (29.89%)\n  processing cycles: 5528676024 (70.11%)\n\
                 main thread:\n  packets received: 8\n  processing cycles: 10 (50.00%)\n";
        let (busy, packets) = parse_ovs_pmd_busy(s);
        assert!((busy - 0.7011).abs() < 1e-9);
        assert_eq!(packets, 16501408);
    }

    #[test]
    fn rvs_pmd_busy_sums_ports() {
        let v = serde_json::json!([{"pmd": 0, "packets": 100, "ports": [
            {"name": "vhu0", "busy_ns": 300_000_000u64}, {"name": "vhu1", "busy_ns": 200_000_000u64}],
            "elapsed_ns": 1_000_000_000u64}]);
        let (busy, packets) = parse_rvs_pmd_busy(&v, Duration::from_secs(1));
        assert!((busy - 0.5).abs() < 1e-9);
        assert_eq!(packets, 100);
    }

    #[test]
    fn switch_lists_parse() {
        assert_eq!(
            SwitchKind::parse_list("both").unwrap(),
            vec![SwitchKind::Rvs, SwitchKind::Ovs]
        );
        assert_eq!(
            SwitchKind::parse_list("ovs").unwrap(),
            vec![SwitchKind::Ovs]
        );
        assert!(SwitchKind::parse_list("rvs,both").is_err());
        assert!(SwitchKind::parse_list("linux").is_err());
    }

    #[test]
    fn testpmd_runs_its_forwarding_core_on_the_generator_cpu() {
        let opts = TestpmdOptions {
            switches: vec![SwitchKind::Ovs],
            flows: vec![1],
            seconds: 1.0,
            warmup: 0.0,
            runs: 1,
            size: 64,
            gen_cpu: 0,
            switch_cpu: 1,
            bidir: false,
            ovs_mem_mb: 2048,
            json: false,
            keep: false,
        };
        let socks = [PathBuf::from("/x/a.sock"), PathBuf::from("/x/b.sock")];
        let (eal, app) = testpmd_args(&socks, 1000, &opts);
        assert!(eal.contains(&"--lcores=0@1,1@0".to_string()), "{eal:?}");
        assert!(eal.contains(&"--vdev=net_virtio_user1,path=/x/b.sock,server=1".to_string()));
        assert!(app.contains(&"--flowgen-flows=1000".to_string()));
    }
}
