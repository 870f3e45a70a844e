//! `rvs-pktgen compare`: the same topology and the same traffic on each
//! switch under test, interleaved, in one table.
//!
//! Paths:
//! - `vhost`: generator → vhost-user → switch → vhost-user → generator.
//!   The generator's two virtio-net devices listen on sockets; the switch
//!   gets two vhost-user client ports (rvs `vhostuserclient`, Open
//!   vSwitch 3.1 DPDK `dpdkvhostuserclient`) and `in_port=1,
//!   actions=output:2`.
//! - `veth`: generator → AF_XDP on a veth end → the switch on the other
//!   end (rvs and Open vSwitch: AF_XDP ports in generic mode and the same
//!   flow; the Linux bridge: both ends enslaved) → the second veth pair →
//!   AF_XDP → generator.
//!
//! One generator thread on `--gen-cpu` sends and receives; the switch's
//! one poll-mode thread has `--switch-cpu` to itself (the Linux bridge
//! has no thread: it forwards in the generator's softirq, on the
//! generator's CPU — its figures are for one CPU doing both).
//!
//! Rounds interleave the switches (round 1: rvs, ovs, bridge; round 2:
//! the same; …), each switch started fresh for its turn, so that drift in
//! the machine's speed hits each alike; the table shows the median over
//! rounds and, per row, rvs's figure divided by the other switch's.
//! Before the switches, the generator's own ceiling is measured (its two
//! ends joined by an in-memory ring, no switch): a switch figure near it
//! is generator-bound.

use crate::endpoint::Endpoint;
use crate::measure::{self, fmt_opt, MeasureConfig, Row, TrialCounter};
use crate::plot::{Chart, Scale, Series};
use crate::switches::{
    self, check_interrupted, median, LinuxBridge, OvsDpdk, Ports, RunDir, Rvs, SwitchConfig,
    SwitchUnderTest, VethPair, OVS_VSWITCHD_DPDK,
};
use crate::traffic::{FrameBuilder, FrameSize, TrafficSpec};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rvs_datapath::port::ring::ring_pair;
use rvs_vmm::net::NetConfig;
use rvs_vmm::vhost_user::Listener;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A path through the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    Vhost,
    Veth,
    /// rvs's datapath in-process between in-memory rings: no I/O.
    Ring,
}

impl PathKind {
    pub fn name(self) -> &'static str {
        match self {
            PathKind::Vhost => "vhost",
            PathKind::Veth => "veth",
            PathKind::Ring => "ring",
        }
    }

    pub fn parse(s: &str) -> Result<PathKind> {
        match s {
            "vhost" | "vhost-user" => Ok(PathKind::Vhost),
            "veth" => Ok(PathKind::Veth),
            "ring" => Ok(PathKind::Ring),
            _ => bail!("unknown path {s:?}: choose vhost, veth or ring"),
        }
    }
}

/// A switch under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwitchName {
    Rvs,
    Ovs,
    LinuxBridge,
}

impl SwitchName {
    pub fn name(self) -> &'static str {
        match self {
            SwitchName::Rvs => "rvs",
            SwitchName::Ovs => "ovs",
            SwitchName::LinuxBridge => "linux-bridge",
        }
    }

    pub fn parse(s: &str) -> Result<SwitchName> {
        match s {
            "rvs" => Ok(SwitchName::Rvs),
            "ovs" => Ok(SwitchName::Ovs),
            "linux-bridge" | "bridge" => Ok(SwitchName::LinuxBridge),
            _ => bail!("unknown switch {s:?}: choose rvs, ovs or linux-bridge"),
        }
    }

    fn serves(self, path: PathKind) -> bool {
        match path {
            PathKind::Vhost => self != SwitchName::LinuxBridge,
            PathKind::Veth => true,
            // Only rvs's datapath runs in-process.
            PathKind::Ring => self == SwitchName::Rvs,
        }
    }

    /// Why it cannot run here, with how to install it.
    fn missing(self) -> Option<String> {
        match self {
            SwitchName::Rvs => ["rvs-vswitchd", "rvs-vsctl", "rvs-ofctl", "rvs-appctl"]
                .iter()
                .find_map(|b| switches::sibling(b).err())
                .map(|e| e.to_string()),
            SwitchName::Ovs => (!std::path::Path::new(OVS_VSWITCHD_DPDK).exists()).then(|| {
                format!(
                    "Open vSwitch with DPDK is not installed ({OVS_VSWITCHD_DPDK}): \
                     apt-get install openvswitch-switch-dpdk"
                )
            }),
            SwitchName::LinuxBridge => std::process::Command::new("ip")
                .arg("-V")
                .output()
                .is_err()
                .then(|| "`ip` is not installed: apt-get install iproute2".to_string()),
        }
    }
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub switches: Vec<SwitchName>,
    pub paths: Vec<PathKind>,
    /// Flow counts per path.
    pub flows: BTreeMap<PathKind, Vec<u32>>,
    pub frame: FrameSize,
    pub rounds: usize,
    pub measure: MeasureConfig,
    pub gen_cpu: usize,
    pub switch_cpu: usize,
    pub ovs_mem_mb: usize,
    pub json: bool,
    pub out: PathBuf,
    pub keep: bool,
}

