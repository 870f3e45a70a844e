//! IPv6 headers (RFC 8200) and the Fragment extension header.
//!
//! `new_checked` accepts a buffer that holds the 40-byte header and at least
//! `payload_len` bytes after it; [`Ipv6Packet::payload`] leaves out any
//! link-layer padding. Extension headers are part of the payload: the only
//! one with a view is [`Ipv6FragmentHeader`], the one the flow key needs.

use super::{read_array, read_u16, read_u32, write_u16, write_u32, Field, Rest, WireError};

mod field {
    use super::{Field, Rest};
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
    pub const PAYLOAD: Rest = 40..;
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = field::PAYLOAD.start;

    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps `buffer` after checking the version and that the header and
    /// `payload_len` bytes fit.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header fits, that the version is 6 and that the
    /// buffer holds `payload_len` bytes after the header.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < Self::HEADER_LEN {
            Err(WireError::Truncated)
        } else if self.version() != 6 {
            Err(WireError::Malformed)
        } else if len < Self::HEADER_LEN + self.payload_len() as usize {
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

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    /// IP version (6 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    /// Traffic class: DSCP (6 bits) and ECN (2 bits).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Length of what follows the fixed header (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Next header: the first extension header or the upper-layer protocol
    /// (see [`super::ip_proto`]).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        read_array(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        read_array(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The `payload_len` bytes after the fixed header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = Self::HEADER_LEN + self.payload_len() as usize;
        &self.buffer.as_ref()[Self::HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, mask: u32, value: u32) {
        let old = self.ver_tc_flow();
        write_u32(
            self.buffer.as_mut(),
            field::VER_TC_FLOW,
            (old & !mask) | (value & mask),
        )
    }

    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        self.set_ver_tc_flow(0xf000_0000, u32::from(version) << 28)
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        self.set_ver_tc_flow(0x0ff0_0000, u32::from(tc) << 20)
    }

    /// Sets the flow label (masked to 20 bits).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        self.set_ver_tc_flow(0x000f_ffff, label)
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len)
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = value
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr)
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr)
    }

    /// The payload, mutable (see [`Self::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = Self::HEADER_LEN + self.payload_len() as usize;
        &mut self.buffer.as_mut()[Self::HEADER_LEN..end]
    }
}

mod frag_field {
    use super::{Field, Rest};
    pub const NXT_HDR: usize = 0;
    pub const OFF_M: Field = 2..4;
    pub const IDENT: Field = 4..8;
    pub const PAYLOAD: Rest = 8..;
}

/// Fragment offset (in 8-byte units, shifted left by 3) in the
/// offset/flags word.
const FRAG_OFFSET_MASK: u16 = 0xfff8;
/// "More fragments" in the offset/flags word.
const FRAG_M: u16 = 0x0001;

/// A view of an IPv6 Fragment extension header (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragmentHeader<T> {
    /// Length of the header.
    pub const HEADER_LEN: usize = frag_field::PAYLOAD.start;

    /// Wraps `buffer` without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6FragmentHeader { buffer }
    }

    /// Wraps `buffer` after checking that the header fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
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

    /// The header that follows the fragment header (in the first fragment).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[frag_field::NXT_HDR]
    }

    /// Fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), frag_field::OFF_M) & FRAG_OFFSET_MASK
    }

    /// The "more fragments" flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), frag_field::OFF_M) & FRAG_M != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        read_u32(self.buffer.as_ref(), frag_field::IDENT)
    }

    /// Everything after the fragment header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[frag_field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragmentHeader<T> {
    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[frag_field::NXT_HDR] = value
    }

    #[inline]
    fn set_off_m(&mut self, mask: u16, value: u16) {
        let old = read_u16(self.buffer.as_ref(), frag_field::OFF_M);
        write_u16(
            self.buffer.as_mut(),
            frag_field::OFF_M,
            (old & !mask) | (value & mask),
        )
    }

    /// Sets the fragment offset in bytes (rounded down to a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        self.set_off_m(FRAG_OFFSET_MASK, bytes)
    }

    /// Sets the "more fragments" flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_off_m(FRAG_M, if value { FRAG_M } else { 0 })
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), frag_field::IDENT, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2001:db8::1 -> 2001:db8::2, TC 0xb8, flow label 0x12345, hop limit 64,
    // next header UDP, 4 payload bytes, then 2 bytes of padding.
    const PACKET: [u8; 46] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x04, 0x11, 0x40, // ver/tc/flow, len, nh, hlim
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // src
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // dst
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
    ];

    fn addr(last: u8) -> [u8; 16] {
        [
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last,
        ]
    }

    #[test]
    fn parses_known_bytes() {
        let ip = Ipv6Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.traffic_class(), 0xb8);
        assert_eq!(ip.flow_label(), 0x12345);
        assert_eq!(ip.payload_len(), 4);
        assert_eq!(ip.next_header(), super::super::ip_proto::UDP);
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(ip.src_addr(), addr(1));
        assert_eq!(ip.dst_addr(), addr(2));
        assert_eq!(ip.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn setters_write_the_expected_bytes() {
        let mut buf = [0u8; 46];
        let mut ip = Ipv6Packet::new_unchecked(&mut buf[..]);
        ip.set_version(6);
        ip.set_flow_label(0xfff12345); // masked to 20 bits
        ip.set_traffic_class(0xb8);
        ip.set_payload_len(4);
        ip.set_next_header(17);
        ip.set_hop_limit(64);
        ip.set_src_addr(addr(1));
        ip.set_dst_addr(addr(2));
        ip.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn bad_lengths_and_versions_are_refused() {
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..39]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..43]),
            Err(WireError::Truncated)
        );
        let mut bad = PACKET;
        bad[0] = 0x4b;
        assert_eq!(Ipv6Packet::new_checked(&bad[..]), Err(WireError::Malformed));
    }

    // Next header TCP, offset 1448 bytes, more fragments, ident 0xdeadbeef.
    const FRAG: [u8; 8] = [0x06, 0x00, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef];

    #[test]
    fn fragment_header_round_trips() {
        let f = Ipv6FragmentHeader::new_checked(&FRAG[..]).unwrap();
        assert_eq!(f.next_header(), 6);
        assert_eq!(f.frag_offset(), 1448);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 0xdead_beef);
        assert!(f.payload().is_empty());

        let mut buf = [0u8; 8];
        let mut f = Ipv6FragmentHeader::new_unchecked(&mut buf[..]);
        f.set_next_header(6);
        f.set_more_frags(true);
        f.set_frag_offset(1448);
        f.set_ident(0xdead_beef);
        assert_eq!(buf, FRAG);
        assert_eq!(
            Ipv6FragmentHeader::new_checked(&FRAG[..7]),
            Err(WireError::Truncated)
        );
    }
}
