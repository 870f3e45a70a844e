//! `rvs-pktgen`: the rvs traffic generator and benchmark driver (`micro`,
//! `gen`, `veth`, `testpmd`).

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use rvs_bench::compare::{self, CompareOptions, PathKind, SwitchName};
use rvs_bench::gen::{self, GenKind, GenOptions};
use rvs_bench::measure::{MeasureConfig, Rate};
use rvs_bench::micro::{self, Case, CaseKind, MicroOptions};
use rvs_bench::run::{self as pktgen_run, EndpointSpec, RunOptions};
use rvs_bench::testpmd::{self, TestpmdOptions};
use rvs_bench::traffic::{FlowOrder, FrameSize, PortRange, TrafficSpec};
use rvs_bench::veth::{self, SwitchKind, VethOptions};
use rvs_bench::CountingAlloc;
use std::collections::BTreeMap;
use std::time::Duration;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[derive(Parser, Debug)]
#[command(
    name = "rvs-pktgen",
    version,
    about = "Traffic generator and benchmarks for the rvs virtual switch",
    long_about = "Traffic generator and benchmarks for the rvs virtual switch.\n\n\
        Subcommands:\n  run     the generator: vhost-user (any switch), AF_XDP, AF_PACKET or ring \
        endpoints; rate, RFC 2544 NDR/PDR search, latency percentiles, flow sweeps.\n  \
        compare rvs, Open vSwitch-DPDK and the Linux bridge side by side (vhost-user and veth \
        paths), interleaved rounds, one table, JSON and SVG plots (root).\n  micro   the datapath fast path in-process on one thread \
        (parse, EMC, megaflow cache, upcall+install), printing Mpps and ns/packet.\n  \
        gen     send UDP frames on a device through an rvs AF_XDP or AF_PACKET port.\n  \
        veth    switch throughput between two namespaces over veths: rvs-vswitchd \
        (AF_XDP, AF_PACKET ports) and the Linux bridge side by side (root).\n  \
        testpmd vhost-user switching with DPDK testpmd as generator and sink: \
        rvs-vswitchd and Open vSwitch-DPDK side by side (root).\n\n\
        Examples:\n  rvs-pktgen run --tx ring --rx ring            # the generator's own ceiling\n  \
        sudo target/release/rvs-pktgen compare --quick\n  \
        rvs-pktgen run --tx vhost-server:/tmp/g0.sock --rx vhost-server:/tmp/g1.sock --ndr --sweep 1,100,10000\n  \
        rvs-pktgen micro\n  rvs-pktgen micro --case emc_hit --flows 8192 --json\n  \
        valgrind --tool=callgrind rvs-pktgen micro --case megaflow_hit --subtables 10 --packets 100000 --repeat 1\n  \
        cargo build --release -p rvs-bench -p rvs-vswitchd -p rvs-ctl && \
        sudo target/release/rvs-pktgen veth --seconds 5 --rounds 3\n  \
        ip netns exec NS rvs-pktgen gen --iface eth0 --kind afxdp --seconds 5 --dst-mac 02:00:00:00:00:02\n  \
        sudo target/release/rvs-pktgen testpmd --switch both --flows 1,1000 --seconds 5 --runs 3"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to send (shared by `run` and `compare`).
#[derive(Args, Debug, Clone)]
struct TrafficArgs {
    /// Frame size on the wire, FCS included: 64 to 1518, or imix (7:4:1
    /// of 64, 594 and 1518).
    #[arg(long, default_value = "64")]
    frame: String,
    /// Flow order: seq (flow 0, 1, 2, ...) or random.
    #[arg(long, default_value = "seq")]
    order: String,
    /// Source MAC address.
    #[arg(long, default_value = "02:00:00:00:00:01")]
    src_mac: String,
    /// Destination MAC address.
    #[arg(long, default_value = "02:00:00:00:00:02")]
    dst_mac: String,
    /// First source IPv4 address (flows beyond the port ranges count up
    /// from it).
    #[arg(long, default_value = "198.18.0.1")]
    src_ip: std::net::Ipv4Addr,
    /// Destination IPv4 address.
    #[arg(long, default_value = "198.19.0.1")]
    dst_ip: std::net::Ipv4Addr,
    /// UDP source ports, N or N-M; flows use them first.
    #[arg(long, default_value = "1024-65535")]
    src_port: String,
    /// UDP destination ports, N or N-M.
    #[arg(long, default_value = "9")]
    dst_port: String,
    /// Add an 802.1Q tag with this VLAN id.
    #[arg(long)]
    vlan: Option<u16>,
}

