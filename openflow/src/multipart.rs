//! MULTIPART_REQUEST and MULTIPART_REPLY (`ofp_multipart_*`): statistics
//! and descriptions that may span several messages.
//!
//! Modelled bodies: DESC, FLOW, AGGREGATE, TABLE, PORT_STATS, PORT_DESC
//! and TABLE_FEATURES (each table's fixed part; its properties are kept
//! as bytes). Any other multipart type (queues, groups, meters,
//! experimenter) decodes as `Other` with its bytes, and
//! [`MultipartRequest::validate`] answers it with BAD_REQUEST/BAD_MULTIPART.
//!
//! A reply body longer than one message can carry is split by
//! [`split_multipart_reply`]: every message but the last has
//! [`MultipartFlags::MORE`] set, and none exceeds the limit given (at most
//! the 16-bit length limit, 65535 bytes).

use crate::error::OfError;
use crate::instruction::{read_instructions, write_instructions, Instruction};
use crate::message::{Message, MessageBody};
use crate::oxm::Match;
use crate::port::Port;
use crate::types::{group, table, FlowModFlags, MultipartFlags, PortNo, MAX_MESSAGE_LEN};
use crate::wire::{read_fixed_str, Reader, Within, Writer};

/// Length of a multipart message before its body: the OpenFlow header and
/// type, flags and padding.
pub const MULTIPART_HEADER_LEN: usize = 16;

/// Length of the description strings of DESC (`DESC_STR_LEN`).
pub const DESC_STR_LEN: usize = 256;
/// Length of the serial number of DESC (`SERIAL_NUM_LEN`).
pub const SERIAL_NUM_LEN: usize = 32;

/// The multipart type (`ofp_multipart_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultipartType {
    /// Switch description.
    Desc,
    /// Individual flow statistics.
    Flow,
    /// Aggregate flow statistics.
    Aggregate,
    /// Flow table statistics.
    Table,
    /// Port statistics.
    PortStats,
    /// Queue statistics.
    Queue,
    /// Group statistics.
    Group,
    /// Group descriptions.
    GroupDesc,
    /// Group features.
    GroupFeatures,
    /// Meter statistics.
    Meter,
    /// Meter configuration.
    MeterConfig,
    /// Meter features.
    MeterFeatures,
    /// Table features.
    TableFeatures,
    /// Port descriptions.
    PortDesc,
    /// Experimenter extension.
    Experimenter,
    /// A type OpenFlow 1.3 does not define.
    Unknown(u16),
}

impl From<u16> for MultipartType {
    fn from(value: u16) -> Self {
        match value {
            0 => MultipartType::Desc,
            1 => MultipartType::Flow,
            2 => MultipartType::Aggregate,
            3 => MultipartType::Table,
            4 => MultipartType::PortStats,
            5 => MultipartType::Queue,
            6 => MultipartType::Group,
            7 => MultipartType::GroupDesc,
            8 => MultipartType::GroupFeatures,
            9 => MultipartType::Meter,
            10 => MultipartType::MeterConfig,
            11 => MultipartType::MeterFeatures,
            12 => MultipartType::TableFeatures,
            13 => MultipartType::PortDesc,
            0xffff => MultipartType::Experimenter,
            other => MultipartType::Unknown(other),
        }
    }
}

impl From<MultipartType> for u16 {
    fn from(value: MultipartType) -> Self {
        match value {
            MultipartType::Desc => 0,
            MultipartType::Flow => 1,
            MultipartType::Aggregate => 2,
            MultipartType::Table => 3,
            MultipartType::PortStats => 4,
            MultipartType::Queue => 5,
            MultipartType::Group => 6,
            MultipartType::GroupDesc => 7,
            MultipartType::GroupFeatures => 8,
            MultipartType::Meter => 9,
            MultipartType::MeterConfig => 10,
            MultipartType::MeterFeatures => 11,
            MultipartType::TableFeatures => 12,
            MultipartType::PortDesc => 13,
            MultipartType::Experimenter => 0xffff,
            MultipartType::Unknown(other) => other,
        }
    }
}

