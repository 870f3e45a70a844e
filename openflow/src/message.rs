//! OpenFlow 1.3 messages: [`Message`] (header fields and a typed
//! [`MessageBody`]) with [`Message::parse`] and [`Message::emit`].
//!
//! The contract, for the switch and the client alike:
//!
//! * `parse` takes exactly one framed message (see
//!   [`framer`](crate::framer)) and never panics. It fails only where the
//!   bytes cannot be represented: a length that disagrees with the header
//!   or with the structure inside (BAD_LEN of the structure concerned), a
//!   version other than 0x04 on anything but HELLO and ERROR
//!   (BAD_REQUEST/BAD_VERSION), a match that is not OXM or repeats a field.
//!   Unknown message types, multipart types, actions, instructions, OXM
//!   fields and enum values decode into `Unsupported`, `Other`, `Unknown`
//!   variants with their bytes, so a client can show anything a switch
//!   sends and re-encode it.
//! * [`Message::validate`] is what a switch checks before acting: it turns
//!   those unknowns into the errors the specification asks for
//!   (BAD_REQUEST/BAD_TYPE, BAD_ACTION/BAD_TYPE,
//!   BAD_INSTRUCTION/UNKNOWN_INST, BAD_MATCH/BAD_FIELD, …) and checks
//!   match prerequisites, values, ports and flow-mod commands.
//! * Every [`OfError`] carries its ERROR (type, code);
//!   [`Message::error_reply`] builds the reply with the first 64 bytes of
//!   the offending request.
//! * `emit` writes the layout of the specification, padding zeroed, and
//!   fails only when the message would exceed 65535 bytes (or an unknown
//!   OXM payload 255). Decoding what `emit` wrote gives back an equal
//!   message.

use crate::action::{read_actions, write_actions, Action};
use crate::error::{ErrorCode, ErrorType, OfError};
use crate::header::{MsgType, OfpHeader};
use crate::instruction::{
    read_instructions, validate_instructions, write_instructions, Instruction,
};
use crate::multipart::{MultipartReply, MultipartRequest};
use crate::oxm::Match;
use crate::port::Port;
use crate::types::{
    group, table, Capabilities, ConfigFlags, FlowModFlags, PortNo, DEFAULT_PRIORITY, HEADER_LEN,
    MAX_MESSAGE_LEN, NO_BUFFER, OFP_VERSION,
};
use crate::wire::{Reader, Within, Writer};

/// Defines a field enum over a wire integer with an `Unknown` catch-all.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident: $int:ty { $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value OpenFlow 1.3 does not define.
            Unknown($int),
        }

        impl From<$int> for $name {
            fn from(value: $int) -> Self {
                match value {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $int {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

wire_enum! {
    /// Why a packet went to the controller (`ofp_packet_in_reason`).
    PacketInReason: u8 {
        /// No flow matched (a table-miss flow sent it).
        NoMatch = 0,
        /// An output action to the controller sent it.
        Action = 1,
        /// The packet's TTL was invalid.
        InvalidTtl = 2,
    }
}

wire_enum! {
    /// Why a flow was removed (`ofp_flow_removed_reason`).
    FlowRemovedReason: u8 {
        /// The idle timeout expired.
        IdleTimeout = 0,
        /// The hard timeout expired.
        HardTimeout = 1,
        /// A flow-mod deleted it.
        Delete = 2,
        /// A group it used was deleted.
        GroupDelete = 3,
    }
}

wire_enum! {
    /// What happened to a port (`ofp_port_reason`).
    PortReason: u8 {
        /// The port was added.
        Add = 0,
        /// The port was removed.
        Delete = 1,
        /// Some attribute of the port changed.
        Modify = 2,
    }
}

wire_enum! {
    /// The flow-mod command (`ofp_flow_mod_command`).
    FlowModCommand: u8 {
        /// Add a flow.
        Add = 0,
        /// Modify the flows the match covers.
        Modify = 1,
        /// Modify the flow with exactly this match and priority.
        ModifyStrict = 2,
        /// Delete the flows the match covers.
        Delete = 3,
        /// Delete the flow with exactly this match and priority.
        DeleteStrict = 4,
    }
}

wire_enum! {
    /// A controller's role (`ofp_controller_role`).
    ControllerRole: u32 {
        /// Do not change the role (just ask).
        NoChange = 0,
        /// Full access, like other equal controllers.
        Equal = 1,
        /// Full access; at most one master.
        Master = 2,
        /// Read-only access.
        Slave = 3,
    }
}

/// The hello element type of a version bitmap (`OFPHET_VERSIONBITMAP`).
pub const HELLO_ELEM_VERSION_BITMAP: u16 = 1;

/// A HELLO: the versions the sender speaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Hello {
    /// The hello elements.
    pub elements: Vec<HelloElement>,
}

/// One element of a HELLO.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HelloElement {
    /// Bit `v % 32` of word `v / 32` is set for each version `v` spoken.
    VersionBitmap(Vec<u32>),
    /// An element type OpenFlow 1.3 does not define.
    Unknown {
        /// The element type.
        element_type: u16,
        /// The element's payload, without padding.
        data: Vec<u8>,
    },
}

impl Hello {
    /// A HELLO whose bitmap lists `versions`.
    pub fn new(versions: &[u8]) -> Self {
        let words = versions
            .iter()
            .map(|v| usize::from(*v) / 32 + 1)
            .max()
            .unwrap_or(1);
        let mut bitmap = vec![0u32; words];
        for v in versions {
            bitmap[usize::from(*v) / 32] |= 1 << (v % 32);
        }
        Hello {
            elements: vec![HelloElement::VersionBitmap(bitmap)],
        }
    }

    /// The version bitmap, if the HELLO has one.
    pub fn version_bitmap(&self) -> Option<&[u32]> {
        self.elements.iter().find_map(|e| match e {
            HelloElement::VersionBitmap(bitmap) => Some(bitmap.as_slice()),
            HelloElement::Unknown { .. } => None,
        })
    }

    /// The version to speak with a peer that sent this HELLO with
    /// `header_version` in its header: OpenFlow 1.3 if its bitmap lists it,
    /// or, without a bitmap, if its header version is 1.3 or later.
    /// Otherwise HELLO_FAILED/INCOMPATIBLE.
    pub fn negotiate(&self, header_version: u8) -> Result<u8, OfError> {
        let ours = usize::from(OFP_VERSION);
        let speaks_ours = match self.version_bitmap() {
            Some(bitmap) => bitmap
                .get(ours / 32)
                .is_some_and(|word| word & (1 << (ours % 32)) != 0),
            None => header_version >= OFP_VERSION,
        };
        if speaks_ours {
            Ok(OFP_VERSION)
        } else {
            Err(OfError::IncompatibleVersion {
                peer_version: header_version,
            })
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, OfError> {
        let mut elements = Vec::new();
        while !r.is_empty() {
            let element_type = r.u16()?;
            let len = usize::from(r.u16()?);
            if len < 4 {
                return Err(OfError::BadLength {
                    what: "hello element shorter than its header",
                });
            }
            let data = r.bytes(len - 4)?;
            // Elements are padded to 8 bytes; tolerate a last one without.
            let padding = crate::wire::padding_to_8(len).min(r.remaining());
            r.skip(padding)?;
            elements.push(if element_type == HELLO_ELEM_VERSION_BITMAP {
                if data.len() % 4 != 0 {
                    return Err(OfError::BadLength {
                        what: "version bitmap not a whole number of 32-bit words",
                    });
                }
                HelloElement::VersionBitmap(
                    data.chunks_exact(4)
                        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
                        .collect(),
                )
            } else {
                HelloElement::Unknown {
                    element_type,
                    data: data.to_vec(),
                }
            });
        }
        Ok(Hello { elements })
    }

    fn write(&self, w: &mut Writer<'_>) {
        for element in &self.elements {
            let start = w.len();
            match element {
                HelloElement::VersionBitmap(bitmap) => {
                    w.u16(HELLO_ELEM_VERSION_BITMAP);
                    w.u16(0);
                    bitmap.iter().for_each(|word| w.u32(*word));
                }
                HelloElement::Unknown { element_type, data } => {
                    w.u16(*element_type);
                    w.u16(0);
                    w.bytes(data);
                }
            }
            w.patch_len16(start + 2, start);
            w.pad_to_8(start);
        }
    }
}

/// An ERROR message's body (`ofp_error_msg`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    /// The (type, code).
    pub code: ErrorCode,
    /// The start of the offending request (HELLO_FAILED: a text; an
    /// experimenter error: the experimenter id, then its data).
    pub data: Vec<u8>,
}

impl ErrorMsg {
    /// How much of the offending request an ERROR carries.
    pub const MAX_DATA: usize = 64;

    /// An ERROR of `code` about `request`, of which it keeps the first 64
    /// bytes.
    pub fn new(code: ErrorCode, request: &[u8]) -> Self {
        ErrorMsg {
            code,
            data: request[..request.len().min(Self::MAX_DATA)].to_vec(),
        }
    }

    /// The ERROR that answers `error` about `request`. A failed hello
    /// carries the error's text instead of the request, as the
    /// specification asks.
    pub fn from_error(error: &OfError, request: &[u8]) -> Self {
        let code = error.code();
        if code.kind == ErrorType::HelloFailed {
            ErrorMsg {
                code,
                data: error.to_string().into_bytes(),
            }
        } else {
            ErrorMsg::new(code, request)
        }
    }
}

/// An EXPERIMENTER message (`ofp_experimenter_header`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExperimenterMsg {
    /// The experimenter id.
    pub experimenter: u32,
    /// The experimenter's message type.
    pub exp_type: u32,
    /// The rest.
    pub data: Vec<u8>,
}

/// A FEATURES_REPLY body (`ofp_switch_features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SwitchFeatures {
    /// The datapath id: a MAC address in the low 48 bits, the rest up to
    /// the implementer.
    pub datapath_id: u64,
    /// Packets the switch can buffer at once.
    pub n_buffers: u32,
    /// Tables the switch has.
    pub n_tables: u8,
    /// The auxiliary connection id; 0 for the main connection.
    pub auxiliary_id: u8,
    /// What the switch supports.
    pub capabilities: Capabilities,
    /// Reserved.
    pub reserved: u32,
}

/// A GET_CONFIG_REPLY or SET_CONFIG body (`ofp_switch_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SwitchConfig {
    /// IP fragment handling.
    pub flags: ConfigFlags,
    /// Bytes of a packet sent to the controller on a table miss.
    pub miss_send_len: u16,
}