impl TrafficArgs {
    fn spec(&self, flows: u32) -> Result<TrafficSpec> {
        let spec = TrafficSpec {
            frame: FrameSize::parse(&self.frame).map_err(|e| anyhow::anyhow!("--frame: {e}"))?,
            flows,
            order: match self.order.as_str() {
                "seq" | "sequential" => FlowOrder::Sequential,
                "random" => FlowOrder::Random,
                o => bail!("--order {o:?}: choose seq or random"),
            },
            src_mac: mac("--src-mac", &self.src_mac)?,
            dst_mac: mac("--dst-mac", &self.dst_mac)?,
            src_ip: self.src_ip,
            dst_ip: self.dst_ip,
            src_ports: PortRange::parse(&self.src_port)
                .map_err(|e| anyhow::anyhow!("--src-port: {e}"))?,
            dst_ports: PortRange::parse(&self.dst_port)
                .map_err(|e| anyhow::anyhow!("--dst-port: {e}"))?,
            vlan: self.vlan,
        };
        spec.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(spec)
    }
}

/// Parses `1,100,10k,1M` (k and M suffixes allowed).
fn flow_list(what: &str, s: &str) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for f in s.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (num, mult) = if let Some(n) = f.strip_suffix(['k', 'K']) {
            (n, 1000)
        } else if let Some(n) = f.strip_suffix('M') {
            (n, 1_000_000)
        } else {
            (f, 1)
        };
        match num.parse::<u32>().ok().and_then(|n| n.checked_mul(mult)) {
            Some(n) if n > 0 => out.push(n),
            _ => bail!("{what} takes flow counts like 1,100,10k,1M, not {f:?}"),
        }
    }
    if out.is_empty() {
        bail!("{what} names no flow count");
    }
    Ok(out)
}

