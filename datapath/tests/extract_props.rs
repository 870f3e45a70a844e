//! Property tests of `extract` against etherparse, an independent parser.
//!
//! Random packets are built with etherparse's `PacketBuilder` (Ethernet II,
//! an optional VLAN tag, IPv4 or IPv6 with an optional fragment header,
//! TCP / UDP / ICMP / ICMPv6 / another protocol, and ARP), then parsed by both
//! `extract` and etherparse's `SlicedPacket`; every key field and both
//! header offsets must agree. Every prefix of those packets must give the
//! fields of the headers that are whole in the prefix and nothing else, and
//! garbage (random or a mutated packet) must never panic.

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, IpDscp, IpEcn, IpFragOffset, IpHeaders,
    IpNumber, Ipv4Extensions, Ipv4Header, Ipv4Options, Ipv6ExtensionSlice, Ipv6Extensions,
    Ipv6FlowLabel, Ipv6FragmentHeader, Ipv6Header, LaxSlicedPacket, LinkExtSlice, LinkSlice,
    NetSlice, PacketBuilder, SingleVlanHeader, SlicedPacket, TcpHeader, TcpSlice, TransportSlice,
    VlanHeader, VlanId, VlanPcp,
};
use proptest::prelude::*;
use rvs_datapath::flow::{FRAG_ANY, FRAG_LATER, VLAN_CFI};
use rvs_datapath::{extract, FlowKey, HeaderOffsets};

const IN_PORT: u32 = 0x0001_0203;

/// IP protocols with no L4 fields that etherparse leaves alone (no IPv4
/// "extension" such as AH, no IPv6 extension header).
const OTHER_PROTOS: [u8; 5] = [47, 89, 103, 132, 253];

#[derive(Debug, Clone)]
struct Tag {
    qinq: bool,
    pcp: u8,
    dei: bool,
    vid: u16,
}

#[derive(Debug, Clone)]
enum L3 {
    V4 {
        dscp: u8,
        ecn: u8,
        ttl: u8,
        ident: u16,
        df: bool,
        mf: bool,
        offset: u16,
        options: Vec<u8>,
        src: [u8; 4],
        dst: [u8; 4],
    },
    V6 {
        tc: u8,
        label: u32,
        hop_limit: u8,
        src: [u8; 16],
        dst: [u8; 16],
        frag: Option<(u16, bool, u32)>,
    },
}

#[derive(Debug, Clone)]
enum L4 {
    Tcp {
        src: u16,
        dst: u16,
        seq: u32,
        ack: u32,
        flags: u16,
        window: u16,
        urgent: u16,
        options: Vec<u8>,
    },
    Udp {
        src: u16,
        dst: u16,
    },
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
    },
    Other(u8),
}

#[derive(Debug, Clone)]
struct IpSpec {
    dst: [u8; 6],
    src: [u8; 6],
    tag: Option<Tag>,
    l3: L3,
    l4: L4,
    payload: Vec<u8>,
}

#[derive(Debug, Clone)]
struct ArpSpec {
    dst: [u8; 6],
    src: [u8; 6],
    tag: Option<Tag>,
    op: u16,
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
}

fn tag() -> impl Strategy<Value = Option<Tag>> {
    prop::option::of((any::<bool>(), 0u8..8, any::<bool>(), 0u16..4096).prop_map(
        |(qinq, pcp, dei, vid)| Tag {
            qinq,
            pcp,
            dei,
            vid,
        },
    ))
}

/// A byte string of 0..=40 bytes whose length is a multiple of 4.
fn options() -> impl Strategy<Value = Vec<u8>> {
    (0usize..=10).prop_flat_map(|words| prop::collection::vec(any::<u8>(), words * 4))
}

/// A fragment offset (in 8-byte units): 0 half of the time.
fn frag_offset() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), 1u16..8192]
}

