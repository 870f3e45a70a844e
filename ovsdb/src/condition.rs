//! Conditions (RFC 7047 section 5.1, with Open vSwitch's extensions):
//! `[column, function, value]` triples, or literal booleans in monitor
//! requests. Ordering functions also work on optional (0 or 1) integer and
//! real columns, and are false when the column is empty.

use crate::db::Row;
use crate::error::{Error, Result};
use crate::schema::{uuid_column_type, TableSchema};
use crate::types::{Atom, AtomicType, ColumnType, Datum, NamedUuids, Uuid};
use serde_json::Value;

/// A column of a condition or a `columns` list: an explicit column or one of
/// the implicit ones.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Col {
    Uuid,
    Version,
    Explicit(usize),
}

pub fn lookup_col(ts: &TableSchema, name: &str) -> Result<(Col, ColumnType)> {
    match name {
        "_uuid" => Ok((Col::Uuid, uuid_column_type())),
        "_version" => Ok((Col::Version, uuid_column_type())),
        n => {
            let (i, c) = ts.column(n)?;
            Ok((Col::Explicit(i), c.ty.clone()))
        }
    }
}

pub fn col_value(row: &Row, c: Col) -> Datum {
    match c {
        Col::Uuid => Datum::scalar(Atom::Uuid(row.uuid)),
        Col::Version => Datum::scalar(Atom::Uuid(row.version)),
        Col::Explicit(i) => row.cols[i].clone(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Func {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
    Includes,
    Excludes,
}

/// One `[column, function, value]` condition, or a literal `true`/`false`.
#[derive(Debug, Clone)]
pub enum Cond {
    Literal(bool),
    Test { col: Col, func: Func, value: Datum },
}

fn cmp_scalar(a: &Datum, b: &Datum) -> Option<std::cmp::Ordering> {
    match (a.as_scalar()?, b.as_scalar()?) {
        (Atom::Integer(x), Atom::Integer(y)) => Some(x.cmp(y)),
        (Atom::Real(x), Atom::Real(y)) => x.partial_cmp(y),
        _ => None,
    }
}

fn includes(a: &Datum, b: &Datum) -> bool {
    match (a, b) {
        (Datum::Set(x), Datum::Set(y)) => y.is_subset(x),
        (Datum::Map(x), Datum::Map(y)) => y.iter().all(|(k, v)| x.get(k) == Some(v)),
        _ => false,
    }
}

fn excludes(a: &Datum, b: &Datum) -> bool {
    match (a, b) {
        (Datum::Set(x), Datum::Set(y)) => x.is_disjoint(y),
        (Datum::Map(x), Datum::Map(y)) => y.iter().all(|(k, v)| x.get(k) != Some(v)),
        _ => true,
    }
}

impl Cond {
    /// The UUID this condition names, if it is `_uuid == X`.
    pub fn uuid_eq(&self) -> Option<Uuid> {
        match self {
            Cond::Test {
                col: Col::Uuid,
                func: Func::Eq,
                value,
            } => match value.as_scalar() {
                Some(Atom::Uuid(u)) => Some(*u),
                _ => None,
            },
            _ => None,
        }
    }

    /// The explicit column and value, if this is `column == value`.
    pub fn eq_column(&self) -> Option<(usize, &Datum)> {
        match self {
            Cond::Test {
                col: Col::Explicit(i),
                func: Func::Eq,
                value,
            } => Some((*i, value)),
            _ => None,
        }
    }

    /// Whether `row` satisfies the condition.
    pub fn holds(&self, row: &Row) -> bool {
        let (col, func, value) = match self {
            Cond::Literal(b) => return *b,
            Cond::Test { col, func, value } => (*col, *func, value),
        };
        let implicit;
        let v = match col {
            Col::Explicit(i) => &row.cols[i],
            other => {
                implicit = col_value(row, other);
                &implicit
            }
        };
        match func {
            Func::Eq => v == value,
            Func::Ne => v != value,
            Func::Includes => includes(v, value),
            Func::Excludes => excludes(v, value),
            f => match cmp_scalar(v, value) {
                None => false,
                Some(o) => match f {
                    Func::Lt => o.is_lt(),
                    Func::Le => o.is_le(),
                    Func::Ge => o.is_ge(),
                    Func::Gt => o.is_gt(),
                    _ => unreachable!("equality functions are handled above"),
                },
            },
        }
    }
}

/// Parses a `where` array. `literals` allows `true`/`false` elements (as
/// monitor requests do).
pub fn parse_conditions(
    ts: &TableSchema,
    w: &Value,
    named: Option<&dyn NamedUuids>,
    literals: bool,
) -> Result<Vec<Cond>> {
    let w = w
        .as_array()
        .ok_or_else(|| Error::syntax("\"where\" must be an array of conditions"))?;
    let mut conds = Vec::new();
    for c in w {
        if literals {
            if let Some(b) = c.as_bool() {
                conds.push(Cond::Literal(b));
                continue;
            }
        }
        let a = c.as_array().filter(|a| a.len() == 3).ok_or_else(|| {
            Error::syntax(format!("condition {c} is not [column, function, value]"))
        })?;
        let cname = a[0]
            .as_str()
            .ok_or_else(|| Error::syntax(format!("condition {c} has no column name")))?;
        let (col, ty) = lookup_col(ts, cname)?;
        let func = match a[1].as_str().unwrap_or("") {
            "<" => Func::Lt,
            "<=" => Func::Le,
            "==" => Func::Eq,
            "!=" => Func::Ne,
            ">=" => Func::Ge,
            ">" => Func::Gt,
            "includes" => Func::Includes,
            "excludes" => Func::Excludes,
            f => return Err(Error::syntax(format!("unknown condition function {f:?}"))),
        };
        if matches!(func, Func::Lt | Func::Le | Func::Ge | Func::Gt)
            && !(matches!(ty.key.atomic, AtomicType::Integer | AtomicType::Real)
                && ty.value.is_none()
                && ty.max == 1)
        {
            return Err(Error::syntax(format!(
                "{cname}: ordering comparisons need an integer or real column of at most one value"
            )));
        }
        // The value may have any number of elements (a set to test
        // against); only the atoms' types must fit.
        let loose = ColumnType {
            min: 0,
            max: usize::MAX,
            ..ty.clone()
        };
        let value = Datum::from_json(&a[2], &loose, named)?;
        conds.push(Cond::Test { col, func, value });
    }
    Ok(conds)
}
