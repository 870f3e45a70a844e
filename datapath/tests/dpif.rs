//! The datapath as its users see it: process batches, install flows from
//! upcalls, run actions, count drops; and the dpif-style flow API. Frames are
//! built and checked with etherparse, an independent implementation, so a
//! rewrite's checksums are verified by code that is not ours.

use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};
use rvs_datapath::{
    Action, Batch, Datapath, DatapathConfig, DropReason, EmcConfig, Field, FlowKey, FlowMask,
    MegaflowError, Packet, PacketPool, PortNo, ProcessContext, PutMode, Transmit, UpcallHandler,
    UpcallReply, BATCH_SIZE,
};
use std::collections::HashMap;

const POOL: usize = 16 * BATCH_SIZE;

/// Remembers every frame sent, per port.
#[derive(Default)]
struct Capture {
    sent: HashMap<PortNo, Vec<Vec<u8>>>,
    refuse: bool,
}

impl Transmit for Capture {
    fn transmit(&mut self, port: PortNo, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        if self.refuse {
            return;
        }
        for p in pkts.drain(..) {
            self.sent.entry(port).or_default().push(p.data().to_vec());
            pool.put(p);
        }
    }
}

/// A slow path that answers every upcall with the same actions and mask
/// and counts the calls.
struct Fixed {
    actions: Vec<Action>,
    mask: FlowMask,
    calls: usize,
    decline: bool,
}

impl Fixed {
    fn new(actions: &[Action], fields: &[Field]) -> Fixed {
        Fixed {
            actions: actions.to_vec(),
            mask: FlowMask::of_fields(fields),
            calls: 0,
            decline: false,
        }
    }
}

impl UpcallHandler for Fixed {
    fn upcall(&mut self, _key: &FlowKey, _p: &Packet) -> Option<UpcallReply> {
        self.calls += 1;
        (!self.decline).then(|| UpcallReply {
            actions: self.actions.clone().into_boxed_slice(),
            mask: self.mask,
        })
    }
}

struct Rig {
    dp: Datapath,
    pool: PacketPool,
    cap: Capture,
}

impl Rig {
    fn new(config: DatapathConfig, ports: &[PortNo]) -> Rig {
        let mut dp = Datapath::new(config);
        for p in ports {
            dp.add_port(*p).unwrap();
        }
        Rig {
            dp,
            pool: PacketPool::new(POOL, 2048),
            cap: Capture::default(),
        }
    }

    fn send(&mut self, slow: &mut Fixed, in_port: PortNo, frames: &[Vec<u8>]) {
        for chunk in frames.chunks(BATCH_SIZE) {
            let mut batch = Batch::new();
            for f in chunk {
                let mut p = self.pool.get().expect("pool");
                assert!(p.set_frame(f));
                p.in_port = in_port;
                batch.push(p).unwrap();
            }
            let mut ctx = ProcessContext {
                now_ms: 1000,
                pool: &mut self.pool,
                upcall: slow,
                tx: &mut self.cap,
            };
            self.dp.process(&mut batch, &mut ctx);
            assert!(batch.is_empty());
        }
    }

    fn sent(&self, port: PortNo) -> &[Vec<u8>] {
        self.cap
            .sent
            .get(&port)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }
}

fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let payload = b"rvs test payload";
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 12345, 4096)
        .syn();
    let payload = b"hello";
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

/// Parses a frame and checks that its IPv4 and L4 checksums are right.
fn assert_checksums_valid(frame: &[u8]) -> PacketHeaders<'_> {
    let h = PacketHeaders::from_ethernet_slice(frame).expect("frame parses");
    let Some(NetHeaders::Ipv4(ip, _)) = &h.net else {
        panic!("not IPv4: {h:?}")
    };
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 header checksum"
    );
    let payload = h.payload.slice();
    match &h.transport {
        Some(TransportHeader::Udp(u)) => {
            assert_eq!(
                u.checksum,
                u.calc_checksum_ipv4(ip, payload).unwrap(),
                "UDP checksum"
            )
        }
        Some(TransportHeader::Tcp(t)) => {
            assert_eq!(
                t.checksum,
                t.calc_checksum_ipv4(ip, payload).unwrap(),
                "TCP checksum"
            )
        }
        other => panic!("unexpected transport {other:?}"),
    }
    h
}