fn l3() -> impl Strategy<Value = L3> {
    let v4 = (
        (0u8..64, 0u8..4, any::<u8>(), any::<u16>()),
        (any::<bool>(), any::<bool>(), frag_offset(), options()),
        (any::<[u8; 4]>(), any::<[u8; 4]>()),
    )
        .prop_map(
            |((dscp, ecn, ttl, ident), (df, mf, offset, options), (src, dst))| L3::V4 {
                dscp,
                ecn,
                ttl,
                ident,
                df,
                mf,
                offset,
                options,
                src,
                dst,
            },
        );
    let v6 = (
        any::<u8>(),
        0u32..(1 << 20),
        any::<u8>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        prop::option::of((frag_offset(), any::<bool>(), any::<u32>())),
    )
        .prop_map(|(tc, label, hop_limit, src, dst, frag)| L3::V6 {
            tc,
            label,
            hop_limit,
            src,
            dst,
            frag,
        });
    prop_oneof![v4, v6]
}

fn l4() -> impl Strategy<Value = L4> {
    let tcp = (
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
        (0u16..0x200, any::<u16>(), any::<u16>(), options()),
    )
        .prop_map(
            |((src, dst, seq, ack), (flags, window, urgent, options))| L4::Tcp {
                src,
                dst,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
            },
        );
    let udp = (any::<u16>(), any::<u16>()).prop_map(|(src, dst)| L4::Udp { src, dst });
    let icmp = (any::<u8>(), any::<u8>(), any::<[u8; 4]>()).prop_map(|(ty, code, rest)| L4::Icmp {
        ty,
        code,
        rest,
    });
    let other = prop::sample::select(OTHER_PROTOS.to_vec()).prop_map(L4::Other);
    prop_oneof![3 => tcp, 3 => udp, 2 => icmp, 1 => other]
}

fn ip_spec() -> impl Strategy<Value = IpSpec> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        tag(),
        l3(),
        l4(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(dst, src, tag, l3, l4, payload)| IpSpec {
            dst,
            src,
            tag,
            l3,
            l4,
            payload,
        })
}

fn arp_spec() -> impl Strategy<Value = ArpSpec> {
    (
        (any::<[u8; 6]>(), any::<[u8; 6]>(), tag()),
        prop_oneof![Just(1u16), Just(2u16), any::<u16>()],
        (
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
        ),
    )
        .prop_map(|((dst, src, tag), op, (sha, spa, tha, tpa))| ArpSpec {
            dst,
            src,
            tag,
            op,
            sha,
            spa,
            tha,
            tpa,
        })
}

fn vlan_header(tag: &Tag) -> VlanHeader {
    VlanHeader::Single(SingleVlanHeader {
        pcp: VlanPcp::try_new(tag.pcp).unwrap(),
        drop_eligible_indicator: tag.dei,
        vlan_id: VlanId::try_new(tag.vid).unwrap(),
        ether_type: EtherType(0), // set by the builder
    })
}

