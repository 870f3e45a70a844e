//! The database commands: `list`, `find`, `get`, `set`, `add`, `remove`,
//! `clear`, `create`, `destroy`, `wait-until`, `comment`.
//!
//! A RECORD argument names a row by its UUID (or its first four or more
//! hex digits, if unique in the table), by an `@name` from `--id=@name`,
//! or by a table-specific name (see [`ROW_RULES`]): `Bridge`, `Port`,
//! `Interface`, `Mirror`, `Flow_Table` rows by `name`, `Manager` rows by
//! `target`, `Open_vSwitch` and `SSL` as `.`, and `Controller`, `NetFlow`,
//! `sFlow`, `IPFIX`, `AutoAttach` and `QoS` through the bridge or port
//! that refers to them (`list Controller br0`, `list QoS eth0`).

use super::error::{cmd_err, Result};
use super::model::{find_column, find_table, ColumnRef, Test};
use super::output::{Cell, Table};
use super::parse::Command;
use super::value::{
    atom_from_token, atom_to_string, check_count, datum_to_string, parse_atom_whole, parse_datum,
    parse_datum_loose, Lexer, Token,
};
use super::Ctx;
use rvs_ovsdb::schema::TableSchema;
use rvs_ovsdb::types::{Atom, ColumnType, Datum, Uuid};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// One way of naming the rows of a table.
#[derive(Debug, Clone, Copy)]
pub enum RowRule {
    /// By the value of this column.
    Name(&'static str),
    /// As `.`, when the table has exactly one row.
    Dot,
    /// By the single reference in `column` of the row of `table` that is
    /// named by its `name` column (or as `.` when `name` is `None`).
    Via {
        table: &'static str,
        name: Option<&'static str>,
        column: &'static str,
    },
}

/// How each table's rows may be named, besides by UUID.
pub const ROW_RULES: &[(&str, &[RowRule])] = &[
    (
        "AutoAttach",
        &[RowRule::Via {
            table: "Bridge",
            name: Some("name"),
            column: "auto_attach",
        }],
    ),
    ("Bridge", &[RowRule::Name("name")]),
    (
        "Controller",
        &[RowRule::Via {
            table: "Bridge",
            name: Some("name"),
            column: "controller",
        }],
    ),
    ("Flow_Sample_Collector_Set", &[RowRule::Name("id")]),
    ("Flow_Table", &[RowRule::Name("name")]),
    (
        "IPFIX",
        &[RowRule::Via {
            table: "Bridge",
            name: Some("name"),
            column: "ipfix",
        }],
    ),
    ("Interface", &[RowRule::Name("name")]),
    ("Manager", &[RowRule::Name("target")]),
    ("Mirror", &[RowRule::Name("name")]),
    (
        "NetFlow",
        &[RowRule::Via {
            table: "Bridge",
            name: Some("name"),
            column: "netflow",
        }],
    ),
    ("Open_vSwitch", &[RowRule::Dot]),
    ("Port", &[RowRule::Name("name")]),
    (
        "QoS",
        &[RowRule::Via {
            table: "Port",
            name: Some("name"),
            column: "qos",
        }],
    ),
    (
        "SSL",
        &[RowRule::Via {
            table: "Open_vSwitch",
            name: None,
            column: "ssl",
        }],
    ),
    (
        "sFlow",
        &[RowRule::Via {
            table: "Bridge",
            name: Some("name"),
            column: "sflow",
        }],
    ),
];

/// The rules for `table`.
pub fn row_rules(table: &str) -> &'static [RowRule] {
    ROW_RULES
        .iter()
        .find(|(t, _)| *t == table)
        .map_or(&[], |(_, r)| r)
}

