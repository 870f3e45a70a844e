//! Errors, in two senses.
//!
//! * [`OfError`]: what went wrong decoding, validating or encoding a
//!   message. Every variant maps, through [`OfError::code`], to the
//!   OpenFlow ERROR (type, code) a switch sends back for it, so the switch
//!   never has to pick the code itself.
//! * [`ErrorType`], [`ErrorCode`] and the code modules ([`bad_request`],
//!   [`bad_match`], …): the numbers an ERROR message carries
//!   (`ofp_error_type` and the per-type `ofp_*_code` enums of OpenFlow
//!   1.3.5). Unknown types stay [`ErrorType::Unknown`]; codes stay plain
//!   `u16` so that any code decodes.

use std::fmt;

use thiserror::Error;

use crate::header::MsgType;
use crate::multipart::MultipartType;
use crate::types::PortNo;

/// The `type` of an ERROR message (`ofp_error_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Hello protocol failed (`OFPET_HELLO_FAILED`, codes in [`hello_failed`]).
    HelloFailed,
    /// Request was not understood (`OFPET_BAD_REQUEST`, [`bad_request`]).
    BadRequest,
    /// Error in an action (`OFPET_BAD_ACTION`, [`bad_action`]).
    BadAction,
    /// Error in an instruction (`OFPET_BAD_INSTRUCTION`, [`bad_instruction`]).
    BadInstruction,
    /// Error in a match (`OFPET_BAD_MATCH`, [`bad_match`]).
    BadMatch,
    /// Problem modifying a flow (`OFPET_FLOW_MOD_FAILED`, [`flow_mod_failed`]).
    FlowModFailed,
    /// Problem modifying a group (`OFPET_GROUP_MOD_FAILED`, [`group_mod_failed`]).
    GroupModFailed,
    /// Port mod request failed (`OFPET_PORT_MOD_FAILED`, [`port_mod_failed`]).
    PortModFailed,
    /// Table mod request failed (`OFPET_TABLE_MOD_FAILED`, [`table_mod_failed`]).
    TableModFailed,
    /// Queue operation failed (`OFPET_QUEUE_OP_FAILED`, [`queue_op_failed`]).
    QueueOpFailed,
    /// Switch config request failed (`OFPET_SWITCH_CONFIG_FAILED`,
    /// [`switch_config_failed`]).
    SwitchConfigFailed,
    /// Controller role request failed (`OFPET_ROLE_REQUEST_FAILED`,
    /// [`role_request_failed`]).
    RoleRequestFailed,
    /// Meter mod request failed (`OFPET_METER_MOD_FAILED`, [`meter_mod_failed`]).
    MeterModFailed,
    /// Table features request failed (`OFPET_TABLE_FEATURES_FAILED`,
    /// [`table_features_failed`]).
    TableFeaturesFailed,
    /// Experimenter error (`OFPET_EXPERIMENTER`): the code is the
    /// experimenter's type and the data starts with the experimenter id.
    Experimenter,
    /// A type OpenFlow 1.3 does not define.
    Unknown(u16),
}

impl From<u16> for ErrorType {
    fn from(value: u16) -> Self {
        match value {
            0 => ErrorType::HelloFailed,
            1 => ErrorType::BadRequest,
            2 => ErrorType::BadAction,
            3 => ErrorType::BadInstruction,
            4 => ErrorType::BadMatch,
            5 => ErrorType::FlowModFailed,
            6 => ErrorType::GroupModFailed,
            7 => ErrorType::PortModFailed,
            8 => ErrorType::TableModFailed,
            9 => ErrorType::QueueOpFailed,
            10 => ErrorType::SwitchConfigFailed,
            11 => ErrorType::RoleRequestFailed,
            12 => ErrorType::MeterModFailed,
            13 => ErrorType::TableFeaturesFailed,
            0xffff => ErrorType::Experimenter,
            other => ErrorType::Unknown(other),
        }
    }
}

