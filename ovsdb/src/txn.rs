//! Transactions: the `transact` method's operations (RFC 7047 section 5.2),
//! all-or-nothing.
//!
//! [`execute`] runs the operations against a read-only [`Database`] in an
//! overlay of changed rows, then checks what only a whole transaction can
//! break: references (a strong reference must land on a row; deleting a row
//! still referred to fails; weak references to deleted rows are dropped),
//! garbage collection (rows of non-root tables that nothing refers to any
//! more are deleted), index uniqueness and `maxRows`. The outcome is the
//! per-operation results and, if everything held and something changed, a
//! [`Commit`] for the caller to log and apply.

use crate::condition::{col_value, lookup_col, parse_conditions, Col, Cond};
use crate::db::{ref_changes, Commit, Database, Row, RowChange};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::TableSchema;
use crate::types::{Atom, AtomicType, ColumnType, Datum, NamedUuids, RefType, Uuid};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What a transaction may ask of the session that sent it.
pub trait Session {
    /// Whether the session holds the named lock (for `assert`).
    fn owns_lock(&self, name: &str) -> bool;
}

/// A session that holds no locks.
#[derive(Debug, Default)]
pub struct NoLocks;

impl Session for NoLocks {
    fn owns_lock(&self, _name: &str) -> bool {
        false
    }
}

/// How a transaction ended.
#[derive(Debug)]
pub enum Outcome {
    /// Done: one result per operation (plus one commit error, if the
    /// operations succeeded but the whole could not be committed), and the
    /// commit to log and apply when it succeeded and changed something.
    Done {
        results: Vec<Value>,
        commit: Option<Commit>,
    },
    /// A `wait` is not satisfied yet: run the transaction again after the
    /// next commit, or at `deadline_ms` (milliseconds since the transaction
    /// arrived), when it will time out. `None`: no time limit.
    Blocked { deadline_ms: Option<u64> },
}

struct Symbol {
    uuid: Uuid,
    inserted: bool,
}

struct Symbols(RefCell<HashMap<String, Symbol>>);

impl NamedUuids for Symbols {
    fn resolve(&self, name: &str) -> Result<Uuid> {
        let mut m = self.0.borrow_mut();
        Ok(m.entry(name.to_string())
            .or_insert_with(|| Symbol {
                uuid: Uuid::random(),
                inserted: false,
            })
            .uuid)
    }
}

struct Txn<'a> {
    db: &'a Database,
    /// Rows changed so far: `None` = deleted.
    changes: HashMap<(usize, Uuid), Option<Row>>,
    /// Changed rows in first-change order.
    order: Vec<(usize, Uuid)>,
    /// Rows inserted by this transaction, per table.
    inserted: Vec<Vec<Uuid>>,
    symbols: Symbols,
    comment: Option<String>,
    session: &'a dyn Session,
    elapsed_ms: u64,
    blocked: Option<Option<u64>>,
}

fn obj(op: &Value) -> Result<&Map<String, Value>> {
    op.as_object()
        .ok_or_else(|| Error::syntax(format!("operation {op} is not a JSON object")))
}

fn str_member<'v>(o: &'v Map<String, Value>, k: &str) -> Result<&'v str> {
    o.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::syntax(format!("operation lacks a string \"{k}\" member")))
}

impl<'a> Txn<'a> {
    fn row(&self, t: usize, u: &Uuid) -> Option<&Row> {
        match self.changes.get(&(t, *u)) {
            Some(c) => c.as_ref(),
            None => self.db.row(t, u),
        }
    }

    fn set_row(&mut self, t: usize, u: Uuid, row: Option<Row>) {
        if self.changes.insert((t, u), row).is_none() {
            self.order.push((t, u));
        }
    }

    fn table(&self, o: &Map<String, Value>) -> Result<(usize, &'a TableSchema)> {
        let name = str_member(o, "table")?;
        let t = self.db.table_index(name)?;
        Ok((t, self.db.table_schema(t)))
    }

