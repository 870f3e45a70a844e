//! `rvs-appctl`: sends one command to a running rvs daemon's control socket
//! and prints the answer. The protocol is JSON-RPC, as Open vSwitch's
//! `ovs-appctl` speaks it: the method is the command, the params its
//! arguments, the result text (or JSON after `set-options --format json`).

use rvs_ovsdb::jsonrpc::{self, Framer, Message};
use serde_json::{json, Value};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "\
rvs-appctl: talk to a running rvs daemon
usage: rvs-appctl [OPTIONS] COMMAND [ARG...]

Options:
  -t, --target=TARGET   the daemon's control socket: a path, or a daemon name
                        (default rvs-vswitchd: $RVS_RUNDIR/rvs-vswitchd.ctl,
                        RVS_RUNDIR defaulting to /var/run/rvs)
  -f, --format=FORMAT   text (default) or json
  -T, --timeout=SECS    give up after SECS seconds (default 30)
  -h, --help            this help
  -V, --version         the version

Commands of rvs-vswitchd (rvs-appctl list-commands prints the current list):
  dpif/show                    datapath ports, bridges, OpenFlow numbers
  dpctl/dump-flows             megaflows with masks, counters, actions
  dpif-netdev/pmd-stats-show   per-thread cache hits, misses, drops, ns/packet
  dpif-netdev/pmd-stats-clear  zero those counters
  dpif-netdev/pmd-rxq-show     which thread polls which port
  fdb/show BRIDGE              learned MAC addresses
  fdb/flush [BRIDGE]           forget them
  ofproto/trace BRIDGE FLOW    how a packet would be switched, e.g.
                               ofproto/trace br0 in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02
  exit                         stop the daemon

Examples:
  rvs-appctl dpif-netdev/pmd-stats-show
  rvs-appctl --format json fdb/show br0
  rvs-appctl -t /tmp/rvs/rvs-vswitchd.ctl dpctl/dump-flows
";

/// Runs `rvs-appctl` with `args` (without the program name); returns the
/// exit status: 0 ok, 1 usage or connection error, 2 the command failed.
pub fn main_with(args: &[String]) -> i32 {
    let mut target: Option<String> = None;
    let mut json_out = false;
    let mut timeout = 30u64;
    let mut rest = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if !rest.is_empty() {
            rest.push(a.clone());
            continue;
        }
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if a.starts_with("--") => (o, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("option {name} needs a value"))
        };
        let r: Result<(), String> = match opt {
            "-h" | "--help" => {
                print!("{USAGE}");
                return 0;
            }
            "-V" | "--version" => {
                println!("rvs-appctl {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            "-t" | "--target" => value("--target").map(|v| target = Some(v)),
            "-f" | "--format" => value("--format").and_then(|v| match v.as_str() {
                "json" => {
                    json_out = true;
                    Ok(())
                }
                "text" => Ok(()),
                other => Err(format!("unknown format {other:?}: use text or json")),
            }),
            "-T" | "--timeout" => value("--timeout").and_then(|v| {
                v.parse()
                    .map(|t| timeout = t)
                    .map_err(|_| format!("--timeout takes a number of seconds, not {v:?}"))
            }),
            o if o.starts_with('-') && o.len() > 1 => {
                Err(format!("unknown option {o:?} (see --help)"))
            }
            _ => {
                rest.push(a.clone());
                Ok(())
            }
        };
        if let Err(e) = r {
            eprintln!("rvs-appctl: {e}");
            return 1;
        }
    }
    let Some((cmd, cmd_args)) = rest.split_first() else {
        eprintln!("rvs-appctl: no command given (see --help)");
        return 1;
    };
    let rundir = std::env::var_os("RVS_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/rvs"));
    let path = match target {
        None => rundir.join("rvs-vswitchd.ctl"),
        Some(t) if t.contains('/') => PathBuf::from(t),
        Some(t) => rundir.join(format!("{t}.ctl")),
    };
    let mut s = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "rvs-appctl: cannot connect to {}: {e} (is the daemon running? see --target)",
                path.display()
            );
            return 1;
        }
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(timeout)));
    let mut framer = Framer::default();
    let mut call = |method: &str, params: Value, id: u64| -> Result<Value, String> {
        jsonrpc::write_message(&mut s, &jsonrpc::request(method, params, json!(id)))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let v = framer
            .read_message(&mut s)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        match Message::parse(v) {
            Ok(Message::Response { result, error, .. }) => {
                if error.is_null() {
                    Ok(result)
                } else {
                    Err(error
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| error.to_string()))
                }
            }
            _ => Err("the daemon sent something that is not a reply".into()),
        }
    };
    if json_out {
        if let Err(e) = call("set-options", json!(["--format", "json"]), 0) {
            eprintln!("rvs-appctl: {e}");
            return 1;
        }
    }
    match call(cmd, json!(cmd_args), 1) {
        Ok(Value::String(text)) => {
            print!("{text}");
            0
        }
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("rvs-appctl: {}: server returned an error", path.display());
            2
        }
    }
}
