//! OVSDB values: UUIDs, atoms, datums, and the types that constrain them
//! (RFC 7047 sections 3.1 and 5.1).
//!
//! An [`Atom`] is one integer, real, boolean, string or UUID. A [`Datum`] is
//! what a column holds: a set of atoms, or a map from atoms to atoms; a scalar
//! column is a set of exactly one. Sets and maps are kept sorted so that two
//! equal datums compare equal and print the same.
//!
//! On the wire a set of one is written as the bare atom, other sets as
//! `["set", [...]]`, maps as `["map", [[k, v], ...]]`, and UUIDs as
//! `["uuid", "..."]`; inside a transaction a UUID may also be
//! `["named-uuid", "name"]`, resolved through the transaction's symbol table.

use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;

/// A 128-bit UUID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub u128);

static UUID_STATE: Mutex<Option<(u64, u64)>> = Mutex::new(None);

fn seed() -> (u64, u64) {
    use std::hash::{BuildHasher, Hasher};
    // std's RandomState is seeded from the operating system's randomness;
    // mixing in the time and pid guards against a poor seed.
    let s = std::collections::hash_map::RandomState::new();
    let mut h = s.build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let a = h.finish();
    h.write_u64(a);
    (a, h.finish() | 1)
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Uuid {
    /// A new random (version 4) UUID.
    pub fn random() -> Uuid {
        let mut g = UUID_STATE.lock().unwrap_or_else(|e| e.into_inner());
        let st = g.get_or_insert_with(seed);
        let hi = splitmix(&mut st.0);
        let lo = splitmix(&mut st.1);
        let mut v = ((hi as u128) << 64) | lo as u128;
        // Version 4, RFC 4122 variant.
        v = (v & !(0xf << 76)) | (0x4 << 76);
        v = (v & !(0x3 << 62)) | (0x2 << 62);
        Uuid(v)
    }

    /// Parses the 36-character text form.
    pub fn parse(s: &str) -> Option<Uuid> {
        let b = s.as_bytes();
        if b.len() != 36 {
            return None;
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let d = (c as char).to_digit(16)?;
            v = (v << 4) | d as u128;
        }
        Some(Uuid(v))
    }

    /// The UUID as an OVSDB JSON value, `["uuid", "..."]`.
    pub fn to_json(self) -> Value {
        json!(["uuid", self.to_string()])
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// The five atomic types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    /// Parses a type name.
    pub fn from_name(s: &str) -> Option<AtomicType> {
        Some(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return None,
        })
    }

    /// The type's name.
    pub fn name(self) -> &'static str {
        match self {
            AtomicType::Integer => "integer",
            AtomicType::Real => "real",
            AtomicType::Boolean => "boolean",
            AtomicType::String => "string",
            AtomicType::Uuid => "uuid",
        }
    }

    /// The type's default atom (0, 0.0, false, "", the all-zero UUID).
    pub fn default_atom(self) -> Atom {
        match self {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid(0)),
        }
    }
}

/// One value of an atomic type.
#[derive(Debug, Clone)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
        }
    }

    /// The atom's type.
    pub fn atomic_type(&self) -> AtomicType {
        match self {
            Atom::Integer(_) => AtomicType::Integer,
            Atom::Real(_) => AtomicType::Real,
            Atom::Boolean(_) => AtomicType::Boolean,
            Atom::String(_) => AtomicType::String,
            Atom::Uuid(_) => AtomicType::Uuid,
        }
    }

    /// The atom as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => {
                // A real that happens to be integral still travels as a
                // real, as Open vSwitch writes it.
                serde_json::Number::from_f64(*r)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => u.to_json(),
        }
    }

    /// Parses an atom of type `ty` from JSON. `named` resolves
    /// `["named-uuid", name]` (inside a transaction); without it a named UUID
    /// is a syntax error.
    pub fn from_json(v: &Value, ty: AtomicType, named: Option<&dyn NamedUuids>) -> Result<Atom> {
        let bad = || Error::syntax(format!("{v} is not a valid {}", ty.name()));
        Ok(match ty {
            AtomicType::Integer => Atom::Integer(v.as_i64().ok_or_else(bad)?),
            AtomicType::Real => Atom::Real(v.as_f64().ok_or_else(bad)?),
            AtomicType::Boolean => Atom::Boolean(v.as_bool().ok_or_else(bad)?),
            AtomicType::String => Atom::String(v.as_str().ok_or_else(bad)?.to_string()),
            AtomicType::Uuid => {
                let a = v.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
                let s = a[1].as_str().ok_or_else(bad)?;
                match a[0].as_str() {
                    Some("uuid") => Atom::Uuid(Uuid::parse(s).ok_or_else(bad)?),
                    Some("named-uuid") => match named {
                        Some(n) => Atom::Uuid(n.resolve(s)?),
                        None => {
                            return Err(Error::syntax(format!(
                                "named-uuid {s:?} outside a transaction"
                            )))
                        }
                    },
                    _ => return Err(bad()),
                }
            }
        })
    }
}

