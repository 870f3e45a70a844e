//! The commands that see the switch as bridges, ports and interfaces
//! (`add-br`, `add-port`, `show`, ...), and the table of every command.
//!
//! A bridge is a `Bridge` row listed in `Open_vSwitch.bridges`; it always
//! has a port and an interface of its own name (the "local port", of type
//! `internal`). A port is a `Port` row in a bridge's `ports`, with one
//! interface (or several, for a bond) in its `interfaces`. Names are
//! unique across all bridges, ports and interfaces. Reading this structure
//! verifies `Open_vSwitch.bridges`, `Bridge.ports` and `Port.interfaces`,
//! so that a transaction built on it fails (and is retried) if another
//! client changed it meanwhile.

use super::db_cmds;
use super::error::{cmd_err, Result, VsctlError};
use super::parse::{Command, CommandDef, Group};
use super::value::{atom_to_string, datum_to_string, parse_datum};
use super::Ctx;
use rvs_ovsdb::types::{Atom, Datum, Uuid};
use std::collections::BTreeSet;

/// A port: its row, name and interfaces (row and name).
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub uuid: Uuid,
    pub name: String,
    pub ifaces: Vec<(Uuid, String)>,
}

/// A bridge with its ports.
#[derive(Debug, Clone)]
pub struct BridgeInfo {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<PortInfo>,
}

/// The bridges, ports and interfaces reachable from `Open_vSwitch`.
#[derive(Debug, Clone)]
pub struct Topology {
    pub bridges: Vec<BridgeInfo>,
}

impl Topology {
    /// Reads the structure, verifying the columns it comes from.
    pub fn read(ctx: &mut Ctx<'_>) -> Result<Topology> {
        let m = &ctx.model;
        let ovs_bridges = m.col("Open_vSwitch", "bridges")?;
        let br_name = m.col("Bridge", "name")?;
        let br_ports = m.col("Bridge", "ports")?;
        let port_name = m.col("Port", "name")?;
        let port_ifaces = m.col("Port", "interfaces")?;
        let iface_name = m.col("Interface", "name")?;
        let mut verify = vec![("Open_vSwitch", ctx.ovs, ovs_bridges)];
        let mut bridges = Vec::new();
        for b in m.get_uuids("Open_vSwitch", ctx.ovs, ovs_bridges) {
            if !m.exists("Bridge", b) {
                continue;
            }
            verify.push(("Bridge", b, br_ports));
            let mut ports = Vec::new();
            for p in m.get_uuids("Bridge", b, br_ports) {
                if !m.exists("Port", p) {
                    continue;
                }
                verify.push(("Port", p, port_ifaces));
                let ifaces = m
                    .get_uuids("Port", p, port_ifaces)
                    .into_iter()
                    .filter(|i| m.exists("Interface", *i))
                    .map(|i| (i, m.get_str("Interface", i, iface_name)))
                    .collect();
                ports.push(PortInfo {
                    uuid: p,
                    name: m.get_str("Port", p, port_name),
                    ifaces,
                });
            }
            bridges.push(BridgeInfo {
                uuid: b,
                name: m.get_str("Bridge", b, br_name),
                ports,
            });
        }
        for (t, u, c) in verify {
            ctx.model.verify(t, u, c);
        }
        Ok(Topology { bridges })
    }

    /// The bridge named `name`.
    pub fn bridge(&self, name: &str) -> Option<&BridgeInfo> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The bridge named `name`, or an error.
    pub fn must_bridge(&self, name: &str) -> Result<&BridgeInfo> {
        self.bridge(name)
            .ok_or_else(|| cmd_err(format!("no bridge named {name}")))
    }

    /// The port named `name` and its bridge.
    pub fn port(&self, name: &str) -> Option<(&BridgeInfo, &PortInfo)> {
        self.bridges
            .iter()
            .find_map(|b| b.ports.iter().find(|p| p.name == name).map(|p| (b, p)))
    }

