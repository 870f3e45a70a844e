//! Monitors: `monitor` (RFC 7047 4.1.5, `update` notifications) and Open
//! vSwitch's `monitor_cond` / `monitor_cond_since` (`update2` / `update3`
//! notifications with row diffs and per-table conditions).

use crate::condition::{parse_conditions, Cond};
use crate::db::{Commit, Database, Row};
use crate::error::{Error, Result};
use crate::schema::TableSchema;
use crate::types::Datum;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Which monitor method created the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `monitor`: `update` notifications with old/new rows.
    Plain,
    /// `monitor_cond`: `update2` notifications.
    Cond,
    /// `monitor_cond_since`: `update3` notifications.
    CondSince,
}

#[derive(Debug, Clone, Copy)]
struct Select {
    initial: bool,
    insert: bool,
    delete: bool,
    modify: bool,
}

#[derive(Debug)]
struct TableRequest {
    /// Monitored explicit columns.
    columns: Vec<usize>,
    select: Select,
    /// Disjunction of conditions; empty = every row.
    conds: Vec<Cond>,
}

impl TableRequest {
    fn selects(&self, row: &Row) -> bool {
        self.conds.is_empty() || self.conds.iter().any(|c| c.holds(row))
    }
}

/// One monitor of one session.
#[derive(Debug)]
pub struct Monitor {
    pub db: String,
    pub flavor: Flavor,
    /// Per table index: the requests on it.
    tables: BTreeMap<usize, Vec<TableRequest>>,
}

fn parse_select(v: Option<&Value>) -> Result<Select> {
    let mut s = Select {
        initial: true,
        insert: true,
        delete: true,
        modify: true,
    };
    if let Some(v) = v {
        let o = v
            .as_object()
            .ok_or_else(|| Error::syntax("\"select\" must be an object"))?;
        for (k, b) in o {
            let b = b
                .as_bool()
                .ok_or_else(|| Error::syntax(format!("\"select\" member {k} must be a boolean")))?;
            match k.as_str() {
                "initial" => s.initial = b,
                "insert" => s.insert = b,
                "delete" => s.delete = b,
                "modify" => s.modify = b,
                _ => return Err(Error::syntax(format!("unknown \"select\" member {k:?}"))),
            }
        }
    }
    Ok(s)
}

