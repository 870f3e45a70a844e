//! `rvs-pktgen run`: the generator on endpoints the user names — a
//! vhost-user socket of any switch, a network device, or the in-memory
//! ring — with traffic, rate, search and latency as asked, and a sweep
//! over flow counts.
//!
//! Endpoint specifications:
//! - `vhost-server:PATH` — listen on PATH; the switch's vhost-user client
//!   port (`vhostuserclient`, `dpdkvhostuserclient`) connects to it.
//! - `vhost-client:PATH` — connect to the switch's vhost-user server port
//!   (`vhostuser`, `dpdkvhostuser`) at PATH.
//! - `afxdp:DEV`, `afpacket:DEV` — AF_XDP (generic mode) or AF_PACKET on
//!   a network device.
//! - `ring` — both ends of an in-memory ring pair (`--tx ring --rx ring`):
//!   no switch at all, the generator's own ceiling.

use crate::endpoint::Endpoint;
use crate::measure::{self, fmt_opt, MeasureConfig, Row, TrialCounter};
use crate::plot::{Chart, Scale, Series};
use crate::traffic::{FrameBuilder, TrafficSpec};
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use rvs_datapath::port::ring::ring_pair;
use rvs_vmm::net::NetConfig;
use rvs_vmm::vhost_user::Listener;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Where to send or receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSpec {
    VhostServer(PathBuf),
    VhostClient(PathBuf),
    AfXdp(String),
    AfPacket(String),
    Ring,
}

impl EndpointSpec {
    pub fn parse(s: &str) -> Result<EndpointSpec> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        let need = |what: &str| -> Result<String> {
            if arg.is_empty() {
                bail!(
                    "endpoint {s:?}: {kind} needs {what}, like {kind}:{}",
                    if what == "a socket path" {
                        "/tmp/gen0.sock"
                    } else {
                        "veth0"
                    }
                );
            }
            Ok(arg.to_string())
        };
        Ok(match kind {
            "vhost-server" => EndpointSpec::VhostServer(need("a socket path")?.into()),
            "vhost-client" => EndpointSpec::VhostClient(need("a socket path")?.into()),
            "afxdp" => EndpointSpec::AfXdp(need("a device")?),
            "afpacket" => EndpointSpec::AfPacket(need("a device")?),
            "ring" if arg.is_empty() => EndpointSpec::Ring,
            _ => bail!(
                "unknown endpoint {s:?}: use vhost-server:PATH, vhost-client:PATH, afxdp:DEV, afpacket:DEV or ring"
            ),
        })
    }
}

/// What `run` does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub tx: EndpointSpec,
    pub rx: EndpointSpec,
    pub traffic: TrafficSpec,
    /// Flow counts to measure in turn (a sweep), or just `traffic.flows`.
    pub sweep: Vec<u32>,
    pub measure: MeasureConfig,
    /// How long to wait for a vhost-user peer.
    pub connect_timeout: Duration,
    pub cpu: Option<usize>,
    pub json: bool,
    pub out: Option<PathBuf>,
}

/// One row of `run`'s output (a JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub switch: String,
    pub path: String,
    pub frame: String,
    pub flows: u32,
    pub mpps: f64,
    pub gbps: f64,
    pub tx_mpps: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss_ratio: f64,
    pub reordered: u64,
    pub foreign: u64,
    pub ndr_mpps: Option<f64>,
    pub search_trials: usize,
    pub p50_us: Option<f64>,
    pub p90_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub max_us: Option<f64>,
    pub latency_at_mpps: Option<f64>,
}

fn open(spec: &EndpointSpec, listener: Option<&Listener>, timeout: Duration) -> Result<Endpoint> {
    let cfg = NetConfig::default();
    match spec {
        EndpointSpec::VhostServer(p) => {
            let l = listener.with_context(|| format!("no listener on {}", p.display()))?;
            eprintln!(
                "waiting up to {:.0} s for the switch to connect to {}",
                timeout.as_secs_f64(),
                p.display()
            );
            Endpoint::vhost_accept(l, &cfg, timeout)
        }
        EndpointSpec::VhostClient(p) => Endpoint::vhost_connect(p, &cfg, timeout),
        EndpointSpec::AfXdp(d) => Endpoint::afxdp(d),
        EndpointSpec::AfPacket(d) => Endpoint::afpacket(d),
        EndpointSpec::Ring => bail!("ring endpoints come in pairs: --tx ring --rx ring"),
    }
}