    fn parse_where(&self, ts: &TableSchema, o: &Map<String, Value>) -> Result<Vec<Cond>> {
        let w = o
            .get("where")
            .ok_or_else(|| Error::syntax("operation lacks a \"where\" array"))?;
        parse_conditions(ts, w, Some(&self.symbols), false)
    }

    /// Rows of table `t` matching `conds`, in the transaction's view.
    fn matching(&self, t: usize, conds: &[Cond]) -> Vec<Uuid> {
        // `_uuid == X` names one row: no need to scan.
        for c in conds {
            if let Some(u) = c.uuid_eq() {
                return match self.row(t, &u) {
                    Some(r) if conds.iter().all(|c| c.holds(r)) => vec![u],
                    _ => Vec::new(),
                };
            }
        }
        // `column == value` on a column with a unique index of its own: look
        // the committed row up, then check this transaction's own rows.
        let ts = self.db.table_schema(t);
        for c in conds {
            let Some((col, value)) = c.eq_column() else {
                continue;
            };
            let Some(ix) = ts.indexes.iter().position(|ix| ix.as_slice() == [col]) else {
                continue;
            };
            let mut out = Vec::new();
            if let Some(u) = self.db.index_lookup(t, ix, std::slice::from_ref(value)) {
                if !self.changes.contains_key(&(t, u)) {
                    if let Some(r) = self.db.row(t, &u) {
                        if conds.iter().all(|c| c.holds(r)) {
                            out.push(u);
                        }
                    }
                }
            }
            for (tt, u) in &self.order {
                if *tt == t {
                    if let Some(Some(r)) = self.changes.get(&(t, *u)) {
                        if conds.iter().all(|c| c.holds(r)) {
                            out.push(*u);
                        }
                    }
                }
            }
            out.sort();
            out.dedup();
            return out;
        }
        let mut out: Vec<Uuid> = self
            .db
            .rows(t)
            .filter(|r| !self.changes.contains_key(&(t, r.uuid)))
            .filter(|r| conds.iter().all(|c| c.holds(r)))
            .map(|r| r.uuid)
            .collect();
        for (tt, u) in &self.order {
            if *tt != t {
                continue;
            }
            if let Some(Some(r)) = self.changes.get(&(t, *u)) {
                if conds.iter().all(|c| c.holds(r)) {
                    out.push(*u);
                }
            }
        }
        out.sort();
        out
    }

    fn parse_row(
        &self,
        ts: &TableSchema,
        v: &Value,
        updating: bool,
    ) -> Result<Vec<(usize, Datum)>> {
        let o = v
            .as_object()
            .ok_or_else(|| Error::syntax(format!("row {v} is not a JSON object")))?;
        let mut out = Vec::new();
        for (name, val) in o {
            if name == "_uuid" || name == "_version" {
                return Err(Error::constraint(format!("{name} cannot be written")));
            }
            let (i, c) = ts.column(name)?;
            if updating && !c.mutable {
                return Err(Error::constraint(format!(
                    "column {}.{name} cannot be changed after the row is inserted",
                    ts.name
                )));
            }
            let d = Datum::from_json(val, &c.ty, Some(&self.symbols))?;
            d.check(&c.ty)
                .map_err(|e| Error::constraint(format!("{}.{name}: {}", ts.name, e.details)))?;
            out.push((i, d));
        }
        Ok(out)
    }

