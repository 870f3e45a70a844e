//! OpenFlow messages as text, the way `ovs-ofctl -O OpenFlow13` prints
//! them (Open vSwitch's `ofp_to_string` at verbosity 1), so that scripts
//! written against `ovs-ofctl` read `rvs-ofctl` alike.
//!
//! [`message_to_string`] takes the bytes of one message and, like
//! `ofp_to_string`, reports lengths that disagree with the header
//! (truncated, trailing bytes) with a hex dump instead of decoding. The
//! messages `rvs-ofctl` receives are printed in full: FEATURES_REPLY,
//! GET_CONFIG_REPLY, ERROR (with the request it quotes), ECHO, HELLO and
//! the DESC, FLOW, AGGREGATE, TABLE, PORT and PORT_DESC multipart replies;
//! so are the requests an ERROR may quote (FLOW_MOD, the multipart
//! requests, BARRIER, …). A message outside that set prints its header
//! line and a hex dump of the whole message.
//!
//! Flows themselves are printed by `rvs-openflow`'s flow syntax module;
//! [`PortNames`] puts port names in where `--names` asks for them.
//!
//! `ctl/tests/ofctl.rs` compares every printer here with the real
//! `ovs-ofctl ofp-print` on messages encoded by `rvs-openflow`.

use std::fmt::Write;

use rvs_openflow::flow_syntax::{
    format_actions, format_flow_stats, format_match, FlowFormatOptions,
};
use rvs_openflow::multipart::MultipartType;
use rvs_openflow::types::{table, DEFAULT_PRIORITY, NO_BUFFER};
use rvs_openflow::{
    ErrorMsg, ErrorType, FlowMod, FlowModCommand, FlowModFlags, FlowStatsRequest, Hello,
    Instruction, Message, MessageBody, MsgType, MultipartFlags, MultipartReply, MultipartReplyBody,
    MultipartRequest, MultipartRequestBody, OfError, PacketOut, Port, PortNo, PortStats,
    SwitchConfig, SwitchFeatures, TableStats,
};

use super::names::{reserved_name, PortNames};

/// What the printers need besides the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintContext<'a> {
    /// Show these port names instead of numbers (`--names`).
    pub ports: Option<&'a PortNames>,
}

impl PrintContext<'_> {
    fn port(&self, port: PortNo) -> String {
        match self.ports {
            Some(names) => names.format_port(port),
            None => port_to_string(port),
        }
    }

    fn flow(&self, text: String) -> String {
        match self.ports {
            Some(names) => names.rewrite_flow(&text),
            None => text,
        }
    }
}

/// A port number as `ovs-ofctl` shows it: reserved ports by name.
pub fn port_to_string(port: PortNo) -> String {
    reserved_name(port).map_or_else(|| port.0.to_string(), str::to_string)
}

/// The message in `bytes` as `ovs-ofctl` prints it, ending in a newline.
pub fn message_to_string(bytes: &[u8], ctx: &PrintContext<'_>) -> String {
    let mut s = String::new();
    if bytes.is_empty() {
        s.push_str("OpenFlow message is empty\n");
        return s;
    }
    if bytes.len() < 8 {
        let _ = writeln!(s, "OpenFlow packet too short (only {} bytes):", bytes.len());
        hex_dump(&mut s, bytes);
        return s;
    }
    let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if length > bytes.len() {
        if let Some(name) = raw_name(bytes) {
            s.push_str(&name);
            put_version_and_xid(&mut s, bytes);
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "(***truncated to {} bytes from {}***)",
            bytes.len(),
            length
        );
        hex_dump(&mut s, bytes);
        return s;
    }
    if length < bytes.len() {
        let _ = writeln!(
            s,
            "(***only uses {} bytes out of {}***)",
            length,
            bytes.len()
        );
        hex_dump(&mut s, bytes);
        return s;
    }
    let Some(name) = raw_name(bytes) else {
        let _ = writeln!(s, "***decode error: {}***", decode_error_name(bytes));
        hex_dump(&mut s, bytes);
        return s;
    };
    s.push_str(&name);
    put_version_and_xid(&mut s, bytes);
    let header_len = s.len();
    let body = Message::parse(bytes)
        .map_err(|e| ovs_error_name(e.code().kind, e.code().code).unwrap_or("OFPBRC_BAD_LEN"))
        .and_then(|msg| format_body(&mut s, &msg, ctx).map(|()| msg));
    match body {
        Ok(_) => {
            chomp(&mut s, ' ');
            add_newline(&mut s);
        }
        Err(error) => {
            if s.len() > header_len {
                chomp(&mut s, ' ');
                add_newline(&mut s);
            } else {
                s.push(' ');
            }
            let _ = writeln!(s, "***decode error: {error}***");
            hex_dump(&mut s, bytes);
        }
    }
    s
}

