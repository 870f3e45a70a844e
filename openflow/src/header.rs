//! The 8-byte header every OpenFlow message starts with (`ofp_header`):
//! version, message type, total length, transaction id.
//!
//! [`OfpHeader`] is a zero-copy view in the smoltcp manner: wrap a buffer
//! with [`OfpHeader::new_checked`] once and no accessor can panic after.
//! [`MsgType`] names the 30 message types of OpenFlow 1.3; any other byte
//! is [`MsgType::Unknown`], never an error at this level.

use crate::error::OfError;
use crate::types::HEADER_LEN;

mod field {
    pub const VERSION: usize = 0;
    pub const TYPE: usize = 1;
    pub const LENGTH: std::ops::Range<usize> = 2..4;
    pub const XID: std::ops::Range<usize> = 4..8;
}

/// The message type (`ofp_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// `OFPT_HELLO`.
    Hello,
    /// `OFPT_ERROR`.
    Error,
    /// `OFPT_ECHO_REQUEST`.
    EchoRequest,
    /// `OFPT_ECHO_REPLY`.
    EchoReply,
    /// `OFPT_EXPERIMENTER`.
    Experimenter,
    /// `OFPT_FEATURES_REQUEST`.
    FeaturesRequest,
    /// `OFPT_FEATURES_REPLY`.
    FeaturesReply,
    /// `OFPT_GET_CONFIG_REQUEST`.
    GetConfigRequest,
    /// `OFPT_GET_CONFIG_REPLY`.
    GetConfigReply,
    /// `OFPT_SET_CONFIG`.
    SetConfig,
    /// `OFPT_PACKET_IN`.
    PacketIn,
    /// `OFPT_FLOW_REMOVED`.
    FlowRemoved,
    /// `OFPT_PORT_STATUS`.
    PortStatus,
    /// `OFPT_PACKET_OUT`.
    PacketOut,
    /// `OFPT_FLOW_MOD`.
    FlowMod,
    /// `OFPT_GROUP_MOD`.
    GroupMod,
    /// `OFPT_PORT_MOD`.
    PortMod,
    /// `OFPT_TABLE_MOD`.
    TableMod,
    /// `OFPT_MULTIPART_REQUEST`.
    MultipartRequest,
    /// `OFPT_MULTIPART_REPLY`.
    MultipartReply,
    /// `OFPT_BARRIER_REQUEST`.
    BarrierRequest,
    /// `OFPT_BARRIER_REPLY`.
    BarrierReply,
    /// `OFPT_QUEUE_GET_CONFIG_REQUEST`.
    QueueGetConfigRequest,
    /// `OFPT_QUEUE_GET_CONFIG_REPLY`.
    QueueGetConfigReply,
    /// `OFPT_ROLE_REQUEST`.
    RoleRequest,
    /// `OFPT_ROLE_REPLY`.
    RoleReply,
    /// `OFPT_GET_ASYNC_REQUEST`.
    GetAsyncRequest,
    /// `OFPT_GET_ASYNC_REPLY`.
    GetAsyncReply,
    /// `OFPT_SET_ASYNC`.
    SetAsync,
    /// `OFPT_METER_MOD`.
    MeterMod,
    /// A type OpenFlow 1.3 does not define.
    Unknown(u8),
}

impl MsgType {
    const ALL: [MsgType; 30] = [
        MsgType::Hello,
        MsgType::Error,
        MsgType::EchoRequest,
        MsgType::EchoReply,
        MsgType::Experimenter,
        MsgType::FeaturesRequest,
        MsgType::FeaturesReply,
        MsgType::GetConfigRequest,
        MsgType::GetConfigReply,
        MsgType::SetConfig,
        MsgType::PacketIn,
        MsgType::FlowRemoved,
        MsgType::PortStatus,
        MsgType::PacketOut,
        MsgType::FlowMod,
        MsgType::GroupMod,
        MsgType::PortMod,
        MsgType::TableMod,
        MsgType::MultipartRequest,
        MsgType::MultipartReply,
        MsgType::BarrierRequest,
        MsgType::BarrierReply,
        MsgType::QueueGetConfigRequest,
        MsgType::QueueGetConfigReply,
        MsgType::RoleRequest,
        MsgType::RoleReply,
        MsgType::GetAsyncRequest,
        MsgType::GetAsyncReply,
        MsgType::SetAsync,
        MsgType::MeterMod,
    ];

