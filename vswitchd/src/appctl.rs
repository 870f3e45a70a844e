//! The control socket, `<rundir>/rvs-vswitchd.ctl`: JSON-RPC requests whose
//! method is a command name and whose params are its arguments, answered
//! with text (or JSON after `set-options --format json`), the protocol
//! Open vSwitch's `ovs-appctl` speaks, so both `rvs-appctl` and
//! `ovs-appctl -t PATH` work.

use crate::switch::Switch;
use rvs_datapath::flow::{format_mac, parse_mac, FlowKey};
use rvs_datapath::{Action, Field, Megaflow};
use rvs_ovsdb::jsonrpc::{self, Framer, Message};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What a command needs.
#[derive(Debug)]
pub struct Ctx {
    pub switch: Arc<Mutex<Switch>>,
    pub exit: Arc<AtomicBool>,
}

/// Every command, with its usage and a one-line description.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "dpif/show",
        "",
        "datapath ports and their bridges and OpenFlow numbers",
    ),
    (
        "dpctl/dump-flows",
        "",
        "installed megaflows with masks, counters and actions",
    ),
    (
        "dpif-netdev/pmd-stats-show",
        "",
        "per-thread packets, cache hits, misses, drops, cycles per packet",
    ),
    (
        "dpif-netdev/pmd-stats-clear",
        "",
        "zero the per-thread counters",
    ),
    (
        "dpif-netdev/pmd-rxq-show",
        "",
        "which thread polls which port",
    ),
    ("fdb/show", "BRIDGE", "the MAC learning table of BRIDGE"),
    (
        "fdb/flush",
        "[BRIDGE]",
        "forget learned MACs (of BRIDGE, or all)",
    ),
    (
        "ofproto/trace",
        "BRIDGE FLOW",
        "how a packet would be handled: rules, actions, megaflow",
    ),
    ("dpctl/del-flows", "", "remove every megaflow"),
    (
        "vlog/set",
        "[SPEC]",
        "logging levels (accepted; rvs logs to stderr)",
    ),
    ("list-commands", "", "this list"),
    ("version", "", "the version"),
    ("exit", "", "stop the switch, removing what it created"),
];

fn ip4(a: u32) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

/// A megaflow in `dpctl/dump-flows` form.
pub fn format_megaflow(f: &Megaflow, port_names: &dyn Fn(u32) -> String) -> String {
    let k = &f.key;
    let m = &f.mask;
    let mut parts = vec![format!("in_port({})", port_names(k.in_port()))];
    if m.has_field(Field::EthSrc) || m.has_field(Field::EthDst) {
        parts.push(format!(
            "eth(src={},dst={})",
            format_mac(k.eth_src()),
            format_mac(k.eth_dst())
        ));
    }
    if m.has_field(Field::VlanTci) {
        parts.push(format!("vlan_tci=0x{:04x}", k.vlan_tci()));
    }
    if m.has_field(Field::DlType) {
        parts.push(format!("eth_type(0x{:04x})", k.dl_type()));
    }
    if m.has_field(Field::Ipv4Src) || m.has_field(Field::Ipv4Dst) {
        parts.push(format!(
            "ipv4(src={},dst={})",
            ip4(k.ipv4_src()),
            ip4(k.ipv4_dst())
        ));
    }
    if m.has_field(Field::NwProto) {
        parts.push(format!("proto={}", k.nw_proto()));
    }
    if m.has_field(Field::TpSrc) || m.has_field(Field::TpDst) {
        parts.push(format!("l4(src={},dst={})", k.tp_src(), k.tp_dst()));
    }
    let wild: Vec<&str> = Field::ALL
        .iter()
        .filter(|f| !m.has_field(**f))
        .map(|f| f.name())
        .collect();
    let acts: Vec<String> = f
        .actions
        .iter()
        .map(|a| format_action(a, port_names))
        .collect();
    format!(
        "{}, packets:{}, bytes:{}, used:{}, actions:{}\n    wildcarded: {}",
        parts.join(","),
        f.stats.packets,
        f.stats.bytes,
        if f.stats.used == 0 {
            "never".to_string()
        } else {
            format!("{}ms", f.stats.used)
        },
        if acts.is_empty() {
            "drop".to_string()
        } else {
            acts.join(",")
        },
        wild.join(",")
    )
}