    /// The interface named `name`, with its port and bridge.
    pub fn iface(&self, name: &str) -> Option<(&BridgeInfo, &PortInfo, Uuid)> {
        self.bridges.iter().find_map(|b| {
            b.ports.iter().find_map(|p| {
                p.ifaces
                    .iter()
                    .find(|(_, n)| n == name)
                    .map(|(u, _)| (b, p, *u))
            })
        })
    }
}

/// Inserts a row into `table` and returns its placeholder UUID.
fn new_row(ctx: &mut Ctx<'_>, table: &str) -> Result<Uuid> {
    let u = Uuid::random();
    ctx.model.insert(table, u, false)?;
    Ok(u)
}

fn set_col(ctx: &mut Ctx<'_>, table: &str, row: Uuid, column: &str, d: Datum) -> Result<()> {
    let c = ctx.model.col(table, column)?;
    ctx.model.set(table, row, c, d);
    Ok(())
}

fn string(s: &str) -> Datum {
    Datum::scalar(Atom::String(s.to_string()))
}

fn uuids(us: impl IntoIterator<Item = Uuid>) -> Datum {
    Datum::Set(us.into_iter().map(Atom::Uuid).collect())
}

/// Adds (`add`) or removes a reference in a set column.
fn edit_refs(
    ctx: &mut Ctx<'_>,
    table: &str,
    row: Uuid,
    column: &str,
    target: Uuid,
    add: bool,
) -> Result<()> {
    let c = ctx.model.col(table, column)?;
    let mut d = ctx.model.get(table, row, c);
    if let Datum::Set(s) = &mut d {
        if add {
            s.insert(Atom::Uuid(target));
        } else {
            s.remove(&Atom::Uuid(target));
        }
    }
    ctx.model.verify(table, row, c);
    ctx.model.set(table, row, c, d);
    Ok(())
}

/// Deletes a port and its interfaces from the local copy (the server's
/// garbage collection deletes them once the bridge no longer lists them).
fn delete_port(ctx: &mut Ctx<'_>, p: &PortInfo) {
    for (i, _) in &p.ifaces {
        ctx.model.delete("Interface", *i);
    }
    ctx.model.delete("Port", p.uuid);
}

fn init(_ctx: &mut Ctx<'_>, _cmd: &Command) -> Result<()> {
    // Creating the Open_vSwitch row of an empty database is what every
    // command does first.
    Ok(())
}

fn add_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let name = &cmd.args[0];
    if cmd.args.len() != 1 {
        return Err(cmd_err(format!(
            "add-br {name} PARENT VLAN: \"fake\" VLAN bridges are not supported by rvs-vsctl; \
             add an access port instead: add-port PARENT PORT tag=VLAN"
        )));
    }
    let topo = Topology::read(ctx)?;
    if topo.bridge(name).is_some() {
        if cmd.has("--may-exist") {
            return Ok(());
        }
        return Err(cmd_err(format!(
            "cannot create a bridge named {name} because a bridge named {name} already exists"
        )));
    }
    if let Some((b, _)) = topo.port(name) {
        return Err(cmd_err(format!(
            "cannot create a bridge named {name} because a port named {name} already exists on bridge {}",
            b.name
        )));
    }
    if let Some((b, p, _)) = topo.iface(name) {
        return Err(cmd_err(format!(
            "cannot create a bridge named {name} because port {} on bridge {} already has an interface named {name}",
            p.name, b.name
        )));
    }
    let iface = new_row(ctx, "Interface")?;
    ctx.added_ifaces.push(name.clone());
    set_col(ctx, "Interface", iface, "name", string(name))?;
    set_col(ctx, "Interface", iface, "type", string("internal"))?;
    let port = new_row(ctx, "Port")?;
    set_col(ctx, "Port", port, "name", string(name))?;
    set_col(ctx, "Port", port, "interfaces", uuids([iface]))?;
    let br = new_row(ctx, "Bridge")?;
    set_col(ctx, "Bridge", br, "name", string(name))?;
    set_col(ctx, "Bridge", br, "ports", uuids([port]))?;
    let ovs = ctx.ovs;
    edit_refs(ctx, "Open_vSwitch", ovs, "bridges", br, true)
}

