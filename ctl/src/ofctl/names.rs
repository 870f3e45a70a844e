//! Port names: the map `--names` shows and flows may use (`in_port=p1`,
//! `output:p1`), built from the switch's PORT_DESC reply.
//!
//! As in `ovs-ofctl`, a name that two ports share (or a number that two
//! names claim) is left out of the map, a displayed name that is not a
//! letter followed by letters and digits is quoted (`"veth-a"`), and a
//! quoted name is accepted in flows.
//!
//! The flow printer of `rvs-openflow` prints port numbers; [`PortNames::
//! rewrite_flow`] swaps the numbers of known ports for their names in the
//! places `ovs-ofctl --names` shows names: `in_port=`, `output:` and
//! `enqueue:`.

use std::collections::{BTreeMap, HashMap, HashSet};

use rvs_openflow::{Port, PortNo};

/// The OpenFlow 1.0 number of `NONE`, which `ovs-ofctl` also accepts.
const NONE: &str = "NONE";

/// The name ↔ number map of one switch's ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortNames {
    by_number: BTreeMap<u32, String>,
    by_name: HashMap<String, u32>,
}

impl PortNames {
    /// The map of `ports`, without names or numbers that are not unique.
    pub fn from_ports(ports: &[Port]) -> PortNames {
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut numbers: HashMap<u32, usize> = HashMap::new();
        for p in ports {
            *names.entry(p.name.as_str()).or_default() += 1;
            *numbers.entry(p.port_no.0).or_default() += 1;
        }
        let mut map = PortNames::default();
        let mut seen = HashSet::new();
        for p in ports {
            if p.name.is_empty()
                || names[p.name.as_str()] > 1
                || numbers[&p.port_no.0] > 1
                || !seen.insert(p.port_no.0)
            {
                continue;
            }
            map.by_number.insert(p.port_no.0, p.name.clone());
            map.by_name.insert(p.name.clone(), p.port_no.0);
        }
        map
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }

    /// The port called `name`, which may be quoted (`"veth-a"`).
    pub fn number(&self, name: &str) -> Option<PortNo> {
        let name = unquote(name)?;
        self.by_name.get(name.as_str()).map(|n| PortNo(*n))
    }

    /// The (unique) name of `port`.
    pub fn name(&self, port: PortNo) -> Option<&str> {
        self.by_number.get(&port.0).map(String::as_str)
    }

    /// `port` as `ovs-ofctl --names` shows it: a reserved port by its name,
    /// a named port by its (possibly quoted) name, others by number.
    pub fn format_port(&self, port: PortNo) -> String {
        if let Some(reserved) = reserved_name(port) {
            return reserved.to_string();
        }
        match self.name(port) {
            Some(name) => quote_if_needed(name),
            None => port.0.to_string(),
        }
    }

    /// `text`, one flow as `rvs-openflow` formats it (`in_port=1
    /// actions=output:2`), with port numbers replaced by names where the map
    /// has them.
    pub fn rewrite_flow(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while !rest.is_empty() {
            let found = ["in_port=", "output:", "enqueue:"]
                .iter()
                .filter_map(|key| find_key(rest, key, out.chars().last()).map(|i| (i, *key)))
                .min_by_key(|(i, _)| *i);
            let Some((i, key)) = found else {
                out.push_str(rest);
                break;
            };
            out.push_str(&rest[..i + key.len()]);
            rest = &rest[i + key.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let ends = rest[digits..]
                .chars()
                .next()
                .is_none_or(|c| matches!(c, ',' | ' ' | ')' | ':'));
            match rest[..digits].parse::<u32>() {
                Ok(n) if digits > 0 && ends => out.push_str(&self.format_port(PortNo(n))),
                _ => out.push_str(&rest[..digits]),
            }
            rest = &rest[digits..];
        }
        out
    }
}

/// The first place at or after the start of `text` where `key` begins a
/// token: at the very start (if the text before, `prev`, ends a token) or
/// after a `,`, ` `, `(` or `=` (`actions=output:1`).
fn find_key(text: &str, key: &str, prev: Option<char>) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        let before = if at == 0 {
            prev
        } else {
            text[..at].chars().last()
        };
        if before.is_none_or(|c| matches!(c, ',' | ' ' | '(' | '=')) {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

/// The names `ovs-ofctl` gives reserved ports in OpenFlow 1.3.
pub fn reserved_name(port: PortNo) -> Option<&'static str> {
    match port.0 {
        0xffff_fff7 => Some("UNSET"),
        _ => port.name(),
    }
}

/// A reserved port (`LOCAL`, `NONE`, ...), a number, or `None`.
pub fn parse_port_number(s: &str) -> Option<PortNo> {
    if s.eq_ignore_ascii_case(NONE) {
        return Some(PortNo::ANY);
    }
    if let Some(p) = PortNo::from_name(s) {
        return Some(p);
    }
    let n: u32 = s.parse().ok()?;
    Some(match n {
        // OpenFlow 1.0 numbers of the reserved ports, as ovs-ofctl takes them.
        0xfff8..=0xffff => PortNo(0xffff_0000 | n),
        _ => PortNo(n),
    })
}

/// Whether `name` must be quoted when shown (it is not a letter followed
/// by letters and digits).
fn needs_quotes(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => !chars.all(|c| c.is_ascii_alphanumeric()),
        _ => true,
    }
}