/// Resolves `["named-uuid", name]` inside a transaction.
pub trait NamedUuids {
    /// The UUID a `uuid-name` stands for.
    fn resolve(&self, name: &str) -> Result<Uuid>;
}

impl NamedUuids for HashMap<String, Uuid> {
    fn resolve(&self, name: &str) -> Result<Uuid> {
        self.get(name).copied().ok_or_else(|| {
            Error::syntax(format!(
                "named-uuid {name:?} is not the uuid-name of an earlier insert in this transaction"
            ))
        })
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Atom) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Atom) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Atom) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
impl std::hash::Hash for Atom {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            Atom::Integer(i) => i.hash(h),
            Atom::Real(r) => r.to_bits().hash(h),
            Atom::Boolean(b) => b.hash(h),
            Atom::String(s) => s.hash(h),
            Atom::Uuid(u) => u.hash(h),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => write!(f, "{s:?}"),
            Atom::Uuid(u) => write!(f, "{u}"),
        }
    }
}

/// Strong or weak reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefType {
    Strong,
    Weak,
}

/// An atomic type with its constraints (RFC 7047 `<base-type>`).
#[derive(Debug, Clone, PartialEq)]
pub struct BaseType {
    pub atomic: AtomicType,
    /// Allowed values, if restricted.
    pub enum_: Option<BTreeSet<Atom>>,
    pub min_integer: Option<i64>,
    pub max_integer: Option<i64>,
    pub min_real: Option<f64>,
    pub max_real: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// For UUIDs: the table referred to.
    pub ref_table: Option<String>,
    pub ref_type: RefType,
}

impl BaseType {
    /// An unconstrained base type.
    pub fn plain(atomic: AtomicType) -> BaseType {
        BaseType {
            atomic,
            enum_: None,
            min_integer: None,
            max_integer: None,
            min_real: None,
            max_real: None,
            min_length: None,
            max_length: None,
            ref_table: None,
            ref_type: RefType::Strong,
        }
    }

    /// Parses `<base-type>`: a type name or an object.
    pub fn from_json(v: &Value) -> Result<BaseType> {
        if let Some(name) = v.as_str() {
            return AtomicType::from_name(name)
                .map(BaseType::plain)
                .ok_or_else(|| Error::syntax(format!("unknown atomic type {name:?}")));
        }
        let o = v
            .as_object()
            .ok_or_else(|| Error::syntax(format!("{v} is not a base type")))?;
        let ty = o
            .get("type")
            .and_then(Value::as_str)
            .and_then(AtomicType::from_name)
            .ok_or_else(|| Error::syntax(format!("base type {v} lacks a valid \"type\"")))?;
        let mut b = BaseType::plain(ty);
        if let Some(e) = o.get("enum") {
            let d = Datum::from_json(
                e,
                &ColumnType {
                    key: BaseType::plain(ty),
                    value: None,
                    min: 0,
                    max: usize::MAX,
                },
                None,
            )?;
            b.enum_ = Some(d.keys().cloned().collect());
        }
        let int = |k: &str| o.get(k).and_then(Value::as_i64);
        let real = |k: &str| o.get(k).and_then(Value::as_f64);
        b.min_integer = int("minInteger");
        b.max_integer = int("maxInteger");
        b.min_real = real("minReal");
        b.max_real = real("maxReal");
        b.min_length = o.get("minLength").and_then(Value::as_u64);
        b.max_length = o.get("maxLength").and_then(Value::as_u64);
        b.ref_table = o.get("refTable").and_then(Value::as_str).map(String::from);
        b.ref_type = match o.get("refType").and_then(Value::as_str) {
            None | Some("strong") => RefType::Strong,
            Some("weak") => RefType::Weak,
            Some(other) => return Err(Error::syntax(format!("unknown refType {other:?}"))),
        };
        if b.ref_table.is_some() && ty != AtomicType::Uuid {
            return Err(Error::syntax("refTable is only for uuid columns"));
        }
        Ok(b)
    }

