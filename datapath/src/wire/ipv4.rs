//! IPv4 headers (RFC 791).
//!
//! `new_checked` accepts a buffer that holds the whole header (options
//! included) and at least `total_len` bytes; Ethernet padding after
//! `total_len` is allowed and [`Ipv4Packet::payload`] leaves it out.

use super::{checksum, read_u16, read_u32, write_u16, write_u32, Field, WireError};

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// "Don't fragment" in the flags/offset word.
const FLAG_DF: u16 = 0x4000;
/// "More fragments" in the flags/offset word.
const FLAG_MF: u16 = 0x2000;
/// Fragment offset, in 8-byte units, in the flags/offset word.
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = field::DST_ADDR.end;

    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after checking the version, the header length and the
    /// total length against the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the version is 4, that IHL is at least 5, that
    /// `header_len <= total_len`, and that the buffer holds `total_len`
    /// bytes.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len() as usize;
        let total_len = self.total_len() as usize;
        if self.version() != 4 || header_len < Self::MIN_HEADER_LEN || total_len < header_len {
            Err(WireError::Malformed)
        } else if len < total_len {
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

    /// IP version (4 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Type of service byte: DSCP (6 bits) and ECN (2 bits).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// DSCP, the high six bits of [`Self::tos`].
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// ECN, the low two bits of [`Self::tos`].
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 3
    }

    /// Length of header and payload in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The "don't fragment" flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// The "more fragments" flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// Whether the packet is a fragment (first, middle or last).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload (see [`super::ip_proto`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum as found in the packet.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address (10.0.0.1 is `0x0a00_0001`).
    #[inline]
    pub fn src_addr(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..self.header_len() as usize];
        checksum::checksum(header) == 0
    }

    /// The options, between the fixed header and the payload.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len() as usize]
    }

    /// The payload: from the end of the header to `total_len` (any bytes
    /// after that are link-layer padding and are left out).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }

    /// Sets the type of service byte.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len)
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, ident)
    }

    #[inline]
    fn set_flg_off(&mut self, mask: u16, value: u16) {
        let old = read_u16(self.buffer.as_ref(), field::FLG_OFF);
        write_u16(
            self.buffer.as_mut(),
            field::FLG_OFF,
            (old & !mask) | (value & mask),
        )
    }

    /// Sets the "don't fragment" flag.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_flg_off(FLAG_DF, if value { FLAG_DF } else { 0 })
    }

    /// Sets the "more fragments" flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_flg_off(FLAG_MF, if value { FLAG_MF } else { 0 })
    }

    /// Sets the fragment offset in bytes (rounded down to a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        self.set_flg_off(OFFSET_MASK, bytes >> 3)
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol
    }

    /// Sets the header checksum field as is (see [`Self::fill_checksum`]).
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// Sets the source address (not the checksum).
    #[inline]
    pub fn set_src_addr(&mut self, addr: u32) {
        write_u32(self.buffer.as_mut(), field::SRC_ADDR, addr)
    }

    /// Sets the destination address (not the checksum).
    #[inline]
    pub fn set_dst_addr(&mut self, addr: u32) {
        write_u32(self.buffer.as_mut(), field::DST_ADDR, addr)
    }

    /// Computes the header checksum and stores it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = {
            let header = &self.buffer.as_ref()[..self.header_len() as usize];
            checksum::checksum(header)
        };
        self.set_checksum(value)
    }

    /// The options, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len() as usize;
        &mut self.buffer.as_mut()[Self::MIN_HEADER_LEN..header_len]
    }

    /// The payload, mutable (see [`Self::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len() as usize..self.total_len() as usize;
        &mut self.buffer.as_mut()[range]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 10.0.0.1 -> 10.0.0.2, UDP, TTL 64, DF, ident 0x1c46, DSCP 46 ECN 0,
    // 4 payload bytes, then 2 bytes of Ethernet padding.
    const PACKET: [u8; 26] = [
        0x45, 0xb8, 0x00, 0x18, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x09, 0xd5, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
    ];

    #[test]
    fn parses_known_bytes() {
        let ip = Ipv4Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 20);
        assert_eq!(ip.tos(), 0xb8);
        assert_eq!(ip.dscp(), 46);
        assert_eq!(ip.ecn(), 0);
        assert_eq!(ip.total_len(), 24);
        assert_eq!(ip.ident(), 0x1c46);
        assert!(ip.dont_frag());
        assert!(!ip.more_frags());
        assert_eq!(ip.frag_offset(), 0);
        assert!(!ip.is_fragment());
        assert_eq!(ip.ttl(), 64);
        assert_eq!(ip.protocol(), super::super::ip_proto::UDP);
        assert_eq!(ip.src_addr(), 0x0a00_0001);
        assert_eq!(ip.dst_addr(), 0x0a00_0002);
        assert!(ip.options().is_empty());
        assert_eq!(ip.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(ip.checksum(), 0x09d5);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn setters_write_the_expected_bytes() {
        let mut buf = [0u8; 26];
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_tos(0xb8);
        ip.set_total_len(24);
        ip.set_ident(0x1c46);
        ip.set_more_frags(true);
        ip.set_frag_offset(8 * 100);
        assert!(ip.is_fragment());
        assert_eq!(ip.frag_offset(), 800);
        ip.set_more_frags(false);
        ip.set_frag_offset(0);
        ip.set_dont_frag(true);
        ip.set_ttl(64);
        ip.set_protocol(17);
        ip.set_src_addr(0x0a00_0001);
        ip.set_dst_addr(0x0a00_0002);
        ip.set_checksum(0xffff);
        ip.fill_checksum();
        ip.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn checksum_catches_a_changed_byte() {
        let mut buf = PACKET;
        buf[8] = 63;
        assert!(!Ipv4Packet::new_checked(&buf[..]).unwrap().verify_checksum());
    }

    #[test]
    fn options_sit_between_header_and_payload() {
        let mut buf = [0u8; 28];
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_version(4);
        ip.set_header_len(24);
        ip.set_total_len(28);
        ip.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        ip.payload_mut().copy_from_slice(&[9; 4]);
        let ip = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(ip.options(), &[1, 1, 1, 0]);
        assert_eq!(ip.payload(), &[9; 4]);
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert_eq!(
            Ipv4Packet::new_checked(&PACKET[..19]),
            Err(WireError::Truncated)
        );
        // total_len says 24, only 23 bytes.
        assert_eq!(
            Ipv4Packet::new_checked(&PACKET[..23]),
            Err(WireError::Truncated)
        );
        let mut bad = PACKET;
        bad[0] = 0x44; // IHL 4
        assert_eq!(Ipv4Packet::new_checked(&bad[..]), Err(WireError::Malformed));
        bad[0] = 0x65; // version 6
        assert_eq!(Ipv4Packet::new_checked(&bad[..]), Err(WireError::Malformed));
        bad = PACKET;
        bad[0] = 0x4f; // IHL 15 = 60 bytes > total_len 24
        assert_eq!(Ipv4Packet::new_checked(&bad[..]), Err(WireError::Malformed));
        bad = PACKET;
        bad[3] = 200; // total_len beyond the buffer
        assert_eq!(Ipv4Packet::new_checked(&bad[..]), Err(WireError::Truncated));
    }
}