/// The rows of `table` whose `column` holds exactly `name` (a lookup,
/// not a scan of the table).
fn rows_named(ctx: &mut Ctx<'_>, table: &str, column: &str, name: &str) -> Result<Vec<Uuid>> {
    let Some(ts) = ctx.model.schema.tables.get(table) else {
        return Ok(Vec::new());
    };
    let Some(c) = ts.column_index(column) else {
        return Ok(Vec::new());
    };
    let Ok(atom) = parse_atom_whole(name, &ts.columns[c].ty.key, &mut ctx.symbols) else {
        return Ok(Vec::new());
    };
    ctx.model.find(table, c, &Test::Eq(Datum::scalar(atom)))
}

/// The one row of `rows`, `None` if there is none, or an error if several.
fn unique(rows: Vec<Uuid>, table: &str, record: &str) -> Result<Option<Uuid>> {
    match rows.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(cmd_err(format!(
            "multiple rows in {table} match \"{record}\"; name the row by its UUID"
        ))),
    }
}

/// The row of `table` that `record` names, if any.
pub fn find_row(ctx: &mut Ctx<'_>, table: &str, record: &str) -> Result<Option<Uuid>> {
    if record.starts_with('@') {
        return match ctx.symbols.lookup_defined(record) {
            Some(u) if ctx.model.exists(table, u)? => Ok(Some(u)),
            Some(_) => Ok(None),
            None => Err(cmd_err(format!(
                "row id \"{record}\" is not defined yet: define it with --id={record} on an \
                 earlier create or get command"
            ))),
        };
    }
    if let Some(u) = Uuid::parse(record) {
        if ctx.model.exists(table, u)? {
            return Ok(Some(u));
        }
    }
    for rule in row_rules(table) {
        let found = match *rule {
            RowRule::Name(col) => unique(rows_named(ctx, table, col, record)?, table, record)?,
            RowRule::Dot => {
                let rows = ctx.model.rows(table)?;
                (record == "." && rows.len() == 1).then(|| rows[0])
            }
            RowRule::Via {
                table: rt,
                name,
                column,
            } => {
                let referrers = match name {
                    Some(n) => rows_named(ctx, rt, n, record)?,
                    None if record == "." => ctx.model.rows(rt)?,
                    None => Vec::new(),
                };
                match unique(referrers, rt, record)? {
                    None => None,
                    Some(r) => {
                        let c = ctx.model.col(rt, column)?;
                        match ctx.model.get_uuids(rt, r, c)?.as_slice() {
                            [one] if ctx.model.exists(table, *one)? => Some(*one),
                            _ => None,
                        }
                    }
                }
            }
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    let lower = record.to_ascii_lowercase();
    if lower.len() >= 4 && lower.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        let rows: Vec<Uuid> = ctx
            .model
            .rows(table)?
            .into_iter()
            .filter(|u| u.to_string().starts_with(&lower))
            .collect();
        return unique(rows, table, record);
    }
    Ok(None)
}

/// The row `record` names, or an error saying there is none.
pub fn must_find_row(ctx: &mut Ctx<'_>, table: &str, record: &str) -> Result<Uuid> {
    find_row(ctx, table, record)?
        .ok_or_else(|| cmd_err(format!("no row \"{record}\" in table {table}")))
}

/// The row for a command that takes `--if-exists`: `None` if it is missing
/// and `--if-exists` was given.
fn row_for(ctx: &mut Ctx<'_>, cmd: &Command, table: &str, record: &str) -> Result<Option<Uuid>> {
    match find_row(ctx, table, record)? {
        Some(u) => Ok(Some(u)),
        None if cmd.has("--if-exists") => Ok(None),
        None => Err(cmd_err(format!("no row \"{record}\" in table {table}"))),
    }
}

/// A `column[:key]` argument with an optional operator and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnArg {
    pub column: String,
    pub key: Option<Token>,
    pub op: Option<&'static str>,
    pub value: String,
}

/// The operators of `find` and `wait-until`, longest first.
pub const CONDITION_OPS: &[&str] = &[
    "{not-in}", "{in}", "{!=}", "{<=}", "{>=}", "{=}", "{<}", "{>}", "!=", "<=", ">=", "=", "<",
    ">",
];