fn del_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let name = &cmd.args[0];
    let topo = Topology::read(ctx)?;
    let Some(b) = topo.bridge(name) else {
        if cmd.has("--if-exists") {
            return Ok(());
        }
        return Err(cmd_err(format!("no bridge named {name}")));
    };
    for p in &b.ports {
        delete_port(ctx, p);
    }
    ctx.model.delete("Bridge", b.uuid);
    let ovs = ctx.ovs;
    edit_refs(ctx, "Open_vSwitch", ovs, "bridges", b.uuid, false)
}

fn list_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    if cmd.has("--fake") {
        return Ok(());
    }
    let names: BTreeSet<&str> = topo.bridges.iter().map(|b| b.name.as_str()).collect();
    for n in names {
        ctx.println(n);
    }
    Ok(())
}

fn br_exists(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    if topo.bridge(&cmd.args[0]).is_none() {
        return Err(VsctlError::Exit(2));
    }
    Ok(())
}

fn br_to_vlan(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    Topology::read(ctx)?.must_bridge(&cmd.args[0])?;
    ctx.println("0");
    Ok(())
}

fn br_to_parent(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let name = topo.must_bridge(&cmd.args[0])?.name.clone();
    ctx.println(&name);
    Ok(())
}

fn br_set_external_id(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let br = topo.must_bridge(&cmd.args[0])?.uuid;
    let c = ctx.model.col("Bridge", "external_ids")?;
    let mut d = ctx.model.get("Bridge", br, c);
    if let Datum::Map(m) = &mut d {
        let key = Atom::String(cmd.args[1].clone());
        match cmd.args.get(2) {
            Some(v) => {
                m.insert(key, Atom::String(v.clone()));
            }
            None => {
                m.remove(&key);
            }
        }
    }
    ctx.model.verify("Bridge", br, c);
    ctx.model.set("Bridge", br, c, d);
    Ok(())
}

fn br_get_external_id(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let br = topo.must_bridge(&cmd.args[0])?.uuid;
    let c = ctx.model.col("Bridge", "external_ids")?;
    let Datum::Map(m) = ctx.model.get("Bridge", br, c) else {
        return Ok(());
    };
    match cmd.args.get(1) {
        Some(k) => {
            if let Some(Atom::String(v)) = m.get(&Atom::String(k.clone())) {
                ctx.println(v);
            }
        }
        None => {
            for (k, v) in &m {
                if let (Atom::String(k), Atom::String(v)) = (k, v) {
                    ctx.println(&format!("{k}={v}"));
                }
            }
        }
    }
    Ok(())
}

fn list_ports(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let b = topo.must_bridge(&cmd.args[0])?;
    let names: BTreeSet<&str> = b
        .ports
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| *n != b.name)
        .collect();
    for n in names {
        ctx.println(n);
    }
    Ok(())
}

