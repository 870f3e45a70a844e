//! The value syntax of the command line, as `ovs-vsctl` defines it, and the
//! same values printed back.
//!
//! Reading is directed by the column's type:
//!
//! - an atom is a quoted string in JSON syntax (`"a:b"`), or a bare word
//!   that runs to the next delimiter (`:=,[]{}!<>` or white space); a bare
//!   word is an integer, real, boolean (`true`/`false`, also
//!   `yes`/`no`/`on`/`off`/`1`/`0`), string or UUID as the type demands;
//!   a UUID may also be `@name`, a row created or fetched with `--id=@name`
//!   in the same invocation;
//! - a set is atoms separated by commas or spaces, optionally in `[...]`;
//!   `[]` is the empty set; for integer sets `1-5` is a range;
//! - a map is `key=value` pairs separated the same way, optionally in
//!   `{...}`; `{}` is the empty map;
//! - in `column:key=value` the value is one atom and takes the whole rest of
//!   the argument, so `external-ids:k=a b:c` sets the string `a b:c`.
//!
//! Printing uses the same syntax: strings are quoted only when they would
//! not read back as the same string, a column of at most one value prints
//! its value bare (or `[]`), other sets print as `[a, b]` and maps as
//! `{k=v, k2=v2}`.

use super::error::{cmd_err, Result};
use rvs_ovsdb::types::{Atom, AtomicType, BaseType, ColumnType, Datum, Uuid};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The most elements one integer range may stand for.
pub const MAX_RANGE: i64 = 4096;

/// `@name` row references of one invocation.
///
/// A name gets a placeholder UUID the first time it is used or defined.
/// `create --id=@name` makes the new row take that UUID, so references may
/// come before the row is created; `get --id=@name` binds the name to an
/// existing row and must come before any use.
#[derive(Debug, Default)]
pub struct Symbols {
    map: HashMap<String, Symbol>,
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    uuid: Uuid,
    /// Defined by `create --id` or `get --id`.
    defined: bool,
    /// Used in a value.
    used: bool,
}

impl Symbols {
    /// The UUID a use of `@name` stands for (a placeholder until defined).
    pub fn use_name(&mut self, name: &str) -> Uuid {
        let s = self.map.entry(name.to_string()).or_insert_with(|| Symbol {
            uuid: Uuid::random(),
            defined: false,
            used: false,
        });
        s.used = true;
        s.uuid
    }

    /// Defines `@name` for a row that `create` is about to insert; returns
    /// the UUID the row must take.
    pub fn define_new(&mut self, name: &str) -> Result<Uuid> {
        let s = self.map.entry(name.to_string()).or_insert_with(|| Symbol {
            uuid: Uuid::random(),
            defined: false,
            used: false,
        });
        if s.defined {
            return Err(cmd_err(format!(
                "row id \"{name}\" may only be given to one --id option"
            )));
        }
        s.defined = true;
        Ok(s.uuid)
    }

    /// Binds `@name` to an existing row (`get --id=@name`).
    pub fn define_existing(&mut self, name: &str, uuid: Uuid) -> Result<()> {
        match self.map.get(name) {
            Some(s) if s.defined => Err(cmd_err(format!(
                "row id \"{name}\" may only be given to one --id option"
            ))),
            Some(_) => Err(cmd_err(format!(
                "row id \"{name}\" is used before the get command that defines it; \
                 move \"--id={name} get ...\" before the commands that use {name}"
            ))),
            None => {
                self.map.insert(
                    name.to_string(),
                    Symbol {
                        uuid,
                        defined: true,
                        used: false,
                    },
                );
                Ok(())
            }
        }
    }

    /// The UUID of a defined `@name`, for naming a record.
    pub fn lookup_defined(&self, name: &str) -> Option<Uuid> {
        self.map.get(name).filter(|s| s.defined).map(|s| s.uuid)
    }

