//! `rvs-vsctl`: configures rvs through its OVSDB database, in the command
//! language of `ovs-vsctl`.
//!
//! One invocation runs all its commands as one transaction:
//!
//! 1. connect to `--db` and fetch the schema;
//! 2. run the commands in order against a local copy of the database
//!    ([`Model`]) that reads from the server only what they ask for (a
//!    bridge by name, one column of a row; whole tables only for commands
//!    about every row, such as `show` or `find`), each seeing the effects
//!    of the ones before; any error stops here and nothing is sent;
//! 3. send one transaction: `wait`s that verify what the changes were
//!    computed from, the changes, a `comment` with the command line and,
//!    unless `--no-wait`, `next_cfg += 1` plus a `select` of `next_cfg`;
//! 4. if a verification failed (another client changed what was read in
//!    between, or deleted a row while the commands were reading it), go
//!    back to 2 with an empty copy; otherwise, unless `--no-wait`, wait
//!    until the switch reports `cur_cfg >= next_cfg` in `Open_vSwitch`;
//! 5. print the commands' output.
//!
//! `--timeout` bounds the whole run; every read from the server gives up
//! at the deadline with an error that says what it was waiting for.
//! Commands that change nothing send no transaction and do not wait.

pub mod commands;
pub mod db_cmds;
pub mod error;
pub mod help;
pub mod model;
pub mod output;
pub mod parse;
pub mod value;

pub use error::{Result, VsctlError};

use error::cmd_err;
use model::{Model, Source, TxnPlan};
use output::Table;
use parse::{Action, Command, GlobalOptions};
use rvs_ovsdb::client::{Client, ClientError};
use rvs_ovsdb::jsonrpc::FrameError;
use rvs_ovsdb::schema::DatabaseSchema;
use rvs_ovsdb::types::{Atom, Datum, Uuid};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};
use value::Symbols;

/// The name of the database `rvs-vsctl` works on.
pub const DB_NAME: &str = "Open_vSwitch";

/// How many times the commands are rerun because another client changed
/// what they read, before giving up.
const MAX_ATTEMPTS: u32 = 100;

/// The monitor id used to follow `cur_cfg`.
const CFG_MONITOR: &str = "rvs-vsctl-cur-cfg";
/// The monitor id used by `wait-until` to learn of changes.
const CHANGE_MONITOR: &str = "rvs-vsctl-changes";

/// What the commands of one attempt share.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub model: Model<'a>,
    pub symbols: Symbols,
    pub opts: &'a GlobalOptions,
    /// The output of the command running now.
    pub out: String,
    /// Warnings for stderr, printed whether or not anything is committed.
    pub warnings: Vec<String>,
    /// Set by `wait-until` when its condition does not hold yet.
    pub try_again: bool,
    /// Interfaces added by this invocation, checked for errors after the
    /// switch has applied the change.
    pub added_ifaces: Vec<String>,
    /// The `Open_vSwitch` row (inserted if the database had none).
    pub ovs: Uuid,
    tables_printed: usize,
}

impl<'a> Ctx<'a> {
    /// A context over `model`; reads the `Open_vSwitch` row (one row:
    /// all of it, which saves reading its columns one by one later) and
    /// inserts it if the database has none (any command initializes an
    /// empty database).
    pub fn new(mut model: Model<'a>, opts: &'a GlobalOptions) -> Result<Ctx<'a>> {
        let all: Vec<usize> = (0..model.table("Open_vSwitch")?.columns.len()).collect();
        model.scan("Open_vSwitch", &all)?;
        let ovs = match model.rows("Open_vSwitch")?.first() {
            Some(u) => *u,
            None => model.insert_first("Open_vSwitch")?,
        };
        Ok(Ctx {
            model,
            symbols: Symbols::default(),
            opts,
            out: String::new(),
            warnings: Vec::new(),
            try_again: false,
            added_ifaces: Vec::new(),
            ovs,
            tables_printed: 0,
        })
    }

    /// Appends a table to the output in the chosen format.
    pub fn print_table(&mut self, t: &Table) {
        let text = self.opts.style.render(t, self.tables_printed == 0);
        self.tables_printed += 1;
        self.out.push_str(&text);
    }

    /// Appends one line to the output.
    pub fn println(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }
}

