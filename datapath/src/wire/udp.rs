//! UDP headers (RFC 768).
//!
//! `new_checked` accepts a buffer that holds `length` bytes (header and
//! payload); [`UdpPacket::payload`] stops at `length`. As for TCP, the
//! checksum covers an IP pseudo-header and is only read and written here.

use super::{read_u16, write_u16, Field, Rest, WireError};

mod field {
    use super::{Field, Rest};
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const PAYLOAD: Rest = 8..;
}

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Length of the header.
    pub const HEADER_LEN: usize = field::PAYLOAD.start;

    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps `buffer` after checking that `length` is at least 8 and that
    /// the buffer holds `length` bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the length field against the header size and the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < Self::HEADER_LEN {
            Err(WireError::Truncated)
        } else if (self.length() as usize) < Self::HEADER_LEN {
            Err(WireError::Malformed)
        } else if len < self.length() as usize {
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

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length of header and payload, as the header says.
    #[inline]
    pub fn length(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum as found in the datagram (0: none was computed, IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload: from the end of the header to `length`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..self.length() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, port)
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, port)
    }

    /// Sets the length field.
    #[inline]
    pub fn set_length(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// The payload, mutable (see [`Self::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.length() as usize;
        &mut self.buffer.as_mut()[Self::HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 5353 -> 53, length 12, checksum 0x1234, payload "ping", then padding.
    const DATAGRAM: [u8; 14] = [
        0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x34, b'p', b'i', b'n', b'g', 0, 0,
    ];

    #[test]
    fn parses_known_bytes() {
        let udp = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(udp.src_port(), 5353);
        assert_eq!(udp.dst_port(), 53);
        assert_eq!(udp.length(), 12);
        assert_eq!(udp.checksum(), 0x1234);
        assert_eq!(udp.payload(), b"ping");
    }

    #[test]
    fn setters_write_the_expected_bytes() {
        let mut buf = [0u8; 14];
        let mut udp = UdpPacket::new_unchecked(&mut buf[..]);
        udp.set_src_port(5353);
        udp.set_dst_port(53);
        udp.set_length(12);
        udp.set_checksum(0x1234);
        udp.payload_mut().copy_from_slice(b"ping");
        assert_eq!(buf, DATAGRAM);
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..7]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..11]),
            Err(WireError::Truncated)
        );
        let mut bad = DATAGRAM;
        bad[5] = 7;
        assert_eq!(UdpPacket::new_checked(&bad[..]), Err(WireError::Malformed));
    }
}