/// `add-port` and `add-bond`: a port named `port` with interfaces `ifaces`.
fn add_port_common(
    ctx: &mut Ctx<'_>,
    cmd: &Command,
    br: &str,
    port: &str,
    ifaces: &[String],
    settings: &[String],
) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let b = topo.must_bridge(br)?;
    let verb = cmd.def.name;
    if topo.bridge(port).is_some() {
        return Err(cmd_err(format!(
            "cannot create a port named {port} because a bridge named {port} already exists"
        )));
    }
    if let Some((ob, op)) = topo.port(port) {
        if cmd.has("--may-exist") {
            if ob.name != b.name {
                return Err(cmd_err(format!(
                    "\"--may-exist {verb} {br} {port}\" but {port} is actually attached to bridge {}",
                    ob.name
                )));
            }
            let have: BTreeSet<&str> = op.ifaces.iter().map(|(_, n)| n.as_str()).collect();
            let want: BTreeSet<&str> = ifaces.iter().map(String::as_str).collect();
            if have != want {
                let list: Vec<&str> = have.into_iter().collect();
                return Err(cmd_err(format!(
                    "\"--may-exist {verb} {br} {port}\" but {port} actually has interface(s) {}",
                    list.join(", ")
                )));
            }
            return Ok(());
        }
        return Err(cmd_err(format!(
            "cannot create a port named {port} because a port named {port} already exists on bridge {}",
            ob.name
        )));
    }
    let mut seen = BTreeSet::new();
    for i in ifaces {
        if !seen.insert(i) {
            return Err(cmd_err(format!("interface {i} is named twice")));
        }
        if let Some((ob, op, _)) = topo.iface(i) {
            return Err(cmd_err(format!(
                "cannot create an interface named {i} because it already exists on port {} of bridge {}",
                op.name, ob.name
            )));
        }
    }
    let mut iface_rows = Vec::new();
    for i in ifaces {
        let u = new_row(ctx, "Interface")?;
        set_col(ctx, "Interface", u, "name", string(i))?;
        ctx.added_ifaces.push(i.clone());
        iface_rows.push(u);
    }
    let p = new_row(ctx, "Port")?;
    set_col(ctx, "Port", p, "name", string(port))?;
    set_col(ctx, "Port", p, "interfaces", uuids(iface_rows))?;
    let port_ts = ctx.model.table("Port")?.clone();
    for s in settings {
        db_cmds::set_column(ctx, &port_ts, p, s)?;
    }
    let b_uuid = b.uuid;
    edit_refs(ctx, "Bridge", b_uuid, "ports", p, true)
}

fn add_port(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let (br, port) = (&cmd.args[0], &cmd.args[1]);
    add_port_common(
        ctx,
        cmd,
        br,
        port,
        std::slice::from_ref(port),
        &cmd.args[2..],
    )
}

fn add_bond(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let (br, port) = (&cmd.args[0], &cmd.args[1]);
    let rest = &cmd.args[2..];
    let n_ifaces = rest.iter().take_while(|a| !a.contains('=')).count();
    let (ifaces, settings) = rest.split_at(n_ifaces);
    if ifaces.len() < 2 {
        return Err(cmd_err(format!(
            "add-bond {br} {port}: a bond needs at least two interfaces (for one, use add-port)"
        )));
    }
    add_port_common(ctx, cmd, br, port, ifaces, settings)
}

fn del_port(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let (br_name, target) = match cmd.args.as_slice() {
        [p] => (None, p),
        [b, p] => (Some(b), p),
        _ => unreachable!("argument count is checked"),
    };
    let topo = Topology::read(ctx)?;
    let with_iface = cmd.has("--with-iface");
    let found = topo.port(target).or_else(|| {
        with_iface
            .then(|| topo.iface(target).map(|(b, p, _)| (b, p)))
            .flatten()
    });
    if let Some(b) = br_name {
        topo.must_bridge(b)?;
    }
    let Some((b, p)) = found else {
        if cmd.has("--if-exists") {
            return Ok(());
        }
        let what = if with_iface {
            "port or interface"
        } else {
            "port"
        };
        return Err(cmd_err(format!("no {what} named {target}")));
    };
    if let Some(bn) = br_name {
        if &b.name != bn {
            return Err(cmd_err(format!(
                "bridge {bn} does not have a port {target}"
            )));
        }
    }
    if p.name == b.name {
        return Err(cmd_err(format!(
            "cannot delete port {} because it is the local port for bridge {} \
             (deleting this port requires deleting the entire bridge: del-br {})",
            p.name, b.name, b.name
        )));
    }
    let (b_uuid, p) = (b.uuid, p.clone());
    delete_port(ctx, &p);
    edit_refs(ctx, "Bridge", b_uuid, "ports", p.uuid, false)
}

fn port_to_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let (b, _) = topo
        .port(&cmd.args[0])
        .ok_or_else(|| cmd_err(format!("no port named {}", cmd.args[0])))?;
    let name = b.name.clone();
    ctx.println(&name);
    Ok(())
}

fn list_ifaces(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let b = topo.must_bridge(&cmd.args[0])?;
    let names: BTreeSet<&str> = b
        .ports
        .iter()
        .flat_map(|p| p.ifaces.iter().map(|(_, n)| n.as_str()))
        .filter(|n| *n != b.name)
        .collect();
    for n in names {
        ctx.println(n);
    }
    Ok(())
}