/// The decoded message as `ovs-ofctl` prints it.
pub fn to_string(msg: &Message, ctx: &PrintContext<'_>) -> String {
    match msg.to_bytes() {
        Ok(bytes) => message_to_string(&bytes, ctx),
        Err(e) => format!("(message cannot be encoded: {e})\n"),
    }
}

fn chomp(s: &mut String, c: char) {
    if s.ends_with(c) {
        s.pop();
    }
}

fn add_newline(s: &mut String) {
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
}

fn put_version_and_xid(s: &mut String, bytes: &[u8]) {
    match bytes[0] {
        1 => {}
        2 => s.push_str(" (OF1.1)"),
        3 => s.push_str(" (OF1.2)"),
        4 => s.push_str(" (OF1.3)"),
        5 => s.push_str(" (OF1.4)"),
        6 => s.push_str(" (OF1.5)"),
        v => {
            let _ = write!(s, " (OF 0x{v:02x})");
        }
    }
    let xid = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let _ = write!(s, " (xid={xid:#x}):");
}

/// Why `raw_name` found no name, as `ovs-ofctl` words it.
fn decode_error_name(bytes: &[u8]) -> &'static str {
    match bytes[0] {
        4 => match MsgType::from(bytes[1]) {
            MsgType::Unknown(_) => "OFPBRC_BAD_TYPE",
            MsgType::Experimenter => "OFPBRC_BAD_VENDOR",
            MsgType::MultipartRequest | MsgType::MultipartReply if bytes.len() < 16 => {
                "OFPBRC_BAD_LEN"
            }
            _ => "OFPBRC_BAD_STAT",
        },
        _ => "OFPBRC_BAD_VERSION",
    }
}

/// The name Open vSwitch gives the message in the header line
/// (`OFPT_FLOW_MOD`, `OFPST_FLOW reply`), or `None` if it does not know
/// the message (another version, an unknown type).
fn raw_name(bytes: &[u8]) -> Option<String> {
    if bytes[0] != 4 {
        return None;
    }
    let msg_type = MsgType::from(bytes[1]);
    match msg_type {
        MsgType::Unknown(_) | MsgType::Experimenter => None,
        MsgType::MultipartRequest | MsgType::MultipartReply => {
            let mp = bytes.get(8..10)?;
            let name = multipart_name(MultipartType::from(u16::from_be_bytes([mp[0], mp[1]])))?;
            let dir = if msg_type == MsgType::MultipartRequest {
                "request"
            } else {
                "reply"
            };
            Some(format!("OFPST_{name} {dir}"))
        }
        other => Some(format!("OFPT_{}", other.name())),
    }
}

fn multipart_name(mp: MultipartType) -> Option<&'static str> {
    Some(match mp {
        MultipartType::Desc => "DESC",
        MultipartType::Flow => "FLOW",
        MultipartType::Aggregate => "AGGREGATE",
        MultipartType::Table => "TABLE",
        MultipartType::PortStats => "PORT",
        MultipartType::Queue => "QUEUE",
        MultipartType::Group => "GROUP",
        MultipartType::GroupDesc => "GROUP_DESC",
        MultipartType::GroupFeatures => "GROUP_FEATURES",
        MultipartType::Meter => "METER",
        MultipartType::MeterConfig => "METER_CONFIG",
        MultipartType::MeterFeatures => "METER_FEATURES",
        MultipartType::TableFeatures => "TABLE_FEATURES",
        MultipartType::PortDesc => "PORT_DESC",
        MultipartType::Experimenter | MultipartType::Unknown(_) => return None,
    })
}