fn positive_secs(what: &str, v: f64) -> Result<Duration> {
    if !(v > 0.0 && v.is_finite() && v < 86_400.0) {
        bail!("{what} must be a positive number of seconds, not {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The traffic generator: send on one endpoint, receive on the other,
    /// from one thread.
    ///
    /// Endpoints: vhost-server:PATH (listen; the switch's vhostuserclient /
    /// dpdkvhostuserclient port connects), vhost-client:PATH (connect to a
    /// vhostuser / dpdkvhostuser port), afxdp:DEV, afpacket:DEV, or ring
    /// (--tx ring --rx ring: no switch, the generator's own ceiling).
    ///
    /// Each flow count (--flows, or every one of --sweep) gets a warm-up
    /// trial, a trial at the highest rate (or --rate), with --ndr/--pdr the
    /// RFC 2544 search, and with --latency-at a latency trial at that share
    /// of the NDR (or of the maximum). Every frame carries a sequence
    /// number and a timestamp: loss, reordering and latency percentiles
    /// are counted per frame.
    Run {
        /// Where to send.
        #[arg(long)]
        tx: String,
        /// Where to receive.
        #[arg(long)]
        rx: String,
        #[command(flatten)]
        traffic: TrafficArgs,
        /// Distinct flows (5-tuples).
        #[arg(long, default_value = "1")]
        flows: String,
        /// Measure each of these flow counts in turn, e.g. 1,100,10k,100k,1M.
        #[arg(long)]
        sweep: Option<String>,
        /// Offered rate: 2.5Mpps, 800kpps, 100000 (pps) or 50% (of the
        /// measured maximum). Default: as fast as the endpoint takes frames.
        #[arg(long)]
        rate: Option<String>,
        /// Length of each trial.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Stop the main trial after this many frames.
        #[arg(long)]
        count: Option<u64>,
        /// Search the non-drop rate (RFC 2544 throughput, 0 loss).
        #[arg(long)]
        ndr: bool,
        /// Search the partial-drop rate with this loss in percent (e.g. 0.5).
        #[arg(long)]
        pdr: Option<f64>,
        /// Search precision: stop when the interval is this share of its top.
        #[arg(long, default_value_t = 0.01)]
        precision: f64,
        /// A latency trial at this share (0..1] of the NDR, or of the
        /// maximum without a search.
        #[arg(long)]
        latency_at: Option<f64>,
        /// Warm-up before each flow count, seconds (0: none).
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        /// Pin the generator thread to this CPU.
        #[arg(long)]
        cpu: Option<usize>,
        /// How long to wait for a vhost-user peer, seconds.
        #[arg(long, default_value_t = 60.0)]
        connect_timeout: f64,
        /// One JSON object per result row instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write results.json and throughput.svg to this directory.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// rvs side by side with Open vSwitch 3.1 DPDK and the Linux bridge
    /// (as root).
    ///
    /// Builds the same topology on each switch — vhost path: two
    /// vhost-user ports to the generator, in_port=1,actions=output:2;
    /// veth path: two veth pairs, AF_XDP ports (the Linux bridge enslaves
    /// them) — with the switch's poll-mode thread on --switch-cpu and the
    /// generator on --gen-cpu. Rounds interleave the switches; the table
    /// has medians: Mpps at the highest rate, NDR, p99 latency at half the
    /// NDR, busy cycles per packet, and rvs/other per row. It starts with
    /// the generator's own ceiling (ring, no switch). Switches that are not
    /// installed are skipped with a line saying how to install them.
    /// rvs-vswitchd, rvs-vsctl, rvs-ofctl and rvs-appctl must sit next to
    /// this executable (cargo build --release -p rvs-bench -p rvs-vswitchd
    /// -p rvs-ctl).
    Compare {
        /// Under a minute: one round, short trials, a coarse search; vhost
        /// at 1 and 10k flows, veth at 1 flow.
        #[arg(long)]
        quick: bool,
        /// Switches: rvs, ovs, linux-bridge (comma-separated).
        #[arg(long, default_value = "rvs,ovs,linux-bridge")]
        switch: String,
        /// Paths: vhost, veth, ring (rvs's datapath in-process between
        /// in-memory rings: no I/O; rvs only).
        #[arg(long, default_value = "vhost,veth")]
        path: String,
        /// Flow counts on the vhost path (default: 1,100,10k,100k,1M; quick: 1,10k).
        #[arg(long)]
        vhost_flows: Option<String>,
        /// Flow counts on the veth path (default: 1,10k; quick: 1).
        #[arg(long)]
        veth_flows: Option<String>,
        /// Frame size on the wire, FCS included (64 to 1518, or imix).
        #[arg(long, default_value = "64")]
        frame: String,
        /// Rounds (default 3; quick: 1).
        #[arg(long)]
        rounds: Option<usize>,
        /// Length of each trial, seconds (default 2; quick: 0.5).
        #[arg(long)]
        seconds: Option<f64>,
        /// Skip the NDR search.
        #[arg(long)]
        no_ndr: bool,
        /// CPU of the generator thread.
        #[arg(long, default_value_t = 0)]
        gen_cpu: usize,
        /// CPU of the switch's one poll-mode thread.
        #[arg(long, default_value_t = 1)]
        switch_cpu: usize,
        /// Memory for Open vSwitch's DPDK, MB (at least 2048 without hugepages).
        #[arg(long, default_value_t = 2048)]
        ovs_mem_mb: usize,
        /// One JSON object per sample and per median row.
        #[arg(long)]
        json: bool,
        /// Where results.json and the SVG plots go.
        #[arg(long, default_value = "rvs-pktgen-results")]
        out: std::path::PathBuf,
        /// Keep the switches' run directories (logs).
        #[arg(long)]
        keep: bool,
    },
    /// Datapath micro-benchmark: the fast path in-process on one thread.
    ///
    /// With no --case, runs the standard set: parse; emc_hit with 1 and 8192
    /// flows; megaflow_hit with 1, 10 and 20 subtables and 1k, 100k and 1M
    /// flows; miss_install. Frames are 64-byte Ethernet/IPv4/UDP.
    Micro {
        /// Run only this case: parse, emc_hit, megaflow_hit or miss_install.
        #[arg(long)]
        case: Option<String>,
        /// With --case: distinct flows in the traffic.
        #[arg(long)]
        flows: Option<usize>,
        /// With --case: megaflow subtables (distinct masks) to spread flows over.
        #[arg(long)]
        subtables: Option<usize>,
        /// Packets per timed run (fixed count, for callgrind comparisons).
        /// Without it each run lasts about --seconds.
        #[arg(long)]
        packets: Option<u64>,
        /// Length of one timed run when --packets is not given.
        #[arg(long, default_value_t = 0.5)]
        seconds: f64,
        /// Timed runs per case; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Print one JSON object per case instead of a table.
        #[arg(long)]
        json: bool,
        /// Exact-match cache entries (default: the datapath's, 16384; rounded
        /// up to a power of two).
        #[arg(long)]
        emc_entries: Option<usize>,
        /// EMC insertion odds: insert 1 in N misses (1 = always, 0 = EMC off).
        /// Default: the datapath's, 100; megaflow_hit uses 0.
        #[arg(long)]
        emc_insert_inv_prob: Option<u32>,
    },
    /// Packet generator: UDP frames on a device through an rvs port.
    ///
    /// Sends Ethernet/IPv4/UDP frames (valid IPv4 checksum, UDP checksum 0,
    /// --flows source ports) as fast as the port takes them, in bursts of
    /// 32, for --seconds; then prints one JSON line: sent, seconds, mpps,
    /// tx_dropped, allocs_per_pkt. Run it in a namespace with `ip netns exec`.
    Gen {
        /// The device to send on.
        #[arg(long)]
        iface: String,
        /// The rvs port: afxdp (generic mode) or afpacket.
        #[arg(long, default_value = "afxdp")]
        kind: String,
        /// How long to send.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Destination MAC address.
        #[arg(long, default_value = "02:00:00:00:00:02")]
        dst_mac: String,
        /// Source MAC address (default: the device's).
        #[arg(long)]
        src_mac: Option<String>,
        /// Distinct flows (UDP source ports).
        #[arg(long, default_value_t = 1)]
        flows: u32,
        /// Frame size on the wire in bytes, FCS included (64 to 1518).
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Switch throughput over veth pairs between two namespaces (as root).
    ///
    /// For each round and each switch (interleaved): fresh gen and sink
    /// namespaces, each with a veth pair; the switch joins the host ends;
    /// `rvs-pktgen gen` sends from gen to the sink's MAC; the sink's eth0
    /// rx_packets counts what was forwarded. Prints offered and forwarded
    /// Mpps per sample and the median per switch. rvs-vswitchd, rvs-vsctl
    /// and rvs-appctl must sit next to this executable (cargo build
    /// --release -p rvs-bench -p rvs-vswitchd -p rvs-ctl).
    Veth {
        /// Comma-separated switches: rvs-afxdp, rvs-afpacket, linux-bridge.
        #[arg(long, default_value = "rvs-afxdp,rvs-afpacket,linux-bridge")]
        switch: String,
        /// Generator run time per measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Rounds; each measures every switch once.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// The generator's port: afxdp or afpacket.
        #[arg(long, default_value = "afxdp")]
        gen: String,
        /// Distinct flows (UDP source ports).
        #[arg(long, default_value_t = 1)]
        flows: u32,
        /// Frame size on the wire in bytes, FCS included (64 to 1518).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// One JSON object per sample and per switch summary instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// vhost-user switching: DPDK testpmd -> switch -> testpmd (as root).
    ///
    /// Each measurement starts a fresh switch with bridge br0 and two
    /// vhost-user client ports (rvs: type=vhostuserclient; Open vSwitch 3.1
    /// with DPDK, private to this run: type=dpdkvhostuserclient), flow
    /// in_port=1,actions=output:2, and one dpdk-testpmd (no hugepages) whose
    /// two virtio-user ports listen on the ports' sockets (server=1). testpmd
    /// runs `flowgen` on one forwarding core: port 0 sends --flows UDP flows
    /// of --size bytes through the switch, port 1 counts what arrives (it
    /// sends too; with no flow for in_port=2 the switch drops that). Why not
    /// txonly and rxonly in two testpmds: on 2 CPUs two busy pollers would
    /// share one and the result would measure the scheduler.
    ///
    /// Prints per run offered and forwarded Mpps (testpmd's own rates over
    /// the window) and the switch's poll-mode thread busy share and busy ns
    /// per packet; then the median per switch and flow count and rvs/ovs.
    /// Runs interleave switches and flow counts. rvs-vswitchd, rvs-vsctl,
    /// rvs-ofctl and rvs-appctl must sit next to this executable (cargo build
    /// --release -p rvs-bench -p rvs-vswitchd -p rvs-ctl); Open vSwitch needs
    /// Debian's openvswitch-switch-dpdk, testpmd dpdk-dev and
    /// librte-net-virtio23. Nothing system-wide is touched: every process,
    /// socket and directory is the run's own and removed after it.
    Testpmd {
        /// Switches: rvs, ovs, both (= rvs,ovs).
        #[arg(long, default_value = "both")]
        switch: String,
        /// Comma-separated flow counts (testpmd --flowgen-flows), each
        /// measured in every run.
        #[arg(long, default_value = "1,1000")]
        flows: String,
        /// Length of the measured window.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Traffic before the window (flow setup, caches warm).
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Runs; each measures every switch at every flow count once.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Frame size on the wire in bytes, FCS included (testpmd --txpkts).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// CPU of testpmd's forwarding core.
        #[arg(long, default_value_t = 0)]
        gen_cpu: usize,
        /// CPU of the switch's one poll-mode thread (pmd-cpu-mask).
        #[arg(long, default_value_t = 1)]
        switch_cpu: usize,
        /// Also forward port 2 to port 1 and count both directions.
        #[arg(long)]
        bidir: bool,
        /// Memory for Open vSwitch's DPDK, MB (at least 2048 without hugepages).
        #[arg(long, default_value_t = 2048)]
        ovs_mem_mb: usize,
        /// One JSON object per sample, summary and ratio instead of a table.
        #[arg(long)]
        json: bool,
        /// Keep each run's directories (switch and testpmd logs).
        #[arg(long)]
        keep: bool,
    },
}

fn gen_kind(name: &str) -> Result<GenKind> {
    match GenKind::from_name(name) {
        Some(k) => Ok(k),
        None => bail!("unknown port kind {name:?}: choose afxdp or afpacket"),
    }
}

fn mac(what: &str, s: &str) -> Result<[u8; 6]> {
    match gen::parse_mac(s) {
        Some(m) => Ok(m),
        None => bail!("{what} {s:?} is not a MAC address like 02:00:00:00:00:02"),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            tx,
            rx,
            traffic,
            flows,
            sweep,
            rate,
            seconds,
            count,
            ndr,
            pdr,
            precision,
            latency_at,
            warmup,
            cpu,
            connect_timeout,
            json,
            out,
        } => {
            let flows = flow_list("--flows", &flows)?;
            if flows.len() > 1 {
                bail!("--flows takes one count; use --sweep for several");
            }
            let sweep = match sweep {
                Some(s) => flow_list("--sweep", &s)?,
                None => flows.clone(),
            };
            if ndr && pdr.is_some() {
                bail!("--ndr and --pdr exclude each other");
            }
            if pdr.is_some_and(|p| !(p > 0.0 && p < 100.0)) {
                bail!("--pdr takes a loss in percent between 0 and 100, like 0.5");
            }
            if !(precision > 0.0 && precision < 0.5) {
                bail!("--precision must be between 0 and 0.5, like 0.01");
            }
            if latency_at.is_some_and(|l| !(l > 0.0 && l <= 1.0)) {
                bail!("--latency-at takes a share in (0, 1], like 0.5");
            }
            if count == Some(0) {
                bail!("--count must be at least 1");
            }
            if !(warmup >= 0.0 && warmup.is_finite()) {
                bail!("--warmup must be zero or more seconds");
            }
            let rate = rate
                .map(|r| Rate::parse(&r).map_err(|e| anyhow::anyhow!("--rate: {e}")))
                .transpose()?;
            let opts = RunOptions {
                tx: EndpointSpec::parse(&tx).map_err(|e| anyhow::anyhow!("--tx: {e}"))?,
                rx: EndpointSpec::parse(&rx).map_err(|e| anyhow::anyhow!("--rx: {e}"))?,
                traffic: traffic.spec(flows[0])?,
                sweep,
                measure: MeasureConfig {
                    trial: positive_secs("--seconds", seconds)?,
                    warmup: Duration::from_secs_f64(warmup),
                    search_loss: if ndr {
                        Some(0.0)
                    } else {
                        pdr.map(|p| p / 100.0)
                    },
                    precision,
                    max_trials: 20,
                    latency_load: latency_at.unwrap_or(0.0),
                    rate,
                    count,
                },
                connect_timeout: positive_secs("--connect-timeout", connect_timeout)?,
                cpu,
                json,
                out,
            };
            for f in &opts.sweep {
                traffic.spec(*f)?;
            }
            pktgen_run::run(&opts)
        }
        Command::Compare {
            quick,
            switch,
            path,
            vhost_flows,
            veth_flows,
            frame,
            rounds,
            seconds,
            no_ndr,
            gen_cpu,
            switch_cpu,
            ovs_mem_mb,
            json,
            out,
            keep,
        } => {
            let mut switches = Vec::new();
            for s in switch.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let k = SwitchName::parse(s)?;
                if switches.contains(&k) {
                    bail!("--switch names {s} twice");
                }
                switches.push(k);
            }
            let mut paths = Vec::new();
            for p in path.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let k = PathKind::parse(p)?;
                if !paths.contains(&k) {
                    paths.push(k);
                }
            }
            if switches.is_empty() || paths.is_empty() {
                bail!("--switch and --path must name at least one each");
            }
            let mut flows = BTreeMap::new();
            // The ring path sweeps the vhost path's flow counts.
            let vhost = flow_list(
                "--vhost-flows",
                vhost_flows
                    .as_deref()
                    .unwrap_or(if quick { "1,10k" } else { "1,100,10k,100k,1M" }),
            )?;
            flows.insert(PathKind::Ring, vhost.clone());
            flows.insert(PathKind::Vhost, vhost);
            flows.insert(
                PathKind::Veth,
                flow_list(
                    "--veth-flows",
                    veth_flows
                        .as_deref()
                        .unwrap_or(if quick { "1" } else { "1,10k" }),
                )?,
            );
            let rounds = rounds.unwrap_or(if quick { 1 } else { 3 });
            if rounds == 0 {
                bail!("--rounds must be at least 1");
            }
            let trial = positive_secs(
                "--seconds",
                seconds.unwrap_or(if quick { 0.5 } else { 2.0 }),
            )?;
            if ovs_mem_mb < 2048 && switches.contains(&SwitchName::Ovs) {
                bail!("--ovs-mem-mb must be at least 2048: Open vSwitch's packet buffer pool does not fit in less without hugepages");
            }
            let frame = FrameSize::parse(&frame).map_err(|e| anyhow::anyhow!("--frame: {e}"))?;
            compare::run_compare(&CompareOptions {
                switches,
                paths,
                flows,
                frame,
                rounds,
                measure: MeasureConfig {
                    trial,
                    warmup: Duration::from_millis(if quick { 200 } else { 500 }),
                    search_loss: (!no_ndr).then_some(0.0),
                    precision: if quick { 0.05 } else { 0.01 },
                    max_trials: if quick { 6 } else { 14 },
                    latency_load: 0.5,
                    rate: None,
                    count: None,
                },
                gen_cpu,
                switch_cpu,
                ovs_mem_mb,
                json,
                out,
                keep,
            })
        }
        Command::Testpmd {
            switch,
            flows,
            seconds,
            warmup,
            runs,
            size,
            gen_cpu,
            switch_cpu,
            bidir,
            ovs_mem_mb,
            json,
            keep,
        } => {
            let mut counts = Vec::new();
            for f in flows.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                match f.parse::<u32>() {
                    Ok(n) if n > 0 => counts.push(n),
                    _ => bail!("--flows takes flow counts like 1,1000, not {f:?}"),
                }
            }
            testpmd::run_testpmd(&TestpmdOptions {
                switches: testpmd::SwitchKind::parse_list(&switch)?,
                flows: counts,
                seconds,
                warmup,
                runs,
                size,
                gen_cpu,
                switch_cpu,
                bidir,
                ovs_mem_mb,
                json,
                keep,
            })
        }
        Command::Gen {
            iface,
            kind,
            seconds,
            dst_mac,
            src_mac,
            flows,
            size,
        } => {
            let opts = GenOptions {
                iface,
                kind: gen_kind(&kind)?,
                seconds,
                dst_mac: mac("--dst-mac", &dst_mac)?,
                src_mac: src_mac.map(|m| mac("--src-mac", &m)).transpose()?,
                flows,
                size,
            };
            let r = gen::generate(&opts)?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        Command::Veth {
            switch,
            seconds,
            rounds,
            gen,
            flows,
            size,
            json,
        } => {
            let mut switches = Vec::new();
            for name in switch.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match SwitchKind::from_name(name) {
                    Some(k) if !switches.contains(&k) => switches.push(k),
                    Some(_) => bail!("--switch names {name} twice"),
                    None => bail!(
                        "unknown switch {name:?}: choose from rvs-afxdp, rvs-afpacket, linux-bridge"
                    ),
                }
            }
            if !(gen::MIN_SIZE..=gen::MAX_SIZE).contains(&size) {
                bail!(
                    "--size must be between {} and {} bytes",
                    gen::MIN_SIZE,
                    gen::MAX_SIZE
                );
            }
            if flows == 0 {
                bail!("--flows must be at least 1");
            }
            veth::run_veth(&VethOptions {
                switches,
                seconds,
                rounds,
                gen: gen_kind(&gen)?,
                flows,
                size,
                json,
            })
        }
        Command::Micro {
            case,
            flows,
            subtables,
            packets,
            seconds,
            repeat,
            json,
            emc_entries,
            emc_insert_inv_prob,
        } => {
            if !(seconds > 0.0 && seconds.is_finite()) {
                bail!("--seconds must be a positive number of seconds, not {seconds}");
            }
            if repeat == 0 {
                bail!("--repeat must be at least 1");
            }
            let cases = match case {
                None => {
                    if flows.is_some() || subtables.is_some() {
                        bail!("--flows and --subtables apply to one case: add --case NAME");
                    }
                    micro::default_cases()
                }
                Some(name) => {
                    let Some(kind) = CaseKind::from_name(&name) else {
                        bail!(
                            "unknown case {name:?}: choose parse, emc_hit, megaflow_hit or miss_install"
                        );
                    };
                    let flows = flows.unwrap_or(match kind {
                        CaseKind::Parse => 1024,
                        CaseKind::EmcHit => 1,
                        CaseKind::MegaflowHit => 1000,
                        CaseKind::MissInstall => 1_000_000,
                    });
                    if flows == 0 {
                        bail!("--flows must be at least 1");
                    }
                    let subtables = subtables.unwrap_or(1);
                    if kind == CaseKind::MegaflowHit && !(1..=32).contains(&subtables) {
                        bail!("--subtables must be between 1 and 32");
                    }
                    if subtables > flows {
                        bail!("--subtables ({subtables}) cannot exceed --flows ({flows})");
                    }
                    vec![Case {
                        kind,
                        flows,
                        subtables: if kind == CaseKind::Parse {
                            0
                        } else {
                            subtables
                        },
                    }]
                }
            };
            if emc_entries.is_some_and(|n| n == 0 || n > 1 << 24) {
                bail!("--emc-entries must be between 1 and 16777216");
            }
            let opts = MicroOptions {
                packets,
                seconds,
                repeat,
                emc_entries,
                emc_insert_inv_prob,
            };
            if !json {
                println!(
                    "{:<14} {:>9} {:>9} {:>9} {:>9} {:>17} {:>8} {:>8} {:>7}",
                    "case",
                    "flows",
                    "subtables",
                    "Mpps",
                    "ns/pkt",
                    "min..max Mpps",
                    "emc",
                    "mflow",
                    "alloc/p"
                );
            }
            for (i, c) in cases.iter().enumerate() {
                eprintln!(
                    "[{}/{}] {} flows={} subtables={}",
                    i + 1,
                    cases.len(),
                    c.kind.name(),
                    c.flows,
                    c.subtables
                );
                let r = micro::run_case(*c, &opts);
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{:<14} {:>9} {:>9} {:>9.2} {:>9.1} {:>8.2}..{:<8.2} {:>7.1}% {:>7.1}% {:>7.3}",
                        r.case,
                        r.flows,
                        r.subtables,
                        r.mpps,
                        r.ns_per_pkt,
                        r.mpps_min,
                        r.mpps_max,
                        r.emc_hit_rate * 100.0,
                        r.megaflow_hit_rate * 100.0,
                        r.allocs_per_pkt
                    );
                }
            }
            Ok(())
        }
    }
}
