//! Flow key extraction: one pass over a frame's headers, filling a
//! [`FlowKey`] and noting where the L3 and L4 headers start.
//!
//! This runs once per packet before any lookup, so it is written as
//! straight-line code: each header is read as one fixed-size array after a
//! single bounds check, the key's words are built whole, and the only header
//! walked beyond the fixed ones is a single IPv6 Fragment header. It reads
//! bytes directly rather than through the [`crate::wire`] views (same
//! layouts, fewer checks) and never allocates or panics, whatever the bytes.
//!
//! # What is filled
//!
//! Every field starts at zero and stays zero unless its header was parsed.
//! `in_port` is always set. A header counts as parsed only when all of its
//! fixed part is in the frame and the checks below pass; a frame that stops
//! early (truncated, or malformed) keeps everything parsed before that.
//!
//! * **Ethernet** needs 14 bytes; a shorter frame gives a key with only
//!   `in_port`. Then `eth_dst`, `eth_src` and `dl_type` are set.
//! * **VLAN**: an outer ethertype of 0x8100 or 0x88a8 followed by a whole
//!   4-byte tag gives `vlan_tci = TCI | VLAN_CFI` and `dl_type` = the
//!   ethertype after the tag. Only one tag is read: in a double-tagged frame
//!   `dl_type` is the inner tag's TPID (0x8100) and nothing after it is
//!   parsed. If the tag is cut short, `dl_type` is the TPID and `vlan_tci`
//!   stays 0 (as Open vSwitch does).
//! * **802.3**: an ethertype below 0x0600 is a length field; `dl_type`
//!   becomes 0x05ff ([`ethertype::NONE`], Open vSwitch's
//!   `FLOW_DL_TYPE_NONE`) and nothing after it is parsed (LLC/SNAP is not
//!   decoded).
//! * **ARP** is parsed only when it is Ethernet/IPv4 ARP (htype 1, ptype
//!   0x0800, hlen 6, plen 4) and all 28 bytes are there: sender and target
//!   addresses go to `arp_sha`/`ipv4_src` and `arp_tha`/`ipv4_dst`, and the
//!   opcode to `nw_proto` when it fits in 8 bits (an opcode above 255
//!   leaves `nw_proto` 0, as in Open vSwitch, so that it cannot alias a
//!   small one).
//! * **IPv4** is parsed when the 20 fixed bytes are there, the version is 4,
//!   IHL ≥ 5 and the whole header (options included) is in the frame;
//!   otherwise every L3 field stays zero and only `dl_type` says IPv4. The
//!   header checksum is not checked (the switch forwards packets, it does
//!   not terminate them). Fragments: `nw_frag` has [`FRAG_ANY`] when MF is
//!   set or the offset is not 0, and also [`FRAG_LATER`] when the offset is
//!   not 0; a later fragment has no L4 fields.
//! * **IPv6** is parsed when the 40-byte header is there and the version is
//!   6. `nw_proto` is the header's next header, except that a Fragment
//!   header (44) is read when its 8 bytes are there: `nw_proto` becomes the
//!   fragment header's next header, `nw_frag` is set as for IPv4 (M flag and
//!   offset; an "atomic" fragment with both zero is not a fragment) and the
//!   L4 header is read only in the first fragment. A fragment header cut
//!   short leaves `nw_proto` 44 and no L4. No other extension header is
//!   walked: `nw_proto` is its number and there are no L4 fields. (Open
//!   vSwitch walks the other extension headers too, and gives later
//!   fragments `nw_proto` 44; here every fragment carries its upper
//!   protocol, as IPv4 fragments do.) A jumbogram (`payload_len` 0) has no
//!   L4 fields.
//! * **L4** lies between the end of the IP header(s) and the end of the IP
//!   packet, that is the smaller of the frame's end and what IPv4
//!   `total_len` or IPv6 `payload_len` says, so that Ethernet padding is
//!   never taken for a header (a frame shorter than the IP length, which a
//!   capture may be, is parsed as far as it goes). TCP needs 20 bytes and
//!   gives ports and the 12 flag bits (the data offset is not checked); UDP
//!   needs 8 and gives ports; ICMP (under IPv4) and ICMPv6 (under IPv6) need
//!   their 8-byte header and give type in `tp_src`, code in `tp_dst`. Other
//!   protocols have no L4 fields.
//!
//! [`HeaderOffsets`] tells the action code where to rewrite: `l3` is set
//! exactly when ARP or IP fields were filled, `l4` exactly when L4 fields
//! were.

