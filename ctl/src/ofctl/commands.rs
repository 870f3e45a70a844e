//! The commands: each turns its arguments into requests, sends them as
//! `ovs-ofctl` does, and prints the replies as `ovs-ofctl` prints them.
//!
//! Every argument is read before anything is sent: a flow file with a
//! bad line sends nothing (only the port names are asked for first, as
//! `ovs-ofctl` asks, unless `--no-names`). Flow changes go one at a time,
//! each followed by a barrier, and the first one the switch refuses stops
//! the run (the ones before it stay).

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;

use rvs_openflow::flow_syntax::{parse_flow_with_ports, FlowFormatOptions, FlowMode, FlowSpec};
use rvs_openflow::types::{group, NO_BUFFER};
use rvs_openflow::{
    validate_instructions, Action, FlowModCommand, FlowStats, FlowStatsRequest, Instruction,
    Message, MessageBody, MultipartReplyBody, MultipartRequestBody, OfError, PacketOut, PortNo,
};

use super::conn::{Connection, Session};
use super::error::{usage_err, OfctlError, Result};
use super::flows::{self, FlowTables};
use super::names::{parse_port_number, PortNames};
use super::options::Options;
use super::print::{self, PrintContext};

/// One command of the table.
#[derive(Debug)]
pub struct CommandDef {
    /// The name.
    pub name: &'static str,
    /// The arguments, for `--help`.
    pub usage: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// The fewest arguments.
    pub min_args: usize,
    /// The most arguments.
    pub max_args: usize,
    run: fn(&mut Ctx<'_>, &[String]) -> Result<()>,
}

/// Every command, in `--help` order.
pub const COMMANDS: &[CommandDef] = &[
    CommandDef {
        name: "show",
        usage: "show SWITCH",
        help: "switch features, ports and configuration",
        min_args: 1,
        max_args: 1,
        run: show,
    },
    CommandDef {
        name: "dump-desc",
        usage: "dump-desc SWITCH",
        help: "the switch's description",
        min_args: 1,
        max_args: 1,
        run: dump_desc,
    },
    CommandDef {
        name: "dump-tables",
        usage: "dump-tables SWITCH",
        help: "table statistics",
        min_args: 1,
        max_args: 1,
        run: dump_tables,
    },
    CommandDef {
        name: "dump-ports",
        usage: "dump-ports SWITCH [PORT]",
        help: "port statistics (all ports, or PORT)",
        min_args: 1,
        max_args: 2,
        run: dump_ports,
    },
    CommandDef {
        name: "dump-ports-desc",
        usage: "dump-ports-desc SWITCH [PORT]",
        help: "port descriptions (OpenFlow 1.3 always lists all ports)",
        min_args: 1,
        max_args: 2,
        run: dump_ports_desc,
    },
    CommandDef {
        name: "get-frags",
        usage: "get-frags SWITCH",
        help: "how the switch handles IP fragments",
        min_args: 1,
        max_args: 1,
        run: get_frags,
    },
    CommandDef {
        name: "dump-flows",
        usage: "dump-flows SWITCH [FLOW]",
        help: "the flows (those FLOW selects)",
        min_args: 1,
        max_args: 2,
        run: dump_flows,
    },
    CommandDef {
        name: "dump-aggregate",
        usage: "dump-aggregate SWITCH [FLOW]",
        help: "packet, byte and flow counts summed over the flows",
        min_args: 1,
        max_args: 2,
        run: dump_aggregate,
    },
    CommandDef {
        name: "add-flow",
        usage: "add-flow SWITCH FLOW",
        help: "add FLOW (FLOW - : flows from standard input)",
        min_args: 2,
        max_args: 2,
        run: add_flow,
    },
    CommandDef {
        name: "add-flows",
        usage: "add-flows SWITCH FILE",
        help: "add the flows in FILE (- : standard input)",
        min_args: 2,
        max_args: 2,
        run: add_flows,
    },
    CommandDef {
        name: "mod-flows",
        usage: "mod-flows SWITCH FLOW",
        help: "change the actions of the flows FLOW matches",
        min_args: 2,
        max_args: 2,
        run: mod_flows,
    },
    CommandDef {
        name: "del-flows",
        usage: "del-flows SWITCH [FLOW]",
        help: "delete the flows FLOW matches (all without FLOW)",
        min_args: 1,
        max_args: 2,
        run: del_flows,
    },
    CommandDef {
        name: "replace-flows",
        usage: "replace-flows SWITCH FILE",
        help: "make the switch's flows those in FILE",
        min_args: 2,
        max_args: 2,
        run: replace_flows,
    },
    CommandDef {
        name: "diff-flows",
        usage: "diff-flows SOURCE1 SOURCE2",
        help: "compare the flows of two switches or files",
        min_args: 2,
        max_args: 2,
        run: diff_flows,
    },
    CommandDef {
        name: "packet-out",
        usage: "packet-out SWITCH IN_PORT ACTIONS PACKET...",
        help: "run ACTIONS on each PACKET (hex) as if it came in on IN_PORT",
        min_args: 2,
        max_args: usize::MAX,
        run: packet_out,
    },
    CommandDef {
        name: "packet-out",
        usage: "packet-out SWITCH \"in_port=P,packet=HEX,actions=A\"",
        help: "the same in ovs-ofctl's one-argument syntax",
        min_args: 2,
        max_args: usize::MAX,
        run: packet_out,
    },
    CommandDef {
        name: "probe",
        usage: "probe SWITCH",
        help: "check that the switch answers an echo request",
        min_args: 1,
        max_args: 1,
        run: probe,
    },
];

/// What a command runs with.
pub struct Ctx<'a> {
    /// The options.
    pub opts: &'a Options,
    /// Connections and transaction ids.
    pub session: Session,
    /// Standard input, for `-` files.
    pub stdin: &'a mut dyn Read,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Whether standard output is a terminal (port names shown by default).
    pub interactive: bool,
    /// Port names fetched, by connection name.
    port_names: HashMap<String, PortNames>,
    /// Connection names whose table-name lookup is accounted for.
    table_lookups: HashSet<String>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("opts", &self.opts)
            .field("session", &self.session)
            .field("interactive", &self.interactive)
            .finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    /// A context for one run.
    pub fn new(
        opts: &'a Options,
        session: Session,
        stdin: &'a mut dyn Read,
        out: &'a mut dyn Write,
        interactive: bool,
    ) -> Ctx<'a> {
        Ctx {
            opts,
            session,
            stdin,
            out,
            interactive,
            port_names: HashMap::new(),
            table_lookups: HashSet::new(),
        }
    }

    fn print(&mut self, text: &str) -> Result<()> {
        self.out.write_all(text.as_bytes()).map_err(output_error)
    }

    /// The ports of `switch` by name, fetched once over a connection of
    /// their own (as `ovs-ofctl` does).
    fn port_names(&mut self, switch: &str) -> Result<PortNames> {
        if let Some(names) = self.port_names.get(switch) {
            return Ok(names.clone());
        }
        let mut conn = self.session.open(switch)?;
        let mut ports = Vec::new();
        for body in conn.dump_all(MultipartRequestBody::PortDesc)? {
            if let MultipartReplyBody::PortDesc(p) = body {
                ports.extend(p);
            }
        }
        let names = PortNames::from_ports(&ports);
        self.port_names.insert(switch.to_string(), names.clone());
        Ok(names)
    }

    /// Where `ovs-ofctl` looks up table names (a connection and a
    /// TABLE_FEATURES request): `rvs-ofctl` has no table names, but skips
    /// the two transaction ids, so that the ids it prints are the ones
    /// `ovs-ofctl` prints.
    fn table_names(&mut self, switch: &str) {
        if self.table_lookups.insert(switch.to_string()) {
            self.session.skip_xids(2);
        }
    }

    /// The port names flows and arguments may use, unless `--no-names`;
    /// looked up where `ovs-ofctl` looks them up, before reading a flow.
    fn names_to_accept(&mut self, switch: &str) -> Result<Option<PortNames>> {
        if !self.opts.accept_names() {
            return Ok(None);
        }
        let names = self.port_names(switch)?;
        self.table_names(switch);
        Ok(Some(names))
    }

    /// The port names to print, if `--names` (or a terminal) asks for
    /// them.
    fn names_to_show(&mut self, switch: &str) -> Result<Option<PortNames>> {
        if !self.opts.show_names(self.interactive) {
            return Ok(None);
        }
        let names = self.port_names(switch)?;
        self.table_names(switch);
        Ok(Some(names))
    }

    /// Reads one flow for `command` (`None`: a statistics filter), with
    /// port names from `names`.
    fn parse_flow(
        &self,
        names: Option<&PortNames>,
        text: &str,
        command: Option<FlowModCommand>,
    ) -> Result<FlowSpec> {
        let mode = command.map_or(FlowMode::Filter, flows::mode_of);
        let takes_priority = !matches!(command, None | Some(FlowModCommand::Delete));
        if !takes_priority && flows::has_keyword(text, "priority") {
            return Err(OfctlError::Syntax(
                "unknown keyword priority (only --strict del-flows selects flows by priority)"
                    .into(),
            ));
        }
        let spec = parse_flow_with_ports(text, mode, &|name| {
            parse_port_number(name).or_else(|| names.and_then(|n| n.number(name)))
        })
        .map_err(|e| OfctlError::Syntax(e.to_string()))?;
        // ovs-ofctl checks a goto_table's direction before sending; the
        // switch checks the rest.
        if mode != FlowMode::Filter {
            let table_id = spec.table_id.unwrap_or(0);
            if let Err(e @ OfError::BadGotoTable { .. }) =
                validate_instructions(&spec.instructions, table_id)
            {
                return Err(OfctlError::Syntax(format!(
                    "actions are invalid with specified match ({})",
                    print::ovs_error_name(e.code().kind, e.code().code)
                        .unwrap_or("OFPBIC_BAD_TABLE_ID")
                )));
            }
        }
        Ok(spec)
    }

    /// A PORT argument: a number, a reserved name, or a port name of
    /// `switch`.
    fn port_arg(&mut self, switch: &str, arg: &str) -> Result<PortNo> {
        if let Some(port) = parse_port_number(arg) {
            return Ok(port);
        }
        if self.opts.accept_names() {
            if let Some(port) = self.port_names(switch)?.number(arg) {
                return Ok(port);
            }
        }
        Err(OfctlError::Syntax(format!(
            "{switch}: unknown port `{arg}'"
        )))
    }

    /// The contents of FILE (`-`: standard input).
    fn read_file(&mut self, path: &str) -> Result<String> {
        let mut bytes = Vec::new();
        let read = if path == "-" {
            self.stdin.read_to_end(&mut bytes).map(|_| ())
        } else {
            std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
        };
        read.map_err(|source| OfctlError::File {
            path: path.to_string(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|_| {
            OfctlError::Syntax(format!(
                "{path}: not text (flows are written in UTF-8 text)"
            ))
        })
    }

    /// The flows of FILE, each with the command it asks for: `add-flows`
    /// takes a command word at the start of a line (`command` is `None`),
    /// the others one fixed command.
    fn read_flow_file(
        &mut self,
        names: Option<&PortNames>,
        path: &str,
        command: Option<FlowModCommand>,
    ) -> Result<Vec<(FlowModCommand, FlowSpec)>> {
        let content = self.read_file(path)?;
        let mut flows = Vec::new();
        for line in flows::flow_lines(&content) {
            let (cmd, text) = match command {
                Some(c) => (c, line.text),
                None => flows::split_command(line.text),
            };
            let spec = self
                .parse_flow(names, text, Some(cmd))
                .map_err(|e| OfctlError::Syntax(format!("{path}:{}: {e}", line.number)))?;
            flows.push((cmd, spec));
        }
        Ok(flows)
    }
}

/// Runs command `name` with `args`.
pub fn run_command(ctx: &mut Ctx<'_>, name: &str, args: &[String]) -> Result<()> {
    let defs: Vec<&CommandDef> = COMMANDS.iter().filter(|c| c.name == name).collect();
    let Some(def) = defs.first() else {
        return Err(usage_err(format!(
            "unknown command '{name}'; use --help for help"
        )));
    };
    if args.len() < def.min_args || args.len() > def.max_args {
        let usages: Vec<&str> = defs.iter().map(|d| d.usage).collect();
        return Err(usage_err(format!(
            "'{name}' takes {}, not {} argument{}: {}",
            arg_count(def.min_args, def.max_args),
            args.len(),
            if args.len() == 1 { "" } else { "s" },
            usages.join(" or ")
        )));
    }
    (def.run)(ctx, args)
}

fn arg_count(min: usize, max: usize) -> String {
    match (min, max) {
        (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
        (a, usize::MAX) => format!("at least {a} arguments"),
        (a, b) => format!("{a} to {b} arguments"),
    }
}

// ---------------------------------------------------------------------------
// Reading commands

fn show(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let switch = &args[0];
    let mut conn = ctx.session.open(switch)?;
    let features = conn.transact(MessageBody::FeaturesRequest)?;
    if !matches!(features.msg.body, MessageBody::FeaturesReply(_)) {
        return Err(bad_reply(&conn, &features.to_text()));
    }
    ctx.print(&features.to_text())?;
    dump_printing(ctx, &mut conn, MultipartRequestBody::PortDesc)?;
    drop(conn);
    // ovs-ofctl asks for the configuration on a connection of its own.
    let mut conn = ctx.session.open(switch)?;
    let config = conn.transact(MessageBody::GetConfigRequest)?;
    if !matches!(config.msg.body, MessageBody::GetConfigReply(_)) {
        return Err(bad_reply(&conn, &config.to_text()));
    }
    ctx.print(&config.to_text())
}

fn bad_reply(conn: &Connection, text: &str) -> OfctlError {
    OfctlError::Protocol(format!(
        "{}: received bad reply: {}",
        conn.target(),
        text.trim_end()
    ))
}

/// Sends a multipart request and prints each reply as it comes, as
/// `ovs-ofctl` prints statistics (with port names if they are shown).
fn dump_printing(
    ctx: &mut Ctx<'_>,
    conn: &mut Connection,
    request: MultipartRequestBody,
) -> Result<()> {
    let pending = conn.send_dump(request)?;
    let name = conn.name().to_string();
    let names = ctx.names_to_show(&name)?;
    let pctx = PrintContext {
        ports: names.as_ref(),
    };
    let mut write_error = None;
    let out = &mut *ctx.out;
    let result = conn.recv_dump(pending, |r| {
        let text = print::message_to_string(&r.raw, &pctx);
        if let Err(e) = out.write_all(text.as_bytes()) {
            write_error.get_or_insert(e);
        }
        Ok(())
    });
    result?;
    match write_error {
        Some(e) => Err(output_error(e)),
        None => Ok(()),
    }
}

/// A failed write to standard output; a reader that went away (`| head`)
/// ends the run quietly.
fn output_error(e: std::io::Error) -> OfctlError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        OfctlError::Exit(1)
    } else {
        OfctlError::Connection(format!("writing the output: {e}"))
    }
}