    fn op(&mut self, op: &Value) -> Result<Value> {
        let o = obj(op)?;
        match str_member(o, "op")? {
            "insert" => self.insert(o),
            "select" => self.select(o),
            "update" => self.update(o),
            "mutate" => self.mutate(o),
            "delete" => self.delete(o),
            "wait" => self.wait(o),
            "commit" => {
                o.get("durable")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| Error::syntax("commit lacks a boolean \"durable\""))?;
                // Every commit is durable here.
                Ok(json!({}))
            }
            "abort" => Err(Error::new(
                ErrorKind::Aborted,
                "the transaction asked to abort",
            )),
            "comment" => {
                let c = str_member(o, "comment")?;
                self.comment = Some(match self.comment.take() {
                    Some(prev) => format!("{prev}\n{c}"),
                    None => c.to_string(),
                });
                Ok(json!({}))
            }
            "assert" => {
                let lock = str_member(o, "lock")?;
                if self.session.owns_lock(lock) {
                    Ok(json!({}))
                } else {
                    Err(Error::new(
                        ErrorKind::NotOwner,
                        format!("this session does not hold lock {lock:?}"),
                    ))
                }
            }
            other => Err(Error::syntax(format!("unknown operation {other:?}"))),
        }
    }

    fn insert(&mut self, o: &Map<String, Value>) -> Result<Value> {
        let (t, ts) = self.table(o)?;
        let uuid = match o.get("uuid-name") {
            Some(n) => {
                let name = n
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| Error::syntax("uuid-name must be a non-empty string"))?;
                let mut syms = self.symbols.0.borrow_mut();
                let s = syms.entry(name.to_string()).or_insert_with(|| Symbol {
                    uuid: Uuid::random(),
                    inserted: false,
                });
                if s.inserted {
                    return Err(Error::new(
                        ErrorKind::DuplicateUuidName,
                        format!("uuid-name {name:?} names two inserts"),
                    ));
                }
                s.inserted = true;
                s.uuid
            }
            None => match o.get("uuid") {
                // Open vSwitch's extension: the client picks the UUID.
                Some(v) => match v.as_str().and_then(Uuid::parse) {
                    Some(u) => u,
                    None => return Err(Error::syntax(format!("\"uuid\" {v} is not a UUID"))),
                },
                None => Uuid::random(),
            },
        };
        if self.row(t, &uuid).is_some()
            || self.db.tables.iter().any(|td| td.rows.contains_key(&uuid))
        {
            return Err(Error::new(
                ErrorKind::DuplicateUuidName,
                format!("a row with UUID {uuid} already exists"),
            ));
        }
        let mut cols: Vec<Datum> = ts.columns.iter().map(|c| c.ty.default_datum()).collect();
        if let Some(r) = o.get("row") {
            for (i, d) in self.parse_row(ts, r, false)? {
                cols[i] = d;
            }
        }
        self.set_row(
            t,
            uuid,
            Some(Row {
                uuid,
                version: Uuid::random(),
                cols,
            }),
        );
        self.inserted[t].push(uuid);
        Ok(json!({"uuid": uuid.to_json()}))
    }

    fn select(&mut self, o: &Map<String, Value>) -> Result<Value> {
        let (t, ts) = self.table(o)?;
        let conds = self.parse_where(ts, o)?;
        let columns = self.columns_member(ts, o)?;
        let rows: Vec<Value> = self
            .matching(t, &conds)
            .iter()
            .filter_map(|u| self.row(t, u))
            .map(|r| r.to_json(ts, columns.as_deref()))
            .collect();
        Ok(json!({"rows": rows}))
    }

    fn columns_member(
        &self,
        ts: &TableSchema,
        o: &Map<String, Value>,
    ) -> Result<Option<Vec<String>>> {
        match o.get("columns") {
            None => Ok(None),
            Some(c) => {
                let a = c
                    .as_array()
                    .ok_or_else(|| Error::syntax("\"columns\" must be an array of column names"))?;
                let mut out = Vec::new();
                for n in a {
                    let n = n.as_str().ok_or_else(|| {
                        Error::syntax("\"columns\" must be an array of column names")
                    })?;
                    lookup_col(ts, n)?;
                    out.push(n.to_string());
                }
                Ok(Some(out))
            }
        }
    }

    fn update(&mut self, o: &Map<String, Value>) -> Result<Value> {
        let (t, ts) = self.table(o)?;
        let conds = self.parse_where(ts, o)?;
        let row = o
            .get("row")
            .ok_or_else(|| Error::syntax("update lacks a \"row\""))?;
        let vals = self.parse_row(ts, row, true)?;
        let hits = self.matching(t, &conds);
        for u in &hits {
            let mut r = self.row(t, u).cloned().expect("matching rows exist");
            for (i, d) in &vals {
                r.cols[*i] = d.clone();
            }
            self.set_row(t, *u, Some(r));
        }
        Ok(json!({"count": hits.len()}))
    }

    fn delete(&mut self, o: &Map<String, Value>) -> Result<Value> {
        let (t, ts) = self.table(o)?;
        let conds = self.parse_where(ts, o)?;
        let hits = self.matching(t, &conds);
        for u in &hits {
            self.set_row(t, *u, None);
        }
        Ok(json!({"count": hits.len()}))
    }

    fn mutate(&mut self, o: &Map<String, Value>) -> Result<Value> {
        let (t, ts) = self.table(o)?;
        let conds = self.parse_where(ts, o)?;
        let muts = o
            .get("mutations")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::syntax("mutate lacks a \"mutations\" array"))?;
        let mut parsed = Vec::new();
        for m in muts {
            let a = m.as_array().filter(|a| a.len() == 3).ok_or_else(|| {
                Error::syntax(format!("mutation {m} is not [column, mutator, value]"))
            })?;
            let name = a[0].as_str().unwrap_or("");
            if name == "_uuid" || name == "_version" {
                return Err(Error::constraint(format!("{name} cannot be mutated")));
            }
            let (i, c) = ts.column(name)?;
            if !c.mutable {
                return Err(Error::constraint(format!(
                    "column {}.{name} cannot be changed after the row is inserted",
                    ts.name
                )));
            }
            let mutator = a[1].as_str().unwrap_or("").to_string();
            let arg_ty = match mutator.as_str() {
                "+=" | "-=" | "*=" | "/=" | "%=" => {
                    if c.ty.is_map()
                        || !matches!(c.ty.key.atomic, AtomicType::Integer | AtomicType::Real)
                    {
                        return Err(Error::constraint(format!(
                            "{mutator} needs an integer or real column, and {name} is not one"
                        )));
                    }
                    if mutator == "%=" && c.ty.key.atomic != AtomicType::Integer {
                        return Err(Error::constraint("%= needs an integer column"));
                    }
                    ColumnType {
                        key: crate::types::BaseType::plain(c.ty.key.atomic),
                        value: None,
                        min: 1,
                        max: 1,
                    }
                }
                "insert" => ColumnType {
                    min: 0,
                    max: usize::MAX,
                    ..c.ty.clone()
                },
                "delete" => {
                    let loose = ColumnType {
                        min: 0,
                        max: usize::MAX,
                        ..c.ty.clone()
                    };
                    // Deleting from a map takes a map or a set of keys.
                    if c.ty.is_map()
                        && !a[2]
                            .as_array()
                            .is_some_and(|x| x.first() == Some(&json!("map")))
                    {
                        ColumnType {
                            value: None,
                            ..loose
                        }
                    } else {
                        loose
                    }
                }
                other => return Err(Error::syntax(format!("unknown mutator {other:?}"))),
            };
            let arg = Datum::from_json(&a[2], &arg_ty, Some(&self.symbols))?;
            parsed.push((i, c.ty.clone(), mutator, arg, name.to_string()));
        }
        let hits = self.matching(t, &conds);
        for u in &hits {
            let mut r = self.row(t, u).cloned().expect("matching rows exist");
            for (i, ty, mutator, arg, name) in &parsed {
                let d = mutate_datum(&r.cols[*i], ty, mutator, arg)?;
                d.check(ty)
                    .map_err(|e| Error::constraint(format!("{}.{name}: {}", ts.name, e.details)))?;
                r.cols[*i] = d;
            }
            self.set_row(t, *u, Some(r));
        }
        Ok(json!({"count": hits.len()}))
    }

    fn wait(&mut self, o: &Map<String, Value>) -> Result<Value> {
        let (t, ts) = self.table(o)?;
        let conds = self.parse_where(ts, o)?;
        // Open vSwitch's clients leave "columns" out when "rows" is empty.
        let columns = self.columns_member(ts, o)?.unwrap_or_default();
        let until = str_member(o, "until")?;
        if until != "==" && until != "!=" {
            return Err(Error::syntax(format!(
                "wait's \"until\" must be \"==\" or \"!=\", not {until:?}"
            )));
        }
        let timeout = match o.get("timeout") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                Error::syntax("wait's \"timeout\" must be a non-negative integer")
            })?),
        };
        let want = o
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::syntax("wait lacks a \"rows\" array"))?;
        let mut want_set = Vec::new();
        for w in want {
            let wo = w
                .as_object()
                .ok_or_else(|| Error::syntax(format!("wait row {w} is not an object")))?;
            let mut vals = Vec::new();
            for c in &columns {
                let (_, ty) = lookup_col(ts, c)?;
                let v = wo
                    .get(c)
                    .ok_or_else(|| Error::syntax(format!("wait row {w} lacks column {c}")))?;
                vals.push(Datum::from_json(v, &ty, Some(&self.symbols))?);
            }
            want_set.push(vals);
        }
        want_set.sort();
        let cols: Vec<Col> = columns
            .iter()
            .map(|c| lookup_col(ts, c).map(|x| x.0))
            .collect::<Result<_>>()?;
        // Compared as multisets: two matching rows are not one.
        let mut have: Vec<Vec<Datum>> = self
            .matching(t, &conds)
            .iter()
            .filter_map(|u| self.row(t, u))
            .map(|r| cols.iter().map(|c| col_value(r, *c)).collect())
            .collect();
        have.sort();
        let satisfied = (have == want_set) == (until == "==");
        if satisfied {
            return Ok(json!({}));
        }
        match timeout {
            Some(ms) if self.elapsed_ms >= ms => Err(Error::new(
                ErrorKind::TimedOut,
                format!("\"wait\" on table {} timed out after {ms} ms", ts.name),
            )),
            deadline => {
                self.blocked = Some(deadline);
                Err(Error::new(ErrorKind::TimedOut, "blocked"))
            }
        }
    }

    /// Checks references, collects garbage, drops dangling weak references,
    /// checks indexes and row limits; builds the commit.
    fn finish(mut self) -> Result<Option<Commit>> {
        // Named UUIDs used but never inserted.
        for (name, s) in self.symbols.0.borrow().iter() {
            if !s.inserted {
                return Err(Error::syntax(format!(
                    "named-uuid {name:?} is used but no insert has that uuid-name"
                )));
            }
        }
        if self.changes.is_empty() {
            return Ok(None);
        }
        let db = self.db;
        let ts_of = |t: usize| db.table_schema(t);
        // Weak references to rows that do not exist (now or after this
        // transaction) are dropped from every changed row.
        loop {
            // Strong reference counts after the transaction.
            let mut delta: HashMap<Uuid, i64> = HashMap::new();
            for (t, u) in &self.order {
                let new = match self.changes.get(&(*t, *u)) {
                    Some(c) => c.as_ref(),
                    None => continue,
                };
                ref_changes(ts_of(*t), db.row(*t, u), new, |r, s, d| {
                    if s == RefType::Strong {
                        *delta.entry(r).or_insert(0) += d;
                    }
                });
            }
            let count = |u: &Uuid| -> i64 {
                db.refcount.get(u).copied().unwrap_or(0) as i64 + delta.get(u).copied().unwrap_or(0)
            };
            // Garbage: rows of non-root tables with no strong references
            // left, among those this transaction touched or unreferenced.
            let mut garbage = Vec::new();
            let mut candidates: Vec<(usize, Uuid)> = self.order.clone();
            for (u, d) in &delta {
                if *d < 0 {
                    if let Some(t) = self.table_of(u) {
                        candidates.push((t, *u));
                    }
                }
            }
            let mut seen = HashSet::new();
            for (t, u) in candidates {
                if !seen.insert(u) || ts_of(t).is_root {
                    continue;
                }
                if self.row(t, &u).is_some() && count(&u) <= 0 {
                    garbage.push((t, u));
                }
            }
            if !garbage.is_empty() {
                for (t, u) in garbage {
                    self.set_row(t, u, None);
                }
                continue; // deleting may free more rows
            }
            // Strong references must land on rows that exist.
            for (u, d) in &delta {
                if *d > 0 && self.table_of(u).is_none_or(|t| self.row(t, u).is_none()) {
                    let (t, src, col) = self.referrer(u).unwrap_or((0, Uuid(0), String::new()));
                    return Err(Error::new(
                        ErrorKind::ReferentialIntegrity,
                        format!(
                            "{}.{col} in row {src} refers to row {u}, which does not exist",
                            db.table_names()[t]
                        ),
                    ));
                }
            }
            // Deleted rows must not be referred to any more.
            for (t, u) in &self.order {
                if matches!(self.changes.get(&(*t, *u)), Some(None)) && count(u) > 0 {
                    return Err(Error::new(
                        ErrorKind::ReferentialIntegrity,
                        format!(
                            "cannot delete {} row {u} because it is still referenced",
                            db.table_names()[*t]
                        ),
                    ));
                }
            }
            // Weak references to rows that are gone: drop them.
            if self.drop_dangling_weak_refs()? {
                continue;
            }
            break;
        }
        // Indexes and limits.
        let mut changed_tables: BTreeSet<usize> = BTreeSet::new();
        for (t, _) in &self.order {
            changed_tables.insert(*t);
        }
        for &t in &changed_tables {
            let ts = ts_of(t);
            for (ix, cols) in ts.indexes.iter().enumerate() {
                let mut keys: HashMap<Vec<Datum>, Uuid> = HashMap::new();
                for (tt, u) in &self.order {
                    if *tt != t {
                        continue;
                    }
                    let Some(Some(r)) = self.changes.get(&(t, *u)) else {
                        continue;
                    };
                    let key = Database::index_key(ts, ix, r);
                    let clash = keys.insert(key.clone(), *u).or_else(|| {
                        db.index_lookup(t, ix, &key)
                            .filter(|other| other != u && !self.changes.contains_key(&(t, *other)))
                    });
                    if let Some(other) = clash {
                        let names: Vec<&str> =
                            cols.iter().map(|c| ts.columns[*c].name.as_str()).collect();
                        let vals: Vec<String> =
                            key.iter().map(|d| d.to_json().to_string()).collect();
                        return Err(Error::constraint(format!(
                            "rows {u} and {other} of table {} both have {} = {}: the index on ({}) allows one",
                            ts.name,
                            names.join(", "),
                            vals.join(", "),
                            names.join(", ")
                        )));
                    }
                }
            }
            if let Some(max) = ts.max_rows {
                let mut n = db.row_count(t) as i64;
                for (tt, u) in &self.order {
                    if *tt == t {
                        let before = db.row(t, u).is_some() as i64;
                        let after = matches!(self.changes.get(&(t, *u)), Some(Some(_))) as i64;
                        n += after - before;
                    }
                }
                if n > max as i64 {
                    return Err(Error::constraint(format!(
                        "table {} may have at most {max} rows",
                        ts.name
                    )));
                }
            }
        }
        // Build the commit; unchanged rows are left out.
        let mut changes = Vec::new();
        for (t, u) in &self.order {
            let old = db.row(*t, u).cloned();
            let mut new = self.changes.get(&(*t, *u)).cloned().flatten();
            if let (Some(o), Some(n)) = (&old, &mut new) {
                if o.cols == n.cols {
                    continue;
                }
                n.version = Uuid::random();
            }
            if old.is_none() && new.is_none() {
                continue;
            }
            changes.push(RowChange {
                table: *t,
                uuid: *u,
                old,
                new,
            });
        }
        if changes.is_empty() && self.comment.is_none() {
            return Ok(None);
        }
        Ok(Some(Commit {
            txn_id: Uuid::random(),
            changes,
            comment: self.comment,
        }))
    }

    /// The table a row lives in (committed or inserted here).
    fn table_of(&self, u: &Uuid) -> Option<usize> {
        for (t, td) in self.db.tables.iter().enumerate() {
            if td.rows.contains_key(u) {
                return Some(t);
            }
        }
        self.inserted.iter().position(|v| v.contains(u))
    }

    /// A changed row that strongly refers to `target`, for error messages.
    fn referrer(&self, target: &Uuid) -> Option<(usize, Uuid, String)> {
        for (t, u) in &self.order {
            if let Some(Some(r)) = self.changes.get(&(*t, *u)) {
                let ts = self.db.table_schema(*t);
                for (i, c) in ts.columns.iter().enumerate() {
                    if r.cols[i].refs(&c.ty).any(|(x, _, _)| x == *target) {
                        return Some((*t, *u, c.name.clone()));
                    }
                }
            }
        }
        None
    }

    /// Removes weak references to rows that do not exist after this
    /// transaction, from changed rows and from committed rows that pointed
    /// at deleted ones. Returns whether anything changed.
    fn drop_dangling_weak_refs(&mut self) -> Result<bool> {
        let db = self.db;
        let mut sources: Vec<(usize, Uuid)> = Vec::new();
        for (t, u) in &self.order {
            if matches!(self.changes.get(&(*t, *u)), Some(Some(_))) {
                sources.push((*t, *u));
            }
            if matches!(self.changes.get(&(*t, *u)), Some(None)) {
                if let Some(m) = db.weak_in.get(u) {
                    sources.extend(m.keys().copied());
                }
            }
        }
        let mut changed = false;
        let mut done = HashSet::new();
        for (t, u) in sources {
            if !done.insert(u) {
                continue;
            }
            let Some(row) = self.row(t, &u).cloned() else {
                continue;
            };
            let ts = db.table_schema(t).clone();
            let mut new = row.clone();
            for (i, c) in ts.columns.iter().enumerate() {
                let weak_key = c.ty.key.ref_type == RefType::Weak && c.ty.key.ref_table.is_some();
                let weak_val =
                    c.ty.value
                        .as_ref()
                        .is_some_and(|v| v.ref_type == RefType::Weak && v.ref_table.is_some());
                if !weak_key && !weak_val {
                    continue;
                }
                let gone = |a: &Atom| match a {
                    Atom::Uuid(x) => self.table_of(x).is_none_or(|tt| self.row(tt, x).is_none()),
                    _ => false,
                };
                let d = match &row.cols[i] {
                    Datum::Set(s) => Datum::Set(
                        s.iter()
                            .filter(|a| !(weak_key && gone(a)))
                            .cloned()
                            .collect(),
                    ),
                    Datum::Map(m) => Datum::Map(
                        m.iter()
                            .filter(|(k, v)| !(weak_key && gone(k) || weak_val && gone(v)))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<BTreeMap<_, _>>(),
                    ),
                };
                if d != row.cols[i] {
                    d.check(&c.ty).map_err(|_| {
                        Error::constraint(format!(
                            "deleting a row that {}.{} in row {u} refers to would leave that column with too few values",
                            ts.name, c.name
                        ))
                    })?;
                    new.cols[i] = d;
                }
            }
            if new != row {
                self.set_row(t, u, Some(new));
                changed = true;
            }
        }
        Ok(changed)
    }
}

