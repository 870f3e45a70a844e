//! TCP headers (RFC 9293).
//!
//! The checksum covers a pseudo-header from the IP layer, so this view only
//! reads and writes the field; rewriting an address or a port updates it
//! with [`super::checksum::update16`] and friends.

use super::{read_u16, read_u32, write_u16, write_u32, Field, WireError};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const OFF_FLAGS: Field = 12..14;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// The 12 flag bits after the data offset, as [`TcpPacket::flags`] returns
/// them (the three reserved bits are 0x800, 0x400 and 0x200).
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    /// ECN nonce (RFC 3540, historic).
    pub const NS: u16 = 0x100;
}

/// A view of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = field::URGENT.end;

    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after checking that the data offset is at least 5 and
    /// that the header, options included, fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the data offset against the minimum and against the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            Err(WireError::Truncated)
        } else if (self.header_len() as usize) < Self::MIN_HEADER_LEN {
            Err(WireError::Malformed)
        } else if len < self.header_len() as usize {
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset × 4), options included.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::OFF_FLAGS.start] >> 4) * 4
    }

    /// The 12 bits after the data offset (see [`flags`]).
    #[inline]
    pub fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OFF_FLAGS) & 0x0fff
    }

    /// Window size.
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum as found in the segment.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options, between the fixed header and the payload.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len() as usize]
    }

    /// Everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM, value)
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM, value)
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4),
    /// keeping the flags.
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::OFF_FLAGS.start];
        *b = (*b & 0x0f) | ((len / 4) << 4);
    }

    /// Sets the 12 flag bits, keeping the data offset.
    #[inline]
    pub fn set_flags(&mut self, value: u16) {
        let old = read_u16(self.buffer.as_ref(), field::OFF_FLAGS);
        write_u16(
            self.buffer.as_mut(),
            field::OFF_FLAGS,
            (old & 0xf000) | (value & 0x0fff),
        )
    }

    /// Sets the window size.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW, value)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, value)
    }

    /// Everything after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len() as usize;
        &mut self.buffer.as_mut()[start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 49152 -> 80, seq 1, ack 2, data offset 6 (one 4-byte MSS option),
    // SYN|ACK, window 65535, checksum 0xabcd, urgent 0, MSS 1460, 2 bytes
    // payload.
    const SEGMENT: [u8; 26] = [
        0xc0, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x60, 0x12, 0xff,
        0xff, 0xab, 0xcd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x68, 0x69,
    ];

    #[test]
    fn parses_known_bytes() {
        let tcp = TcpPacket::new_checked(&SEGMENT[..]).unwrap();
        assert_eq!(tcp.src_port(), 49152);
        assert_eq!(tcp.dst_port(), 80);
        assert_eq!(tcp.seq_number(), 1);
        assert_eq!(tcp.ack_number(), 2);
        assert_eq!(tcp.header_len(), 24);
        assert_eq!(tcp.flags(), flags::SYN | flags::ACK);
        assert_eq!(tcp.window_len(), 0xffff);
        assert_eq!(tcp.checksum(), 0xabcd);
        assert_eq!(tcp.urgent_at(), 0);
        assert_eq!(tcp.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(tcp.payload(), b"hi");
    }

    #[test]
    fn setters_write_the_expected_bytes() {
        let mut buf = [0u8; 26];
        let mut tcp = TcpPacket::new_unchecked(&mut buf[..]);
        tcp.set_flags(0xfff);
        tcp.set_header_len(24);
        tcp.set_flags(flags::SYN | flags::ACK);
        assert_eq!(tcp.header_len(), 24, "set_flags keeps the data offset");
        tcp.set_src_port(49152);
        tcp.set_dst_port(80);
        tcp.set_seq_number(1);
        tcp.set_ack_number(2);
        tcp.set_window_len(0xffff);
        tcp.set_checksum(0xabcd);
        tcp.set_urgent_at(0);
        tcp.payload_mut().copy_from_slice(b"hi");
        buf[20..24].copy_from_slice(&[2, 4, 5, 0xb4]);
        assert_eq!(buf, SEGMENT);
    }

    #[test]
    fn bad_data_offsets_are_refused() {
        assert_eq!(
            TcpPacket::new_checked(&SEGMENT[..19]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            TcpPacket::new_checked(&SEGMENT[..23]),
            Err(WireError::Truncated)
        );
        let mut bad = SEGMENT;
        bad[12] = 0x40;
        assert_eq!(TcpPacket::new_checked(&bad[..]), Err(WireError::Malformed));
    }
}