/// The builder writes 0x8100 for a single tag; an 802.1ad outer tag is the
/// same bytes with another TPID.
fn patch_tpid(bytes: &mut [u8], tag: &Option<Tag>) {
    if let Some(Tag { qinq: true, .. }) = tag {
        bytes[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
    }
}

fn build_ip(spec: &IpSpec) -> Vec<u8> {
    let ip = match &spec.l3 {
        L3::V4 {
            dscp,
            ecn,
            ttl,
            ident,
            df,
            mf,
            offset,
            options,
            src,
            dst,
        } => {
            let mut h = Ipv4Header::new(0, *ttl, IpNumber(0), *src, *dst).unwrap();
            h.dscp = IpDscp::try_new(*dscp).unwrap();
            h.ecn = IpEcn::try_new(*ecn).unwrap();
            h.identification = *ident;
            h.dont_fragment = *df;
            h.more_fragments = *mf;
            h.fragment_offset = IpFragOffset::try_new(*offset).unwrap();
            h.options = Ipv4Options::try_from(&options[..]).unwrap();
            IpHeaders::Ipv4(h, Ipv4Extensions::default())
        }
        L3::V6 {
            tc,
            label,
            hop_limit,
            src,
            dst,
            frag,
        } => {
            let h = Ipv6Header {
                traffic_class: *tc,
                flow_label: Ipv6FlowLabel::try_new(*label).unwrap(),
                payload_length: 0,
                next_header: IpNumber(0),
                hop_limit: *hop_limit,
                source: *src,
                destination: *dst,
            };
            let exts = Ipv6Extensions {
                fragment: frag.map(|(off, more, id)| {
                    Ipv6FragmentHeader::new(
                        IpNumber(0),
                        IpFragOffset::try_new(off).unwrap(),
                        more,
                        id,
                    )
                }),
                ..Default::default()
            };
            IpHeaders::Ipv6(h, exts)
        }
    };
    let is_v6 = matches!(spec.l3, L3::V6 { .. });
    let eth = PacketBuilder::ethernet2(spec.src, spec.dst);
    let step = match &spec.tag {
        Some(t) => eth.vlan(vlan_header(t)).ip(ip),
        None => eth.ip(ip),
    };
    let mut out = Vec::new();
    let payload = &spec.payload[..];
    match &spec.l4 {
        L4::Tcp {
            src,
            dst,
            seq,
            ack,
            flags,
            window,
            urgent,
            options,
        } => {
            let mut h = TcpHeader::new(*src, *dst, *seq, *window);
            h.acknowledgment_number = *ack;
            h.urgent_pointer = *urgent;
            h.fin = flags & 0x001 != 0;
            h.syn = flags & 0x002 != 0;
            h.rst = flags & 0x004 != 0;
            h.psh = flags & 0x008 != 0;
            h.ack = flags & 0x010 != 0;
            h.urg = flags & 0x020 != 0;
            h.ece = flags & 0x040 != 0;
            h.cwr = flags & 0x080 != 0;
            h.ns = flags & 0x100 != 0;
            h.set_options_raw(options).unwrap();
            step.tcp_header(h).write(&mut out, payload).unwrap();
        }
        L4::Udp { src, dst } => step.udp(*src, *dst).write(&mut out, payload).unwrap(),
        L4::Icmp { ty, code, rest } if is_v6 => step
            .icmpv6_raw(*ty, *code, *rest)
            .write(&mut out, payload)
            .unwrap(),
        L4::Icmp { ty, code, rest } => step
            .icmpv4_raw(*ty, *code, *rest)
            .write(&mut out, payload)
            .unwrap(),
        L4::Other(proto) => step.write(&mut out, IpNumber(*proto), payload).unwrap(),
    }
    patch_tpid(&mut out, &spec.tag);
    out
}

fn build_arp(spec: &ArpSpec) -> Vec<u8> {
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation(spec.op),
        &spec.sha,
        &spec.spa,
        &spec.tha,
        &spec.tpa,
    )
    .unwrap();
    let eth = PacketBuilder::ethernet2(spec.src, spec.dst);
    let mut out = Vec::new();
    match &spec.tag {
        Some(t) => eth.vlan(vlan_header(t)).arp(arp).write(&mut out).unwrap(),
        None => eth.arp(arp).write(&mut out).unwrap(),
    }
    patch_tpid(&mut out, &spec.tag);
    out
}

/// Where the headers of a well-formed packet end, to say which are whole in
/// a prefix.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    /// A VLAN tag follows the Ethernet header.
    tagged: bool,
    /// End of the ARP or IP header (fixed part and IPv4 options).
    l3_end: Option<usize>,
    /// End of an IPv6 fragment header.
    frag_end: Option<usize>,
    /// End of the part of the L4 header `extract` needs.
    l4_end: Option<usize>,
}

