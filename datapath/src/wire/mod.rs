//! Zero-copy header views: no I/O, no unsafe, never imports `port`.
//!
//! Each header is a view `Xxx<T: AsRef<[u8]>>` over a byte buffer, checked
//! once by `new_checked` so that no accessor can panic afterwards; setters
//! exist where `T: AsMut<[u8]>`. `new_unchecked` skips the check: its
//! accessors panic if the buffer is too short, so use it only on bytes that
//! were checked some other way (for instance at offsets that
//! [`crate::extract()`] reported).
//!
//! Unknown ethertypes and protocol numbers are plain numbers, never errors:
//! the named ones are in [`ethertype`] and [`ip_proto`].
//!
//! Addresses are plain values, as in [`crate::FlowKey`]: MACs are `[u8; 6]`,
//! IPv4 addresses `u32` (the big-endian bytes read as a number, so
//! 10.0.0.1 is `0x0a00_0001`) and IPv6 addresses `[u8; 16]`.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

pub use arp::ArpPacket;
pub use ethernet::{ethertype, EthernetFrame, VlanTag};
pub use icmp::IcmpPacket;
pub use ipv4::Ipv4Packet;
pub use ipv6::{Ipv6FragmentHeader, Ipv6Packet};
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

/// Why a buffer cannot be viewed as a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header (or than the length it declares).
    #[error("buffer is shorter than the header it should hold")]
    Truncated,
    /// A header field holds a value the header cannot have (a version or a
    /// length out of range).
    #[error("header field holds an impossible value")]
    Malformed,
}

/// A byte range of a header.
type Field = core::ops::Range<usize>;
/// The bytes from an offset to the end of the buffer.
type Rest = core::ops::RangeFrom<usize>;

/// IP protocol numbers (IPv4 `protocol`, IPv6 `next header`).
pub mod ip_proto {
    /// ICMP (IPv4).
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 Fragment extension header.
    pub const IPV6_FRAG: u8 = 44;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

#[inline(always)]
fn read_u16(b: &[u8], f: Field) -> u16 {
    let b = &b[f];
    u16::from_be_bytes([b[0], b[1]])
}

#[inline(always)]
fn read_u32(b: &[u8], f: Field) -> u32 {
    let b = &b[f];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline(always)]
fn write_u16(b: &mut [u8], f: Field, v: u16) {
    b[f].copy_from_slice(&v.to_be_bytes())
}

#[inline(always)]
fn write_u32(b: &mut [u8], f: Field, v: u32) {
    b[f].copy_from_slice(&v.to_be_bytes())
}

#[inline(always)]
fn read_array<const N: usize>(b: &[u8], f: Field) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[f]);
    a
}
