//! Finishing the TCP and UDP checksums that a local stack left to the
//! "hardware".
//!
//! A frame that a Linux stack sends through a device with checksum offload
//! (a veth, a tap with offloads) leaves the stack as `CHECKSUM_PARTIAL`: the
//! L4 checksum field holds only the folded sum of the IP pseudo-header, and
//! whoever finally puts the frame on a wire is to finish it. A host port
//! that hands such a frame to the switch must finish it itself, or the
//! receiver drops it as corrupt.
//!
//! - [`complete_l4_checksum`] recomputes the checksum of a frame the kernel
//!   marked partial (AF_PACKET's `TP_STATUS_CSUMNOTREADY`).
//! - [`complete_if_partial`] is for ports that get no such mark (AF_XDP): it
//!   finishes the checksum only when the field holds exactly the
//!   pseudo-header sum, which is what a partial checksum looks like. A frame
//!   whose checksum is right is left as it is, and so is one whose checksum
//!   is wrong some other way (the receiver should drop that one).
//!
//! Both look through up to two VLAN tags, IPv4 (not fragments) and IPv6
//! (hop-by-hop and destination options headers; not fragments, not routing
//! headers, whose final destination would change the pseudo-header).

use crate::wire::{
    checksum, ethertype, ip_proto, EthernetFrame, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket,
    VlanTag,
};

/// Offset of the checksum field in a UDP header.
const UDP_CHECKSUM_AT: usize = 6;
/// Offset of the checksum field in a TCP header.
const TCP_CHECKSUM_AT: usize = 16;

/// IPv6 extension headers that may stand between the IPv6 header and a
/// partial-checksum L4 header and do not change the pseudo-header.
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_DEST_OPTS: u8 = 60;

/// Where the L4 header of a TCP or UDP frame is and what its checksum covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct L4 {
    /// Offset of the TCP/UDP header in the frame.
    at: usize,
    /// Bytes the checksum covers (header and payload).
    len: usize,
    /// Offset of the checksum field in the frame.
    check_at: usize,
    /// Whether it is UDP (whose checksum 0 is sent as 0xffff).
    udp: bool,
    /// Sum of the pseudo-header, not folded or inverted.
    pseudo: u32,
}

/// Finds the TCP or UDP header of an Ethernet frame.
fn locate(frame: &[u8]) -> Option<L4> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let mut ty = eth.ethertype();
    let mut at = EthernetFrame::<&[u8]>::HEADER_LEN;
    for _ in 0..2 {
        if ty != ethertype::VLAN && ty != ethertype::QINQ {
            break;
        }
        let tag = VlanTag::new_checked(frame.get(at..)?).ok()?;
        ty = tag.ethertype();
        at += VlanTag::<&[u8]>::HEADER_LEN;
    }
    let (proto, l4_at, l3_end, pseudo) = match ty {
        ethertype::IPV4 => {
            let ip = Ipv4Packet::new_checked(frame.get(at..)?).ok()?;
            if ip.is_fragment() {
                return None;
            }
            let hl = ip.header_len() as usize;
            let end = at + ip.total_len() as usize;
            let mut pseudo = checksum::sum(&ip.src_addr().to_be_bytes(), 0);
            pseudo = checksum::sum(&ip.dst_addr().to_be_bytes(), pseudo);
            (ip.protocol(), at + hl, end, pseudo)
        }
        ethertype::IPV6 => {
            let ip = Ipv6Packet::new_checked(frame.get(at..)?).ok()?;
            let end = at + Ipv6Packet::<&[u8]>::HEADER_LEN + ip.payload_len() as usize;
            let mut next = ip.next_header();
            let mut l4_at = at + Ipv6Packet::<&[u8]>::HEADER_LEN;
            // A few extension headers at most; each is (len + 1) * 8 bytes.
            for _ in 0..4 {
                if next != IPV6_HOP_BY_HOP && next != IPV6_DEST_OPTS {
                    break;
                }
                let ext = frame.get(l4_at..l4_at + 2)?;
                next = ext[0];
                l4_at += (ext[1] as usize + 1) * 8;
            }
            let mut pseudo = checksum::sum(&ip.src_addr(), 0);
            pseudo = checksum::sum(&ip.dst_addr(), pseudo);
            (next, l4_at, end, pseudo)
        }
        _ => return None,
    };
    if l4_at > l3_end || l3_end > frame.len() {
        return None;
    }
    let seg = &frame[l4_at..l3_end];
    let (len, check_at, udp) = match proto {
        ip_proto::UDP => {
            let udp = UdpPacket::new_checked(seg).ok()?;
            (udp.length() as usize, UDP_CHECKSUM_AT, true)
        }
        ip_proto::TCP => {
            TcpPacket::new_checked(seg).ok()?;
            (seg.len(), TCP_CHECKSUM_AT, false)
        }
        _ => return None,
    };
    // Protocol and length as the pseudo-header has them: for IPv4 a zero
    // byte, the protocol and a 16-bit length; for IPv6 a 32-bit length and
    // three zero bytes before the next header. Both sum to the same words.
    let len32 = len as u32;
    let pseudo = checksum::sum(
        &[
            (len32 >> 24) as u8,
            (len32 >> 16) as u8,
            (len32 >> 8) as u8,
            len32 as u8,
            0,
            proto,
        ],
        pseudo,
    );
    Some(L4 {
        at: l4_at,
        len,
        check_at: l4_at + check_at,
        udp,
        pseudo,
    })
}