fn dump_desc(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let mut conn = ctx.session.open(&args[0])?;
    dump_printing(ctx, &mut conn, MultipartRequestBody::Desc)
}

fn dump_tables(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let mut conn = ctx.session.open(&args[0])?;
    dump_printing(ctx, &mut conn, MultipartRequestBody::Table)
}

fn dump_ports(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let switch = &args[0];
    let mut conn = ctx.session.open(switch)?;
    let port = match args.get(1) {
        Some(p) => ctx.port_arg(switch, p)?,
        None => PortNo::ANY,
    };
    dump_printing(ctx, &mut conn, MultipartRequestBody::PortStats(port))
}

fn dump_ports_desc(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let switch = &args[0];
    let mut conn = ctx.session.open(switch)?;
    if let Some(p) = args.get(1) {
        // Checked as ovs-ofctl checks it, though OpenFlow 1.3 cannot ask
        // for one port: every port is listed.
        ctx.port_arg(switch, p)?;
    }
    dump_printing(ctx, &mut conn, MultipartRequestBody::PortDesc)
}

fn get_frags(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let mut conn = ctx.session.open(&args[0])?;
    let reply = conn.transact(MessageBody::GetConfigRequest)?;
    let MessageBody::GetConfigReply(config) = &reply.msg.body else {
        return Err(bad_reply(&conn, &reply.to_text()));
    };
    let frags = match config.flags.bits() & 3 {
        0 => "normal",
        1 => "drop",
        2 => "reassemble",
        _ => "nx-match",
    };
    ctx.print(&format!("{frags}\n"))
}