fn ipv4_of(h: &PacketHeaders<'_>) -> ([u8; 4], [u8; 4], u8) {
    match &h.net {
        Some(NetHeaders::Ipv4(ip, _)) => (ip.source, ip.destination, ip.time_to_live),
        _ => panic!("not IPv4"),
    }
}

fn ports_of(h: &PacketHeaders<'_>) -> (u16, u16) {
    match &h.transport {
        Some(TransportHeader::Udp(u)) => (u.source_port, u.destination_port),
        Some(TransportHeader::Tcp(t)) => (t.source_port, t.destination_port),
        _ => panic!("no ports"),
    }
}

#[test]
fn a_miss_installs_a_megaflow_that_later_packets_hit() {
    let mut rig = Rig::new(DatapathConfig::default(), &[1, 2]);
    let mut slow = Fixed::new(&[Action::Output(2)], &[Field::InPort, Field::EthDst]);
    // 32 packets of 32 different UDP flows, all covered by one megaflow.
    let frames: Vec<Vec<u8>> = (0..32)
        .map(|i| udp([10, 0, 0, 1], [10, 0, 0, 2], 1000 + i, 53))
        .collect();
    rig.send(&mut slow, 1, &frames);
    assert_eq!(
        slow.calls, 1,
        "one upcall; the rest matched the new megaflow"
    );
    assert_eq!(rig.sent(2).len(), 32);
    assert_eq!(rig.sent(2), &frames[..], "forwarded unchanged, in order");
    rig.send(&mut slow, 1, &frames);
    assert_eq!(slow.calls, 1);
    let s = *rig.dp.stats();
    assert_eq!(s.rx_packets, 64);
    assert_eq!(s.upcalls, 1);
    assert_eq!(s.flows_installed, 1);
    assert_eq!(s.emc_hits + s.megaflow_hits, 63);
    assert_eq!(s.tx_packets, 64);
    assert_eq!(s.total_drops(), 0);
    let flows: Vec<_> = rig.dp.flow_dump().collect();
    assert_eq!(flows.len(), 1);
    let (_, f) = &flows[0];
    assert_eq!(f.stats.packets, 64);
    assert_eq!(f.stats.bytes, 64 * frames[0].len() as u64);
    assert_eq!(f.stats.used, 1000);
    assert_eq!(f.mask, FlowMask::of_fields(&[Field::InPort, Field::EthDst]));
    assert_eq!(f.key.eth_dst(), [2, 0, 0, 0, 0, 2]);
    assert_eq!(f.key.tp_src(), 0, "wildcarded fields are not in the key");
    // A packet from another port misses the megaflow.
    rig.send(&mut slow, 2, &frames[..1]);
    assert_eq!(slow.calls, 2);
    assert_eq!(rig.pool.available(), POOL, "no buffer leaked");
}

#[test]
fn a_declined_upcall_drops_and_installs_nothing() {
    let mut rig = Rig::new(DatapathConfig::default(), &[1]);
    let mut slow = Fixed::new(&[Action::Output(1)], &[Field::InPort]);
    slow.decline = true;
    rig.send(&mut slow, 0, &[udp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2)]);
    assert_eq!(rig.dp.stats().dropped(DropReason::UpcallDeclined), 1);
    assert!(rig.dp.megaflows().is_empty());
    assert!(rig.sent(1).is_empty());
    assert_eq!(rig.pool.available(), POOL);
}

#[test]
fn at_the_flow_limit_packets_are_still_forwarded_uncached() {
    let mut rig = Rig::new(
        DatapathConfig {
            flow_limit: 1,
            ..DatapathConfig::default()
        },
        &[1],
    );
    let mut slow = Fixed::new(&[Action::Output(1)], &[Field::Ipv4Src]);
    let frames = [
        udp([10, 0, 0, 1], [10, 0, 0, 9], 1, 1),
        udp([10, 0, 0, 2], [10, 0, 0, 9], 1, 1),
        udp([10, 0, 0, 2], [10, 0, 0, 9], 1, 1),
    ];
    rig.send(&mut slow, 0, &frames);
    assert_eq!(rig.dp.megaflows().len(), 1);
    assert_eq!(rig.dp.stats().install_failures, 2);
    // Uncached packets are sent as their upcall returns, so they may pass
    // packets of other flows; within a flow the order holds.
    let mut sent = rig.sent(1).to_vec();
    assert_eq!(sent.len(), 3, "all three forwarded");
    sent.sort();
    let mut want = frames.to_vec();
    want.sort();
    assert_eq!(sent, want);
    assert_eq!(rig.pool.available(), POOL);
}