/// Writes the full checksum of the segment `l4` describes.
fn fill(frame: &mut [u8], l4: &L4) {
    frame[l4.check_at..l4.check_at + 2].copy_from_slice(&[0, 0]);
    let mut c = checksum::finish(checksum::sum(&frame[l4.at..l4.at + l4.len], l4.pseudo));
    if l4.udp && c == 0 {
        c = 0xffff;
    }
    frame[l4.check_at..l4.check_at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Computes and writes the TCP or UDP checksum of an Ethernet frame.
/// Returns false (and changes nothing) when the frame is not TCP or UDP
/// over unfragmented IPv4/IPv6, or is malformed.
pub fn complete_l4_checksum(frame: &mut [u8]) -> bool {
    let Some(l4) = locate(frame) else {
        return false;
    };
    fill(frame, &l4);
    true
}

/// Finishes the TCP or UDP checksum of an Ethernet frame if it looks partial
/// (the field holds the folded pseudo-header sum). Returns whether it did.
pub fn complete_if_partial(frame: &mut [u8]) -> bool {
    let Some(l4) = locate(frame) else {
        return false;
    };
    let field = u16::from_be_bytes([frame[l4.check_at], frame[l4.check_at + 1]]);
    // !finish() is the folded, uninverted sum; 0 and 0xffff are the two
    // one's-complement zeros.
    let partial = !checksum::finish(l4.pseudo);
    let looks_partial = field == partial || (field == 0 && partial == 0xffff);
    if !looks_partial {
        return false;
    }
    fill(frame, &l4);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    fn udp4(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(4000, 5000);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    fn tcp6_vlan(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .single_vlan(10.try_into().unwrap())
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .tcp(4000, 5000, 1, 1000);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    /// Whether etherparse agrees that the L4 checksum is right.
    fn checksum_ok(frame: &[u8]) -> bool {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let net = p.net.unwrap();
        match (net, p.transport.unwrap()) {
            (etherparse::NetSlice::Ipv4(ip), TransportSlice::Udp(u)) => {
                u.to_header()
                    .calc_checksum_ipv4(&ip.header().to_header(), u.payload())
                    .unwrap()
                    == u.checksum()
            }
            (etherparse::NetSlice::Ipv6(ip), TransportSlice::Tcp(t)) => {
                t.to_header()
                    .calc_checksum_ipv6(&ip.header().to_header(), t.payload())
                    .unwrap()
                    == t.checksum()
            }
            _ => panic!("unexpected packet"),
        }
    }

    /// Makes the checksum partial as Linux leaves it: the folded
    /// pseudo-header sum.
    fn make_partial(frame: &mut [u8]) -> L4 {
        let l4 = locate(frame).unwrap();
        let partial = !checksum::finish(l4.pseudo);
        frame[l4.check_at..l4.check_at + 2].copy_from_slice(&partial.to_be_bytes());
        l4
    }

    #[test]
    fn completes_udp_over_ipv4() {
        let mut f = udp4(b"hello, switch");
        assert!(checksum_ok(&f));
        let good = f.clone();
        make_partial(&mut f);
        assert!(!checksum_ok(&f));
        assert!(complete_l4_checksum(&mut f));
        assert_eq!(f, good);
    }

    #[test]
    fn completes_tcp_over_ipv6_behind_a_vlan_tag() {
        let mut f = tcp6_vlan(b"odd length payload!");
        let good = f.clone();
        make_partial(&mut f);
        assert!(complete_if_partial(&mut f));
        assert_eq!(f, good);
        assert!(checksum_ok(&f));
    }

    #[test]
    fn heuristic_leaves_good_and_corrupt_checksums_alone() {
        let mut f = udp4(b"abc");
        let good = f.clone();
        assert!(!complete_if_partial(&mut f));
        assert_eq!(f, good);
        let l4 = locate(&f).unwrap();
        f[l4.check_at] ^= 0x55;
        let bad = f.clone();
        assert!(!complete_if_partial(&mut f));
        assert_eq!(f, bad);
    }

    #[test]
    fn ethernet_padding_is_not_summed() {
        let mut f = udp4(b"x");
        let good = f.clone();
        make_partial(&mut f);
        f.extend_from_slice(&[0xaa; 17]);
        assert!(complete_l4_checksum(&mut f));
        assert_eq!(&f[..good.len()], &good[..]);
    }

    #[test]
    fn fragments_and_other_protocols_are_not_touched() {
        let mut f = udp4(b"abc");
        // More-fragments bit in the IPv4 header (after a 14-byte Ethernet header).
        f[14 + 6] |= 0x20;
        assert!(!complete_l4_checksum(&mut f));
        let mut arp = vec![0xffu8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(!complete_l4_checksum(&mut arp));
        assert!(!complete_l4_checksum(&mut [0u8; 10]));
    }
}