/// One result row (a JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub switch: &'static str,
    pub path: &'static str,
    pub frame: String,
    pub flows: u32,
    /// Round number (0 for the median over rounds).
    pub round: usize,
    /// Forwarded at the highest offered rate, Mpps.
    pub mpps: f64,
    pub gbps: f64,
    /// Offered at the highest rate, Mpps.
    pub tx_mpps: f64,
    pub loss_ratio: f64,
    pub ndr_mpps: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub max_us: Option<f64>,
    pub latency_at_mpps: Option<f64>,
    pub reordered: u64,
    /// The switch's busy cycles per packet (its poll-mode thread's busy
    /// time per packet times the CPU clock), where it reports busy time.
    pub cycles_per_pkt: Option<f64>,
    /// Median rows: rvs's Mpps divided by this switch's.
    pub ratio: Option<f64>,
    pub ndr_ratio: Option<f64>,
}

/// A generator ceiling row.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingRow {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub path: &'static str,
    pub frame: String,
    pub mpps: f64,
    pub loss_ratio: f64,
}

/// A switch with its topology and the generator's endpoints on it.
/// Fields drop in order: endpoints, switch, links, directory.
struct Session {
    tx: Endpoint,
    rx: Endpoint,
    sw: Box<dyn SwitchUnderTest>,
    _veths: Vec<VethPair>,
    _listeners: Vec<Listener>,
    _dir: Option<RunDir>,
}

fn start_switch(name: SwitchName, opts: &CompareOptions) -> Result<Box<dyn SwitchUnderTest>> {
    let cfg = SwitchConfig {
        switch_cpu: opts.switch_cpu,
        other_cpu: opts.gen_cpu,
        ovs_mem_mb: opts.ovs_mem_mb,
        keep: opts.keep,
    };
    Ok(match name {
        SwitchName::Rvs => Box::new(Rvs::start(&cfg)?),
        SwitchName::Ovs => Box::new(OvsDpdk::start(&cfg)?),
        SwitchName::LinuxBridge => Box::new(LinuxBridge::start()?),
    })
}

fn open_session(name: SwitchName, path: PathKind, opts: &CompareOptions) -> Result<Session> {
    match path {
        PathKind::Vhost => {
            let dir = RunDir::new("gen", opts.keep)?;
            let socks = [dir.path.join("gen0.sock"), dir.path.join("gen1.sock")];
            let l0 = Listener::bind(&socks[0])?;
            let l1 = Listener::bind(&socks[1])?;
            let mut sw = start_switch(name, opts)?;
            sw.add_ports(&Ports::VhostClient(socks.clone()), false)?;
            let cfg = NetConfig::default();
            let limit = Duration::from_secs(30);
            let accept = |l: &Listener, sw: &dyn SwitchUnderTest| {
                Endpoint::vhost_accept(l, &cfg, limit).with_context(|| {
                    format!(
                        "the switch did not set up its vhost-user port; its ports: {}\n{}",
                        sw.port_errors(),
                        switches::tail(&sw.log(), 15)
                    )
                })
            };
            let tx = accept(&l0, sw.as_ref())?;
            let rx = accept(&l1, sw.as_ref())?;
            Ok(Session {
                tx,
                rx,
                sw,
                _veths: Vec::new(),
                _listeners: vec![l0, l1],
                _dir: Some(dir),
            })
        }
        PathKind::Ring => {
            let (sw, tx, rx) = crate::inproc::InprocSwitch::start(Some(opts.switch_cpu))?;
            Ok(Session {
                tx,
                rx,
                sw: Box::new(sw),
                _veths: Vec::new(),
                _listeners: Vec::new(),
                _dir: None,
            })
        }
        PathKind::Veth => {
            let a = VethPair::new()?;
            let b = VethPair::new()?;
            let mut sw = start_switch(name, opts)?;
            sw.add_ports(
                &Ports::Afxdp([a.switch_end.name.clone(), b.switch_end.name.clone()]),
                false,
            )?;
            let tx = Endpoint::afxdp(&a.gen_end)?;
            let rx = Endpoint::afxdp(&b.gen_end)?;
            Ok(Session {
                tx,
                rx,
                sw,
                _veths: vec![a, b],
                _listeners: Vec::new(),
                _dir: None,
            })
        }
    }
}

