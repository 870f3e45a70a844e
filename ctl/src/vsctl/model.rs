//! A partial, lazily read copy of the database that the commands of one
//! invocation read and change, and the transaction that carries their
//! changes.
//!
//! Nothing is read up front: a command asks for what it needs and the
//! model fetches it from the server on first use, through a [`Source`],
//! then keeps it for the rest of the invocation. There are four kinds of
//! read, from cheapest to dearest:
//!
//! - a lookup ([`Model::find`]): the rows whose column equals a value
//!   (`Port` named `p1`) or includes an element (the `Bridge` whose `ports`
//!   include a port), as a `select` with that `where` clause, which returns
//!   the UUIDs of the few matching rows instead of the table;
//! - a column of a row ([`Model::get`]): a `select` of that column of that
//!   row;
//! - a column of many rows ([`Model::prefetch`]): one `select` per row in
//!   one transaction, or one `select` of only those columns of the whole
//!   table when there are many rows;
//! - a scan ([`Model::scan`], [`Model::rows`]): every row of a table, with
//!   only the columns the command uses, for the commands that are about
//!   every row (`list` without records, `find`, `show`, `destroy --all`).
//!
//! Commands run one after the other against the copy, so each sees what the
//! earlier ones did (`add-port br0 p1 -- set Interface p1 type=internal`
//! finds the interface the first command created); a lookup combines the
//! server's answer with the rows this invocation inserted, changed or
//! deleted. At the end the differences become one transaction:
//!
//! 1. `wait`s that make the transaction fail, instead of acting on stale
//!    data, if what the commands read changed since: every lookup's `where`
//!    clause must still select exactly the rows it did (a `wait` for no rows
//!    at all where a lookup found none, so that another client creating the
//!    same name meanwhile is caught), and every column a change was
//!    computed from ([`Model::verify`]) must still hold its value; the
//!    caller then reads again and reruns the commands;
//! 2. an `insert` per new row (rows refer to each other by `named-uuid`);
//! 3. an `update` per changed row, with only the changed columns, and a
//!    `mutate` that inserts or deletes set elements where a command only
//!    added or removed references ([`Model::edit_set`]) without reading the
//!    set (a bridge's `ports` may hold thousands);
//! 4. a `delete` per deleted row of a root table. Rows of other tables are
//!    left to the server's garbage collection, which deletes them once
//!    nothing refers to them (so destroying a row that is still referred to
//!    has no effect, as with `ovs-vsctl`).
//!
//! The reads of one invocation are several transactions, so they need not
//! form one snapshot; the `wait`s make sure that whatever a change was
//! computed from still holds when it commits. A row that disappears between
//! two reads makes the run fail with [`VsctlError::Changed`], and the caller
//! runs the commands again.

use super::error::{cmd_err, Result, VsctlError};
use rvs_ovsdb::client::Client;
use rvs_ovsdb::schema::{uuid_column_type, DatabaseSchema, TableSchema};
use rvs_ovsdb::types::{Atom, AtomicType, ColumnType, Datum, Uuid};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// Up to this many rows, [`Model::prefetch`] selects the rows one by one;
/// beyond, it selects the columns of the whole table.
const PER_ROW_LIMIT: usize = 32;

/// Where the model reads committed data: runs a transaction of `select`s
/// and returns the per-operation results.
pub trait Source {
    fn read(&mut self, db: &str, ops: &[Value]) -> Result<Vec<Value>>;
}

impl Source for Client {
    fn read(&mut self, db: &str, ops: &[Value]) -> Result<Vec<Value>> {
        Ok(self.transact(db, ops)?)
    }
}

/// A column as the user named it: an explicit column, or `_uuid`.
#[derive(Debug, Clone)]
pub struct ColumnRef {
    pub name: String,
    /// Index among the table's explicit columns; `None` for `_uuid`.
    pub index: Option<usize>,
    pub ty: ColumnType,
    pub mutable: bool,
}

/// Table and column names are matched ignoring case, with `-` and `_`
/// equivalent; an unambiguous prefix is enough.
fn normalize(s: &str) -> String {
    s.to_ascii_lowercase().replace('-', "_")
}

/// Picks the one name `user` means among `names`: an exact match, else
/// the only name it is a prefix of. `Err(matches)` when there is no match
/// (empty) or more than one.
fn match_name<'a>(user: &str, names: &[&'a str]) -> std::result::Result<&'a str, Vec<&'a str>> {
    let u = normalize(user);
    if let Some(n) = names.iter().find(|n| normalize(n) == u) {
        return Ok(n);
    }
    let prefixed: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !u.is_empty() && normalize(n).starts_with(&u))
        .collect();
    match prefixed.as_slice() {
        [one] => Ok(one),
        _ => Err(prefixed),
    }
}

/// The table `user` names.
pub fn find_table<'s>(schema: &'s DatabaseSchema, user: &str) -> Result<&'s TableSchema> {
    let names: Vec<&str> = schema.tables.keys().map(String::as_str).collect();
    match match_name(user, &names) {
        Ok(n) => Ok(&schema.tables[n]),
        Err(m) if m.is_empty() => Err(cmd_err(format!(
            "unknown table \"{user}\" (tables: {})",
            names.join(", ")
        ))),
        Err(m) => Err(cmd_err(format!(
            "multiple table names match \"{user}\": {}",
            m.join(", ")
        ))),
    }
}

/// The column of `ts` that `user` names (`_uuid` included).
pub fn find_column(ts: &TableSchema, user: &str) -> Result<ColumnRef> {
    let mut names: Vec<&str> = vec!["_uuid"];
    names.extend(ts.columns.iter().map(|c| c.name.as_str()));
    match match_name(user, &names) {
        Ok("_uuid") => Ok(ColumnRef {
            name: "_uuid".into(),
            index: None,
            ty: uuid_column_type(),
            mutable: false,
        }),
        Ok(n) => {
            let (i, c) = ts.column(n).map_err(|e| cmd_err(e.details))?;
            Ok(ColumnRef {
                name: c.name.clone(),
                index: Some(i),
                ty: c.ty.clone(),
                mutable: c.mutable,
            })
        }
        Err(m) if m.is_empty() => Err(cmd_err(format!(
            "{} does not contain a column whose name matches \"{user}\"",
            ts.name
        ))),
        Err(m) => Err(cmd_err(format!(
            "{} contains more than one column whose name matches \"{user}\": {}",
            ts.name,
            m.join(", ")
        ))),
    }
}

/// What a lookup asks of a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// The column's value is exactly this.
    Eq(Datum),
    /// The column (a set) has this element.
    Includes(Atom),
}