#[test]
fn ipv4_and_port_rewrites_keep_checksums_valid() {
    for (proto, frame) in [
        ("udp", udp([10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222)),
        ("tcp", tcp([10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222)),
    ] {
        assert_checksums_valid(&frame);
        let mut rig = Rig::new(DatapathConfig::default(), &[1]);
        let mut slow = Fixed::new(
            &[
                Action::SetIpv4Src(0xc0a8_0101),
                Action::SetIpv4Dst(0xac10_fe01),
                Action::SetIpv4Ttl(7),
                Action::SetTpSrc(40000),
                Action::SetTpDst(80),
                Action::SetEthSrc([0xaa, 0, 0, 0, 0, 1]),
                Action::SetEthDst([0xbb, 0, 0, 0, 0, 2]),
                Action::Output(1),
            ],
            &[Field::InPort],
        );
        rig.send(&mut slow, 0, std::slice::from_ref(&frame));
        let out = &rig.sent(1)[0];
        let h = assert_checksums_valid(out);
        assert_eq!(
            ipv4_of(&h),
            ([192, 168, 1, 1], [172, 16, 254, 1], 7),
            "{proto}"
        );
        assert_eq!(ports_of(&h), (40000, 80), "{proto}");
        assert_eq!(&out[0..6], &[0xbb, 0, 0, 0, 0, 2]);
        assert_eq!(&out[6..12], &[0xaa, 0, 0, 0, 0, 1]);
        assert_eq!(out.len(), frame.len());
    }
}

#[test]
fn a_udp_datagram_without_checksum_keeps_none() {
    let mut frame = udp([10, 0, 0, 1], [10, 0, 0, 2], 1, 2);
    frame[40..42].copy_from_slice(&[0, 0]); // UDP checksum 0: none
    let mut rig = Rig::new(DatapathConfig::default(), &[1]);
    let mut slow = Fixed::new(
        &[Action::SetIpv4Dst(0x0a00_0003), Action::Output(1)],
        &[Field::InPort],
    );
    rig.send(&mut slow, 0, &[frame]);
    let out = &rig.sent(1)[0];
    assert_eq!(&out[40..42], &[0, 0]);
    let h = PacketHeaders::from_ethernet_slice(out).unwrap();
    assert_eq!(ipv4_of(&h).1, [10, 0, 0, 3]);
}

#[test]
fn push_then_pop_vlan_round_trips_and_flood_copies() {
    let frame = udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6);
    let mut rig = Rig::new(DatapathConfig::default(), &[1, 2, 3]);
    let mut slow = Fixed::new(
        &[
            Action::Output(1),
            Action::PushVlan {
                tpid: 0x8100,
                tci: 0x1000 | (5 << 13) | 42,
            },
            Action::Output(2),
            Action::PopVlan,
            Action::Output(3),
        ],
        &[Field::InPort],
    );
    rig.send(&mut slow, 0, &[frame.clone(), frame.clone()]);
    assert_eq!(rig.sent(1), &[frame.clone(), frame.clone()]);
    let tagged = &rig.sent(2)[0];
    assert_eq!(tagged.len(), frame.len() + 4);
    let h = PacketHeaders::from_ethernet_slice(tagged).unwrap();
    let vlan = h.vlan().expect("tagged");
    let etherparse::VlanHeader::Single(v) = vlan else {
        panic!("one tag")
    };
    assert_eq!(v.vlan_id.value(), 42);
    assert_eq!(v.pcp.value(), 5);
    assert!(
        !v.drop_eligible_indicator,
        "the CFI bit is not put on the wire"
    );
    assert_checksums_valid(tagged);
    assert_eq!(rig.sent(3), &[frame.clone(), frame]);
    assert_eq!(rig.dp.stats().tx_packets, 6);
    assert_eq!(rig.pool.available(), POOL);
}

#[test]
fn drops_are_counted_by_reason() {
    let frame = udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6);
    // Output to a port the datapath does not have; an explicit drop; an
    // empty action list.
    for (actions, reason) in [
        (vec![Action::Output(9)], DropReason::NoSuchPort),
        (vec![Action::Drop, Action::Output(1)], DropReason::Action),
        (vec![], DropReason::Action),
    ] {
        let mut rig = Rig::new(DatapathConfig::default(), &[1]);
        let mut slow = Fixed::new(&actions, &[Field::InPort]);
        rig.send(&mut slow, 0, &[frame.clone(), frame.clone()]);
        assert_eq!(rig.dp.stats().dropped(reason), 2, "{actions:?}");
        assert_eq!(rig.dp.stats().total_drops(), 2, "{actions:?}");
        assert!(rig.sent(1).is_empty());
        assert_eq!(rig.pool.available(), POOL);
    }
    // A port that refuses to send.
    let mut rig = Rig::new(DatapathConfig::default(), &[1]);
    rig.cap.refuse = true;
    let mut slow = Fixed::new(&[Action::Output(1)], &[Field::InPort]);
    rig.send(&mut slow, 0, std::slice::from_ref(&frame));
    assert_eq!(rig.dp.stats().dropped(DropReason::TxFailed), 1);
    assert_eq!(rig.dp.stats().tx_packets, 0);
    assert_eq!(rig.pool.available(), POOL);
    // A transmit queue smaller than the burst.
    let mut rig = Rig::new(
        DatapathConfig {
            tx_queue: 4,
            ..DatapathConfig::default()
        },
        &[1],
    );
    rig.send(&mut slow, 0, &vec![frame; 10]);
    assert_eq!(rig.sent(1).len(), 4);
    assert_eq!(rig.dp.stats().dropped(DropReason::TxQueueFull), 6);
    assert_eq!(rig.pool.available(), POOL);
}