/// A sample: one row of one round, with its latency histogram.
struct Sample {
    row: ResultRow,
    latency: Option<crate::hist::Histogram>,
}

fn to_result(
    name: SwitchName,
    path: PathKind,
    frame: &FrameSize,
    flows: u32,
    round: usize,
    r: &Row,
    cycles: Option<f64>,
) -> ResultRow {
    ResultRow {
        kind: "sample",
        switch: name.name(),
        path: path.name(),
        frame: frame.to_string(),
        flows,
        round,
        mpps: r.main.rx_pps() / 1e6,
        gbps: r.main.rx_gbps(),
        tx_mpps: r.main.tx_pps() / 1e6,
        loss_ratio: r.main.loss_ratio(),
        ndr_mpps: r.searched_pps.map(|p| p / 1e6),
        p50_us: r.latency.map(|l| l.p50_us),
        p99_us: r.latency.map(|l| l.p99_us),
        p999_us: r.latency.map(|l| l.p999_us),
        max_us: r.latency.map(|l| l.max_us),
        latency_at_mpps: r.latency.map(|l| l.at_mpps),
        reordered: r.main.reordered,
        cycles_per_pkt: cycles,
        ratio: None,
        ndr_ratio: None,
    }
}

/// The generator's own ceiling: both ends on an in-memory ring pair.
pub fn ceiling(frame: &FrameSize, secs: Duration) -> Result<CeilingRow> {
    let (a, b) = ring_pair("gen-tx", "gen-rx", 4096);
    let mut tx = Endpoint::port(Box::new(a));
    let mut rx = Endpoint::port(Box::new(b));
    let mut builder = FrameBuilder::new(&TrafficSpec {
        frame: frame.clone(),
        ..TrafficSpec::default()
    })?;
    let t = crate::trial::run(
        &mut tx,
        &mut rx,
        &mut builder,
        1,
        &crate::trial::TrialConfig {
            rate_pps: None,
            duration: secs,
            count: None,
            latency: true,
        },
    )?;
    Ok(CeilingRow {
        kind: "ceiling",
        path: "ring",
        frame: frame.to_string(),
        mpps: t.rx_pps() / 1e6,
        loss_ratio: t.loss_ratio(),
    })
}

fn opt_median(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let xs: Vec<f64> = v.flatten().collect();
    (!xs.is_empty()).then(|| median(&xs))
}

/// Medians over rounds per (path, flows, switch), with rvs's ratio.
fn summarize(samples: &[Sample]) -> Vec<ResultRow> {
    let mut groups: BTreeMap<(&str, u32, &str), Vec<&ResultRow>> = BTreeMap::new();
    for s in samples {
        groups
            .entry((s.row.path, s.row.flows, s.row.switch))
            .or_default()
            .push(&s.row);
    }
    let mut out: Vec<ResultRow> = groups
        .values()
        .map(|rows| {
            let mut m = rows[0].clone();
            m.kind = "median";
            m.round = 0;
            m.mpps = median(&rows.iter().map(|r| r.mpps).collect::<Vec<_>>());
            m.gbps = median(&rows.iter().map(|r| r.gbps).collect::<Vec<_>>());
            m.tx_mpps = median(&rows.iter().map(|r| r.tx_mpps).collect::<Vec<_>>());
            m.loss_ratio = median(&rows.iter().map(|r| r.loss_ratio).collect::<Vec<_>>());
            m.ndr_mpps = opt_median(rows.iter().map(|r| r.ndr_mpps));
            m.p50_us = opt_median(rows.iter().map(|r| r.p50_us));
            m.p99_us = opt_median(rows.iter().map(|r| r.p99_us));
            m.p999_us = opt_median(rows.iter().map(|r| r.p999_us));
            m.max_us = opt_median(rows.iter().map(|r| r.max_us));
            m.latency_at_mpps = opt_median(rows.iter().map(|r| r.latency_at_mpps));
            m.cycles_per_pkt = opt_median(rows.iter().map(|r| r.cycles_per_pkt));
            m
        })
        .collect();
    let rvs: BTreeMap<(&str, u32), (f64, Option<f64>)> = out
        .iter()
        .filter(|r| r.switch == "rvs")
        .map(|r| ((r.path, r.flows), (r.mpps, r.ndr_mpps)))
        .collect();
    for r in &mut out {
        if let Some(&(mpps, ndr)) = rvs.get(&(r.path, r.flows)) {
            r.ratio = (r.mpps > 0.0).then(|| mpps / r.mpps);
            r.ndr_ratio = match (ndr, r.ndr_mpps) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
        }
    }
    out.sort_by(|a, b| {
        (a.path, a.flows, SwitchName::parse(a.switch).ok()).cmp(&(
            b.path,
            b.flows,
            SwitchName::parse(b.switch).ok(),
        ))
    });
    out
}

