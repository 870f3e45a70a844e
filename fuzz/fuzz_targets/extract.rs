//! Flow key extraction and the wire views on arbitrary bytes: nothing may
//! panic, the offsets `extract` returns must point inside the frame, and
//! the views must read back what `extract` put in the key.

#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use rvs_datapath::wire::{
    ethertype, ArpPacket, EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6FragmentHeader, Ipv6Packet,
    TcpPacket, UdpPacket, VlanTag,
};
use rvs_datapath::{extract, FlowKey};

fuzz_target!(|data: &[u8]| {
    let (key, offsets) = extract(data, 0xfeed);
    assert_eq!(key.in_port(), 0xfeed);
    if data.len() < EthernetFrame::<&[u8]>::HEADER_LEN {
        let mut only_port = FlowKey::default();
        only_port.set_in_port(0xfeed);
        assert_eq!(key, only_port);
    }
    if let Some(l3) = offsets.l3_offset() {
        assert!(l3 < data.len());
        check_l3(&key, &data[l3..]);
    }
    if let Some(l4) = offsets.l4_offset() {
        let l3 = offsets.l3_offset().expect("L4 without L3");
        assert!(l3 < l4 && l4 + 8 <= data.len());
        assert_eq!(
            u16::from_be_bytes([data[l4], data[l4 + 1]]) as u64,
            if key.nw_proto() == 6 || key.nw_proto() == 17 {
                key.tp_src() as u64
            } else {
                (key.tp_src() as u64) << 8 | key.tp_dst() as u64
            }
        );
    }

    // Every view at every place a header could start.
    views(data);
    for at in [14, 18, 34, 38, 54, 58, 62] {
        if let Some(rest) = data.get(at..) {
            views(rest);
        }
    }
});

/// The L3 fields of the key agree with the views.
fn check_l3(key: &FlowKey, l3: &[u8]) {
    match key.dl_type() {
        ethertype::IPV4 => {
            let ip = Ipv4Packet::new_unchecked(l3);
            assert_eq!(ip.src_addr(), key.ipv4_src());
            assert_eq!(ip.dst_addr(), key.ipv4_dst());
            assert_eq!(ip.protocol(), key.nw_proto());
            assert_eq!(ip.ttl(), key.nw_ttl());
            assert_eq!(ip.tos(), key.nw_tos());
            assert_eq!(ip.is_fragment(), key.nw_frag() != 0);
        }
        ethertype::IPV6 => {
            let ip = Ipv6Packet::new_unchecked(l3);
            assert_eq!(ip.src_addr(), key.ipv6_src());
            assert_eq!(ip.dst_addr(), key.ipv6_dst());
            assert_eq!(ip.traffic_class(), key.nw_tos());
            assert_eq!(ip.hop_limit(), key.nw_ttl());
            assert_eq!(ip.flow_label(), key.ipv6_label());
        }
        ethertype::ARP => {
            let arp = ArpPacket::new_checked(l3).expect("extract parsed it");
            assert_eq!(arp.source_hardware_addr(), key.arp_sha());
            assert_eq!(arp.target_hardware_addr(), key.arp_tha());
            assert_eq!(arp.source_protocol_addr(), key.ipv4_src().to_be_bytes());
            assert_eq!(arp.target_protocol_addr(), key.ipv4_dst().to_be_bytes());
        }
        other => panic!("L3 offset with dl_type {other:#x}"),
    }
}

/// `new_checked` on every view, then every getter; setters on a copy.
fn views(b: &[u8]) {
    if let Ok(e) = EthernetFrame::new_checked(b) {
        black_box((e.dst_addr(), e.src_addr(), e.ethertype(), e.has_vlan_tag()));
        black_box(e.payload());
    }
    if let Ok(t) = VlanTag::new_checked(b) {
        black_box((t.tci(), t.pcp(), t.dei(), t.vid(), t.ethertype()));
        black_box(t.payload());
    }
    if let Ok(a) = ArpPacket::new_checked(b) {
        black_box((a.hardware_type(), a.protocol_type(), a.operation()));
        black_box((a.source_hardware_addr(), a.source_protocol_addr()));
        black_box((a.target_hardware_addr(), a.target_protocol_addr()));
    }
    if let Ok(ip) = Ipv4Packet::new_checked(b) {
        black_box((ip.version(), ip.header_len(), ip.tos(), ip.dscp(), ip.ecn()));
        black_box((ip.total_len(), ip.ident(), ip.dont_frag(), ip.more_frags()));
        black_box((ip.frag_offset(), ip.ttl(), ip.protocol(), ip.checksum()));
        black_box((ip.src_addr(), ip.dst_addr(), ip.verify_checksum()));
        black_box((ip.options(), ip.payload()));
        let mut copy = b.to_vec();
        let mut ip = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
        ip.set_ttl(ip.ttl().wrapping_sub(1));
        ip.fill_checksum();
        assert!(ip.verify_checksum());
    }
    if let Ok(ip) = Ipv6Packet::new_checked(b) {
        black_box((ip.version(), ip.traffic_class(), ip.flow_label()));
        black_box((ip.payload_len(), ip.next_header(), ip.hop_limit()));
        black_box((ip.src_addr(), ip.dst_addr(), ip.payload()));
    }
    if let Ok(f) = Ipv6FragmentHeader::new_checked(b) {
        black_box((f.next_header(), f.frag_offset(), f.more_frags(), f.ident()));
        black_box(f.payload());
    }
    if let Ok(t) = TcpPacket::new_checked(b) {
        black_box((t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()));
        black_box((t.header_len(), t.flags(), t.window_len(), t.checksum()));
        black_box((t.urgent_at(), t.options(), t.payload()));
    }
    if let Ok(u) = UdpPacket::new_checked(b) {
        black_box((u.src_port(), u.dst_port(), u.length(), u.checksum()));
        black_box(u.payload());
    }
    if let Ok(i) = IcmpPacket::new_checked(b) {
        black_box((i.msg_type(), i.msg_code(), i.checksum(), i.rest_of_header()));
        black_box((i.echo_ident(), i.echo_seq_no(), i.payload()));
        let mut copy = b.to_vec();
        let mut i = IcmpPacket::new_checked(&mut copy[..]).unwrap();
        i.fill_icmpv4_checksum();
        assert!(i.verify_icmpv4_checksum());
    }
}
