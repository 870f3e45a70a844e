//! A local copy of the database that the commands of one invocation read
//! and change, and the transaction that carries their changes.
//!
//! The copy is read with one `select` per table. Commands run one after the
//! other against it, so each sees what the earlier ones did (`add-port br0
//! p1 -- set Interface p1 type=internal` finds the interface the first
//! command created). At the end the differences become one transaction:
//!
//! 1. a `wait` for every column whose old value a change was computed from
//!    (`verify`), so that a concurrent change by another client makes the
//!    transaction fail instead of being overwritten; the caller then reads
//!    again and reruns the commands;
//! 2. an `insert` per new row (rows refer to each other by `named-uuid`);
//! 3. an `update` per changed row, with only the changed columns;
//! 4. a `delete` per deleted row of a root table. Rows of other tables are
//!    left to the server's garbage collection, which deletes them once
//!    nothing refers to them (so destroying a row that is still referred to
//!    has no effect, as with `ovs-vsctl`).

use super::error::{cmd_err, Result};
use rvs_ovsdb::client::Client;
use rvs_ovsdb::schema::{uuid_column_type, DatabaseSchema, TableSchema};
use rvs_ovsdb::types::{Atom, ColumnType, Datum, Uuid};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

#[derive(Debug, Clone)]
struct RowState {
    /// The committed values; `None` for rows this invocation inserts.
    orig: Option<Vec<Datum>>,
    /// The values now; `None` once deleted.
    cur: Option<Vec<Datum>>,
    /// Columns whose committed value must still hold at commit.
    verify: BTreeSet<usize>,
}

#[derive(Debug, Clone, Default)]
struct TableRows {
    /// Rows in the order read (new rows appended).
    order: Vec<Uuid>,
    rows: HashMap<Uuid, RowState>,
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
#[derive(Debug, Clone)]
pub struct Model {
    pub schema: DatabaseSchema,
    tables: BTreeMap<String, TableRows>,
    new_rows: HashMap<Uuid, NewRow>,
    /// Tables that must still be empty at commit (the invocation inserted
    /// their first row).
    must_be_empty: BTreeSet<String>,
}

impl Model {
    /// Reads every table of `schema` from the server.
    pub fn load(client: &mut Client, schema: &DatabaseSchema) -> Result<Model> {
        let ops: Vec<Value> = schema
            .tables
            .values()
            .map(|t| {
                let mut cols: Vec<&str> = vec!["_uuid"];
                cols.extend(t.columns.iter().map(|c| c.name.as_str()));
                json!({"op": "select", "table": t.name, "where": [], "columns": cols})
            })
            .collect();
        let results = client.transact(&schema.name, &ops)?;
        Model::from_selects(schema.clone(), &results)
    }

    /// Builds the model from the results of one `select` per table (in the
    /// schema's table order).
    pub fn from_selects(schema: DatabaseSchema, results: &[Value]) -> Result<Model> {
        let mut tables = BTreeMap::new();
        for (ts, r) in schema.tables.values().zip(results) {
            if let Some(e) = r.get("error") {
                return Err(cmd_err(format!(
                    "cannot read table {}: {}",
                    ts.name,
                    describe_error(e, r)
                )));
            }
            let rows = r.get("rows").and_then(Value::as_array).ok_or_else(|| {
                cmd_err(format!(
                    "the server's reply for table {} has no rows",
                    ts.name
                ))
            })?;
            let mut tr = TableRows::default();
            for row in rows {
                let uuid = row
                    .get("_uuid")
                    .and_then(|u| Atom::from_json(u, rvs_ovsdb::types::AtomicType::Uuid, None).ok())
                    .and_then(|a| match a {
                        Atom::Uuid(u) => Some(u),
                        _ => None,
                    })
                    .ok_or_else(|| cmd_err(format!("a {} row has no valid _uuid", ts.name)))?;
                let mut cols = Vec::with_capacity(ts.columns.len());
                for c in &ts.columns {
                    let d = match row.get(&c.name) {
                        Some(v) => Datum::from_json(v, &c.ty, None).map_err(|e| {
                            cmd_err(format!(
                                "the server sent a bad value for {}.{}: {}",
                                ts.name, c.name, e.details
                            ))
                        })?,
                        None => c.ty.default_datum(),
                    };
                    cols.push(d);
                }
                tr.order.push(uuid);
                tr.rows.insert(
                    uuid,
                    RowState {
                        orig: Some(cols.clone()),
                        cur: Some(cols),
                        verify: BTreeSet::new(),
                    },
                );
            }
            tables.insert(ts.name.clone(), tr);
        }
        if results.len() < schema.tables.len() {
            return Err(cmd_err("the server answered fewer selects than were sent"));
        }
        Ok(Model {
            schema,
            tables,
            new_rows: HashMap::new(),
            must_be_empty: BTreeSet::new(),
        })
    }

