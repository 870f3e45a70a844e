//! The whole fast path on hostile frames: extraction, both caches, upcall
//! installs and every action that rewrites a packet, over batches cut from
//! the input. Nothing may panic, and every buffer must come back to the pool.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_datapath::{
    Action, Batch, Datapath, DatapathConfig, EmcConfig, Field, FlowKey, FlowMask, Packet,
    PacketPool, PortNo, ProcessContext, Transmit, UpcallHandler, UpcallReply, BATCH_SIZE,
};

const POOL: usize = 8 * BATCH_SIZE;

struct Sink;
impl Transmit for Sink {
    fn transmit(&mut self, _port: PortNo, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        for p in pkts.drain(..) {
            pool.put(p);
        }
    }
}

/// Picks one of a few action lists from the key, so different flows get
/// different treatments, with a mask that depends on the key too.
struct Slow;
impl UpcallHandler for Slow {
    fn upcall(&mut self, key: &FlowKey, _p: &Packet) -> Option<UpcallReply> {
        let sel = (key.tp_src() ^ key.nw_proto() as u16 ^ key.dl_type()) % 5;
        let actions: Vec<Action> = match sel {
            0 => vec![
                Action::SetIpv4Src(0x0a00_0001),
                Action::SetIpv4Dst(0x0a00_0002),
                Action::SetIpv4Ttl(1),
                Action::SetTpSrc(1),
                Action::SetTpDst(2),
                Action::Output(1),
            ],
            1 => vec![
                Action::PushVlan { tpid: 0x8100, tci: 0x1000 | 7 },
                Action::Output(1),
                Action::PopVlan,
                Action::PopVlan,
                Action::SetEthSrc([1; 6]),
                Action::Output(2),
            ],
            2 => vec![Action::Userspace(1), Action::Output(3), Action::Output(1)],
            3 => return None,
            _ => vec![Action::Drop],
        };
        let mask = if sel % 2 == 0 {
            FlowMask::EXACT
        } else {
            FlowMask::of_fields(&[Field::InPort, Field::DlType, Field::TpSrc])
        };
        Some(UpcallReply { actions: actions.into_boxed_slice(), mask })
    }
}

fuzz_target!(|data: &[u8]| {
    let mut dp = Datapath::new(DatapathConfig {
        emc: EmcConfig { entries: 8, insert_inv_prob: 1 },
        flow_limit: 4,
        userspace_queue: 2,
        ..DatapathConfig::default()
    });
    for p in 1..=3 {
        dp.add_port(p).unwrap();
    }
    let mut pool = PacketPool::new(POOL, 256);
    // Frames: a length byte, then that many bytes, repeatedly.
    let mut frames = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        frames.push(&tail[..n]);
        rest = &tail[n..];
    }
    for round in 0..2u64 {
        for chunk in frames.chunks(BATCH_SIZE) {
            let mut batch = Batch::new();
            for f in chunk {
                let mut p = pool.get().unwrap();
                if !p.set_frame(f) {
                    p.set_frame(&f[..256]);
                }
                batch.push(p).unwrap();
            }
            let mut ctx = ProcessContext {
                now_ms: round * 2000,
                pool: &mut pool,
                upcall: &mut Slow,
                tx: &mut Sink,
            };
            dp.process(&mut batch, &mut ctx);
            for u in dp.drain_userspace() {
                pool.put(u.packet);
            }
        }
    }
    assert_eq!(pool.available(), POOL, "a packet buffer was lost");
});
