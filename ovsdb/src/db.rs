//! The in-memory database: committed rows, their reference counts and
//! indexes, and how a [`Commit`] is applied.
//!
//! Transactions ([`crate::txn`]) read a `Database` and produce a `Commit`
//! without changing anything; the owner writes the commit to the durable log
//! and only then applies it here. So a failed transaction changes nothing,
//! and what clients see was on disk first.

use crate::error::{Error, ErrorKind, Result};
use crate::schema::{DatabaseSchema, TableSchema};
use crate::types::{Datum, RefType, Uuid};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// One row: its UUID, its version, and its columns in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub uuid: Uuid,
    pub version: Uuid,
    pub cols: Vec<Datum>,
}

impl Row {
    /// The row as a JSON object; `columns` limits which (all, with `_uuid`
    /// and `_version`, when `None`).
    pub fn to_json(&self, t: &TableSchema, columns: Option<&[String]>) -> Value {
        let mut o = Map::new();
        match columns {
            None => {
                o.insert("_uuid".into(), self.uuid.to_json());
                o.insert("_version".into(), self.version.to_json());
                for (i, c) in t.columns.iter().enumerate() {
                    o.insert(c.name.clone(), self.cols[i].to_json());
                }
            }
            Some(cols) => {
                for name in cols {
                    let v = match name.as_str() {
                        "_uuid" => self.uuid.to_json(),
                        "_version" => self.version.to_json(),
                        n => match t.column_index(n) {
                            Some(i) => self.cols[i].to_json(),
                            None => continue,
                        },
                    };
                    o.insert(name.clone(), v);
                }
            }
        }
        Value::Object(o)
    }
}

/// A row's change in a commit: inserted (`old` none), deleted (`new` none)
/// or modified.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// Index of the table in [`Database::table_names`].
    pub table: usize,
    pub uuid: Uuid,
    pub old: Option<Row>,
    pub new: Option<Row>,
}

/// A transaction's effect, ready to be logged and applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Names the database state after this commit (for `monitor_cond_since`).
    pub txn_id: Uuid,
    pub changes: Vec<RowChange>,
    pub comment: Option<String>,
}

/// The rows of one table.
#[derive(Debug, Clone)]
pub(crate) struct TableData {
    pub(crate) rows: HashMap<Uuid, Row>,
    /// One map per schema index: the indexed columns' values → row.
    pub(crate) indexes: Vec<HashMap<Vec<Datum>, Uuid>>,
}

/// A database: schema and committed rows.
#[derive(Debug, Clone)]
pub struct Database {
    pub schema: Arc<DatabaseSchema>,
    names: Vec<String>,
    pub(crate) tables: Vec<TableData>,
    /// Strong references into each row.
    pub(crate) refcount: HashMap<Uuid, u32>,
    /// Weak references into each row: source (table, row) → count.
    pub(crate) weak_in: HashMap<Uuid, HashMap<(usize, Uuid), u32>>,
    /// The last commit's id.
    pub last_txn_id: Uuid,
}

