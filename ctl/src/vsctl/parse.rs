//! The command line: global options, then commands separated by `--`,
//! each with its own options before its name:
//!
//! ```text
//! rvs-vsctl [OPTIONS] [--] [CMD-OPTIONS] COMMAND [ARG...] [-- [CMD-OPTIONS] COMMAND [ARG...]]...
//! ```
//!
//! As with `ovs-vsctl`, options of the first command may also stand among
//! the global options (`rvs-vsctl --if-exists del-br br0`), and options that
//! take a value accept both `--opt=VALUE` and `--opt VALUE` in the global
//! position. Everything here is checked before the database is contacted.

use super::commands::COMMANDS;
use super::error::{usage_err, Result};
use super::output::{DataFormat, Format, Style};
use super::Ctx;

/// What a command does when run.
pub type RunFn = fn(&mut Ctx<'_>, &Command) -> Result<()>;

/// The groups of commands in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Switch,
    Bridge,
    Port,
    Interface,
    Controller,
    Manager,
    Database,
}

impl Group {
    /// The heading in `--help`.
    pub fn title(self) -> &'static str {
        match self {
            Group::Switch => "Open vSwitch commands",
            Group::Bridge => "Bridge commands",
            Group::Port => "Port commands (a bond is one port with several interfaces)",
            Group::Interface => "Interface commands",
            Group::Controller => "Controller and fail-mode commands",
            Group::Manager => "Manager commands",
            Group::Database => "Database commands",
        }
    }
}

/// One command of the language.
#[derive(Debug)]
pub struct CommandDef {
    pub name: &'static str,
    /// The synopsis, options included: `[--may-exist] add-br BRIDGE`.
    pub usage: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
    pub group: Group,
    pub min_args: usize,
    pub max_args: usize,
    /// The options it takes; a trailing `=` means the option takes a value.
    pub options: &'static [&'static str],
    pub run: RunFn,
}

/// A command as given: its definition, options and arguments.
#[derive(Debug, Clone)]
pub struct Command {
    pub def: &'static CommandDef,
    /// Options as given (`--if-exists`, `--id` with `Some("@x")`).
    pub options: Vec<(String, Option<String>)>,
    pub args: Vec<String>,
}

impl Command {
    /// Whether the option (without its value) was given.
    pub fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }

    /// The value of an option that takes one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// The options that apply to the whole invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalOptions {
    pub db: String,
    pub no_wait: bool,
    /// Seconds; `None` (or 0) waits forever.
    pub timeout: Option<u64>,
    pub style: Style,
    pub oneline: bool,
    pub dry_run: bool,
    pub retry: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Action {
    Help,
    Version,
    Run {
        opts: GlobalOptions,
        commands: Vec<Command>,
    },
}

/// The default database: `unix:$RVS_RUNDIR/db.sock` (`RVS_RUNDIR`
/// defaults to `/var/run/rvs`).
pub fn default_db(rundir: Option<&str>) -> String {
    format!(
        "unix:{}/db.sock",
        rundir.filter(|d| !d.is_empty()).unwrap_or("/var/run/rvs")
    )
}

/// Global options that take a value, long and short forms.
const VALUE_OPTIONS: &[(&str, Option<char>)] = &[
    ("--db", None),
    ("--timeout", Some('t')),
    ("--format", Some('f')),
    ("--data", Some('d')),
    ("--max-column-width", None),
];

/// Every option some command takes, as it is written in the definitions.
fn command_option(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .flat_map(|d| d.options.iter())
        .find(|o| o.trim_end_matches('=') == name)
        .copied()
}