    /// Checks an atom against the constraints.
    pub fn check(&self, a: &Atom) -> Result<()> {
        if a.atomic_type() != self.atomic {
            return Err(Error::constraint(format!(
                "{a} is not of type {}",
                self.atomic.name()
            )));
        }
        if let Some(e) = &self.enum_ {
            if !e.contains(a) {
                let allowed: Vec<String> = e.iter().map(|x| x.to_string()).collect();
                return Err(Error::constraint(format!(
                    "{a} is not one of the allowed values ({})",
                    allowed.join(", ")
                )));
            }
        }
        let out_of_range = match a {
            Atom::Integer(i) => {
                self.min_integer.is_some_and(|m| *i < m) || self.max_integer.is_some_and(|m| *i > m)
            }
            Atom::Real(r) => {
                self.min_real.is_some_and(|m| *r < m) || self.max_real.is_some_and(|m| *r > m)
            }
            Atom::String(s) => {
                let n = s.chars().count() as u64;
                self.min_length.is_some_and(|m| n < m) || self.max_length.is_some_and(|m| n > m)
            }
            _ => false,
        };
        if out_of_range {
            let range = match a {
                Atom::String(_) => format!(
                    "a length of {}..={} characters",
                    self.min_length.unwrap_or(0),
                    self.max_length
                        .map_or("unlimited".into(), |m| m.to_string())
                ),
                Atom::Integer(_) => format!(
                    "the range {}..={}",
                    self.min_integer.map_or("-inf".into(), |m| m.to_string()),
                    self.max_integer.map_or("inf".into(), |m| m.to_string())
                ),
                _ => format!(
                    "the range {}..={}",
                    self.min_real.unwrap_or(f64::NEG_INFINITY),
                    self.max_real.unwrap_or(f64::INFINITY)
                ),
            };
            return Err(Error::constraint(format!("{a} is outside {range}")));
        }
        Ok(())
    }

    /// The type as schema JSON.
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("type".into(), json!(self.atomic.name()));
        if let Some(e) = &self.enum_ {
            let set: Vec<Value> = e.iter().map(Atom::to_json).collect();
            o.insert("enum".into(), json!(["set", set]));
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                o.insert(k.into(), v);
            }
        };
        put("minInteger", self.min_integer.map(|v| json!(v)));
        put("maxInteger", self.max_integer.map(|v| json!(v)));
        put("minReal", self.min_real.map(|v| json!(v)));
        put("maxReal", self.max_real.map(|v| json!(v)));
        put("minLength", self.min_length.map(|v| json!(v)));
        put("maxLength", self.max_length.map(|v| json!(v)));
        put("refTable", self.ref_table.as_ref().map(|v| json!(v)));
        if self.ref_table.is_some() && self.ref_type == RefType::Weak {
            put("refType", Some(json!("weak")));
        }
        if o.len() == 1 {
            return json!(self.atomic.name());
        }
        Value::Object(o)
    }
}

/// A column's type: key (and value, for maps) with cardinality.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    pub key: BaseType,
    pub value: Option<BaseType>,
    pub min: usize,
    /// `usize::MAX` for "unlimited".
    pub max: usize,
}