fn probe(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let mut conn = ctx.session.open(&args[0])?;
    // ovs-ofctl's echo request has xid 0 and no payload.
    conn.send_message(&Message::new(0, MessageBody::EchoRequest(Vec::new())))?;
    let reply = conn.recv_xid(0, "waiting for the echo reply")?;
    match reply.msg.body {
        MessageBody::EchoReply(data) if data.is_empty() => Ok(()),
        _ => Err(OfctlError::Protocol(format!(
            "{}: reply does not match request",
            args[0]
        ))),
    }
}

/// The FLOW argument of `dump-flows` and `dump-aggregate` as a request;
/// port names are looked up (as `ovs-ofctl` does) when there is one.
fn stats_request(
    ctx: &mut Ctx<'_>,
    switch: &str,
    filter: Option<&String>,
) -> Result<FlowStatsRequest> {
    let text = filter.map_or("", String::as_str);
    let names = if text.is_empty() {
        None
    } else {
        ctx.names_to_accept(switch)?
    };
    let spec = ctx.parse_flow(names.as_ref(), text, None)?;
    Ok(FlowStatsRequest {
        table_id: spec.table_id.unwrap_or(rvs_openflow::types::table::ALL),
        out_port: spec.out_port,
        out_group: group::ANY,
        cookie: spec.cookie,
        cookie_mask: spec.cookie_mask,
        match_: spec.match_,
    })
}