/// Parses the arguments (without the program name). `rundir` is
/// `$RVS_RUNDIR`.
pub fn parse_command_line(args: &[String], rundir: Option<&str>) -> Result<Action> {
    let mut opts = GlobalOptions {
        db: default_db(rundir),
        no_wait: false,
        timeout: None,
        style: Style::default(),
        oneline: false,
        dry_run: false,
        retry: false,
    };
    let mut first_cmd_options: Vec<(String, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            break;
        }
        i += 1;
        // Split --opt=value, and find the value of options that take one.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if arg.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let value_opt = VALUE_OPTIONS.iter().find(|(long, short)| {
            name == *long || short.is_some_and(|c| name.starts_with(&format!("-{c}")))
        });
        if let Some((long, short)) = value_opt {
            let value = if let Some(v) = inline {
                v
            } else if let Some(rest) = short
                .and_then(|c| name.strip_prefix(&format!("-{c}")))
                .filter(|r| !r.is_empty())
            {
                rest.to_string()
            } else {
                let v = args.get(i).cloned().ok_or_else(|| {
                    usage_err(format!("option {long} needs a value (see --help)"))
                })?;
                i += 1;
                v
            };
            apply_value_option(&mut opts, long, &value)?;
            continue;
        }
        match name.as_str() {
            "-h" | "--help" => return Ok(Action::Help),
            "-V" | "--version" => return Ok(Action::Version),
            "--no-wait" => opts.no_wait = true,
            "--no-headings" => opts.style.headings = false,
            "--pretty" => opts.style.pretty = true,
            "--bare" => {
                opts.style.format = Format::List;
                opts.style.data = DataFormat::Bare;
                opts.style.headings = false;
            }
            "--oneline" => opts.oneline = true,
            "--dry-run" => opts.dry_run = true,
            "--retry" => opts.retry = true,
            // Logging options of ovs-vsctl: accepted so that scripts keep
            // working; rvs-vsctl logs nothing.
            "--no-syslog" | "--log-file" | "--verbose" => {}
            n if n.starts_with("-v") && !n.starts_with("--") => {}
            n => match command_option(n) {
                Some(def) => {
                    let takes_value = def.ends_with('=');
                    if takes_value && inline.is_none() {
                        return Err(usage_err(format!(
                            "option {n} needs a value: write {n}=VALUE"
                        )));
                    }
                    if !takes_value && inline.is_some() {
                        return Err(usage_err(format!("option {n} takes no value")));
                    }
                    first_cmd_options.push((n.to_string(), inline));
                }
                None => {
                    return Err(usage_err(format!(
                        "unrecognized option '{arg}' (see rvs-vsctl --help)"
                    )))
                }
            },
        }
    }
    let commands = parse_commands(&args[i..], first_cmd_options)?;
    Ok(Action::Run { opts, commands })
}

fn apply_value_option(opts: &mut GlobalOptions, long: &str, value: &str) -> Result<()> {
    match long {
        "--db" => {
            if !(value.starts_with("unix:") || value.starts_with("tcp:")) {
                return Err(usage_err(format!(
                    "--db={value}: use unix:PATH or tcp:IP:PORT"
                )));
            }
            opts.db = value.to_string();
        }
        "--timeout" => {
            let secs: u64 = value.parse().map_err(|_| {
                usage_err(format!(
                    "--timeout={value}: the timeout must be a whole number of seconds (0: no limit)"
                ))
            })?;
            opts.timeout = (secs > 0).then_some(secs);
        }
        "--format" => {
            opts.style.format = Format::parse(value).ok_or_else(|| {
                usage_err(format!(
                    "--format={value}: the format must be list, table, csv, html or json"
                ))
            })?;
        }
        "--data" => {
            opts.style.data = DataFormat::parse(value).ok_or_else(|| {
                usage_err(format!(
                    "--data={value}: the data format must be string, bare or json"
                ))
            })?;
        }
        "--max-column-width" => {
            opts.style.max_width = Some(
                value
                    .parse()
                    .map_err(|_| usage_err(format!("--max-column-width={value}: not a number")))?,
            );
        }
        _ => unreachable!("every value option is handled"),
    }
    Ok(())
}

