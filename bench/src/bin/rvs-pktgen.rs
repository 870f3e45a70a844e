//! `rvs-pktgen`: the rvs traffic generator and benchmark driver (`micro`,
//! `gen`, `veth`, `testpmd`).

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use rvs_bench::gen::{self, GenKind, GenOptions};
use rvs_bench::micro::{self, Case, CaseKind, MicroOptions};
use rvs_bench::testpmd::{self, TestpmdOptions};
use rvs_bench::veth::{self, SwitchKind, VethOptions};
use rvs_bench::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[derive(Parser, Debug)]
#[command(
    name = "rvs-pktgen",
    version,
    about = "Traffic generator and benchmarks for the rvs virtual switch",
    long_about = "Traffic generator and benchmarks for the rvs virtual switch.\n\n\
        Subcommands:\n  micro   the datapath fast path in-process on one thread \
        (parse, EMC, megaflow cache, upcall+install), printing Mpps and ns/packet.\n  \
        gen     send UDP frames on a device through an rvs AF_XDP or AF_PACKET port.\n  \
        veth    switch throughput between two namespaces over veths: rvs-vswitchd \
        (AF_XDP, AF_PACKET ports) and the Linux bridge side by side (root).\n  \
        testpmd vhost-user switching with DPDK testpmd as generator and sink: \
        rvs-vswitchd and Open vSwitch-DPDK side by side (root).\n\n\
        Examples:\n  rvs-pktgen micro\n  rvs-pktgen micro --case emc_hit --flows 8192 --json\n  \
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

#[derive(Subcommand, Debug)]
enum Command {
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
