//! Ethernet II frames and IEEE 802.1Q / 802.1ad VLAN tags.
//!
//! [`EthernetFrame`] covers the 14-byte header (destination, source,
//! ethertype). When the ethertype is [`ethertype::VLAN`] or
//! [`ethertype::QINQ`] the payload starts with a 4-byte [`VlanTag`] (TCI and
//! the inner ethertype) rather than the L3 header.

use super::{read_array, read_u16, write_u16, Field, Rest, WireError};

/// Length of an Ethernet II header: two MAC addresses and the ethertype.
pub const HEADER_LEN: usize = 14;

/// Ethertypes the datapath knows by name (the 16 bits after the MAC
/// addresses, or after a VLAN tag).
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag (C-tag).
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service tag (S-tag, "QinQ" outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// Smallest value that is an ethertype; smaller values are an IEEE 802.3
    /// length field.
    pub const MIN: u16 = 0x0600;
    /// What Open vSwitch puts in `dl_type` for a frame with no ethertype
    /// (an 802.3 length field instead), `FLOW_DL_TYPE_NONE`.
    pub const NONE: u16 = 0x05ff;
}

mod field {
    use super::{Field, Rest};
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = super::HEADER_LEN..;
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Length of the header: two MAC addresses and the ethertype.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps `buffer` without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` after checking that the header fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
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

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        read_array(self.buffer.as_ref(), field::DESTINATION)
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        read_array(self.buffer.as_ref(), field::SOURCE)
    }

    /// The ethertype (or 802.3 length, when below [`ethertype::MIN`]).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Whether the payload starts with a VLAN tag (802.1Q or 802.1ad).
    #[inline]
    pub fn has_vlan_tag(&self) -> bool {
        matches!(self.ethertype(), ethertype::VLAN | ethertype::QINQ)
    }

    /// Everything after the 14-byte header (a VLAN tag included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr)
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr)
    }

    /// Sets the ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, value)
    }

    /// Everything after the 14-byte header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

mod tag_field {
    use super::{Field, Rest};
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: Rest = 4..;
}

/// A view of the 4 bytes that follow a VLAN ethertype: the tag control
/// information (PCP, DEI, VID) and the inner ethertype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Length of a tag after the outer ethertype.
    pub const HEADER_LEN: usize = tag_field::PAYLOAD.start;

    /// Wraps `buffer` without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    /// Wraps `buffer` after checking that the tag fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let tag = Self::new_unchecked(buffer);
        tag.check_len()?;
        Ok(tag)
    }

    /// Checks that the tag fits in the buffer.
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

    /// The whole tag control information: PCP (3 bits), DEI (1), VID (12).
    #[inline]
    pub fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tag_field::TCI)
    }

    /// Priority code point (0..=7).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator (formerly CFI).
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (0..=4095).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The ethertype of what follows the tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tag_field::ETHERTYPE)
    }

    /// Everything after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[tag_field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Sets the whole tag control information.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(self.buffer.as_mut(), tag_field::TCI, tci)
    }

    /// Sets the VLAN identifier, keeping PCP and DEI (`vid` is masked to 12
    /// bits).
    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci)
    }

    /// Sets the priority code point, keeping DEI and VID (`pcp` is masked
    /// to 3 bits).
    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 7) << 13);
        self.set_tci(tci)
    }

    /// Sets the inner ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), tag_field::ETHERTYPE, value)
    }

    /// Everything after the tag, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[tag_field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // dst 02:00:00:00:00:01, src 02:00:00:00:00:02, 802.1Q PCP 5 VID 100,
    // inner IPv4, then two payload bytes.
    const TAGGED: [u8; 20] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x81, 0x00, 0xa0,
        0x64, 0x08, 0x00, 0xaa, 0xbb,
    ];

    #[test]
    fn parses_header_and_tag() {
        let frame = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert_eq!(frame.dst_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(frame.src_addr(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(frame.ethertype(), ethertype::VLAN);
        assert!(frame.has_vlan_tag());
        let tag = VlanTag::new_checked(frame.payload()).unwrap();
        assert_eq!(tag.tci(), 0xa064);
        assert_eq!(tag.pcp(), 5);
        assert!(!tag.dei());
        assert_eq!(tag.vid(), 100);
        assert_eq!(tag.ethertype(), ethertype::IPV4);
        assert_eq!(tag.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn setters_write_the_expected_bytes() {
        let mut buf = [0u8; 20];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        frame.set_dst_addr([2, 0, 0, 0, 0, 1]);
        frame.set_src_addr([2, 0, 0, 0, 0, 2]);
        frame.set_ethertype(ethertype::VLAN);
        let mut tag = VlanTag::new_unchecked(frame.payload_mut());
        tag.set_tci(0x1fff);
        tag.set_pcp(5);
        tag.set_vid(100);
        assert_eq!(tag.tci(), 0xb064, "DEI kept by set_pcp and set_vid");
        tag.set_tci(0xa064);
        tag.set_ethertype(ethertype::IPV4);
        tag.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(buf, TAGGED);
    }

    #[test]
    fn short_buffers_are_refused() {
        assert_eq!(
            EthernetFrame::new_checked(&TAGGED[..13]),
            Err(WireError::Truncated)
        );
        assert!(EthernetFrame::new_checked(&TAGGED[..14]).is_ok());
        assert_eq!(
            VlanTag::new_checked(&TAGGED[..3]),
            Err(WireError::Truncated)
        );
    }
}