impl Test {
    fn holds(&self, d: &Datum) -> bool {
        match self {
            Test::Eq(v) => d == v,
            Test::Includes(a) => match d {
                Datum::Set(s) => s.contains(a),
                Datum::Map(m) => m.contains_key(a),
            },
        }
    }

    fn function(&self) -> &'static str {
        match self {
            Test::Eq(_) => "==",
            Test::Includes(_) => "includes",
        }
    }
}

/// How this invocation changed one column of a row it did not insert.
#[derive(Debug, Clone, Default)]
enum Edit {
    #[default]
    None,
    /// A whole new value.
    Value(Datum),
    /// Elements inserted into and deleted from a set whose value may not
    /// have been read (disjoint).
    Delta {
        insert: BTreeSet<Atom>,
        delete: BTreeSet<Atom>,
    },
}

/// Values of some of a row's columns, by column index: rows are read a
/// few columns at a time, so most are absent.
#[derive(Debug, Clone)]
struct Sparse<T>(Vec<(usize, T)>);

impl<T> Default for Sparse<T> {
    fn default() -> Self {
        Sparse(Vec::new())
    }
}

impl<T> Sparse<T> {
    fn get(&self, c: usize) -> Option<&T> {
        self.0.iter().find(|(i, _)| *i == c).map(|(_, v)| v)
    }

    fn has(&self, c: usize) -> bool {
        self.get(c).is_some()
    }

    fn get_mut_or(&mut self, c: usize, make: impl FnOnce() -> T) -> &mut T {
        let at = match self.0.iter().position(|(i, _)| *i == c) {
            Some(at) => at,
            None => {
                self.0.push((c, make()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }

    fn set(&mut self, c: usize, v: T) {
        match self.0.iter_mut().find(|(i, _)| *i == c) {
            Some((_, old)) => *old = v,
            None => self.0.push((c, v)),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct RowState {
    /// Inserted by this invocation: its columns are its [`Edit::Value`]s,
    /// or their defaults.
    new: bool,
    /// Not deleted.
    live: bool,
    /// The committed values of the columns read so far.
    orig: Sparse<Datum>,
    /// The columns changed ([`Edit::None`] where absent).
    edits: Sparse<Edit>,
    /// Columns whose committed value must still hold at commit.
    verify: BTreeSet<usize>,
}

impl RowState {
    fn committed() -> RowState {
        RowState {
            live: true,
            ..RowState::default()
        }
    }

    fn edit(&self, c: usize) -> &Edit {
        self.edits.get(c).unwrap_or(&Edit::None)
    }

    /// Whether reading column `c` needs its committed value first.
    fn needs(&self, c: usize) -> bool {
        self.needs_orig(c) && !matches!(self.edit(c), Edit::Value(_))
    }

    /// Whether the committed value of column `c` is not read yet.
    fn needs_orig(&self, c: usize) -> bool {
        !self.new && self.live && !self.orig.has(c)
    }

    /// The value now: the caller made sure that `orig` is read if needed.
    fn value(&self, c: usize, ty: &ColumnType) -> Datum {
        let orig = || {
            self.orig
                .get(c)
                .cloned()
                .unwrap_or_else(|| ty.default_datum())
        };
        match self.edit(c) {
            Edit::Value(d) => d.clone(),
            Edit::None => orig(),
            Edit::Delta { insert, delete } => {
                let mut d = orig();
                if let Datum::Set(s) = &mut d {
                    s.retain(|a| !delete.contains(a));
                    s.extend(insert.iter().cloned());
                }
                d
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct TableState {
    rows: HashMap<Uuid, RowState>,
    /// Known rows (read or inserted) in the order first seen.
    order: Vec<Uuid>,
    /// Every committed row as of the scan, in the server's order; `None`
    /// until the table is scanned.
    scan: Option<Vec<Uuid>>,
    /// Rows the server was asked for and does not have.
    absent: HashSet<Uuid>,
}

/// A lookup sent to the server, verified at commit.
#[derive(Debug, Clone)]
struct Lookup {
    table: String,
    where_: Value,
    found: Vec<Uuid>,
}

/// A row this invocation inserts.
#[derive(Debug, Clone)]
struct NewRow {
    table: String,
    /// The user chose the UUID (`create --id=UUID`).
    explicit: bool,
}

/// The transaction that carries the model's changes.
#[derive(Debug, Clone, Default)]
pub struct TxnPlan {
    pub ops: Vec<Value>,
    /// For each insert: its operation's index and the row's placeholder UUID.
    pub inserts: Vec<(usize, Uuid)>,
    /// The number of leading `wait` operations (verifications).
    pub waits: usize,
}

/// The local copy of the database.
pub struct Model<'a> {
    pub schema: &'a DatabaseSchema,
    source: &'a mut dyn Source,
    tables: BTreeMap<String, TableState>,
    new_rows: HashMap<Uuid, NewRow>,
    /// Tables that must still be empty at commit (the invocation inserted
    /// their first row).
    must_be_empty: BTreeSet<String>,
    lookups: Vec<Lookup>,
    /// Lookups by table and `where` clause (as JSON text).
    lookup_index: HashMap<(String, String), usize>,
}

impl fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("tables", &self.tables)
            .field("new_rows", &self.new_rows)
            .field("lookups", &self.lookups)
            .finish_non_exhaustive()
    }
}

/// The rows of one `select` result.
fn result_rows<'v>(r: &'v Value, table: &str) -> Result<&'v [Value]> {
    if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
        return Err(cmd_err(format!(
            "cannot read table {table}: {}",
            describe_error(e, r)
        )));
    }
    r.get("rows")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| cmd_err(format!("the server's reply for table {table} has no rows")))
}

fn uuid_of(row: &Value, table: &str) -> Result<Uuid> {
    row.get("_uuid")
        .and_then(|u| Atom::from_json(u, AtomicType::Uuid, None).ok())
        .and_then(|a| match a {
            Atom::Uuid(u) => Some(u),
            _ => None,
        })
        .ok_or_else(|| cmd_err(format!("a {table} row has no valid _uuid")))
}

fn uuid_where(u: Uuid) -> Value {
    json!([["_uuid", "==", u.to_json()]])
}

impl<'a> Model<'a> {
    /// An empty copy of the database `schema` describes, read through
    /// `source` as needed.
    pub fn new(schema: &'a DatabaseSchema, source: &'a mut dyn Source) -> Model<'a> {
        Model {
            schema,
            source,
            tables: BTreeMap::new(),
            new_rows: HashMap::new(),
            must_be_empty: BTreeSet::new(),
            lookups: Vec::new(),
            lookup_index: HashMap::new(),
        }
    }

    /// The schema of a table the program itself names (`Bridge`, ...).
    pub fn table(&self, name: &str) -> Result<&'a TableSchema> {
        self.schema.tables.get(name).ok_or_else(|| {
            cmd_err(format!(
                "the database schema has no table {name}; is this an Open_vSwitch database?"
            ))
        })
    }

    /// The index of a column the program itself names.
    pub fn col(&self, table: &str, column: &str) -> Result<usize> {
        self.table(table)?.column_index(column).ok_or_else(|| {
            cmd_err(format!(
                "the database schema has no column {table}.{column}; is this an Open_vSwitch database?"
            ))
        })
    }

    fn state(&mut self, table: &str) -> &mut TableState {
        if !self.tables.contains_key(table) {
            self.tables.insert(table.to_string(), TableState::default());
        }
        self.tables.get_mut(table).expect("just inserted")
    }

    fn row_state(&self, table: &str, uuid: Uuid) -> Option<&RowState> {
        self.tables.get(table)?.rows.get(&uuid)
    }

    fn read(&mut self, ops: &[Value]) -> Result<Vec<Value>> {
        let results = self.source.read(&self.schema.name, ops)?;
        if results.len() < ops.len() {
            return Err(cmd_err("the server answered fewer selects than were sent"));
        }
        Ok(results)
    }

    /// A `select` of `cols` (and `_uuid`) of the rows of `ts` that `where_`
    /// picks.
    fn select_op(ts: &TableSchema, where_: Value, cols: &[usize]) -> Value {
        let mut names = vec![json!("_uuid")];
        names.extend(cols.iter().map(|&c| json!(ts.columns[c].name)));
        json!({"op": "select", "table": ts.name, "where": where_, "columns": names})
    }

    /// Takes in one row of a `select` of `cols`: a row not seen before
    /// becomes known; columns not read before get their committed value.
    /// Values already read are kept.
    fn absorb(&mut self, ts: &'a TableSchema, row: &Value, cols: &[usize]) -> Result<Uuid> {
        let uuid = uuid_of(row, &ts.name)?;
        if self.new_rows.contains_key(&uuid) {
            return Ok(uuid);
        }
        let st = self.state(&ts.name);
        st.absent.remove(&uuid);
        let r = match st.rows.entry(uuid) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                st.order.push(uuid);
                v.insert(RowState::committed())
            }
        };
        for &c in cols {
            if r.orig.has(c) {
                continue;
            }
            let col = &ts.columns[c];
            let d = match row.get(&col.name) {
                Some(v) => Datum::from_json(v, &col.ty, None).map_err(|e| {
                    cmd_err(format!(
                        "the server sent a bad value for {}.{}: {}",
                        ts.name, col.name, e.details
                    ))
                })?,
                None => col.ty.default_datum(),
            };
            r.orig.set(c, d);
        }
        Ok(uuid)
    }