/// The flow key and offsets etherparse's reading of `bytes` implies, and
/// the packet's layout.
fn reference(bytes: &[u8]) -> (FlowKey, HeaderOffsets, Layout) {
    let p = SlicedPacket::from_ethernet(bytes).expect("etherparse parses what it built");
    let mut k = FlowKey::default();
    let mut o = HeaderOffsets::NONE;
    let mut lay = Layout::default();
    k.set_in_port(IN_PORT);

    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        panic!("no Ethernet header");
    };
    k.set_eth_dst(eth.destination());
    k.set_eth_src(eth.source());
    let mut l3 = 14;
    let mut dl_type = eth.ether_type().0;
    match p.link_exts.as_slice() {
        [] => {}
        [LinkExtSlice::Vlan(v)] => {
            let tci = u16::from(v.priority_code_point().value()) << 13
                | u16::from(v.drop_eligible_indicator()) << 12
                | v.vlan_identifier().value();
            k.set_vlan_tci(tci | VLAN_CFI);
            dl_type = v.ether_type().0;
            l3 = 18;
            lay.tagged = true;
        }
        other => panic!("unexpected link extensions {other:?}"),
    }
    k.set_dl_type(dl_type);

    let mut l4_proto = None;
    match &p.net {
        Some(NetSlice::Arp(a)) => {
            assert_eq!(a.hw_addr_size(), 6);
            assert_eq!(a.proto_addr_size(), 4);
            let op = a.operation().0;
            k.set_nw_proto(if op <= 0xff { op as u8 } else { 0 });
            k.set_arp_sha(a.sender_hw_addr().try_into().unwrap());
            k.set_ipv4_src(u32::from_be_bytes(
                a.sender_protocol_addr().try_into().unwrap(),
            ));
            k.set_arp_tha(a.target_hw_addr().try_into().unwrap());
            k.set_ipv4_dst(u32::from_be_bytes(
                a.target_protocol_addr().try_into().unwrap(),
            ));
            o.l3 = l3 as u16;
            lay.l3_end = Some(l3 + 28);
        }
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            k.set_nw_proto(h.protocol().0);
            k.set_nw_tos(h.dcp().value() << 2 | h.ecn().value());
            k.set_nw_ttl(h.ttl());
            let offset = h.fragments_offset().value();
            let mut frag = 0;
            if h.more_fragments() || offset != 0 {
                frag |= FRAG_ANY;
            }
            if offset != 0 {
                frag |= FRAG_LATER;
            }
            k.set_nw_frag(frag);
            k.set_ipv4_src(u32::from_be_bytes(h.source()));
            k.set_ipv4_dst(u32::from_be_bytes(h.destination()));
            o.l3 = l3 as u16;
            let l4 = l3 + h.slice().len();
            lay.l3_end = Some(l4);
            if offset == 0 {
                l4_proto = Some((h.protocol().0, l4, ip.payload().payload, false));
            }
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header();
            k.set_nw_tos(h.traffic_class());
            k.set_nw_ttl(h.hop_limit());
            k.set_ipv6_src(h.source());
            k.set_ipv6_dst(h.destination());
            k.set_ipv6_label(h.flow_label().value());
            k.set_nw_proto(h.next_header().0);
            o.l3 = l3 as u16;
            let mut l4 = l3 + 40;
            lay.l3_end = Some(l4);
            let mut later = false;
            for ext in ip.extensions().clone() {
                let Ipv6ExtensionSlice::Fragment(f) = ext else {
                    panic!("only fragment headers are built");
                };
                let offset = f.fragment_offset().value();
                let mut frag = 0;
                if f.more_fragments() || offset != 0 {
                    frag |= FRAG_ANY;
                }
                if offset != 0 {
                    frag |= FRAG_LATER;
                    later = true;
                }
                k.set_nw_frag(frag);
                k.set_nw_proto(f.next_header().0);
                l4 += 8;
                lay.frag_end = Some(l4);
            }
            assert_eq!(ip.payload().ip_number.0, k.nw_proto());
            if !later {
                l4_proto = Some((k.nw_proto(), l4, ip.payload().payload, true));
            }
        }
        None => panic!("no network layer"),
    }

    // L4: etherparse's own transport slice when it made one, else (first
    // fragments, which etherparse does not look into) the IP payload sliced
    // by etherparse's transport parsers.
    if let Some((proto, l4, payload, is_v6)) = l4_proto {
        let fields = match (&p.transport, proto) {
            (Some(TransportSlice::Tcp(t)), _) => Some(tcp_fields(t)),
            (Some(TransportSlice::Udp(u)), _) => {
                Some((u.source_port(), u.destination_port(), 0, 8))
            }
            (Some(TransportSlice::Icmpv4(i)), _) if !is_v6 => {
                Some((i.type_u8().into(), i.code_u8().into(), 0, 8))
            }
            (Some(TransportSlice::Icmpv6(i)), _) if is_v6 => {
                Some((i.type_u8().into(), i.code_u8().into(), 0, 8))
            }
            (Some(t), _) => panic!("unexpected transport {t:?}"),
            (None, 6) => TcpSlice::from_slice(payload).ok().map(|t| tcp_fields(&t)),
            (None, 17) => etherparse::UdpSlice::from_slice(payload)
                .ok()
                .map(|u| (u.source_port(), u.destination_port(), 0, 8)),
            (None, 1) if !is_v6 => etherparse::Icmpv4Slice::from_slice(payload)
                .ok()
                .map(|i| (i.type_u8().into(), i.code_u8().into(), 0, 8)),
            (None, 58) if is_v6 => etherparse::Icmpv6Slice::from_slice(payload)
                .ok()
                .map(|i| (i.type_u8().into(), i.code_u8().into(), 0, 8)),
            (None, _) => None,
        };
        if let Some((src, dst, flags, need)) = fields {
            k.set_tp_src(src);
            k.set_tp_dst(dst);
            k.set_tcp_flags(flags);
            o.l4 = l4 as u16;
            lay.l4_end = Some(l4 + need);
        }
    }
    (k, o, lay)
}