impl From<ErrorType> for u16 {
    fn from(value: ErrorType) -> Self {
        match value {
            ErrorType::HelloFailed => 0,
            ErrorType::BadRequest => 1,
            ErrorType::BadAction => 2,
            ErrorType::BadInstruction => 3,
            ErrorType::BadMatch => 4,
            ErrorType::FlowModFailed => 5,
            ErrorType::GroupModFailed => 6,
            ErrorType::PortModFailed => 7,
            ErrorType::TableModFailed => 8,
            ErrorType::QueueOpFailed => 9,
            ErrorType::SwitchConfigFailed => 10,
            ErrorType::RoleRequestFailed => 11,
            ErrorType::MeterModFailed => 12,
            ErrorType::TableFeaturesFailed => 13,
            ErrorType::Experimenter => 0xffff,
            ErrorType::Unknown(other) => other,
        }
    }
}

impl ErrorType {
    /// The specification's name without its `OFPET_` prefix.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            ErrorType::HelloFailed => "HELLO_FAILED",
            ErrorType::BadRequest => "BAD_REQUEST",
            ErrorType::BadAction => "BAD_ACTION",
            ErrorType::BadInstruction => "BAD_INSTRUCTION",
            ErrorType::BadMatch => "BAD_MATCH",
            ErrorType::FlowModFailed => "FLOW_MOD_FAILED",
            ErrorType::GroupModFailed => "GROUP_MOD_FAILED",
            ErrorType::PortModFailed => "PORT_MOD_FAILED",
            ErrorType::TableModFailed => "TABLE_MOD_FAILED",
            ErrorType::QueueOpFailed => "QUEUE_OP_FAILED",
            ErrorType::SwitchConfigFailed => "SWITCH_CONFIG_FAILED",
            ErrorType::RoleRequestFailed => "ROLE_REQUEST_FAILED",
            ErrorType::MeterModFailed => "METER_MOD_FAILED",
            ErrorType::TableFeaturesFailed => "TABLE_FEATURES_FAILED",
            ErrorType::Experimenter => "EXPERIMENTER",
            ErrorType::Unknown(_) => return None,
        })
    }

    /// The specification's name of `code` under this type, without its
    /// prefix (`"BAD_LEN"` for `OFPBRC_BAD_LEN`).
    pub fn code_name(self, code: u16) -> Option<&'static str> {
        match self {
            ErrorType::HelloFailed => hello_failed::name(code),
            ErrorType::BadRequest => bad_request::name(code),
            ErrorType::BadAction => bad_action::name(code),
            ErrorType::BadInstruction => bad_instruction::name(code),
            ErrorType::BadMatch => bad_match::name(code),
            ErrorType::FlowModFailed => flow_mod_failed::name(code),
            ErrorType::GroupModFailed => group_mod_failed::name(code),
            ErrorType::PortModFailed => port_mod_failed::name(code),
            ErrorType::TableModFailed => table_mod_failed::name(code),
            ErrorType::QueueOpFailed => queue_op_failed::name(code),
            ErrorType::SwitchConfigFailed => switch_config_failed::name(code),
            ErrorType::RoleRequestFailed => role_request_failed::name(code),
            ErrorType::MeterModFailed => meter_mod_failed::name(code),
            ErrorType::TableFeaturesFailed => table_features_failed::name(code),
            ErrorType::Experimenter | ErrorType::Unknown(_) => None,
        }
    }
}