    /// Reads every row of `table` with columns `cols`, unless it was
    /// scanned before (then only the columns not read yet).
    pub fn scan(&mut self, table: &str, cols: &[usize]) -> Result<()> {
        let ts = self.table(table)?;
        if self.tables.get(table).is_some_and(|t| t.scan.is_some()) {
            let rows = self.tables[table].scan.clone().unwrap_or_default();
            return self.prefetch(table, &rows, cols);
        }
        let r = self.read(&[Model::select_op(ts, json!([]), cols)])?;
        let mut scanned = Vec::new();
        for row in result_rows(&r[0], table)? {
            scanned.push(self.absorb(ts, row, cols)?);
        }
        self.state(table).scan = Some(scanned);
        Ok(())
    }

    /// The live rows of `table`: every committed row (read with one scan
    /// the first time) and the rows this invocation inserted, in order.
    pub fn rows(&mut self, table: &str) -> Result<Vec<Uuid>> {
        if self.tables.get(table).is_none_or(|t| t.scan.is_none()) {
            self.scan(table, &[])?;
        }
        let st = &self.tables[table];
        let live = |u: &&Uuid| st.rows.get(u).is_some_and(|r| r.live);
        let mut out: Vec<Uuid> = st.scan.iter().flatten().filter(live).copied().collect();
        out.extend(
            st.order
                .iter()
                .filter(|u| st.rows.get(u).is_some_and(|r| r.new))
                .filter(live),
        );
        Ok(out)
    }

    /// Reads columns `cols` of those of `uuids` that are rows of `table`
    /// not read yet, in one transaction.
    pub fn prefetch(&mut self, table: &str, uuids: &[Uuid], cols: &[usize]) -> Result<()> {
        self.load(table, uuids, cols, RowState::needs)
    }