    /// Fails if a name was used but never defined.
    pub fn check_all_defined(&self) -> Result<()> {
        let mut undefined: Vec<&String> = self
            .map
            .iter()
            .filter(|(_, s)| s.used && !s.defined)
            .map(|(n, _)| n)
            .collect();
        undefined.sort();
        match undefined.first() {
            None => Ok(()),
            Some(n) => Err(cmd_err(format!(
                "row id \"{n}\" is referenced but never created (e.g. with \"-- --id={n} create ...\")"
            ))),
        }
    }
}

/// Whether `c` ends a bare word.
fn is_delimiter(c: char) -> bool {
    matches!(c, ':' | '=' | ',' | '[' | ']' | '{' | '}' | '!' | '<' | '>') || c.is_whitespace()
}

/// One word of a value: its text (unquoted) and whether it was quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub quoted: bool,
}

/// A cursor over one argument.
#[derive(Debug)]
pub struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A cursor at the start of `s`.
    pub fn new(s: &'a str) -> Lexer<'a> {
        Lexer { s, pos: 0 }
    }

    /// The unread rest.
    pub fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    /// The next character, unread.
    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Skips white space.
    pub fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Reads `c` if it comes next.
    pub fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Reads `s` if it comes next.
    pub fn eat_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Whether everything was read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Reads one word: a JSON string, or a bare word up to the next
    /// delimiter. `what` names what is being read, for errors.
    pub fn token(&mut self, what: &str) -> Result<Token> {
        let rest = self.rest();
        if rest.starts_with('"') {
            let end = quoted_end(rest).ok_or_else(|| {
                cmd_err(format!(
                    "{}: quoted string extends past end of argument",
                    self.s
                ))
            })?;
            let text: String = serde_json::from_str(&rest[..end]).map_err(|e| {
                cmd_err(format!(
                    "{}: bad quoted string {}: {e}",
                    self.s,
                    &rest[..end]
                ))
            })?;
            self.pos += end;
            return Ok(Token { text, quoted: true });
        }
        let end = rest
            .char_indices()
            .find(|&(_, c)| is_delimiter(c) || c == '"')
            .map_or(rest.len(), |(i, _)| i);
        if rest[end..].starts_with('"') {
            return Err(cmd_err(format!(
                "{}: a quote may only start a value; quote the whole value, as in \"a:b\"",
                self.s
            )));
        }
        if end == 0 {
            return Err(match rest.chars().next() {
                None => cmd_err(format!("{}: missing {what}", self.s)),
                Some(c) => cmd_err(format!(
                    "{}: unexpected \"{c}\" parsing {what} (quote values that contain it)",
                    self.s
                )),
            });
        }
        self.pos += end;
        Ok(Token {
            text: rest[..end].to_string(),
            quoted: false,
        })
    }
}

/// The length of the JSON string literal at the start of `s` (which starts
/// with `"`), if it is closed.
fn quoted_end(s: &str) -> Option<usize> {
    let mut escape = false;
    for (i, c) in s.char_indices().skip(1) {
        if escape {
            escape = false;
        } else if c == '\\' {
            escape = true;
        } else if c == '"' {
            return Some(i + 1);
        }
    }
    None
}

/// A description of a base type for messages: "integer", "string", ...
fn type_name(base: &BaseType) -> &'static str {
    base.atomic.name()
}