/// A MULTIPART_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultipartRequest {
    /// [`MultipartFlags::MORE`] if more requests follow.
    pub flags: MultipartFlags,
    /// The request.
    pub body: MultipartRequestBody,
}

/// What a MULTIPART_REQUEST asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultipartRequestBody {
    /// The switch description.
    Desc,
    /// Statistics of each flow that the filter selects.
    Flow(FlowStatsRequest),
    /// Statistics summed over the flows that the filter selects.
    Aggregate(FlowStatsRequest),
    /// Statistics of each table.
    Table,
    /// Statistics of one port, or of all with [`PortNo::ANY`].
    PortStats(PortNo),
    /// The description of every port.
    PortDesc,
    /// The features of every table (an empty list), or new features to
    /// configure (a list).
    TableFeatures(Vec<TableFeatures>),
    /// Another type, with its body as it came.
    Other {
        /// The multipart type.
        mp_type: MultipartType,
        /// The body after the multipart header.
        body: Vec<u8>,
    },
}

impl MultipartRequestBody {
    /// The multipart type.
    pub fn mp_type(&self) -> MultipartType {
        match self {
            MultipartRequestBody::Desc => MultipartType::Desc,
            MultipartRequestBody::Flow(_) => MultipartType::Flow,
            MultipartRequestBody::Aggregate(_) => MultipartType::Aggregate,
            MultipartRequestBody::Table => MultipartType::Table,
            MultipartRequestBody::PortStats(_) => MultipartType::PortStats,
            MultipartRequestBody::PortDesc => MultipartType::PortDesc,
            MultipartRequestBody::TableFeatures(_) => MultipartType::TableFeatures,
            MultipartRequestBody::Other { mp_type, .. } => *mp_type,
        }
    }
}

/// Which flows a FLOW or AGGREGATE request is about
/// (`ofp_flow_stats_request`, `ofp_aggregate_stats_request`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    /// The table, or [`table::ALL`].
    pub table_id: u8,
    /// Only flows that output to this port, or [`PortNo::ANY`].
    pub out_port: PortNo,
    /// Only flows that output to this group, or [`group::ANY`].
    pub out_group: u32,
    /// Only flows whose cookie matches this under `cookie_mask`.
    pub cookie: u64,
    /// Which cookie bits must match; 0 for any cookie.
    pub cookie_mask: u64,
    /// Only flows that this match covers.
    pub match_: Match,
}

impl Default for FlowStatsRequest {
    /// Every flow in every table.
    fn default() -> Self {
        FlowStatsRequest {
            table_id: table::ALL,
            out_port: PortNo::ANY,
            out_group: group::ANY,
            cookie: 0,
            cookie_mask: 0,
            match_: Match::new(),
        }
    }
}

impl FlowStatsRequest {
    fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let table_id = r.u8()?;
        r.skip(3)?;
        let out_port = PortNo(r.u32()?);
        let out_group = r.u32()?;
        r.skip(4)?;
        Ok(FlowStatsRequest {
            table_id,
            out_port,
            out_group,
            cookie: r.u64()?,
            cookie_mask: r.u64()?,
            match_: Match::read(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.table_id);
        w.zeros(3);
        w.u32(self.out_port.0);
        w.u32(self.out_group);
        w.zeros(4);
        w.u64(self.cookie);
        w.u64(self.cookie_mask);
        self.match_.write(w);
    }
}

/// A MULTIPART_REPLY.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultipartReply {
    /// [`MultipartFlags::MORE`] if more replies follow.
    pub flags: MultipartFlags,
    /// The reply.
    pub body: MultipartReplyBody,
}

