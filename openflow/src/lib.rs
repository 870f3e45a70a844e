//! rvs-openflow: the OpenFlow 1.3 wire protocol and the `ovs-ofctl` flow
//! syntax ([`flow_syntax`]), in one place for the switch (rvs-vswitchd) and
//! the client (rvs-ofctl), so that no message is ever encoded twice.
//!
//! # The contract
//!
//! * [`framer`] cuts a byte stream into messages by the header's length.
//! * [`Message::parse`] decodes one message and never panics, whatever the
//!   bytes. It fails only on what cannot be represented (lengths, version,
//!   a non-OXM match, a repeated match field); unknown types, actions,
//!   instructions and fields decode into `Unknown`/`Other`/`Unsupported`
//!   variants that keep their bytes.
//! * [`Message::validate`] is the switch's second step: it reports what
//!   OpenFlow 1.3.5 says a switch must refuse (unknown actions, missing
//!   match prerequisites, bad ports, …).
//! * Every failure is an [`OfError`] whose [`OfError::code`] is the ERROR
//!   (type, code) to send back, and [`Message::error_reply`] builds that
//!   reply.
//! * [`Message::emit`] encodes; decoding the result gives back an equal
//!   message. [`split_multipart_reply`] spreads long statistics replies
//!   over several messages of at most 64 KiB with `REPLY_MORE`.
//!
//! # The model
//!
//! [`Match`] (a sorted set of [`OxmField`]s), [`Instruction`] and
//! [`Action`] are plain data with public fields, meant to be built and
//! read by the switch's flow tables and by a text parser and printer
//! alike. Small numbers with names are newtypes with constants
//! ([`PortNo::NORMAL`], [`FlowModFlags::SEND_FLOW_REM`]) or enums with an
//! `Unknown` catch-all, so every value on the wire has a representation.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod error;
pub mod flow_syntax;
pub mod framer;
pub mod header;
pub mod instruction;
pub mod message;
pub mod multipart;
pub mod oxm;
pub mod port;
pub mod types;
mod wire;

#[cfg(test)]
mod proptests;

pub use action::Action;
pub use error::{ErrorCode, ErrorType, OfError};
pub use framer::{frame_len, MessageFramer};
pub use header::{MsgType, OfpHeader};
pub use instruction::{validate_instructions, Instruction};
pub use message::{
    AsyncConfig, ControllerRole, ErrorMsg, ExperimenterMsg, FlowMod, FlowModCommand, FlowRemoved,
    FlowRemovedReason, Hello, HelloElement, Message, MessageBody, PacketIn, PacketInReason,
    PacketOut, PortReason, PortStatus, Role, SwitchConfig, SwitchFeatures,
};
pub use multipart::{
    split_multipart_reply, AggregateStats, FlowStats, FlowStatsRequest, MultipartReply,
    MultipartReplyBody, MultipartRequest, MultipartRequestBody, MultipartType, PortStats,
    SwitchDesc, TableFeatureProp, TableFeatures, TableStats,
};
pub use oxm::{Masked, Match, OxmField, OxmType, UnknownOxm};
pub use port::Port;
pub use types::{
    Capabilities, ConfigFlags, FlowModFlags, MacAddr, MultipartFlags, PortConfig, PortFeatures,
    PortNo, PortState, MAX_MESSAGE_LEN, NO_BUFFER, OFP_VERSION,
};
