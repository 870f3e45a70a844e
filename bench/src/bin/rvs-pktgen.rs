//! `rvs-pktgen`: the rvs traffic generator and benchmark driver.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use rvs_bench::micro::{self, Case, CaseKind, MicroOptions};
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
        (parse, EMC, megaflow cache, upcall+install), printing Mpps and ns/packet.\n\n\
        Examples:\n  rvs-pktgen micro\n  rvs-pktgen micro --case emc_hit --flows 8192 --json\n  \
        valgrind --tool=callgrind rvs-pktgen micro --case megaflow_hit --subtables 10 --packets 100000 --repeat 1"
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
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
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
