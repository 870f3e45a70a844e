//! The steady-state fast path allocates nothing.
//!
//! A counting global allocator (counting per thread, so other tests running
//! at the same time do not disturb the count) watches `Datapath::process`
//! once every flow is installed and cached: receive-side packet setup, key
//! extraction, EMC and megaflow lookups, header rewrites, a VLAN push,
//! copies for multiple outputs, per-port transmit.

use rvs_datapath::{
    Action, Batch, Datapath, DatapathConfig, EmcConfig, Field, FlowKey, FlowMask, Packet,
    PacketPool, PortNo, ProcessContext, Transmit, UpcallHandler, UpcallReply, BATCH_SIZE,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; the thread-local counter
// is a const-initialised Cell, which itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = FREES.try_with(|c| c.set(c.get() + 1));
        // SAFETY: `p` was allocated by `System` through this allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `realloc`'s contract.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and frees (a free on the fast path is heap traffic too).
fn allocs() -> u64 {
    ALLOCS.with(|c| c.get()) + FREES.with(|c| c.get())
}

fn frame(src_ip: u32, sport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[16..18].copy_from_slice(&46u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&src_ip.to_be_bytes());
    f[30..34].copy_from_slice(&0x0a00_00feu32.to_be_bytes());
    let c = rvs_datapath::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&53u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}

struct Sink(u64);
impl Transmit for Sink {
    fn transmit(&mut self, _port: PortNo, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        self.0 += pkts.len() as u64;
        for p in pkts.drain(..) {
            pool.put(p);
        }
    }
}

/// Half the flows get a rewrite-and-flood treatment, half a plain output.
struct Slow;
impl UpcallHandler for Slow {
    fn upcall(&mut self, key: &FlowKey, _p: &Packet) -> Option<UpcallReply> {
        let mask =
            FlowMask::of_fields(&[Field::InPort, Field::DlType, Field::Ipv4Src, Field::TpSrc]);
        let actions: Box<[Action]> = if key.tp_src() % 2 == 0 {
            Box::new([
                Action::SetIpv4Dst(0x0a00_0001),
                Action::SetTpDst(5353),
                Action::SetIpv4Ttl(9),
                Action::Output(1),
                Action::PushVlan {
                    tpid: 0x8100,
                    tci: 0x1000 | 10,
                },
                Action::SetEthDst([2, 0, 0, 0, 0, 9]),
                Action::Output(2),
                Action::Userspace(7),
                Action::Output(3),
            ])
        } else {
            Box::new([Action::Output(2)])
        };
        Some(UpcallReply { actions, mask })
    }
}

#[test]
fn steady_state_batches_allocate_nothing() {
    let mut dp = Datapath::new(DatapathConfig {
        emc: EmcConfig {
            // Smaller than the flow count and inserting every time, so that
            // both EMC hits and megaflow hits (for the evicted flows) happen.
            entries: 16,
            insert_inv_prob: 1,
        },
        ..DatapathConfig::default()
    });
    for p in 1..=3 {
        dp.add_port(p).unwrap();
    }
    let mut pool = PacketPool::new(8 * BATCH_SIZE, 2048);
    let frames: Vec<Vec<u8>> = (0..64u32)
        .map(|i| frame(0x0a00_0100 + i, 1000 + i as u16))
        .collect();
    let mut sink = Sink(0);
    let mut slow = Slow;
    let mut batch = Batch::new();
    let mut run = |dp: &mut Datapath, pool: &mut PacketPool, rounds: usize| {
        for r in 0..rounds {
            for i in 0..BATCH_SIZE {
                let mut p = pool.get().expect("pool is large enough");
                p.set_frame(&frames[(r * 7 + i * 3) % frames.len()]);
                p.in_port = 0;
                batch.push(p).unwrap();
            }
            let mut ctx = ProcessContext {
                // Milliseconds pass faster than batches here so that the
                // once-a-second subtable re-ranking runs too.
                now_ms: r as u64 * 50,
                pool,
                upcall: &mut slow,
                tx: &mut sink,
            };
            dp.process(&mut batch, &mut ctx);
            // The slow path reads what userspace actions queued.
            for u in dp.drain_userspace() {
                ctx.pool.put(u.packet);
            }
        }
    };
    // Warm up: every flow is installed (this allocates: actions, tables).
    run(&mut dp, &mut pool, 100);
    assert_eq!(dp.megaflows().len(), 64);
    let before_stats = *dp.stats();
    let before = allocs();
    run(&mut dp, &mut pool, 1000);
    let after = allocs();
    let s = dp.stats();
    assert_eq!(
        s.upcalls, before_stats.upcalls,
        "steady state has no upcalls"
    );
    assert!(s.emc_hits > before_stats.emc_hits);
    assert!(s.megaflow_hits > before_stats.megaflow_hits, "{s:?}");
    assert_eq!(s.total_drops(), 0, "{s:?}");
    assert_eq!(pool.available(), 8 * BATCH_SIZE, "every buffer came back");
    assert_eq!(
        after - before,
        0,
        "the fast path allocated or freed {} times",
        after - before
    );
}
