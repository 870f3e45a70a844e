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
            if let Some(old) = &ch.old {
                self.unlink(ch.table, &ts, old);
                self.tables[ch.table].rows.remove(&old.uuid);
            }
            if let Some(new) = &ch.new {
                self.link(ch.table, &ts, new);
                self.tables[ch.table].rows.insert(new.uuid, new.clone());
            }
        }
        self.last_txn_id = commit.txn_id;
    }

    fn for_each_ref(ts: &TableSchema, row: &Row, mut f: impl FnMut(Uuid, RefType)) {
        for (i, c) in ts.columns.iter().enumerate() {
            if c.ty.key.ref_table.is_none()
                && c.ty.value.as_ref().is_none_or(|v| v.ref_table.is_none())
            {
                continue;
            }
            for (u, _, strength) in row.cols[i].refs(&c.ty) {
                f(u, strength);
            }
        }
    }

    fn unlink(&mut self, t: usize, ts: &TableSchema, row: &Row) {
        let src = row.uuid;
        Self::for_each_ref(ts, row, |u, strength| match strength {
            RefType::Strong => {
                if let Some(c) = self.refcount.get_mut(&u) {
                    *c -= 1;
                    if *c == 0 {
                        self.refcount.remove(&u);
                    }
                }
            }
            RefType::Weak => {
                if let Some(m) = self.weak_in.get_mut(&u) {
                    if let Some(c) = m.get_mut(&(t, src)) {
                        *c -= 1;
                        if *c == 0 {
                            m.remove(&(t, src));
                        }
                    }
                    if m.is_empty() {
                        self.weak_in.remove(&u);
                    }
                }
            }
        });
        for ix in 0..ts.indexes.len() {
            let key = Self::index_key(ts, ix, row);
            let map = &mut self.tables[t].indexes[ix];
            if map.get(&key) == Some(&row.uuid) {
                map.remove(&key);
            }
        }
    }

    fn link(&mut self, t: usize, ts: &TableSchema, row: &Row) {
        let src = row.uuid;
        Self::for_each_ref(ts, row, |u, strength| match strength {
            RefType::Strong => *self.refcount.entry(u).or_insert(0) += 1,
            RefType::Weak => {
                *self
                    .weak_in
                    .entry(u)
                    .or_default()
                    .entry((t, src))
                    .or_insert(0) += 1
            }
        });
        for ix in 0..ts.indexes.len() {
            let key = Self::index_key(ts, ix, row);
            self.tables[t].indexes[ix].insert(key, row.uuid);
        }
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
        if r.cols[i] == c.ty.default_datum() {
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