fn tcp_fields(t: &TcpSlice<'_>) -> (u16, u16, u16, usize) {
    let flags = [
        t.fin(),
        t.syn(),
        t.rst(),
        t.psh(),
        t.ack(),
        t.urg(),
        t.ece(),
        t.cwr(),
        t.ns(),
    ]
    .iter()
    .enumerate()
    .fold(0u16, |acc, (i, &set)| acc | (u16::from(set) << i));
    (t.source_port(), t.destination_port(), flags, 20)
}

/// What `extract` must give for the first `n` bytes of a packet whose full
/// parse is `(full, full_offsets)` with layout `lay`; `outer_type` is the
/// ethertype right after the MAC addresses.
fn expected_prefix(
    full: &FlowKey,
    full_offsets: HeaderOffsets,
    lay: &Layout,
    outer_type: u16,
    n: usize,
) -> (FlowKey, HeaderOffsets) {
    let mut k = FlowKey::default();
    k.set_in_port(IN_PORT);
    if n < 14 {
        return (k, HeaderOffsets::NONE);
    }
    k.set_eth_dst(full.eth_dst());
    k.set_eth_src(full.eth_src());
    if lay.tagged && n < 18 {
        // The tag is cut short: dl_type is the TPID.
        k.set_dl_type(outer_type);
        return (k, HeaderOffsets::NONE);
    }
    k.set_dl_type(full.dl_type());
    k.set_vlan_tci(full.vlan_tci());
    match lay.l3_end {
        Some(end) if n >= end => {}
        _ => return (k, HeaderOffsets::NONE),
    }
    let mut k = *full;
    let mut o = full_offsets;
    if let Some(end) = lay.frag_end {
        if n < end {
            k.set_nw_proto(44);
            k.set_nw_frag(0);
            k.set_tp_src(0);
            k.set_tp_dst(0);
            k.set_tcp_flags(0);
            o.l4 = HeaderOffsets::ABSENT;
            return (k, o);
        }
    }
    if let Some(end) = lay.l4_end {
        if n < end {
            k.set_tp_src(0);
            k.set_tp_dst(0);
            k.set_tcp_flags(0);
            o.l4 = HeaderOffsets::ABSENT;
        }
    }
    (k, o)
}

/// Invariants that hold for any input.
fn check_sane(bytes: &[u8], key: &FlowKey, o: HeaderOffsets) {
    assert_eq!(key.in_port(), IN_PORT);
    if bytes.len() < 14 {
        let mut only_port = FlowKey::default();
        only_port.set_in_port(IN_PORT);
        assert_eq!(*key, only_port);
    } else {
        assert_eq!(key.eth_dst(), <[u8; 6]>::try_from(&bytes[0..6]).unwrap());
        assert_eq!(key.eth_src(), <[u8; 6]>::try_from(&bytes[6..12]).unwrap());
    }
    if let Some(l3) = o.l3_offset() {
        assert!(l3 == 14 || l3 == 18, "l3 at {l3}");
        assert!(l3 < bytes.len());
    }
    if let Some(l4) = o.l4_offset() {
        let l3 = o.l3_offset().expect("an L4 header needs an L3 header");
        assert!(l4 > l3 && l4 + 8 <= bytes.len(), "l3 {l3} l4 {l4}");
    } else {
        assert_eq!((key.tp_src(), key.tp_dst(), key.tcp_flags()), (0, 0, 0));
    }
    if key.dl_type() < 0x0600 {
        assert!(key.dl_type() == 0x05ff || (bytes.len() < 14 && key.dl_type() == 0));
    }
}