/// Defines a module of error codes with a `name` lookup.
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        $module:ident { $( $(#[$cmeta:meta])* $name:ident = $value:literal, )* }
    ) => {
        $(#[$meta])*
        pub mod $module {
            $( $(#[$cmeta])* pub const $name: u16 = $value; )*

            /// The specification's name of `code`, without its prefix.
            pub fn name(code: u16) -> Option<&'static str> {
                match code {
                    $( $value => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// Codes of [`ErrorType::HelloFailed`] (`ofp_hello_failed_code`).
    hello_failed {
        /// No compatible version.
        INCOMPATIBLE = 0,
        /// Permissions error.
        EPERM = 1,
    }
}

error_codes! {
    /// Codes of [`ErrorType::BadRequest`] (`ofp_bad_request_code`).
    bad_request {
        /// The header's version is not supported.
        BAD_VERSION = 0,
        /// The message type is not supported.
        BAD_TYPE = 1,
        /// The multipart type is not supported.
        BAD_MULTIPART = 2,
        /// The experimenter id is not supported.
        BAD_EXPERIMENTER = 3,
        /// The experimenter type is not supported.
        BAD_EXP_TYPE = 4,
        /// Permissions error.
        EPERM = 5,
        /// Wrong request length for its type.
        BAD_LEN = 6,
        /// The buffer id has already been used.
        BUFFER_EMPTY = 7,
        /// The buffer id does not exist.
        BUFFER_UNKNOWN = 8,
        /// The table id is invalid or does not exist.
        BAD_TABLE_ID = 9,
        /// Denied because the controller is a slave.
        IS_SLAVE = 10,
        /// Invalid port.
        BAD_PORT = 11,
        /// Invalid packet in a packet-out.
        BAD_PACKET = 12,
        /// A multipart request overflowed the assigned buffer.
        MULTIPART_BUFFER_OVERFLOW = 13,
    }
}

error_codes! {
    /// Codes of [`ErrorType::BadAction`] (`ofp_bad_action_code`).
    bad_action {
        /// Unknown action type.
        BAD_TYPE = 0,
        /// Length problem in actions.
        BAD_LEN = 1,
        /// Unknown experimenter id.
        BAD_EXPERIMENTER = 2,
        /// Unknown action for the experimenter id.
        BAD_EXP_TYPE = 3,
        /// Problem validating the output port.
        BAD_OUT_PORT = 4,
        /// Bad action argument.
        BAD_ARGUMENT = 5,
        /// Permissions error.
        EPERM = 6,
        /// Cannot handle this many actions.
        TOO_MANY = 7,
        /// Problem validating the output queue.
        BAD_QUEUE = 8,
        /// Invalid group id in a forward action.
        BAD_OUT_GROUP = 9,
        /// The action cannot apply to this match, or a set-field is missing
        /// its prerequisite.
        MATCH_INCONSISTENT = 10,
        /// The action order is unsupported for the action list.
        UNSUPPORTED_ORDER = 11,
        /// The action uses an unsupported tag or encapsulation.
        BAD_TAG = 12,
        /// Unsupported type in a set-field action.
        BAD_SET_TYPE = 13,
        /// Length problem in a set-field action.
        BAD_SET_LEN = 14,
        /// Bad argument in a set-field action.
        BAD_SET_ARGUMENT = 15,
    }
}

error_codes! {
    /// Codes of [`ErrorType::BadInstruction`] (`ofp_bad_instruction_code`).
    bad_instruction {
        /// Unknown instruction.
        UNKNOWN_INST = 0,
        /// Switch or table does not support the instruction.
        UNSUP_INST = 1,
        /// Invalid table id.
        BAD_TABLE_ID = 2,
        /// Metadata value unsupported by the datapath.
        UNSUP_METADATA = 3,
        /// Metadata mask unsupported by the datapath.
        UNSUP_METADATA_MASK = 4,
        /// Unknown experimenter id.
        BAD_EXPERIMENTER = 5,
        /// Unknown instruction for the experimenter id.
        BAD_EXP_TYPE = 6,
        /// Length problem in instructions.
        BAD_LEN = 7,
        /// Permissions error.
        EPERM = 8,
    }
}

error_codes! {
    /// Codes of [`ErrorType::BadMatch`] (`ofp_bad_match_code`).
    bad_match {
        /// Unsupported match type.
        BAD_TYPE = 0,
        /// Length problem in the match.
        BAD_LEN = 1,
        /// Unsupported tag or encapsulation.
        BAD_TAG = 2,
        /// Unsupported datalink address mask.
        BAD_DL_ADDR_MASK = 3,
        /// Unsupported network address mask.
        BAD_NW_ADDR_MASK = 4,
        /// Unsupported combination of fields masked or omitted.
        BAD_WILDCARDS = 5,
        /// Unsupported field type.
        BAD_FIELD = 6,
        /// Unsupported value in a match field.
        BAD_VALUE = 7,
        /// Unsupported mask for the field.
        BAD_MASK = 8,
        /// A prerequisite was not met.
        BAD_PREREQ = 9,
        /// A field type was duplicated.
        DUP_FIELD = 10,
        /// Permissions error.
        EPERM = 11,
    }
}

error_codes! {
    /// Codes of [`ErrorType::FlowModFailed`] (`ofp_flow_mod_failed_code`).
    flow_mod_failed {
        /// Unspecified error.
        UNKNOWN = 0,
        /// The flow was not added for lack of space.
        TABLE_FULL = 1,
        /// The table does not exist.
        BAD_TABLE_ID = 2,
        /// CHECK_OVERLAP was set and an overlapping flow exists.
        OVERLAP = 3,
        /// Permissions error.
        EPERM = 4,
        /// Unsupported or unknown idle or hard timeout.
        BAD_TIMEOUT = 5,
        /// Unsupported or unknown command.
        BAD_COMMAND = 6,
        /// Unsupported or unknown flags.
        BAD_FLAGS = 7,
    }
}

error_codes! {
    /// Codes of [`ErrorType::GroupModFailed`] (`ofp_group_mod_failed_code`).
    group_mod_failed {
        /// The group already exists.
        GROUP_EXISTS = 0,
        /// The group is not added: invalid group id.
        INVALID_GROUP = 1,
        /// Unequal bucket weights are not supported.
        WEIGHT_UNSUPPORTED = 2,
        /// The group table is full.
        OUT_OF_GROUPS = 3,
        /// Too many buckets.
        OUT_OF_BUCKETS = 4,
        /// Chaining groups is not supported.
        CHAINING_UNSUPPORTED = 5,
        /// Watch port or group is not supported.
        WATCH_UNSUPPORTED = 6,
        /// The group would loop.
        LOOP = 7,
        /// The group to modify does not exist.
        UNKNOWN_GROUP = 8,
        /// The group cannot be deleted: another group forwards to it.
        CHAINED_GROUP = 9,
        /// Unsupported or unknown group type.
        BAD_TYPE = 10,
        /// Unsupported or unknown command.
        BAD_COMMAND = 11,
        /// Error in a bucket.
        BAD_BUCKET = 12,
        /// Error in a watch port or group.
        BAD_WATCH = 13,
        /// Permissions error.
        EPERM = 14,
    }
}

error_codes! {
    /// Codes of [`ErrorType::PortModFailed`] (`ofp_port_mod_failed_code`).
    port_mod_failed {
        /// The port does not exist.
        BAD_PORT = 0,
        /// The hardware address does not match the port.
        BAD_HW_ADDR = 1,
        /// The config is invalid.
        BAD_CONFIG = 2,
        /// The advertised features are invalid.
        BAD_ADVERTISE = 3,
        /// Permissions error.
        EPERM = 4,
    }
}

error_codes! {
    /// Codes of [`ErrorType::TableModFailed`] (`ofp_table_mod_failed_code`).
    table_mod_failed {
        /// The table does not exist.
        BAD_TABLE = 0,
        /// The config is invalid.
        BAD_CONFIG = 1,
        /// Permissions error.
        EPERM = 2,
    }
}

error_codes! {
    /// Codes of [`ErrorType::QueueOpFailed`] (`ofp_queue_op_failed_code`).
    queue_op_failed {
        /// Invalid port, or the port does not exist.
        BAD_PORT = 0,
        /// The queue does not exist.
        BAD_QUEUE = 1,
        /// Permissions error.
        EPERM = 2,
    }
}

error_codes! {
    /// Codes of [`ErrorType::SwitchConfigFailed`] (`ofp_switch_config_failed_code`).
    switch_config_failed {
        /// The flags are invalid.
        BAD_FLAGS = 0,
        /// The miss_send_len is invalid.
        BAD_LEN = 1,
        /// Permissions error.
        EPERM = 2,
    }
}

error_codes! {
    /// Codes of [`ErrorType::RoleRequestFailed`] (`ofp_role_request_failed_code`).
    role_request_failed {
        /// Stale message: old generation id.
        STALE = 0,
        /// The controller role change is unsupported.
        UNSUP = 1,
        /// Invalid role.
        BAD_ROLE = 2,
    }
}

error_codes! {
    /// Codes of [`ErrorType::MeterModFailed`] (`ofp_meter_mod_failed_code`).
    meter_mod_failed {
        /// Unspecified error.
        UNKNOWN = 0,
        /// The meter already exists.
        METER_EXISTS = 1,
        /// The meter id is invalid.
        INVALID_METER = 2,
        /// The meter to modify does not exist.
        UNKNOWN_METER = 3,
        /// Unsupported or unknown command.
        BAD_COMMAND = 4,
        /// Flag configuration unsupported.
        BAD_FLAGS = 5,
        /// Rate unsupported.
        BAD_RATE = 6,
        /// Burst size unsupported.
        BAD_BURST = 7,
        /// Band unsupported.
        BAD_BAND = 8,
        /// Band value unsupported.
        BAD_BAND_VALUE = 9,
        /// No more meters available.
        OUT_OF_METERS = 10,
        /// The maximum number of bands was exceeded.
        OUT_OF_BANDS = 11,
    }
}

error_codes! {
    /// Codes of [`ErrorType::TableFeaturesFailed`] (`ofp_table_features_failed_code`).
    table_features_failed {
        /// The table does not exist.
        BAD_TABLE = 0,
        /// Invalid metadata mask.
        BAD_METADATA = 1,
        /// Unknown property type.
        BAD_TYPE = 2,
        /// Length problem in properties.
        BAD_LEN = 3,
        /// Unsupported property value.
        BAD_ARGUMENT = 4,
        /// Permissions error.
        EPERM = 5,
    }
}

/// The (type, code) pair of an ERROR message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    /// The error type.
    pub kind: ErrorType,
    /// The code, whose meaning depends on `kind` (see the code modules).
    pub code: u16,
}

impl ErrorCode {
    /// A (type, code) pair.
    pub const fn new(kind: ErrorType, code: u16) -> Self {
        ErrorCode { kind, code }
    }

    /// The specification's name of the code, without its prefix.
    pub fn code_name(&self) -> Option<&'static str> {
        self.kind.code_name(self.code)
    }
}

impl fmt::Display for ErrorCode {
    /// `BAD_MATCH/BAD_PREREQ`, or numbers where a name is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.name() {
            Some(name) => f.write_str(name)?,
            None => write!(f, "type {}", u16::from(self.kind))?,
        }
        f.write_str("/")?;
        match self.code_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "code {}", self.code),
        }
    }
}

/// What went wrong decoding, validating or encoding an OpenFlow message.
///
/// [`OfError::code`] gives the ERROR (type, code) that answers it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OfError {
    /// an OpenFlow message is at least 8 bytes (its header), but only {len} were given
    #[error("an OpenFlow message is at least 8 bytes (its header), but only {len} were given")]
    ShortMessage {
        /// How many bytes there were.
        len: usize,
    },
    /// the header's length field says {header} bytes but the message has {actual}; pass exactly one framed message
    #[error("the header's length field says {header} bytes but the message has {actual}; pass exactly one framed message")]
    LengthMismatch {
        /// The header's length field.
        header: u16,
        /// How many bytes there were.
        actual: usize,
    },
    /// the header's length field is {length}, less than the 8-byte header itself; the stream is corrupt and must be closed
    #[error("the header's length field is {length}, less than the 8-byte header itself; the stream is corrupt and must be closed")]
    BadHeaderLength {
        /// The header's length field.
        length: u16,
    },
    /// {what} is {length} bytes, over the {max}-byte limit; split it into several messages
    #[error("{what} is {length} bytes, over the {max}-byte limit; split it into several messages")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// How long it was.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// OpenFlow version {version:#04x} is not supported; only OpenFlow 1.3 (0x04) is
    #[error("OpenFlow version {version:#04x} is not supported; only OpenFlow 1.3 (0x04) is")]
    BadVersion {
        /// The header's version.
        version: u8,
    },
    /// the peer offers no OpenFlow version in common with ours (OpenFlow 1.3); configure it for OpenFlow 1.3
    #[error("the peer offers no OpenFlow version in common with ours (OpenFlow 1.3); configure it for OpenFlow 1.3")]
    IncompatibleVersion {
        /// The version in the peer's HELLO header.
        peer_version: u8,
    },
    /// message type {msg_type:?} is not supported here
    #[error("message type {msg_type:?} is not supported here")]
    UnsupportedMessage {
        /// The message type.
        msg_type: MsgType,
    },
    /// experimenter {experimenter:#010x} is not supported
    #[error("experimenter {experimenter:#010x} is not supported")]
    UnsupportedExperimenter {
        /// The experimenter id.
        experimenter: u32,
    },
    /// multipart type {mp_type:?} is not supported here
    #[error("multipart type {mp_type:?} is not supported here")]
    UnsupportedMultipart {
        /// The multipart type.
        mp_type: MultipartType,
    },
    /// {what}: the length does not fit the message
    #[error("{what}: the length does not fit the message")]
    BadLength {
        /// Which part was cut short or too long.
        what: &'static str,
    },
    /// invalid port {port} in a packet-out or request
    #[error("invalid port {port} in a packet-out or request")]
    BadPort {
        /// The port.
        port: PortNo,
    },
    /// one reply entry is {length} bytes and cannot fit in a single multipart reply
    #[error("one reply entry is {length} bytes and cannot fit in a single multipart reply")]
    MultipartOverflow {
        /// The entry's encoded length.
        length: usize,
    },
    /// match type {match_type} is not supported; use the OXM match (type 1)
    #[error("match type {match_type} is not supported; use the OXM match (type 1)")]
    BadMatchType {
        /// The `ofp_match.type`.
        match_type: u16,
    },
    /// {what}: the length does not fit the match
    #[error("{what}: the length does not fit the match")]
    BadMatchLength {
        /// Which part was cut short or too long.
        what: &'static str,
    },
    /// OXM field {field} of class {class:#06x} is not supported in a match
    #[error("OXM field {field} of class {class:#06x} is not supported in a match")]
    UnknownField {
        /// The OXM class.
        class: u16,
        /// The OXM field number.
        field: u8,
    },
    /// OXM field {field} of class {class:#06x} appears twice in one match; give each field once
    #[error(
        "OXM field {field} of class {class:#06x} appears twice in one match; give each field once"
    )]
    DuplicateField {
        /// The OXM class.
        class: u16,
        /// The OXM field number.
        field: u8,
    },
    /// match field {field} needs {needs} in the same match
    #[error("match field {field} needs {needs} in the same match")]
    BadPrerequisite {
        /// The field whose prerequisite is missing.
        field: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// the value or mask of match field {field} is out of range
    #[error("the value or mask of match field {field} is out of range")]
    BadFieldValue {
        /// The field.
        field: &'static str,
    },
    /// match field {field} cannot be masked
    #[error("match field {field} cannot be masked")]
    MaskNotAllowed {
        /// The field.
        field: &'static str,
    },
    /// match field {field} has value bits set where its mask is 0; clear them
    #[error("match field {field} has value bits set where its mask is 0; clear them")]
    BadWildcards {
        /// The field.
        field: &'static str,
    },
    /// {what}: the length does not fit the instruction
    #[error("{what}: the length does not fit the instruction")]
    BadInstructionLength {
        /// Which instruction.
        what: &'static str,
    },
    /// instruction type {instruction_type} is unknown
    #[error("instruction type {instruction_type} is unknown")]
    UnknownInstruction {
        /// The instruction type.
        instruction_type: u16,
    },
    /// experimenter instruction of experimenter {experimenter:#010x} is not supported
    #[error("experimenter instruction of experimenter {experimenter:#010x} is not supported")]
    ExperimenterInstruction {
        /// The experimenter id.
        experimenter: u32,
    },
    /// instruction type {instruction_type} appears twice; give each instruction once per flow
    #[error(
        "instruction type {instruction_type} appears twice; give each instruction once per flow"
    )]
    DuplicateInstruction {
        /// The instruction type.
        instruction_type: u16,
    },
    /// goto_table:{table_id} must name a later table than the flow's own table {from_table}
    #[error(
        "goto_table:{table_id} must name a later table than the flow's own table {from_table}"
    )]
    BadGotoTable {
        /// The table the instruction jumps to.
        table_id: u8,
        /// The flow's table.
        from_table: u8,
    },
    /// {what}: the length does not fit the action
    #[error("{what}: the length does not fit the action")]
    BadActionLength {
        /// Which action.
        what: &'static str,
    },
    /// action type {action_type} is unknown
    #[error("action type {action_type} is unknown")]
    UnknownAction {
        /// The action type.
        action_type: u16,
    },
    /// experimenter action of experimenter {experimenter:#010x} is not supported
    #[error("experimenter action of experimenter {experimenter:#010x} is not supported")]
    ExperimenterAction {
        /// The experimenter id.
        experimenter: u32,
    },
    /// output to port {port} is not possible; use a port number or IN_PORT, TABLE, NORMAL, FLOOD, ALL, CONTROLLER or LOCAL
    #[error("output to port {port} is not possible; use a port number or IN_PORT, TABLE, NORMAL, FLOOD, ALL, CONTROLLER or LOCAL")]
    BadOutPort {
        /// The port.
        port: PortNo,
    },
    /// group action to group {group:#x} is not possible; use a group number up to 0xffffff00
    #[error(
        "group action to group {group:#x} is not possible; use a group number up to 0xffffff00"
    )]
    BadOutGroup {
        /// The group.
        group: u32,
    },
    /// bad argument to {what}
    #[error("bad argument to {what}")]
    BadActionArgument {
        /// Which action, and what is wrong.
        what: &'static str,
    },
    /// set_field cannot set OXM field {field} of class {class:#06x}
    #[error("set_field cannot set OXM field {field} of class {class:#06x}")]
    BadSetFieldType {
        /// The OXM class.
        class: u16,
        /// The OXM field number.
        field: u8,
    },
    /// the OXM in a set_field action does not fit the action
    #[error("the OXM in a set_field action does not fit the action")]
    BadSetFieldLength,
    /// set_field of {field}: the value is out of range, or carries a mask
    #[error("set_field of {field}: the value is out of range, or carries a mask")]
    BadSetFieldArgument {
        /// The field.
        field: &'static str,
    },
    /// flow-mod command {command} is unknown; use add, modify, modify_strict, delete or delete_strict
    #[error("flow-mod command {command} is unknown; use add, modify, modify_strict, delete or delete_strict")]
    BadFlowModCommand {
        /// The command byte.
        command: u8,
    },
    /// flow-mod flags {flags:#x} include unknown bits
    #[error("flow-mod flags {flags:#x} include unknown bits")]
    BadFlowModFlags {
        /// The flags.
        flags: u16,
    },
    /// a flow cannot be added to or modified in table {table_id}; use a table up to 254
    #[error("a flow cannot be added to or modified in table {table_id}; use a table up to 254")]
    BadFlowModTable {
        /// The table id.
        table_id: u8,
    },
    /// controller role {role} is unknown; use nochange, equal, master or slave
    #[error("controller role {role} is unknown; use nochange, equal, master or slave")]
    BadRole {
        /// The role number.
        role: u32,
    },
    /// switch config flags {flags:#x} are invalid; use fragment handling normal (0), drop (1) or reassemble (2)
    #[error("switch config flags {flags:#x} are invalid; use fragment handling normal (0), drop (1) or reassemble (2)")]
    BadConfigFlags {
        /// The flags.
        flags: u16,
    },
}