/// Reads an atom of type `base` from a word.
pub fn atom_from_token(tok: &Token, base: &BaseType, symbols: &mut Symbols) -> Result<Atom> {
    let t = tok.text.as_str();
    let atom = match base.atomic {
        AtomicType::String => Atom::String(tok.text.clone()),
        _ if tok.quoted => {
            return Err(cmd_err(format!(
                "\"{}\" is not a valid {} (only strings may be quoted)",
                escape_for_message(t),
                type_name(base)
            )))
        }
        AtomicType::Integer => Atom::Integer(
            parse_integer(t).ok_or_else(|| cmd_err(format!("\"{t}\" is not a valid integer")))?,
        ),
        AtomicType::Real => Atom::Real(
            t.parse::<f64>()
                .ok()
                .filter(|r| r.is_finite())
                .ok_or_else(|| cmd_err(format!("\"{t}\" is not a valid real number")))?,
        ),
        AtomicType::Boolean => Atom::Boolean(match t {
            "true" | "yes" | "on" | "1" => true,
            "false" | "no" | "off" | "0" => false,
            _ => {
                return Err(cmd_err(format!(
                    "\"{t}\" is not a valid boolean (use \"true\" or \"false\")"
                )))
            }
        }),
        AtomicType::Uuid => {
            if let Some(name) = t.strip_prefix('@').filter(|n| !n.is_empty()) {
                Atom::Uuid(symbols.use_name(&format!("@{name}")))
            } else {
                Atom::Uuid(Uuid::parse(t).ok_or_else(|| {
                    cmd_err(format!(
                        "\"{t}\" is not a valid UUID (use a full UUID or an @name from --id=@name)"
                    ))
                })?)
            }
        }
    };
    base.check(&atom)
        .map_err(|e| cmd_err(format!("constraint violation: {}", e.details)))?;
    Ok(atom)
}

fn escape_for_message(s: &str) -> String {
    s.replace('"', "\\\"")
}

fn parse_integer(t: &str) -> Option<i64> {
    t.parse::<i64>().ok()
}

/// An integer range `A-B` (inclusive), if `t` is one.
fn parse_range(t: &str) -> Option<Result<(i64, i64)>> {
    let dash = t.char_indices().skip(1).find(|&(_, c)| c == '-')?.0;
    let (a, b) = (parse_integer(&t[..dash])?, parse_integer(&t[dash + 1..])?);
    if b < a {
        return Some(Err(cmd_err(format!(
            "\"{t}\" is not a valid range: its end is before its start"
        ))));
    }
    if b - a >= MAX_RANGE {
        return Some(Err(cmd_err(format!(
            "\"{t}\" is too large a range: at most {MAX_RANGE} values, split it into several ranges"
        ))));
    }
    Some(Ok((a, b)))
}

/// Reads a whole value of type `ty` (a column's new value), checking the
/// number of elements.
pub fn parse_datum(s: &str, ty: &ColumnType, symbols: &mut Symbols) -> Result<Datum> {
    let d = parse_datum_loose(s, ty, symbols)?;
    check_count(s, &d, ty)?;
    Ok(d)
}

/// Checks the number of elements of a value read from `s`.
pub fn check_count(s: &str, d: &Datum, ty: &ColumnType) -> Result<()> {
    let n = d.len();
    if n > ty.max {
        return Err(cmd_err(format!(
            "{s}: {n} value(s) specified but the maximum number is {}",
            ty.max
        )));
    }
    if n < ty.min {
        return Err(cmd_err(format!(
            "{s}: {n} value(s) specified but the minimum number is {}",
            ty.min
        )));
    }
    Ok(())
}