/// Appends the text after the header line's colon. `Err` carries the name
/// of a decode error.
fn format_body(s: &mut String, msg: &Message, ctx: &PrintContext<'_>) -> Result<(), &'static str> {
    match &msg.body {
        MessageBody::Hello(hello) => format_hello(s, hello),
        MessageBody::Error(error) => format_error(s, error, ctx)?,
        MessageBody::EchoRequest(data) | MessageBody::EchoReply(data) => {
            let _ = writeln!(s, " {} bytes of payload", data.len());
        }
        MessageBody::FeaturesReply(features) => format_features(s, features),
        MessageBody::GetConfigReply(config) | MessageBody::SetConfig(config) => {
            format_config(s, config)
        }
        MessageBody::FlowMod(fm) => format_flow_mod(s, fm, ctx),
        MessageBody::MultipartRequest(request) => {
            if !format_multipart_request(s, request, ctx) {
                hex_body(s, msg);
            }
        }
        MessageBody::MultipartReply(reply) => {
            if !format_multipart_reply(s, reply, ctx) {
                hex_body(s, msg);
            }
        }
        MessageBody::PacketOut(po) => format_packet_out(s, po, ctx),
        MessageBody::FeaturesRequest
        | MessageBody::GetConfigRequest
        | MessageBody::BarrierRequest
        | MessageBody::BarrierReply => {}
        // Messages rvs-ofctl does not print (PACKET_IN, PORT_STATUS, ...):
        // their bytes.
        _ => hex_body(s, msg),
    }
    Ok(())
}

/// A message rvs-ofctl does not print: its bytes on the lines after the
/// header.
fn hex_body(s: &mut String, msg: &Message) {
    s.push('\n');
    if let Ok(bytes) = msg.to_bytes() {
        hex_dump(s, &bytes);
    }
}

fn format_hello(s: &mut String, hello: &Hello) {
    s.push_str("\n version bitmap: ");
    let bitmap = hello
        .version_bitmap()
        .and_then(|b| b.first().copied())
        .unwrap_or(0);
    let versions: Vec<String> = (0..32)
        .filter(|v| bitmap & (1 << v) != 0)
        .map(|v| format!("0x{v:02x}"))
        .collect();
    s.push_str(&versions.join(", "));
}

// ---------------------------------------------------------------------------
// ERROR

/// The name Open vSwitch gives an OpenFlow 1.3 error (type, code), e.g.
/// `OFPFMFC_BAD_COMMAND`. Open vSwitch's names follow OpenFlow 1.0 where
/// the specification renamed a code (`OFPBRC_BAD_STAT`, not
/// `OFPBRC_BAD_MULTIPART`).
pub fn ovs_error_name(kind: ErrorType, code: u16) -> Option<&'static str> {
    let names: &[&str] = match kind {
        ErrorType::HelloFailed => &["OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"],
        ErrorType::BadRequest => &[
            "OFPBRC_BAD_VERSION",
            "OFPBRC_BAD_TYPE",
            "OFPBRC_BAD_STAT",
            "OFPBRC_BAD_VENDOR",
            "OFPBRC_BAD_SUBTYPE",
            "OFPBRC_EPERM",
            "OFPBRC_BAD_LEN",
            "OFPBRC_BUFFER_EMPTY",
            "OFPBRC_BUFFER_UNKNOWN",
            "OFPBRC_BAD_TABLE_ID",
            "OFPBRC_IS_SECONDARY",
            "OFPBRC_BAD_PORT",
            "OFPBRC_BAD_PACKET",
            "OFPBRC_MULTIPART_BUFFER_OVERFLOW",
        ],
        ErrorType::BadAction => &[
            "OFPBAC_BAD_TYPE",
            "OFPBAC_BAD_LEN",
            "OFPBAC_BAD_VENDOR",
            "OFPBAC_BAD_VENDOR_TYPE",
            "OFPBAC_BAD_OUT_PORT",
            "OFPBAC_BAD_ARGUMENT",
            "OFPBAC_EPERM",
            "OFPBAC_TOO_MANY",
            "OFPBAC_BAD_QUEUE",
            "OFPBAC_BAD_OUT_GROUP",
            "OFPBAC_MATCH_INCONSISTENT",
            "OFPBAC_UNSUPPORTED_ORDER",
            "OFPBAC_BAD_TAG",
            "OFPBAC_BAD_SET_TYPE",
            "OFPBAC_BAD_SET_LEN",
            "OFPBAC_BAD_SET_ARGUMENT",
        ],
        ErrorType::BadInstruction => &[
            "OFPBIC_UNKNOWN_INST",
            "OFPBIC_UNSUP_INST",
            "OFPBIC_BAD_TABLE_ID",
            "OFPBIC_UNSUP_METADATA",
            "OFPBIC_UNSUP_METADATA_MASK",
            "OFPBIC_BAD_EXPERIMENTER",
            "OFPBIC_BAD_EXP_TYPE",
            "OFPBIC_BAD_LEN",
            "OFPBIC_EPERM",
        ],
        ErrorType::BadMatch => &[
            "OFPBMC_BAD_TYPE",
            "OFPBMC_BAD_LEN",
            "OFPBMC_BAD_TAG",
            "OFPBMC_BAD_DL_ADDR_MASK",
            "OFPBMC_BAD_NW_ADDR_MASK",
            "OFPBMC_BAD_WILDCARDS",
            "OFPBMC_BAD_FIELD",
            "OFPBMC_BAD_VALUE",
            "OFPBMC_BAD_MASK",
            "OFPBMC_BAD_PREREQ",
            "OFPBMC_DUP_FIELD",
            "OFPBMC_EPERM",
        ],
        ErrorType::FlowModFailed => &[
            "OFPFMFC_UNKNOWN",
            "OFPFMFC_TABLE_FULL",
            "OFPFMFC_BAD_TABLE_ID",
            "OFPFMFC_OVERLAP",
            "OFPFMFC_EPERM",
            "OFPFMFC_BAD_TIMEOUT",
            "OFPFMFC_BAD_COMMAND",
            "OFPFMFC_BAD_FLAGS",
        ],
        ErrorType::GroupModFailed => &[
            "OFPGMFC_GROUP_EXISTS",
            "OFPGMFC_INVALID_GROUP",
            "OFPGMFC_WEIGHT_UNSUPPORTED",
            "OFPGMFC_OUT_OF_GROUPS",
            "OFPGMFC_OUT_OF_BUCKETS",
            "OFPGMFC_CHAINING_UNSUPPORTED",
            "OFPGMFC_WATCH_UNSUPPORTED",
            "OFPGMFC_LOOP",
            "OFPGMFC_UNKNOWN_GROUP",
            "OFPGMFC_CHAINED_GROUP",
            "OFPGMFC_BAD_TYPE",
            "OFPGMFC_BAD_COMMAND",
            "OFPGMFC_BAD_BUCKET",
            "OFPGMFC_BAD_WATCH",
            "OFPGMFC_EPERM",
        ],
        ErrorType::PortModFailed => &[
            "OFPPMFC_BAD_PORT",
            "OFPPMFC_BAD_HW_ADDR",
            "OFPPMFC_BAD_CONFIG",
            "OFPPMFC_BAD_ADVERTISE",
            "OFPPMFC_EPERM",
        ],
        ErrorType::TableModFailed => &["OFPTMFC_BAD_TABLE", "OFPTMFC_BAD_CONFIG", "OFPTMFC_EPERM"],
        ErrorType::QueueOpFailed => &["OFPQOFC_BAD_PORT", "OFPQOFC_BAD_QUEUE", "OFPQOFC_EPERM"],
        ErrorType::SwitchConfigFailed => &["OFPSCFC_BAD_FLAGS", "OFPSCFC_BAD_LEN", "OFPSCFC_EPERM"],
        ErrorType::RoleRequestFailed => &["OFPRRFC_STALE", "OFPRRFC_UNSUP", "OFPRRFC_BAD_ROLE"],
        ErrorType::MeterModFailed => &[
            "OFPMMFC_UNKNOWN",
            "OFPMMFC_METER_EXISTS",
            "OFPMMFC_INVALID_METER",
            "OFPMMFC_UNKNOWN_METER",
            "OFPMMFC_BAD_COMMAND",
            "OFPMMFC_BAD_FLAGS",
            "OFPMMFC_BAD_RATE",
            "OFPMMFC_BAD_BURST",
            "OFPMMFC_BAD_BAND",
            "OFPMMFC_BAD_BAND_VALUE",
            "OFPMMFC_OUT_OF_METERS",
            "OFPMMFC_OUT_OF_BANDS",
        ],
        ErrorType::TableFeaturesFailed => &[
            "OFPTFFC_BAD_TABLE",
            "OFPTFFC_BAD_METADATA",
            "OFPBPC_BAD_TYPE",
            "OFPBPC_BAD_LEN",
            "OFPBPC_BAD_VALUE",
            "OFPTFFC_EPERM",
        ],
        ErrorType::Experimenter | ErrorType::Unknown(_) => &[],
    };
    names.get(usize::from(code)).copied()
}

