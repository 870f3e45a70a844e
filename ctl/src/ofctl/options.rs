//! The command line of `rvs-ofctl`: options may come before, between or
//! after the arguments (as GNU `getopt` lets `ovs-ofctl` take them), `--`
//! ends them, and `-` alone is an argument (standard input).

use super::error::{usage_err, Result};

/// How `dump-flows` orders its output (`--sort[=FIELD]`,
/// `--rsort[=FIELD]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The match field, or `None` for the priority.
    pub field: Option<String>,
    /// `--rsort`.
    pub descending: bool,
}

/// The options of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--strict`: `mod-flows` and `del-flows` match exactly.
    pub strict: bool,
    /// `--readd`: `replace-flows` re-adds flows that did not change.
    pub readd: bool,
    /// `--timeout=SECS`.
    pub timeout: Option<u64>,
    /// `--names` (`Some(true)`), `--no-names` (`Some(false)`), or the
    /// default: accept names, show them only on a terminal.
    pub names: Option<bool>,
    /// `--stats` (the default) or `--no-stats`.
    pub stats: bool,
    /// `--sort` and `--rsort`, in the order given.
    pub sort: Vec<SortKey>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strict: false,
            readd: false,
            timeout: None,
            names: None,
            stats: true,
            sort: Vec::new(),
        }
    }
}

impl Options {
    /// Whether port names in flows and arguments are looked up.
    pub fn accept_names(&self) -> bool {
        self.names != Some(false)
    }

    /// Whether port names are shown; by default only to a terminal.
    pub fn show_names(&self, interactive: bool) -> bool {
        self.names.unwrap_or(interactive)
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `--help` or `help`.
    Help,
    /// `--version`.
    Version,
    /// A command with its arguments.
    Command {
        /// The options.
        opts: Options,
        /// The command name.
        name: String,
        /// Its arguments.
        args: Vec<String>,
    },
}

/// Options of `ovs-ofctl` that `rvs-ofctl` takes and ignores.
const IGNORED_FLAGS: &[&str] = &["--more", "-m", "--color", "--verbose", "-v"];

/// Options of `ovs-ofctl` that `rvs-ofctl` does not have, with the reason.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "--bundle",
        "rvs-ofctl sends flow changes one by one, without bundles",
    ),
    ("--may-create", "rvs-ofctl has no group commands"),
    ("--flow-format", "OpenFlow 1.3 has one flow format, OXM"),
    ("-F", "OpenFlow 1.3 has one flow format, OXM"),
    ("--packet-in-format", "rvs-ofctl has no monitor command"),
    ("-P", "rvs-ofctl has no monitor command"),
    ("--timestamp", "rvs-ofctl has no monitor or snoop command"),
    ("--unixctl", "rvs-ofctl runs no control socket"),
    ("--read-only", "rvs-ofctl has no read-only mode"),
];

/// Reads the command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Invocation> {
    let mut opts = Options::default();
    let mut positional: Vec<String> = Vec::new();
    let mut it = args.iter();
    let mut only_positional = false;
    while let Some(arg) = it.next() {
        if only_positional || arg == "-" || !arg.starts_with('-') {
            positional.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        let (name, inline): (&str, Option<String>) = if arg.starts_with("--") {
            match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (arg.as_str(), None),
            }
        } else if arg.len() > 2 && !arg[2..].starts_with('=') {
            // -OOpenFlow13, -t5, -vconsole:dbg
            (&arg[..2], Some(arg[2..].to_string()))
        } else {
            (arg.as_str(), None)
        };
        let mut value = |what: &str| -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| usage_err(format!("option {name} needs {what} (see --help)")))
        };
        match name {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "--strict" => opts.strict = true,
            "--readd" => opts.readd = true,
            "--names" => opts.names = Some(true),
            "--no-names" => opts.names = Some(false),
            "--stats" => opts.stats = true,
            "--no-stats" => opts.stats = false,
            "--sort" | "--rsort" => opts.sort.push(SortKey {
                field: inline.clone().filter(|f| f != "priority"),
                descending: name == "--rsort",
            }),
            "-t" | "--timeout" => {
                let v = value("a number of seconds")?;
                match v.parse::<u64>() {
                    Ok(secs) if secs > 0 => opts.timeout = Some(secs),
                    _ => {
                        return Err(usage_err(format!(
                            "value {v} on -t or --timeout is invalid: give a whole number of seconds, at least 1"
                        )))
                    }
                }
            }
            "-O" | "--protocols" => {
                let v = value("a list of OpenFlow versions")?;
                check_protocols(&v)?;
            }
            n if IGNORED_FLAGS.contains(&n) => {}
            n => {
                if let Some((_, why)) = UNSUPPORTED.iter().find(|(o, _)| *o == n) {
                    return Err(usage_err(format!("{n} is not supported: {why}")));
                }
                return Err(usage_err(format!(
                    "unrecognized option '{arg}' (see --help)"
                )));
            }
        }
    }
    let mut positional = positional.into_iter();
    let Some(name) = positional.next() else {
        return Err(usage_err(
            "missing command name; use --help for help".to_string(),
        ));
    };
    if name == "help" {
        return Ok(Invocation::Help);
    }
    Ok(Invocation::Command {
        opts,
        name,
        args: positional.collect(),
    })
}