fn iface_to_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let topo = Topology::read(ctx)?;
    let (b, _, _) = topo
        .iface(&cmd.args[0])
        .ok_or_else(|| cmd_err(format!("no interface named {}", cmd.args[0])))?;
    let name = b.name.clone();
    ctx.println(&name);
    Ok(())
}

/// The rows a reference column points to, sorted by a string column.
fn sorted_refs(
    ctx: &Ctx<'_>,
    table: &str,
    row: Uuid,
    column: &str,
    target: &str,
    key: &str,
) -> Result<Vec<(String, Uuid)>> {
    let c = ctx.model.col(table, column)?;
    let k = ctx.model.col(target, key)?;
    let mut v: Vec<(String, Uuid)> = ctx
        .model
        .get_uuids(table, row, c)
        .into_iter()
        .filter(|u| ctx.model.exists(target, *u))
        .map(|u| (ctx.model.get_str(target, u, k), u))
        .collect();
    v.sort();
    Ok(v)
}

fn get_controller(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = Topology::read(ctx)?.must_bridge(&cmd.args[0])?.uuid;
    for (t, _) in sorted_refs(ctx, "Bridge", br, "controller", "Controller", "target")? {
        ctx.println(&t);
    }
    Ok(())
}

fn del_controller(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = Topology::read(ctx)?.must_bridge(&cmd.args[0])?.uuid;
    for (_, u) in sorted_refs(ctx, "Bridge", br, "controller", "Controller", "target")? {
        ctx.model.delete("Controller", u);
    }
    set_col(ctx, "Bridge", br, "controller", uuids([]))
}

fn set_controller(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    del_controller(ctx, cmd)?;
    let br = Topology::read(ctx)?.must_bridge(&cmd.args[0])?.uuid;
    let mut rows = Vec::new();
    for target in &cmd.args[1..] {
        let u = new_row(ctx, "Controller")?;
        set_col(ctx, "Controller", u, "target", string(target))?;
        rows.push(u);
    }
    set_col(ctx, "Bridge", br, "controller", uuids(rows))
}

fn fail_mode(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = Topology::read(ctx)?.must_bridge(&cmd.args[0])?.uuid;
    let c = ctx.model.col("Bridge", "fail_mode")?;
    match cmd.def.name {
        "get-fail-mode" => {
            if let Some(Atom::String(m)) = ctx.model.get("Bridge", br, c).as_scalar() {
                let m = m.clone();
                ctx.println(&m);
            }
        }
        "del-fail-mode" => ctx.model.set("Bridge", br, c, Datum::Set(BTreeSet::new())),
        _ => {
            let ty = ctx.model.table("Bridge")?.columns[c].ty.clone();
            let d = parse_datum(&cmd.args[1], &ty, &mut ctx.symbols).map_err(|_| {
                cmd_err(format!(
                    "fail-mode must be \"standalone\" or \"secure\", not \"{}\"",
                    cmd.args[1]
                ))
            })?;
            ctx.model.set("Bridge", br, c, d);
        }
    }
    Ok(())
}

fn get_manager(ctx: &mut Ctx<'_>, _cmd: &Command) -> Result<()> {
    let ovs = ctx.ovs;
    for (t, _) in sorted_refs(
        ctx,
        "Open_vSwitch",
        ovs,
        "manager_options",
        "Manager",
        "target",
    )? {
        ctx.println(&t);
    }
    Ok(())
}

fn del_manager(ctx: &mut Ctx<'_>, _cmd: &Command) -> Result<()> {
    let ovs = ctx.ovs;
    for (_, u) in sorted_refs(
        ctx,
        "Open_vSwitch",
        ovs,
        "manager_options",
        "Manager",
        "target",
    )? {
        ctx.model.delete("Manager", u);
    }
    set_col(ctx, "Open_vSwitch", ovs, "manager_options", uuids([]))
}