/// Runs `rvs-vsctl` with `args` (without the program name), writing to
/// `out` and `err`; returns the exit status.
pub fn run(args: &[String], rundir: Option<&str>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let action = match parse::parse_command_line(args, rundir) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "rvs-vsctl: {e}");
            return 1;
        }
    };
    match action {
        Action::Help => {
            let _ = out.write_all(help::help_text().as_bytes());
            0
        }
        Action::Version => {
            let _ = writeln!(
                out,
                "rvs-vsctl (rvs) {}\nDB Schema {}",
                env!("CARGO_PKG_VERSION"),
                rvs_ovsdb::server::vswitch_schema().version
            );
            0
        }
        Action::Run { opts, commands } => match execute(&opts, &commands, args, out, err) {
            Ok(code) => code,
            Err(e) => {
                if !matches!(e, VsctlError::Exit(_)) {
                    let _ = writeln!(err, "rvs-vsctl: {e}");
                }
                e.exit_status()
            }
        },
    }
}

/// The deadline of `--timeout`, and the reads that respect it.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Option<Instant>,
    secs: u64,
}

impl Deadline {
    fn new(timeout: Option<u64>) -> Deadline {
        Deadline {
            at: timeout.map(|s| Instant::now() + Duration::from_secs(s)),
            secs: timeout.unwrap_or(0),
        }
    }

    /// Time left, or a timeout error naming what was being done.
    fn remaining(&self, doing: &str) -> Result<Option<Duration>> {
        match self.at {
            None => Ok(None),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(self.expired(doing))
                } else {
                    Ok(Some(left))
                }
            }
        }
    }

    fn expired(&self, doing: &str) -> VsctlError {
        VsctlError::Timeout {
            secs: self.secs,
            doing: doing.to_string(),
        }
    }

    /// Sets the connection's read timeout to the time left.
    fn arm(&self, client: &mut Client, doing: &str) -> Result<()> {
        let left = self.remaining(doing)?;
        client.set_read_timeout(left).map_err(ClientError::from)?;
        Ok(())
    }

    /// Turns a read that hit the deadline into a timeout error.
    fn check(&self, e: ClientError, doing: &str) -> VsctlError {
        let timed_out = match &e {
            ClientError::Connection(FrameError::Io(io)) | ClientError::Io(io) => {
                matches!(
                    io.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                )
            }
            ClientError::Timeout(_) => true,
            _ => false,
        };
        if timed_out && self.at.is_some() {
            self.expired(doing)
        } else {
            VsctlError::Connection(e)
        }
    }

    /// `client.call` within the deadline.
    fn call(&self, client: &mut Client, method: &str, params: Value, doing: &str) -> Result<Value> {
        self.arm(client, doing)?;
        client
            .call(method, params)
            .map_err(|e| self.check(e, doing))
    }
}