fn dump_flows(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let switch = &args[0];
    let sort_keys = ctx
        .opts
        .sort
        .iter()
        .map(|k| {
            let field = k.field.as_deref().map(flows::sort_field).transpose()?;
            Ok((field, k.descending))
        })
        .collect::<Result<Vec<_>>>()?;
    let request = stats_request(ctx, switch, args.get(1))?;
    let mut conn = ctx.session.open(switch)?;
    let show_names = ctx.opts.show_names(ctx.interactive);
    if sort_keys.is_empty() && !show_names && ctx.opts.stats {
        // As ovs-ofctl: each reply printed as it comes, with its header.
        return dump_printing(ctx, &mut conn, MultipartRequestBody::Flow(request));
    }
    let mut entries = read_flow_stats(&mut conn, request)?;
    drop(conn);
    flows::sort_flows(&mut entries, &sort_keys);
    let names = ctx.names_to_show(switch)?;
    let pctx = PrintContext {
        ports: names.as_ref(),
    };
    let opts = FlowFormatOptions {
        no_stats: !ctx.opts.stats,
    };
    let mut text = String::new();
    for e in &entries {
        text.push_str(&print::flow_stats_line(e, &opts, &pctx));
        text.push('\n');
    }
    ctx.print(&text)
}

/// Every flow the request selects.
pub fn read_flow_stats(conn: &mut Connection, request: FlowStatsRequest) -> Result<Vec<FlowStats>> {
    let mut entries = Vec::new();
    for body in conn.dump_all(MultipartRequestBody::Flow(request))? {
        if let MultipartReplyBody::Flow(flows) = body {
            entries.extend(flows);
        }
    }
    Ok(entries)
}