impl SwitchConfig {
    /// The switch's check on a SET_CONFIG: a known fragment mode.
    pub fn validate(&self) -> Result<(), OfError> {
        let flags = self.flags;
        if flags.unknown_bits() != 0
            || flags.contains(ConfigFlags::FRAG_DROP | ConfigFlags::FRAG_REASM)
        {
            return Err(OfError::BadConfigFlags { flags: flags.0 });
        }
        Ok(())
    }
}

/// A PACKET_IN body (`ofp_packet_in`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketIn {
    /// Where the switch buffered the packet, or [`NO_BUFFER`].
    pub buffer_id: u32,
    /// The packet's full length; `data` may be shorter.
    pub total_len: u16,
    /// Why the packet was sent.
    pub reason: PacketInReason,
    /// The table it was looked up in.
    pub table_id: u8,
    /// The cookie of the flow that sent it.
    pub cookie: u64,
    /// The packet's pipeline fields (at least `in_port`).
    pub match_: Match,
    /// The packet, or its first bytes.
    pub data: Vec<u8>,
}

/// A FLOW_REMOVED body (`ofp_flow_removed`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowRemoved {
    /// The flow's cookie.
    pub cookie: u64,
    /// The flow's priority.
    pub priority: u16,
    /// Why it was removed.
    pub reason: FlowRemovedReason,
    /// Its table.
    pub table_id: u8,
    /// Seconds it was alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Its idle timeout.
    pub idle_timeout: u16,
    /// Its hard timeout.
    pub hard_timeout: u16,
    /// Packets it matched.
    pub packet_count: u64,
    /// Bytes it matched.
    pub byte_count: u64,
    /// Its match.
    pub match_: Match,
}

/// A PORT_STATUS body (`ofp_port_status`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortStatus {
    /// What happened.
    pub reason: PortReason,
    /// The port as it is now (or was, when deleted).
    pub port: Port,
}

/// A PACKET_OUT body (`ofp_packet_out`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketOut {
    /// A packet buffered in the switch, or [`NO_BUFFER`] to send `data`.
    pub buffer_id: u32,
    /// The port the packet counts as coming in on (or
    /// [`PortNo::CONTROLLER`]).
    pub in_port: PortNo,
    /// What to do with the packet.
    pub actions: Vec<Action>,
    /// The packet, when `buffer_id` is [`NO_BUFFER`].
    pub data: Vec<u8>,
}

impl PacketOut {
    /// The switch's checks: a usable `in_port` (a port, CONTROLLER, LOCAL
    /// or ANY; BAD_REQUEST/BAD_PORT) and valid actions.
    pub fn validate(&self) -> Result<(), OfError> {
        let port = self.in_port;
        let usable = (port.0 != 0 && !port.is_reserved())
            || [PortNo::CONTROLLER, PortNo::LOCAL, PortNo::ANY].contains(&port);
        if !usable {
            return Err(OfError::BadPort { port });
        }
        self.actions.iter().try_for_each(Action::validate)
    }
}