#[test]
fn userspace_action_queues_for_the_slow_path_up_to_its_limit() {
    let frame = udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6);
    let mut rig = Rig::new(
        DatapathConfig {
            userspace_queue: 3,
            ..DatapathConfig::default()
        },
        &[1],
    );
    let mut slow = Fixed::new(
        &[Action::Userspace(77), Action::Output(1)],
        &[Field::InPort],
    );
    rig.send(&mut slow, 0, &vec![frame.clone(); 5]);
    assert_eq!(
        rig.sent(1).len(),
        5,
        "the output after the userspace action still runs"
    );
    assert_eq!(rig.dp.stats().userspace_packets, 3);
    assert_eq!(rig.dp.stats().dropped(DropReason::UserspaceQueueFull), 2);
    let queued: Vec<_> = rig.dp.drain_userspace().collect();
    assert_eq!(queued.len(), 3);
    assert!(queued
        .iter()
        .all(|u| u.cookie == 77 && u.packet.data() == frame.as_slice()));
    for u in queued {
        rig.pool.put(u.packet);
    }
    assert_eq!(rig.pool.available(), POOL);
}

#[test]
fn flow_api_put_get_modify_delete_dump() {
    let mut dp = Datapath::new(DatapathConfig::default());
    dp.add_port(1).unwrap();
    dp.add_port(2).unwrap();
    let mut key = FlowKey::default();
    key.set_in_port(3);
    key.set_eth_dst([2, 0, 0, 0, 0, 2]);
    key.set_tp_src(99); // outside the mask: ignored
    let mask = FlowMask::of_fields(&[Field::InPort, Field::EthDst]);
    let r = dp
        .flow_put(&key, &mask, &[Action::Output(1)], PutMode::Create)
        .unwrap();
    assert_eq!(
        dp.flow_put(&key, &mask, &[Action::Output(2)], PutMode::Create),
        Err(MegaflowError::Exists)
    );
    let other = FlowMask::of_fields(&[Field::InPort]);
    assert_eq!(
        dp.flow_put(&key, &other, &[], PutMode::Modify),
        Err(MegaflowError::NotFound)
    );
    let got = dp.flow_get(&key, &mask).unwrap();
    assert_eq!(&*got.actions, &[Action::Output(1)]);
    assert_eq!(got.key.tp_src(), 0);
    assert_eq!(
        dp.flow_put(
            &key,
            &mask,
            &[Action::Output(2), Action::Output(1)],
            PutMode::Modify
        ),
        Ok(r)
    );
    assert_eq!(
        &*dp.flow_get(&key, &mask).unwrap().actions,
        &[Action::Output(2), Action::Output(1)]
    );
    // Long action lists live on the heap; they round-trip all the same.
    let long: Vec<Action> = (0..10).map(Action::Output).collect();
    dp.flow_put(&key, &mask, &long, PutMode::CreateOrModify)
        .unwrap();
    assert_eq!(&*dp.flow_get(&key, &mask).unwrap().actions, &long[..]);
    assert_eq!(dp.flow_dump().count(), 1);
    let gone = dp.flow_del(&key, &mask).unwrap();
    assert_eq!(gone.mask, mask);
    assert_eq!(dp.flow_del(&key, &mask), Err(MegaflowError::NotFound));
    assert!(dp.flow_get(&key, &mask).is_none());
    assert!(
        dp.flow_del_ref(r).is_none(),
        "a stale reference removes nothing"
    );
    assert_eq!(dp.flow_dump().count(), 0);
}