/// The human table of the medians.
pub fn table(rows: &[ResultRow]) -> String {
    let mut s = format!(
        "{:<6} {:>5} {:>8} {:<13} {:>7} {:>7} {:>8} {:>9} {:>9} {:>8} {:>7} {:>7}\n",
        "path",
        "frame",
        "flows",
        "switch",
        "Mpps",
        "Gbps",
        "NDR",
        "p99 µs",
        "p99 at",
        "cyc/pkt",
        "rvs/x",
        "NDR r/x"
    );
    for r in rows {
        s += &format!(
            "{:<6} {:>5} {:>8} {:<13} {:>7.3} {:>7.2} {:>8} {:>9} {:>9} {:>8} {:>7} {:>7}\n",
            r.path,
            r.frame,
            r.flows,
            r.switch,
            r.mpps,
            r.gbps,
            fmt_opt(r.ndr_mpps, 3),
            fmt_opt(r.p99_us, 1),
            fmt_opt(r.latency_at_mpps, 3),
            fmt_opt(r.cycles_per_pkt, 0),
            if r.switch == "rvs" {
                "-".to_string()
            } else {
                fmt_opt(r.ratio, 2)
            },
            if r.switch == "rvs" {
                "-".to_string()
            } else {
                fmt_opt(r.ndr_ratio, 2)
            },
        );
    }
    s
}

/// Throughput against flow count, and latency CDFs, one chart each per
/// path, as SVG files in `dir`; returns their paths.
fn write_plots(
    dir: &std::path::Path,
    rows: &[ResultRow],
    samples: &[Sample],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let paths: Vec<&str> = {
        let mut v: Vec<&str> = rows.iter().map(|r| r.path).collect();
        v.dedup();
        v
    };
    for path in paths {
        let mut by_switch: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.path == path) {
            by_switch
                .entry(r.switch)
                .or_default()
                .push((f64::from(r.flows), r.mpps));
        }
        let chart = Chart {
            title: format!("{path} path: forwarded Mpps by flow count (median)"),
            x_label: "flows".into(),
            y_label: "Mpps".into(),
            x_scale: Scale::Log10,
            y_scale: Scale::Linear,
            series: by_switch
                .into_iter()
                .map(|(name, points)| Series {
                    name: name.to_string(),
                    points,
                })
                .collect(),
        };
        let f = dir.join(format!("throughput-{path}.svg"));
        std::fs::write(&f, chart.to_svg())
            .with_context(|| format!("cannot write {}", f.display()))?;
        written.push(f);
        // Latency: the last round's histogram at the smallest flow count.
        let mut series = Vec::new();
        for s in samples.iter().rev().filter(|s| s.row.path == path) {
            if series.iter().any(|x: &Series| x.name == s.row.switch) {
                continue;
            }
            let min_flows = samples
                .iter()
                .filter(|x| x.row.path == path && x.row.switch == s.row.switch)
                .map(|x| x.row.flows)
                .min();
            if Some(s.row.flows) != min_flows {
                continue;
            }
            if let Some(h) = &s.latency {
                series.push(Series {
                    name: s.row.switch.to_string(),
                    points: h
                        .cdf()
                        .into_iter()
                        .map(|(ns, q)| (ns as f64 / 1000.0, q * 100.0))
                        .collect(),
                });
            }
        }
        let chart = Chart {
            title: format!("{path} path: latency distribution"),
            x_label: "latency (µs)".into(),
            y_label: "percentile".into(),
            x_scale: Scale::Log10,
            y_scale: Scale::Linear,
            series,
        };
        let f = dir.join(format!("latency-{path}.svg"));
        std::fs::write(&f, chart.to_svg())
            .with_context(|| format!("cannot write {}", f.display()))?;
        written.push(f);
    }
    Ok(written)
}