impl ColumnType {
    /// Parses `<type>`.
    pub fn from_json(v: &Value) -> Result<ColumnType> {
        if v.is_string() {
            return Ok(ColumnType {
                key: BaseType::from_json(v)?,
                value: None,
                min: 1,
                max: 1,
            });
        }
        let o = v
            .as_object()
            .ok_or_else(|| Error::syntax(format!("{v} is not a column type")))?;
        let key = BaseType::from_json(
            o.get("key")
                .ok_or_else(|| Error::syntax(format!("column type {v} has no \"key\"")))?,
        )?;
        let value = o.get("value").map(BaseType::from_json).transpose()?;
        let min = match o.get("min") {
            None => 1,
            Some(m) => m
                .as_u64()
                .filter(|m| *m <= 1)
                .ok_or_else(|| Error::syntax(format!("\"min\" must be 0 or 1, not {m}")))?
                as usize,
        };
        let max = match o.get("max") {
            None => 1,
            Some(Value::String(s)) if s == "unlimited" => usize::MAX,
            Some(m) => m.as_u64().filter(|m| *m >= 1).ok_or_else(|| {
                Error::syntax(format!(
                    "\"max\" must be a positive integer or \"unlimited\", not {m}"
                ))
            })? as usize,
        };
        if min > max {
            return Err(Error::syntax("\"min\" exceeds \"max\""));
        }
        Ok(ColumnType {
            key,
            value,
            min,
            max,
        })
    }

    /// The type as schema JSON.
    pub fn to_json(&self) -> Value {
        if self.value.is_none() && self.min == 1 && self.max == 1 && self.key.to_json().is_string()
        {
            return self.key.to_json();
        }
        let mut o = serde_json::Map::new();
        o.insert("key".into(), self.key.to_json());
        if let Some(v) = &self.value {
            o.insert("value".into(), v.to_json());
        }
        if self.min != 1 {
            o.insert("min".into(), json!(self.min));
        }
        if self.max != 1 {
            o.insert(
                "max".into(),
                if self.max == usize::MAX {
                    json!("unlimited")
                } else {
                    json!(self.max)
                },
            );
        }
        Value::Object(o)
    }

    /// Whether this is a map.
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// Whether this is a scalar (exactly one atom).
    pub fn is_scalar(&self) -> bool {
        self.value.is_none() && self.min == 1 && self.max == 1
    }

    /// Whether `d` is this type's default datum, without building one.
    pub fn is_default(&self, d: &Datum) -> bool {
        let is_default_atom = |a: &Atom, t: AtomicType| match (a, t) {
            (Atom::Integer(i), AtomicType::Integer) => *i == 0,
            (Atom::Real(r), AtomicType::Real) => *r == 0.0,
            (Atom::Boolean(b), AtomicType::Boolean) => !*b,
            (Atom::String(s), AtomicType::String) => s.is_empty(),
            (Atom::Uuid(u), AtomicType::Uuid) => u.0 == 0,
            _ => false,
        };
        if self.min == 0 {
            return d.is_empty();
        }
        match (d, &self.value) {
            (Datum::Set(s), None) => {
                s.len() == 1 && s.iter().all(|a| is_default_atom(a, self.key.atomic))
            }
            (Datum::Map(m), Some(v)) => {
                m.len() == 1
                    && m.iter().all(|(k, x)| {
                        is_default_atom(k, self.key.atomic) && is_default_atom(x, v.atomic)
                    })
            }
            _ => false,
        }
    }

    /// The default datum: the type's default atom for a scalar, else empty.
    pub fn default_datum(&self) -> Datum {
        if self.min == 1 {
            match &self.value {
                None => Datum::Set(BTreeSet::from([self.key.atomic.default_atom()])),
                Some(v) => Datum::Map(BTreeMap::from([(
                    self.key.atomic.default_atom(),
                    v.atomic.default_atom(),
                )])),
            }
        } else if self.is_map() {
            Datum::Map(BTreeMap::new())
        } else {
            Datum::Set(BTreeSet::new())
        }
    }
}