/// What a MULTIPART_REPLY carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultipartReplyBody {
    /// The switch description.
    Desc(SwitchDesc),
    /// One entry per flow.
    Flow(Vec<FlowStats>),
    /// Sums over flows.
    Aggregate(AggregateStats),
    /// One entry per table.
    Table(Vec<TableStats>),
    /// One entry per port.
    PortStats(Vec<PortStats>),
    /// One description per port.
    PortDesc(Vec<Port>),
    /// One entry per table.
    TableFeatures(Vec<TableFeatures>),
    /// Another type, with its body as it came.
    Other {
        /// The multipart type.
        mp_type: MultipartType,
        /// The body after the multipart header.
        body: Vec<u8>,
    },
}

impl MultipartReplyBody {
    /// The multipart type.
    pub fn mp_type(&self) -> MultipartType {
        match self {
            MultipartReplyBody::Desc(_) => MultipartType::Desc,
            MultipartReplyBody::Flow(_) => MultipartType::Flow,
            MultipartReplyBody::Aggregate(_) => MultipartType::Aggregate,
            MultipartReplyBody::Table(_) => MultipartType::Table,
            MultipartReplyBody::PortStats(_) => MultipartType::PortStats,
            MultipartReplyBody::PortDesc(_) => MultipartType::PortDesc,
            MultipartReplyBody::TableFeatures(_) => MultipartType::TableFeatures,
            MultipartReplyBody::Other { mp_type, .. } => *mp_type,
        }
    }
}

/// The switch description (`ofp_desc`). Each string is cut to leave room
/// for its NUL: 255 bytes, 31 for the serial number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SwitchDesc {
    /// Manufacturer.
    pub mfr_desc: String,
    /// Hardware.
    pub hw_desc: String,
    /// Software.
    pub sw_desc: String,
    /// Serial number.
    pub serial_num: String,
    /// Human-readable datapath description.
    pub dp_desc: String,
}

impl SwitchDesc {
    /// Encoded length.
    pub const LEN: usize = 4 * DESC_STR_LEN + SERIAL_NUM_LEN;

    fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        Ok(SwitchDesc {
            mfr_desc: read_fixed_str(r.bytes(DESC_STR_LEN)?),
            hw_desc: read_fixed_str(r.bytes(DESC_STR_LEN)?),
            sw_desc: read_fixed_str(r.bytes(DESC_STR_LEN)?),
            serial_num: read_fixed_str(r.bytes(SERIAL_NUM_LEN)?),
            dp_desc: read_fixed_str(r.bytes(DESC_STR_LEN)?),
        })
    }

    fn write(&self, w: &mut Writer<'_>) {
        w.fixed_str(&self.mfr_desc, DESC_STR_LEN);
        w.fixed_str(&self.hw_desc, DESC_STR_LEN);
        w.fixed_str(&self.sw_desc, DESC_STR_LEN);
        w.fixed_str(&self.serial_num, SERIAL_NUM_LEN);
        w.fixed_str(&self.dp_desc, DESC_STR_LEN);
    }
}

/// One flow's statistics (`ofp_flow_stats`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStats {
    /// The flow's table.
    pub table_id: u8,
    /// Seconds the flow has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Priority.
    pub priority: u16,
    /// Idle timeout in seconds, 0 for none.
    pub idle_timeout: u16,
    /// Hard timeout in seconds, 0 for none.
    pub hard_timeout: u16,
    /// The flags it was added with.
    pub flags: FlowModFlags,
    /// Cookie.
    pub cookie: u64,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// The match.
    pub match_: Match,
    /// The instructions.
    pub instructions: Vec<Instruction>,
}

impl FlowStats {
    /// Length without match and instructions.
    const FIXED_LEN: usize = 48;

    fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let length = usize::from(r.u16()?);
        if length < Self::FIXED_LEN + 8 {
            return Err(OfError::BadLength {
                what: "flow stats entry shorter than its fixed part and a match",
            });
        }
        let mut e = Reader::new(r.bytes(length - 2)?, Within::Message("flow stats entry"));
        let table_id = e.u8()?;
        e.skip(1)?;
        let duration_sec = e.u32()?;
        let duration_nsec = e.u32()?;
        let priority = e.u16()?;
        let idle_timeout = e.u16()?;
        let hard_timeout = e.u16()?;
        let flags = FlowModFlags(e.u16()?);
        e.skip(4)?;
        let cookie = e.u64()?;
        let packet_count = e.u64()?;
        let byte_count = e.u64()?;
        let match_ = Match::read(&mut e)?;
        let instructions = read_instructions(e.rest())?;
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie,
            packet_count,
            byte_count,
            match_,
            instructions,
        })
    }
}

impl ReplyEntry for FlowStats {
    fn write(&self, w: &mut Writer<'_>) {
        let start = w.len();
        w.u16(0);
        w.u8(self.table_id);
        w.zeros(1);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        w.u16(self.priority);
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u16(self.flags.0);
        w.zeros(4);
        w.u64(self.cookie);
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        self.match_.write(w);
        write_instructions(&self.instructions, w);
        w.patch_len16(start, start);
    }
}

/// Sums over the flows an AGGREGATE request selects
/// (`ofp_aggregate_stats_reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AggregateStats {
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Flows selected.
    pub flow_count: u32,
}

/// One table's statistics (`ofp_table_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TableStats {
    /// The table.
    pub table_id: u8,
    /// Flows in the table.
    pub active_count: u32,
    /// Packets looked up in the table.
    pub lookup_count: u64,
    /// Packets that matched a flow.
    pub matched_count: u64,
}

impl TableStats {
    /// Encoded length.
    pub const LEN: usize = 24;

    fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let table_id = r.u8()?;
        r.skip(3)?;
        Ok(TableStats {
            table_id,
            active_count: r.u32()?,
            lookup_count: r.u64()?,
            matched_count: r.u64()?,
        })
    }
}

impl ReplyEntry for TableStats {
    fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.table_id);
        w.zeros(3);
        w.u32(self.active_count);
        w.u64(self.lookup_count);
        w.u64(self.matched_count);
    }
}

/// One port's statistics (`ofp_port_stats`). Counters a port does not
/// keep are all ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortStats {
    /// The port.
    pub port_no: PortNo,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped on receive.
    pub rx_dropped: u64,
    /// Packets dropped on send.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Frame alignment errors.
    pub rx_frame_err: u64,
    /// Receive overruns.
    pub rx_over_err: u64,
    /// CRC errors.
    pub rx_crc_err: u64,
    /// Collisions.
    pub collisions: u64,
    /// Seconds the port has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
}

impl PortStats {
    /// Encoded length.
    pub const LEN: usize = 112;

    fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let port_no = PortNo(r.u32()?);
        r.skip(4)?;
        Ok(PortStats {
            port_no,
            rx_packets: r.u64()?,
            tx_packets: r.u64()?,
            rx_bytes: r.u64()?,
            tx_bytes: r.u64()?,
            rx_dropped: r.u64()?,
            tx_dropped: r.u64()?,
            rx_errors: r.u64()?,
            tx_errors: r.u64()?,
            rx_frame_err: r.u64()?,
            rx_over_err: r.u64()?,
            rx_crc_err: r.u64()?,
            collisions: r.u64()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
        })
    }
}

impl ReplyEntry for PortStats {
    fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.zeros(4);
        for counter in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ] {
            w.u64(counter);
        }
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
    }
}

impl ReplyEntry for Port {
    fn write(&self, w: &mut Writer<'_>) {
        Port::write(self, w);
    }
}

/// Length of a table's name in TABLE_FEATURES (`OFP_MAX_TABLE_NAME_LEN`).
pub const TABLE_NAME_LEN: usize = 32;