/// A FLOW_MOD body (`ofp_flow_mod`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMod {
    /// Cookie of a new flow; with `cookie_mask`, a filter for the others.
    pub cookie: u64,
    /// Which cookie bits a modify or delete must match; 0 for any.
    pub cookie_mask: u64,
    /// The table; [`table::ALL`] for deletions in every table.
    pub table_id: u8,
    /// What to do.
    pub command: FlowModCommand,
    /// Idle timeout in seconds, 0 for none.
    pub idle_timeout: u16,
    /// Hard timeout in seconds, 0 for none.
    pub hard_timeout: u16,
    /// Priority; higher wins.
    pub priority: u16,
    /// A buffered packet to run through the new flow, or [`NO_BUFFER`].
    pub buffer_id: u32,
    /// Deletions: only flows that output to this port, or [`PortNo::ANY`].
    pub out_port: PortNo,
    /// Deletions: only flows that output to this group, or [`group::ANY`].
    pub out_group: u32,
    /// Flags.
    pub flags: FlowModFlags,
    /// The match.
    pub match_: Match,
    /// The instructions.
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    /// A flow-mod of `command` on `match_` with the defaults: cookie 0,
    /// table 0 (every table for deletions), no timeouts, the default
    /// priority, no buffer, any out port and group, no flags, no
    /// instructions.
    pub fn new(command: FlowModCommand, match_: Match) -> Self {
        let table_id = match command {
            FlowModCommand::Delete | FlowModCommand::DeleteStrict => table::ALL,
            _ => 0,
        };
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id,
            command,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: DEFAULT_PRIORITY,
            buffer_id: NO_BUFFER,
            out_port: PortNo::ANY,
            out_group: group::ANY,
            flags: FlowModFlags::EMPTY,
            match_,
            instructions: Vec::new(),
        }
    }

    /// Adds a flow to table 0 (see [`FlowMod::new`] for the defaults).
    pub fn add(match_: Match, instructions: Vec<Instruction>) -> Self {
        FlowMod {
            instructions,
            ..FlowMod::new(FlowModCommand::Add, match_)
        }
    }

    /// Deletes the flows `match_` covers, in every table.
    pub fn delete(match_: Match) -> Self {
        FlowMod::new(FlowModCommand::Delete, match_)
    }

    /// The switch's checks before acting: a known command
    /// (FLOW_MOD_FAILED/BAD_COMMAND), known flags (BAD_FLAGS), a real
    /// table for additions and modifications (BAD_TABLE_ID), the match
    /// ([`Match::validate`]) and, except for deletions, which ignore them,
    /// the instructions ([`validate_instructions`]).
    pub fn validate(&self) -> Result<(), OfError> {
        if let FlowModCommand::Unknown(command) = self.command {
            return Err(OfError::BadFlowModCommand { command });
        }
        if self.flags.unknown_bits() != 0 {
            return Err(OfError::BadFlowModFlags {
                flags: self.flags.0,
            });
        }
        let deletes = matches!(
            self.command,
            FlowModCommand::Delete | FlowModCommand::DeleteStrict
        );
        if !deletes && self.table_id > table::MAX {
            return Err(OfError::BadFlowModTable {
                table_id: self.table_id,
            });
        }
        self.match_.validate()?;
        if !deletes {
            validate_instructions(&self.instructions, self.table_id)?;
        }
        Ok(())
    }
}

/// A ROLE_REQUEST or ROLE_REPLY body (`ofp_role_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Role {
    /// The role asked for, or granted.
    pub role: ControllerRole,
    /// The master election generation id.
    pub generation_id: u64,
}

impl Role {
    /// The switch's check on a ROLE_REQUEST: a known role
    /// (ROLE_REQUEST_FAILED/BAD_ROLE).
    pub fn validate(&self) -> Result<(), OfError> {
        match self.role {
            ControllerRole::Unknown(role) => Err(OfError::BadRole { role }),
            _ => Ok(()),
        }
    }
}

/// Which asynchronous messages a connection wants
/// (`ofp_async_config`): bit `1 << reason` of each mask; index 0 applies in
/// the master or equal role, index 1 in the slave role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsyncConfig {
    /// PACKET_IN reasons.
    pub packet_in_mask: [u32; 2],
    /// PORT_STATUS reasons.
    pub port_status_mask: [u32; 2],
    /// FLOW_REMOVED reasons.
    pub flow_removed_mask: [u32; 2],
}

impl Default for AsyncConfig {
    /// OpenFlow 1.3's default: masters and equals get every PACKET_IN
    /// (no match, action), PORT_STATUS and FLOW_REMOVED; slaves only
    /// PORT_STATUS.
    fn default() -> Self {
        AsyncConfig {
            packet_in_mask: [0b11, 0],
            port_status_mask: [0b111, 0b111],
            flow_removed_mask: [0b1111, 0],
        }
    }
}

fn read_async(r: &mut Reader<'_>) -> Result<AsyncConfig, OfError> {
    let mut v = [0u32; 6];
    for x in &mut v {
        *x = r.u32()?;
    }
    Ok(AsyncConfig {
        packet_in_mask: [v[0], v[1]],
        port_status_mask: [v[2], v[3]],
        flow_removed_mask: [v[4], v[5]],
    })
}

/// The body of a message, by type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageBody {
    /// HELLO.
    Hello(Hello),
    /// ERROR.
    Error(ErrorMsg),
    /// ECHO_REQUEST with arbitrary data.
    EchoRequest(Vec<u8>),
    /// ECHO_REPLY with the request's data.
    EchoReply(Vec<u8>),
    /// EXPERIMENTER.
    Experimenter(ExperimenterMsg),
    /// FEATURES_REQUEST.
    FeaturesRequest,
    /// FEATURES_REPLY.
    FeaturesReply(SwitchFeatures),
    /// GET_CONFIG_REQUEST.
    GetConfigRequest,
    /// GET_CONFIG_REPLY.
    GetConfigReply(SwitchConfig),
    /// SET_CONFIG.
    SetConfig(SwitchConfig),
    /// PACKET_IN.
    PacketIn(PacketIn),
    /// FLOW_REMOVED.
    FlowRemoved(FlowRemoved),
    /// PORT_STATUS.
    PortStatus(PortStatus),
    /// PACKET_OUT.
    PacketOut(PacketOut),
    /// FLOW_MOD.
    FlowMod(FlowMod),
    /// MULTIPART_REQUEST.
    MultipartRequest(MultipartRequest),
    /// MULTIPART_REPLY.
    MultipartReply(MultipartReply),
    /// BARRIER_REQUEST.
    BarrierRequest,
    /// BARRIER_REPLY.
    BarrierReply,
    /// ROLE_REQUEST.
    RoleRequest(Role),
    /// ROLE_REPLY.
    RoleReply(Role),
    /// GET_ASYNC_REQUEST.
    GetAsyncRequest,
    /// GET_ASYNC_REPLY.
    GetAsyncReply(AsyncConfig),
    /// SET_ASYNC.
    SetAsync(AsyncConfig),
    /// A message type this crate does not model (group, port, table and
    /// meter mods, queue config, async config, or an unknown type), with
    /// its body as it came. `msg_type` must not be one of the modelled
    /// types, or decoding what is encoded gives a different body.
    Unsupported {
        /// The message type.
        msg_type: MsgType,
        /// The body after the header.
        body: Vec<u8>,
    },
}