use crate::flow::{FlowKey, FLOW_WORDS, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use crate::wire::{ethertype, ip_proto};

/// Byte offsets of the L3 and L4 headers inside the frame;
/// [`HeaderOffsets::ABSENT`] (`u16::MAX`) when absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderOffsets {
    /// Start of the ARP, IPv4 or IPv6 header.
    pub l3: u16,
    /// Start of the TCP, UDP, ICMP or ICMPv6 header.
    pub l4: u16,
}

impl HeaderOffsets {
    /// The offset of a header that is absent (or was not parsed).
    pub const ABSENT: u16 = u16::MAX;

    /// Offsets of a frame with neither an L3 nor an L4 header.
    pub const NONE: HeaderOffsets = HeaderOffsets {
        l3: Self::ABSENT,
        l4: Self::ABSENT,
    };

    /// The L3 offset, if there is an L3 header.
    #[inline]
    pub fn l3_offset(&self) -> Option<usize> {
        (self.l3 != Self::ABSENT).then_some(self.l3 as usize)
    }

    /// The L4 offset, if there is an L4 header.
    #[inline]
    pub fn l4_offset(&self) -> Option<usize> {
        (self.l4 != Self::ABSENT).then_some(self.l4 as usize)
    }
}

impl Default for HeaderOffsets {
    fn default() -> Self {
        Self::NONE
    }
}

const ETH_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const ARP_ETH_IPV4_LEN: usize = 28;
const IPV4_MIN_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const IPV6_FRAG_LEN: usize = 8;
const TCP_MIN_LEN: usize = 20;
const UDP_LEN: usize = 8;
const ICMP_LEN: usize = 8;

/// The first 6 bytes of Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6,
/// plen 4.
const ARP_ETH_IPV4_PREFIX: u64 = 0x0001_0800_0604;

/// IPv4 flags/offset word: more fragments.
const IPV4_MF: u16 = 0x2000;
/// IPv4 flags/offset word: fragment offset.
const IPV4_OFFSET: u16 = 0x1fff;
/// IPv6 fragment header offset/flags word: more fragments.
const IPV6_FRAG_M: u16 = 0x0001;
/// IPv6 fragment header offset/flags word: fragment offset.
const IPV6_FRAG_OFFSET: u16 = 0xfff8;

/// Parses `frame`'s headers into a flow key (see the module docs for exactly
/// what is filled) and returns where its L3 and L4 headers start.
#[inline]
pub fn extract(frame: &[u8], in_port: u32) -> (FlowKey, HeaderOffsets) {
    let mut key = FlowKey::default();
    let mut offsets = HeaderOffsets::NONE;
    key.words[0] = u64::from(in_port) << 32;
    parse_ethernet(frame, &mut key.words, &mut offsets);
    (key, offsets)
}

/// The `N` bytes at `at`, if the frame holds them.
#[inline(always)]
fn bytes_at<const N: usize>(frame: &[u8], at: usize) -> Option<&[u8; N]> {
    frame.get(at..)?.first_chunk::<N>()
}

#[inline(always)]
fn be16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn be64<const N: usize>(b: &[u8; N], at: usize) -> u64 {
    u64::from_be_bytes([
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
    ])
}

/// The `nw_frag` bits, in place in word 2.
#[inline(always)]
fn frag_bits(any: bool, later: bool) -> u64 {
    (u64::from(any) * u64::from(FRAG_ANY)) | (u64::from(later) * u64::from(FRAG_LATER))
}

/// Bits 63..16 of a word that holds a MAC address read as the first 6 of 8
/// big-endian bytes.
const MAC_BITS: u64 = !0xffff;

#[inline(always)]
fn parse_ethernet(frame: &[u8], w: &mut [u64; FLOW_WORDS], offsets: &mut HeaderOffsets) {
    let Some(eth) = frame.first_chunk::<ETH_LEN>() else {
        return;
    };
    // Bytes 0..8 are eth_dst then the first two of eth_src, bytes 6..14 are
    // eth_src then the ethertype: the MACs land in bits 63..16 directly.
    w[1] = be64(eth, 0) & MAC_BITS;
    let src_and_type = be64(eth, 6);
    w[2] = src_and_type & MAC_BITS;
    let mut dl_type = src_and_type as u16;
    let mut l3 = ETH_LEN;

    if dl_type == ethertype::VLAN || dl_type == ethertype::QINQ {
        let Some(tag) = bytes_at::<VLAN_TAG_LEN>(frame, ETH_LEN) else {
            w[0] |= u64::from(dl_type) << 16;
            return;
        };
        w[0] |= u64::from(be16(tag, 0) | VLAN_CFI);
        dl_type = be16(tag, 2);
        l3 += VLAN_TAG_LEN;
    }
    if dl_type < ethertype::MIN {
        dl_type = ethertype::NONE;
    }
    w[0] |= u64::from(dl_type) << 16;

    match dl_type {
        ethertype::IPV4 => parse_ipv4(frame, l3, w, offsets),
        ethertype::IPV6 => parse_ipv6(frame, l3, w, offsets),
        ethertype::ARP => parse_arp(frame, l3, w, offsets),
        _ => {}
    }
}