/// Reads a value of `ty`'s key (and value) types with any number of
/// elements (for `add`, `remove` and `find`).
pub fn parse_datum_loose(s: &str, ty: &ColumnType, symbols: &mut Symbols) -> Result<Datum> {
    let mut lx = Lexer::new(s);
    lx.skip_ws();
    let d = if let Some(vt) = &ty.value {
        let braced = lx.eat('{');
        let mut m = BTreeMap::new();
        loop {
            lx.skip_ws();
            if lx.at_end() || (braced && lx.peek() == Some('}')) {
                break;
            }
            let kt = lx.token("a key")?;
            let k = atom_from_token(&kt, &ty.key, symbols)?;
            lx.skip_ws();
            if !lx.eat('=') {
                return Err(cmd_err(format!(
                    "{s}: missing \"=\" after key {} (a map is written key=value,key2=value2)",
                    atom_to_string(&k)
                )));
            }
            lx.skip_ws();
            let vtok = lx.token("a value")?;
            let v = atom_from_token(&vtok, vt, symbols)?;
            if m.insert(k.clone(), v).is_some() {
                return Err(cmd_err(format!(
                    "{s}: key {} is given twice",
                    atom_to_string(&k)
                )));
            }
            if !separator(&mut lx, s, if braced { Some('}') } else { None })? {
                break;
            }
        }
        lx.skip_ws();
        if braced && !lx.eat('}') {
            return Err(cmd_err(format!("{s}: missing \"}}\" at end of data")));
        }
        Datum::Map(m)
    } else {
        let braced = lx.eat('[');
        let mut set = BTreeSet::new();
        loop {
            lx.skip_ws();
            if lx.at_end() || (braced && lx.peek() == Some(']')) {
                break;
            }
            let t = lx.token("a value")?;
            let range = if ty.key.atomic == AtomicType::Integer && !t.quoted {
                parse_range(&t.text).transpose()?
            } else {
                None
            };
            let atoms = match range {
                Some((a, b)) => (a..=b)
                    .map(|i| {
                        let atom = Atom::Integer(i);
                        ty.key
                            .check(&atom)
                            .map_err(|e| cmd_err(format!("constraint violation: {}", e.details)))?;
                        Ok(atom)
                    })
                    .collect::<Result<Vec<_>>>()?,
                None => vec![atom_from_token(&t, &ty.key, symbols)?],
            };
            for a in atoms {
                if !set.insert(a.clone()) {
                    return Err(cmd_err(format!(
                        "{s}: value {} is given twice",
                        atom_to_string(&a)
                    )));
                }
            }
            if !separator(&mut lx, s, if braced { Some(']') } else { None })? {
                break;
            }
        }
        lx.skip_ws();
        if braced && !lx.eat(']') {
            return Err(cmd_err(format!("{s}: missing \"]\" at end of data")));
        }
        Datum::Set(set)
    };
    lx.skip_ws();
    if let Some(c) = lx.peek() {
        return Err(cmd_err(format!(
            "{s}: unexpected \"{c}\" after the value (quote values that contain it)"
        )));
    }
    Ok(d)
}

/// After an element: reads an optional comma. Returns whether another
/// element may follow (elements may be separated by white space alone).
fn separator(lx: &mut Lexer<'_>, s: &str, close: Option<char>) -> Result<bool> {
    let before = lx.pos;
    lx.skip_ws();
    let had_space = lx.pos > before;
    if lx.eat(',') {
        lx.skip_ws();
        if lx.peek() == Some(',') {
            return Err(cmd_err(format!(
                "{s}: unexpected \",\" (two commas in a row)"
            )));
        }
        return Ok(true);
    }
    match lx.peek() {
        None => Ok(false),
        Some(c) if Some(c) == close => Ok(false),
        Some(_) if had_space => Ok(true),
        Some(c) => Err(cmd_err(format!(
            "{s}: unexpected \"{c}\" after a value (quote values that contain it)"
        ))),
    }
}

/// Reads one atom that takes the whole of `s` (the value in
/// `column:key=value`, or a key given alone): a quoted string must be the
/// whole of `s`; anything else is taken literally.
pub fn parse_atom_whole(s: &str, base: &BaseType, symbols: &mut Symbols) -> Result<Atom> {
    if s.starts_with('"') {
        let mut lx = Lexer::new(s);
        let t = lx.token("a value")?;
        if !lx.at_end() {
            return Err(cmd_err(format!(
                "{s}: unexpected text after the closing quote"
            )));
        }
        return atom_from_token(&t, base, symbols);
    }
    let text = if base.atomic == AtomicType::String {
        s.to_string()
    } else {
        s.trim().to_string()
    };
    atom_from_token(
        &Token {
            text,
            quoted: false,
        },
        base,
        symbols,
    )
}

/// Whether a string must be quoted to read back as itself.
fn needs_quotes(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        None => return true,
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => return true,
        _ => {}
    }
    !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || s == "true"
        || s == "false"
        || Uuid::parse(s).is_some()
}