fn format_error(
    s: &mut String,
    error: &ErrorMsg,
    ctx: &PrintContext<'_>,
) -> Result<(), &'static str> {
    let name = ovs_error_name(error.code.kind, error.code.code).ok_or("OFPBRC_BAD_LEN")?;
    let _ = writeln!(s, " {name}");
    if error.code.kind == ErrorType::HelloFailed {
        for &c in &error.data {
            if !(0x20..=0x7e).contains(&c) || c == b'\\' || c == b'"' {
                let _ = write!(s, "\\{c:03o}");
            } else {
                s.push(char::from(c));
            }
        }
    } else {
        s.push_str(&message_to_string(&error.data, ctx));
    }
    Ok(())
}

/// A short description of an ERROR for messages: `OFPBMC_BAD_PREREQ`
/// or the numbers.
pub fn error_summary(error: &ErrorMsg) -> String {
    ovs_error_name(error.code.kind, error.code.code)
        .map_or_else(|| error.code.to_string(), str::to_string)
}

/// An [`OfError`] as a short phrase naming its OpenFlow error.
pub fn of_error_summary(error: &OfError) -> String {
    let code = error.code();
    match ovs_error_name(code.kind, code.code) {
        Some(name) => format!("{error} ({name})"),
        None => error.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Switch features and configuration

fn bit_names(s: &mut String, bits: u32, name: impl Fn(u32) -> Option<&'static str>, sep: char) {
    if bits == 0 {
        s.push('0');
        return;
    }
    let mut rest = bits;
    let mut n = 0;
    for i in 0..32 {
        let bit = 1u32 << i;
        if bits & bit != 0 {
            if let Some(nm) = name(bit) {
                if n > 0 {
                    s.push(sep);
                }
                n += 1;
                s.push_str(nm);
                rest &= !bit;
            }
        }
    }
    if rest != 0 {
        if n > 0 {
            s.push(sep);
        }
        let _ = write!(s, "{rest:#x}");
    }
}

fn format_features(s: &mut String, f: &SwitchFeatures) {
    let _ = writeln!(s, " dpid:{:016x}", f.datapath_id);
    let _ = write!(s, "n_tables:{}, n_buffers:{}", f.n_tables, f.n_buffers);
    if f.auxiliary_id != 0 {
        let _ = write!(s, ", auxiliary_id:{}", f.auxiliary_id);
    }
    s.push('\n');
    // Open vSwitch's own bit numbers: GROUP_STATS moves from bit 3 to 4.
    let wire = f.capabilities.bits();
    let mut caps = wire & (0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0x100);
    if wire & 0x8 != 0 {
        caps |= 0x10;
    }
    s.push_str("capabilities: ");
    bit_names(
        s,
        caps,
        |bit| {
            Some(match bit {
                0x1 => "FLOW_STATS",
                0x2 => "TABLE_STATS",
                0x4 => "PORT_STATS",
                0x10 => "GROUP_STATS",
                0x20 => "IP_REASM",
                0x40 => "QUEUE_STATS",
                0x100 => "PORT_BLOCKED",
                _ => return None,
            })
        },
        ' ',
    );
    s.push('\n');
}

fn format_config(s: &mut String, c: &SwitchConfig) {
    let frags = match c.flags.bits() & 3 {
        0 => "normal",
        1 => "drop",
        2 => "reassemble",
        _ => "nx-match",
    };
    let _ = writeln!(s, " frags={frags} miss_send_len={}", c.miss_send_len);
}

// ---------------------------------------------------------------------------
// Ports

/// A port number squeezed into Open vSwitch's 16-bit space, which is how
/// `ovs-ofctl` sorts ports and pads port statistics.
fn port_u16(port: PortNo) -> u32 {
    if port.0 >= 0xffff_ff00 {
        port.0 - 0xffff_0000
    } else {
        port.0
    }
}

fn format_port_desc(s: &mut String, p: &Port) {
    let name: String = p
        .name
        .chars()
        .take_while(|c| (' '..='~').contains(c))
        .collect();
    let _ = writeln!(
        s,
        " {}({}): addr:{}",
        port_to_string(p.port_no),
        name,
        p.hw_addr
    );
    s.push_str("     config:     ");
    bit_names(
        s,
        p.config.bits() & 0x65,
        |bit| {
            Some(match bit {
                0x1 => "PORT_DOWN",
                0x4 => "NO_RECV",
                0x20 => "NO_FWD",
                0x40 => "NO_PACKET_IN",
                _ => return None,
            })
        },
        ' ',
    );
    s.push('\n');
    s.push_str("     state:      ");
    bit_names(
        s,
        p.state.bits() & 0x7,
        |bit| {
            Some(match bit {
                0x1 => "LINK_DOWN",
                0x2 => "BLOCKED",
                0x4 => "LIVE",
                _ => return None,
            })
        },
        ' ',
    );
    s.push('\n');
    for (label, features) in [
        ("current:    ", p.curr),
        ("advertised: ", p.advertised),
        ("supported:  ", p.supported),
        ("peer:       ", p.peer),
    ] {
        let bits = features.bits() & 0xffff;
        if bits != 0 {
            let _ = write!(s, "     {label}");
            bit_names(s, bits, feature_name, ' ');
            s.push('\n');
        }
    }
    let _ = writeln!(
        s,
        "     speed: {} Mbps now, {} Mbps max",
        p.curr_speed / 1000,
        p.max_speed / 1000
    );
}

fn feature_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x1 => "10MB-HD",
        0x2 => "10MB-FD",
        0x4 => "100MB-HD",
        0x8 => "100MB-FD",
        0x10 => "1GB-HD",
        0x20 => "1GB-FD",
        0x40 => "10GB-FD",
        0x80 => "40GB-FD",
        0x100 => "100GB-FD",
        0x200 => "1TB-FD",
        0x400 => "OTHER",
        0x800 => "COPPER",
        0x1000 => "FIBER",
        0x2000 => "AUTO_NEG",
        0x4000 => "AUTO_PAUSE",
        0x8000 => "AUTO_PAUSE_ASYM",
        _ => return None,
    })
}