impl MessageBody {
    /// The message type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            MessageBody::Hello(_) => MsgType::Hello,
            MessageBody::Error(_) => MsgType::Error,
            MessageBody::EchoRequest(_) => MsgType::EchoRequest,
            MessageBody::EchoReply(_) => MsgType::EchoReply,
            MessageBody::Experimenter(_) => MsgType::Experimenter,
            MessageBody::FeaturesRequest => MsgType::FeaturesRequest,
            MessageBody::FeaturesReply(_) => MsgType::FeaturesReply,
            MessageBody::GetConfigRequest => MsgType::GetConfigRequest,
            MessageBody::GetConfigReply(_) => MsgType::GetConfigReply,
            MessageBody::SetConfig(_) => MsgType::SetConfig,
            MessageBody::PacketIn(_) => MsgType::PacketIn,
            MessageBody::FlowRemoved(_) => MsgType::FlowRemoved,
            MessageBody::PortStatus(_) => MsgType::PortStatus,
            MessageBody::PacketOut(_) => MsgType::PacketOut,
            MessageBody::FlowMod(_) => MsgType::FlowMod,
            MessageBody::MultipartRequest(_) => MsgType::MultipartRequest,
            MessageBody::MultipartReply(_) => MsgType::MultipartReply,
            MessageBody::BarrierRequest => MsgType::BarrierRequest,
            MessageBody::BarrierReply => MsgType::BarrierReply,
            MessageBody::RoleRequest(_) => MsgType::RoleRequest,
            MessageBody::RoleReply(_) => MsgType::RoleReply,
            MessageBody::GetAsyncRequest => MsgType::GetAsyncRequest,
            MessageBody::GetAsyncReply(_) => MsgType::GetAsyncReply,
            MessageBody::SetAsync(_) => MsgType::SetAsync,
            MessageBody::Unsupported { msg_type, .. } => *msg_type,
        }
    }

    fn read(msg_type: MsgType, r: &mut Reader<'_>) -> Result<Self, OfError> {
        Ok(match msg_type {
            MsgType::Hello => MessageBody::Hello(Hello::read(r)?),
            MsgType::Error => MessageBody::Error(ErrorMsg {
                code: ErrorCode::new(ErrorType::from(r.u16()?), r.u16()?),
                data: r.rest().to_vec(),
            }),
            MsgType::EchoRequest => MessageBody::EchoRequest(r.rest().to_vec()),
            MsgType::EchoReply => MessageBody::EchoReply(r.rest().to_vec()),
            MsgType::Experimenter => MessageBody::Experimenter(ExperimenterMsg {
                experimenter: r.u32()?,
                exp_type: r.u32()?,
                data: r.rest().to_vec(),
            }),
            MsgType::FeaturesRequest => MessageBody::FeaturesRequest,
            MsgType::FeaturesReply => {
                let datapath_id = r.u64()?;
                let n_buffers = r.u32()?;
                let n_tables = r.u8()?;
                let auxiliary_id = r.u8()?;
                r.skip(2)?;
                MessageBody::FeaturesReply(SwitchFeatures {
                    datapath_id,
                    n_buffers,
                    n_tables,
                    auxiliary_id,
                    capabilities: Capabilities(r.u32()?),
                    reserved: r.u32()?,
                })
            }
            MsgType::GetConfigRequest => MessageBody::GetConfigRequest,
            MsgType::GetConfigReply => MessageBody::GetConfigReply(read_config(r)?),
            MsgType::SetConfig => MessageBody::SetConfig(read_config(r)?),
            MsgType::PacketIn => {
                let buffer_id = r.u32()?;
                let total_len = r.u16()?;
                let reason = PacketInReason::from(r.u8()?);
                let table_id = r.u8()?;
                let cookie = r.u64()?;
                let match_ = Match::read(r)?;
                r.skip(2)?;
                MessageBody::PacketIn(PacketIn {
                    buffer_id,
                    total_len,
                    reason,
                    table_id,
                    cookie,
                    match_,
                    data: r.rest().to_vec(),
                })
            }
            MsgType::FlowRemoved => MessageBody::FlowRemoved(FlowRemoved {
                cookie: r.u64()?,
                priority: r.u16()?,
                reason: FlowRemovedReason::from(r.u8()?),
                table_id: r.u8()?,
                duration_sec: r.u32()?,
                duration_nsec: r.u32()?,
                idle_timeout: r.u16()?,
                hard_timeout: r.u16()?,
                packet_count: r.u64()?,
                byte_count: r.u64()?,
                match_: Match::read(r)?,
            }),
            MsgType::PortStatus => {
                let reason = PortReason::from(r.u8()?);
                r.skip(7)?;
                MessageBody::PortStatus(PortStatus {
                    reason,
                    port: Port::read(r)?,
                })
            }
            MsgType::PacketOut => {
                let buffer_id = r.u32()?;
                let in_port = PortNo(r.u32()?);
                let actions_len = usize::from(r.u16()?);
                r.skip(6)?;
                let actions = read_actions(r.bytes(actions_len)?)?;
                MessageBody::PacketOut(PacketOut {
                    buffer_id,
                    in_port,
                    actions,
                    data: r.rest().to_vec(),
                })
            }
            MsgType::FlowMod => {
                let cookie = r.u64()?;
                let cookie_mask = r.u64()?;
                let table_id = r.u8()?;
                let command = FlowModCommand::from(r.u8()?);
                let idle_timeout = r.u16()?;
                let hard_timeout = r.u16()?;
                let priority = r.u16()?;
                let buffer_id = r.u32()?;
                let out_port = PortNo(r.u32()?);
                let out_group = r.u32()?;
                let flags = FlowModFlags(r.u16()?);
                r.skip(2)?;
                let match_ = Match::read(r)?;
                MessageBody::FlowMod(FlowMod {
                    cookie,
                    cookie_mask,
                    table_id,
                    command,
                    idle_timeout,
                    hard_timeout,
                    priority,
                    buffer_id,
                    out_port,
                    out_group,
                    flags,
                    match_,
                    instructions: read_instructions(r.rest())?,
                })
            }
            MsgType::MultipartRequest => MessageBody::MultipartRequest(MultipartRequest::read(r)?),
            MsgType::MultipartReply => MessageBody::MultipartReply(MultipartReply::read(r)?),
            MsgType::BarrierRequest => MessageBody::BarrierRequest,
            MsgType::BarrierReply => MessageBody::BarrierReply,
            MsgType::RoleRequest => MessageBody::RoleRequest(read_role(r)?),
            MsgType::RoleReply => MessageBody::RoleReply(read_role(r)?),
            MsgType::GetAsyncRequest => MessageBody::GetAsyncRequest,
            MsgType::GetAsyncReply => MessageBody::GetAsyncReply(read_async(r)?),
            MsgType::SetAsync => MessageBody::SetAsync(read_async(r)?),
            other => MessageBody::Unsupported {
                msg_type: other,
                body: r.rest().to_vec(),
            },
        })
    }

    fn write(&self, w: &mut Writer<'_>) {
        match self {
            MessageBody::Hello(hello) => hello.write(w),
            MessageBody::Error(error) => {
                w.u16(error.code.kind.into());
                w.u16(error.code.code);
                w.bytes(&error.data);
            }
            MessageBody::EchoRequest(data) | MessageBody::EchoReply(data) => w.bytes(data),
            MessageBody::Experimenter(e) => {
                w.u32(e.experimenter);
                w.u32(e.exp_type);
                w.bytes(&e.data);
            }
            MessageBody::FeaturesRequest
            | MessageBody::GetConfigRequest
            | MessageBody::BarrierRequest
            | MessageBody::BarrierReply
            | MessageBody::GetAsyncRequest => {}
            MessageBody::GetAsyncReply(a) | MessageBody::SetAsync(a) => {
                for m in [a.packet_in_mask, a.port_status_mask, a.flow_removed_mask] {
                    w.u32(m[0]);
                    w.u32(m[1]);
                }
            }
            MessageBody::FeaturesReply(f) => {
                w.u64(f.datapath_id);
                w.u32(f.n_buffers);
                w.u8(f.n_tables);
                w.u8(f.auxiliary_id);
                w.zeros(2);
                w.u32(f.capabilities.0);
                w.u32(f.reserved);
            }
            MessageBody::GetConfigReply(c) | MessageBody::SetConfig(c) => {
                w.u16(c.flags.0);
                w.u16(c.miss_send_len);
            }
            MessageBody::PacketIn(p) => {
                w.u32(p.buffer_id);
                w.u16(p.total_len);
                w.u8(p.reason.into());
                w.u8(p.table_id);
                w.u64(p.cookie);
                p.match_.write(w);
                w.zeros(2);
                w.bytes(&p.data);
            }
            MessageBody::FlowRemoved(f) => {
                w.u64(f.cookie);
                w.u16(f.priority);
                w.u8(f.reason.into());
                w.u8(f.table_id);
                w.u32(f.duration_sec);
                w.u32(f.duration_nsec);
                w.u16(f.idle_timeout);
                w.u16(f.hard_timeout);
                w.u64(f.packet_count);
                w.u64(f.byte_count);
                f.match_.write(w);
            }
            MessageBody::PortStatus(s) => {
                w.u8(s.reason.into());
                w.zeros(7);
                s.port.write(w);
            }
            MessageBody::PacketOut(p) => {
                w.u32(p.buffer_id);
                w.u32(p.in_port.0);
                let at = w.len();
                w.u16(0);
                w.zeros(6);
                let start = w.len();
                write_actions(&p.actions, w);
                w.patch_len16(at, start);
                w.bytes(&p.data);
            }
            MessageBody::FlowMod(f) => {
                w.u64(f.cookie);
                w.u64(f.cookie_mask);
                w.u8(f.table_id);
                w.u8(f.command.into());
                w.u16(f.idle_timeout);
                w.u16(f.hard_timeout);
                w.u16(f.priority);
                w.u32(f.buffer_id);
                w.u32(f.out_port.0);
                w.u32(f.out_group);
                w.u16(f.flags.0);
                w.zeros(2);
                f.match_.write(w);
                write_instructions(&f.instructions, w);
            }
            MessageBody::MultipartRequest(m) => m.write(w),
            MessageBody::MultipartReply(m) => m.write(w),
            MessageBody::RoleRequest(role) | MessageBody::RoleReply(role) => {
                w.u32(role.role.into());
                w.zeros(4);
                w.u64(role.generation_id);
            }
            MessageBody::Unsupported { body, .. } => w.bytes(body),
        }
    }
}