fn arith_int(a: i64, b: i64, m: &str) -> Result<i64> {
    let r = match m {
        "+=" => a.checked_add(b),
        "-=" => a.checked_sub(b),
        "*=" => a.checked_mul(b),
        "/=" | "%=" if b == 0 => return Err(Error::new(ErrorKind::Domain, "division by zero")),
        "/=" => a.checked_div(b),
        _ => a.checked_rem(b),
    };
    r.ok_or_else(|| Error::new(ErrorKind::Range, format!("{a} {m} {b} overflows")))
}

fn mutate_datum(cur: &Datum, ty: &ColumnType, m: &str, arg: &Datum) -> Result<Datum> {
    match m {
        "+=" | "-=" | "*=" | "/=" | "%=" => {
            let b = arg
                .as_scalar()
                .ok_or_else(|| Error::syntax("arithmetic takes one value"))?;
            let Datum::Set(s) = cur else {
                return Err(Error::constraint("arithmetic does not apply to maps"));
            };
            let mut out = BTreeSet::new();
            for a in s {
                let r = match (a, b) {
                    (Atom::Integer(x), Atom::Integer(y)) => Atom::Integer(arith_int(*x, *y, m)?),
                    (Atom::Real(x), Atom::Real(y)) => {
                        let r = match m {
                            "+=" => x + y,
                            "-=" => x - y,
                            "*=" => x * y,
                            _ => {
                                if *y == 0.0 {
                                    return Err(Error::new(ErrorKind::Domain, "division by zero"));
                                }
                                x / y
                            }
                        };
                        if !r.is_finite() {
                            return Err(Error::new(
                                ErrorKind::Range,
                                "result is not a finite real",
                            ));
                        }
                        Atom::Real(r)
                    }
                    _ => return Err(Error::syntax("mutation value has the wrong type")),
                };
                ty.key.check(&r)?;
                if !out.insert(r) {
                    return Err(Error::constraint(
                        "the mutation would make two set elements equal",
                    ));
                }
            }
            Ok(Datum::Set(out))
        }
        "insert" => Ok(match (cur, arg) {
            (Datum::Set(a), Datum::Set(b)) => Datum::Set(a.union(b).cloned().collect()),
            (Datum::Map(a), Datum::Map(b)) => {
                let mut m = a.clone();
                for (k, v) in b {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
                Datum::Map(m)
            }
            _ => return Err(Error::syntax("insert value does not fit the column")),
        }),
        "delete" => Ok(match (cur, arg) {
            (Datum::Set(a), Datum::Set(b)) => Datum::Set(a.difference(b).cloned().collect()),
            (Datum::Map(a), Datum::Set(keys)) => Datum::Map(
                a.iter()
                    .filter(|(k, _)| !keys.contains(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            (Datum::Map(a), Datum::Map(b)) => Datum::Map(
                a.iter()
                    .filter(|(k, v)| b.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            _ => return Err(Error::syntax("delete value does not fit the column")),
        }),
        _ => unreachable!("mutators are checked when parsed"),
    }
}

/// Runs the operations of one `transact` (without the leading database
/// name) against `db`. `elapsed_ms` is the time since the request arrived,
/// for `wait` timeouts.
pub fn execute(db: &Database, ops: &[Value], session: &dyn Session, elapsed_ms: u64) -> Outcome {
    let mut txn = Txn {
        db,
        changes: HashMap::new(),
        order: Vec::new(),
        inserted: vec![Vec::new(); db.table_names().len()],
        symbols: Symbols(RefCell::new(HashMap::new())),
        comment: None,
        session,
        elapsed_ms,
        blocked: None,
    };
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match txn.op(op) {
            Ok(v) => results.push(v),
            Err(e) => {
                if let Some(deadline) = txn.blocked {
                    return Outcome::Blocked {
                        deadline_ms: deadline,
                    };
                }
                results.push(e.to_json());
                results.extend(std::iter::repeat_n(Value::Null, ops.len() - i - 1));
                return Outcome::Done {
                    results,
                    commit: None,
                };
            }
        }
    }
    match txn.finish() {
        Ok(commit) => Outcome::Done { results, commit },
        Err(e) => {
            results.push(e.to_json());
            Outcome::Done {
                results,
                commit: None,
            }
        }
    }
}
