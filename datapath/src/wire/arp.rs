//! ARP packets (RFC 826).
//!
//! The view handles any hardware and protocol address length: the four
//! address fields follow the 8-byte fixed part, their sizes given by
//! `hardware_len` and `protocol_len`. Ethernet/IPv4 ARP, the only kind the
//! flow key describes, has 6 and 4 and so is 28 bytes long.

use super::{read_u16, write_u16, Field, WireError};

mod field {
    use super::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const ADDRS: usize = 8;

    #[inline]
    pub const fn sha(hlen: usize, _plen: usize) -> Field {
        ADDRS..ADDRS + hlen
    }
    #[inline]
    pub const fn spa(hlen: usize, plen: usize) -> Field {
        ADDRS + hlen..ADDRS + hlen + plen
    }
    #[inline]
    pub const fn tha(hlen: usize, plen: usize) -> Field {
        ADDRS + hlen + plen..ADDRS + 2 * hlen + plen
    }
    #[inline]
    pub const fn tpa(hlen: usize, plen: usize) -> Field {
        ADDRS + 2 * hlen + plen..ADDRS + 2 * hlen + 2 * plen
    }
}

/// ARP hardware types.
pub mod hardware {
    /// Ethernet (10 Mb and every later speed).
    pub const ETHERNET: u16 = 1;
}

/// ARP operation codes.
pub mod operation {
    /// "Who has `tpa`? Tell `spa`."
    pub const REQUEST: u16 = 1;
    /// "`spa` is at `sha`."
    pub const REPLY: u16 = 2;
}

/// A view of an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Length of the fixed part, before the addresses.
    pub const FIXED_LEN: usize = field::ADDRS;
    /// Length of an Ethernet/IPv4 ARP packet.
    pub const ETH_IPV4_LEN: usize = field::ADDRS + 2 * 6 + 2 * 4;

    /// Wraps `buffer` without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after checking that the fixed part and the four
    /// addresses it announces fit.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed part and the four addresses fit in the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < Self::FIXED_LEN || len < self.header_len() {
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

    /// Length of the whole packet: fixed part and addresses.
    #[inline]
    pub fn header_len(&self) -> usize {
        field::ADDRS + 2 * self.hardware_len() as usize + 2 * self.protocol_len() as usize
    }

    /// Hardware type ([`hardware::ETHERNET`] for Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type, an ethertype (0x0800 for IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Length of a hardware address in bytes.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Length of a protocol address in bytes.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation ([`operation::REQUEST`], [`operation::REPLY`], ...).
    #[inline]
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPER)
    }

    #[inline]
    fn lens(&self) -> (usize, usize) {
        (self.hardware_len() as usize, self.protocol_len() as usize)
    }

    /// Sender hardware address.
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::sha(h, p)]
    }

    /// Sender protocol address.
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::spa(h, p)]
    }

    /// Target hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::tha(h, p)]
    }

    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::tpa(h, p)]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::HTYPE, value)
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::PTYPE, value)
    }

    /// Sets the hardware address length (this moves every address field
    /// after it: set lengths first, addresses after).
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value
    }

    /// Sets the protocol address length (see [`Self::set_hardware_len`]).
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::OPER, value)
    }

    /// Sets the sender hardware address.
    ///
    /// # Panics
    /// If `addr` is not `hardware_len` bytes long.
    #[inline]
    pub fn set_source_hardware_addr(&mut self, addr: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::sha(h, p)].copy_from_slice(addr)
    }

    /// Sets the sender protocol address.
    ///
    /// # Panics
    /// If `addr` is not `protocol_len` bytes long.
    #[inline]
    pub fn set_source_protocol_addr(&mut self, addr: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::spa(h, p)].copy_from_slice(addr)
    }

    /// Sets the target hardware address.
    ///
    /// # Panics
    /// If `addr` is not `hardware_len` bytes long.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, addr: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::tha(h, p)].copy_from_slice(addr)
    }

    /// Sets the target protocol address.
    ///
    /// # Panics
    /// If `addr` is not `protocol_len` bytes long.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, addr: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::tpa(h, p)].copy_from_slice(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Who has 10.0.0.2? Tell 10.0.0.1 (at 02:00:00:00:00:01).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02,
    ];

    #[test]
    fn parses_an_ethernet_ipv4_request() {
        let arp = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(arp.hardware_type(), hardware::ETHERNET);
        assert_eq!(arp.protocol_type(), 0x0800);
        assert_eq!(arp.hardware_len(), 6);
        assert_eq!(arp.protocol_len(), 4);
        assert_eq!(arp.header_len(), ArpPacket::<&[u8]>::ETH_IPV4_LEN);
        assert_eq!(arp.operation(), operation::REQUEST);
        assert_eq!(arp.source_hardware_addr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(arp.source_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(arp.target_hardware_addr(), &[0; 6]);
        assert_eq!(arp.target_protocol_addr(), &[10, 0, 0, 2]);
    }

    #[test]
    fn setters_write_the_expected_bytes() {
        let mut buf = [0u8; 28];
        let mut arp = ArpPacket::new_unchecked(&mut buf[..]);
        arp.set_hardware_type(hardware::ETHERNET);
        arp.set_protocol_type(0x0800);
        arp.set_hardware_len(6);
        arp.set_protocol_len(4);
        arp.set_operation(operation::REQUEST);
        arp.set_source_hardware_addr(&[2, 0, 0, 0, 0, 1]);
        arp.set_source_protocol_addr(&[10, 0, 0, 1]);
        arp.set_target_hardware_addr(&[0; 6]);
        arp.set_target_protocol_addr(&[10, 0, 0, 2]);
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn addresses_longer_than_the_buffer_are_refused() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..7]),
            Err(WireError::Truncated)
        );
        let mut long = REQUEST;
        long[4] = 255;
        assert_eq!(ArpPacket::new_checked(&long[..]), Err(WireError::Truncated));
        // Zero-length addresses are legal (if useless): 8 bytes suffice.
        let mut empty = REQUEST;
        empty[4] = 0;
        empty[5] = 0;
        let arp = ArpPacket::new_checked(&empty[..8]).unwrap();
        assert_eq!(arp.target_protocol_addr(), &[] as &[u8]);
    }
}