#[test]
fn deleting_a_flow_sends_emc_cached_traffic_back_to_the_slow_path() {
    let mut rig = Rig::new(
        DatapathConfig {
            emc: EmcConfig {
                entries: 64,
                insert_inv_prob: 1,
            },
            ..DatapathConfig::default()
        },
        &[1, 2],
    );
    let frame = udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6);
    let mut slow = Fixed::new(&[Action::Output(1)], &[Field::InPort]);
    // Two batches: within one batch, every EMC lookup comes before the
    // first packet's upcall installs anything.
    rig.send(&mut slow, 0, std::slice::from_ref(&frame));
    rig.send(&mut slow, 0, std::slice::from_ref(&frame));
    assert_eq!(rig.dp.stats().emc_hits, 1, "the second packet hit the EMC");
    let (r, _) = rig.dp.flow_dump().next().unwrap();
    rig.dp.flow_del_ref(r).unwrap();
    slow.actions = vec![Action::Output(2)];
    rig.send(&mut slow, 0, std::slice::from_ref(&frame));
    assert_eq!(slow.calls, 2, "the stale EMC entry was not used");
    assert_eq!(rig.sent(2), &[frame]);
    rig.dp.flow_flush();
    assert!(rig.dp.megaflows().is_empty());
}

#[test]
fn short_and_garbage_frames_pass_through_without_panicking() {
    let mut rig = Rig::new(DatapathConfig::default(), &[1]);
    let mut slow = Fixed::new(
        &[
            Action::SetIpv4Src(1),
            Action::SetTpDst(2),
            Action::PopVlan,
            Action::SetEthDst([1; 6]),
            Action::Output(1),
        ],
        &[Field::InPort, Field::DlType, Field::NwProto],
    );
    let mut frames: Vec<Vec<u8>> = vec![vec![], vec![0xff; 3], vec![0x81; 14], vec![0; 60]];
    let good = udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6);
    for cut in [15, 20, 34, 35, 41] {
        frames.push(good[..cut].to_vec());
    }
    let mut tagged = good.clone();
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    frames.push(tagged[..16].to_vec());
    rig.send(&mut slow, 0, &frames);
    assert_eq!(rig.dp.stats().rx_packets, frames.len() as u64);
    assert_eq!(
        rig.sent(1).len() as u64 + rig.dp.stats().total_drops(),
        frames.len() as u64
    );
    assert_eq!(rig.pool.available(), POOL);
}