fn set_manager(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    del_manager(ctx, cmd)?;
    let mut rows = Vec::new();
    for target in &cmd.args {
        let u = new_row(ctx, "Manager")?;
        set_col(ctx, "Manager", u, "target", string(target))?;
        rows.push(u);
    }
    let ovs = ctx.ovs;
    set_col(ctx, "Open_vSwitch", ovs, "manager_options", uuids(rows))
}

/// `show`: the switch as a tree.
fn show(ctx: &mut Ctx<'_>, _cmd: &Command) -> Result<()> {
    let mut out = String::new();
    let m = &ctx.model;
    // Prints "name: value" for the columns that differ from their default.
    let attrs =
        |out: &mut String, table: &str, row: Uuid, cols: &[&str], indent: usize| -> Result<()> {
            let ts = m.table(table)?;
            for c in cols {
                let Some(i) = ts.column_index(c) else {
                    continue;
                };
                let ty = &ts.columns[i].ty;
                let d = m.get(table, row, i);
                if d != ty.default_datum() {
                    out.push_str(&format!("{:indent$}{c}: {}\n", "", datum_to_string(&d, ty)));
                }
            }
            Ok(())
        };
    let title = |s: &str| atom_to_string(&Atom::String(s.to_string()));
    for ovs in m.rows("Open_vSwitch") {
        out.push_str(&format!("{ovs}\n"));
        for (target, mgr) in sorted_refs(
            ctx,
            "Open_vSwitch",
            ovs,
            "manager_options",
            "Manager",
            "target",
        )? {
            out.push_str(&format!("    Manager {}\n", title(&target)));
            attrs(&mut out, "Manager", mgr, &["is_connected"], 8)?;
        }
        for (name, br) in sorted_refs(ctx, "Open_vSwitch", ovs, "bridges", "Bridge", "name")? {
            out.push_str(&format!("    Bridge {}\n", title(&name)));
            for (target, c) in sorted_refs(ctx, "Bridge", br, "controller", "Controller", "target")?
            {
                out.push_str(&format!("        Controller {}\n", title(&target)));
                attrs(&mut out, "Controller", c, &["is_connected"], 12)?;
            }
            attrs(&mut out, "Bridge", br, &["fail_mode", "datapath_type"], 8)?;
            for (pname, p) in sorted_refs(ctx, "Bridge", br, "ports", "Port", "name")? {
                out.push_str(&format!("        Port {}\n", title(&pname)));
                attrs(&mut out, "Port", p, &["tag", "trunks"], 12)?;
                for (iname, i) in sorted_refs(ctx, "Port", p, "interfaces", "Interface", "name")? {
                    out.push_str(&format!("            Interface {}\n", title(&iname)));
                    attrs(
                        &mut out,
                        "Interface",
                        i,
                        &["type", "options", "error", "bfd_status"],
                        16,
                    )?;
                }
            }
        }
        attrs(&mut out, "Open_vSwitch", ovs, &["ovs_version"], 4)?;
    }
    ctx.out.push_str(&out);
    Ok(())
}

const UNLIMITED: usize = usize::MAX;

macro_rules! cmd {
    ($name:expr, $usage:expr, $help:expr, $group:ident, $min:expr, $max:expr, $opts:expr, $run:expr) => {
        CommandDef {
            name: $name,
            usage: $usage,
            help: $help,
            group: Group::$group,
            min_args: $min,
            max_args: $max,
            options: $opts,
            run: $run,
        }
    };
}