/// Port descriptions sorted by port number, as `show` and
/// `dump-ports-desc` list them.
fn format_ports(s: &mut String, ports: &[Port]) {
    let mut sorted: Vec<&Port> = ports.iter().collect();
    sorted.sort_by_key(|p| port_u16(p.port_no));
    for p in sorted {
        format_port_desc(s, p);
    }
}

fn stat(s: &mut String, label: &str, value: u64, more: bool) {
    s.push_str(label);
    if value == u64::MAX {
        s.push('?');
    } else {
        let _ = write!(s, "{value}");
    }
    s.push_str(if more { ", " } else { "\n" });
}

fn format_port_stats(s: &mut String, p: &PortStats, ctx: &PrintContext<'_>) {
    s.push_str("  port ");
    if port_u16(p.port_no) < 10 {
        s.push(' ');
    }
    s.push_str(&ctx.port(p.port_no));
    s.push_str(": rx ");
    stat(s, "pkts=", p.rx_packets, true);
    stat(s, "bytes=", p.rx_bytes, true);
    stat(s, "drop=", p.rx_dropped, true);
    stat(s, "errs=", p.rx_errors, true);
    stat(s, "frame=", p.rx_frame_err, true);
    stat(s, "over=", p.rx_over_err, true);
    stat(s, "crc=", p.rx_crc_err, false);
    s.push_str("           tx ");
    stat(s, "pkts=", p.tx_packets, true);
    stat(s, "bytes=", p.tx_bytes, true);
    stat(s, "drop=", p.tx_dropped, true);
    stat(s, "errs=", p.tx_errors, true);
    stat(s, "coll=", p.collisions, false);
    if p.duration_sec != u32::MAX {
        let _ = writeln!(
            s,
            "           duration={}",
            duration(p.duration_sec, p.duration_nsec)
        );
    }
}