/// Splits the rest of the command line at `--` into commands.
fn parse_commands(
    args: &[String],
    mut first_options: Vec<(String, Option<String>)>,
) -> Result<Vec<Command>> {
    let mut commands = Vec::new();
    for group in args.split(|a| a == "--") {
        if group.is_empty() {
            continue;
        }
        let mut options = std::mem::take(&mut first_options);
        let mut j = 0;
        while j < group.len() && group[j].starts_with("--") {
            let (n, v) = match group[j].split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (group[j].clone(), None),
            };
            options.push((n, v));
            j += 1;
        }
        let Some(name) = group.get(j) else {
            return Err(usage_err(format!(
                "options {} are not followed by a command",
                group.join(" ")
            )));
        };
        let def = COMMANDS.iter().find(|d| d.name == name).ok_or_else(|| {
            usage_err(format!(
                "unknown command '{name}'; use --help for the list of commands"
            ))
        })?;
        for (n, v) in &options {
            let Some(spec) = def.options.iter().find(|o| o.trim_end_matches('=') == n) else {
                return Err(usage_err(format!(
                    "'{}' command has no '{n}' option (usage: {})",
                    def.name, def.usage
                )));
            };
            if spec.ends_with('=') && v.is_none() {
                return Err(usage_err(format!(
                    "'{}' command: option {n} needs a value: write {n}=VALUE",
                    def.name
                )));
            }
            if !spec.ends_with('=') && v.is_some() {
                return Err(usage_err(format!(
                    "'{}' command: option {n} takes no value",
                    def.name
                )));
            }
        }
        let cargs: Vec<String> = group[j + 1..].to_vec();
        if cargs.len() < def.min_args || cargs.len() > def.max_args {
            let want = if def.min_args == def.max_args {
                format!("exactly {}", def.min_args)
            } else if def.max_args == usize::MAX {
                format!("at least {}", def.min_args)
            } else {
                format!("{} to {}", def.min_args, def.max_args)
            };
            return Err(usage_err(format!(
                "'{}' command takes {want} argument(s), not {} (usage: {})",
                def.name,
                cargs.len(),
                def.usage
            )));
        }
        commands.push(Command {
            def,
            options,
            args: cargs,
        });
    }
    if commands.is_empty() {
        return Err(usage_err(
            "missing command name (use --help for the list of commands)",
        ));
    }
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Action> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_command_line(&v, Some("/run/x"))
    }

    fn run(args: &[&str]) -> (GlobalOptions, Vec<Command>) {
        match parse(args).unwrap() {
            Action::Run { opts, commands } => (opts, commands),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn global_options() {
        let (o, c) = run(&["add-br", "br0"]);
        assert_eq!(o.db, "unix:/run/x/db.sock");
        assert!(!o.no_wait);
        assert_eq!(c[0].def.name, "add-br");
        assert_eq!(c[0].args, vec!["br0"]);
        let (o, _) = run(&[
            "--db=tcp:127.0.0.1:6640",
            "--no-wait",
            "--timeout=5",
            "--format",
            "json",
            "-d",
            "bare",
            "--",
            "list-br",
        ]);
        assert_eq!(o.db, "tcp:127.0.0.1:6640");
        assert!(o.no_wait);
        assert_eq!(o.timeout, Some(5));
        assert_eq!(o.style.format, Format::Json);
        assert_eq!(o.style.data, DataFormat::Bare);
        let (o, _) = run(&["-t", "0", "--db", "unix:/x", "list-br"]);
        assert_eq!(o.timeout, None);
        assert_eq!(o.db, "unix:/x");
        let (o, _) = run(&["-t7", "--bare", "list-br"]);
        assert_eq!(o.timeout, Some(7));
        assert!(!o.style.headings);
        assert_eq!(default_db(None), "unix:/var/run/rvs/db.sock");
        assert!(matches!(parse(&["--help"]).unwrap(), Action::Help));
        assert!(matches!(parse(&["-V"]).unwrap(), Action::Version));
    }

    #[test]
    fn commands_and_their_options() {
        let (_, c) = run(&[
            "--timeout=5",
            "--",
            "--if-exists",
            "del-port",
            "vnet0",
            "--",
            "add-port",
            "br0",
            "vnet0",
            "--",
            "set",
            "Interface",
            "vnet0",
            "external-ids:attached-mac=\"52:54:00:00:00:01\"",
        ]);
        assert_eq!(c.len(), 3);
        assert!(c[0].has("--if-exists"));
        assert!(!c[1].has("--if-exists"));
        assert_eq!(
            c[2].args[2],
            "external-ids:attached-mac=\"52:54:00:00:00:01\""
        );
        // Options of the first command among the global ones.
        let (_, c) = run(&[
            "--if-exists",
            "--columns=statistics",
            "--format=list",
            "list",
            "Interface",
            "x",
        ]);
        assert!(c[0].has("--if-exists"));
        assert_eq!(c[0].value("--columns"), Some("statistics"));
        let (_, c) = run(&["--", "--id=@q", "create", "Queue", "--", "list-br"]);
        assert_eq!(c[0].value("--id"), Some("@q"));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |a: &[&str]| parse(a).unwrap_err().to_string();
        assert!(err(&["--bogus", "list-br"]).contains("unrecognized option '--bogus'"));
        assert!(err(&["frobnicate"]).contains("unknown command 'frobnicate'"));
        assert!(err(&[]).contains("missing command name"));
        assert!(err(&["--no-wait"]).contains("missing command name"));
        assert!(err(&["add-br"]).contains("'add-br' command takes 1 to 3 argument(s), not 0"));
        assert!(err(&["--", "--may-exist", "del-br", "x"]).contains("no '--may-exist' option"));
        assert!(err(&["--timeout=x", "list-br"]).contains("whole number of seconds"));
        assert!(err(&["--format=xml", "list-br"]).contains("--format=xml"));
        assert!(err(&["--db=/tmp/x", "list-br"]).contains("unix:PATH"));
        assert!(err(&["--", "--id", "create", "Queue"]).contains("needs a value"));
        assert!(err(&["--", "--if-exists"]).contains("not followed by a command"));
    }
}