fn dump_aggregate(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let request = stats_request(ctx, &args[0], args.get(1))?;
    let mut conn = ctx.session.open(&args[0])?;
    dump_printing(ctx, &mut conn, MultipartRequestBody::Aggregate(request))
}

// ---------------------------------------------------------------------------
// Changing commands

/// Sends each flow-mod with a barrier; stops at the first refusal.
fn send_flow_mods(
    ctx: &mut Ctx<'_>,
    switch: &str,
    flows: Vec<(FlowModCommand, FlowSpec)>,
) -> Result<()> {
    let mut conn = ctx.session.open(switch)?;
    for (command, spec) in flows {
        conn.transact_noreply(MessageBody::FlowMod(spec.to_flow_mod(command)))?;
    }
    Ok(())
}

/// `add-flow`, `mod-flows`, `del-flows`: one flow, or a file with `-`.
fn flow_mod_command(
    ctx: &mut Ctx<'_>,
    args: &[String],
    command: FlowModCommand,
    file_commands: bool,
) -> Result<()> {
    let switch = &args[0];
    let names = ctx.names_to_accept(switch)?;
    let flows = match args.get(1) {
        Some(f) if f == "-" => {
            let fixed = (!file_commands).then_some(command);
            ctx.read_flow_file(names.as_ref(), "-", fixed)?
        }
        text => {
            let text = text.map_or("", String::as_str);
            vec![(
                command,
                ctx.parse_flow(names.as_ref(), text, Some(command))?,
            )]
        }
    };
    send_flow_mods(ctx, switch, flows)
}