/// Seconds as `ovs-ofctl` prints a duration: `5s`, `1.500s`, `2.0001234s`.
pub fn duration(sec: u32, nsec: u32) -> String {
    let mut d = sec.to_string();
    if nsec > 0 {
        if nsec % 1_000_000 == 0 {
            let _ = write!(d, ".{:03}", nsec / 1_000_000);
        } else {
            let frac = format!("{nsec:09}");
            d.push('.');
            d.push_str(frac.trim_end_matches('0'));
        }
    }
    d.push('s');
    d
}

// ---------------------------------------------------------------------------
// Tables

/// The TABLE statistics as `ovs-ofctl dump-tables` prints them: a table
/// whose counters equal the previous table's is folded into a `ditto` line.
fn format_table_stats(s: &mut String, tables: &[TableStats]) {
    let mut ditto: Option<(u8, u8)> = None;
    let finish = |s: &mut String, ditto: &mut Option<(u8, u8)>| {
        if let Some((first, last)) = ditto.take() {
            if first == last {
                let _ = writeln!(s, "\n  table {first}: ditto");
            } else {
                let _ = writeln!(s, "\n  tables {first}...{last}: ditto");
            }
        }
    };
    let mut prev: Option<&TableStats> = None;
    for t in tables {
        let same = prev.is_some_and(|p| {
            p.active_count == t.active_count
                && p.lookup_count == t.lookup_count
                && p.matched_count == t.matched_count
        });
        if same {
            ditto = Some(ditto.map_or((t.table_id, t.table_id), |(f, _)| (f, t.table_id)));
        } else {
            finish(s, &mut ditto);
            let _ = write!(
                s,
                "\n  table {}:\n    active={}, lookup={}, matched={}\n",
                t.table_id, t.active_count, t.lookup_count, t.matched_count
            );
        }
        prev = Some(t);
    }
    finish(s, &mut ditto);
}

// ---------------------------------------------------------------------------
// Flows