/// Parses `column[:key]` followed by one of `ops` and a value (or by
/// nothing, when `ops` is empty).
pub fn parse_column_arg(arg: &str, ops: &[&'static str]) -> Result<ColumnArg> {
    let mut lx = Lexer::new(arg);
    let column = lx.token("a column name")?;
    if column.quoted {
        return Err(cmd_err(format!("{arg}: a column name may not be quoted")));
    }
    let key = if lx.eat(':') {
        Some(lx.token("a key")?)
    } else {
        None
    };
    if ops.is_empty() {
        if !lx.at_end() {
            return Err(cmd_err(format!(
                "{arg}: unexpected \"{}\" after the column{}",
                lx.rest(),
                if key.is_some() { " and key" } else { "" }
            )));
        }
        return Ok(ColumnArg {
            column: column.text,
            key,
            op: None,
            value: String::new(),
        });
    }
    let op = ops.iter().find(|op| lx.eat_str(op)).copied();
    let value = lx.rest();
    match op {
        Some(op) if !value.is_empty() => Ok(ColumnArg {
            column: column.text,
            key,
            op: Some(op),
            value: value.to_string(),
        }),
        _ if ops == ["="] => Err(cmd_err(format!(
            "{arg}: argument does not end in \"=\" followed by a value"
        ))),
        _ => Err(cmd_err(format!(
            "{arg}: argument does not end in an operator ({}) followed by a value",
            ops.join(" ")
        ))),
    }
}

/// The columns `list`/`find` print: `--columns`, or `_uuid` and then every
/// column in alphabetical order.
fn output_columns(ts: &TableSchema, cmd: &Command) -> Result<Vec<ColumnRef>> {
    match cmd.value("--columns") {
        Some(list) => list
            .split(',')
            .filter(|c| !c.is_empty())
            .map(|c| find_column(ts, c.trim()))
            .collect(),
        None => {
            let mut names: Vec<&str> = ts.columns.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            std::iter::once("_uuid")
                .chain(names)
                .map(|c| find_column(ts, c))
                .collect()
        }
    }
}

/// The explicit columns among `cols`.
fn column_indexes<'c>(cols: impl IntoIterator<Item = &'c ColumnRef>) -> Vec<usize> {
    let mut v: Vec<usize> = cols.into_iter().filter_map(|c| c.index).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Prints columns `cols` of `rows`, read in one go.
fn print_rows(
    ctx: &mut Ctx<'_>,
    ts: &TableSchema,
    cols: &[ColumnRef],
    rows: &[Uuid],
) -> Result<()> {
    ctx.model.prefetch(&ts.name, rows, &column_indexes(cols))?;
    let mut cells = Vec::with_capacity(rows.len());
    for u in rows {
        let mut row = Vec::with_capacity(cols.len());
        for c in cols {
            row.push(Cell {
                datum: ctx.model.value(&ts.name, *u, c)?,
                ty: c.ty.clone(),
            });
        }
        cells.push(row);
    }
    let table = Table {
        headings: cols.iter().map(|c| c.name.clone()).collect(),
        rows: cells,
    };
    ctx.print_table(&table);
    Ok(())
}

/// `list TABLE [RECORD]...`
pub fn list(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let cols = output_columns(ts, cmd)?;
    let rows = if cmd.args.len() > 1 {
        let mut rows = Vec::new();
        for r in &cmd.args[1..] {
            if let Some(u) = row_for(ctx, cmd, &ts.name, r)? {
                rows.push(u);
            }
        }
        rows
    } else {
        ctx.model.scan(&ts.name, &column_indexes(&cols))?;
        ctx.model.rows(&ts.name)?
    };
    print_rows(ctx, ts, &cols, &rows)
}

/// A parsed condition of `find` or `wait-until`.
#[derive(Debug, Clone)]
pub struct Condition {
    pub col: ColumnRef,
    pub key: Option<Atom>,
    pub op: &'static str,
    pub value: Datum,
}

fn is_set_op(op: &str) -> bool {
    op.starts_with('{')
}

/// Parses `column[:key]OP value`.
pub fn parse_condition(ctx: &mut Ctx<'_>, ts: &TableSchema, arg: &str) -> Result<Condition> {
    let ca = parse_column_arg(arg, CONDITION_OPS)?;
    let col = find_column(ts, &ca.column)?;
    let op = ca.op.unwrap_or("=");
    let (key, value) = match &ca.key {
        Some(k) => {
            let vt = col.ty.value.clone().ok_or_else(|| {
                cmd_err(format!(
                    "{arg}: column {} is not a map, so it has no key {}",
                    col.name, k.text
                ))
            })?;
            let key = atom_from_token(k, &col.ty.key, &mut ctx.symbols)?;
            let value = if is_set_op(op) {
                let t = ColumnType {
                    key: vt,
                    value: None,
                    min: 0,
                    max: usize::MAX,
                };
                parse_datum_loose(&ca.value, &t, &mut ctx.symbols)?
            } else {
                Datum::scalar(parse_atom_whole(&ca.value, &vt, &mut ctx.symbols)?)
            };
            (Some(key), value)
        }
        None => (
            None,
            parse_datum_loose(&ca.value, &col.ty, &mut ctx.symbols)?,
        ),
    };
    Ok(Condition {
        col,
        key,
        op,
        value,
    })
}

/// Orders two values as `find` does: equal values are equal; otherwise
/// the one with more elements is larger; otherwise the first differing
/// element (for maps: key, then value) decides.
pub fn compare_datums(a: &Datum, b: &Datum) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    match (a, b) {
        (Datum::Map(x), Datum::Map(y)) => x
            .keys()
            .cmp(y.keys())
            .then_with(|| x.values().cmp(y.values())),
        _ => a.keys().cmp(b.keys()),
    }
}

