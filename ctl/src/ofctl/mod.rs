//! `rvs-ofctl`: manages an OpenFlow 1.3 switch (rvs-vswitchd's bridges, or
//! any other) in the command language of `ovs-ofctl`, and prints what
//! `ovs-ofctl -O OpenFlow13` prints, so that scripts written for one work
//! with the other.
//!
//! One run:
//!
//! 1. [`options`] reads the command line (options anywhere, as GNU getopt
//!    allows `ovs-ofctl`); `-O` may only ask for OpenFlow 1.3;
//! 2. the command ([`commands`]) reads its arguments — flows in the
//!    `ovs-ofctl` syntax of `rvs-openflow`'s flow syntax module, files,
//!    ports, packets — and stops with nothing sent if any is wrong;
//! 3. it opens a [`conn::Connection`] (HELLO, version check) to SWITCH
//!    (`unix:PATH`, `tcp:IP[:PORT]`, or a bridge name, i.e.
//!    `$RVS_RUNDIR/BRIDGE.mgmt`), sends its requests, each change followed
//!    by a barrier, and follows multipart replies to the last;
//! 4. it prints the replies with [`print`], Open vSwitch's `ofp_print`
//!    rewritten; an OpenFlow ERROR from the switch is printed the same way
//!    (on standard error) and ends the run with status 1.
//!
//! Every OpenFlow message is encoded and decoded by `rvs-openflow`; this
//! module only decides what to send and how to show what comes back.
//!
//! It also talks to the switch as `ovs-ofctl` does: port names are
//! fetched (PORT_DESC, on a connection of their own) at the same points,
//! every change is followed by a barrier, and transaction ids are
//! numbered alike, so even the `xid=` in the output is the same.
//! `ovs-ofctl` also fetches table names (TABLE_FEATURES); `rvs-ofctl`,
//! whose flow syntax has no table names, skips the ids that costs instead.
//!
//! Deliberate differences from `ovs-ofctl`: only OpenFlow 1.3 (the
//! default, `-O` optional); an ERROR answering a statistics request goes
//! to standard error with exit status 1 (ovs-ofctl prints it on standard
//! output and exits 0); a syntax error also says where the bad token is;
//! `diff-flows` lists flows by table, priority and match rather than in
//! classifier order; a PACKET_OUT quoted in an ERROR shows its packet in
//! hex, not dissected; no bundles, groups, meters, `monitor` or `snoop`.
//!
//! For tests and other programs: [`run`] runs a command line with given
//! streams and returns the exit status; [`run_captured`] returns the
//! output as strings; [`conn::Session`] and [`conn::Connection`] speak to
//! a switch directly.

pub mod commands;
pub mod conn;
pub mod error;
pub mod flows;
pub mod help;
pub mod names;
pub mod options;
pub mod print;

pub use conn::{Connection, Session};
pub use error::{OfctlError, Result};

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use options::Invocation;

/// Where `rvs-ofctl` finds bridges when `RVS_RUNDIR` is not set.
pub const DEFAULT_RUNDIR: &str = "/var/run/rvs";

/// The run directory: `RVS_RUNDIR`, or [`DEFAULT_RUNDIR`].
pub fn rundir_from_env() -> PathBuf {
    std::env::var_os("RVS_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNDIR))
}

/// What a run reads and writes besides its arguments.
pub struct Env<'a> {
    /// The directory of `BRIDGE.mgmt` sockets.
    pub rundir: PathBuf,
    /// Standard input (flow files given as `-`).
    pub stdin: &'a mut dyn Read,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Whether standard output is a terminal: port names are then shown
    /// unless `--no-names`.
    pub interactive: bool,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("rundir", &self.rundir)
            .field("interactive", &self.interactive)
            .finish_non_exhaustive()
    }
}

/// Runs `rvs-ofctl` with `args` (without the program name); returns the
/// exit status: 0 success, 1 error (message on `err`), 2 `diff-flows`
/// found differences.
pub fn run(args: &[String], env: Env<'_>) -> i32 {
    let Env {
        rundir,
        stdin,
        out,
        err,
        interactive,
    } = env;
    let (opts, name, cmd_args) = match options::parse_args(args) {
        Ok(Invocation::Help) => {
            let _ = out.write_all(help::help_text().as_bytes());
            return 0;
        }
        Ok(Invocation::Version) => {
            let _ = writeln!(
                out,
                "rvs-ofctl (rvs) {}\nOpenFlow versions 0x4:0x4",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Ok(Invocation::Command { opts, name, args }) => (opts, name, args),
        Err(e) => {
            let _ = writeln!(err, "rvs-ofctl: {e}");
            return e.exit_status();
        }
    };
    let session = Session::new(rundir, opts.timeout);
    let mut ctx = commands::Ctx::new(&opts, session, stdin, out, interactive);
    let result = commands::run_command(&mut ctx, &name, &cmd_args);
    let _ = ctx.out.flush();
    match result {
        Ok(()) => 0,
        Err(e) => {
            match &e {
                OfctlError::Exit(_) => {}
                OfctlError::Switch(text) => {
                    let _ = err.write_all(text.as_bytes());
                }
                other => {
                    let _ = writeln!(err, "rvs-ofctl: {other}");
                }
            }
            e.exit_status()
        }
    }
}

/// `rvs-ofctl` as a process: the arguments, streams and `RVS_RUNDIR` of
/// this process. Returns the exit status.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let interactive = stdout.is_terminal();
    let mut out = stdout.lock();
    let mut err = std::io::stderr().lock();
    let mut stdin = std::io::stdin().lock();
    run(
        &args,
        Env {
            rundir: rundir_from_env(),
            stdin: &mut stdin,
            out: &mut out,
            err: &mut err,
            interactive,
        },
    )
}

/// What a run printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `args` with bridges in `rundir`, `stdin` as standard input and no
/// terminal; returns what it printed. The library form of running the
/// `rvs-ofctl` binary, for tests.
pub fn run_captured(args: &[&str], rundir: &Path, stdin: &[u8]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut input = stdin;
    let status = run(
        &args,
        Env {
            rundir: rundir.to_path_buf(),
            stdin: &mut input,
            out: &mut out,
            err: &mut err,
            interactive: false,
        },
    );
    Output {
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}