impl Monitor {
    /// Parses `<monitor-requests>` (or `<monitor-cond-requests>`).
    pub fn new(db: &Database, flavor: Flavor, requests: &Value) -> Result<Monitor> {
        let reqs = requests
            .as_object()
            .ok_or_else(|| Error::syntax("monitor requests must be an object of table names"))?;
        let mut tables = BTreeMap::new();
        for (tname, r) in reqs {
            let t = db.table_index(tname)?;
            let ts = db.table_schema(t);
            // A single request is accepted in place of an array.
            let list: Vec<&Value> = match r {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            let mut out = Vec::new();
            for r in list {
                let o = r.as_object().ok_or_else(|| {
                    Error::syntax(format!("monitor request for {tname} must be an object"))
                })?;
                let columns = match o.get("columns") {
                    None => (0..ts.columns.len()).collect(),
                    Some(c) => {
                        let a = c
                            .as_array()
                            .ok_or_else(|| Error::syntax("\"columns\" must be an array"))?;
                        let mut cols = Vec::new();
                        for n in a {
                            let n = n.as_str().unwrap_or("");
                            // Open vSwitch tolerates _uuid/_version here.
                            if n == "_uuid" || n == "_version" {
                                continue;
                            }
                            let (i, _) = ts.column(n)?;
                            if !cols.contains(&i) {
                                cols.push(i);
                            }
                        }
                        cols
                    }
                };
                let conds = match (flavor, o.get("where")) {
                    (Flavor::Plain, Some(_)) => {
                        return Err(Error::syntax("\"where\" needs monitor_cond"))
                    }
                    (_, Some(w)) => {
                        let c = parse_conditions(ts, w, None, true)?;
                        if c.is_empty() {
                            Vec::new()
                        } else {
                            c
                        }
                    }
                    (_, None) => Vec::new(),
                };
                // An explicit `[false]` selects nothing: keep it as a literal.
                out.push(TableRequest {
                    columns,
                    select: parse_select(o.get("select"))?,
                    conds,
                });
            }
            tables.insert(t, out);
        }
        Ok(Monitor {
            db: db.name().to_string(),
            flavor,
            tables,
        })
    }

    /// The initial contents, as the reply's `<table-updates>` or
    /// `<table-updates2>`.
    pub fn initial(&self, db: &Database) -> Value {
        let mut out = Map::new();
        for (&t, reqs) in &self.tables {
            let ts = db.table_schema(t);
            let mut rows: Vec<&Row> = db.rows(t).collect();
            rows.sort_by_key(|r| r.uuid);
            let mut tu = Map::new();
            for r in rows {
                let Some(cols) = self.columns_for(reqs, r, |s| s.initial) else {
                    continue;
                };
                let row = row_json(ts, r, &cols, self.flavor != Flavor::Plain);
                let upd = match self.flavor {
                    Flavor::Plain => serde_json::json!({"new": row}),
                    _ => serde_json::json!({"initial": row}),
                };
                tu.insert(r.uuid.to_string(), upd);
            }
            if !tu.is_empty() {
                out.insert(db.table_names()[t].clone(), Value::Object(tu));
            }
        }
        Value::Object(out)
    }

    /// Whether a request choosing `which` selects `row`, and if so the
    /// columns those requests want (possibly none: `"columns": []` still
    /// reports the row).
    fn columns_for(
        &self,
        reqs: &[TableRequest],
        row: &Row,
        which: impl Fn(&Select) -> bool,
    ) -> Option<BTreeSet<usize>> {
        let mut cols = None::<BTreeSet<usize>>;
        for q in reqs {
            if which(&q.select) && q.selects(row) {
                cols.get_or_insert_with(BTreeSet::new)
                    .extend(q.columns.iter().copied());
            }
        }
        cols
    }

    /// The `<table-updates>` / `<table-updates2>` a commit causes for this
    /// monitor, or `None` when it has nothing to say.
    pub fn updates(&self, db: &Database, commit: &Commit) -> Option<Value> {
        let mut out: Map<String, Value> = Map::new();
        for ch in &commit.changes {
            let Some(reqs) = self.tables.get(&ch.table) else {
                continue;
            };
            let ts = db.table_schema(ch.table);
            let plain = self.flavor == Flavor::Plain;
            // A row this client starts or stops seeing: an insert or a delete.
            let inserted = |new: &Row| {
                let cols = self.columns_for(reqs, new, |s| s.insert)?;
                let row = row_json(ts, new, &cols, !plain);
                Some(if plain {
                    serde_json::json!({"new": row})
                } else {
                    serde_json::json!({"insert": row})
                })
            };
            let deleted = |old: &Row| {
                let cols = self.columns_for(reqs, old, |s| s.delete)?;
                Some(if plain {
                    serde_json::json!({"old": row_json(ts, old, &cols, false)})
                } else {
                    serde_json::json!({"delete": null})
                })
            };
            let upd = match (&ch.old, &ch.new) {
                (None, Some(new)) => match inserted(new) {
                    Some(u) => u,
                    None => continue,
                },
                (Some(old), None) => match deleted(old) {
                    Some(u) => u,
                    None => continue,
                },
                (Some(old), Some(new)) => {
                    let was = reqs.iter().any(|q| q.selects(old));
                    let is = reqs.iter().any(|q| q.selects(new));
                    match (was, is) {
                        (false, false) => continue,
                        // Entering or leaving the condition.
                        (false, true) => match inserted(new) {
                            Some(u) => u,
                            None => continue,
                        },
                        (true, false) => match deleted(old) {
                            Some(u) => u,
                            None => continue,
                        },
                        (true, true) => {
                            let Some(cols) = self.columns_for(reqs, new, |s| s.modify) else {
                                continue;
                            };
                            let changed: Vec<usize> = cols
                                .iter()
                                .copied()
                                .filter(|&i| old.cols[i] != new.cols[i])
                                .collect();
                            if changed.is_empty() {
                                continue;
                            }
                            if plain {
                                let mut o = Map::new();
                                for &i in &changed {
                                    o.insert(ts.columns[i].name.clone(), old.cols[i].to_json());
                                }
                                serde_json::json!({"old": o, "new": row_json(ts, new, &cols, false)})
                            } else {
                                let mut o = Map::new();
                                for &i in &changed {
                                    let c = &ts.columns[i];
                                    o.insert(
                                        c.name.clone(),
                                        diff(&old.cols[i], &new.cols[i], c.ty.is_scalar())
                                            .to_json(),
                                    );
                                }
                                serde_json::json!({"modify": o})
                            }
                        }
                    }
                }
                (None, None) => continue,
            };
            out.entry(db.table_names()[ch.table].clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("table updates are objects")
                .insert(ch.uuid.to_string(), upd);
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }
}

/// A row's selected columns; `omit_defaults` leaves out columns at their
/// default value (as `update2` initial and insert rows do).
fn row_json(ts: &TableSchema, r: &Row, cols: &BTreeSet<usize>, omit_defaults: bool) -> Value {
    let mut o = Map::new();
    for &i in cols {
        let c = &ts.columns[i];
        if omit_defaults && c.ty.is_default(&r.cols[i]) {
            continue;
        }
        o.insert(c.name.clone(), r.cols[i].to_json());
    }
    Value::Object(o)
}

/// The `update2` "modify" difference between two values of a column.
fn diff(old: &Datum, new: &Datum, scalar: bool) -> Datum {
    if scalar {
        return new.clone();
    }
    match (old, new) {
        (Datum::Set(a), Datum::Set(b)) => Datum::Set(a.symmetric_difference(b).cloned().collect()),
        (Datum::Map(a), Datum::Map(b)) => {
            let mut m = BTreeMap::new();
            for (k, v) in a {
                if !b.contains_key(k) {
                    m.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    m.insert(k.clone(), v.clone());
                }
            }
            Datum::Map(m)
        }
        _ => new.clone(),
    }
}
