//! The commands that see the switch as bridges, ports and interfaces
//! (`add-br`, `add-port`, `show`, ...), and the table of every command.
//!
//! A bridge is a `Bridge` row listed in `Open_vSwitch.bridges`; it always
//! has a port and an interface of its own name (the "local port", of type
//! `internal`). A port is a `Port` row in a bridge's `ports`, with one
//! interface (or several, for a bond) in its `interfaces`. Names are
//! unique across all bridges, ports and interfaces.
//!
//! The commands read only the part of this structure they need, by name:
//! `add-port br0 p1` looks up the bridge named `br0` and makes sure that no
//! bridge, port or interface is named `p1`, without reading the other
//! ports of `br0` (see [`super::model`]). A port or interface counts only
//! if it is reachable from the switch (its port is in the `ports` of a
//! bridge in `Open_vSwitch.bridges`). Reading `Open_vSwitch.bridges`,
//! a bridge's whole `ports` or a port's `interfaces` verifies the column,
//! and every lookup by name is verified by the model, so that a
//! transaction built on what was read fails (and is retried) if another
//! client changed it meanwhile.

use super::db_cmds;
use super::error::{cmd_err, Result, VsctlError};
use super::model::Test;
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

fn string(s: &str) -> Datum {
    Datum::scalar(Atom::String(s.to_string()))
}

fn uuids(us: impl IntoIterator<Item = Uuid>) -> Datum {
    Datum::Set(us.into_iter().map(Atom::Uuid).collect())
}

/// The bridges of the switch: the rows in `Open_vSwitch.bridges` that
/// exist, in order. Verifies the column.
fn switch_bridges(ctx: &mut Ctx<'_>) -> Result<Vec<Uuid>> {
    let col = ctx.model.col("Open_vSwitch", "bridges")?;
    let ovs = ctx.ovs;
    let listed = ctx.model.get_uuids("Open_vSwitch", ovs, col)?;
    ctx.model.verify("Open_vSwitch", ovs, col)?;
    let name = ctx.model.col("Bridge", "name")?;
    ctx.model.prefetch("Bridge", &listed, &[name])?;
    let mut out = Vec::with_capacity(listed.len());
    for b in listed {
        if ctx.model.exists("Bridge", b)? {
            out.push(b);
        }
    }
    Ok(out)
}

/// The first of `candidates` that is a bridge of the switch.
fn first_switch_bridge(ctx: &mut Ctx<'_>, candidates: &[Uuid]) -> Result<Option<Uuid>> {
    if candidates.is_empty() {
        return Ok(None);
    }
    Ok(switch_bridges(ctx)?
        .into_iter()
        .find(|b| candidates.contains(b)))
}

/// The bridge named `name`.
fn find_bridge(ctx: &mut Ctx<'_>, name: &str) -> Result<Option<Uuid>> {
    let c = ctx.model.col("Bridge", "name")?;
    let found = ctx.model.find("Bridge", c, &Test::Eq(string(name)))?;
    first_switch_bridge(ctx, &found)
}

/// The bridge named `name`, or an error.
fn must_bridge(ctx: &mut Ctx<'_>, name: &str) -> Result<Uuid> {
    find_bridge(ctx, name)?.ok_or_else(|| cmd_err(format!("no bridge named {name}")))
}

/// The bridge of the switch whose `ports` include `port`.
fn bridge_of_port(ctx: &mut Ctx<'_>, port: Uuid) -> Result<Option<Uuid>> {
    let c = ctx.model.col("Bridge", "ports")?;
    let found = ctx
        .model
        .find("Bridge", c, &Test::Includes(Atom::Uuid(port)))?;
    first_switch_bridge(ctx, &found)
}

/// The port named `name` and its bridge.
fn find_port(ctx: &mut Ctx<'_>, name: &str) -> Result<Option<(Uuid, Uuid)>> {
    let c = ctx.model.col("Port", "name")?;
    for p in ctx.model.find("Port", c, &Test::Eq(string(name)))? {
        if let Some(b) = bridge_of_port(ctx, p)? {
            return Ok(Some((b, p)));
        }
    }
    Ok(None)
}

/// The interface named `name`, with its bridge and port.
fn find_iface(ctx: &mut Ctx<'_>, name: &str) -> Result<Option<(Uuid, Uuid, Uuid)>> {
    let c = ctx.model.col("Interface", "name")?;
    let ifaces_col = ctx.model.col("Port", "interfaces")?;
    for i in ctx.model.find("Interface", c, &Test::Eq(string(name)))? {
        for p in ctx
            .model
            .find("Port", ifaces_col, &Test::Includes(Atom::Uuid(i)))?
        {
            if let Some(b) = bridge_of_port(ctx, p)? {
                return Ok(Some((b, p, i)));
            }
        }
    }
    Ok(None)
}