/// Connects to the database (retrying until the deadline with `--retry`).
fn connect(opts: &GlobalOptions, deadline: &Deadline) -> Result<Client> {
    loop {
        match Client::connect(&opts.db) {
            Ok(c) => return Ok(c),
            Err(ClientError::Connect { remote, source }) if opts.retry => {
                let doing = format!("trying to connect to {remote} ({source})");
                deadline.remaining(&doing)?;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(ClientError::Connect { remote, source }) => {
                return Err(cmd_err(format!(
                    "{remote}: database connection failed ({source}); is rvs-ovsdb-server \
                     running? Name its socket with --db=unix:PATH or set RVS_RUNDIR"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn get_schema(client: &mut Client, deadline: &Deadline) -> Result<DatabaseSchema> {
    let v = deadline.call(
        client,
        "get_schema",
        json!([DB_NAME]),
        "waiting for the database schema",
    )?;
    DatabaseSchema::from_json(&v).map_err(|e| {
        cmd_err(format!(
            "the server's {DB_NAME} schema is not valid: {}",
            e.details
        ))
    })
}

/// Quotes a command-line word for the transaction's comment.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=:./@,+%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// How a committed transaction's results read.
enum Outcome {
    Committed,
    /// A verification failed: read again and rerun the commands.
    Retry,
}

fn check_results(results: &[Value], n_ops: usize, n_waits: usize) -> Result<Outcome> {
    for (i, r) in results.iter().enumerate() {
        if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
            if i < n_waits && e == "timed out" {
                return Ok(Outcome::Retry);
            }
            return Err(VsctlError::Transaction(model::describe_error(e, r)));
        }
    }
    if results.len() < n_ops {
        return Err(VsctlError::Transaction(format!(
            "the server answered {} of {n_ops} operations",
            results.len()
        )));
    }
    Ok(Outcome::Committed)
}

/// Follows `Open_vSwitch.cur_cfg` through a monitor.
struct CfgWaiter {
    cur: HashMap<Uuid, i64>,
}

impl CfgWaiter {
    fn start(client: &mut Client, deadline: &Deadline) -> Result<CfgWaiter> {
        let r = deadline.call(
            client,
            "monitor",
            json!([DB_NAME, CFG_MONITOR, {"Open_vSwitch": {"columns": ["cur_cfg"]}}]),
            "setting up a monitor of cur_cfg",
        )?;
        let mut w = CfgWaiter {
            cur: HashMap::new(),
        };
        w.apply(&r);
        Ok(w)
    }

    fn apply(&mut self, updates: &Value) {
        let Some(rows) = updates.get("Open_vSwitch").and_then(Value::as_object) else {
            return;
        };
        for (u, change) in rows {
            let Some(uuid) = Uuid::parse(u) else { continue };
            match change
                .get("new")
                .and_then(|n| n.get("cur_cfg"))
                .and_then(Value::as_i64)
            {
                Some(c) => {
                    self.cur.insert(uuid, c);
                }
                None if change.get("new").is_none() => {
                    self.cur.remove(&uuid);
                }
                None => {}
            }
        }
    }

    /// Waits until row `ovs` has `cur_cfg >= next_cfg`.
    fn wait(
        &mut self,
        client: &mut Client,
        ovs: Uuid,
        next_cfg: i64,
        deadline: &Deadline,
    ) -> Result<()> {
        loop {
            let cur = self.cur.get(&ovs).copied();
            if cur.is_some_and(|c| c >= next_cfg) {
                return Ok(());
            }
            let doing = format!(
                "waiting for rvs-vswitchd to apply the change (Open_vSwitch cur_cfg is {}, \
                 waiting for {next_cfg}); is rvs-vswitchd running? If not, use --no-wait",
                cur.map_or("unset".to_string(), |c| c.to_string())
            );
            let wait = deadline
                .remaining(&doing)?
                .unwrap_or(Duration::from_secs(3600));
            match client.next_notification(wait) {
                Ok((method, params)) => {
                    if method == "update" && params.get(0) == Some(&json!(CFG_MONITOR)) {
                        if let Some(u) = params.get(1) {
                            self.apply(u);
                        }
                    }
                }
                Err(ClientError::Timeout(_)) => {
                    deadline.remaining(&doing)?;
                }
                Err(e) => return Err(deadline.check(e, &doing)),
            }
        }
    }
}

/// For `wait-until`: blocks until the database changes.
fn wait_for_change(
    client: &mut Client,
    schema: &DatabaseSchema,
    monitoring: &mut bool,
    deadline: &Deadline,
) -> Result<()> {
    let doing = "waiting for the condition of wait-until to hold";
    if !*monitoring {
        let req: serde_json::Map<String, Value> = schema
            .tables
            .keys()
            .map(|t| (t.clone(), json!({"select": {"initial": false}})))
            .collect();
        deadline.call(
            client,
            "monitor",
            json!([DB_NAME, CHANGE_MONITOR, req]),
            doing,
        )?;
        *monitoring = true;
        // The database may have changed between the read and the monitor.
        return Ok(());
    }
    loop {
        let wait = deadline
            .remaining(doing)?
            .unwrap_or(Duration::from_secs(3600));
        match client.next_notification(wait) {
            Ok((method, params)) => {
                if method == "update" && params.get(0) == Some(&json!(CHANGE_MONITOR)) {
                    return Ok(());
                }
            }
            Err(ClientError::Timeout(_)) => {
                deadline.remaining(doing)?;
            }
            Err(e) => return Err(deadline.check(e, doing)),
        }
    }
}

/// The model's reads, within the deadline.
struct Conn<'c> {
    client: &'c mut Client,
    deadline: Deadline,
}

impl Source for Conn<'_> {
    fn read(&mut self, db: &str, ops: &[Value]) -> Result<Vec<Value>> {
        let reading = "reading the database";
        self.deadline.arm(self.client, reading)?;
        self.client
            .transact(db, ops)
            .map_err(|e| self.deadline.check(e, reading))
    }
}

/// What one run of the commands produced.
#[derive(Debug, Default)]
pub struct Attempt {
    /// The transaction to commit (empty: nothing changed).
    pub plan: TxnPlan,
    /// Each command's output, until a `wait-until` that must wait.
    pub outputs: Vec<String>,
    pub warnings: Vec<String>,
    /// Interfaces added, to check for errors once the switch applied them.
    pub added_ifaces: Vec<String>,
    /// The `Open_vSwitch` row (a placeholder if the attempt inserts it),
    /// and as JSON for the transaction.
    pub ovs: Uuid,
    pub ovs_json: Value,
    /// A `wait-until` condition does not hold yet.
    pub try_again: bool,
}

/// Runs `commands` once against the database that `source` reads, and
/// plans the transaction for their changes (without sending it).
pub fn run_attempt(
    source: &mut dyn Source,
    schema: &DatabaseSchema,
    opts: &GlobalOptions,
    commands: &[Command],
) -> Result<Attempt> {
    let mut ctx = Ctx::new(Model::new(schema, source), opts)?;
    let mut outputs = Vec::with_capacity(commands.len());
    for cmd in commands {
        (cmd.def.run)(&mut ctx, cmd)?;
        outputs.push(std::mem::take(&mut ctx.out));
        if ctx.try_again {
            return Ok(Attempt {
                outputs,
                try_again: true,
                ..Attempt::default()
            });
        }
    }
    ctx.symbols.check_all_defined()?;
    let plan = ctx.model.plan()?;
    let ovs_json = ctx.model.datum_json(&Datum::scalar(Atom::Uuid(ctx.ovs)));
    Ok(Attempt {
        plan,
        outputs,
        warnings: ctx.warnings,
        added_ifaces: ctx.added_ifaces,
        ovs: ctx.ovs,
        ovs_json,
        try_again: false,
    })
}

/// Counts one more run of the commands because another client changed
/// what they read; gives up after [`MAX_ATTEMPTS`].
fn count_retry(attempts: &mut u32) -> Result<()> {
    *attempts += 1;
    if *attempts >= MAX_ATTEMPTS {
        return Err(cmd_err(format!(
            "the database kept changing under the commands ({attempts} attempts); try again"
        )));
    }
    Ok(())
}

fn execute(
    opts: &GlobalOptions,
    commands: &[Command],
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let deadline = Deadline::new(opts.timeout);
    let mut client = connect(opts, &deadline)?;
    let schema = get_schema(&mut client, &deadline)?;
    let mut waiter: Option<CfgWaiter> = None;
    let mut change_monitor = false;
    let mut attempts = 0;
    let comment = format!(
        "rvs-vsctl: rvs-vsctl {}",
        args.iter()
            .map(|a| shell_word(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    loop {
        let mut conn = Conn {
            client: &mut client,
            deadline,
        };
        let attempt = match run_attempt(&mut conn, &schema, opts, commands) {
            Err(VsctlError::Changed) => {
                count_retry(&mut attempts)?;
                continue;
            }
            other => other?,
        };
        if attempt.try_again {
            wait_for_change(&mut client, &schema, &mut change_monitor, &deadline)?;
            continue;
        }
        let plan = &attempt.plan;
        if plan.ops.is_empty() || opts.dry_run {
            print_warnings(err, &attempt.warnings);
            print_outputs(out, opts, &attempt.outputs, &HashMap::new());
            return Ok(0);
        }
        let wait = !opts.no_wait;
        if wait && waiter.is_none() {
            waiter = Some(CfgWaiter::start(&mut client, &deadline)?);
        }
        let mut ops = plan.ops.clone();
        let select_at = if wait {
            let where_ = json!([["_uuid", "==", attempt.ovs_json]]);
            ops.push(
                json!({"op": "mutate", "table": "Open_vSwitch", "where": where_,
                            "mutations": [["next_cfg", "+=", 1]]}),
            );
            ops.push(
                json!({"op": "select", "table": "Open_vSwitch", "where": where_,
                            "columns": ["next_cfg"]}),
            );
            Some(ops.len() - 1)
        } else {
            None
        };
        ops.push(json!({"op": "comment", "comment": comment}));
        let committing = "waiting for the database to commit the transaction";
        deadline.arm(&mut client, committing)?;
        let results = client
            .transact(DB_NAME, &ops)
            .map_err(|e| deadline.check(e, committing))?;
        match check_results(&results, ops.len(), plan.waits)? {
            Outcome::Retry => {
                count_retry(&mut attempts)?;
                continue;
            }
            Outcome::Committed => {}
        }
        let mut real: HashMap<Uuid, Uuid> = HashMap::new();
        for (i, placeholder) in &plan.inserts {
            let got = results
                .get(*i)
                .and_then(|r| r.get("uuid"))
                .and_then(|u| u.get(1))
                .and_then(Value::as_str)
                .and_then(Uuid::parse);
            if let Some(u) = got {
                real.insert(*placeholder, u);
            }
        }
        if let (Some(sel), Some(w)) = (select_at, waiter.as_mut()) {
            let next_cfg = results[sel]
                .get("rows")
                .and_then(|r| r.get(0))
                .and_then(|r| r.get("next_cfg"))
                .and_then(Value::as_i64);
            if let Some(next_cfg) = next_cfg {
                let ovs = real.get(&attempt.ovs).copied().unwrap_or(attempt.ovs);
                w.wait(&mut client, ovs, next_cfg, &deadline)?;
                report_iface_errors(&mut client, &attempt.added_ifaces, &deadline, err)?;
            }
        }
        print_warnings(err, &attempt.warnings);
        print_outputs(out, opts, &attempt.outputs, &real);
        return Ok(0);
    }
}

fn print_warnings(err: &mut dyn Write, warnings: &[String]) {
    for w in warnings {
        let _ = writeln!(err, "rvs-vsctl: warning: {w}");
    }
}

/// After the switch applied the change: reports the interfaces this
/// invocation added that the switch could not set up (`error` is set), as
/// warnings; the change itself stands.
fn report_iface_errors(
    client: &mut Client,
    names: &[String],
    deadline: &Deadline,
    err: &mut dyn Write,
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let ops: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"op": "select", "table": "Interface", "where": [["name", "==", n]],
                   "columns": ["name", "error"]})
        })
        .collect();
    let doing = "reading the interfaces' status";
    deadline.arm(client, doing)?;
    let results = client
        .transact(DB_NAME, &ops)
        .map_err(|e| deadline.check(e, doing))?;
    for (name, r) in names.iter().zip(&results) {
        let error = r
            .get("rows")
            .and_then(|rows| rows.get(0))
            .and_then(|row| row.get("error"))
            .and_then(Value::as_str);
        if let Some(e) = error {
            let _ = writeln!(
                err,
                "rvs-vsctl: Error detected while setting up '{name}': {e}. \
                 See the rvs-vswitchd log for details."
            );
        }
    }
    Ok(())
}

/// Prints each command's output, with the placeholder UUIDs of new rows
/// replaced by the ones the server assigned.
fn print_outputs(
    out: &mut dyn Write,
    opts: &GlobalOptions,
    outputs: &[String],
    real: &HashMap<Uuid, Uuid>,
) {
    for o in outputs {
        let mut text = o.clone();
        for (p, r) in real {
            text = text.replace(&p.to_string(), &r.to_string());
        }
        if opts.oneline {
            let body = text.strip_suffix('\n').unwrap_or(&text);
            let _ = writeln!(out, "{}", body.replace('\\', "\\\\").replace('\n', "\\n"));
        } else {
            let _ = out.write_all(text.as_bytes());
        }
    }
    let _ = out.flush();
}

/// The `rvs-vsctl` program: runs with the process's arguments and
/// environment; returns the exit status.
///
/// With `--timeout`, a watchdog also ends the process shortly after the
/// deadline, whatever it is blocked on (a TCP connect, say), as
/// `ovs-vsctl`'s alarm does.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rundir = std::env::var("RVS_RUNDIR").ok();
    if let Ok(Action::Run { opts, .. }) = parse::parse_command_line(&args, rundir.as_deref()) {
        if let Some(secs) = opts.timeout {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(secs) + Duration::from_secs(1));
                eprintln!("rvs-vsctl: timed out after {secs} seconds (--timeout={secs})");
                std::process::exit(1);
            });
        }
    }
    // Unlocked handles: the watchdog may need stderr while we run.
    run(
        &args,
        rundir.as_deref(),
        &mut io::stdout(),
        &mut io::stderr(),
    )
}
