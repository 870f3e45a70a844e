//! ICMP (RFC 792) and ICMPv6 (RFC 4443) headers.
//!
//! Both start with type, code and checksum followed by four bytes whose
//! meaning depends on the type (identifier and sequence number for echo,
//! unused for most errors), so one view serves both. They differ in the
//! checksum: ICMPv4's covers the message alone, which this view can verify
//! and fill; ICMPv6's also covers an IPv6 pseudo-header and is only read
//! and written here.

use super::{checksum, read_array, read_u16, write_u16, Field, Rest, WireError};

mod field {
    use super::{Field, Rest};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST_OF_HEADER: Field = 4..8;
    pub const PAYLOAD: Rest = 8..;
}

/// A few ICMPv4 message types.
pub mod icmpv4_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

/// A few ICMPv6 message types.
pub mod icmpv6_type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// A view of an ICMP or ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Length of the header: type, code, checksum and four type-specific
    /// bytes.
    pub const HEADER_LEN: usize = field::PAYLOAD.start;

    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps `buffer` after checking that the 8-byte header fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header fits in the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as found in the message.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The four type-specific bytes after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> [u8; 4] {
        read_array(self.buffer.as_ref(), field::REST_OF_HEADER)
    }

    /// Echo identifier (meaningful for echo request and reply only).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 4..6)
    }

    /// Echo sequence number (meaningful for echo request and reply only).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 6..8)
    }

    /// Everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }

    /// Whether the checksum of an ICMPv4 message (the whole buffer) is
    /// right. Meaningless for ICMPv6.
    #[inline]
    pub fn verify_icmpv4_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// Sets the four type-specific bytes.
    #[inline]
    pub fn set_rest_of_header(&mut self, value: [u8; 4]) {
        self.buffer.as_mut()[field::REST_OF_HEADER].copy_from_slice(&value)
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), 4..6, value)
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), 6..8, value)
    }

    /// Computes the ICMPv4 checksum over the whole buffer and stores it.
    #[inline]
    pub fn fill_icmpv4_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(value)
    }

    /// Everything after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ICMPv4 echo request, ident 0x1234, seq 1, payload "abcd".
    const ECHO: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn parses_known_bytes() {
        let icmp = IcmpPacket::new_checked(&ECHO[..]).unwrap();
        assert_eq!(icmp.msg_type(), icmpv4_type::ECHO_REQUEST);
        assert_eq!(icmp.msg_code(), 0);
        assert_eq!(icmp.echo_ident(), 0x1234);
        assert_eq!(icmp.echo_seq_no(), 1);
        assert_eq!(icmp.rest_of_header(), [0x12, 0x34, 0x00, 0x01]);
        assert_eq!(icmp.payload(), b"abcd");
        assert_eq!(icmp.checksum(), 0x2104);
        assert!(icmp.verify_icmpv4_checksum());
    }

    #[test]
    fn setters_write_the_expected_bytes() {
        let mut buf = [0u8; 12];
        let mut icmp = IcmpPacket::new_unchecked(&mut buf[..]);
        icmp.set_msg_type(icmpv4_type::ECHO_REQUEST);
        icmp.set_msg_code(0);
        icmp.set_rest_of_header([9, 9, 9, 9]);
        icmp.set_echo_ident(0x1234);
        icmp.set_echo_seq_no(1);
        icmp.payload_mut().copy_from_slice(b"abcd");
        icmp.set_checksum(0xffff);
        icmp.fill_icmpv4_checksum();
        assert_eq!(buf, ECHO);
        buf[11] ^= 1;
        assert!(!IcmpPacket::new_checked(&buf[..])
            .unwrap()
            .verify_icmpv4_checksum());
    }

    #[test]
    fn short_buffers_are_refused() {
        assert_eq!(
            IcmpPacket::new_checked(&ECHO[..7]),
            Err(WireError::Truncated)
        );
        let icmp = IcmpPacket::new_checked(&ECHO[..8]).unwrap();
        assert!(icmp.payload().is_empty());
    }
}