fn format_flow_mod(s: &mut String, fm: &FlowMod, ctx: &PrintContext<'_>) {
    s.push(' ');
    match fm.command {
        FlowModCommand::Add => s.push_str("ADD"),
        FlowModCommand::Modify => s.push_str("MOD"),
        FlowModCommand::ModifyStrict => s.push_str("MOD_STRICT"),
        FlowModCommand::Delete => s.push_str("DEL"),
        FlowModCommand::DeleteStrict => s.push_str("DEL_STRICT"),
        FlowModCommand::Unknown(c) => {
            let _ = write!(s, "cmd:{c}");
        }
    }
    if fm.table_id != 0 {
        let _ = write!(s, " table:{}", fm.table_id);
    }
    s.push(' ');
    let mut m = String::new();
    if fm.priority != DEFAULT_PRIORITY {
        let _ = write!(m, "priority={},", fm.priority);
    }
    m.push_str(&format_match(&fm.match_));
    chomp(&mut m, ',');
    s.push_str(&ctx.flow(m));
    if !s.ends_with(' ') {
        s.push(' ');
    }
    let adds = fm.command == FlowModCommand::Add;
    if adds && fm.cookie != 0 && fm.cookie != u64::MAX {
        let _ = write!(s, "cookie:{:#x} ", fm.cookie);
    }
    if !adds && fm.cookie_mask != 0 {
        let _ = write!(s, "cookie:{:#x}/{:#x} ", fm.cookie, fm.cookie_mask);
    }
    if fm.idle_timeout != 0 {
        let _ = write!(s, "idle:{} ", fm.idle_timeout);
    }
    if fm.hard_timeout != 0 {
        let _ = write!(s, "hard:{} ", fm.hard_timeout);
    }
    if fm.buffer_id != u32::MAX {
        let _ = write!(s, "buf:{:#x} ", fm.buffer_id);
    }
    if fm.out_port != PortNo::ANY {
        let _ = write!(s, "out_port:{} ", ctx.port(fm.out_port));
    }
    s.push_str(&flow_mod_flags(fm.flags));
    s.push_str("actions=");
    s.push_str(&ctx.flow(format_actions(&fm.instructions)));
}

/// A PACKET_OUT: its first line as `ovs-ofctl` prints it. Where Open
/// vSwitch then dissects the packet into its header fields, rvs-ofctl
/// shows the packet's bytes.
fn format_packet_out(s: &mut String, po: &PacketOut, ctx: &PrintContext<'_>) {
    let _ = write!(s, " in_port={}", ctx.port(po.in_port));
    s.push_str(" actions=");
    s.push_str(&ctx.flow(format_actions(&[Instruction::ApplyActions(
        po.actions.clone(),
    )])));
    if po.buffer_id == NO_BUFFER {
        let _ = write!(s, " data_len={}", po.data.len());
        if !po.data.is_empty() {
            s.push('\n');
            hex_dump_plain(s, &po.data);
        }
    } else {
        let _ = write!(s, " buffer=0x{:08x}", po.buffer_id);
    }
}

/// Flags as `ovs-ofctl` prints them before a flow's match, each followed
/// by a space.
fn flow_mod_flags(flags: FlowModFlags) -> String {
    let mut s = String::new();
    for (flag, name) in [
        (FlowModFlags::SEND_FLOW_REM, "send_flow_rem "),
        (FlowModFlags::CHECK_OVERLAP, "check_overlap "),
        (FlowModFlags::RESET_COUNTS, "reset_counts "),
        (FlowModFlags::NO_PKT_COUNTS, "no_packet_counts "),
        (FlowModFlags::NO_BYT_COUNTS, "no_byte_counts "),
    ] {
        if flags.contains(flag) {
            s.push_str(name);
        }
    }
    s
}

fn format_flow_stats_request(s: &mut String, r: &FlowStatsRequest, ctx: &PrintContext<'_>) {
    if r.table_id != table::ALL {
        let _ = write!(s, " table={}", r.table_id);
    }
    if r.out_port != PortNo::ANY {
        let _ = write!(s, " out_port={}", ctx.port(r.out_port));
    }
    s.push(' ');
    s.push_str(&ctx.flow(format_match(&r.match_)));
}

/// One dump-flows line, with `--names` and `--no-stats` as asked.
pub fn flow_stats_line(
    entry: &rvs_openflow::FlowStats,
    opts: &FlowFormatOptions,
    ctx: &PrintContext<'_>,
) -> String {
    ctx.flow(format_flow_stats(entry, opts))
}

// ---------------------------------------------------------------------------
// Multipart

fn format_mp_flags(s: &mut String, flags: MultipartFlags) {
    if flags.bits() == 0 {
        return;
    }
    s.push_str(" flags=");
    let mut rest = flags.bits();
    if rest & MultipartFlags::MORE.bits() != 0 {
        s.push_str("[more]");
        rest &= !MultipartFlags::MORE.bits();
    }
    if rest != 0 {
        let _ = write!(s, "[***unknown flags 0x{rest:04x}***]");
    }
}

/// Appends a multipart request's text; `false` for a type not printed.
fn format_multipart_request(s: &mut String, r: &MultipartRequest, ctx: &PrintContext<'_>) -> bool {
    format_mp_flags(s, r.flags);
    match &r.body {
        MultipartRequestBody::Flow(f) | MultipartRequestBody::Aggregate(f) => {
            format_flow_stats_request(s, f, ctx)
        }
        MultipartRequestBody::PortStats(port) => {
            let _ = write!(s, " port_no={}", ctx.port(*port));
        }
        MultipartRequestBody::PortDesc => s.push_str(" port=ANY"),
        MultipartRequestBody::Desc | MultipartRequestBody::Table => {}
        _ => return false,
    }
    true
}