/// One table's features (`ofp_table_features`): the fixed part, and the
/// properties (instructions, actions, match fields, ... TLVs) as bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TableFeatures {
    /// The table.
    pub table_id: u8,
    /// Its name.
    pub name: String,
    /// Metadata bits the table can match.
    pub metadata_match: u64,
    /// Metadata bits the table can write.
    pub metadata_write: u64,
    /// `ofp_table_config` bits.
    pub config: u32,
    /// Most flows the table holds.
    pub max_entries: u32,
    /// The property TLVs, each padded to 8 bytes, as they came.
    pub properties: Vec<u8>,
}

impl TableFeatures {
    /// Length of the fixed part.
    pub const FIXED_LEN: usize = 64;

    fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let length = usize::from(r.u16()?);
        if length < Self::FIXED_LEN || length % 8 != 0 {
            return Err(OfError::BadLength {
                what: "table features entry",
            });
        }
        let mut e = Reader::new(
            r.bytes(length - 2)?,
            Within::Message("table features entry"),
        );
        let table_id = e.u8()?;
        e.skip(5)?;
        let name = read_fixed_str(e.bytes(TABLE_NAME_LEN)?);
        Ok(TableFeatures {
            table_id,
            name,
            metadata_match: e.u64()?,
            metadata_write: e.u64()?,
            config: e.u32()?,
            max_entries: e.u32()?,
            properties: e.rest().to_vec(),
        })
    }
}

impl ReplyEntry for TableFeatures {
    fn write(&self, w: &mut Writer<'_>) {
        let start = w.len();
        w.u16(0);
        w.u8(self.table_id);
        w.zeros(5);
        w.fixed_str(&self.name, TABLE_NAME_LEN);
        w.u64(self.metadata_match);
        w.u64(self.metadata_write);
        w.u32(self.config);
        w.u32(self.max_entries);
        w.bytes(&self.properties);
        let pad = (8 - (w.len() - start) % 8) % 8;
        w.zeros(pad);
        w.patch_len16(start, start);
    }
}

/// A property of a table's features, as a switch describes its pipeline
/// (`ofp_table_feature_prop_type`); `miss` selects the `_MISS` variant
/// (what the table-miss flow may do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableFeatureProp {
    /// Instruction types the table's flows may use.
    Instructions(Vec<u16>),
    /// Tables `goto_table` may name.
    NextTables(Vec<u8>),
    /// Action types of `write_actions`.
    WriteActions(Vec<u16>),
    /// Action types of `apply_actions`.
    ApplyActions(Vec<u16>),
    /// OXM ids the table can match.
    Match(Vec<u32>),
    /// OXM ids the table can wildcard.
    Wildcards(Vec<u32>),
    /// OXM ids `set_field` in `write_actions` may set.
    WriteSetfield(Vec<u32>),
    /// OXM ids `set_field` in `apply_actions` may set.
    ApplySetfield(Vec<u32>),
}

impl TableFeatureProp {
    /// Encodes `props` as TABLE_FEATURES property TLVs, each padded to 8
    /// bytes, for [`TableFeatures::properties`].
    pub fn encode_all(props: &[TableFeatureProp]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in props {
            let start = out.len();
            let (ty, body): (u16, Vec<u8>) = match p {
                TableFeatureProp::Instructions(v) => (0, ids16(v)),
                TableFeatureProp::NextTables(v) => (2, v.clone()),
                TableFeatureProp::WriteActions(v) => (4, ids16(v)),
                TableFeatureProp::ApplyActions(v) => (6, ids16(v)),
                TableFeatureProp::Match(v) => (8, ids32(v)),
                TableFeatureProp::Wildcards(v) => (10, ids32(v)),
                TableFeatureProp::WriteSetfield(v) => (12, ids32(v)),
                TableFeatureProp::ApplySetfield(v) => (14, ids32(v)),
            };
            out.extend_from_slice(&ty.to_be_bytes());
            out.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
            out.extend_from_slice(&body);
            out.resize(start + (out.len() - start).div_ceil(8) * 8, 0);
        }
        out
    }
}