fn check_full_and_prefixes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (want, want_o, lay) = reference(bytes);
    let (key, o) = extract(bytes, IN_PORT);
    prop_assert_eq!(key, want, "full packet {:02x?}", bytes);
    prop_assert_eq!(o, want_o);
    check_sane(bytes, &key, o);

    for n in 0..bytes.len() {
        let prefix = &bytes[..n];
        let (key, o) = extract(prefix, IN_PORT);
        let outer_type = u16::from_be_bytes([bytes[12], bytes[13]]);
        let (want, want_o) = expected_prefix(&want, want_o, &lay, outer_type, n);
        prop_assert_eq!(key, want, "prefix of {} bytes of {:02x?}", n, bytes);
        prop_assert_eq!(o, want_o, "prefix of {} bytes", n);
        check_sane(prefix, &key, o);
        if n >= 14 {
            // L2 agrees with etherparse's lax parse of the prefix too.
            let lax = LaxSlicedPacket::from_ethernet(prefix).unwrap();
            let Some(LinkSlice::Ethernet2(eth)) = &lax.link else {
                panic!("no Ethernet header in lax parse");
            };
            prop_assert_eq!(key.eth_dst(), eth.destination());
            prop_assert_eq!(key.eth_src(), eth.source());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn ip_packets_agree_with_etherparse(spec in ip_spec()) {
        let bytes = build_ip(&spec);
        check_full_and_prefixes(&bytes)?;
    }

    #[test]
    fn arp_packets_agree_with_etherparse(spec in arp_spec()) {
        let bytes = build_arp(&spec);
        check_full_and_prefixes(&bytes)?;
    }

    #[test]
    fn padding_after_the_ip_packet_changes_nothing(
        spec in ip_spec(),
        pad in prop::collection::vec(any::<u8>(), 1..40),
    ) {
        let bytes = build_ip(&spec);
        let (want, want_o) = extract(&bytes, IN_PORT);
        let mut padded = bytes.clone();
        padded.extend_from_slice(&pad);
        prop_assert_eq!(extract(&padded, IN_PORT), (want, want_o));
    }

    #[test]
    fn mutated_packets_never_panic(
        spec in ip_spec(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = build_ip(&spec);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let (key, o) = extract(&bytes, IN_PORT);
        check_sane(&bytes, &key, o);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let (key, o) = extract(&bytes, IN_PORT);
        check_sane(&bytes, &key, o);
    }

    #[test]
    fn garbage_behind_a_known_ethertype_never_panics(
        ethertype in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x05dc]),
        inner in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8100]),
        first in prop::sample::select(vec![0x45u8, 0x46, 0x4f, 0x44, 0x60, 0x6f, 0x00]),
        mut bytes in prop::collection::vec(any::<u8>(), 14..120),
    ) {
        bytes[12..14].copy_from_slice(&ethertype.to_be_bytes());
        let l3 = if ethertype == 0x8100 || ethertype == 0x88a8 {
            if bytes.len() >= 18 {
                bytes[16..18].copy_from_slice(&inner.to_be_bytes());
            }
            18
        } else {
            14
        };
        if bytes.len() > l3 {
            bytes[l3] = first;
        }
        let (key, o) = extract(&bytes, IN_PORT);
        check_sane(&bytes, &key, o);
        // Whatever etherparse makes of it, the Ethernet addresses agree.
        if let Ok(lax) = LaxSlicedPacket::from_ethernet(&bytes) {
            if let Some(LinkSlice::Ethernet2(eth)) = &lax.link {
                prop_assert_eq!(key.eth_dst(), eth.destination());
                prop_assert_eq!(key.eth_src(), eth.source());
            }
        }
    }
}