/// Whether every element of `a` is in `b` (pairs, for maps).
fn includes_all(b: &Datum, a: &Datum) -> bool {
    match (a, b) {
        (Datum::Map(x), Datum::Map(y)) => x.iter().all(|(k, v)| y.get(k) == Some(v)),
        (Datum::Set(x), Datum::Set(y)) => x.is_subset(y),
        _ => false,
    }
}

fn disjoint(a: &Datum, b: &Datum) -> bool {
    match (a, b) {
        (Datum::Map(x), Datum::Map(y)) => x.iter().all(|(k, v)| y.get(k) != Some(v)),
        (Datum::Set(x), Datum::Set(y)) => x.is_disjoint(y),
        _ => true,
    }
}

impl Condition {
    /// Whether the condition holds for a column whose value is `have`.
    pub fn holds(&self, have: &Datum) -> bool {
        let have = match &self.key {
            None => have.clone(),
            Some(k) => {
                let v = match have {
                    Datum::Map(m) => m.get(k),
                    Datum::Set(_) => None,
                };
                match v {
                    Some(v) => Datum::scalar(v.clone()),
                    // A missing key never satisfies an arithmetic test and
                    // is an empty set for the set tests.
                    None if !is_set_op(self.op) => return false,
                    None => Datum::Set(BTreeSet::new()),
                }
            }
        };
        let want = &self.value;
        let ord = compare_datums(&have, want);
        match self.op {
            "=" | "{=}" => have == *want,
            "!=" | "{!=}" => have != *want,
            "<" => ord.is_lt(),
            ">" => ord.is_gt(),
            "<=" => ord.is_le(),
            ">=" => ord.is_ge(),
            "{<=}" | "{in}" => includes_all(want, &have),
            "{<}" => includes_all(want, &have) && have != *want,
            "{>=}" => includes_all(&have, want),
            "{>}" => includes_all(&have, want) && have != *want,
            "{not-in}" => disjoint(&have, want),
            _ => false,
        }
    }
}