fn add_flow(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    flow_mod_command(ctx, args, FlowModCommand::Add, true)
}

fn add_flows(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let names = ctx.names_to_accept(&args[0])?;
    let flows = ctx.read_flow_file(names.as_ref(), &args[1], None)?;
    send_flow_mods(ctx, &args[0], flows)
}

fn mod_flows(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let command = if ctx.opts.strict {
        FlowModCommand::ModifyStrict
    } else {
        FlowModCommand::Modify
    };
    flow_mod_command(ctx, args, command, false)
}

fn del_flows(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let command = if ctx.opts.strict {
        FlowModCommand::DeleteStrict
    } else {
        FlowModCommand::Delete
    };
    flow_mod_command(ctx, args, command, false)
}

fn replace_flows(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let switch = &args[0];
    let names = ctx.names_to_accept(switch)?;
    let mut tables = FlowTables::default();
    for (_, spec) in ctx.read_flow_file(names.as_ref(), &args[1], Some(FlowModCommand::Add))? {
        tables.insert_spec(0, &spec);
    }
    let mut conn = ctx.session.open(switch)?;
    for entry in read_flow_stats(&mut conn, FlowStatsRequest::default())? {
        tables.insert_stats(1, &entry);
    }
    for fm in tables.replacement(ctx.opts.readd) {
        conn.transact_noreply(MessageBody::FlowMod(fm))?;
    }
    Ok(())
}

/// Whether a `diff-flows` SOURCE is a file: it starts with `/` or `.`, or
/// has no `:` and exists.
fn is_file_source(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with('.')
        || (!source.contains(':') && Path::new(source).exists())
}

