//! Database schemas (RFC 7047 section 3.2): loading, validation, lookups.
//!
//! Every table also has the two implicit columns `_uuid` and `_version`,
//! which clients may read and match on but never write.

use crate::error::{Error, Result};
use crate::types::{AtomicType, BaseType, ColumnType};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    pub name: String,
    pub ty: ColumnType,
    /// Not written to disk (its value is lost at restart).
    pub ephemeral: bool,
    /// Whether `update`/`mutate` may change it after insert.
    pub mutable: bool,
}

/// One table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub name: String,
    /// Columns in schema order (the implicit ones are not listed).
    pub columns: Vec<ColumnSchema>,
    pub max_rows: Option<usize>,
    /// Root tables keep rows that nothing refers to.
    pub is_root: bool,
    /// Sets of columns whose values must be unique across rows.
    pub indexes: Vec<Vec<usize>>,
}

/// The implicit `_uuid`/`_version` columns' type.
pub fn uuid_column_type() -> ColumnType {
    ColumnType {
        key: BaseType::plain(AtomicType::Uuid),
        value: None,
        min: 1,
        max: 1,
    }
}

impl TableSchema {
    /// The index of the named (explicit) column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The named explicit column, or an error naming the table.
    pub fn column(&self, name: &str) -> Result<(usize, &ColumnSchema)> {
        self.column_index(name)
            .map(|i| (i, &self.columns[i]))
            .ok_or_else(|| Error::syntax(format!("table {} has no column {name:?}", self.name)))
    }
}

/// A whole database schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSchema {
    pub name: String,
    pub version: String,
    pub cksum: Option<String>,
    pub tables: BTreeMap<String, TableSchema>,
    /// The schema as loaded, which `get_schema` returns.
    pub json: Value,
}

fn is_id(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

impl DatabaseSchema {
    /// Parses and validates a schema. Errors say which table or column is
    /// wrong.
    pub fn from_json(v: &Value) -> Result<DatabaseSchema> {
        let o = v
            .as_object()
            .ok_or_else(|| Error::syntax("a schema must be a JSON object"))?;
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| is_id(n))
            .ok_or_else(|| Error::syntax("the schema's \"name\" must be an identifier"))?
            .to_string();
        let version = o
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("0.0.0")
            .to_string();
        if version.split('.').count() != 3 || version.split('.').any(|p| p.parse::<u32>().is_err())
        {
            return Err(Error::syntax(format!(
                "schema version {version:?} is not of the form x.y.z"
            )));
        }
        let cksum = o.get("cksum").and_then(Value::as_str).map(String::from);
        let tables_json = o
            .get("tables")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::syntax("the schema has no \"tables\" object"))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in tables_json {
            if !is_id(tname) || tname.starts_with('_') {
                return Err(Error::syntax(format!(
                    "{tname:?} is not a valid table name"
                )));
            }
            let to = t
                .as_object()
                .ok_or_else(|| Error::syntax(format!("table {tname} must be an object")))?;
            let cols = to
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| Error::syntax(format!("table {tname} has no \"columns\"")))?;
            let mut columns = Vec::new();
            for (cname, c) in cols {
                if !is_id(cname) || cname.starts_with('_') {
                    return Err(Error::syntax(format!(
                        "{tname}.{cname} is not a valid column name"
                    )));
                }
                let co = c.as_object().ok_or_else(|| {
                    Error::syntax(format!("column {tname}.{cname} must be an object"))
                })?;
                let ty =
                    ColumnType::from_json(co.get("type").ok_or_else(|| {
                        Error::syntax(format!("column {tname}.{cname} has no type"))
                    })?)
                    .map_err(|e| Error::syntax(format!("column {tname}.{cname}: {}", e.details)))?;
                columns.push(ColumnSchema {
                    name: cname.clone(),
                    ty,
                    ephemeral: co
                        .get("ephemeral")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    mutable: co.get("mutable").and_then(Value::as_bool).unwrap_or(true),
                });
            }
            let max_rows = match to.get("maxRows") {
                None => None,
                Some(m) => Some(m.as_u64().filter(|m| *m >= 1).ok_or_else(|| {
                    Error::syntax(format!("table {tname}: maxRows must be a positive integer"))
                })? as usize),
            };
            let is_root = to.get("isRoot").and_then(Value::as_bool).unwrap_or(false);
            let mut ts = TableSchema {
                name: tname.clone(),
                columns,
                max_rows,
                is_root,
                indexes: Vec::new(),
            };
            if let Some(ix) = to.get("indexes") {
                let ix = ix.as_array().ok_or_else(|| {
                    Error::syntax(format!("table {tname}: indexes must be an array"))
                })?;
                for index in ix {
                    let cols = index.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                        Error::syntax(format!(
                            "table {tname}: each index is a non-empty array of column names"
                        ))
                    })?;
                    let mut idx = Vec::new();
                    for c in cols {
                        let cname = c.as_str().unwrap_or("");
                        let (i, col) = ts.column(cname)?;
                        if col.ephemeral {
                            return Err(Error::syntax(format!(
                                "table {tname}: ephemeral column {cname} cannot be indexed"
                            )));
                        }
                        idx.push(i);
                    }
                    ts.indexes.push(idx);
                }
            }
            tables.insert(tname.clone(), ts);
        }
        // References must name tables of this schema.
        for t in tables.values() {
            for c in &t.columns {
                for b in std::iter::once(&c.ty.key).chain(c.ty.value.as_ref()) {
                    if let Some(r) = &b.ref_table {
                        if !tables.contains_key(r) {
                            return Err(Error::syntax(format!(
                                "column {}.{} refers to unknown table {r}",
                                t.name, c.name
                            )));
                        }
                    }
                }
            }
        }
        Ok(DatabaseSchema {
            name,
            version,
            cksum,
            tables,
            json: v.clone(),
        })
    }

    /// Parses a schema from text.
    pub fn parse(text: &str) -> Result<DatabaseSchema> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::syntax(format!("the schema is not valid JSON: {e}")))?;
        DatabaseSchema::from_json(&v)
    }

    /// The named table, or an error naming it.
    pub fn table(&self, name: &str) -> Result<&TableSchema> {
        self.tables
            .get(name)
            .ok_or_else(|| Error::syntax(format!("database {} has no table {name:?}", self.name)))
    }

    /// The schema as JSON for `get_schema`.
    pub fn to_json(&self) -> Value {
        self.json.clone()
    }
}