/// A column's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Datum {
    Set(BTreeSet<Atom>),
    Map(BTreeMap<Atom, Atom>),
}

impl Datum {
    /// A set of one.
    pub fn scalar(a: Atom) -> Datum {
        Datum::Set(BTreeSet::from([a]))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Datum::Set(s) => s.len(),
            Datum::Map(m) => m.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys (set elements or map keys).
    pub fn keys(&self) -> Box<dyn Iterator<Item = &Atom> + '_> {
        match self {
            Datum::Set(s) => Box::new(s.iter()),
            Datum::Map(m) => Box::new(m.keys()),
        }
    }

    /// Every atom: keys, and values for maps.
    pub fn atoms(&self) -> Box<dyn Iterator<Item = (&Atom, Option<&Atom>)> + '_> {
        match self {
            Datum::Set(s) => Box::new(s.iter().map(|a| (a, None))),
            Datum::Map(m) => Box::new(m.iter().map(|(k, v)| (k, Some(v)))),
        }
    }

    /// The single atom of a scalar.
    pub fn as_scalar(&self) -> Option<&Atom> {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }

    /// The datum as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => {
                s.iter().next().map(Atom::to_json).unwrap_or(Value::Null)
            }
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    /// Parses a datum of type `ty` (without checking cardinality or
    /// constraints: see [`Datum::check`]).
    pub fn from_json(v: &Value, ty: &ColumnType, named: Option<&dyn NamedUuids>) -> Result<Datum> {
        if let Some(vt) = &ty.value {
            let pairs = match v.as_array() {
                Some(a) if a.len() == 2 && a[0] == "map" => a[1]
                    .as_array()
                    .ok_or_else(|| Error::syntax(format!("{v} is not a valid map")))?,
                _ => {
                    return Err(Error::syntax(format!(
                        "{v} is not a map: expected [\"map\", [[key, value], ...]]"
                    )))
                }
            };
            let mut m = BTreeMap::new();
            for p in pairs {
                let kv = p
                    .as_array()
                    .filter(|kv| kv.len() == 2)
                    .ok_or_else(|| Error::syntax(format!("{p} is not a [key, value] pair")))?;
                let k = Atom::from_json(&kv[0], ty.key.atomic, named)?;
                let val = Atom::from_json(&kv[1], vt.atomic, named)?;
                if m.insert(k, val).is_some() {
                    return Err(Error::syntax(format!("map {v} has a duplicate key")));
                }
            }
            return Ok(Datum::Map(m));
        }
        match v.as_array() {
            Some(a) if a.len() == 2 && a[0] == "set" => {
                let elems = a[1]
                    .as_array()
                    .ok_or_else(|| Error::syntax(format!("{v} is not a valid set")))?;
                let mut s = BTreeSet::new();
                for e in elems {
                    if !s.insert(Atom::from_json(e, ty.key.atomic, named)?) {
                        return Err(Error::syntax(format!("set {v} has a duplicate element")));
                    }
                }
                Ok(Datum::Set(s))
            }
            _ => Ok(Datum::scalar(Atom::from_json(v, ty.key.atomic, named)?)),
        }
    }

    /// Checks cardinality and every atom's constraints against `ty`.
    pub fn check(&self, ty: &ColumnType) -> Result<()> {
        let n = self.len();
        if n < ty.min || n > ty.max {
            let max = if ty.max == usize::MAX {
                "unlimited".to_string()
            } else {
                ty.max.to_string()
            };
            return Err(Error::constraint(format!(
                "{} has {n} elements, but this column takes {} to {max}",
                self.to_json(),
                ty.min
            )));
        }
        for (k, v) in self.atoms() {
            ty.key.check(k)?;
            if let (Some(v), Some(vt)) = (v, &ty.value) {
                vt.check(v)?;
            }
        }
        Ok(())
    }

    /// The UUIDs this datum refers to through `ty`'s reference columns, with
    /// the table and strength of each reference.
    pub fn refs<'a>(
        &'a self,
        ty: &'a ColumnType,
    ) -> impl Iterator<Item = (Uuid, &'a str, RefType)> + 'a {
        self.atoms().flat_map(move |(k, v)| {
            let kr = ty.key.ref_table.as_deref().and_then(|t| match k {
                Atom::Uuid(u) => Some((*u, t, ty.key.ref_type)),
                _ => None,
            });
            let vr = match (v, &ty.value) {
                (Some(Atom::Uuid(u)), Some(vt)) => {
                    vt.ref_table.as_deref().map(|t| (*u, t, vt.ref_type))
                }
                _ => None,
            };
            kr.into_iter().chain(vr)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_round_trip_and_version() {
        let u = Uuid::random();
        let s = u.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_eq!(Uuid::parse(&s), Some(u));
        assert_eq!(Uuid::parse("not-a-uuid"), None);
        assert_ne!(Uuid::random(), Uuid::random());
    }

    #[test]
    fn datum_json_forms() {
        let set =
            ColumnType::from_json(&json!({"key": "string", "min": 0, "max": "unlimited"})).unwrap();
        let d = Datum::from_json(&json!(["set", ["b", "a"]]), &set, None).unwrap();
        assert_eq!(d.to_json(), json!(["set", ["a", "b"]]));
        let one = Datum::from_json(&json!("x"), &set, None).unwrap();
        assert_eq!(one.to_json(), json!("x"));
        let map = ColumnType::from_json(
            &json!({"key": "string", "value": "integer", "min": 0, "max": "unlimited"}),
        )
        .unwrap();
        let m = Datum::from_json(&json!(["map", [["k", 1], ["a", 2]]]), &map, None).unwrap();
        assert_eq!(m.to_json(), json!(["map", [["a", 2], ["k", 1]]]));
        assert!(Datum::from_json(&json!(["map", [["k", 1], ["k", 2]]]), &map, None).is_err());
        assert!(Datum::from_json(&json!(5), &set, None).is_err());
    }

    #[test]
    fn is_default_agrees_with_default_datum() {
        for t in [
            json!("string"),
            json!("integer"),
            json!("boolean"),
            json!("real"),
            json!("uuid"),
            json!({"key": "string", "min": 0, "max": "unlimited"}),
            json!({"key": "string", "value": "integer", "min": 0, "max": "unlimited"}),
            json!({"key": "string", "value": "integer"}),
        ] {
            let ty = ColumnType::from_json(&t).unwrap();
            assert!(ty.is_default(&ty.default_datum()), "{t}");
        }
        let s = ColumnType::from_json(&json!("string")).unwrap();
        assert!(!s.is_default(&Datum::scalar(Atom::String("x".into()))));
        let opt = ColumnType::from_json(&json!({"key": "integer", "min": 0, "max": 1})).unwrap();
        assert!(!opt.is_default(&Datum::scalar(Atom::Integer(0))));
    }

    #[test]
    fn constraints_are_checked() {
        let t = ColumnType::from_json(&json!({"key": {"type": "integer", "minInteger": 1, "maxInteger": 65279}, "min": 0, "max": 1})).unwrap();
        assert!(Datum::scalar(Atom::Integer(5)).check(&t).is_ok());
        assert!(Datum::scalar(Atom::Integer(0)).check(&t).is_err());
        assert!(Datum::Set(BTreeSet::new()).check(&t).is_ok());
        let e = ColumnType::from_json(
            &json!({"key": {"type": "string", "enum": ["set", ["internal", "tap"]]}}),
        )
        .unwrap();
        assert!(Datum::scalar(Atom::String("tap".into())).check(&e).is_ok());
        let err = Datum::scalar(Atom::String("x".into()))
            .check(&e)
            .unwrap_err();
        assert_eq!(err.name(), "constraint violation");
    }

    #[test]
    fn schema_types_round_trip() {
        for v in [
            json!("string"),
            json!({"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}),
            json!({"key": {"type": "uuid", "refTable": "Port", "refType": "weak"}, "min": 0}),
            json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}),
            json!({"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4096}),
        ] {
            let t = ColumnType::from_json(&v).unwrap();
            assert_eq!(t.to_json(), v);
        }
    }
}