fn diff_flows(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let mut tables = FlowTables::default();
    // As in ovs-ofctl: files read names only from a switch read before
    // them, and the names of the first switch are shown.
    let mut names: Option<PortNames> = None;
    for (side, source) in args.iter().enumerate() {
        if is_file_source(source) {
            let accept = names.as_ref().filter(|_| ctx.opts.accept_names());
            for (_, spec) in ctx.read_flow_file(accept, source, Some(FlowModCommand::Add))? {
                tables.insert_spec(side, &spec);
            }
        } else {
            let mut conn = ctx.session.open(source)?;
            for entry in read_flow_stats(&mut conn, FlowStatsRequest::default())? {
                tables.insert_stats(side, &entry);
            }
            drop(conn);
            if names.is_none() && ctx.opts.show_names(ctx.interactive) {
                names = Some(ctx.port_names(source)?);
            }
        }
    }
    let lines = tables.diff(names.as_ref());
    let mut text = String::new();
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    ctx.print(&text)?;
    if lines.is_empty() {
        Ok(())
    } else {
        Err(OfctlError::Exit(2))
    }
}

/// `packet=` and the old syntax's PACKET: hex digits, spaces and dots
/// between bytes allowed, at least an Ethernet header.
fn packet_from_hex(hex: &str) -> std::result::Result<Vec<u8>, &'static str> {
    let mut bytes = Vec::new();
    let mut rest = hex.as_bytes();
    loop {
        while let [b' ' | b'.' | b'\t' | b'\r' | b'\n', tail @ ..] = rest {
            rest = tail;
        }
        match rest {
            [a, b, tail @ ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                let digit = |c: u8| char::from(c).to_digit(16).unwrap_or(0) as u8;
                bytes.push((digit(*a) << 4) | digit(*b));
                rest = tail;
            }
            [] => break,
            _ => return Err("Trailing garbage in packet data"),
        }
    }
    if bytes.len() < 14 {
        return Err("Packet data too short for Ethernet");
    }
    Ok(bytes)
}

/// An action list for a packet-out: apply-actions only.
fn packet_out_actions(ctx: &Ctx<'_>, names: Option<&PortNames>, text: &str) -> Result<Vec<Action>> {
    let flow = format!("actions={text}");
    let spec = ctx.parse_flow(names, &flow, Some(FlowModCommand::Add))?;
    let mut actions = Vec::new();
    for i in spec.instructions {
        match i {
            Instruction::ApplyActions(a) => actions.extend(a),
            other => {
                return Err(OfctlError::Syntax(format!(
                    "{}: a packet-out takes actions, not instructions",
                    rvs_openflow::flow_syntax::format_actions(&[other])
                )))
            }
        }
    }
    Ok(actions)
}

fn packet_out(ctx: &mut Ctx<'_>, args: &[String]) -> Result<()> {
    let switch = &args[0];
    let (in_port, actions, packets) = match args.len() {
        2 => {
            let names = ctx.names_to_accept(switch)?;
            let (in_port, actions, packet) = parse_packet_out(ctx, names.as_ref(), &args[1])?;
            (in_port, actions, vec![packet])
        }
        3 => {
            return Err(usage_err(
                "packet-out takes SWITCH IN_PORT ACTIONS PACKET... or SWITCH \"in_port=PORT,packet=HEX,actions=ACTIONS\"",
            ))
        }
        _ => {
            let names = ctx.names_to_accept(switch)?;
            let actions = packet_out_actions(ctx, names.as_ref(), &args[2])?;
            let in_port = ctx.port_arg(switch, &args[1])?;
            let packets = args[3..]
                .iter()
                .map(|p| packet_from_hex(p).map_err(|e| OfctlError::Syntax(e.to_string())))
                .collect::<Result<Vec<_>>>()?;
            (in_port, actions, packets)
        }
    };
    let mut conn = ctx.session.open(switch)?;
    for data in packets {
        conn.transact_noreply(MessageBody::PacketOut(PacketOut {
            buffer_id: NO_BUFFER,
            in_port,
            actions: actions.clone(),
            data,
        }))?;
    }
    Ok(())
}