fn format_action(a: &Action, names: &dyn Fn(u32) -> String) -> String {
    match a {
        Action::Output(p) => names(*p),
        Action::Userspace(c) => format!("userspace({c})"),
        Action::Drop => "drop".into(),
        Action::PushVlan { tpid, tci } => format!(
            "push_vlan(tpid=0x{tpid:04x},vid={},pcp={})",
            tci & 0xfff,
            tci >> 13
        ),
        Action::PopVlan => "pop_vlan".into(),
        Action::SetEthSrc(m) => format!("set(eth(src={}))", format_mac(*m)),
        Action::SetEthDst(m) => format!("set(eth(dst={}))", format_mac(*m)),
        Action::SetIpv4Src(x) => format!("set(ipv4(src={}))", ip4(*x)),
        Action::SetIpv4Dst(x) => format!("set(ipv4(dst={}))", ip4(*x)),
        Action::SetIpv4Ttl(t) => format!("set(ipv4(ttl={t}))"),
        Action::SetTpSrc(p) => format!("set(l4(src={p}))"),
        Action::SetTpDst(p) => format!("set(l4(dst={p}))"),
    }
}

/// Parses an `ofproto/trace` flow: `in_port=N,dl_src=..,dl_dst=..,dl_type=..,
/// dl_vlan=..,nw_src=..,nw_dst=..,nw_proto=..,tp_src=..,tp_dst=..` and the
/// shorthands `ip`, `arp`, `tcp`, `udp`, `icmp`. `in_port` is the OpenFlow
/// port number (or name), resolved by `port`.
pub fn parse_trace_flow(s: &str, port: &dyn Fn(&str) -> Option<u32>) -> Result<FlowKey, String> {
    let mut k = FlowKey::default();
    let mut has_port = false;
    for tok in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (name, val) = tok.split_once('=').unwrap_or((tok, ""));
        let bad = || format!("bad value {val:?} for {name} in {s:?}");
        match name {
            "ip" => k.set_dl_type(0x0800),
            "arp" => k.set_dl_type(0x0806),
            "ipv6" => k.set_dl_type(0x86dd),
            "tcp" | "udp" | "icmp" => {
                k.set_dl_type(0x0800);
                k.set_nw_proto(match name {
                    "tcp" => 6,
                    "udp" => 17,
                    _ => 1,
                });
            }
            "in_port" => {
                k.set_in_port(port(val).ok_or_else(|| format!("no port {val:?} on this bridge"))?);
                has_port = true;
            }
            "dl_src" | "eth_src" => k.set_eth_src(parse_mac(val).ok_or_else(bad)?),
            "dl_dst" | "eth_dst" => k.set_eth_dst(parse_mac(val).ok_or_else(bad)?),
            "dl_type" | "eth_type" => {
                let v = val.trim_start_matches("0x");
                k.set_dl_type(u16::from_str_radix(v, 16).map_err(|_| bad())?)
            }
            "dl_vlan" => {
                let vid: u16 = val.parse().map_err(|_| bad())?;
                k.set_vlan_tci(rvs_datapath::flow::VLAN_CFI | (vid & 0xfff));
            }
            "nw_src" | "ip_src" => k.set_ipv4_src(u32::from(
                val.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?,
            )),
            "nw_dst" | "ip_dst" => k.set_ipv4_dst(u32::from(
                val.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?,
            )),
            "nw_proto" => k.set_nw_proto(val.parse().map_err(|_| bad())?),
            "nw_ttl" => k.set_nw_ttl(val.parse().map_err(|_| bad())?),
            "tp_src" => k.set_tp_src(val.parse().map_err(|_| bad())?),
            "tp_dst" => k.set_tp_dst(val.parse().map_err(|_| bad())?),
            _ => return Err(format!("unknown field {name:?} in {s:?}")),
        }
    }
    if !has_port {
        return Err("the flow needs in_port=PORT".into());
    }
    Ok(k)
}