#[test]
fn subtables_are_reranked_by_hits_once_a_second() {
    let mut dp = Datapath::new(DatapathConfig {
        emc: EmcConfig {
            entries: 16,
            insert_inv_prob: 0,
        },
        ..DatapathConfig::default()
    });
    dp.add_port(1).unwrap();
    let cold = FlowMask::of_fields(&[Field::InPort, Field::Ipv4Src]);
    let hot = FlowMask::of_fields(&[Field::InPort, Field::TpDst]);
    let mut k = FlowKey::default();
    k.set_in_port(0);
    k.set_ipv4_src(0x0a00_0063);
    dp.flow_put(&k, &cold, &[Action::Output(1)], PutMode::Create)
        .unwrap();
    k.set_tp_dst(53);
    k.set_ipv4_src(0);
    dp.flow_put(&k, &hot, &[Action::Output(1)], PutMode::Create)
        .unwrap();
    assert_eq!(dp.megaflows().subtables().next().unwrap().0, &cold);
    let mut pool = PacketPool::new(POOL, 2048);
    let mut cap = Capture::default();
    let mut slow = Fixed::new(&[], &[]);
    let frame = udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 53);
    for now_ms in [10, 500, 1200] {
        let mut batch = Batch::new();
        for _ in 0..8 {
            let mut p = pool.get().unwrap();
            p.set_frame(&frame);
            batch.push(p).unwrap();
        }
        let mut ctx = ProcessContext {
            now_ms,
            pool: &mut pool,
            upcall: &mut slow,
            tx: &mut cap,
        };
        dp.process(&mut batch, &mut ctx);
        let first = dp.megaflows().subtables().next().unwrap().0;
        if now_ms < 1000 {
            assert_eq!(first, &cold, "not re-ranked before a second passed");
        } else {
            assert_eq!(first, &hot, "re-ranked after a second");
        }
    }
    assert_eq!(cap.sent[&1].len(), 24);
}

fn udp6(sport: u16, dport: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6([0xfe; 16], [0xfd; 16], 64)
        .udp(sport, dport);
    let payload = b"a payload long enough to fragment";
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

/// Runs one frame through a datapath whose only flow has `actions`.
fn run_one(frame: &[u8], actions: &[Action]) -> Vec<u8> {
    let mut rig = Rig::new(DatapathConfig::default(), &[1]);
    let mut out_actions = actions.to_vec();
    out_actions.push(Action::Output(1));
    let mut slow = Fixed::new(&out_actions, &[Field::InPort]);
    rig.send(&mut slow, 0, &[frame.to_vec()]);
    rig.sent(1)[0].clone()
}

#[test]
fn first_fragments_get_their_l4_header_rewritten_like_whole_datagrams() {
    // IPv4: the same datagram whole, and as a first fragment cut short
    // after 4 payload bytes (its UDP length reaches past the frame).
    let whole = udp([10, 0, 0, 1], [10, 0, 0, 2], 1111, 2222);
    let mut frag = whole[..46].to_vec();
    frag[20] |= 0x20; // More Fragments
    frag[16..18].copy_from_slice(&32u16.to_be_bytes());
    frag[24..26].copy_from_slice(&[0, 0]);
    let ip = etherparse::Ipv4HeaderSlice::from_slice(&frag[14..34])
        .unwrap()
        .to_header();
    frag[24..26].copy_from_slice(&ip.calc_header_checksum().to_be_bytes());
    let actions = [Action::SetIpv4Src(0xc0a8_0001), Action::SetTpDst(53)];
    let out_whole = run_one(&whole, &actions);
    let out_frag = run_one(&frag, &actions);
    assert_checksums_valid(&out_whole);
    assert_eq!(
        &out_frag[34..42],
        &out_whole[34..42],
        "UDP ports and checksum of the first fragment"
    );
    // A later fragment has no UDP header: its payload stays as it was.
    let mut later = frag.clone();
    later[20..22].copy_from_slice(&0x0001u16.to_be_bytes()); // offset 8
    let out_later = run_one(&later, &actions);
    assert_eq!(&out_later[34..], &later[34..]);

    // IPv6 with a fragment header: next header 44, then UDP.
    let whole6 = udp6(1111, 2222);
    let mut frag6 = whole6[..54].to_vec();
    frag6[20] = 44;
    frag6.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 7]); // M=1, offset 0
    frag6.extend_from_slice(&whole6[54..66]); // UDP header + 4 bytes
    let plen = (frag6.len() - 54) as u16;
    frag6[18..20].copy_from_slice(&plen.to_be_bytes());
    let out_whole6 = run_one(&whole6, &[Action::SetTpDst(53)]);
    let out_frag6 = run_one(&frag6, &[Action::SetTpDst(53)]);
    let h = PacketHeaders::from_ethernet_slice(&out_whole6).unwrap();
    assert_eq!(ports_of(&h), (1111, 53));
    assert_eq!(&out_frag6[62..70], &out_whole6[54..62]);
}

#[test]
fn port_numbers_beyond_the_table_are_refused() {
    let mut dp = Datapath::new(DatapathConfig::default());
    assert!(dp.add_port(rvs_datapath::MAX_PORTS as u32 - 1).is_ok());
    let err = dp.add_port(0xffff_fffe).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}