fn row_of(o: &RunOptions, flows: u32, r: &Row) -> RunRow {
    let l = r.latency;
    RunRow {
        switch: "-".into(),
        path: format!("{:?} -> {:?}", o.tx, o.rx),
        frame: o.traffic.frame.to_string(),
        flows,
        mpps: r.main.rx_pps() / 1e6,
        gbps: r.main.rx_gbps(),
        tx_mpps: r.main.tx_pps() / 1e6,
        sent: r.main.sent,
        received: r.main.received,
        lost: r.main.lost,
        loss_ratio: r.main.loss_ratio(),
        reordered: r.main.reordered,
        foreign: r.main.foreign,
        ndr_mpps: r.searched_pps.map(|p| p / 1e6),
        search_trials: r.search_trials,
        p50_us: l.map(|l| l.p50_us).or_else(|| hist_us(r, 0.5)),
        p90_us: l.map(|l| l.p90_us).or_else(|| hist_us(r, 0.9)),
        p99_us: l.map(|l| l.p99_us).or_else(|| hist_us(r, 0.99)),
        p999_us: l.map(|l| l.p999_us).or_else(|| hist_us(r, 0.999)),
        max_us: l
            .map(|l| l.max_us)
            .or_else(|| (r.main.latency.count() > 0).then(|| r.main.latency.max() as f64 / 1000.0)),
        latency_at_mpps: l.map(|l| l.at_mpps).or_else(|| Some(r.main.tx_pps() / 1e6)),
    }
}

/// The main trial's own latency when there was no latency trial.
fn hist_us(r: &Row, q: f64) -> Option<f64> {
    (r.main.latency.count() > 0).then(|| r.main.latency.percentile(q) as f64 / 1000.0)
}

/// Runs and prints.
pub fn run(o: &RunOptions) -> Result<()> {
    if let Some(c) = o.cpu {
        rvs_datapath::port::pin_thread_to_core(c)?;
    }
    crate::switches::install_interrupt_handler()?;
    let (mut tx, mut rx) = if o.tx == EndpointSpec::Ring || o.rx == EndpointSpec::Ring {
        if o.tx != o.rx {
            bail!("ring endpoints come in pairs: --tx ring --rx ring");
        }
        let (a, b) = ring_pair("gen-tx", "gen-rx", 4096);
        (Endpoint::port(Box::new(a)), Endpoint::port(Box::new(b)))
    } else {
        // Bind both listening sockets before waiting on either, so that a
        // switch may connect its two ports in any order.
        let bind = |s: &EndpointSpec| -> Result<Option<Listener>> {
            match s {
                EndpointSpec::VhostServer(p) => Ok(Some(Listener::bind(p)?)),
                _ => Ok(None),
            }
        };
        let (lt, lr) = (bind(&o.tx)?, bind(&o.rx)?);
        let tx = open(&o.tx, lt.as_ref(), o.connect_timeout)?;
        let rx = open(&o.rx, lr.as_ref(), o.connect_timeout)?;
        (tx, rx)
    };
    let bar = ProgressBar::new(o.sweep.len() as u64);
    let mut counter = TrialCounter::default();
    let mut rows = Vec::new();
    for &flows in &o.sweep {
        crate::switches::check_interrupted()?;
        let spec = TrafficSpec {
            flows,
            ..o.traffic.clone()
        };
        let mut builder = FrameBuilder::new(&spec)?;
        let r = measure::measure_row(
            &mut tx,
            &mut rx,
            &mut builder,
            &o.measure,
            &mut counter,
            &mut |what| bar.set_message(format!("{flows} flows: {what}")),
        )?;
        let row = row_of(o, flows, &r);
        if o.json {
            let line = serde_json::to_string(&row)?;
            bar.suspend(|| println!("{line}"));
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !o.json {
        println!(
            "{:>8} {:>8} {:>8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "flows",
            "tx Mpps",
            "Mpps",
            "Gbps",
            "loss",
            "reorder",
            "NDR",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "p99.9",
            "max µs"
        );
        for r in &rows {
            println!(
                "{:>8} {:>8.3} {:>8.3} {:>7.2} {:>10.2e} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                r.flows,
                r.tx_mpps,
                r.mpps,
                r.gbps,
                r.loss_ratio,
                r.reordered,
                fmt_opt(r.ndr_mpps, 3),
                fmt_opt(r.p50_us, 1),
                fmt_opt(r.p90_us, 1),
                fmt_opt(r.p99_us, 1),
                fmt_opt(r.p999_us, 1),
                fmt_opt(r.max_us, 1),
            );
        }
    }
    if let Some(dir) = &o.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let chart = Chart {
            title: "forwarded Mpps by flow count".into(),
            x_label: "flows".into(),
            y_label: "Mpps".into(),
            x_scale: Scale::Log10,
            y_scale: Scale::Linear,
            series: vec![Series {
                name: "rx".into(),
                points: rows.iter().map(|r| (f64::from(r.flows), r.mpps)).collect(),
            }],
        };
        std::fs::write(dir.join("throughput.svg"), chart.to_svg())?;
        let mut lines = String::new();
        for r in &rows {
            lines += &serde_json::to_string(r)?;
            lines.push('\n');
        }
        std::fs::write(dir.join("results.json"), lines)?;
        eprintln!("results in {}", dir.display());
    }
    Ok(())
}