#[inline(always)]
fn parse_arp(frame: &[u8], l3: usize, w: &mut [u64; FLOW_WORDS], offsets: &mut HeaderOffsets) {
    let Some(arp) = bytes_at::<ARP_ETH_IPV4_LEN>(frame, l3) else {
        return;
    };
    if be64(arp, 0) >> 16 != ARP_ETH_IPV4_PREFIX {
        return;
    }
    let op = be16(arp, 6);
    if op <= 0xff {
        w[1] |= u64::from(op) << 8;
    }
    // sha at 8..14, spa at 14..18, tha at 18..24, tpa at 24..28.
    w[3] = be64(arp, 8) & MAC_BITS;
    w[4] = u64::from(be32(arp, 14));
    w[5] = be64(arp, 18) & MAC_BITS;
    w[6] = u64::from(be32(arp, 24));
    offsets.l3 = l3 as u16;
}

#[inline(always)]
fn parse_ipv4(frame: &[u8], l3: usize, w: &mut [u64; FLOW_WORDS], offsets: &mut HeaderOffsets) {
    let Some(ip) = bytes_at::<IPV4_MIN_LEN>(frame, l3) else {
        return;
    };
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    // `bytes_at` saw l3 + 20 <= len, so the subtraction cannot wrap.
    if ip[0] >> 4 != 4 || header_len < IPV4_MIN_LEN || frame.len() - l3 < header_len {
        return;
    }
    let flags_offset = be16(ip, 6);
    let later = flags_offset & IPV4_OFFSET != 0;
    let any = flags_offset & (IPV4_MF | IPV4_OFFSET) != 0;
    let frag = frag_bits(any, later);
    let proto = ip[9];

    w[1] |= u64::from(proto) << 8 | u64::from(ip[1]);
    w[2] |= u64::from(ip[8]) << 8 | frag;
    w[4] = u64::from(be32(ip, 12));
    w[6] = u64::from(be32(ip, 16));
    offsets.l3 = l3 as u16;

    if !later {
        let end = frame.len().min(l3 + usize::from(be16(ip, 2)));
        parse_l4(
            frame,
            l3 + header_len,
            end,
            proto,
            ip_proto::ICMP,
            w,
            offsets,
        );
    }
}

#[inline(always)]
fn parse_ipv6(frame: &[u8], l3: usize, w: &mut [u64; FLOW_WORDS], offsets: &mut HeaderOffsets) {
    let Some(ip) = bytes_at::<IPV6_LEN>(frame, l3) else {
        return;
    };
    let ver_tc_flow = be32(ip, 0);
    if ver_tc_flow >> 28 != 6 {
        return;
    }
    let end = frame.len().min(l3 + IPV6_LEN + usize::from(be16(ip, 4)));
    let mut proto = ip[6];
    let mut frag = 0u64;
    let mut l4 = l3 + IPV6_LEN;
    let mut has_l4 = true;

    if proto == ip_proto::IPV6_FRAG {
        match frame
            .get(l4..end)
            .and_then(<[u8]>::first_chunk::<IPV6_FRAG_LEN>)
        {
            Some(fh) => {
                proto = fh[0];
                let offset_m = be16(fh, 2);
                let later = offset_m & IPV6_FRAG_OFFSET != 0;
                let any = offset_m & (IPV6_FRAG_OFFSET | IPV6_FRAG_M) != 0;
                frag = frag_bits(any, later);
                l4 += IPV6_FRAG_LEN;
                has_l4 = !later;
            }
            None => has_l4 = false,
        }
    }

    // Traffic class is bits 27..20 of the first word, hop limit byte 7.
    w[1] |= u64::from(proto) << 8 | u64::from((ver_tc_flow >> 20) as u8);
    w[2] |= u64::from(ip[7]) << 8 | frag;
    w[3] = be64(ip, 8);
    w[4] = be64(ip, 16);
    w[5] = be64(ip, 24);
    w[6] = be64(ip, 32);
    w[7] = u64::from(ver_tc_flow & 0x000f_ffff) << 12;
    offsets.l3 = l3 as u16;

    if has_l4 {
        parse_l4(frame, l4, end, proto, ip_proto::ICMPV6, w, offsets);
    }
}

