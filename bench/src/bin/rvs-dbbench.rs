//! `rvs-dbbench`: the configuration database against Open vSwitch's, side by side.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use rvs_bench::dbbench::{self, Measurement, ServerKind};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "rvs-dbbench",
    version,
    about = "Benchmarks rvs-ovsdb-server side by side with Open vSwitch's ovsdb-server",
    long_about = "Benchmarks rvs-ovsdb-server side by side with Open vSwitch's ovsdb-server \
        (Debian's openvswitch-common), both on rvs's vswitch schema, in one run.\n\n\
        Examples:\n  rvs-dbbench txn --clients 1,16 --seconds 3\n  \
        rvs-dbbench add-port --ports 1000,10000 --tool /opt/rvs-tools/openvswitch-switch/usr/bin/ovs-vsctl"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// Print one JSON object per measurement.
    #[arg(long, global = true)]
    json: bool,
    /// Servers to measure: rvs, ovs or both (alternating, so drift hits both).
    #[arg(long, global = true, default_value = "both")]
    server: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Transactions per second from concurrent clients.
    Txn {
        /// Client counts to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        clients: Vec<usize>,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Rounds (each server once per round, alternating).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Add {"op":"commit","durable":true} to every transaction, which
        /// makes Open vSwitch's server sync to disk as rvs always does.
        #[arg(long)]
        durable: bool,
    },
    /// Time of one `--no-wait add-port` with many ports already present.
    AddPort {
        /// Ports present, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        ports: Vec<usize>,
        /// The configuration tool(s) to time; repeat for several.
        #[arg(long, required = true)]
        tool: Vec<PathBuf>,
        /// add-port runs per measurement (the median is reported).
        #[arg(long, default_value_t = 5)]
        samples: usize,
    },
}

fn print(m: &Measurement, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(m)?);
    } else if let Some(t) = m.txn_per_sec {
        println!(
            "{:<12} {:<18} clients={:<4} {:>10.0} txn/s",
            m.bench, m.server, m.n, t
        );
    } else {
        println!(
            "{:<8} {:<18} ports={:<6} tool={:<10} median {:>8.1} ms  samples {:?}",
            m.bench,
            m.server,
            m.n,
            m.tool.as_deref().unwrap_or(""),
            m.ms_median.unwrap_or(f64::NAN),
            m.ms_samples
                .iter()
                .map(|x| (x * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let servers = match cli.server.as_str() {
        "rvs" => vec![ServerKind::Rvs],
        "ovs" => vec![ServerKind::Ovs],
        "both" => vec![ServerKind::Rvs, ServerKind::Ovs],
        other => bail!("--server must be rvs, ovs or both, not {other:?}"),
    };
    match cli.command {
        Cmd::Txn {
            clients,
            seconds,
            rounds,
            durable,
        } => {
            if seconds.is_nan() || seconds <= 0.0 || clients.contains(&0) {
                bail!("--seconds must be positive and every client count at least 1");
            }
            for round in 0..rounds {
                eprintln!("round {}/{rounds}", round + 1);
                for &n in &clients {
                    for &k in &servers {
                        print(&dbbench::txn_rate(k, n, seconds, durable)?, cli.json)?;
                    }
                }
            }
        }
        Cmd::AddPort {
            ports,
            tool,
            samples,
        } => {
            if samples == 0 {
                bail!("--samples must be at least 1");
            }
            for &n in &ports {
                for t in &tool {
                    for &k in &servers {
                        eprintln!(
                            "populating {n} ports on {} for {} ...",
                            k.name(),
                            t.display()
                        );
                        print(&dbbench::add_port_time(k, t, n, samples)?, cli.json)?;
                    }
                }
            }
        }
    }
    Ok(())
}