/// Every command `rvs-vsctl` knows.
pub static COMMANDS: &[CommandDef] = &[
    cmd!(
        "init",
        "init",
        "initialize the database, if it is empty",
        Switch,
        0,
        0,
        &[],
        init
    ),
    cmd!(
        "show",
        "show",
        "print an overview of the database contents",
        Switch,
        0,
        0,
        &[],
        show
    ),
    cmd!(
        "add-br",
        "[--may-exist] add-br BRIDGE",
        "create a new bridge named BRIDGE",
        Bridge,
        1,
        3,
        &["--may-exist"],
        add_br
    ),
    cmd!(
        "del-br",
        "[--if-exists] del-br BRIDGE",
        "delete BRIDGE and all of its ports",
        Bridge,
        1,
        1,
        &["--if-exists"],
        del_br
    ),
    cmd!(
        "list-br",
        "[--real|--fake] list-br",
        "print the names of all the bridges",
        Bridge,
        0,
        0,
        &["--real", "--fake"],
        list_br
    ),
    cmd!(
        "br-exists",
        "br-exists BRIDGE",
        "exit with status 2 if BRIDGE does not exist",
        Bridge,
        1,
        1,
        &[],
        br_exists
    ),
    cmd!(
        "br-to-vlan",
        "br-to-vlan BRIDGE",
        "print the VLAN of BRIDGE (0: rvs has no fake bridges)",
        Bridge,
        1,
        1,
        &[],
        br_to_vlan
    ),
    cmd!(
        "br-to-parent",
        "br-to-parent BRIDGE",
        "print the parent of BRIDGE (itself)",
        Bridge,
        1,
        1,
        &[],
        br_to_parent
    ),
    cmd!(
        "br-set-external-id",
        "br-set-external-id BRIDGE KEY [VALUE]",
        "set KEY on BRIDGE to VALUE, or unset it",
        Bridge,
        2,
        3,
        &[],
        br_set_external_id
    ),
    cmd!(
        "br-get-external-id",
        "br-get-external-id BRIDGE [KEY]",
        "print KEY's value on BRIDGE, or all key=value pairs",
        Bridge,
        1,
        2,
        &[],
        br_get_external_id
    ),
    cmd!(
        "list-ports",
        "list-ports BRIDGE",
        "print the names of the ports on BRIDGE",
        Port,
        1,
        1,
        &[],
        list_ports
    ),
    cmd!(
        "add-port",
        "[--may-exist] add-port BRIDGE PORT [COLUMN[:KEY]=VALUE]...",
        "add network device PORT to BRIDGE, setting Port columns",
        Port,
        2,
        UNLIMITED,
        &["--may-exist"],
        add_port
    ),
    cmd!(
        "add-bond",
        "[--may-exist] add-bond BRIDGE PORT IFACE... [COLUMN[:KEY]=VALUE]...",
        "add bonded port PORT to BRIDGE from two or more IFACEs",
        Port,
        4,
        UNLIMITED,
        &["--may-exist", "--fake-iface"],
        add_bond
    ),
    cmd!(
        "del-port",
        "[--if-exists] [--with-iface] del-port [BRIDGE] PORT",
        "delete PORT (with --with-iface: or the port of interface PORT)",
        Port,
        1,
        2,
        &["--if-exists", "--with-iface"],
        del_port
    ),
    cmd!(
        "port-to-br",
        "port-to-br PORT",
        "print the name of the bridge that contains PORT",
        Port,
        1,
        1,
        &[],
        port_to_br
    ),
    cmd!(
        "list-ifaces",
        "list-ifaces BRIDGE",
        "print the names of the interfaces on BRIDGE",
        Interface,
        1,
        1,
        &[],
        list_ifaces
    ),
    cmd!(
        "iface-to-br",
        "iface-to-br IFACE",
        "print the name of the bridge that contains IFACE",
        Interface,
        1,
        1,
        &[],
        iface_to_br
    ),
    cmd!(
        "get-controller",
        "get-controller BRIDGE",
        "print the controllers of BRIDGE",
        Controller,
        1,
        1,
        &[],
        get_controller
    ),
    cmd!(
        "del-controller",
        "del-controller BRIDGE",
        "delete the controllers of BRIDGE",
        Controller,
        1,
        1,
        &[],
        del_controller
    ),
    cmd!(
        "set-controller",
        "set-controller BRIDGE TARGET...",
        "set the controllers of BRIDGE to TARGET...",
        Controller,
        2,
        UNLIMITED,
        &[],
        set_controller
    ),
    cmd!(
        "get-fail-mode",
        "get-fail-mode BRIDGE",
        "print the fail-mode of BRIDGE",
        Controller,
        1,
        1,
        &[],
        fail_mode
    ),
    cmd!(
        "del-fail-mode",
        "del-fail-mode BRIDGE",
        "delete the fail-mode of BRIDGE",
        Controller,
        1,
        1,
        &[],
        fail_mode
    ),
    cmd!(
        "set-fail-mode",
        "set-fail-mode BRIDGE standalone|secure",
        "set the fail-mode of BRIDGE",
        Controller,
        2,
        2,
        &[],
        fail_mode
    ),
    cmd!(
        "get-manager",
        "get-manager",
        "print the managers",
        Manager,
        0,
        0,
        &[],
        get_manager
    ),
    cmd!(
        "del-manager",
        "del-manager",
        "delete the managers",
        Manager,
        0,
        0,
        &[],
        del_manager
    ),
    cmd!(
        "set-manager",
        "set-manager TARGET...",
        "set the managers to TARGET...",
        Manager,
        1,
        UNLIMITED,
        &[],
        set_manager
    ),
    cmd!(
        "list",
        "[--if-exists] [--columns=COL,...] list TABLE [RECORD]...",
        "list RECORDs (or all records) of TABLE",
        Database,
        1,
        UNLIMITED,
        &["--if-exists", "--columns="],
        db_cmds::list
    ),
    cmd!(
        "find",
        "[--columns=COL,...] find TABLE [COLUMN[:KEY]OP VALUE]...",
        "list the records of TABLE that satisfy every condition",
        Database,
        1,
        UNLIMITED,
        &["--columns="],
        db_cmds::find
    ),
    cmd!(
        "get",
        "[--if-exists] [--id=@NAME] get TABLE RECORD [COLUMN[:KEY]]...",
        "print the values of COLUMNs of RECORD",
        Database,
        2,
        UNLIMITED,
        &["--if-exists", "--id="],
        db_cmds::get
    ),
    cmd!(
        "set",
        "[--if-exists] set TABLE RECORD COLUMN[:KEY]=VALUE...",
        "set COLUMNs of RECORD (or one KEY of a map)",
        Database,
        3,
        UNLIMITED,
        &["--if-exists"],
        db_cmds::set
    ),
    cmd!(
        "add",
        "[--if-exists] add TABLE RECORD COLUMN [KEY=]VALUE...",
        "add values (or key=value pairs) to COLUMN of RECORD",
        Database,
        4,
        UNLIMITED,
        &["--if-exists"],
        db_cmds::add
    ),
    cmd!(
        "remove",
        "[--if-exists] remove TABLE RECORD COLUMN VALUE|KEY|KEY=VALUE...",
        "remove values, keys or pairs from COLUMN of RECORD",
        Database,
        4,
        UNLIMITED,
        &["--if-exists"],
        db_cmds::remove
    ),
    cmd!(
        "clear",
        "[--if-exists] clear TABLE RECORD COLUMN...",
        "empty COLUMNs of RECORD",
        Database,
        3,
        UNLIMITED,
        &["--if-exists"],
        db_cmds::clear
    ),
    cmd!(
        "create",
        "[--id=@NAME|UUID] create TABLE [COLUMN[:KEY]=VALUE]...",
        "create a record and print its UUID",
        Database,
        1,
        UNLIMITED,
        &["--id="],
        db_cmds::create
    ),
    cmd!(
        "destroy",
        "[--if-exists] [--all] destroy TABLE [RECORD]...",
        "delete RECORDs (with --all: every record) of TABLE",
        Database,
        1,
        UNLIMITED,
        &["--if-exists", "--all"],
        db_cmds::destroy
    ),
    cmd!(
        "wait-until",
        "wait-until TABLE RECORD [COLUMN[:KEY]=VALUE]...",
        "wait until RECORD exists and satisfies every condition",
        Database,
        2,
        UNLIMITED,
        &[],
        db_cmds::wait_until
    ),
    cmd!(
        "comment",
        "comment [ARG]...",
        "do nothing (the arguments end up in the database log)",
        Database,
        0,
        UNLIMITED,
        &[],
        db_cmds::comment
    ),
];