/// `-O`: a list of versions (`OpenFlow13`, `OpenFlow10,OpenFlow13`) that
/// must include OpenFlow 1.3, the only version `rvs-ofctl` speaks.
fn check_protocols(list: &str) -> Result<()> {
    let mut has13 = false;
    for v in list
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|v| !v.is_empty())
    {
        match v.to_ascii_lowercase().as_str() {
            "openflow13" => has13 = true,
            "openflow10" | "openflow11" | "openflow12" | "openflow14" | "openflow15" => {}
            _ => {
                return Err(usage_err(format!(
                    "unknown OpenFlow version \"{v}\" (rvs-ofctl speaks OpenFlow13)"
                )))
            }
        }
    }
    if has13 {
        Ok(())
    } else {
        Err(usage_err(format!(
            "rvs-ofctl speaks only OpenFlow 1.3, which \"{list}\" leaves out: use -O OpenFlow13 or leave -O out"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn command(args: &[&str]) -> (Options, String, Vec<String>) {
        match parse(args).expect("parses") {
            Invocation::Command { opts, name, args } => (opts, name, args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_anywhere() {
        let (opts, name, args) = command(&[
            "-O",
            "OpenFlow13",
            "dump-flows",
            "br0",
            "--no-stats",
            "--rsort=priority",
            "--sort=tcp_src",
            "ip",
        ]);
        assert_eq!(name, "dump-flows");
        assert_eq!(args, ["br0", "ip"]);
        assert!(!opts.stats);
        assert_eq!(
            opts.sort,
            [
                SortKey {
                    field: None,
                    descending: true
                },
                SortKey {
                    field: Some("tcp_src".into()),
                    descending: false
                }
            ]
        );
        let (opts, _, args) = command(&["--protocols=OpenFlow13", "-t5", "add-flows", "br0", "-"]);
        assert_eq!(opts.timeout, Some(5));
        assert_eq!(args, ["br0", "-"]);
        let (_, _, args) = command(&["del-flows", "--", "br0", "--x"]);
        assert_eq!(args, ["br0", "--x"]);
    }

    #[test]
    fn versions_other_than_13_are_refused() {
        let err = parse(&["-O", "OpenFlow10", "show", "br0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("only OpenFlow 1.3"), "{err}");
        assert!(parse(&["-O", "OpenFlow10,OpenFlow13", "show", "br0"]).is_ok());
        assert!(parse(&["-O", "OF9", "show", "br0"]).is_err());
    }

    #[test]
    fn bad_options() {
        assert!(parse(&["--timeout=0", "show", "br0"]).is_err());
        assert!(parse(&["--frobnicate", "show", "br0"]).is_err());
        assert!(parse(&["--bundle", "add-flow", "br0", "actions=drop"])
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        assert!(parse(&[]).is_err());
        assert_eq!(parse(&["show", "--help"]).unwrap(), Invocation::Help);
        assert_eq!(parse(&["help"]).unwrap(), Invocation::Help);
    }
}