impl OfError {
    /// The ERROR (type, code) a switch sends back for this error.
    pub fn code(&self) -> ErrorCode {
        use ErrorType::*;
        let (kind, code) = match self {
            OfError::ShortMessage { .. }
            | OfError::LengthMismatch { .. }
            | OfError::BadHeaderLength { .. }
            | OfError::TooLong { .. }
            | OfError::BadLength { .. } => (BadRequest, bad_request::BAD_LEN),
            OfError::BadVersion { .. } => (BadRequest, bad_request::BAD_VERSION),
            OfError::IncompatibleVersion { .. } => (HelloFailed, hello_failed::INCOMPATIBLE),
            OfError::UnsupportedMessage { .. } => (BadRequest, bad_request::BAD_TYPE),
            OfError::UnsupportedExperimenter { .. } => (BadRequest, bad_request::BAD_EXPERIMENTER),
            OfError::UnsupportedMultipart { .. } => (BadRequest, bad_request::BAD_MULTIPART),
            OfError::BadPort { .. } => (BadRequest, bad_request::BAD_PORT),
            OfError::MultipartOverflow { .. } => {
                (BadRequest, bad_request::MULTIPART_BUFFER_OVERFLOW)
            }
            OfError::BadMatchType { .. } => (BadMatch, bad_match::BAD_TYPE),
            OfError::BadMatchLength { .. } => (BadMatch, bad_match::BAD_LEN),
            OfError::UnknownField { .. } => (BadMatch, bad_match::BAD_FIELD),
            OfError::DuplicateField { .. } => (BadMatch, bad_match::DUP_FIELD),
            OfError::BadPrerequisite { .. } => (BadMatch, bad_match::BAD_PREREQ),
            OfError::BadFieldValue { .. } => (BadMatch, bad_match::BAD_VALUE),
            OfError::MaskNotAllowed { .. } => (BadMatch, bad_match::BAD_MASK),
            OfError::BadWildcards { .. } => (BadMatch, bad_match::BAD_WILDCARDS),
            OfError::BadInstructionLength { .. } => (BadInstruction, bad_instruction::BAD_LEN),
            OfError::UnknownInstruction { .. } => (BadInstruction, bad_instruction::UNKNOWN_INST),
            OfError::ExperimenterInstruction { .. } => {
                (BadInstruction, bad_instruction::BAD_EXPERIMENTER)
            }
            OfError::DuplicateInstruction { .. } => (BadInstruction, bad_instruction::UNSUP_INST),
            OfError::BadGotoTable { .. } => (BadInstruction, bad_instruction::BAD_TABLE_ID),
            OfError::BadActionLength { .. } => (BadAction, bad_action::BAD_LEN),
            OfError::UnknownAction { .. } => (BadAction, bad_action::BAD_TYPE),
            OfError::ExperimenterAction { .. } => (BadAction, bad_action::BAD_EXPERIMENTER),
            OfError::BadOutPort { .. } => (BadAction, bad_action::BAD_OUT_PORT),
            OfError::BadOutGroup { .. } => (BadAction, bad_action::BAD_OUT_GROUP),
            OfError::BadActionArgument { .. } => (BadAction, bad_action::BAD_ARGUMENT),
            OfError::BadSetFieldType { .. } => (BadAction, bad_action::BAD_SET_TYPE),
            OfError::BadSetFieldLength => (BadAction, bad_action::BAD_SET_LEN),
            OfError::BadSetFieldArgument { .. } => (BadAction, bad_action::BAD_SET_ARGUMENT),
            OfError::BadFlowModCommand { .. } => (FlowModFailed, flow_mod_failed::BAD_COMMAND),
            OfError::BadFlowModFlags { .. } => (FlowModFailed, flow_mod_failed::BAD_FLAGS),
            OfError::BadFlowModTable { .. } => (FlowModFailed, flow_mod_failed::BAD_TABLE_ID),
            OfError::BadRole { .. } => (RoleRequestFailed, role_request_failed::BAD_ROLE),
            OfError::BadConfigFlags { .. } => (SwitchConfigFailed, switch_config_failed::BAD_FLAGS),
        };
        ErrorCode::new(kind, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_round_trip_through_u16() {
        for raw in (0u16..=20).chain([0xfffe, 0xffff]) {
            assert_eq!(u16::from(ErrorType::from(raw)), raw);
        }
        assert_eq!(ErrorType::from(4), ErrorType::BadMatch);
        assert_eq!(ErrorType::from(99), ErrorType::Unknown(99));
    }

    #[test]
    fn codes_have_names() {
        let code = ErrorCode::new(ErrorType::BadMatch, bad_match::BAD_PREREQ);
        assert_eq!(code.to_string(), "BAD_MATCH/BAD_PREREQ");
        assert_eq!(bad_request::BAD_LEN, 6);
        assert_eq!(bad_action::BAD_SET_ARGUMENT, 15);
        assert_eq!(flow_mod_failed::BAD_FLAGS, 7);
        assert_eq!(
            ErrorCode::new(ErrorType::Unknown(40), 3).to_string(),
            "type 40/code 3"
        );
    }

    #[test]
    fn errors_map_to_the_spec_codes() {
        let cases = [
            (
                OfError::ShortMessage { len: 3 },
                ErrorType::BadRequest,
                bad_request::BAD_LEN,
            ),
            (
                OfError::BadVersion { version: 1 },
                ErrorType::BadRequest,
                bad_request::BAD_VERSION,
            ),
            (
                OfError::UnsupportedMessage {
                    msg_type: MsgType::GroupMod,
                },
                ErrorType::BadRequest,
                bad_request::BAD_TYPE,
            ),
            (
                OfError::UnknownInstruction {
                    instruction_type: 9,
                },
                ErrorType::BadInstruction,
                bad_instruction::UNKNOWN_INST,
            ),
            (
                OfError::UnknownAction { action_type: 99 },
                ErrorType::BadAction,
                bad_action::BAD_TYPE,
            ),
            (
                OfError::BadPrerequisite {
                    field: "ipv4_src",
                    needs: "eth_type=0x0800",
                },
                ErrorType::BadMatch,
                bad_match::BAD_PREREQ,
            ),
            (
                OfError::IncompatibleVersion { peer_version: 1 },
                ErrorType::HelloFailed,
                hello_failed::INCOMPATIBLE,
            ),
        ];
        for (error, kind, code) in cases {
            assert_eq!(error.code(), ErrorCode::new(kind, code), "{error}");
        }
    }
}