/// Runs the comparison and prints it.
pub fn run_compare(opts: &CompareOptions) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("rvs-pktgen compare starts switches, DPDK and veth links: run it as root");
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
    switches::install_interrupt_handler()?;
    rvs_datapath::port::pin_thread_to_core(opts.gen_cpu)?;
    let mut switches_here = Vec::new();
    for &s in &opts.switches {
        match s.missing() {
            Some(why) => eprintln!("skipping {}: {why}", s.name()),
            None => switches_here.push(s),
        }
    }
    if switches_here.is_empty() {
        bail!("no switch to measure");
    }
    let ghz = measure::cpu_ghz();
    let jobs: usize = opts
        .paths
        .iter()
        .map(|p| {
            switches_here.iter().filter(|s| s.serves(*p)).count()
                * opts.flows.get(p).map_or(0, Vec::len)
        })
        .sum::<usize>()
        * opts.rounds;
    let bar = ProgressBar::new(jobs as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let ceiling = ceiling(&opts.frame, opts.measure.trial)?;
    let ceiling_line = format!(
        "generator ceiling (its two ends on an in-memory ring, no switch, one thread on CPU {}): {:.2} Mpps of {}-byte frames",
        opts.gen_cpu, ceiling.mpps, ceiling.frame
    );
    bar.suspend(|| eprintln!("{ceiling_line}"));
    let mut samples: Vec<Sample> = Vec::new();
    let mut counter = TrialCounter::default();
    let mut failures = Vec::new();
    for round in 1..=opts.rounds {
        for &path in &opts.paths {
            let flows = opts.flows.get(&path).cloned().unwrap_or_default();
            for &name in switches_here.iter().filter(|s| s.serves(path)) {
                check_interrupted()?;
                bar.set_message(format!(
                    "round {round}: {} {} starting",
                    path.name(),
                    name.name()
                ));
                let mut session = match open_session(name, path, opts) {
                    Ok(s) => s,
                    Err(e) => {
                        let msg = format!("{} on the {} path: {e:#}", name.name(), path.name());
                        bar.suspend(|| eprintln!("failed: {msg}"));
                        failures.push(msg);
                        bar.inc(flows.len() as u64);
                        continue;
                    }
                };
                for &n in &flows {
                    check_interrupted()?;
                    let mut builder = FrameBuilder::new(&TrafficSpec {
                        frame: opts.frame.clone(),
                        flows: n,
                        ..TrafficSpec::default()
                    })?;
                    let label = format!("round {round}: {} {} {n} flows", path.name(), name.name());
                    let _ = session.sw.clear_pmd_stats();
                    let window = Instant::now();
                    let row = measure::measure_row(
                        &mut session.tx,
                        &mut session.rx,
                        &mut builder,
                        &opts.measure,
                        &mut counter,
                        &mut |what| bar.set_message(format!("{label}: {what}")),
                    )?;
                    let cycles = session
                        .sw
                        .pmd_busy(window.elapsed())
                        .ok()
                        .filter(|&(_, pk)| pk > 0)
                        .and_then(|(busy, pk)| {
                            let ns = busy * window.elapsed().as_secs_f64() * 1e9 / pk as f64;
                            ghz.map(|g| ns * g)
                        });
                    let r = to_result(name, path, &opts.frame, n, round, &row, cycles);
                    if opts.json {
                        let line = serde_json::to_string(&r)?;
                        bar.suspend(|| println!("{line}"));
                    }
                    samples.push(Sample {
                        row: r,
                        latency: row.latency_hist,
                    });
                    bar.inc(1);
                }
            }
        }
    }
    bar.finish_and_clear();
    let rows = summarize(&samples);
    if opts.json {
        println!("{}", serde_json::to_string(&ceiling)?);
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        println!("{ceiling_line}");
        println!(
            "{} round(s), {:.0} s, {}; medians over rounds; rvs/x = rvs's Mpps / this switch's; \
             NDR = RFC 2544 non-drop rate; p99 at = the rate of the latency trial (Mpps)",
            opts.rounds,
            t0.elapsed().as_secs_f64(),
            match ghz {
                Some(g) => format!("cycles at {g:.2} GHz"),
                None => "no CPU clock known".into(),
            }
        );
        print!("{}", table(&rows));
    }
    let written = write_plots(&opts.out, &rows, &samples)?;
    let json_file = opts.out.join("results.json");
    let mut all = String::new();
    all += &serde_json::to_string(&ceiling)?;
    all.push('\n');
    for r in samples.iter().map(|s| &s.row).chain(&rows) {
        all += &serde_json::to_string(r)?;
        all.push('\n');
    }
    std::fs::write(&json_file, all)
        .with_context(|| format!("cannot write {}", json_file.display()))?;
    eprintln!(
        "results: {} and {}",
        json_file.display(),
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !failures.is_empty() {
        bail!(
            "{} measurement(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}