/// An atom as `list`, `get` and `show` print it.
pub fn atom_to_string(a: &Atom) -> String {
    match a {
        Atom::String(s) if needs_quotes(s) => {
            serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
        }
        Atom::String(s) => s.clone(),
        Atom::Real(r) => format_real(*r),
        other => other.to_string(),
    }
}

fn format_real(r: f64) -> String {
    format!("{r}")
}

/// An atom with no quoting (`--data=bare`).
pub fn atom_to_bare(a: &Atom) -> String {
    match a {
        Atom::String(s) => s.clone(),
        Atom::Real(r) => format_real(*r),
        other => other.to_string(),
    }
}

/// A column value as `list`, `get` and `show` print it.
pub fn datum_to_string(d: &Datum, ty: &ColumnType) -> String {
    match d {
        Datum::Map(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}={}", atom_to_string(k), atom_to_string(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Datum::Set(s) => {
            if ty.max == 1 && s.len() == 1 && !ty.is_map() {
                return s.iter().next().map(atom_to_string).unwrap_or_default();
            }
            let items: Vec<String> = s.iter().map(atom_to_string).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// A column value with punctuation stripped (`--data=bare`): elements
/// separated by spaces, `key=value` for maps, nothing for empty values.
pub fn datum_to_bare(d: &Datum) -> String {
    let items: Vec<String> = match d {
        Datum::Map(m) => m
            .iter()
            .map(|(k, v)| format!("{}={}", atom_to_bare(k), atom_to_bare(v)))
            .collect(),
        Datum::Set(s) => s.iter().map(atom_to_bare).collect(),
    };
    items.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty(v: serde_json::Value) -> ColumnType {
        ColumnType::from_json(&v).unwrap()
    }

    fn parse(s: &str, t: &ColumnType) -> Result<Datum> {
        parse_datum(s, t, &mut Symbols::default())
    }

    fn strings(v: &[&str]) -> Datum {
        Datum::Set(v.iter().map(|s| Atom::String(s.to_string())).collect())
    }

    fn smap(v: &[(&str, &str)]) -> Datum {
        Datum::Map(
            v.iter()
                .map(|(k, v)| (Atom::String(k.to_string()), Atom::String(v.to_string())))
                .collect(),
        )
    }

    #[test]
    fn scalars_by_type() {
        let int = ty(json!("integer"));
        assert_eq!(parse("10", &int).unwrap(), Datum::scalar(Atom::Integer(10)));
        assert_eq!(parse("+5", &int).unwrap(), Datum::scalar(Atom::Integer(5)));
        assert_eq!(parse(" 7 ", &int).unwrap(), Datum::scalar(Atom::Integer(7)));
        assert_eq!(parse("-3", &int).unwrap(), Datum::scalar(Atom::Integer(-3)));
        let e = parse("abc", &int).unwrap_err().to_string();
        assert!(e.contains("\"abc\" is not a valid integer"), "{e}");
        assert!(parse("\"5\"", &int).is_err());
        assert!(parse("0x10", &int).is_err());

        let b = ty(json!("boolean"));
        for (s, v) in [("true", true), ("yes", true), ("on", true), ("1", true)] {
            assert_eq!(parse(s, &b).unwrap(), Datum::scalar(Atom::Boolean(v)));
        }
        for s in ["false", "no", "off", "0"] {
            assert_eq!(parse(s, &b).unwrap(), Datum::scalar(Atom::Boolean(false)));
        }
        assert!(parse("True", &b).is_err());

        let r = ty(json!("real"));
        assert_eq!(parse("1.5", &r).unwrap(), Datum::scalar(Atom::Real(1.5)));

        let s = ty(json!("string"));
        assert_eq!(parse("a.b-c_d", &s).unwrap(), strings(&["a.b-c_d"]));
        assert_eq!(parse("\"a:b\"", &s).unwrap(), strings(&["a:b"]));
        assert_eq!(parse("1", &s).unwrap(), strings(&["1"]));
        assert_eq!(parse("\"\"", &s).unwrap(), strings(&[""]));
        assert_eq!(parse("[abc]", &s).unwrap(), strings(&["abc"]));
        assert_eq!(parse(" abc ", &s).unwrap(), strings(&["abc"]));
        assert_eq!(parse("\"a\\\"b\"", &s).unwrap(), strings(&["a\"b"]));
        for bad in ["tcp:1.2.3.4:6653", "a!b", "a<b", "a{b", "a\"b", "\"abc", ""] {
            assert!(parse(bad, &s).is_err(), "{bad:?} should not parse");
        }
        let e = parse("ab cd", &s).unwrap_err().to_string();
        assert!(
            e.contains("2 value(s) specified but the maximum number is 1"),
            "{e}"
        );
        let e = parse("[]", &s).unwrap_err().to_string();
        assert!(e.contains("minimum number is 1"), "{e}");
    }

    #[test]
    fn constraints_are_checked_while_reading() {
        let tag = ty(
            json!({"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 1}),
        );
        assert_eq!(parse("[]", &tag).unwrap(), Datum::Set(BTreeSet::new()));
        let e = parse("5000", &tag).unwrap_err().to_string();
        assert!(e.contains("constraint violation"), "{e}");
        let e = parse("1,2", &tag).unwrap_err().to_string();
        assert!(e.contains("maximum number is 1"), "{e}");
        let mode = ty(
            json!({"key": {"type": "string", "enum": ["set", ["secure", "standalone"]]}, "min": 0, "max": 1}),
        );
        assert!(parse("secure", &mode).is_ok());
        assert!(parse("open", &mode).is_err());
    }

    #[test]
    fn sets_and_ranges() {
        let trunks = ty(
            json!({"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4096}),
        );
        let ints = |v: &[i64]| Datum::Set(v.iter().map(|i| Atom::Integer(*i)).collect());
        assert_eq!(parse("1-5", &trunks).unwrap(), ints(&[1, 2, 3, 4, 5]));
        assert_eq!(parse("[1-3,7]", &trunks).unwrap(), ints(&[1, 2, 3, 7]));
        assert_eq!(parse("1 2 3", &trunks).unwrap(), ints(&[1, 2, 3]));
        assert_eq!(parse("1, 2,", &trunks).unwrap(), ints(&[1, 2]));
        assert_eq!(parse("[]", &trunks).unwrap(), ints(&[]));
        assert!(parse("5-1", &trunks).is_err());
        assert!(parse("1,,2", &trunks).is_err());
        assert!(parse("1,1", &trunks).is_err());
        assert!(parse("[1,2", &trunks).is_err());
        assert!(parse("0-5000", &trunks).is_err());
    }

    #[test]
    fn maps() {
        let m = ty(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
        assert_eq!(
            parse("{p=1,q=2}", &m).unwrap(),
            smap(&[("p", "1"), ("q", "2")])
        );
        assert_eq!(
            parse("{p=1 q=2}", &m).unwrap(),
            smap(&[("p", "1"), ("q", "2")])
        );
        assert_eq!(
            parse("p=1,q=2", &m).unwrap(),
            smap(&[("p", "1"), ("q", "2")])
        );
        assert_eq!(parse("{\"a\"=\"b:c\"}", &m).unwrap(), smap(&[("a", "b:c")]));
        assert_eq!(parse("{}", &m).unwrap(), smap(&[]));
        assert_eq!(parse("{a=b}  ", &m).unwrap(), smap(&[("a", "b")]));
        let e = parse("{a=b", &m).unwrap_err().to_string();
        assert!(e.contains("missing \"}\""), "{e}");
        assert!(parse("{a}", &m).is_err());
        assert!(parse("a=1,a=2", &m).is_err());
    }

    #[test]
    fn whole_atoms_take_the_rest_of_the_argument() {
        let s = BaseType::plain(AtomicType::String);
        let mut sy = Symbols::default();
        for (input, want) in [
            ("a:b", "a:b"),
            ("a=b", "a=b"),
            ("a b", "a b"),
            ("[a]", "[a]"),
            ("\"a:b\"", "a:b"),
            ("\"52:54:00:00:00:01\"", "52:54:00:00:00:01"),
            ("\"\"", ""),
        ] {
            assert_eq!(
                parse_atom_whole(input, &s, &mut sy).unwrap(),
                Atom::String(want.into()),
                "{input}"
            );
        }
        assert!(parse_atom_whole("\"a\" b", &s, &mut sy).is_err());
        let i = BaseType::plain(AtomicType::Integer);
        assert_eq!(
            parse_atom_whole(" 42", &i, &mut sy).unwrap(),
            Atom::Integer(42)
        );
    }

    #[test]
    fn uuids_and_symbols() {
        let r =
            ty(json!({"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}));
        let mut sy = Symbols::default();
        let d = parse_datum("@p1,@p2", &r, &mut sy).unwrap();
        assert_eq!(d.len(), 2);
        let e = sy.check_all_defined().unwrap_err().to_string();
        assert!(e.contains("\"@p1\" is referenced but never created"), "{e}");
        let u1 = sy.define_new("@p1").unwrap();
        assert!(d.keys().any(|a| *a == Atom::Uuid(u1)));
        assert!(sy.define_new("@p1").is_err());
        sy.define_existing("@p3", Uuid(7)).unwrap();
        assert!(sy.define_existing("@p2", Uuid(8)).is_err());
        let _ = sy.define_new("@p2").unwrap();
        sy.check_all_defined().unwrap();
        let u = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
        assert_eq!(
            parse_datum(u, &r, &mut sy).unwrap(),
            Datum::scalar(Atom::Uuid(Uuid::parse(u).unwrap()))
        );
        assert!(parse_datum("nope", &r, &mut sy).is_err());
    }

    #[test]
    fn printing() {
        let s = ty(json!("string"));
        let one = |x: &str| datum_to_string(&strings(&[x]), &s);
        assert_eq!(one("br0"), "br0");
        assert_eq!(one("a.b-c_d"), "a.b-c_d");
        assert_eq!(one("br 1"), "\"br 1\"");
        assert_eq!(one("3.1.0"), "\"3.1.0\"");
        assert_eq!(one("tcp:1.2.3.4:6653"), "\"tcp:1.2.3.4:6653\"");
        assert_eq!(one(""), "\"\"");
        assert_eq!(one("true"), "\"true\"");
        assert_eq!(one("a\"b"), "\"a\\\"b\"");
        assert_eq!(
            one("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
            "\"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\""
        );
        let opt = ty(json!({"key": "integer", "min": 0, "max": 1}));
        assert_eq!(datum_to_string(&Datum::Set(BTreeSet::new()), &opt), "[]");
        assert_eq!(
            datum_to_string(&Datum::scalar(Atom::Integer(10)), &opt),
            "10"
        );
        let many = ty(json!({"key": "integer", "min": 0, "max": "unlimited"}));
        assert_eq!(
            datum_to_string(&Datum::scalar(Atom::Integer(10)), &many),
            "[10]"
        );
        let m = ty(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
        let d = smap(&[("a", "1"), ("remote_ip", "1.1.1.1"), ("foo", "bar")]);
        assert_eq!(
            datum_to_string(&d, &m),
            "{a=\"1\", foo=bar, remote_ip=\"1.1.1.1\"}"
        );
        assert_eq!(datum_to_bare(&d), "a=1 foo=bar remote_ip=1.1.1.1");
        assert_eq!(datum_to_string(&smap(&[]), &m), "{}");
    }

    #[test]
    fn printed_values_read_back() {
        let m = ty(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
        let d = smap(&[("a b", "c:d"), ("e", "\"q\""), ("", "true"), ("x", "1")]);
        let text = datum_to_string(&d, &m);
        assert_eq!(parse(&text, &m).unwrap(), d, "{text}");
    }
}