/// Reads the L4 header at `l4` if it ends by `end` (<= frame.len()).
/// `icmp` is the ICMP protocol number of this IP version.
#[inline(always)]
fn parse_l4(
    frame: &[u8],
    l4: usize,
    end: usize,
    proto: u8,
    icmp: u8,
    w: &mut [u64; FLOW_WORDS],
    offsets: &mut HeaderOffsets,
) {
    let Some(segment) = frame.get(l4..end) else {
        return;
    };
    // tp_src is bits 63..48 and tp_dst 47..32 of word 7: the two ports read
    // as one big-endian u32 land there with one shift.
    let tp = match proto {
        ip_proto::TCP => {
            let Some(tcp) = segment.first_chunk::<TCP_MIN_LEN>() else {
                return;
            };
            u64::from(be32(tcp, 0)) << 32 | u64::from(be16(tcp, 12) & 0x0fff)
        }
        ip_proto::UDP => {
            let Some(udp) = segment.first_chunk::<UDP_LEN>() else {
                return;
            };
            u64::from(be32(udp, 0)) << 32
        }
        p if p == icmp => {
            let Some(icmp) = segment.first_chunk::<ICMP_LEN>() else {
                return;
            };
            u64::from(icmp[0]) << 48 | u64::from(icmp[1]) << 32
        }
        _ => return,
    };
    w[7] |= tp;
    offsets.l4 = l4 as u16;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{
        EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6FragmentHeader, Ipv6Packet, TcpPacket,
        UdpPacket, VlanTag,
    };

    const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const PORT: u32 = 7;
    const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// An Ethernet header with `ethertype`, optionally behind a tag.
    fn eth(ethertype: u16, tag: Option<(u16, u16)>) -> Vec<u8> {
        let mut buf = vec![0u8; 14];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        frame.set_dst_addr(DST);
        frame.set_src_addr(SRC);
        match tag {
            None => frame.set_ethertype(ethertype),
            Some((tpid, tci)) => {
                frame.set_ethertype(tpid);
                let mut t = [0u8; 4];
                let mut view = VlanTag::new_unchecked(&mut t[..]);
                view.set_tci(tci);
                view.set_ethertype(ethertype);
                buf.extend_from_slice(&t);
            }
        }
        buf
    }

    /// An IPv4 header (IHL 5 unless `options` is given), `l4` after it.
    fn ipv4(proto: u8, flags_offset: u16, options: &[u8], l4: &[u8]) -> Vec<u8> {
        let header_len = 20 + options.len();
        let mut buf = vec![0u8; header_len + l4.len()];
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_version(4);
        ip.set_header_len(header_len as u8);
        ip.set_tos(0x2e);
        ip.set_total_len((header_len + l4.len()) as u16);
        ip.set_more_frags(flags_offset & IPV4_MF != 0);
        ip.set_frag_offset((flags_offset & IPV4_OFFSET) << 3);
        ip.set_ttl(63);
        ip.set_protocol(proto);
        ip.set_src_addr(0x0a00_0001);
        ip.set_dst_addr(0x0a00_0002);
        ip.options_mut().copy_from_slice(options);
        ip.fill_checksum();
        ip.payload_mut().copy_from_slice(l4);
        buf
    }

    fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 40 + payload.len()];
        let mut ip = Ipv6Packet::new_unchecked(&mut buf[..]);
        ip.set_version(6);
        ip.set_traffic_class(0xb8);
        ip.set_flow_label(0xabcde);
        ip.set_payload_len(payload.len() as u16);
        ip.set_next_header(next_header);
        ip.set_hop_limit(255);
        ip.set_src_addr(V6_SRC);
        ip.set_dst_addr(V6_DST);
        ip.payload_mut().copy_from_slice(payload);
        buf
    }

    fn ipv6_frag(next_header: u8, offset: u16, more: bool) -> [u8; 8] {
        let mut buf = [0u8; 8];
        let mut f = Ipv6FragmentHeader::new_unchecked(&mut buf[..]);
        f.set_next_header(next_header);
        f.set_frag_offset(offset);
        f.set_more_frags(more);
        f.set_ident(0x1234_5678);
        buf
    }

    fn udp(src: u16, dst: u16) -> [u8; 8] {
        let mut buf = [0u8; 8];
        let mut u = UdpPacket::new_unchecked(&mut buf[..]);
        u.set_src_port(src);
        u.set_dst_port(dst);
        u.set_length(8);
        buf
    }

    fn tcp(src: u16, dst: u16, flags: u16) -> [u8; 20] {
        let mut buf = [0u8; 20];
        let mut t = TcpPacket::new_unchecked(&mut buf[..]);
        t.set_src_port(src);
        t.set_dst_port(dst);
        t.set_header_len(20);
        t.set_flags(flags);
        buf
    }

    fn icmp(ty: u8, code: u8) -> [u8; 8] {
        let mut buf = [0u8; 8];
        let mut i = IcmpPacket::new_unchecked(&mut buf[..]);
        i.set_msg_type(ty);
        i.set_msg_code(code);
        buf
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn l2_only(dl_type: u16, vlan_tci: u16) -> FlowKey {
        let mut k = FlowKey::default();
        k.set_in_port(PORT);
        k.set_eth_dst(DST);
        k.set_eth_src(SRC);
        k.set_dl_type(dl_type);
        k.set_vlan_tci(vlan_tci);
        k
    }

    fn ipv4_key(proto: u8, frag: u8) -> FlowKey {
        let mut k = l2_only(ethertype::IPV4, 0);
        k.set_nw_proto(proto);
        k.set_nw_tos(0x2e);
        k.set_nw_ttl(63);
        k.set_nw_frag(frag);
        k.set_ipv4_src(0x0a00_0001);
        k.set_ipv4_dst(0x0a00_0002);
        k
    }

    fn ipv6_key(proto: u8, frag: u8) -> FlowKey {
        let mut k = l2_only(ethertype::IPV6, 0);
        k.set_nw_proto(proto);
        k.set_nw_tos(0xb8);
        k.set_nw_ttl(255);
        k.set_nw_frag(frag);
        k.set_ipv6_src(V6_SRC);
        k.set_ipv6_dst(V6_DST);
        k.set_ipv6_label(0xabcde);
        k
    }

    fn offs(l3: u16, l4: u16) -> HeaderOffsets {
        HeaderOffsets { l3, l4 }
    }

    const ABSENT: u16 = HeaderOffsets::ABSENT;

    #[test]
    fn short_frames_give_only_the_port() {
        let frame = cat(&[&eth(ethertype::IPV4, None)]);
        for len in 0..14 {
            let (key, o) = extract(&frame[..len], PORT);
            let mut want = FlowKey::default();
            want.set_in_port(PORT);
            assert_eq!(key, want, "len {len}");
            assert_eq!(o, HeaderOffsets::NONE);
        }
    }

    #[test]
    fn ipv4_udp() {
        let frame = cat(&[
            &eth(ethertype::IPV4, None),
            &ipv4(17, 0x4000, &[], &udp(5353, 53)),
        ]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv4_key(17, 0);
        want.set_tp_src(5353);
        want.set_tp_dst(53);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 34));
        assert_eq!((o.l3_offset(), o.l4_offset()), (Some(14), Some(34)));
    }

    #[test]
    fn ipv4_tcp_flags_keep_all_twelve_bits() {
        let frame = cat(&[
            &eth(ethertype::IPV4, None),
            &ipv4(6, 0, &[], &tcp(1, 2, 0xfff)),
        ]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv4_key(6, 0);
        want.set_tp_src(1);
        want.set_tp_dst(2);
        want.set_tcp_flags(0xfff);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 34));
    }

    #[test]
    fn ipv4_icmp_type_and_code() {
        let frame = cat(&[&eth(ethertype::IPV4, None), &ipv4(1, 0, &[], &icmp(3, 4))]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv4_key(1, 0);
        want.set_tp_src(3);
        want.set_tp_dst(4);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 34));
    }

    #[test]
    fn ipv4_options_move_l4() {
        let frame = cat(&[
            &eth(ethertype::IPV4, None),
            &ipv4(17, 0, &[1, 1, 1, 0, 1, 1, 1, 0], &udp(9, 10)),
        ]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv4_key(17, 0);
        want.set_tp_src(9);
        want.set_tp_dst(10);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 42));
    }

    #[test]
    fn ipv4_first_fragment_has_l4() {
        let frame = cat(&[
            &eth(ethertype::IPV4, None),
            &ipv4(17, IPV4_MF, &[], &udp(5353, 53)),
        ]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv4_key(17, FRAG_ANY);
        want.set_tp_src(5353);
        want.set_tp_dst(53);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 34));
    }

    #[test]
    fn ipv4_later_fragments_have_no_l4() {
        for flags_offset in [IPV4_MF | 185, 185, 1] {
            let frame = cat(&[
                &eth(ethertype::IPV4, None),
                &ipv4(17, flags_offset, &[], &udp(5353, 53)),
            ]);
            let (key, o) = extract(&frame, PORT);
            assert_eq!(
                key,
                ipv4_key(17, FRAG_ANY | FRAG_LATER),
                "{flags_offset:#x}"
            );
            assert_eq!(o, offs(14, ABSENT));
        }
    }

    #[test]
    fn ipv4_with_bad_ihl_or_version_keeps_only_l2() {
        let good = cat(&[&eth(ethertype::IPV4, None), &ipv4(17, 0, &[], &udp(1, 2))]);
        for ver_ihl in [0x44, 0x40, 0x65, 0x4f] {
            let mut frame = good.clone();
            frame[14] = ver_ihl; // 0x4f: a 60-byte header, longer than the frame
            let (key, o) = extract(&frame, PORT);
            assert_eq!(key, l2_only(ethertype::IPV4, 0), "{ver_ihl:#x}");
            assert_eq!(o, HeaderOffsets::NONE);
        }
        // The fixed 20 bytes cut short: the same.
        let (key, o) = extract(&good[..14 + 19], PORT);
        assert_eq!(key, l2_only(ethertype::IPV4, 0));
        assert_eq!(o, HeaderOffsets::NONE);
    }

    #[test]
    fn ipv4_padding_is_not_taken_for_l4() {
        // total_len covers only the IP header; the UDP bytes after it are
        // link padding.
        let mut frame = cat(&[&eth(ethertype::IPV4, None), &ipv4(17, 0, &[], &udp(1, 2))]);
        frame[16..18].copy_from_slice(&20u16.to_be_bytes());
        let (key, o) = extract(&frame, PORT);
        assert_eq!(key, ipv4_key(17, 0));
        assert_eq!(o, offs(14, ABSENT));
        // A total_len past the frame's end (a truncated capture) still lets
        // a whole L4 header through.
        frame[16..18].copy_from_slice(&1500u16.to_be_bytes());
        let (key, o) = extract(&frame, PORT);
        assert_eq!((key.tp_src(), key.tp_dst()), (1, 2));
        assert_eq!(o, offs(14, 34));
    }

    #[test]
    fn ipv4_l4_cut_short_keeps_l3() {
        let frame = cat(&[
            &eth(ethertype::IPV4, None),
            &ipv4(6, 0, &[], &tcp(1, 2, 0x12)),
        ]);
        let (key, o) = extract(&frame[..frame.len() - 1], PORT);
        assert_eq!(key, ipv4_key(6, 0));
        assert_eq!(o, offs(14, ABSENT));
    }

    #[test]
    fn vlan_tags() {
        let payload = ipv4(17, 0, &[], &udp(1, 2));
        for tpid in [ethertype::VLAN, ethertype::QINQ] {
            let frame = cat(&[&eth(ethertype::IPV4, Some((tpid, 0xa064))), &payload]);
            let (key, o) = extract(&frame, PORT);
            let mut want = ipv4_key(17, 0);
            want.set_vlan_tci(0xa064 | VLAN_CFI);
            want.set_tp_src(1);
            want.set_tp_dst(2);
            assert_eq!(key, want, "{tpid:#x}");
            assert_eq!(o, offs(18, 38));
        }
        // VID 0 and no tag differ.
        let frame = cat(&[&eth(ethertype::IPV4, Some((ethertype::VLAN, 0))), &payload]);
        assert_eq!(extract(&frame, PORT).0.vlan_tci(), VLAN_CFI);
    }

    #[test]
    fn double_tag_stops_after_the_outer_one() {
        let frame = cat(&[
            &eth(ethertype::VLAN, Some((ethertype::QINQ, 100))),
            &[0x00, 0xc8, 0x08, 0x00],
            &ipv4(17, 0, &[], &udp(1, 2)),
        ]);
        let (key, o) = extract(&frame, PORT);
        assert_eq!(key, l2_only(ethertype::VLAN, 100 | VLAN_CFI));
        assert_eq!(o, HeaderOffsets::NONE);
    }

    #[test]
    fn truncated_tag_leaves_the_tpid_as_dl_type() {
        let frame = eth(ethertype::IPV4, Some((ethertype::VLAN, 100)));
        for len in 14..18 {
            let (key, o) = extract(&frame[..len], PORT);
            assert_eq!(key, l2_only(ethertype::VLAN, 0), "len {len}");
            assert_eq!(o, HeaderOffsets::NONE);
        }
    }

    #[test]
    fn ieee_802_3_length_gives_dl_type_none() {
        for (len_field, tag) in [
            (0x0000, None),
            (0x002e, None),
            (0x05dc, None),
            (0x05ff, None),
            (0x002e, Some((ethertype::VLAN, 5))),
        ] {
            let frame = cat(&[&eth(len_field, tag), &[0xaa, 0xaa, 0x03, 0, 0, 0, 8, 0]]);
            let (key, o) = extract(&frame, PORT);
            let tci = if tag.is_some() { 5 | VLAN_CFI } else { 0 };
            assert_eq!(key, l2_only(ethertype::NONE, tci), "{len_field:#x}");
            assert_eq!(o, HeaderOffsets::NONE);
        }
        // 0x0600 is the first ethertype.
        let (key, _) = extract(&eth(0x0600, None), PORT);
        assert_eq!(key.dl_type(), 0x0600);
    }

    #[test]
    fn unknown_ethertype_gives_l2_only() {
        let frame = cat(&[&eth(0x88cc, None), &[1; 40]]);
        let (key, o) = extract(&frame, PORT);
        assert_eq!(key, l2_only(0x88cc, 0));
        assert_eq!(o, HeaderOffsets::NONE);
    }

    #[test]
    fn ipv6_udp_tcp_icmpv6() {
        let frame = cat(&[&eth(ethertype::IPV6, None), &ipv6(17, &udp(546, 547))]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv6_key(17, 0);
        want.set_tp_src(546);
        want.set_tp_dst(547);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 54));

        let frame = cat(&[&eth(ethertype::IPV6, None), &ipv6(6, &tcp(80, 443, 0x18))]);
        let (key, _) = extract(&frame, PORT);
        let mut want = ipv6_key(6, 0);
        want.set_tp_src(80);
        want.set_tp_dst(443);
        want.set_tcp_flags(0x18);
        assert_eq!(key, want);

        let frame = cat(&[&eth(ethertype::IPV6, None), &ipv6(58, &icmp(135, 0))]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv6_key(58, 0);
        want.set_tp_src(135);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 54));
    }

    #[test]
    fn icmpv4_under_ipv6_and_icmpv6_under_ipv4_have_no_l4() {
        let frame = cat(&[&eth(ethertype::IPV6, None), &ipv6(1, &icmp(8, 0))]);
        let (key, o) = extract(&frame, PORT);
        assert_eq!(key, ipv6_key(1, 0));
        assert_eq!(o, offs(14, ABSENT));
        let frame = cat(&[
            &eth(ethertype::IPV4, None),
            &ipv4(58, 0, &[], &icmp(128, 0)),
        ]);
        let (key, o) = extract(&frame, PORT);
        assert_eq!(key, ipv4_key(58, 0));
        assert_eq!(o, offs(14, ABSENT));
    }

    #[test]
    fn ipv6_fragment_header() {
        let l4 = udp(5353, 53);
        // First fragment: L4 read after the fragment header.
        let frame = cat(&[
            &eth(ethertype::IPV6, None),
            &ipv6(44, &cat(&[&ipv6_frag(17, 0, true), &l4])),
        ]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv6_key(17, FRAG_ANY);
        want.set_tp_src(5353);
        want.set_tp_dst(53);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 62));

        // Later fragments, last or not: no L4, nw_proto still the upper
        // protocol.
        for more in [true, false] {
            let frame = cat(&[
                &eth(ethertype::IPV6, None),
                &ipv6(44, &cat(&[&ipv6_frag(17, 1448, more), &l4])),
            ]);
            let (key, o) = extract(&frame, PORT);
            assert_eq!(key, ipv6_key(17, FRAG_ANY | FRAG_LATER), "more {more}");
            assert_eq!(o, offs(14, ABSENT));
        }

        // Atomic fragment (offset 0, M 0): not a fragment.
        let frame = cat(&[
            &eth(ethertype::IPV6, None),
            &ipv6(44, &cat(&[&ipv6_frag(17, 0, false), &l4])),
        ]);
        let (key, o) = extract(&frame, PORT);
        let mut want = ipv6_key(17, 0);
        want.set_tp_src(5353);
        want.set_tp_dst(53);
        assert_eq!(key, want);
        assert_eq!(o, offs(14, 62));

        // Fragment header cut short (by the frame or by payload_len).
        let frame = cat(&[
            &eth(ethertype::IPV6, None),
            &ipv6(44, &ipv6_frag(17, 0, true)),
        ]);
        let (key, o) = extract(&frame[..frame.len() - 1], PORT);
        assert_eq!(key, ipv6_key(44, 0));
        assert_eq!(o, offs(14, ABSENT));
        let mut frame = frame;
        frame[18..20].copy_from_slice(&4u16.to_be_bytes());
        let (key, _) = extract(&frame, PORT);
        assert_eq!(key, ipv6_key(44, 0));
    }

    #[test]
    fn ipv6_other_extension_headers_are_not_walked() {
        // Hop-by-hop options (0) then UDP: nw_proto 0, no L4.
        let frame = cat(&[
            &eth(ethertype::IPV6, None),
            &ipv6(0, &cat(&[&[17, 0, 1, 4, 0, 0, 0, 0], &udp(1, 2)])),
        ]);
        let (key, o) = extract(&frame, PORT);
        assert_eq!(key, ipv6_key(0, 0));
        assert_eq!(o, offs(14, ABSENT));
    }

    #[test]
    fn ipv6_bad_version_or_short_header_keeps_only_l2() {
        let frame = cat(&[&eth(ethertype::IPV6, None), &ipv6(17, &udp(1, 2))]);
        let mut bad = frame.clone();
        bad[14] = 0x4b;
        assert_eq!(extract(&bad, PORT).0, l2_only(ethertype::IPV6, 0));
        let (key, o) = extract(&frame[..14 + 39], PORT);
        assert_eq!(key, l2_only(ethertype::IPV6, 0));
        assert_eq!(o, HeaderOffsets::NONE);
    }

    fn arp(htype_ptype_lens: [u8; 6], op: u16) -> Vec<u8> {
        let mut buf = htype_ptype_lens.to_vec();
        buf.extend_from_slice(&op.to_be_bytes());
        buf.extend_from_slice(&[0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]); // sha
        buf.extend_from_slice(&[192, 168, 0, 1]); // spa
        buf.extend_from_slice(&[0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f]); // tha
        buf.extend_from_slice(&[192, 168, 0, 2]); // tpa
        buf
    }

    const ETH_IPV4_ARP: [u8; 6] = [0, 1, 8, 0, 6, 4];

    fn arp_key(op: u8) -> FlowKey {
        let mut want = l2_only(ethertype::ARP, 0);
        want.set_nw_proto(op);
        want.set_arp_sha([0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
        want.set_ipv4_src(0xc0a8_0001);
        want.set_arp_tha([0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f]);
        want.set_ipv4_dst(0xc0a8_0002);
        want
    }

    #[test]
    fn arp_request_and_reply() {
        for op in [1, 2] {
            let frame = cat(&[&eth(ethertype::ARP, None), &arp(ETH_IPV4_ARP, op)]);
            let (key, o) = extract(&frame, PORT);
            assert_eq!(key, arp_key(op as u8));
            assert_eq!(o, offs(14, ABSENT));
        }
        let frame = cat(&[
            &eth(ethertype::ARP, Some((ethertype::VLAN, 7))),
            &arp(ETH_IPV4_ARP, 1),
        ]);
        let (key, o) = extract(&frame, PORT);
        let mut want = arp_key(1);
        want.set_vlan_tci(7 | VLAN_CFI);
        assert_eq!(key, want);
        assert_eq!(o, offs(18, ABSENT));
    }

    #[test]
    fn arp_opcode_above_255_leaves_nw_proto_zero() {
        let frame = cat(&[&eth(ethertype::ARP, None), &arp(ETH_IPV4_ARP, 0x0101)]);
        assert_eq!(extract(&frame, PORT).0, arp_key(0));
    }

    #[test]
    fn arp_that_is_not_ethernet_ipv4_or_is_short_keeps_only_l2() {
        for prefix in [
            [0, 6, 8, 0, 6, 4],
            [0, 1, 0x86, 0xdd, 6, 4],
            [0, 1, 8, 0, 8, 4],
            [0, 1, 8, 0, 6, 16],
        ] {
            let frame = cat(&[&eth(ethertype::ARP, None), &arp(prefix, 1)]);
            let (key, o) = extract(&frame, PORT);
            assert_eq!(key, l2_only(ethertype::ARP, 0), "{prefix:?}");
            assert_eq!(o, HeaderOffsets::NONE);
        }
        let frame = cat(&[&eth(ethertype::ARP, None), &arp(ETH_IPV4_ARP, 1)]);
        let (key, o) = extract(&frame[..frame.len() - 1], PORT);
        assert_eq!(key, l2_only(ethertype::ARP, 0));
        assert_eq!(o, HeaderOffsets::NONE);
    }
}