/// Instruction and action ids: type and length (4) each.
fn ids16(v: &[u16]) -> Vec<u8> {
    v.iter()
        .flat_map(|t| {
            let mut b = t.to_be_bytes().to_vec();
            b.extend_from_slice(&4u16.to_be_bytes());
            b
        })
        .collect()
}

fn ids32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|t| t.to_be_bytes()).collect()
}

/// An entry of a list reply body.
trait ReplyEntry {
    fn write(&self, w: &mut Writer<'_>);
}

/// Reads entries until `r` is used up.
fn read_entries<T>(
    r: &mut Reader<'_>,
    read: fn(&mut Reader<'_>) -> Result<T, OfError>,
) -> Result<Vec<T>, OfError> {
    let mut entries = Vec::new();
    while !r.is_empty() {
        entries.push(read(r)?);
    }
    Ok(entries)
}

impl MultipartRequest {
    /// A request of `body` with no flags.
    pub fn new(body: MultipartRequestBody) -> Self {
        MultipartRequest {
            flags: MultipartFlags::EMPTY,
            body,
        }
    }

    /// The checks a switch makes beyond decoding: a type it serves
    /// (BAD_REQUEST/BAD_MULTIPART) and a valid match in FLOW and AGGREGATE
    /// requests.
    pub fn validate(&self) -> Result<(), OfError> {
        match &self.body {
            MultipartRequestBody::Flow(request) | MultipartRequestBody::Aggregate(request) => {
                request.match_.validate()
            }
            MultipartRequestBody::Other { mp_type, .. } => {
                Err(OfError::UnsupportedMultipart { mp_type: *mp_type })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let mp_type = MultipartType::from(r.u16()?);
        let flags = MultipartFlags(r.u16()?);
        r.skip(4)?;
        let body = match mp_type {
            MultipartType::Desc => MultipartRequestBody::Desc,
            MultipartType::Flow => MultipartRequestBody::Flow(FlowStatsRequest::read(r)?),
            MultipartType::Aggregate => MultipartRequestBody::Aggregate(FlowStatsRequest::read(r)?),
            MultipartType::Table => MultipartRequestBody::Table,
            MultipartType::PortStats => {
                let port = PortNo(r.u32()?);
                r.skip(4)?;
                MultipartRequestBody::PortStats(port)
            }
            MultipartType::PortDesc => MultipartRequestBody::PortDesc,
            MultipartType::TableFeatures => {
                MultipartRequestBody::TableFeatures(read_entries(r, TableFeatures::read)?)
            }
            other => MultipartRequestBody::Other {
                mp_type: other,
                body: r.rest().to_vec(),
            },
        };
        Ok(MultipartRequest { flags, body })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.body.mp_type().into());
        w.u16(self.flags.0);
        w.zeros(4);
        match &self.body {
            MultipartRequestBody::Desc
            | MultipartRequestBody::Table
            | MultipartRequestBody::PortDesc => {}
            MultipartRequestBody::Flow(request) | MultipartRequestBody::Aggregate(request) => {
                request.write(w)
            }
            MultipartRequestBody::PortStats(port) => {
                w.u32(port.0);
                w.zeros(4);
            }
            MultipartRequestBody::TableFeatures(entries) => entries.iter().for_each(|e| e.write(w)),
            MultipartRequestBody::Other { body, .. } => w.bytes(body),
        }
    }
}

impl MultipartReply {
    /// A reply of `body` with no flags.
    pub fn new(body: MultipartReplyBody) -> Self {
        MultipartReply {
            flags: MultipartFlags::EMPTY,
            body,
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let mp_type = MultipartType::from(r.u16()?);
        let flags = MultipartFlags(r.u16()?);
        r.skip(4)?;
        let body = match mp_type {
            MultipartType::Desc => MultipartReplyBody::Desc(SwitchDesc::read(r)?),
            MultipartType::Flow => MultipartReplyBody::Flow(read_entries(r, FlowStats::read)?),
            MultipartType::Aggregate => {
                let stats = AggregateStats {
                    packet_count: r.u64()?,
                    byte_count: r.u64()?,
                    flow_count: r.u32()?,
                };
                r.skip(4)?;
                MultipartReplyBody::Aggregate(stats)
            }
            MultipartType::Table => MultipartReplyBody::Table(read_entries(r, TableStats::read)?),
            MultipartType::PortStats => {
                MultipartReplyBody::PortStats(read_entries(r, PortStats::read)?)
            }
            MultipartType::PortDesc => MultipartReplyBody::PortDesc(read_entries(r, Port::read)?),
            MultipartType::TableFeatures => {
                MultipartReplyBody::TableFeatures(read_entries(r, TableFeatures::read)?)
            }
            other => MultipartReplyBody::Other {
                mp_type: other,
                body: r.rest().to_vec(),
            },
        };
        Ok(MultipartReply { flags, body })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.body.mp_type().into());
        w.u16(self.flags.0);
        w.zeros(4);
        match &self.body {
            MultipartReplyBody::Desc(desc) => desc.write(w),
            MultipartReplyBody::Flow(entries) => entries.iter().for_each(|e| e.write(w)),
            MultipartReplyBody::Aggregate(stats) => {
                w.u64(stats.packet_count);
                w.u64(stats.byte_count);
                w.u32(stats.flow_count);
                w.zeros(4);
            }
            MultipartReplyBody::Table(entries) => entries.iter().for_each(|e| e.write(w)),
            MultipartReplyBody::PortStats(entries) => entries.iter().for_each(|e| e.write(w)),
            MultipartReplyBody::PortDesc(entries) => {
                entries.iter().for_each(|e| ReplyEntry::write(e, w))
            }
            MultipartReplyBody::TableFeatures(entries) => entries.iter().for_each(|e| e.write(w)),
            MultipartReplyBody::Other { body, .. } => w.bytes(body),
        }
    }
}

/// Splits `entries` into runs whose encodings fit `budget` bytes each.
fn chunk_entries<T: ReplyEntry>(entries: Vec<T>, budget: usize) -> Result<Vec<Vec<T>>, OfError> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut used = 0;
    let mut scratch = Vec::new();
    for entry in entries {
        scratch.clear();
        let mut w = Writer::new(&mut scratch);
        entry.write(&mut w);
        let overflowed = w.overflow().is_some();
        let length = scratch.len();
        if overflowed || length > budget {
            return Err(OfError::MultipartOverflow { length });
        }
        if used + length > budget {
            chunks.push(std::mem::take(&mut current));
            used = 0;
        }
        used += length;
        current.push(entry);
    }
    chunks.push(current);
    Ok(chunks)
}

/// The MULTIPART_REPLY messages that carry `body` in answer to request
/// `xid`, each at most `max_len` bytes long (clamped to 65535): list
/// bodies (FLOW, TABLE, PORT_STATS, PORT_DESC) are split between entries,
/// and every message but the last has [`MultipartFlags::MORE`]. An empty
/// list still makes one message. Fails only if a single entry cannot fit
/// (BAD_REQUEST/MULTIPART_BUFFER_OVERFLOW).
pub fn split_multipart_reply(
    xid: u32,
    body: MultipartReplyBody,
    max_len: usize,
) -> Result<Vec<Message>, OfError> {
    let budget = max_len
        .min(MAX_MESSAGE_LEN)
        .saturating_sub(MULTIPART_HEADER_LEN);
    let bodies: Vec<MultipartReplyBody> = match body {
        MultipartReplyBody::Flow(entries) => chunk_entries(entries, budget)?
            .into_iter()
            .map(MultipartReplyBody::Flow)
            .collect(),
        MultipartReplyBody::Table(entries) => chunk_entries(entries, budget)?
            .into_iter()
            .map(MultipartReplyBody::Table)
            .collect(),
        MultipartReplyBody::PortStats(entries) => chunk_entries(entries, budget)?
            .into_iter()
            .map(MultipartReplyBody::PortStats)
            .collect(),
        MultipartReplyBody::PortDesc(entries) => chunk_entries(entries, budget)?
            .into_iter()
            .map(MultipartReplyBody::PortDesc)
            .collect(),
        MultipartReplyBody::TableFeatures(entries) => chunk_entries(entries, budget)?
            .into_iter()
            .map(MultipartReplyBody::TableFeatures)
            .collect(),
        single => vec![single],
    };
    let last = bodies.len() - 1;
    Ok(bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let flags = if i < last {
                MultipartFlags::MORE
            } else {
                MultipartFlags::EMPTY
            };
            Message::new(
                xid,
                MessageBody::MultipartReply(MultipartReply { flags, body }),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crate::oxm::OxmField;

    fn flow(i: u16) -> FlowStats {
        FlowStats {
            table_id: 0,
            duration_sec: 1,
            duration_nsec: 2,
            priority: i,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: FlowModFlags::SEND_FLOW_REM,
            cookie: u64::from(i),
            packet_count: 10,
            byte_count: 1000,
            match_: Match::new().with(OxmField::InPort(PortNo(u32::from(i) + 1))),
            instructions: vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])],
        }
    }

    #[test]
    fn flow_stats_entry_layout() {
        let mut bytes = Vec::new();
        flow(7).write(&mut Writer::new(&mut bytes));
        // 48 fixed + 16 match + 24 apply_actions.
        assert_eq!(bytes.len(), 88);
        assert_eq!(&bytes[..2], &[0, 88]);
        assert_eq!(&bytes[18..20], &[0, 1], "flags after the timeouts");
        let mut r = Reader::new(&bytes, Within::Message("test"));
        assert_eq!(FlowStats::read(&mut r), Ok(flow(7)));
        assert!(r.is_empty());
    }

    #[test]
    fn split_keeps_every_message_under_the_limit() {
        let entries: Vec<FlowStats> = (0..2000).map(flow).collect();
        let messages = split_multipart_reply(
            9,
            MultipartReplyBody::Flow(entries.clone()),
            MAX_MESSAGE_LEN,
        )
        .unwrap();
        assert!(messages.len() > 1);
        let mut joined = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let bytes = message.to_bytes().unwrap();
            assert!(bytes.len() <= MAX_MESSAGE_LEN);
            assert_eq!(message.xid, 9);
            let MessageBody::MultipartReply(reply) = &message.body else {
                panic!("not a multipart reply");
            };
            assert_eq!(
                reply.flags.contains(MultipartFlags::MORE),
                i + 1 < messages.len()
            );
            let MultipartReplyBody::Flow(chunk) = &reply.body else {
                panic!("not a flow reply");
            };
            joined.extend(chunk.iter().cloned());
        }
        assert_eq!(joined, entries);
    }

    #[test]
    fn split_with_a_small_limit_and_empty_lists() {
        let ports: Vec<PortStats> = (0..10)
            .map(|i| PortStats {
                port_no: PortNo(i),
                ..PortStats::default()
            })
            .collect();
        let limit = MULTIPART_HEADER_LEN + 3 * PortStats::LEN;
        let messages =
            split_multipart_reply(1, MultipartReplyBody::PortStats(ports), limit).unwrap();
        assert_eq!(messages.len(), 4);
        for message in &messages {
            assert!(message.to_bytes().unwrap().len() <= limit);
        }

        let empty = split_multipart_reply(1, MultipartReplyBody::Table(vec![]), 100).unwrap();
        assert_eq!(empty.len(), 1);

        let too_small = split_multipart_reply(
            1,
            MultipartReplyBody::PortStats(vec![PortStats::default()]),
            MULTIPART_HEADER_LEN + 8,
        );
        assert!(matches!(
            too_small,
            Err(OfError::MultipartOverflow { length: 112 })
        ));
    }
}