/// The schema of the `_Server` database that describes the served databases.
pub fn server_schema() -> DatabaseSchema {
    let opt = |k: &str| json!({"type": {"key": k, "min": 0, "max": 1}});
    let v = json!({
        "name": "_Server",
        "version": "1.2.0",
        "tables": {
            "Database": {
                "columns": {
                    "name": {"type": "string"},
                    "model": {"type": {"key": {"type": "string", "enum": ["set", ["standalone", "clustered", "relay"]]}}},
                    "connected": {"type": "boolean"},
                    "leader": {"type": "boolean"},
                    "schema": opt("string"),
                    "cid": opt("uuid"),
                    "sid": opt("uuid"),
                    "index": opt("integer"),
                },
                "isRoot": true,
            }
        }
    });
    DatabaseSchema::from_json(&v).expect("the built-in _Server schema is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_small_schema_and_rejects_bad_ones() {
        let s = DatabaseSchema::from_json(&json!({
            "name": "T", "version": "1.0.0",
            "tables": {
                "A": {"columns": {"b": {"type": {"key": {"type": "uuid", "refTable": "B"}, "min": 0, "max": "unlimited"}},
                                  "name": {"type": "string"}},
                      "isRoot": true, "indexes": [["name"]]},
                "B": {"columns": {"x": {"type": "integer", "mutable": false}}}
            }
        }))
        .unwrap();
        assert!(s.tables["A"].is_root);
        assert_eq!(s.tables["A"].indexes, vec![vec![1]]);
        assert!(!s.tables["B"].columns[0].mutable);
        let bad_ref = json!({"name": "T", "version": "1.0.0", "tables": {"A": {"columns": {"r": {"type": {"key": {"type": "uuid", "refTable": "Z"}}}}}}});
        let e = DatabaseSchema::from_json(&bad_ref).unwrap_err();
        assert!(e.details.contains("unknown table Z"), "{e}");
        let bad_col = json!({"name": "T", "version": "1.0.0", "tables": {"A": {"columns": {"_x": {"type": "string"}}}}});
        assert!(DatabaseSchema::from_json(&bad_col).is_err());
        assert!(
            DatabaseSchema::from_json(&json!({"name": "T", "version": "1", "tables": {}})).is_err()
        );
    }

    #[test]
    fn server_schema_is_valid() {
        let s = server_schema();
        assert_eq!(s.name, "_Server");
        assert!(s.tables["Database"].column("schema").is_ok());
    }
}
