//! `rvs-ovsdb-server`: the rvs configuration database as a standalone server.

use anyhow::{Context, Result};
use clap::Parser;
use rvs_ovsdb::schema::DatabaseSchema;
use rvs_ovsdb::server::{vswitch_schema, Server};
use std::path::PathBuf;

// Building and dropping the JSON of a large initial monitor reply is mostly
// allocator work; mimalloc does it in less CPU than glibc's malloc (see
// BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "rvs-ovsdb-server",
    version,
    about = "The rvs configuration database server (OVSDB, RFC 7047)",
    long_about = "The rvs configuration database server. It speaks OVSDB (RFC 7047) \
        JSON-RPC, so the real ovs-vsctl, ovsdb-client and libvirt work against it, \
        as does rvs-vsctl.\n\n\
        Each DBFILE is created with the built-in Open_vSwitch schema (or --schema) \
        if it does not exist. Every transaction is written and synced to its file \
        before it is acknowledged.\n\n\
        Examples:\n  rvs-ovsdb-server /tmp/conf.db --remote punix:/tmp/db.sock\n  \
        rvs-ovsdb-server conf.db --remote ptcp:6640 --remote punix:/run/rvs/db.sock\n  \
        ovs-vsctl --db=unix:/tmp/db.sock --no-wait init"
)]
struct Cli {
    /// Database files to serve (default: $RVS_DBDIR/conf.db, or
    /// /var/lib/rvs/conf.db).
    dbfiles: Vec<PathBuf>,
    /// Where to listen: punix:PATH (mode 0660) or ptcp:PORT[:ADDRESS]
    /// (loopback unless ADDRESS is given). Repeat for several.
    /// Default: punix:$RVS_RUNDIR/db.sock (RVS_RUNDIR defaults to /var/run/rvs).
    #[arg(long = "remote", value_name = "REMOTE")]
    remotes: Vec<String>,
    /// Schema for databases that do not exist yet (default: the built-in
    /// Open_vSwitch schema).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Messages a client may leave unread before it is disconnected (so a
    /// client that stops reading cannot hold the server up).
    #[arg(long, value_name = "N", default_value_t = rvs_ovsdb::server::SEND_QUEUE)]
    max_queued_messages: usize,
    /// Write the process id to FILE.
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let schema = match &cli.schema {
        None => vswitch_schema(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read schema {}", p.display()))?;
            DatabaseSchema::parse(&text)
                .with_context(|| format!("{} is not a valid OVSDB schema", p.display()))?
        }
    };
    let files = if cli.dbfiles.is_empty() {
        let dir = std::env::var_os("RVS_DBDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/rvs"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        vec![dir.join("conf.db")]
    } else {
        cli.dbfiles.clone()
    };
    let remotes = if cli.remotes.is_empty() {
        let dir = std::env::var_os("RVS_RUNDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/run/rvs"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        vec![format!("punix:{}", dir.join("db.sock").display())]
    } else {
        cli.remotes.clone()
    };
    let server = Server::open(&files, &schema)?;
    server.set_send_queue(cli.max_queued_messages);
    let mut bound = Vec::new();
    for r in &remotes {
        bound.push(server.listen(r)?);
    }
    if let Some(p) = &cli.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pidfile {}", p.display()))?;
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    eprintln!(
        "rvs-ovsdb-server: serving {} on {}",
        names.join(", "),
        bound.join(", ")
    );
    loop {
        std::thread::park();
    }
}