    /// The schema of a table the program itself names (`Bridge`, ...).
    pub fn table(&self, name: &str) -> Result<&TableSchema> {
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

    /// The live rows of `table`, in order.
    pub fn rows(&self, table: &str) -> Vec<Uuid> {
        self.tables
            .get(table)
            .map(|t| {
                t.order
                    .iter()
                    .filter(|u| t.rows.get(u).is_some_and(|r| r.cur.is_some()))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `uuid` is a live row of `table`.
    pub fn exists(&self, table: &str, uuid: Uuid) -> bool {
        self.row(table, uuid).is_some()
    }

    /// The values of a live row.
    pub fn row(&self, table: &str, uuid: Uuid) -> Option<&[Datum]> {
        self.tables.get(table)?.rows.get(&uuid)?.cur.as_deref()
    }

    /// One column of a live row (the column's default if the row is gone).
    pub fn get(&self, table: &str, uuid: Uuid, col: usize) -> Datum {
        match self.row(table, uuid) {
            Some(r) => r[col].clone(),
            None => self
                .table(table)
                .map(|t| t.columns[col].ty.default_datum())
                .unwrap_or(Datum::Set(BTreeSet::new())),
        }
    }

    /// A column as the user named it (`_uuid` included).
    pub fn value(&self, table: &str, uuid: Uuid, col: &ColumnRef) -> Datum {
        match col.index {
            None => Datum::scalar(Atom::Uuid(uuid)),
            Some(i) => self.get(table, uuid, i),
        }
    }

    /// A string scalar column (names, targets), or "" if it is not one.
    pub fn get_str(&self, table: &str, uuid: Uuid, col: usize) -> String {
        match self.get(table, uuid, col).as_scalar() {
            Some(Atom::String(s)) => s.clone(),
            _ => String::new(),
        }
    }

    /// The UUIDs in a reference column.
    pub fn get_uuids(&self, table: &str, uuid: Uuid, col: usize) -> Vec<Uuid> {
        self.get(table, uuid, col)
            .keys()
            .filter_map(|a| match a {
                Atom::Uuid(u) => Some(*u),
                _ => None,
            })
            .collect()
    }

    /// Sets a column of a live row.
    pub fn set(&mut self, table: &str, uuid: Uuid, col: usize, d: Datum) {
        if let Some(r) = self
            .tables
            .get_mut(table)
            .and_then(|t| t.rows.get_mut(&uuid))
            .and_then(|r| r.cur.as_mut())
        {
            r[col] = d;
        }
    }

    /// Records that a change was computed from this column's committed
    /// value, which must still hold at commit.
    pub fn verify(&mut self, table: &str, uuid: Uuid, col: usize) {
        if let Some(r) = self
            .tables
            .get_mut(table)
            .and_then(|t| t.rows.get_mut(&uuid))
        {
            if r.orig.is_some() {
                r.verify.insert(col);
            }
        }
    }

    /// Inserts a row with default values. `uuid` is a placeholder the
    /// server replaces, unless `explicit` (the user chose it).
    pub fn insert(&mut self, table: &str, uuid: Uuid, explicit: bool) -> Result<()> {
        let cols = self
            .table(table)?
            .columns
            .iter()
            .map(|c| c.ty.default_datum())
            .collect();
        if self.tables.values().any(|t| t.rows.contains_key(&uuid)) {
            return Err(cmd_err(format!("a row with UUID {uuid} already exists")));
        }
        let tr = self.tables.entry(table.to_string()).or_default();
        tr.order.push(uuid);
        tr.rows.insert(
            uuid,
            RowState {
                orig: None,
                cur: Some(cols),
                verify: BTreeSet::new(),
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
    pub fn delete(&mut self, table: &str, uuid: Uuid) {
        if let Some(r) = self
            .tables
            .get_mut(table)
            .and_then(|t| t.rows.get_mut(&uuid))
        {
            r.cur = None;
        }
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

    /// The transaction for the changes so far (empty if nothing changed).
    pub fn plan(&self) -> TxnPlan {
        let mut waits = Vec::new();
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let mut deletes = Vec::new();
        let mut insert_uuids = Vec::new();
        for t in &self.must_be_empty {
            waits.push(json!({"op": "wait", "table": t, "timeout": 0, "where": [],
                              "until": "==", "rows": []}));
        }
        for (tname, tr) in &self.tables {
            let Some(ts) = self.schema.tables.get(tname) else {
                continue;
            };
            for u in &tr.order {
                let r = &tr.rows[u];
                let where_ = json!([["_uuid", "==", u.to_json()]]);
                match (&r.orig, &r.cur) {
                    (None, None) => {}
                    (None, Some(cur)) => {
                        let mut row = Map::new();
                        for (i, c) in ts.columns.iter().enumerate() {
                            if cur[i] != c.ty.default_datum() {
                                row.insert(c.name.clone(), self.datum_json(&cur[i]));
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
                    }
                    (Some(orig), cur) => {
                        if !r.verify.is_empty() {
                            let cols: Vec<&str> = r
                                .verify
                                .iter()
                                .map(|&i| ts.columns[i].name.as_str())
                                .collect();
                            let mut row = Map::new();
                            for &i in &r.verify {
                                row.insert(ts.columns[i].name.clone(), orig[i].to_json());
                            }
                            waits.push(json!({"op": "wait", "table": tname, "timeout": 0,
                                              "where": where_, "columns": cols,
                                              "until": "==", "rows": [row]}));
                        }
                        match cur {
                            None if ts.is_root => deletes
                                .push(json!({"op": "delete", "table": tname, "where": where_})),
                            None => {}
                            Some(cur) => {
                                let mut row = Map::new();
                                for (i, c) in ts.columns.iter().enumerate() {
                                    if cur[i] != orig[i] {
                                        row.insert(c.name.clone(), self.datum_json(&cur[i]));
                                    }
                                }
                                if !row.is_empty() {
                                    updates.push(json!({"op": "update", "table": tname,
                                                        "where": where_, "row": row}));
                                }
                            }
                        }
                    }
                }
            }
        }
        if inserts.is_empty() && updates.is_empty() && deletes.is_empty() {
            return TxnPlan::default();
        }
        let n_waits = waits.len();
        let first_insert = n_waits;
        let mut ops = waits;
        ops.extend(inserts);
        ops.extend(updates);
        ops.extend(deletes);
        TxnPlan {
            inserts: insert_uuids
                .into_iter()
                .enumerate()
                .map(|(i, u)| (first_insert + i, u))
                .collect(),
            ops,
            waits: n_waits,
        }
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

    fn empty_model() -> Model {
        let schema = vswitch_schema();
        let results: Vec<Value> = schema.tables.keys().map(|_| json!({"rows": []})).collect();
        Model::from_selects(schema, &results).unwrap()
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
        let mut m = empty_model();
        assert!(m.plan().ops.is_empty());
        let ovs = m.insert_first("Open_vSwitch").unwrap();
        let br = Uuid::random();
        m.insert("Bridge", br, false).unwrap();
        let name = m.col("Bridge", "name").unwrap();
        m.set(
            "Bridge",
            br,
            name,
            Datum::scalar(Atom::String("br0".into())),
        );
        let bridges = m.col("Open_vSwitch", "bridges").unwrap();
        m.set("Open_vSwitch", ovs, bridges, Datum::scalar(Atom::Uuid(br)));
        let plan = m.plan();
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
    }

    #[test]
    fn plan_for_existing_rows() {
        let schema = vswitch_schema();
        let u = Uuid::random();
        let results: Vec<Value> = schema
            .tables
            .keys()
            .map(|t| {
                if t == "QoS" {
                    json!({"rows": [{"_uuid": u.to_json(), "type": "x",
                                     "other_config": ["map", [["a", "1"]]]}]})
                } else {
                    json!({"rows": []})
                }
            })
            .collect();
        let mut m = Model::from_selects(schema, &results).unwrap();
        assert_eq!(m.rows("QoS"), vec![u]);
        let oc = m.col("QoS", "other_config").unwrap();
        assert_eq!(m.get("QoS", u, oc).len(), 1);
        m.verify("QoS", u, oc);
        m.set("QoS", u, oc, Datum::Map(BTreeMap::new()));
        let plan = m.plan();
        assert_eq!(plan.waits, 1);
        assert_eq!(
            plan.ops[0]["rows"],
            json!([{"other_config": ["map", [["a", "1"]]]}])
        );
        assert_eq!(plan.ops[1]["op"], "update");
        assert_eq!(plan.ops[1]["row"], json!({"other_config": ["map", []]}));
        m.delete("QoS", u);
        assert!(m.rows("QoS").is_empty());
        let plan = m.plan();
        assert_eq!(plan.ops.last().unwrap()["op"], "delete");
    }
}