    /// The specification's name without its `OFPT_` prefix (`"FLOW_MOD"`).
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 30] = [
            "HELLO",
            "ERROR",
            "ECHO_REQUEST",
            "ECHO_REPLY",
            "EXPERIMENTER",
            "FEATURES_REQUEST",
            "FEATURES_REPLY",
            "GET_CONFIG_REQUEST",
            "GET_CONFIG_REPLY",
            "SET_CONFIG",
            "PACKET_IN",
            "FLOW_REMOVED",
            "PORT_STATUS",
            "PACKET_OUT",
            "FLOW_MOD",
            "GROUP_MOD",
            "PORT_MOD",
            "TABLE_MOD",
            "MULTIPART_REQUEST",
            "MULTIPART_REPLY",
            "BARRIER_REQUEST",
            "BARRIER_REPLY",
            "QUEUE_GET_CONFIG_REQUEST",
            "QUEUE_GET_CONFIG_REPLY",
            "ROLE_REQUEST",
            "ROLE_REPLY",
            "GET_ASYNC_REQUEST",
            "GET_ASYNC_REPLY",
            "SET_ASYNC",
            "METER_MOD",
        ];
        NAMES
            .get(usize::from(u8::from(self)))
            .copied()
            .unwrap_or("unknown message")
    }
}

impl From<u8> for MsgType {
    fn from(value: u8) -> Self {
        MsgType::ALL
            .get(usize::from(value))
            .copied()
            .unwrap_or(MsgType::Unknown(value))
    }
}

impl From<MsgType> for u8 {
    fn from(value: MsgType) -> Self {
        match value {
            MsgType::Unknown(raw) => raw,
            known => MsgType::ALL
                .iter()
                .position(|t| *t == known)
                .map_or(0xff, |i| i as u8),
        }
    }
}

/// A view of the OpenFlow header at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfpHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OfpHeader<T> {
    /// Length of the header.
    pub const LEN: usize = HEADER_LEN;

    /// Wraps `buffer` without checking its length; accessors panic if it is
    /// shorter than 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        OfpHeader { buffer }
    }

    /// Wraps `buffer` after checking that the header fits.
    pub fn new_checked(buffer: T) -> Result<Self, OfError> {
        let len = buffer.as_ref().len();
        if len < Self::LEN {
            return Err(OfError::ShortMessage { len });
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The protocol version (0x04 for OpenFlow 1.3).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// The message type.
    pub fn msg_type(&self) -> MsgType {
        MsgType::from(self.buffer.as_ref()[field::TYPE])
    }

    /// The length of the whole message, header included.
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The transaction id; a reply carries its request's.
    pub fn xid(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::XID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> OfpHeader<T> {
    /// Sets the version.
    pub fn set_version(&mut self, value: u8) {
        self.buffer.as_mut()[field::VERSION] = value;
    }

    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: MsgType) {
        self.buffer.as_mut()[field::TYPE] = u8::from(value);
    }

    /// Sets the length of the whole message.
    pub fn set_length(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the transaction id.
    pub fn set_xid(&mut self, value: u32) {
        self.buffer.as_mut()[field::XID].copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_types_round_trip_through_u8() {
        for raw in 0..=u8::MAX {
            assert_eq!(u8::from(MsgType::from(raw)), raw);
        }
        assert_eq!(MsgType::from(14), MsgType::FlowMod);
        assert_eq!(MsgType::from(29), MsgType::MeterMod);
        assert_eq!(MsgType::from(30), MsgType::Unknown(30));
    }

    #[test]
    fn header_view_reads_and_writes() {
        let bytes = [0x04, 0x0e, 0x00, 0x58, 0x12, 0x34, 0x56, 0x78, 0xaa];
        let header = OfpHeader::new_checked(&bytes[..]).unwrap();
        assert_eq!(header.version(), 4);
        assert_eq!(header.msg_type(), MsgType::FlowMod);
        assert_eq!(header.length(), 0x58);
        assert_eq!(header.xid(), 0x1234_5678);

        let mut buf = [0u8; 8];
        let mut header = OfpHeader::new_unchecked(&mut buf[..]);
        header.set_version(4);
        header.set_msg_type(MsgType::BarrierRequest);
        header.set_length(8);
        header.set_xid(7);
        assert_eq!(buf, [4, 20, 0, 8, 0, 0, 0, 7]);

        assert_eq!(
            OfpHeader::new_checked(&bytes[..7]),
            Err(OfError::ShortMessage { len: 7 })
        );
    }
}