/// Appends a multipart reply's text; `false` for a type not printed.
fn format_multipart_reply(s: &mut String, r: &MultipartReply, ctx: &PrintContext<'_>) -> bool {
    format_mp_flags(s, r.flags);
    match &r.body {
        MultipartReplyBody::Desc(d) => {
            let _ = write!(
                s,
                "\nManufacturer: {}\nHardware: {}\nSoftware: {}\nSerial Num: {}\nDP Description: {}\n",
                d.mfr_desc, d.hw_desc, d.sw_desc, d.serial_num, d.dp_desc
            );
        }
        MultipartReplyBody::Flow(flows) => {
            let opts = FlowFormatOptions::default();
            for f in flows {
                s.push('\n');
                s.push_str(&flow_stats_line(f, &opts, ctx));
            }
        }
        MultipartReplyBody::Aggregate(a) => {
            let _ = write!(
                s,
                " packet_count={} byte_count={} flow_count={}",
                a.packet_count, a.byte_count, a.flow_count
            );
        }
        MultipartReplyBody::Table(tables) => format_table_stats(s, tables),
        MultipartReplyBody::PortStats(ports) => {
            let _ = writeln!(s, " {} ports", ports.len());
            for p in ports {
                format_port_stats(s, p, ctx);
            }
        }
        MultipartReplyBody::PortDesc(ports) => {
            s.push('\n');
            format_ports(s, ports);
        }
        _ => return false,
    }
    true
}

// ---------------------------------------------------------------------------
// Hex

/// Appends `data` as Open vSwitch's hex dump with ASCII: 16 bytes a line,
/// offset first, a `-` after the eighth byte.
pub fn hex_dump(s: &mut String, data: &[u8]) {
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", i * 16);
        for (j, b) in chunk.iter().enumerate() {
            let _ = write!(s, "{b:02x}{}", if j == 7 { '-' } else { ' ' });
        }
        for _ in chunk.len()..16 {
            s.push_str("   ");
        }
        s.push('|');
        for &b in chunk {
            s.push(if (32..127).contains(&b) {
                char::from(b)
            } else {
                '.'
            });
        }
        for _ in chunk.len()..16 {
            s.push(' ');
        }
        s.push_str("|\n");
    }
}

/// Appends `data` as Open vSwitch's hex dump without ASCII.
fn hex_dump_plain(s: &mut String, data: &[u8]) {
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", i * 16);
        for (j, b) in chunk.iter().enumerate() {
            let _ = write!(s, "{b:02x}{}", if j == 7 { '-' } else { ' ' });
        }
        chomp(s, ' ');
        s.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_layout() {
        let mut s = String::new();
        hex_dump(&mut s, &[4, 1, 0, 12, 0, 0, 0, 5, 0, 5, 0, 0x66]);
        assert_eq!(
            s,
            "00000000  04 01 00 0c 00 00 00 05-00 05 00 66             |...........f    |\n"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(5, 0), "5s");
        assert_eq!(duration(1, 500_000_000), "1.500s");
        assert_eq!(duration(2, 123_400), "2.0001234s");
    }

    #[test]
    fn error_names_follow_open_vswitch() {
        assert_eq!(
            ovs_error_name(ErrorType::FlowModFailed, 6),
            Some("OFPFMFC_BAD_COMMAND")
        );
        assert_eq!(
            ovs_error_name(ErrorType::BadRequest, 2),
            Some("OFPBRC_BAD_STAT")
        );
        assert_eq!(ovs_error_name(ErrorType::BadRequest, 14), None);
    }

    #[test]
    fn short_and_long_buffers() {
        let ctx = PrintContext::default();
        assert_eq!(message_to_string(&[], &ctx), "OpenFlow message is empty\n");
        assert!(message_to_string(&[4, 0], &ctx)
            .starts_with("OpenFlow packet too short (only 2 bytes):\n"));
        let barrier = [4, 20, 0, 8, 0, 0, 0, 9];
        assert_eq!(
            message_to_string(&barrier, &ctx),
            "OFPT_BARRIER_REQUEST (OF1.3) (xid=0x9):\n"
        );
        assert!(message_to_string(&barrier[..], &ctx).ends_with(":\n"));
        let mut long = barrier.to_vec();
        long.push(0);
        assert!(message_to_string(&long, &ctx).starts_with("(***only uses 8 bytes out of 9***)\n"));
    }
}