fn read_config(r: &mut Reader<'_>) -> Result<SwitchConfig, OfError> {
    Ok(SwitchConfig {
        flags: ConfigFlags(r.u16()?),
        miss_send_len: r.u16()?,
    })
}

fn read_role(r: &mut Reader<'_>) -> Result<Role, OfError> {
    let role = ControllerRole::from(r.u32()?);
    r.skip(4)?;
    Ok(Role {
        role,
        generation_id: r.u64()?,
    })
}

/// One OpenFlow message: the header's version and transaction id, and the
/// body (whose variant gives the header's type; the length is computed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// The header's version: 0x04, except in a HELLO or ERROR, which may
    /// carry another (version negotiation).
    pub version: u8,
    /// The transaction id; a reply carries its request's.
    pub xid: u32,
    /// The body.
    pub body: MessageBody,
}

impl Message {
    /// An OpenFlow 1.3 message.
    pub fn new(xid: u32, body: MessageBody) -> Self {
        Message {
            version: OFP_VERSION,
            xid,
            body,
        }
    }

    /// The HELLO rvs sends: version 0x04 with a bitmap of just 0x04.
    pub fn hello(xid: u32) -> Self {
        Message::new(xid, MessageBody::Hello(Hello::new(&[OFP_VERSION])))
    }

    /// The ERROR that answers `error` about the framed message `request`:
    /// same xid, the first 64 bytes of the request as data.
    pub fn error_reply(error: &OfError, request: &[u8]) -> Self {
        let xid = OfpHeader::new_checked(request).map_or(0, |h| h.xid());
        Message::new(
            xid,
            MessageBody::Error(ErrorMsg::from_error(error, request)),
        )
    }

    /// The message type.
    pub fn msg_type(&self) -> MsgType {
        self.body.msg_type()
    }

    /// Decodes exactly one message; see the module docs for what fails.
    pub fn parse(buf: &[u8]) -> Result<Message, OfError> {
        let header = OfpHeader::new_checked(buf)?;
        let length = header.length();
        if usize::from(length) != buf.len() {
            return Err(OfError::LengthMismatch {
                header: length,
                actual: buf.len(),
            });
        }
        let version = header.version();
        let msg_type = header.msg_type();
        if version != OFP_VERSION && !matches!(msg_type, MsgType::Hello | MsgType::Error) {
            return Err(OfError::BadVersion { version });
        }
        let mut r = Reader::new(&buf[HEADER_LEN..], Within::Message(msg_type.name()));
        let body = MessageBody::read(msg_type, &mut r)?;
        r.finish()?;
        Ok(Message {
            version,
            xid: header.xid(),
            body,
        })
    }

    /// Appends the encoded message to `out`. On failure (over 65535 bytes)
    /// `out` is left as it was.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), OfError> {
        let start = out.len();
        let mut w = Writer::new(out);
        w.u8(self.version);
        w.u8(self.msg_type().into());
        w.u16(0);
        w.u32(self.xid);
        self.body.write(&mut w);
        w.patch_len16(start + 2, start);
        let length = w.len() - start;
        if let Some(overflow) = w.overflow() {
            out.truncate(start);
            return Err(OfError::TooLong {
                what: "the message",
                length: length.max(overflow),
                max: MAX_MESSAGE_LEN,
            });
        }
        Ok(())
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Result<Vec<u8>, OfError> {
        let mut out = Vec::new();
        self.emit(&mut out)?;
        Ok(out)
    }