/// `find TABLE [CONDITION]...`
pub fn find(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let cols = output_columns(ts, cmd)?;
    let conds = cmd.args[1..]
        .iter()
        .map(|a| parse_condition(ctx, ts, a))
        .collect::<Result<Vec<_>>>()?;
    // The tested columns of every row in one read; the printed ones only
    // of the rows that pass.
    let tested = column_indexes(conds.iter().map(|c| &c.col));
    ctx.model.scan(&ts.name, &tested)?;
    let all = ctx.model.rows(&ts.name)?;
    let mut rows = Vec::new();
    'rows: for u in all {
        for c in &conds {
            if !c.holds(&ctx.model.value(&ts.name, u, &c.col)?) {
                continue 'rows;
            }
        }
        rows.push(u);
    }
    print_rows(ctx, ts, &cols, &rows)
}

/// `get TABLE RECORD [COLUMN[:KEY]]...`
pub fn get(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let id = cmd.value("--id");
    if id.is_some() && cmd.has("--if-exists") {
        return Err(cmd_err("--if-exists and --id may not be given together"));
    }
    let Some(row) = row_for(ctx, cmd, &ts.name, &cmd.args[1])? else {
        return Ok(());
    };
    if let Some(id) = id {
        if !id.starts_with('@') || id.len() < 2 {
            return Err(cmd_err(format!(
                "--id={id}: the id of get must be of the form @name"
            )));
        }
        ctx.symbols.define_existing(id, row)?;
    }
    for arg in &cmd.args[2..] {
        let ca = parse_column_arg(arg, &[])?;
        let col = find_column(ts, &ca.column)?;
        let d = ctx.model.value(&ts.name, row, &col)?;
        match &ca.key {
            None => {
                let s = datum_to_string(&d, &col.ty);
                ctx.println(&s);
            }
            Some(k) => {
                if !col.ty.is_map() {
                    return Err(cmd_err(format!(
                        "cannot specify a key to get for non-map column {}",
                        col.name
                    )));
                }
                let key = atom_from_token(k, &col.ty.key, &mut ctx.symbols)?;
                match &d {
                    Datum::Map(m) if m.contains_key(&key) => {
                        let s = atom_to_string(&m[&key]);
                        ctx.println(&s);
                    }
                    _ if cmd.has("--if-exists") => ctx.println(""),
                    _ => {
                        return Err(cmd_err(format!(
                            "no key \"{}\" in {} record \"{}\" column {}",
                            k.text, ts.name, cmd.args[1], col.name
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

/// A column the user wants to change: it must be a real column and, for
/// rows that already exist, mutable.
fn writable_column(
    ctx: &Ctx<'_>,
    ts: &TableSchema,
    row: Uuid,
    name: &str,
) -> Result<(usize, ColumnRef)> {
    let col = find_column(ts, name)?;
    let Some(i) = col.index else {
        return Err(cmd_err(format!(
            "cannot modify the _uuid column of table {}",
            ts.name
        )));
    };
    if !col.mutable && !ctx.model.is_new(row) {
        return Err(cmd_err(format!(
            "cannot modify read-only column {} in table {}",
            col.name, ts.name
        )));
    }
    Ok((i, col))
}

/// Applies one `column[:key]=value` to a row (for `set`, `create` and
/// `add-port`).
pub fn set_column(ctx: &mut Ctx<'_>, ts: &TableSchema, row: Uuid, arg: &str) -> Result<()> {
    let ca = parse_column_arg(arg, &["="])?;
    let (i, col) = writable_column(ctx, ts, row, &ca.column)?;
    match &ca.key {
        Some(k) => {
            let vt = col.ty.value.clone().ok_or_else(|| {
                cmd_err(format!(
                    "{arg}: cannot specify a key to set for non-map column {}",
                    col.name
                ))
            })?;
            let key = atom_from_token(k, &col.ty.key, &mut ctx.symbols)
                .map_err(|e| cmd_err(format!("{arg}: {e}")))?;
            let value = parse_atom_whole(&ca.value, &vt, &mut ctx.symbols)
                .map_err(|e| cmd_err(format!("{arg}: {e}")))?;
            let mut d = ctx.model.get(&ts.name, row, i)?;
            if let Datum::Map(m) = &mut d {
                m.insert(key, value);
            }
            check_count(arg, &d, &col.ty)?;
            ctx.model.verify(&ts.name, row, i)?;
            ctx.model.set(&ts.name, row, i, d)?;
        }
        None => {
            let d = parse_datum(&ca.value, &col.ty, &mut ctx.symbols)
                .map_err(|e| cmd_err(format!("{}: {e}", col.name)))?;
            ctx.model.set(&ts.name, row, i, d)?;
        }
    }
    Ok(())
}

/// `set TABLE RECORD COLUMN[:KEY]=VALUE...`
pub fn set(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let Some(row) = row_for(ctx, cmd, &ts.name, &cmd.args[1])? else {
        return Ok(());
    };
    for arg in &cmd.args[2..] {
        set_column(ctx, ts, row, arg)?;
    }
    Ok(())
}

/// `add TABLE RECORD COLUMN [KEY=]VALUE...`
pub fn add(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let Some(row) = row_for(ctx, cmd, &ts.name, &cmd.args[1])? else {
        return Ok(());
    };
    let (i, col) = writable_column(ctx, ts, row, &cmd.args[2])?;
    let mut d = ctx.model.get(&ts.name, row, i)?;
    for v in &cmd.args[3..] {
        let more = parse_datum_loose(v, &col.ty, &mut ctx.symbols)?;
        match (&mut d, more) {
            (Datum::Map(m), Datum::Map(add)) => {
                for (k, v) in add {
                    // An existing key keeps its value (use set to replace).
                    m.entry(k).or_insert(v);
                }
            }
            (Datum::Set(s), Datum::Set(add)) => s.extend(add),
            _ => {}
        }
    }
    if d.len() > col.ty.max {
        return Err(cmd_err(format!(
            "\"add\" operation would put {} values in column {} of table {} but the maximum number is {}",
            d.len(),
            col.name,
            ts.name,
            col.ty.max
        )));
    }
    ctx.model.verify(&ts.name, row, i)?;
    ctx.model.set(&ts.name, row, i, d)?;
    Ok(())
}

/// `remove TABLE RECORD COLUMN VALUE|KEY|KEY=VALUE...`
pub fn remove(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let Some(row) = row_for(ctx, cmd, &ts.name, &cmd.args[1])? else {
        return Ok(());
    };
    let (i, col) = writable_column(ctx, ts, row, &cmd.args[2])?;
    let mut d = ctx.model.get(&ts.name, row, i)?;
    for v in &cmd.args[3..] {
        match &mut d {
            Datum::Map(m) => match parse_datum_loose(v, &col.ty, &mut ctx.symbols) {
                Ok(Datum::Map(pairs)) => {
                    for (k, val) in pairs {
                        if m.get(&k) == Some(&val) {
                            m.remove(&k);
                        }
                    }
                }
                Ok(Datum::Set(_)) => {}
                Err(map_err) => {
                    let keys_ty = ColumnType {
                        key: col.ty.key.clone(),
                        value: None,
                        min: 0,
                        max: usize::MAX,
                    };
                    let keys =
                        parse_datum_loose(v, &keys_ty, &mut ctx.symbols).map_err(|_| map_err)?;
                    for k in keys.keys() {
                        m.remove(k);
                    }
                }
            },
            Datum::Set(s) => {
                let gone = parse_datum_loose(v, &col.ty, &mut ctx.symbols)?;
                for a in gone.keys() {
                    s.remove(a);
                }
            }
        }
    }
    if d.len() < col.ty.min {
        return Err(cmd_err(format!(
            "\"remove\" operation would put {} values in column {} of table {} but the minimum number is {}",
            d.len(),
            col.name,
            ts.name,
            col.ty.min
        )));
    }
    ctx.model.verify(&ts.name, row, i)?;
    ctx.model.set(&ts.name, row, i, d)?;
    Ok(())
}

/// `clear TABLE RECORD COLUMN...`
pub fn clear(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let Some(row) = row_for(ctx, cmd, &ts.name, &cmd.args[1])? else {
        return Ok(());
    };
    for c in &cmd.args[2..] {
        let (i, col) = writable_column(ctx, ts, row, c)?;
        if col.ty.min > 0 {
            return Err(cmd_err(format!(
                "\"clear\" operation cannot be applied to column {} of table {}, which is not allowed to be empty",
                col.name, ts.name
            )));
        }
        let empty = if col.ty.is_map() {
            Datum::Map(BTreeMap::new())
        } else {
            Datum::Set(BTreeSet::new())
        };
        ctx.model.set(&ts.name, row, i, empty)?;
    }
    Ok(())
}

/// `create TABLE [COLUMN[:KEY]=VALUE]...`
pub fn create(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let (uuid, explicit) = match cmd.value("--id") {
        Some(id) if id.starts_with('@') && id.len() > 1 => (ctx.symbols.define_new(id)?, false),
        Some(id) => match Uuid::parse(id) {
            Some(u) => (u, true),
            None => {
                return Err(cmd_err(format!(
                    "--id={id}: the id of create must be @name or a UUID"
                )))
            }
        },
        None => {
            if !ts.is_root {
                ctx.warnings.push(format!(
                    "creating a {} row without --id has no effect: the database deletes rows \
                     of this table that nothing refers to (use --id=@name and refer to @name \
                     from another command, e.g. -- set Bridge br0 ...=@name)",
                    ts.name
                ));
            }
            (Uuid::random(), false)
        }
    };
    ctx.model.insert(&ts.name, uuid, explicit)?;
    for arg in &cmd.args[1..] {
        set_column(ctx, ts, uuid, arg)?;
    }
    ctx.println(&uuid.to_string());
    Ok(())
}

/// `destroy TABLE [RECORD]...`
pub fn destroy(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    if cmd.has("--all") {
        if cmd.args.len() > 1 {
            return Err(cmd_err(
                "destroy --all deletes every record of the table; give no records with it",
            ));
        }
        for u in ctx.model.rows(&ts.name)? {
            ctx.model.delete(&ts.name, u)?;
        }
        return Ok(());
    }
    for r in &cmd.args[1..] {
        if let Some(u) = row_for(ctx, cmd, &ts.name, r)? {
            ctx.model.delete(&ts.name, u)?;
        }
    }
    Ok(())
}

/// `wait-until TABLE RECORD [CONDITION]...`
pub fn wait_until(ctx: &mut Ctx<'_>, cmd: &Command) -> Result<()> {
    let ts = find_table(ctx.model.schema, &cmd.args[0])?;
    let Some(row) = find_row(ctx, &ts.name, &cmd.args[1])? else {
        ctx.try_again = true;
        return Ok(());
    };
    for a in &cmd.args[2..] {
        let c = parse_condition(ctx, ts, a)?;
        if !c.holds(&ctx.model.value(&ts.name, row, &c.col)?) {
            ctx.try_again = true;
            return Ok(());
        }
    }
    Ok(())
}

/// `comment [ARG]...`: nothing.
pub fn comment(_ctx: &mut Ctx<'_>, _cmd: &Command) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn column_arguments() {
        let a =
            parse_column_arg("external-ids:attached-mac=\"52:54:00:00:00:01\"", &["="]).unwrap();
        assert_eq!(a.column, "external-ids");
        assert_eq!(a.key.unwrap().text, "attached-mac");
        assert_eq!(a.value, "\"52:54:00:00:00:01\"");
        let a = parse_column_arg("tag=10", &["="]).unwrap();
        assert_eq!(
            (a.column.as_str(), a.key, a.value.as_str()),
            ("tag", None, "10")
        );
        let a = parse_column_arg("external_ids:\"k:1\"=v", &["="]).unwrap();
        assert_eq!(a.key.unwrap().text, "k:1");
        let a = parse_column_arg("options:x=a=b", &["="]).unwrap();
        assert_eq!(a.value, "a=b");
        let e = parse_column_arg("external_ids:x=", &["="])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not end in \"=\" followed by a value"),
            "{e}"
        );
        assert!(parse_column_arg("tag", &["="]).is_err());
        let a = parse_column_arg("tag{>=}1,2", CONDITION_OPS).unwrap();
        assert_eq!((a.op, a.value.as_str()), (Some("{>=}"), "1,2"));
        let a = parse_column_arg("tag!=10", CONDITION_OPS).unwrap();
        assert_eq!(a.op, Some("!="));
        let a = parse_column_arg("tag<=10", CONDITION_OPS).unwrap();
        assert_eq!(a.op, Some("<="));
        let a = parse_column_arg("options:remote_ip", &[]).unwrap();
        assert_eq!(a.key.unwrap().text, "remote_ip");
        assert!(parse_column_arg("options:a b", &[]).is_err());
    }

    fn set_of(v: &[i64]) -> Datum {
        Datum::Set(v.iter().map(|i| Atom::Integer(*i)).collect())
    }

    fn cond(op: &'static str, key: Option<&str>, value: Datum) -> Condition {
        let ty = if key.is_some() {
            json!({"key": "string", "value": "integer", "min": 0, "max": "unlimited"})
        } else {
            json!({"key": "integer", "min": 0, "max": "unlimited"})
        };
        Condition {
            col: ColumnRef {
                name: "c".into(),
                index: Some(0),
                ty: ColumnType::from_json(&ty).unwrap(),
                mutable: true,
            },
            key: key.map(|k| Atom::String(k.into())),
            op,
            value,
        }
    }

    #[test]
    fn conditions() {
        let have = set_of(&[1, 2]);
        assert!(cond("=", None, set_of(&[1, 2])).holds(&have));
        assert!(cond("!=", None, set_of(&[1])).holds(&have));
        assert!(cond(">", None, set_of(&[5])).holds(&have)); // more elements
        assert!(cond("<", None, set_of(&[1, 3])).holds(&have));
        assert!(cond("{<=}", None, set_of(&[1, 2, 3])).holds(&have));
        assert!(cond("{in}", None, set_of(&[1, 2])).holds(&have));
        assert!(!cond("{<}", None, set_of(&[1, 2])).holds(&have));
        assert!(cond("{>=}", None, set_of(&[2])).holds(&have));
        assert!(cond("{>}", None, set_of(&[2])).holds(&have));
        assert!(cond("{not-in}", None, set_of(&[3, 4])).holds(&have));
        assert!(!cond("{not-in}", None, set_of(&[2])).holds(&have));
        let map = Datum::Map(BTreeMap::from([(
            Atom::String("mtu".into()),
            Atom::Integer(9000),
        )]));
        let empty = Datum::Map(BTreeMap::new());
        assert!(cond("!=", Some("mtu"), set_of(&[1500])).holds(&map));
        assert!(!cond("!=", Some("mtu"), set_of(&[1500])).holds(&empty));
        assert!(cond("{!=}", Some("mtu"), set_of(&[1500])).holds(&empty));
        assert!(cond("=", Some("mtu"), set_of(&[9000])).holds(&map));
    }
}