    /// Reads columns `cols` of the rows among `uuids` for which `needs`
    /// says so (and of rows not seen yet).
    fn load(
        &mut self,
        table: &str,
        uuids: &[Uuid],
        cols: &[usize],
        needs: fn(&RowState, usize) -> bool,
    ) -> Result<()> {
        let ts = self.table(table)?;
        let st = self.tables.get(table);
        let scanned = st.is_some_and(|t| t.scan.is_some());
        let mut missing: Vec<Uuid> = Vec::new();
        for &u in uuids {
            if self.new_rows.contains_key(&u) {
                continue;
            }
            let need = match st.and_then(|t| t.rows.get(&u)) {
                Some(r) => cols.iter().any(|&c| needs(r, c)),
                None => !scanned && !st.is_some_and(|t| t.absent.contains(&u)),
            };
            if need {
                missing.push(u);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        if missing.len() > PER_ROW_LIMIT {
            let r = self.read(&[Model::select_op(ts, json!([]), cols)])?;
            let mut all = Vec::new();
            for row in result_rows(&r[0], table)? {
                all.push(self.absorb(ts, row, cols)?);
            }
            let st = self.state(table);
            if st.scan.is_none() {
                st.scan = Some(all);
            }
        } else {
            let ops: Vec<Value> = missing
                .iter()
                .map(|&u| Model::select_op(ts, uuid_where(u), cols))
                .collect();
            let results = self.read(&ops)?;
            for r in &results[..ops.len()] {
                for row in result_rows(r, table)? {
                    self.absorb(ts, row, cols)?;
                }
            }
        }
        let st = self.state(table);
        for u in missing {
            match st.rows.get(&u) {
                None => {
                    st.absent.insert(u);
                }
                Some(r) if cols.iter().any(|&c| needs(r, c)) => {
                    // Known, yet gone now: another client deleted it.
                    return Err(VsctlError::Changed);
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Sends a lookup (once per invocation) and records it for verification.
    fn lookup(&mut self, ts: &'a TableSchema, where_: Value, cols: &[usize]) -> Result<Vec<Uuid>> {
        let key = (ts.name.clone(), where_.to_string());
        if let Some(&i) = self.lookup_index.get(&key) {
            let found = self.lookups[i].found.clone();
            self.prefetch(&ts.name, &found, cols)?;
            return Ok(found);
        }
        let r = self.read(&[Model::select_op(ts, where_.clone(), cols)])?;
        let mut found = Vec::new();
        for row in result_rows(&r[0], &ts.name)? {
            found.push(self.absorb(ts, row, cols)?);
        }
        self.lookup_index.insert(key, self.lookups.len());
        self.lookups.push(Lookup {
            table: ts.name.clone(),
            where_,
            found: found.clone(),
        });
        Ok(found)
    }

    /// Whether `a` is a row this invocation inserted (which the server
    /// cannot know).
    fn is_new_atom(&self, a: &Atom) -> bool {
        matches!(a, Atom::Uuid(u) if self.new_rows.contains_key(u))
    }

    /// The live rows of `table` whose column `col` passes `test`, as the
    /// commands so far left them: the server's answer to the lookup,
    /// adjusted for the rows this invocation inserted, changed or deleted.
    pub fn find(&mut self, table: &str, col: usize, test: &Test) -> Result<Vec<Uuid>> {
        let ts = self.table(table)?;
        let local_only = match test {
            Test::Eq(d) => d
                .atoms()
                .any(|(k, v)| self.is_new_atom(k) || v.is_some_and(|v| self.is_new_atom(v))),
            Test::Includes(a) => self.is_new_atom(a),
        };
        let found = if local_only {
            Vec::new()
        } else {
            let value = match test {
                Test::Eq(d) => d.to_json(),
                Test::Includes(a) => a.to_json(),
            };
            // Only the UUIDs: an equality says the value, and the set an
            // element was looked for in may be large (a bridge's ports).
            let name = &ts.columns[col].name;
            let found = self.lookup(ts, json!([[name, test.function(), value]]), &[])?;
            if let Test::Eq(d) = test {
                if let Some(st) = self.tables.get_mut(table) {
                    for u in &found {
                        if let Some(r) = st.rows.get_mut(u) {
                            if !r.new && !r.orig.has(col) {
                                r.orig.set(col, d.clone());
                            }
                        }
                    }
                }
            }
            found
        };
        let found_set: HashSet<Uuid> = found.iter().copied().collect();
        let mut candidates = found.clone();
        if let Some(st) = self.tables.get(table) {
            candidates.extend(st.order.iter().filter(|u| {
                !found_set.contains(u)
                    && st
                        .rows
                        .get(u)
                        .is_some_and(|r| r.new || !matches!(r.edit(col), Edit::None))
            }));
        }
        let mut out = Vec::new();
        for u in candidates {
            let Some(r) = self.row_state(table, u) else {
                continue;
            };
            if !r.live {
                continue;
            }
            let on_server = found_set.contains(&u);
            let hit = match (r.edit(col), test) {
                (Edit::None, _) if !r.new => on_server,
                (Edit::Delta { insert, delete }, Test::Includes(a)) => {
                    insert.contains(a) || (on_server && !delete.contains(a))
                }
                _ => {
                    let v = self.get(table, u, col)?;
                    test.holds(&v)
                }
            };
            if hit {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Whether `uuid` is a live row of `table` (asking the server, once,
    /// about a row not seen yet).
    pub fn exists(&mut self, table: &str, uuid: Uuid) -> Result<bool> {
        let ts = self.table(table)?;
        if let Some(r) = self.row_state(table, uuid) {
            return Ok(r.live);
        }
        if self.new_rows.contains_key(&uuid) {
            return Ok(false);
        }
        if let Some(st) = self.tables.get(table) {
            if st.scan.is_some() || st.absent.contains(&uuid) {
                return Ok(false);
            }
        }
        let found = self.lookup(ts, uuid_where(uuid), &[])?;
        if found.is_empty() {
            self.state(table).absent.insert(uuid);
        }
        Ok(!found.is_empty())
    }

    /// One column of a row (the column's default if the row does not
    /// exist or was deleted).
    pub fn get(&mut self, table: &str, uuid: Uuid, col: usize) -> Result<Datum> {
        let ts = self.table(table)?;
        self.prefetch(table, &[uuid], &[col])?;
        let ty = &ts.columns[col].ty;
        Ok(match self.row_state(table, uuid) {
            Some(r) if r.live => r.value(col, ty),
            _ => ty.default_datum(),
        })
    }

    /// A column as the user named it (`_uuid` included).
    pub fn value(&mut self, table: &str, uuid: Uuid, col: &ColumnRef) -> Result<Datum> {
        match col.index {
            None => Ok(Datum::scalar(Atom::Uuid(uuid))),
            Some(i) => self.get(table, uuid, i),
        }
    }

    /// A string scalar column (names, targets), or "" if it is not one.
    pub fn get_str(&mut self, table: &str, uuid: Uuid, col: usize) -> Result<String> {
        Ok(match self.get(table, uuid, col)?.as_scalar() {
            Some(Atom::String(s)) => s.clone(),
            _ => String::new(),
        })
    }

    /// The UUIDs in a reference column.
    pub fn get_uuids(&mut self, table: &str, uuid: Uuid, col: usize) -> Result<Vec<Uuid>> {
        Ok(self
            .get(table, uuid, col)?
            .keys()
            .filter_map(|a| match a {
                Atom::Uuid(u) => Some(*u),
                _ => None,
            })
            .collect())
    }

    /// Sets a column of a live row. The committed value need not have been
    /// read ([`Model::plan`] reads it to leave out changes to the same
    /// value).
    pub fn set(&mut self, table: &str, uuid: Uuid, col: usize, d: Datum) -> Result<()> {
        if let Some(r) = self.live_row_mut(table, uuid)? {
            r.edits.set(col, Edit::Value(d));
        }
        Ok(())
    }

    /// A live row, to change (`None` if there is no such row).
    fn live_row_mut(&mut self, table: &str, uuid: Uuid) -> Result<Option<&mut RowState>> {
        if !self.exists(table, uuid)? {
            return Ok(None);
        }
        Ok(self
            .tables
            .get_mut(table)
            .and_then(|t| t.rows.get_mut(&uuid)))
    }

    /// Adds (`add`) or removes `atom` in the set column `col` of a live row,
    /// without reading the set.
    pub fn edit_set(
        &mut self,
        table: &str,
        uuid: Uuid,
        col: usize,
        atom: Atom,
        add: bool,
    ) -> Result<()> {
        let ty = &self.table(table)?.columns[col].ty;
        let Some(r) = self.live_row_mut(table, uuid)? else {
            return Ok(());
        };
        let e = r.edits.get_mut_or(col, || {
            if r.new {
                Edit::Value(ty.default_datum())
            } else {
                Edit::None
            }
        });
        if matches!(e, Edit::None) {
            *e = Edit::Delta {
                insert: BTreeSet::new(),
                delete: BTreeSet::new(),
            };
        }
        match e {
            Edit::Value(Datum::Set(s)) => {
                if add {
                    s.insert(atom);
                } else {
                    s.remove(&atom);
                }
            }
            Edit::Delta { insert, delete } => {
                if add {
                    delete.remove(&atom);
                    insert.insert(atom);
                } else {
                    insert.remove(&atom);
                    delete.insert(atom);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Records that a change was computed from this column's committed
    /// value, which must still hold at commit.
    pub fn verify(&mut self, table: &str, uuid: Uuid, col: usize) -> Result<()> {
        self.load(table, &[uuid], &[col], RowState::needs_orig)?;
        if let Some(r) = self
            .tables
            .get_mut(table)
            .and_then(|t| t.rows.get_mut(&uuid))
        {
            if !r.new && r.orig.has(col) {
                r.verify.insert(col);
            }
        }
        Ok(())
    }

    /// Whether a row of any table has UUID `uuid` (asking the server).
    fn uuid_taken(&mut self, uuid: Uuid) -> Result<bool> {
        if self.new_rows.contains_key(&uuid)
            || self.tables.values().any(|t| t.rows.contains_key(&uuid))
        {
            return Ok(true);
        }
        let schema = self.schema;
        let ops: Vec<Value> = schema
            .tables
            .values()
            .map(|ts| Model::select_op(ts, uuid_where(uuid), &[]))
            .collect();
        let results = self.read(&ops)?;
        for (ts, r) in schema.tables.values().zip(&results) {
            if !result_rows(r, &ts.name)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Inserts a row with default values. `uuid` is a placeholder the
    /// server replaces, unless `explicit` (the user chose it).
    pub fn insert(&mut self, table: &str, uuid: Uuid, explicit: bool) -> Result<()> {
        self.table(table)?;
        let taken = if explicit {
            self.uuid_taken(uuid)?
        } else {
            self.new_rows.contains_key(&uuid)
                || self.tables.values().any(|t| t.rows.contains_key(&uuid))
        };
        if taken {
            return Err(cmd_err(format!("a row with UUID {uuid} already exists")));
        }
        let st = self.state(table);
        st.order.push(uuid);
        st.rows.insert(
            uuid,
            RowState {
                new: true,
                live: true,
                ..RowState::default()
            },
        );
        self.new_rows.insert(
            uuid,
            NewRow {
                table: table.to_string(),
                explicit,
            },
        );
        Ok(())
    }

    /// Inserts the first row of an empty table, on condition that the
    /// table is still empty at commit.
    pub fn insert_first(&mut self, table: &str) -> Result<Uuid> {
        let u = Uuid::random();
        self.insert(table, u, false)?;
        self.must_be_empty.insert(table.to_string());
        Ok(u)
    }

    /// Deletes a row.
    pub fn delete(&mut self, table: &str, uuid: Uuid) -> Result<()> {
        self.table(table)?;
        let st = self.state(table);
        let r = st.rows.entry(uuid).or_insert_with(|| {
            st.order.push(uuid);
            RowState::committed()
        });
        r.live = false;
        Ok(())
    }

    /// Whether `uuid` is a row this invocation inserted (whose real UUID the
    /// server has not assigned yet).
    pub fn is_new(&self, uuid: Uuid) -> bool {
        self.new_rows.contains_key(&uuid)
    }

    /// The table of a new row.
    pub fn new_row_table(&self, uuid: Uuid) -> Option<&str> {
        self.new_rows.get(&uuid).map(|n| n.table.as_str())
    }

    /// The `uuid-name` of a new row.
    pub fn named_uuid(uuid: Uuid) -> String {
        format!("row{}", uuid.to_string().replace('-', "_"))
    }

    fn atom_json(&self, a: &Atom) -> Value {
        match a {
            Atom::Uuid(u) if self.new_rows.get(u).is_some_and(|n| !n.explicit) => {
                json!(["named-uuid", Model::named_uuid(*u)])
            }
            other => other.to_json(),
        }
    }

    /// A value as JSON, with new rows as `named-uuid`s.
    pub fn datum_json(&self, d: &Datum) -> Value {
        match d {
            Datum::Set(s) if s.len() == 1 => s.iter().next().map(|a| self.atom_json(a)).unwrap(),
            Datum::Set(s) => json!([
                "set",
                s.iter().map(|a| self.atom_json(a)).collect::<Vec<_>>()
            ]),
            Datum::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([self.atom_json(k), self.atom_json(v)]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    fn set_json(&self, atoms: &BTreeSet<Atom>) -> Value {
        json!([
            "set",
            atoms.iter().map(|a| self.atom_json(a)).collect::<Vec<_>>()
        ])
    }

    /// Reads, in one transaction, the committed values of the columns that
    /// commands set without reading, so that setting a column to the value
    /// it has is no change.
    fn read_overwritten(&mut self) -> Result<()> {
        let mut want: Vec<(&'a TableSchema, Uuid, Vec<usize>)> = Vec::new();
        for (tname, st) in &self.tables {
            let Some(ts) = self.schema.tables.get(tname) else {
                continue;
            };
            for u in &st.order {
                let r = &st.rows[u];
                if r.new || !r.live {
                    continue;
                }
                let cols: Vec<usize> = (0..ts.columns.len())
                    .filter(|&c| matches!(r.edit(c), Edit::Value(_)) && !r.orig.has(c))
                    .collect();
                if !cols.is_empty() {
                    want.push((ts, *u, cols));
                }
            }
        }
        if want.is_empty() {
            return Ok(());
        }
        let ops: Vec<Value> = want
            .iter()
            .map(|(ts, u, cols)| Model::select_op(ts, uuid_where(*u), cols))
            .collect();
        let results = self.read(&ops)?;
        for ((ts, _, cols), r) in want.iter().zip(&results) {
            for row in result_rows(r, &ts.name)? {
                self.absorb(ts, row, cols)?;
            }
        }
        Ok(())
    }

    /// The transaction for the changes so far (empty if nothing changed).
    pub fn plan(&mut self) -> Result<TxnPlan> {
        self.read_overwritten()?;
        let mut waits = Vec::new();
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let mut deletes = Vec::new();
        let mut insert_uuids = Vec::new();
        for t in &self.must_be_empty {
            waits.push(json!({"op": "wait", "table": t, "timeout": 0, "where": [],
                              "until": "==", "rows": []}));
        }
        for l in &self.lookups {
            let rows: Vec<Value> = l
                .found
                .iter()
                .map(|u| json!({"_uuid": u.to_json()}))
                .collect();
            waits.push(json!({"op": "wait", "table": l.table, "timeout": 0,
                              "where": l.where_, "columns": ["_uuid"],
                              "until": "==", "rows": rows}));
        }
        for (tname, st) in &self.tables {
            let Some(ts) = self.schema.tables.get(tname) else {
                continue;
            };
            for u in &st.order {
                let r = &st.rows[u];
                let where_ = uuid_where(*u);
                if r.new {
                    if !r.live {
                        continue;
                    }
                    let mut row = Map::new();
                    for (i, c) in ts.columns.iter().enumerate() {
                        if let Edit::Value(d) = r.edit(i) {
                            if !c.ty.is_default(d) {
                                row.insert(c.name.clone(), self.datum_json(d));
                            }
                        }
                    }
                    let mut op = json!({"op": "insert", "table": tname, "row": row});
                    if self.new_rows.get(u).is_some_and(|n| n.explicit) {
                        op["uuid"] = json!(u.to_string());
                    } else {
                        op["uuid-name"] = json!(Model::named_uuid(*u));
                    }
                    inserts.push(op);
                    insert_uuids.push(*u);
                    continue;
                }
                if !r.verify.is_empty() {
                    let cols: Vec<&str> = r
                        .verify
                        .iter()
                        .map(|&i| ts.columns[i].name.as_str())
                        .collect();
                    let mut row = Map::new();
                    for &i in &r.verify {
                        if let Some(d) = r.orig.get(i) {
                            row.insert(ts.columns[i].name.clone(), d.to_json());
                        }
                    }
                    waits.push(json!({"op": "wait", "table": tname, "timeout": 0,
                                      "where": where_, "columns": cols,
                                      "until": "==", "rows": [row]}));
                }
                if !r.live {
                    if ts.is_root {
                        deletes.push(json!({"op": "delete", "table": tname, "where": where_}));
                    }
                    continue;
                }
                let mut row = Map::new();
                let mut mutations = Vec::new();
                for (i, c) in ts.columns.iter().enumerate() {
                    match r.edit(i) {
                        Edit::None => {}
                        Edit::Value(d) => {
                            if r.orig.get(i) != Some(d) {
                                row.insert(c.name.clone(), self.datum_json(d));
                            }
                        }
                        Edit::Delta { insert, delete } => {
                            if !delete.is_empty() {
                                mutations.push(json!([c.name, "delete", self.set_json(delete)]));
                            }
                            if !insert.is_empty() {
                                mutations.push(json!([c.name, "insert", self.set_json(insert)]));
                            }
                        }
                    }
                }
                if !row.is_empty() {
                    updates.push(json!({"op": "update", "table": tname,
                                        "where": where_, "row": row}));
                }
                if !mutations.is_empty() {
                    updates.push(json!({"op": "mutate", "table": tname,
                                        "where": where_, "mutations": mutations}));
                }
            }
        }
        if inserts.is_empty() && updates.is_empty() && deletes.is_empty() {
            return Ok(TxnPlan::default());
        }
        let n_waits = waits.len();
        let first_insert = n_waits;
        let mut ops = waits;
        ops.extend(inserts);
        ops.extend(updates);
        ops.extend(deletes);
        Ok(TxnPlan {
            inserts: insert_uuids
                .into_iter()
                .enumerate()
                .map(|(i, u)| (first_insert + i, u))
                .collect(),
            ops,
            waits: n_waits,
        })
    }
}

/// An RFC 7047 error object as a sentence.
pub fn describe_error(e: &Value, whole: &Value) -> String {
    let name = e
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| e.to_string());
    match whole.get("details").and_then(Value::as_str) {
        Some(d) => format!("{name}: {d}"),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_ovsdb::server::vswitch_schema;
    use rvs_ovsdb::txn::{execute, NoLocks, Outcome};
    use rvs_ovsdb::Database;
    use std::sync::Arc;

    /// A database in memory, counting what the model reads from it.
    struct MemDb {
        db: Database,
        /// Every operation read, and the rows all of them returned.
        ops: Vec<Value>,
        rows: usize,
    }

    impl MemDb {
        fn new() -> MemDb {
            MemDb {
                db: Database::new(Arc::new(vswitch_schema())),
                ops: Vec::new(),
                rows: 0,
            }
        }

        /// Runs a transaction; commits it if it succeeds.
        fn transact(&mut self, ops: &[Value]) -> Vec<Value> {
            match execute(&self.db, ops, &NoLocks, 0) {
                Outcome::Done { results, commit } => {
                    if let Some(c) = commit {
                        self.db.apply(&c);
                    }
                    results
                }
                Outcome::Blocked { .. } => panic!("a wait with timeout 0 blocked"),
            }
        }

        fn commit(&mut self, plan: &TxnPlan) {
            let r = self.transact(&plan.ops);
            assert!(
                r.iter().all(|r| r.get("error").is_none()),
                "{r:?} for {:?}",
                plan.ops
            );
        }

        /// `br0` with ports `p0`..`p{n-1}`, each with its interface.
        fn with_ports(n: usize) -> MemDb {
            let mut m = MemDb::new();
            let mut ops = vec![
                json!({"op": "insert", "table": "Open_vSwitch", "row": {"bridges": ["named-uuid", "br"]}}),
                json!({"op": "insert", "table": "Bridge", "uuid-name": "br",
                       "row": {"name": "br0", "ports": ["set", (0..n).map(|i| json!(["named-uuid", format!("p{i}")])).collect::<Vec<_>>()]}}),
            ];
            for i in 0..n {
                ops.push(
                    json!({"op": "insert", "table": "Interface", "uuid-name": format!("i{i}"),
                                "row": {"name": format!("p{i}")}}),
                );
                ops.push(json!({"op": "insert", "table": "Port", "uuid-name": format!("p{i}"),
                                "row": {"name": format!("p{i}"), "interfaces": ["named-uuid", format!("i{i}")]}}));
            }
            let r = m.transact(&ops);
            assert!(r.iter().all(|r| r.get("error").is_none()), "{r:?}");
            m
        }

        fn uuid_of(&mut self, table: &str, name: &str) -> Uuid {
            let r = self.transact(&[json!({"op": "select", "table": table,
                                           "where": [["name", "==", name]]})]);
            Uuid::parse(r[0]["rows"][0]["_uuid"][1].as_str().unwrap()).unwrap()
        }

        fn count(&mut self, table: &str) -> usize {
            let r = self.transact(&[json!({"op": "select", "table": table, "where": []})]);
            r[0]["rows"].as_array().unwrap().len()
        }
    }

    impl Source for MemDb {
        fn read(&mut self, _db: &str, ops: &[Value]) -> Result<Vec<Value>> {
            self.ops.extend(ops.iter().cloned());
            let r = self.transact(ops);
            self.rows += r
                .iter()
                .filter_map(|r| r["rows"].as_array())
                .map(Vec::len)
                .sum::<usize>();
            Ok(r)
        }
    }

    fn string(s: &str) -> Datum {
        Datum::scalar(Atom::String(s.into()))
    }

    #[test]
    fn names_match_loosely() {
        let s = vswitch_schema();
        assert_eq!(find_table(&s, "bridge").unwrap().name, "Bridge");
        assert_eq!(find_table(&s, "open-vswitch").unwrap().name, "Open_vSwitch");
        assert_eq!(find_table(&s, "net").unwrap().name, "NetFlow");
        assert_eq!(find_table(&s, "qos").unwrap().name, "QoS");
        assert!(find_table(&s, "Nope")
            .unwrap_err()
            .to_string()
            .contains("unknown table \"Nope\""));
        assert!(find_table(&s, "f")
            .unwrap_err()
            .to_string()
            .contains("multiple table names"));
        let port = find_table(&s, "Port").unwrap();
        assert_eq!(
            find_column(port, "external-ids").unwrap().name,
            "external_ids"
        );
        assert_eq!(find_column(port, "trunk").unwrap().name, "trunks");
        assert_eq!(
            find_column(port, "EXTERNAL_IDS").unwrap().name,
            "external_ids"
        );
        assert!(find_column(port, "_uuid").unwrap().index.is_none());
        let e = find_column(port, "t").unwrap_err().to_string();
        assert!(
            e.contains("more than one column") && e.contains("tag, trunks"),
            "{e}"
        );
        let e = find_column(port, "nocol").unwrap_err().to_string();
        assert!(
            e.contains("Port does not contain a column whose name matches \"nocol\""),
            "{e}"
        );
    }

    #[test]
    fn plan_inserts_updates_and_verifies() {
        let schema = vswitch_schema();
        let mut db = MemDb::new();
        let mut m = Model::new(&schema, &mut db);
        assert!(m.rows("Open_vSwitch").unwrap().is_empty());
        assert!(m.plan().unwrap().ops.is_empty());
        let ovs = m.insert_first("Open_vSwitch").unwrap();
        let br = Uuid::random();
        m.insert("Bridge", br, false).unwrap();
        let name = m.col("Bridge", "name").unwrap();
        m.set("Bridge", br, name, string("br0")).unwrap();
        let bridges = m.col("Open_vSwitch", "bridges").unwrap();
        m.edit_set("Open_vSwitch", ovs, bridges, Atom::Uuid(br), true)
            .unwrap();
        let plan = m.plan().unwrap();
        assert_eq!(plan.waits, 1);
        assert_eq!(plan.ops[0]["op"], "wait");
        assert_eq!(plan.ops[0]["rows"], json!([]));
        assert_eq!(plan.inserts.len(), 2);
        let ovs_insert = plan
            .ops
            .iter()
            .find(|o| o["table"] == "Open_vSwitch" && o["op"] == "insert")
            .unwrap();
        assert_eq!(
            ovs_insert["row"]["bridges"],
            json!(["named-uuid", Model::named_uuid(br)])
        );
        drop(m);
        db.commit(&plan);
        assert_eq!(db.count("Bridge"), 1);
    }

    #[test]
    fn plan_for_existing_rows() {
        let schema = vswitch_schema();
        let mut db = MemDb::new();
        db.transact(&[json!({"op": "insert", "table": "QoS",
                             "row": {"type": "x", "other_config": ["map", [["a", "1"]]]}})]);
        let mut m = Model::new(&schema, &mut db);
        let rows = m.rows("QoS").unwrap();
        assert_eq!(rows.len(), 1);
        let u = rows[0];
        let oc = m.col("QoS", "other_config").unwrap();
        assert_eq!(m.get("QoS", u, oc).unwrap().len(), 1);
        m.verify("QoS", u, oc).unwrap();
        m.set("QoS", u, oc, Datum::Map(BTreeMap::new())).unwrap();
        // Setting a column to the value it has is no change (the plan
        // reads the value).
        let ty = m.col("QoS", "type").unwrap();
        m.set("QoS", u, ty, string("x")).unwrap();
        let plan = m.plan().unwrap();
        assert_eq!(plan.waits, 1);
        assert_eq!(
            plan.ops[0]["rows"],
            json!([{"other_config": ["map", [["a", "1"]]]}])
        );
        assert_eq!(plan.ops[1]["op"], "update");
        assert_eq!(plan.ops[1]["row"], json!({"other_config": ["map", []]}));
        assert_eq!(plan.ops.len(), 2);
        m.delete("QoS", u).unwrap();
        assert!(m.rows("QoS").unwrap().is_empty());
        let plan = m.plan().unwrap();
        assert_eq!(plan.ops.last().unwrap()["op"], "delete");
        drop(m);
        db.commit(&plan);
        assert_eq!(db.count("QoS"), 0);
    }

    #[test]
    fn lookups_read_the_matching_rows_and_see_local_changes() {
        let schema = vswitch_schema();
        let mut db = MemDb::with_ports(100);
        let mut m = Model::new(&schema, &mut db);
        let name = m.col("Port", "name").unwrap();
        let p5 = m.find("Port", name, &Test::Eq(string("p5"))).unwrap();
        assert_eq!(p5.len(), 1);
        assert!(m
            .find("Port", name, &Test::Eq(string("x")))
            .unwrap()
            .is_empty());
        // A row changed here is found by its new value only.
        let tag = m.col("Port", "tag").unwrap();
        let seven = Datum::scalar(Atom::Integer(7));
        assert!(m
            .find("Port", tag, &Test::Eq(seven.clone()))
            .unwrap()
            .is_empty());
        m.set("Port", p5[0], tag, seven.clone()).unwrap();
        assert_eq!(m.find("Port", tag, &Test::Eq(seven.clone())).unwrap(), p5);
        let untagged = m.find("Port", tag, &Test::Eq(Datum::Set(BTreeSet::new())));
        assert!(!untagged.unwrap().contains(&p5[0]));
        // A new row is found; a deleted one is not.
        let new = Uuid::random();
        m.insert("Port", new, false).unwrap();
        m.set("Port", new, name, string("x")).unwrap();
        assert_eq!(m.find("Port", name, &Test::Eq(string("x"))).unwrap(), [new]);
        let iface = Uuid::random();
        m.insert("Interface", iface, false).unwrap();
        let iname = m.col("Interface", "name").unwrap();
        m.set("Interface", iface, iname, string("x")).unwrap();
        let ifaces = m.col("Port", "interfaces").unwrap();
        m.set("Port", new, ifaces, Datum::scalar(Atom::Uuid(iface)))
            .unwrap();
        let p6 = m.find("Port", name, &Test::Eq(string("p6"))).unwrap();
        m.delete("Port", p6[0]).unwrap();
        assert!(m
            .find("Port", name, &Test::Eq(string("p6")))
            .unwrap()
            .is_empty());
        // The bridge whose ports include a port, before and after the
        // reference is removed and another added, without reading ports.
        let ports = m.col("Bridge", "ports").unwrap();
        let br = m
            .find("Bridge", ports, &Test::Includes(Atom::Uuid(p6[0])))
            .unwrap();
        assert_eq!(br.len(), 1);
        m.edit_set("Bridge", br[0], ports, Atom::Uuid(p6[0]), false)
            .unwrap();
        m.edit_set("Bridge", br[0], ports, Atom::Uuid(new), true)
            .unwrap();
        assert!(m
            .find("Bridge", ports, &Test::Includes(Atom::Uuid(p6[0])))
            .unwrap()
            .is_empty());
        assert_eq!(
            m.find("Bridge", ports, &Test::Includes(Atom::Uuid(new)))
                .unwrap(),
            br
        );
        let plan = m.plan().unwrap();
        drop(m);
        // Only the looked-up rows were read, never a whole table (but
        // for the lookup of the 99 untagged ports).
        assert!(db.rows <= 6 + 99, "read {} rows", db.rows);
        assert!(
            db.ops
                .iter()
                .all(|o| o["where"] != json!([]) && o["columns"].as_array().unwrap().len() <= 2),
            "{:?}",
            db.ops
        );
        // Each lookup is verified by a wait on its where clause (for no
        // rows where it found none); the ports change is a mutation.
        let waits: Vec<&Value> = plan.ops.iter().filter(|o| o["op"] == "wait").collect();
        assert!(
            waits.contains(&&json!({"op": "wait", "table": "Port", "timeout": 0,
                   "where": [["name", "==", "x"]], "columns": ["_uuid"],
                   "until": "==", "rows": []}))
        );
        assert!(waits
            .iter()
            .any(|w| w["where"] == json!([["name", "==", "p5"]])
                && w["rows"] == json!([{"_uuid": p5[0].to_json()}])));
        let mutate = plan.ops.iter().find(|o| o["op"] == "mutate").unwrap();
        assert_eq!(
            mutate["mutations"],
            json!([
                ["ports", "delete", ["set", [p6[0].to_json()]]],
                [
                    "ports",
                    "insert",
                    ["set", [["named-uuid", Model::named_uuid(new)]]]
                ]
            ])
        );
        assert!(plan
            .ops
            .iter()
            .all(|o| o["op"] != "update" || o["table"] != "Bridge"));
        db.commit(&plan);
        assert_eq!(db.count("Port"), 100);
        db.uuid_of("Port", "x");
        let r = db.transact(&[json!({"op": "select", "table": "Port",
                                     "where": [["tag", "==", 7]], "columns": ["name"]})]);
        assert_eq!(r[0]["rows"], json!([{"name": "p5"}]));
    }

    #[test]
    fn a_lookup_wait_fails_when_the_name_is_taken_meanwhile() {
        let schema = vswitch_schema();
        let mut db = MemDb::with_ports(3);
        let mut m = Model::new(&schema, &mut db);
        let name = m.col("Port", "name").unwrap();
        assert!(m
            .find("Port", name, &Test::Eq(string("new")))
            .unwrap()
            .is_empty());
        let p = Uuid::random();
        m.insert("Port", p, false).unwrap();
        m.set("Port", p, name, string("new")).unwrap();
        let plan = m.plan().unwrap();
        drop(m);
        // Another client adds a port of that name meanwhile.
        let r = db.transact(&[
            json!({"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "new"}}),
            json!({"op": "insert", "table": "Port", "uuid-name": "p",
                   "row": {"name": "new", "interfaces": ["named-uuid", "i"]}}),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
                   "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]}),
        ]);
        assert!(r.iter().all(|r| r.get("error").is_none()), "{r:?}");
        let r = db.transact(&plan.ops);
        assert_eq!(r[0]["error"], "timed out", "{r:?}");
    }

    #[test]
    fn columns_of_many_rows_are_read_in_one_go() {
        let schema = vswitch_schema();
        let mut db = MemDb::with_ports(100);
        let mut m = Model::new(&schema, &mut db);
        let ports = m.col("Bridge", "ports").unwrap();
        let name = m.col("Port", "name").unwrap();
        let bname = m.col("Bridge", "name").unwrap();
        let br = m.find("Bridge", bname, &Test::Eq(string("br0"))).unwrap()[0];
        let listed = m.get_uuids("Bridge", br, ports).unwrap();
        m.prefetch("Port", &listed[..10], &[name]).unwrap();
        m.prefetch("Port", &listed, &[name]).unwrap();
        let mut names = BTreeSet::new();
        for p in &listed {
            names.insert(m.get_str("Port", *p, name).unwrap());
        }
        // Asking again reads nothing.
        m.prefetch("Port", &listed, &[name]).unwrap();
        assert!(m.exists("Port", listed[0]).unwrap());
        assert!(!m.exists("Port", Uuid::random()).unwrap());
        drop(m);
        assert_eq!(names.len(), 100);
        // The lookup, the bridge's ports, 10 rows one by one, the table
        // once; nothing more.
        let selects: Vec<&Value> = db.ops.iter().filter(|o| o["op"] == "select").collect();
        assert_eq!(selects.len(), 1 + 1 + 10 + 1, "{selects:?}");
        assert_eq!(
            selects.iter().filter(|o| o["where"] == json!([])).count(),
            1
        );
    }
}