    /// The checks a switch makes on a decoded message before acting on it;
    /// see the module docs. Messages a switch only sends always pass.
    pub fn validate(&self) -> Result<(), OfError> {
        match &self.body {
            MessageBody::FlowMod(flow_mod) => flow_mod.validate(),
            MessageBody::PacketOut(packet_out) => packet_out.validate(),
            MessageBody::MultipartRequest(request) => request.validate(),
            MessageBody::RoleRequest(role) => role.validate(),
            MessageBody::SetConfig(config) => config.validate(),
            MessageBody::Experimenter(e) => Err(OfError::UnsupportedExperimenter {
                experimenter: e.experimenter,
            }),
            MessageBody::Unsupported { msg_type, .. } => Err(OfError::UnsupportedMessage {
                msg_type: *msg_type,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::{
        bad_action, bad_instruction, bad_match, bad_request, flow_mod_failed, hello_failed,
    };
    use crate::multipart::{
        AggregateStats, FlowStats, FlowStatsRequest, MultipartReplyBody, MultipartRequestBody,
        MultipartType, PortStats, SwitchDesc, TableStats,
    };
    use crate::oxm::{Masked, OxmField};
    use crate::types::{MacAddr, MultipartFlags, PortConfig, PortFeatures, PortState};
    use std::net::Ipv4Addr;

    fn round_trip(message: &Message) -> Vec<u8> {
        let bytes = message.to_bytes().unwrap();
        assert_eq!(
            usize::from(OfpHeader::new_checked(&bytes[..]).unwrap().length()),
            bytes.len()
        );
        assert_eq!(Message::parse(&bytes).as_ref(), Ok(message), "{bytes:02x?}");
        bytes
    }

    #[test]
    fn hello_with_version_bitmap() {
        #[rustfmt::skip]
        let bytes = [
            0x04, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, // HELLO, 16 bytes, xid 1
            0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x10, // bitmap: version 4
        ];
        let hello = Message::hello(1);
        assert_eq!(round_trip(&hello), bytes);
        let MessageBody::Hello(body) = &hello.body else {
            unreachable!()
        };
        assert_eq!(body.negotiate(4), Ok(4));
    }

    #[test]
    fn version_negotiation() {
        // A peer at OpenFlow 1.5 that also speaks 1.0, 1.3 and 1.4.
        #[rustfmt::skip]
        let ovs = [
            0x06, 0x00, 0x00, 0x10, 0, 0, 0, 9,
            0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x72,
        ];
        let message = Message::parse(&ovs).unwrap();
        assert_eq!(message.version, 6);
        let MessageBody::Hello(hello) = &message.body else {
            unreachable!()
        };
        assert_eq!(hello.version_bitmap(), Some(&[0x72][..]));
        assert_eq!(hello.negotiate(message.version), Ok(4));

        // OpenFlow 1.0 hello without elements: no common version.
        let old = Message::parse(&[1, 0, 0, 8, 0, 0, 0, 3]).unwrap();
        let MessageBody::Hello(hello) = &old.body else {
            unreachable!()
        };
        let err = hello.negotiate(old.version).unwrap_err();
        assert_eq!(err.code().kind, ErrorType::HelloFailed);
        assert_eq!(err.code().code, hello_failed::INCOMPATIBLE);
        let reply = Message::error_reply(&err, &[1, 0, 0, 8, 0, 0, 0, 3]);
        assert_eq!(reply.xid, 3);
        let MessageBody::Error(error) = &reply.body else {
            unreachable!()
        };
        assert!(String::from_utf8_lossy(&error.data).contains("OpenFlow 1.3"));

        // A later version without a bitmap settles on ours.
        assert_eq!(Hello::default().negotiate(5), Ok(4));
        // A bitmap without 1.3.
        assert!(Hello::new(&[1, 5]).negotiate(5).is_err());
        assert_eq!(
            Hello::new(&[1, 4, 33]).version_bitmap(),
            Some(&[0x12, 0x2][..])
        );
    }

    #[test]
    fn flow_mod_in_port_1_apply_output_2() {
        #[rustfmt::skip]
        let bytes = [
            0x04, 0x0e, 0x00, 0x58, 0x00, 0x00, 0x00, 0x2a, // FLOW_MOD, 88 bytes, xid 42
            0, 0, 0, 0, 0, 0, 0, 0,                         // cookie
            0, 0, 0, 0, 0, 0, 0, 0,                         // cookie_mask
            0x00, 0x00,                                     // table 0, ADD
            0x00, 0x0a, 0x00, 0x00,                         // idle 10, hard 0
            0x80, 0x00,                                     // priority 0x8000
            0xff, 0xff, 0xff, 0xff,                         // no buffer
            0xff, 0xff, 0xff, 0xff,                         // out_port ANY
            0xff, 0xff, 0xff, 0xff,                         // out_group ANY
            0x00, 0x01, 0x00, 0x00,                         // SEND_FLOW_REM, pad
            0x00, 0x01, 0x00, 0x0c,                         // OXM match, 12 bytes
            0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, // in_port=1
            0x00, 0x00, 0x00, 0x00,                         // pad
            0x00, 0x04, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, // apply_actions, 24 bytes
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02, // output:2
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // max_len 0, pad
        ];
        let mut flow_mod = FlowMod::add(
            Match::new().with(OxmField::InPort(PortNo(1))),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])],
        );
        flow_mod.idle_timeout = 10;
        flow_mod.flags = FlowModFlags::SEND_FLOW_REM;
        let message = Message::new(42, MessageBody::FlowMod(flow_mod));
        assert_eq!(round_trip(&message), bytes);
        assert_eq!(message.validate(), Ok(()));
    }

    #[test]
    fn packet_in_layout() {
        #[rustfmt::skip]
        let bytes = [
            0x04, 0x0a, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, // PACKET_IN, 56 bytes
            0xff, 0xff, 0xff, 0xff,                         // no buffer
            0x00, 0x0e, 0x00, 0x00,                         // total_len 14, NO_MATCH, table 0
            0, 0, 0, 0, 0, 0, 0, 0,                         // cookie
            0x00, 0x01, 0x00, 0x0c,                         // match: in_port=3
            0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03,
            0x00, 0x00, 0x00, 0x00,
            0x00, 0x00,                                     // pad
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,             // the frame
            0x52, 0x54, 0x00, 0x00, 0x00, 0x01,
            0x08, 0x06,
        ];
        let message = Message::new(
            0,
            MessageBody::PacketIn(PacketIn {
                buffer_id: NO_BUFFER,
                total_len: 14,
                reason: PacketInReason::NoMatch,
                table_id: 0,
                cookie: 0,
                match_: Match::new().with(OxmField::InPort(PortNo(3))),
                data: bytes[42..].to_vec(),
            }),
        );
        assert_eq!(round_trip(&message), bytes);
    }

    #[test]
    fn packet_out_layout() {
        #[rustfmt::skip]
        let bytes = [
            0x04, 0x0d, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x05, // PACKET_OUT, 44 bytes
            0xff, 0xff, 0xff, 0xff,                         // no buffer
            0xff, 0xff, 0xff, 0xfd,                         // in_port CONTROLLER
            0x00, 0x10, 0, 0, 0, 0, 0, 0,                   // actions_len 16, pad
            0x00, 0x00, 0x00, 0x10, 0xff, 0xff, 0xff, 0xfb, // output:FLOOD
            0x00, 0x00, 0, 0, 0, 0, 0, 0,
            0xde, 0xad, 0xbe, 0xef,                         // data
        ];
        let message = Message::new(
            5,
            MessageBody::PacketOut(PacketOut {
                buffer_id: NO_BUFFER,
                in_port: PortNo::CONTROLLER,
                actions: vec![Action::output(PortNo::FLOOD)],
                data: vec![0xde, 0xad, 0xbe, 0xef],
            }),
        );
        assert_eq!(round_trip(&message), bytes);
        assert_eq!(message.validate(), Ok(()));
    }

    #[test]
    fn error_layout_and_reply() {
        let request = [0x04, 0x1e, 0x00, 0x08, 0x00, 0x00, 0x00, 0x07];
        let parsed = Message::parse(&request).unwrap();
        assert_eq!(
            parsed.body,
            MessageBody::Unsupported {
                msg_type: MsgType::Unknown(30),
                body: vec![]
            }
        );
        let err = parsed.validate().unwrap_err();
        let reply = Message::error_reply(&err, &request);
        #[rustfmt::skip]
        let bytes = [
            0x04, 0x01, 0x00, 0x14, 0x00, 0x00, 0x00, 0x07, // ERROR, 20 bytes, xid 7
            0x00, 0x01, 0x00, 0x01,                         // BAD_REQUEST/BAD_TYPE
            0x04, 0x1e, 0x00, 0x08, 0x00, 0x00, 0x00, 0x07, // the request
        ];
        assert_eq!(round_trip(&reply), bytes);

        // Only the first 64 bytes of a long request.
        let long = Message::new(1, MessageBody::EchoRequest(vec![7; 200]))
            .to_bytes()
            .unwrap();
        let reply = Message::error_reply(&OfError::BadLength { what: "test" }, &long);
        let MessageBody::Error(error) = reply.body else {
            unreachable!()
        };
        assert_eq!(error.data, long[..64]);
    }

    #[test]
    fn decoding_errors_carry_their_codes() {
        let code = |bytes: &[u8]| Message::parse(bytes).unwrap_err().code();
        let bad_request_code = |bytes: &[u8]| {
            let c = code(bytes);
            assert_eq!(c.kind, ErrorType::BadRequest, "{bytes:?}");
            c.code
        };
        // Truncated header, length disagreeing with the buffer.
        assert_eq!(bad_request_code(&[4, 5, 0]), bad_request::BAD_LEN);
        assert_eq!(
            bad_request_code(&[4, 5, 0, 9, 0, 0, 0, 0]),
            bad_request::BAD_LEN
        );
        assert_eq!(
            bad_request_code(&[4, 5, 0, 4, 0, 0, 0, 0]),
            bad_request::BAD_LEN
        );
        // FEATURES_REQUEST of OpenFlow 1.0.
        assert_eq!(
            bad_request_code(&[1, 5, 0, 8, 0, 0, 0, 0]),
            bad_request::BAD_VERSION
        );
        // FEATURES_REQUEST with a body; ROLE_REQUEST cut short.
        assert_eq!(
            bad_request_code(&[4, 5, 0, 9, 0, 0, 0, 0, 0]),
            bad_request::BAD_LEN
        );
        assert_eq!(
            bad_request_code(&[4, 24, 0, 12, 0, 0, 0, 0, 0, 0, 0, 2]),
            bad_request::BAD_LEN
        );
        // PACKET_OUT whose actions_len runs past the message.
        #[rustfmt::skip]
        let packet_out = [
            4, 13, 0, 24, 0, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd,
            0, 16, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(bad_request_code(&packet_out), bad_request::BAD_LEN);
    }

    fn flow_mod_with(match_: Match, instructions: Vec<Instruction>) -> Message {
        Message::new(1, MessageBody::FlowMod(FlowMod::add(match_, instructions)))
    }

    fn validation_code(message: &Message) -> ErrorCode {
        // Validation happens on what came off the wire.
        let decoded = Message::parse(&message.to_bytes().unwrap()).unwrap();
        decoded.validate().unwrap_err().code()
    }

    #[test]
    fn validation_errors_carry_their_codes() {
        let unknown_instruction = flow_mod_with(
            Match::new(),
            vec![Instruction::Unknown {
                instruction_type: 77,
                body: vec![0; 4],
            }],
        );
        assert_eq!(
            validation_code(&unknown_instruction),
            ErrorCode::new(ErrorType::BadInstruction, bad_instruction::UNKNOWN_INST)
        );

        let unknown_action = flow_mod_with(
            Match::new(),
            vec![Instruction::WriteActions(vec![Action::Unknown {
                action_type: 200,
                body: vec![0; 4],
            }])],
        );
        assert_eq!(
            validation_code(&unknown_action),
            ErrorCode::new(ErrorType::BadAction, bad_action::BAD_TYPE)
        );

        let no_prereq = flow_mod_with(
            Match::new().with(OxmField::Ipv4Src(Masked::exact(Ipv4Addr::LOCALHOST))),
            vec![],
        );
        assert_eq!(
            validation_code(&no_prereq),
            ErrorCode::new(ErrorType::BadMatch, bad_match::BAD_PREREQ)
        );

        let mut bad_command = FlowMod::add(Match::new(), vec![]);
        bad_command.command = FlowModCommand::Unknown(9);
        assert_eq!(
            validation_code(&Message::new(1, MessageBody::FlowMod(bad_command))),
            ErrorCode::new(ErrorType::FlowModFailed, flow_mod_failed::BAD_COMMAND)
        );

        let mut add_to_all = FlowMod::add(Match::new(), vec![]);
        add_to_all.table_id = table::ALL;
        assert_eq!(
            validation_code(&Message::new(1, MessageBody::FlowMod(add_to_all))),
            ErrorCode::new(ErrorType::FlowModFailed, flow_mod_failed::BAD_TABLE_ID)
        );
        // Deleting in every table is fine, whatever the instructions.
        let mut delete = FlowMod::delete(Match::new());
        delete.instructions = vec![Instruction::GotoTable(0)];
        assert_eq!(
            Message::new(1, MessageBody::FlowMod(delete)).validate(),
            Ok(())
        );

        let group_mod = Message::new(
            1,
            MessageBody::Unsupported {
                msg_type: MsgType::GroupMod,
                body: vec![0; 8],
            },
        );
        assert_eq!(
            validation_code(&group_mod),
            ErrorCode::new(ErrorType::BadRequest, bad_request::BAD_TYPE)
        );

        let queue_stats = Message::new(
            1,
            MessageBody::MultipartRequest(MultipartRequest::new(MultipartRequestBody::Other {
                mp_type: MultipartType::Queue,
                body: vec![0; 8],
            })),
        );
        assert_eq!(
            validation_code(&queue_stats),
            ErrorCode::new(ErrorType::BadRequest, bad_request::BAD_MULTIPART)
        );

        let packet_out = Message::new(
            1,
            MessageBody::PacketOut(PacketOut {
                buffer_id: NO_BUFFER,
                in_port: PortNo::FLOOD,
                actions: vec![],
                data: vec![],
            }),
        );
        assert_eq!(
            validation_code(&packet_out),
            ErrorCode::new(ErrorType::BadRequest, bad_request::BAD_PORT)
        );

        let role = Message::new(
            1,
            MessageBody::RoleRequest(Role {
                role: ControllerRole::Unknown(7),
                generation_id: 0,
            }),
        );
        assert_eq!(validation_code(&role).kind, ErrorType::RoleRequestFailed);
    }

    /// One message of every modelled type, and every multipart body.
    pub(crate) fn one_of_each() -> Vec<Message> {
        let match_ = Match::new()
            .with(OxmField::EthType(0x0800))
            .with(OxmField::IpProto(17))
            .with(OxmField::UdpDst(Masked::exact(53)));
        let instructions = vec![
            Instruction::ApplyActions(vec![
                Action::PushVlan(0x8100),
                Action::SetField(OxmField::VlanVid(Masked::exact(0x1000 | 10))),
                Action::output(PortNo(3)),
            ]),
            Instruction::GotoTable(1),
        ];
        let port = Port {
            port_no: PortNo(2),
            hw_addr: MacAddr([2, 0, 0, 0, 0, 2]),
            name: "vhost0".into(),
            config: PortConfig::EMPTY,
            state: PortState::LIVE,
            curr: PortFeatures::RATE_10GB_FD,
            advertised: PortFeatures::EMPTY,
            supported: PortFeatures::RATE_10GB_FD,
            peer: PortFeatures::EMPTY,
            curr_speed: 10_000_000,
            max_speed: 10_000_000,
        };
        let flow_stats = FlowStats {
            table_id: 0,
            duration_sec: 5,
            duration_nsec: 6,
            priority: 100,
            idle_timeout: 60,
            hard_timeout: 0,
            flags: FlowModFlags::SEND_FLOW_REM | FlowModFlags::NO_BYT_COUNTS,
            cookie: 0xfeed,
            packet_count: 3,
            byte_count: 300,
            match_: match_.clone(),
            instructions: instructions.clone(),
        };
        let request = |body| {
            MessageBody::MultipartRequest(MultipartRequest {
                flags: MultipartFlags::EMPTY,
                body,
            })
        };
        let reply = |body| {
            MessageBody::MultipartReply(MultipartReply {
                flags: MultipartFlags::MORE,
                body,
            })
        };
        let bodies = vec![
            MessageBody::Hello(Hello::new(&[1, 4])),
            MessageBody::Error(ErrorMsg::new(
                ErrorCode::new(ErrorType::BadMatch, bad_match::BAD_PREREQ),
                &[4, 14, 0, 8, 0, 0, 0, 1],
            )),
            MessageBody::EchoRequest(b"ping".to_vec()),
            MessageBody::EchoReply(b"ping".to_vec()),
            MessageBody::Experimenter(ExperimenterMsg {
                experimenter: 0x2320,
                exp_type: 17,
                data: vec![1, 2, 3],
            }),
            MessageBody::FeaturesRequest,
            MessageBody::FeaturesReply(SwitchFeatures {
                datapath_id: 0x0000_5254_0000_0001,
                n_buffers: 0,
                n_tables: 254,
                auxiliary_id: 0,
                capabilities: Capabilities::FLOW_STATS
                    | Capabilities::TABLE_STATS
                    | Capabilities::PORT_STATS,
                reserved: 0,
            }),
            MessageBody::GetConfigRequest,
            MessageBody::GetConfigReply(SwitchConfig {
                flags: ConfigFlags::EMPTY,
                miss_send_len: 128,
            }),
            MessageBody::SetConfig(SwitchConfig {
                flags: ConfigFlags::FRAG_DROP,
                miss_send_len: 0xffff,
            }),
            MessageBody::PacketIn(PacketIn {
                buffer_id: NO_BUFFER,
                total_len: 60,
                reason: PacketInReason::Action,
                table_id: 1,
                cookie: 9,
                match_: Match::new().with(OxmField::InPort(PortNo(1))),
                data: vec![0xaa; 60],
            }),
            MessageBody::FlowRemoved(FlowRemoved {
                cookie: 1,
                priority: 2,
                reason: FlowRemovedReason::IdleTimeout,
                table_id: 3,
                duration_sec: 4,
                duration_nsec: 5,
                idle_timeout: 6,
                hard_timeout: 7,
                packet_count: 8,
                byte_count: 9,
                match_: match_.clone(),
            }),
            MessageBody::PortStatus(PortStatus {
                reason: PortReason::Modify,
                port: port.clone(),
            }),
            MessageBody::PacketOut(PacketOut {
                buffer_id: NO_BUFFER,
                in_port: PortNo(1),
                actions: vec![Action::output(PortNo::NORMAL)],
                data: vec![1; 64],
            }),
            MessageBody::FlowMod(FlowMod {
                cookie: 0x1234,
                cookie_mask: u64::MAX,
                priority: 1000,
                hard_timeout: 30,
                flags: FlowModFlags::CHECK_OVERLAP | FlowModFlags::RESET_COUNTS,
                ..FlowMod::add(match_.clone(), instructions.clone())
            }),
            MessageBody::FlowMod(FlowMod::new(FlowModCommand::ModifyStrict, match_.clone())),
            MessageBody::FlowMod(FlowMod::new(FlowModCommand::DeleteStrict, match_.clone())),
            request(MultipartRequestBody::Desc),
            request(MultipartRequestBody::Flow(FlowStatsRequest {
                table_id: 0,
                match_: match_.clone(),
                ..FlowStatsRequest::default()
            })),
            request(MultipartRequestBody::Aggregate(FlowStatsRequest::default())),
            request(MultipartRequestBody::Table),
            request(MultipartRequestBody::PortStats(PortNo::ANY)),
            request(MultipartRequestBody::PortDesc),
            request(MultipartRequestBody::Other {
                mp_type: MultipartType::Group,
                body: vec![0, 0, 0, 1, 0, 0, 0, 0],
            }),
            reply(MultipartReplyBody::Desc(SwitchDesc {
                mfr_desc: "rvs".into(),
                hw_desc: "userspace".into(),
                sw_desc: "0.1.0".into(),
                serial_num: "none".into(),
                dp_desc: "br0".into(),
            })),
            reply(MultipartReplyBody::Flow(vec![
                flow_stats.clone(),
                flow_stats,
            ])),
            reply(MultipartReplyBody::Aggregate(AggregateStats {
                packet_count: 1,
                byte_count: 2,
                flow_count: 3,
            })),
            reply(MultipartReplyBody::Table(vec![TableStats {
                table_id: 0,
                active_count: 4,
                lookup_count: 5,
                matched_count: 6,
            }])),
            reply(MultipartReplyBody::PortStats(vec![PortStats {
                port_no: PortNo(1),
                rx_packets: 1,
                tx_bytes: 2,
                collisions: u64::MAX,
                duration_sec: 3,
                ..PortStats::default()
            }])),
            reply(MultipartReplyBody::PortDesc(vec![port.clone(), port])),
            reply(MultipartReplyBody::Other {
                mp_type: MultipartType::MeterFeatures,
                body: vec![0; 16],
            }),
            MessageBody::BarrierRequest,
            MessageBody::BarrierReply,
            MessageBody::RoleRequest(Role {
                role: ControllerRole::Master,
                generation_id: 12,
            }),
            MessageBody::RoleReply(Role {
                role: ControllerRole::Slave,
                generation_id: 13,
            }),
            MessageBody::GetAsyncRequest,
            MessageBody::GetAsyncReply(AsyncConfig::default()),
            MessageBody::SetAsync(AsyncConfig {
                packet_in_mask: [6, 0],
                port_status_mask: [7, 7],
                flow_removed_mask: [0, 0],
            }),
            MessageBody::Unsupported {
                msg_type: MsgType::MeterMod,
                body: vec![0; 16],
            },
        ];
        bodies
            .into_iter()
            .enumerate()
            .map(|(xid, body)| Message::new(xid as u32, body))
            .collect()
    }

    #[test]
    fn every_message_type_round_trips() {
        let messages = one_of_each();
        let mut types: Vec<u8> = messages.iter().map(|m| m.msg_type().into()).collect();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), 25, "every modelled type and one unsupported");
        for message in &messages {
            round_trip(message);
        }
    }

    #[test]
    fn oversized_messages_are_refused() {
        let echo = Message::new(1, MessageBody::EchoRequest(vec![0; MAX_MESSAGE_LEN - 8]));
        assert_eq!(echo.to_bytes().unwrap().len(), MAX_MESSAGE_LEN);
        let echo = Message::new(1, MessageBody::EchoRequest(vec![0; MAX_MESSAGE_LEN - 7]));
        let mut out = vec![1, 2, 3];
        assert!(matches!(echo.emit(&mut out), Err(OfError::TooLong { .. })));
        assert_eq!(out, [1, 2, 3]);
    }
}