/// Runs one command; `Err` is an error reply.
pub fn run(ctx: &Ctx, method: &str, args: &[String], json_out: bool) -> Result<Value, String> {
    let sw = ctx.switch.lock().unwrap_or_else(|e| e.into_inner());
    let names = sw.ports();
    let dp_name = |p: u32| {
        names
            .iter()
            .find(|(_, _, _, dp)| *dp == p)
            .map(|(n, _, _, _)| n.clone())
            .unwrap_or_else(|| p.to_string())
    };
    match method {
        "list-commands" => {
            let mut s = String::from("The available commands are:\n");
            for (c, u, d) in COMMANDS {
                let _ = writeln!(s, "  {:<28} {:<12} {d}", c, u);
            }
            Ok(json!(s))
        }
        "version" => Ok(json!(format!(
            "rvs-vswitchd {}\n",
            env!("CARGO_PKG_VERSION")
        ))),
        "exit" => {
            ctx.exit.store(true, Ordering::SeqCst);
            Ok(json!(""))
        }
        "vlog/set" => {
            let spec = args.first().ok_or("usage: vlog/set LEVEL")?;
            crate::vlog::set(spec)?;
            Ok(json!(""))
        }
        "vlog/list" => Ok(json!(format!(
            "level: {}\n",
            crate::vlog::LEVELS[crate::vlog::level() as usize]
        ))),
        "dpif/show" => {
            let reports = sw.port_reports();
            let details = |dp: &u32| {
                reports
                    .get(dp)
                    .map(|r| r.details.clone())
                    .unwrap_or_default()
            };
            if json_out {
                return Ok(json!(names
                    .iter()
                    .map(|(n, b, of, dp)| json!({"name": n, "bridge": b, "ofport": of, "dp_port": dp,
                        "details": details(dp).into_iter().collect::<std::collections::BTreeMap<_, _>>()}))
                    .collect::<Vec<_>>()));
            }
            let mut s = String::from("netdev@rvs:\n");
            let mut by_br: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
            for (n, b, of, dp) in &names {
                by_br.entry(b.as_str()).or_default().push((n, of, dp));
            }
            for (b, ports) in by_br {
                let _ = writeln!(s, "  {b}:");
                for (n, of, dp) in ports {
                    let _ = writeln!(s, "    {n} {of}/{dp}");
                    for (k, v) in details(dp) {
                        let _ = writeln!(s, "        {k}: {v}");
                    }
                }
            }
            Ok(json!(s))
        }
        "dpctl/dump-flows" => {
            let mut all = Vec::new();
            for p in sw.pmds() {
                all.extend(p.dump_flows());
            }
            if json_out {
                return Ok(json!(all
                    .iter()
                    .map(|f| json!({"flow": format_megaflow(f, &dp_name), "packets": f.stats.packets, "bytes": f.stats.bytes}))
                    .collect::<Vec<_>>()));
            }
            let mut s = String::new();
            for f in &all {
                let _ = writeln!(s, "{}", format_megaflow(f, &dp_name));
            }
            Ok(json!(s))
        }
        "dpctl/del-flows" => {
            for p in sw.pmds() {
                p.send(crate::pmd::PmdCmd::FlushFlows);
            }
            Ok(json!(""))
        }
        "dpif-netdev/pmd-stats-clear" => {
            for p in sw.pmds() {
                p.send(crate::pmd::PmdCmd::ClearStats);
            }
            Ok(json!(""))
        }
        "dpif-netdev/pmd-stats-show" | "dpif-netdev/pmd-rxq-show" => {
            let reports: Vec<_> = sw.pmds().iter().filter_map(|p| p.report()).collect();
            if json_out {
                return Ok(json!(reports
                    .iter()
                    .map(|r| json!({"pmd": r.id, "packets": r.stats.rx_packets, "emc_hits": r.stats.emc_hits,
                        "megaflow_hits": r.stats.megaflow_hits, "upcalls": r.stats.upcalls,
                        "lost": r.stats.total_drops(), "megaflows": r.megaflows,
                        "inbox_dropped": r.inbox_dropped, "packet_in_dropped": r.packet_in_dropped,
                        "busy_ns": r.busy_ns,
                        "ports": r.ports.iter().map(|p| json!({"name": p.name, "busy_ns": p.busy_ns})).collect::<Vec<_>>(),
                        "elapsed_ns": r.elapsed_ns}))
                    .collect::<Vec<_>>()));
            }
            let mut s = String::new();
            for r in &reports {
                let _ = writeln!(
                    s,
                    "pmd thread numa_id 0 core_id {}:",
                    r.core.unwrap_or(r.id)
                );
                if method == "dpif-netdev/pmd-rxq-show" {
                    for p in &r.ports {
                        let (n, usage) = (&p.name, p.busy_ns as f64 / r.elapsed_ns.max(1) as f64);
                        let _ = writeln!(
                            s,
                            "  port: {n:<16} queue-id: 0  pmd usage: {:>3.0} %",
                            usage * 100.0
                        );
                    }
                    continue;
                }
                let st = &r.stats;
                let pk = st.rx_packets.max(1) as f64;
                let _ = writeln!(s, "  packets received: {}", st.rx_packets);
                let _ = writeln!(s, "  packet recirculations: 0");
                let _ = writeln!(s, "  avg. datapath passes per packet: 1.00");
                let _ = writeln!(s, "  emc hits: {}", st.emc_hits);
                let _ = writeln!(s, "  megaflow hits: {}", st.megaflow_hits);
                let _ = writeln!(s, "  miss with success upcall: {}", st.flows_installed);
                let _ = writeln!(
                    s,
                    "  miss with failed upcall: {}",
                    st.upcalls - st.flows_installed.min(st.upcalls)
                );
                let _ = writeln!(s, "  avg. packets per output batch: -");
                let _ = writeln!(s, "  lost: {}", st.total_drops());
                let _ = writeln!(s, "  megaflows: {}", r.megaflows);
                let _ = writeln!(
                    s,
                    "  avg processing time per packet: {:.1} ns",
                    r.busy_ns as f64 / pk
                );
                for d in rvs_datapath::DropReason::ALL {
                    if st.dropped(d) > 0 {
                        let _ = writeln!(s, "  drops ({}): {}", d.name(), st.dropped(d));
                    }
                }
                if r.inbox_dropped > 0 {
                    let _ = writeln!(
                        s,
                        "  drops (another pmd's port inbox full): {}",
                        r.inbox_dropped
                    );
                }
                if r.packet_in_dropped > 0 {
                    let _ = writeln!(
                        s,
                        "  drops (controller queue full): {}",
                        r.packet_in_dropped
                    );
                }
            }
            Ok(json!(s))
        }
        "fdb/show" => {
            let b = args.first().ok_or("usage: fdb/show BRIDGE")?;
            let macs = sw.shared.macs.lock().unwrap_or_else(|e| e.into_inner());
            let set = sw.shared.bridges.load();
            if !set.bridges.iter().any(|x| &x.name == b) {
                return Err(format!("no such bridge {b:?}"));
            }
            let now = sw.shared.epoch.elapsed().as_secs();
            let rows = macs.get(b).map(|t| t.dump(now)).unwrap_or_default();
            if json_out {
                return Ok(json!(rows
                    .iter()
                    .map(|(v, m, p, age)| json!({"port": p, "vlan": v, "mac": format_mac(*m), "age": age}))
                    .collect::<Vec<_>>()));
            }
            let mut s = String::from(" port  VLAN  MAC                Age\n");
            for (v, m, p, age) in rows {
                let _ = writeln!(s, "{p:>5}  {v:>4}  {}  {age:>3}", format_mac(m));
            }
            Ok(json!(s))
        }
        "fdb/flush" => {
            let mut macs = sw.shared.macs.lock().unwrap_or_else(|e| e.into_inner());
            for (b, t) in macs.iter_mut() {
                if args.first().is_none_or(|a| a == b) {
                    t.flush();
                }
            }
            sw.shared.reval_seq.fetch_add(1, Ordering::Release);
            Ok(json!("table successfully flushed\n"))
        }
        "ofproto/trace" => {
            let (Some(b), Some(flow)) = (args.first(), args.get(1)) else {
                return Err("usage: ofproto/trace BRIDGE FLOW".into());
            };
            let set = sw.shared.bridges.load();
            let br = set
                .bridges
                .iter()
                .find(|x| &x.name == b)
                .ok_or_else(|| format!("no such bridge {b:?}"))?;
            let port = |s: &str| {
                let of: Option<u32> = s
                    .parse()
                    .ok()
                    .or_else(|| br.ports.values().find(|p| p.name == s).map(|p| p.ofport));
                of.and_then(|o| br.ports.get(&o)).map(|p| p.dp_port)
            };
            let key = parse_trace_flow(flow, &port)?;
            let t = sw.shared.trace(&key).ok_or("the port is not on a bridge")?;
            let mask_fields: Vec<&str> = Field::ALL
                .iter()
                .filter(|f| t.mask.has_field(**f))
                .map(|f| f.name())
                .collect();
            let acts: Vec<String> = t
                .actions
                .iter()
                .map(|a| format_action(a, &dp_name))
                .collect();
            if json_out {
                return Ok(
                    json!({"steps": t.trace, "actions": acts, "megaflow_match": mask_fields}),
                );
            }
            let mut s = format!("Flow: {flow}\n\n");
            for step in &t.trace {
                let _ = writeln!(s, "  {step}");
            }
            let _ = writeln!(s, "\nMegaflow: matches {}", mask_fields.join(","));
            let _ = writeln!(
                s,
                "Datapath actions: {}",
                if acts.is_empty() {
                    "drop".into()
                } else {
                    acts.join(",")
                }
            );
            Ok(json!(s))
        }
        other => Err(format!(
            "\"{other}\" is not a valid command (try list-commands)"
        )),
    }
}

/// Serves the control socket until `ctx.exit` is set.
pub fn serve(path: &Path, ctx: Arc<Ctx>) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("appctl".into())
        .spawn(move || {
            while !ctx.exit.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let ctx = ctx.clone();
                        std::thread::spawn(move || session(c, &ctx));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
            let _ = std::fs::remove_file(&path);
        })?;
    Ok(())
}

fn session(mut c: UnixStream, ctx: &Ctx) {
    let _ = c.set_nonblocking(false);
    let mut framer = Framer::default();
    let mut json_out = false;
    loop {
        let Ok(v) = framer.read_message(&mut c) else {
            return;
        };
        let Ok(Message::Request { method, params, id }) = Message::parse(v) else {
            return;
        };
        let args: Vec<String> = params
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        x.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let reply = if method == "set-options" {
            json_out = args
                .windows(2)
                .any(|w| w[0] == "--format" && w[1] == "json");
            jsonrpc::reply(&id, json!(""))
        } else {
            match run(ctx, &method, &args, json_out) {
                Ok(r) => jsonrpc::reply(&id, r),
                Err(e) => jsonrpc::error_reply(&id, json!(e)),
            }
        };
        if jsonrpc::write_message(&mut c, &reply).is_err() {
            return;
        }
    }
}