/// `in_port=PORT,packet=HEX,actions=ACTIONS` (actions last, as in a flow;
/// `in_port` defaults to CONTROLLER, no actions drop the packet).
fn parse_packet_out(
    ctx: &Ctx<'_>,
    names: Option<&PortNames>,
    text: &str,
) -> Result<(PortNo, Vec<Action>, Vec<u8>)> {
    let (fields, actions_text) = match find_actions(text) {
        Some((before, after)) => (before, Some(after)),
        None => (text, None),
    };
    let mut in_port = PortNo::CONTROLLER;
    let mut packet = None;
    for token in fields
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|t| !t.is_empty())
    {
        let (key, value) = token.split_once(['=', ':']).unwrap_or((token, ""));
        if value.is_empty() {
            return Err(OfctlError::Syntax(format!("field {key} missing value")));
        }
        match key {
            "in_port" => {
                let port = parse_port_number(value)
                    .or_else(|| names.and_then(|n| n.number(value)))
                    .ok_or_else(|| {
                        OfctlError::Syntax(format!("{value} is not a valid OpenFlow port"))
                    })?;
                let usable = !port.is_reserved()
                    || [PortNo::LOCAL, PortNo::ANY, PortNo::CONTROLLER].contains(&port);
                if !usable {
                    return Err(OfctlError::Syntax(format!(
                        "{value} is not a valid OpenFlow port for PACKET_OUT"
                    )));
                }
                in_port = port;
            }
            "packet" => {
                packet = Some(
                    packet_from_hex(value)
                        .map_err(|e| OfctlError::Syntax(format!("packet: {e}")))?,
                );
            }
            other => {
                return Err(OfctlError::Syntax(format!(
                    "unknown keyword {other} (a packet-out takes in_port, packet and actions; OpenFlow 1.3 carries no other pipeline fields)"
                )))
            }
        }
    }
    let Some(packet) = packet else {
        return Err(OfctlError::Syntax("must specify packet".into()));
    };
    let actions = match actions_text {
        Some(a) if !a.trim().is_empty() => packet_out_actions(ctx, names, a)?,
        _ => Vec::new(),
    };
    Ok((in_port, actions, packet))
}

/// Splits `...,actions=A` into the part before and `A`.
fn find_actions(text: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("actions") {
        let at = from + i;
        let before_ok = at == 0 || text[..at].ends_with([',', ' ', '\t']);
        let rest = &text[at + "actions".len()..];
        let rest_trimmed = rest.trim_start();
        if before_ok {
            if let Some(value) = rest_trimmed.strip_prefix(['=', ':']) {
                return Some((&text[..at], value));
            }
        }
        from = at + "actions".len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_in_hex() {
        assert_eq!(
            packet_from_hex("ffffffffffff 020000000001 0800 00")
                .unwrap()
                .len(),
            15
        );
        assert_eq!(
            packet_from_hex("ff.ff"),
            Err("Packet data too short for Ethernet")
        );
        assert_eq!(
            packet_from_hex("fffffffffffff"),
            Err("Trailing garbage in packet data")
        );
        assert_eq!(
            packet_from_hex("zz"),
            Err("Trailing garbage in packet data")
        );
    }

    #[test]
    fn actions_are_last() {
        assert_eq!(
            find_actions("in_port=1,packet=00,actions=output:1,output:2"),
            Some(("in_port=1,packet=00,", "output:1,output:2"))
        );
        assert_eq!(
            find_actions("in_port=1 actions:drop"),
            Some(("in_port=1 ", "drop"))
        );
        assert_eq!(find_actions("in_port=1"), None);
    }

    #[test]
    fn file_or_switch() {
        assert!(is_file_source("./flows"));
        assert!(is_file_source("/tmp/x"));
        assert!(!is_file_source("unix:/tmp/x"));
        assert!(!is_file_source("br-that-does-not-exist-here"));
    }
}