impl Database {
    /// An empty database.
    pub fn new(schema: Arc<DatabaseSchema>) -> Database {
        let names: Vec<String> = schema.tables.keys().cloned().collect();
        let tables = names
            .iter()
            .map(|n| TableData {
                rows: HashMap::new(),
                indexes: vec![HashMap::new(); schema.tables[n].indexes.len()],
            })
            .collect();
        Database {
            schema,
            names,
            tables,
            refcount: HashMap::new(),
            weak_in: HashMap::new(),
            last_txn_id: Uuid(0),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// Table names, in index order.
    pub fn table_names(&self) -> &[String] {
        &self.names
    }

    /// The index of a table, or a syntax error naming it.
    pub fn table_index(&self, name: &str) -> Result<usize> {
        self.names
            .binary_search_by(|n| n.as_str().cmp(name))
            .map_err(|_| {
                Error::syntax(format!(
                    "database {} has no table {name:?}",
                    self.schema.name
                ))
            })
    }

    /// The schema of table `t`.
    pub fn table_schema(&self, t: usize) -> &TableSchema {
        &self.schema.tables[&self.names[t]]
    }

    /// A committed row.
    pub fn row(&self, t: usize, uuid: &Uuid) -> Option<&Row> {
        self.tables[t].rows.get(uuid)
    }

    /// Committed rows of table `t`, in no particular order.
    pub fn rows(&self, t: usize) -> impl Iterator<Item = &Row> + '_ {
        self.tables[t].rows.values()
    }

    /// Number of committed rows in table `t`.
    pub fn row_count(&self, t: usize) -> usize {
        self.tables[t].rows.len()
    }

    /// The row of table `t` whose index `ix` has the values `key`.
    pub fn index_lookup(&self, t: usize, ix: usize, key: &[Datum]) -> Option<Uuid> {
        self.tables[t].indexes.get(ix)?.get(key).copied()
    }

    pub(crate) fn index_key(ts: &TableSchema, ix: usize, row: &Row) -> Vec<Datum> {
        ts.indexes[ix]
            .iter()
            .map(|c| row.cols[*c].clone())
            .collect()
    }

    /// Applies a commit made by [`crate::txn`] against this database's
    /// current state.
    pub fn apply(&mut self, commit: &Commit) {
        for ch in &commit.changes {
            let ts = self.schema.tables[&self.names[ch.table]].clone();
            let t = ch.table;
            let src = ch.uuid;
            ref_changes(
                &ts,
                ch.old.as_ref(),
                ch.new.as_ref(),
                |u, strength, d| match strength {
                    RefType::Strong => {
                        let c = self.refcount.entry(u).or_insert(0);
                        *c = c.saturating_add_signed(d as i32);
                        if *c == 0 {
                            self.refcount.remove(&u);
                        }
                    }
                    RefType::Weak => {
                        let m = self.weak_in.entry(u).or_default();
                        let c = m.entry((t, src)).or_insert(0);
                        *c = c.saturating_add_signed(d as i32);
                        if *c == 0 {
                            m.remove(&(t, src));
                        }
                        if m.is_empty() {
                            self.weak_in.remove(&u);
                        }
                    }
                },
            );
            for ix in 0..ts.indexes.len() {
                let old_key = ch.old.as_ref().map(|r| Self::index_key(&ts, ix, r));
                let new_key = ch.new.as_ref().map(|r| Self::index_key(&ts, ix, r));
                if old_key == new_key {
                    continue;
                }
                let map = &mut self.tables[t].indexes[ix];
                if let Some(k) = old_key {
                    if map.get(&k) == Some(&src) {
                        map.remove(&k);
                    }
                }
                if let Some(k) = new_key {
                    map.insert(k, src);
                }
            }
            match &ch.new {
                Some(new) => {
                    self.tables[t].rows.insert(src, new.clone());
                }
                None => {
                    self.tables[t].rows.remove(&src);
                }
            }
        }
        self.last_txn_id = commit.txn_id;
    }

    /// Checks what every commit must preserve, recounting from scratch:
    /// strong references land on rows, rows of non-root tables are
    /// referenced, weak references land on rows, the kept reference counts
    /// and indexes match the rows, every value fits its column. For tests
    /// and for checking a file; the message says what is wrong.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut counts: HashMap<Uuid, u32> = HashMap::new();
        let exists = |u: &Uuid| self.tables.iter().any(|t| t.rows.contains_key(u));
        for (t, td) in self.tables.iter().enumerate() {
            let ts = self.table_schema(t);
            for r in td.rows.values() {
                for (i, c) in ts.columns.iter().enumerate() {
                    r.cols[i]
                        .check(&c.ty)
                        .map_err(|e| format!("{}.{} of {}: {e}", ts.name, c.name, r.uuid))?;
                    for (u, _, strength) in r.cols[i].refs(&c.ty) {
                        if !exists(&u) {
                            return Err(format!(
                                "{}.{} of {} refers to missing row {u} ({strength:?})",
                                ts.name, c.name, r.uuid
                            ));
                        }
                        if strength == RefType::Strong {
                            *counts.entry(u).or_insert(0) += 1;
                        }
                    }
                }
                for ix in 0..ts.indexes.len() {
                    let key = Self::index_key(ts, ix, r);
                    if td.indexes[ix].get(&key) != Some(&r.uuid) {
                        return Err(format!(
                            "index {ix} of {} does not map row {}",
                            ts.name, r.uuid
                        ));
                    }
                }
            }
            for ix in &td.indexes {
                if ix.len() != td.rows.len() {
                    return Err(format!(
                        "an index of {} has {} keys for {} rows",
                        ts.name,
                        ix.len(),
                        td.rows.len()
                    ));
                }
            }
        }
        if counts != self.refcount {
            return Err(format!(
                "kept reference counts {:?} differ from a recount {:?}",
                self.refcount, counts
            ));
        }
        for (t, td) in self.tables.iter().enumerate() {
            let ts = self.table_schema(t);
            if !ts.is_root {
                for r in td.rows.values() {
                    if !counts.contains_key(&r.uuid) {
                        return Err(format!(
                            "row {} of non-root table {} is not referenced",
                            r.uuid, ts.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every row as a map table → uuid → row JSON (without `_uuid` and
    /// `_version`, and without ephemeral columns when `persistent_only`):
    /// the snapshot format of the durable log.
    pub fn snapshot_json(&self, persistent_only: bool) -> Value {
        let mut o = Map::new();
        for (t, name) in self.names.iter().enumerate() {
            let ts = self.table_schema(t);
            let mut rows: Vec<&Row> = self.tables[t].rows.values().collect();
            rows.sort_by_key(|r| r.uuid);
            if rows.is_empty() {
                continue;
            }
            let mut tj = Map::new();
            for r in rows {
                tj.insert(r.uuid.to_string(), row_columns_json(ts, r, persistent_only));
            }
            o.insert(name.clone(), Value::Object(tj));
        }
        Value::Object(o)
    }

    /// Loads rows from [`Database::snapshot_json`]'s format into an empty
    /// database, checking every value and reference.
    pub fn load_snapshot(&mut self, v: &Value) -> Result<()> {
        let mut changes = Vec::new();
        let tables = v
            .as_object()
            .ok_or_else(|| Error::syntax("snapshot is not a JSON object"))?;
        for (tname, rows) in tables {
            let t = self.table_index(tname)?;
            let ts = self.table_schema(t).clone();
            for (u, row) in rows
                .as_object()
                .ok_or_else(|| Error::syntax(format!("snapshot table {tname} is not an object")))?
            {
                let uuid =
                    Uuid::parse(u).ok_or_else(|| Error::syntax(format!("bad row uuid {u:?}")))?;
                let new = row_from_json(&ts, uuid, row, None)?;
                changes.push(RowChange {
                    table: t,
                    uuid,
                    old: None,
                    new: Some(new),
                });
            }
        }
        let commit = Commit {
            txn_id: Uuid::random(),
            changes,
            comment: None,
        };
        self.apply(&commit);
        // Every strong reference must land on a row.
        for u in self.refcount.keys() {
            if !self.tables.iter().any(|t| t.rows.contains_key(u)) {
                return Err(Error::new(
                    ErrorKind::ReferentialIntegrity,
                    format!("the stored data refers to row {u}, which does not exist"),
                ));
            }
        }
        Ok(())
    }
}

/// A row's columns as JSON (no `_uuid`/`_version`).
pub fn row_columns_json(ts: &TableSchema, r: &Row, persistent_only: bool) -> Value {
    let mut o = Map::new();
    for (i, c) in ts.columns.iter().enumerate() {
        if persistent_only && c.ephemeral {
            continue;
        }
        if c.ty.is_default(&r.cols[i]) {
            continue;
        }
        o.insert(c.name.clone(), r.cols[i].to_json());
    }
    Value::Object(o)
}

/// A row from its columns' JSON, missing columns at their defaults, every
/// value checked. `base` supplies the values of columns not given.
pub fn row_from_json(ts: &TableSchema, uuid: Uuid, v: &Value, base: Option<&Row>) -> Result<Row> {
    let o = v
        .as_object()
        .ok_or_else(|| Error::syntax(format!("row {uuid} is not a JSON object")))?;
    let mut cols: Vec<Datum> = match base {
        Some(b) => b.cols.clone(),
        None => ts.columns.iter().map(|c| c.ty.default_datum()).collect(),
    };
    for (name, val) in o {
        let (i, c) = ts.column(name)?;
        let d = Datum::from_json(val, &c.ty, None)?;
        d.check(&c.ty)?;
        cols[i] = d;
    }
    Ok(Row {
        uuid,
        version: Uuid::random(),
        cols,
    })
}

/// Calls `f(target, strength, +1 or -1)` for every reference that a row's
/// change from `old` to `new` adds or removes. Columns whose value did not
/// change cost one comparison, so changing one port of a bridge with ten
/// thousand does not recount the other ports.
pub(crate) fn ref_changes(
    ts: &TableSchema,
    old: Option<&Row>,
    new: Option<&Row>,
    mut f: impl FnMut(Uuid, RefType, i64),
) {
    for (i, c) in ts.columns.iter().enumerate() {
        if c.ty.key.ref_table.is_none() && c.ty.value.as_ref().is_none_or(|v| v.ref_table.is_none())
        {
            continue;
        }
        let (o, n) = (old.map(|r| &r.cols[i]), new.map(|r| &r.cols[i]));
        if o == n {
            continue;
        }
        let collect = |d: Option<&Datum>| -> Vec<(Uuid, bool)> {
            let mut v: Vec<(Uuid, bool)> = d
                .map(|d| {
                    d.refs(&c.ty)
                        .map(|(u, _, s)| (u, s == RefType::Weak))
                        .collect()
                })
                .unwrap_or_default();
            v.sort_unstable();
            v
        };
        let strength = |weak: bool| if weak { RefType::Weak } else { RefType::Strong };
        let (a, b) = (collect(o), collect(n));
        // Merge the two sorted lists: what only `a` has goes, what only `b`
        // has comes.
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => {
                    f(x.0, strength(x.1), -1);
                    i += 1;
                }
                (Some(x), None) => {
                    f(x.0, strength(x.1), -1);
                    i += 1;
                }
                (_, Some(y)) => {
                    f(y.0, strength(y.1), 1);
                    j += 1;
                }
                (None, None) => break,
            }
        }
    }
}