/// `name`, quoted JSON-style when [`needs_quotes`].
pub fn quote_if_needed(name: &str) -> String {
    if !needs_quotes(name) {
        return name.to_string();
    }
    let mut s = String::from('"');
    for c in name.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A name as written: bare, or in double quotes with JSON escapes.
fn unquote(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return Some(s.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_openflow::MacAddr;

    fn port(n: u32, name: &str) -> Port {
        Port {
            port_no: PortNo(n),
            hw_addr: MacAddr::ZERO,
            name: name.into(),
            config: Default::default(),
            state: Default::default(),
            curr: Default::default(),
            advertised: Default::default(),
            supported: Default::default(),
            peer: Default::default(),
            curr_speed: 0,
            max_speed: 0,
        }
    }

    #[test]
    fn duplicate_names_are_left_out() {
        let names = PortNames::from_ports(&[port(1, "p1"), port(2, "dup"), port(3, "dup")]);
        assert_eq!(names.number("p1"), Some(PortNo(1)));
        assert_eq!(names.number("dup"), None);
        assert_eq!(names.name(PortNo(3)), None);
    }

    #[test]
    fn quoting_round_trips() {
        let names = PortNames::from_ports(&[port(1, "veth-a"), port(2, "p2")]);
        assert_eq!(names.format_port(PortNo(1)), "\"veth-a\"");
        assert_eq!(names.format_port(PortNo(2)), "p2");
        assert_eq!(names.format_port(PortNo(7)), "7");
        assert_eq!(names.format_port(PortNo::LOCAL), "LOCAL");
        assert_eq!(names.number("\"veth-a\""), Some(PortNo(1)));
        assert_eq!(names.number("veth-a"), Some(PortNo(1)));
    }

    #[test]
    fn flows_show_names_where_ports_are() {
        let names = PortNames::from_ports(&[port(1, "p1"), port(2, "p2"), port(12, "x-y")]);
        assert_eq!(
            names.rewrite_flow(
                " cookie=0x0, priority=5,in_port=1,tp_src=1 actions=output:2,enqueue:12:3,write_actions(output:1),output:99"
            ),
            " cookie=0x0, priority=5,in_port=p1,tp_src=1 actions=output:p2,enqueue:\"x-y\":3,write_actions(output:p1),output:99"
        );
        assert_eq!(
            names.rewrite_flow("xin_port=1 actions=drop"),
            "xin_port=1 actions=drop"
        );
        assert_eq!(names.rewrite_flow("in_port=12"), "in_port=\"x-y\"");
    }

    #[test]
    fn port_numbers_and_reserved_names() {
        assert_eq!(parse_port_number("LOCAL"), Some(PortNo::LOCAL));
        assert_eq!(parse_port_number("none"), Some(PortNo::ANY));
        assert_eq!(parse_port_number("65534"), Some(PortNo::LOCAL));
        assert_eq!(parse_port_number("3"), Some(PortNo(3)));
        assert_eq!(parse_port_number("p1"), None);
    }
}