fn bridge_name(ctx: &mut Ctx<'_>, b: Uuid) -> Result<String> {
    let c = ctx.model.col("Bridge", "name")?;
    ctx.model.get_str("Bridge", b, c)
}

/// A port's name and interfaces. Verifies `Port.interfaces`.
fn port_info(ctx: &mut Ctx<'_>, p: Uuid) -> Result<PortInfo> {
    let name_col = ctx.model.col("Port", "name")?;
    let ifaces_col = ctx.model.col("Port", "interfaces")?;
    let iface_name = ctx.model.col("Interface", "name")?;
    let name = ctx.model.get_str("Port", p, name_col)?;
    let listed = ctx.model.get_uuids("Port", p, ifaces_col)?;
    ctx.model.verify("Port", p, ifaces_col)?;
    ctx.model.prefetch("Interface", &listed, &[iface_name])?;
    let mut ifaces = Vec::with_capacity(listed.len());
    for i in listed {
        if ctx.model.exists("Interface", i)? {
            ifaces.push((i, ctx.model.get_str("Interface", i, iface_name)?));
        }
    }
    Ok(PortInfo {
        uuid: p,
        name,
        ifaces,
    })
}

/// The ports of bridge `b` that exist. Verifies `Bridge.ports`; reads the
/// ports' columns `cols`.
fn bridge_ports(ctx: &mut Ctx<'_>, b: Uuid, cols: &[&str]) -> Result<Vec<Uuid>> {
    let ports_col = ctx.model.col("Bridge", "ports")?;
    let listed = ctx.model.get_uuids("Bridge", b, ports_col)?;
    ctx.model.verify("Bridge", b, ports_col)?;
    let cols = cols
        .iter()
        .map(|c| ctx.model.col("Port", c))
        .collect::<Result<Vec<_>>>()?;
    ctx.model.prefetch("Port", &listed, &cols)?;
    let mut out = Vec::with_capacity(listed.len());
    for p in listed {
        if ctx.model.exists("Port", p)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Inserts a row into `table` and returns its placeholder UUID.
fn new_row(ctx: &mut Ctx<'_>, table: &str) -> Result<Uuid> {
    let u = Uuid::random();
    ctx.model.insert(table, u, false)?;
    Ok(u)
}

fn set_col(ctx: &mut Ctx<'_>, table: &str, row: Uuid, column: &str, d: Datum) -> Result<()> {
    let c = ctx.model.col(table, column)?;
    ctx.model.set(table, row, c, d)?;
    Ok(())
}

/// Adds (`add`) or removes a reference in a set column, without reading
/// the set.
fn edit_refs(
    ctx: &mut Ctx<'_>,
    table: &str,
    row: Uuid,
    column: &str,
    target: Uuid,
    add: bool,
) -> Result<()> {
    let c = ctx.model.col(table, column)?;
    ctx.model.edit_set(table, row, c, Atom::Uuid(target), add)?;
    Ok(())
}

/// Deletes a port and its interfaces from the local copy (the server's
/// garbage collection deletes them once the bridge no longer lists them).
fn delete_port(ctx: &mut Ctx<'_>, p: &PortInfo) -> Result<()> {
    for (i, _) in &p.ifaces {
        ctx.model.delete("Interface", *i)?;
    }
    ctx.model.delete("Port", p.uuid)
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
    if find_bridge(ctx, name)?.is_some() {
        if cmd.has("--may-exist") {
            return Ok(());
        }
        return Err(cmd_err(format!(
            "cannot create a bridge named {name} because a bridge named {name} already exists"
        )));
    }
    if let Some((b, _)) = find_port(ctx, name)? {
        return Err(cmd_err(format!(
            "cannot create a bridge named {name} because a port named {name} already exists on bridge {}",
            bridge_name(ctx, b)?
        )));
    }
    if let Some((b, p, _)) = find_iface(ctx, name)? {
        let port = port_info(ctx, p)?.name;
        return Err(cmd_err(format!(
            "cannot create a bridge named {name} because port {port} on bridge {} already has an interface named {name}",
            bridge_name(ctx, b)?
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
    let Some(b) = find_bridge(ctx, name)? else {
        if cmd.has("--if-exists") {
            return Ok(());
        }
        return Err(cmd_err(format!("no bridge named {name}")));
    };
    // The ports and interfaces go with the bridge; later commands of this
    // invocation must not find them.
    let ifaces_col = ctx.model.col("Port", "interfaces")?;
    for p in bridge_ports(ctx, b, &["interfaces"])? {
        for i in ctx.model.get_uuids("Port", p, ifaces_col)? {
            ctx.model.delete("Interface", i)?;
        }
        ctx.model.delete("Port", p)?;
    }
    ctx.model.delete("Bridge", b)?;
    let ovs = ctx.ovs;
    edit_refs(ctx, "Open_vSwitch", ovs, "bridges", b, false)
}

fn list_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let bridges = switch_bridges(ctx)?;
    if cmd.has("--fake") {
        return Ok(());
    }
    let mut names = BTreeSet::new();
    for b in bridges {
        names.insert(bridge_name(ctx, b)?);
    }
    for n in names {
        ctx.println(&n);
    }
    Ok(())
}

fn br_exists(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    if find_bridge(ctx, &cmd.args[0])?.is_none() {
        return Err(VsctlError::Exit(2));
    }
    Ok(())
}

fn br_to_vlan(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    must_bridge(ctx, &cmd.args[0])?;
    ctx.println("0");
    Ok(())
}

fn br_to_parent(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let b = must_bridge(ctx, &cmd.args[0])?;
    let name = bridge_name(ctx, b)?;
    ctx.println(&name);
    Ok(())
}

fn br_set_external_id(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = must_bridge(ctx, &cmd.args[0])?;
    let c = ctx.model.col("Bridge", "external_ids")?;
    let mut d = ctx.model.get("Bridge", br, c)?;
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
    ctx.model.verify("Bridge", br, c)?;
    ctx.model.set("Bridge", br, c, d)?;
    Ok(())
}

fn br_get_external_id(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = must_bridge(ctx, &cmd.args[0])?;
    let c = ctx.model.col("Bridge", "external_ids")?;
    let Datum::Map(m) = ctx.model.get("Bridge", br, c)? else {
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
    let b = must_bridge(ctx, &cmd.args[0])?;
    let br_name = bridge_name(ctx, b)?;
    let name_col = ctx.model.col("Port", "name")?;
    let mut names = BTreeSet::new();
    for p in bridge_ports(ctx, b, &["name"])? {
        names.insert(ctx.model.get_str("Port", p, name_col)?);
    }
    names.remove(&br_name);
    for n in names {
        ctx.println(&n);
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
    let b = must_bridge(ctx, br)?;
    let verb = cmd.def.name;
    if find_bridge(ctx, port)?.is_some() {
        return Err(cmd_err(format!(
            "cannot create a port named {port} because a bridge named {port} already exists"
        )));
    }
    if let Some((ob, op)) = find_port(ctx, port)? {
        let ob_name = bridge_name(ctx, ob)?;
        if cmd.has("--may-exist") {
            if ob != b {
                return Err(cmd_err(format!(
                    "\"--may-exist {verb} {br} {port}\" but {port} is actually attached to bridge {ob_name}",
                )));
            }
            let info = port_info(ctx, op)?;
            let have: BTreeSet<&str> = info.ifaces.iter().map(|(_, n)| n.as_str()).collect();
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
            "cannot create a port named {port} because a port named {port} already exists on bridge {ob_name}",
        )));
    }
    let mut seen = BTreeSet::new();
    for i in ifaces {
        if !seen.insert(i) {
            return Err(cmd_err(format!("interface {i} is named twice")));
        }
        if let Some((ob, op, _)) = find_iface(ctx, i)? {
            let port_name = port_info(ctx, op)?.name;
            return Err(cmd_err(format!(
                "cannot create an interface named {i} because it already exists on port {port_name} of bridge {}",
                bridge_name(ctx, ob)?
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
    let port_ts = ctx.model.table("Port")?;
    for s in settings {
        db_cmds::set_column(ctx, port_ts, p, s)?;
    }
    edit_refs(ctx, "Bridge", b, "ports", p, true)
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
    let with_iface = cmd.has("--with-iface");
    let mut found = find_port(ctx, target)?;
    if found.is_none() && with_iface {
        found = find_iface(ctx, target)?.map(|(b, p, _)| (b, p));
    }
    if let Some(b) = br_name {
        must_bridge(ctx, b)?;
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
    let b_name = bridge_name(ctx, b)?;
    if let Some(bn) = br_name {
        if &b_name != bn {
            return Err(cmd_err(format!(
                "bridge {bn} does not have a port {target}"
            )));
        }
    }
    let p = port_info(ctx, p)?;
    if p.name == b_name {
        return Err(cmd_err(format!(
            "cannot delete port {} because it is the local port for bridge {b_name} \
             (deleting this port requires deleting the entire bridge: del-br {b_name})",
            p.name
        )));
    }
    delete_port(ctx, &p)?;
    edit_refs(ctx, "Bridge", b, "ports", p.uuid, false)
}

fn port_to_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let (b, _) = find_port(ctx, &cmd.args[0])?
        .ok_or_else(|| cmd_err(format!("no port named {}", cmd.args[0])))?;
    let name = bridge_name(ctx, b)?;
    ctx.println(&name);
    Ok(())
}

fn list_ifaces(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let b = must_bridge(ctx, &cmd.args[0])?;
    let br_name = bridge_name(ctx, b)?;
    let ifaces_col = ctx.model.col("Port", "interfaces")?;
    let iface_name = ctx.model.col("Interface", "name")?;
    let ports = bridge_ports(ctx, b, &["interfaces"])?;
    let mut ifaces = Vec::new();
    for p in ports {
        ifaces.extend(ctx.model.get_uuids("Port", p, ifaces_col)?);
        ctx.model.verify("Port", p, ifaces_col)?;
    }
    ctx.model.prefetch("Interface", &ifaces, &[iface_name])?;
    let mut names = BTreeSet::new();
    for i in ifaces {
        if ctx.model.exists("Interface", i)? {
            names.insert(ctx.model.get_str("Interface", i, iface_name)?);
        }
    }
    names.remove(&br_name);
    for n in names {
        ctx.println(&n);
    }
    Ok(())
}

fn iface_to_br(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let (b, _, _) = find_iface(ctx, &cmd.args[0])?
        .ok_or_else(|| cmd_err(format!("no interface named {}", cmd.args[0])))?;
    let name = bridge_name(ctx, b)?;
    ctx.println(&name);
    Ok(())
}

/// The rows a reference column points to, sorted by a string column.
fn sorted_refs(
    ctx: &mut Ctx<'_>,
    table: &str,
    row: Uuid,
    column: &str,
    target: &str,
    key: &str,
) -> Result<Vec<(String, Uuid)>> {
    let c = ctx.model.col(table, column)?;
    let k = ctx.model.col(target, key)?;
    let refs = ctx.model.get_uuids(table, row, c)?;
    ctx.model.prefetch(target, &refs, &[k])?;
    let mut v = Vec::with_capacity(refs.len());
    for u in refs {
        if ctx.model.exists(target, u)? {
            v.push((ctx.model.get_str(target, u, k)?, u));
        }
    }
    v.sort();
    Ok(v)
}

fn get_controller(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = must_bridge(ctx, &cmd.args[0])?;
    for (t, _) in sorted_refs(ctx, "Bridge", br, "controller", "Controller", "target")? {
        ctx.println(&t);
    }
    Ok(())
}

fn del_controller(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = must_bridge(ctx, &cmd.args[0])?;
    for (_, u) in sorted_refs(ctx, "Bridge", br, "controller", "Controller", "target")? {
        ctx.model.delete("Controller", u)?;
    }
    set_col(ctx, "Bridge", br, "controller", uuids([]))
}

fn set_controller(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    del_controller(ctx, cmd)?;
    let br = must_bridge(ctx, &cmd.args[0])?;
    let mut rows = Vec::new();
    for target in &cmd.args[1..] {
        let u = new_row(ctx, "Controller")?;
        set_col(ctx, "Controller", u, "target", string(target))?;
        rows.push(u);
    }
    set_col(ctx, "Bridge", br, "controller", uuids(rows))
}

fn fail_mode(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let br = must_bridge(ctx, &cmd.args[0])?;
    let c = ctx.model.col("Bridge", "fail_mode")?;
    match cmd.def.name {
        "get-fail-mode" => {
            if let Some(Atom::String(m)) = ctx.model.get("Bridge", br, c)?.as_scalar() {
                ctx.println(m);
            }
        }
        "del-fail-mode" => ctx
            .model
            .set("Bridge", br, c, Datum::Set(BTreeSet::new()))?,
        _ => {
            let ty = &ctx.model.table("Bridge")?.columns[c].ty;
            let d = parse_datum(&cmd.args[1], ty, &mut ctx.symbols).map_err(|_| {
                cmd_err(format!(
                    "fail-mode must be \"standalone\" or \"secure\", not \"{}\"",
                    cmd.args[1]
                ))
            })?;
            ctx.model.set("Bridge", br, c, d)?;
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
        ctx.model.delete("Manager", u)?;
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

/// Reads columns `cols` of every row of `table` that column `column` of
/// `rows` (of `from`) refers to, in one go; returns those rows.
fn prefetch_refs(
    ctx: &mut Ctx<'_>,
    from: &str,
    rows: &[Uuid],
    column: &str,
    table: &str,
    cols: &[&str],
) -> Result<Vec<Uuid>> {
    let c = ctx.model.col(from, column)?;
    let mut targets = Vec::new();
    for &r in rows {
        targets.extend(ctx.model.get_uuids(from, r, c)?);
    }
    let cols = cols
        .iter()
        .filter_map(|n| ctx.model.table(table).ok()?.column_index(n))
        .collect::<Vec<_>>();
    ctx.model.prefetch(table, &targets, &cols)?;
    Ok(targets)
}

/// For `show`: "name: value" lines for the columns of a row that differ
/// from their default.
fn show_attrs(
    ctx: &mut Ctx<'_>,
    out: &mut String,
    table: &str,
    row: Uuid,
    cols: &[&str],
    indent: usize,
) -> Result<()> {
    let ts = ctx.model.table(table)?;
    for c in cols {
        let Some(i) = ts.column_index(c) else {
            continue;
        };
        let ty = &ts.columns[i].ty;
        let d = ctx.model.get(table, row, i)?;
        if !ty.is_default(&d) {
            out.push_str(&format!("{:indent$}{c}: {}\n", "", datum_to_string(&d, ty)));
        }
    }
    Ok(())
}

/// `show`: the switch as a tree.
fn show(ctx: &mut Ctx<'_>, _cmd: &Command) -> Result<()> {
    const MANAGER: &[&str] = &["target", "is_connected"];
    const BRIDGE: &[&str] = &["name", "controller", "fail_mode", "datapath_type", "ports"];
    const CONTROLLER: &[&str] = &["target", "is_connected"];
    const PORT: &[&str] = &["name", "tag", "trunks", "interfaces"];
    const IFACE: &[&str] = &["name", "type", "options", "error", "bfd_status"];
    let mut out = String::new();
    let title = |s: &str| atom_to_string(&Atom::String(s.to_string()));
    let switches = ctx.model.rows("Open_vSwitch")?;
    // Everything show prints, a level at a time.
    prefetch_refs(
        ctx,
        "Open_vSwitch",
        &switches,
        "manager_options",
        "Manager",
        MANAGER,
    )?;
    let bridges = prefetch_refs(ctx, "Open_vSwitch", &switches, "bridges", "Bridge", BRIDGE)?;
    prefetch_refs(
        ctx,
        "Bridge",
        &bridges,
        "controller",
        "Controller",
        CONTROLLER,
    )?;
    let ports = prefetch_refs(ctx, "Bridge", &bridges, "ports", "Port", PORT)?;
    prefetch_refs(ctx, "Port", &ports, "interfaces", "Interface", IFACE)?;
    for ovs in switches {
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
            show_attrs(ctx, &mut out, "Manager", mgr, &["is_connected"], 8)?;
        }
        for (name, br) in sorted_refs(ctx, "Open_vSwitch", ovs, "bridges", "Bridge", "name")? {
            out.push_str(&format!("    Bridge {}\n", title(&name)));
            for (target, c) in sorted_refs(ctx, "Bridge", br, "controller", "Controller", "target")?
            {
                out.push_str(&format!("        Controller {}\n", title(&target)));
                show_attrs(ctx, &mut out, "Controller", c, &["is_connected"], 12)?;
            }
            show_attrs(
                ctx,
                &mut out,
                "Bridge",
                br,
                &["fail_mode", "datapath_type"],
                8,
            )?;
            for (pname, p) in sorted_refs(ctx, "Bridge", br, "ports", "Port", "name")? {
                out.push_str(&format!("        Port {}\n", title(&pname)));
                show_attrs(ctx, &mut out, "Port", p, &["tag", "trunks"], 12)?;
                for (iname, i) in sorted_refs(ctx, "Port", p, "interfaces", "Interface", "name")? {
                    out.push_str(&format!("            Interface {}\n", title(&iname)));
                    show_attrs(
                        ctx,
                        &mut out,
                        "Interface",
                        i,
                        &["type", "options", "error", "bfd_status"],
                        16,
                    )?;
                }
            }
        }
        show_attrs(ctx, &mut out, "Open_vSwitch", ovs, &["ovs_version"], 4)?;
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
