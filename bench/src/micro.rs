//! `rvs-pktgen micro`: the datapath run in-process on one thread.
//!
//! Each case builds its frames and flows first, warms the caches, then times
//! the fast path over a fixed number of packets: a receive (one 64-byte copy
//! into a pool buffer, as a NIC's DMA would do), key extraction, the lookups
//! the case exercises, the actions (one output) and the transmit (the buffer
//! returns to the pool). `parse` times key extraction alone.
//!
//! | case | what it measures |
//! |---|---|
//! | `parse` | [`extract`] over the frames, nothing else |
//! | `emc_hit` | every lookup answered by the exact-match cache |
//! | `megaflow_hit` | the EMC off, every lookup answered by the megaflow cache, traffic spread evenly over the flows of every subtable |
//! | `miss_install` | every packet a new flow: an upcall to a trivial handler and a megaflow install |
//!
//! Figures are medians over `--repeat` runs.

use crate::alloc_count;
use rvs_datapath::{
    extract, Action, Batch, Datapath, DatapathConfig, EmcConfig, Field, FlowKey, FlowMask, Packet,
    PacketPool, PortNo, ProcessContext, PutMode, Transmit, UpcallHandler, UpcallReply, BATCH_SIZE,
};
use serde::Serialize;
use std::hint::black_box;
use std::time::Instant;

/// The port traffic arrives on.
const IN_PORT: PortNo = 0;
/// The port every flow outputs to.
const OUT_PORT: PortNo = 1;

/// Which fast-path case to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    /// Key extraction only.
    Parse,
    /// Exact-match cache hits.
    EmcHit,
    /// Megaflow cache hits (EMC disabled).
    MegaflowHit,
    /// Upcall + install per packet.
    MissInstall,
}

impl CaseKind {
    /// The case's name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            CaseKind::Parse => "parse",
            CaseKind::EmcHit => "emc_hit",
            CaseKind::MegaflowHit => "megaflow_hit",
            CaseKind::MissInstall => "miss_install",
        }
    }

    /// Parses a case name.
    pub fn from_name(s: &str) -> Option<CaseKind> {
        [
            CaseKind::Parse,
            CaseKind::EmcHit,
            CaseKind::MegaflowHit,
            CaseKind::MissInstall,
        ]
        .into_iter()
        .find(|c| c.name() == s)
    }
}

/// One case: a kind with its flow and subtable counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// What is measured.
    pub kind: CaseKind,
    /// Distinct flows in the traffic (and installed megaflows).
    pub flows: usize,
    /// Distinct megaflow masks the flows are spread over.
    pub subtables: usize,
}

/// The cases run by default, in order.
pub fn default_cases() -> Vec<Case> {
    let c = |kind, flows, subtables| Case {
        kind,
        flows,
        subtables,
    };
    vec![
        c(CaseKind::Parse, 1024, 0),
        c(CaseKind::EmcHit, 1, 1),
        c(CaseKind::EmcHit, 8192, 1),
        c(CaseKind::MegaflowHit, 1000, 1),
        c(CaseKind::MegaflowHit, 1000, 10),
        c(CaseKind::MegaflowHit, 1000, 20),
        c(CaseKind::MegaflowHit, 100_000, 1),
        c(CaseKind::MegaflowHit, 100_000, 10),
        c(CaseKind::MegaflowHit, 1_000_000, 1),
        c(CaseKind::MegaflowHit, 1_000_000, 10),
        c(CaseKind::MissInstall, 1_000_000, 1),
    ]
}

/// What a case measured.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Case name.
    pub case: &'static str,
    /// Distinct flows.
    pub flows: usize,
    /// Megaflow subtables in use.
    pub subtables: usize,
    /// Packets per timed run.
    pub packets: u64,
    /// Median million packets per second.
    pub mpps: f64,
    /// Median nanoseconds per packet.
    pub ns_per_pkt: f64,
    /// Slowest and fastest run, Mpps.
    pub mpps_min: f64,
    /// Fastest run, Mpps.
    pub mpps_max: f64,
    /// Share of lookups the EMC answered in the timed runs.
    pub emc_hit_rate: f64,
    /// Share of lookups the megaflow cache answered in the timed runs.
    pub megaflow_hit_rate: f64,
    /// Heap allocations per packet in the timed runs.
    pub allocs_per_pkt: f64,
}

/// Options common to every case.
#[derive(Debug, Clone, Copy)]
pub struct MicroOptions {
    /// Packets per timed run (`None`: as many as fit in about `seconds`).
    pub packets: Option<u64>,
    /// Target length of one timed run when `packets` is not given.
    pub seconds: f64,
    /// Timed runs per case; the median is reported.
    pub repeat: usize,
    /// EMC entries (`None`: the datapath's default).
    pub emc_entries: Option<usize>,
    /// EMC insertion odds, 1 in N (`None`: the datapath's default, 100;
    /// `megaflow_hit` uses 0, which turns the EMC off).
    pub emc_insert_inv_prob: Option<u32>,
}

/// Builds a 64-byte Ethernet/IPv4/UDP frame (60 bytes + the FCS a NIC strips).
pub fn udp_frame(src_ip: u32, dst_ip: u32, sport: u16, dport: u16) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src_ip.to_be_bytes());
    ip[16..20].copy_from_slice(&dst_ip.to_be_bytes());
    let c = rvs_datapath::wire::checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&26u16.to_be_bytes());
    f
}

/// Base of the source addresses (10.0.0.0).
const SRC_BASE: u32 = 0x0a00_0000;
/// The destination address of every frame (192.168.0.1).
const DST_IP: u32 = 0xc0a8_0001;
/// Destination port of subtable 0; subtable j uses `DPORT_BASE + j`.
const DPORT_BASE: u16 = 1000;

/// The frame of flow `i` of `flows`, spread over `subtables` subtables: the
/// subtable is `i % subtables` (carried in the UDP destination port), the
/// flow within it is named by the source address.
fn flow_frame(i: usize, subtables: usize) -> [u8; 60] {
    let mut f = udp_frame(SRC_BASE, DST_IP, 4000, DPORT_BASE);
    write_flow(&mut f, i, subtables);
    f
}

/// Turns a frame made by [`udp_frame`] into flow `i`'s frame: the source
/// address and destination port change (the IPv4 checksum is left as it was:
/// the datapath does not verify it). This is how the receive side makes its
/// packets, as a NIC would write them, instead of reading them from a
/// table that would itself miss the caches at a million flows.
#[inline(always)]
fn write_flow(f: &mut [u8], i: usize, subtables: usize) {
    let st = i % subtables.max(1);
    f[26..30].copy_from_slice(&SRC_BASE.wrapping_add(i as u32).to_be_bytes());
    f[36..38].copy_from_slice(&(DPORT_BASE + st as u16).to_be_bytes());
}

/// The mask of subtable `j`: the same base fields, plus a destination prefix
/// of a length unique to the subtable, so every subtable has its own mask.
fn subtable_mask(j: usize) -> FlowMask {
    let mut m = FlowMask::of_fields(&[
        Field::InPort,
        Field::DlType,
        Field::NwProto,
        Field::Ipv4Src,
        Field::TpDst,
    ]);
    let mut prefix = FlowKey::default();
    let bits = (j as u32 + 1).min(32);
    prefix.set_ipv4_dst(!0u32 << (32 - bits));
    for w in 0..rvs_datapath::FLOW_WORDS {
        m.words[w] |= prefix.words[w];
    }
    m
}

/// A transmit side that counts and recycles.
#[derive(Debug, Default)]
struct CountingSink {
    sent: u64,
}

impl Transmit for CountingSink {
    fn transmit(&mut self, _port: PortNo, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        self.sent += pkts.len() as u64;
        for p in pkts.drain(..) {
            pool.put(p);
        }
    }
}

/// The slow path of the benchmarks: every packet gets an exact-match flow
/// (on the fields the frames vary in) that outputs to [`OUT_PORT`].
#[derive(Debug)]
struct TrivialUpcall {
    mask: FlowMask,
}

impl UpcallHandler for TrivialUpcall {
    fn upcall(&mut self, _key: &FlowKey, _packet: &Packet) -> Option<UpcallReply> {
        Some(UpcallReply {
            actions: Box::new([Action::Output(OUT_PORT)]),
            mask: self.mask,
        })
    }
}

/// A tiny deterministic generator for the traffic order.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The order flows are sent in: every flow once per round, shuffled.
fn traffic_order(flows: usize, len: usize) -> Vec<u32> {
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut order: Vec<u32> = (0..len).map(|i| (i % flows) as u32).collect();
    for i in (1..order.len()).rev() {
        let j = (xorshift(&mut rng) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

struct Run {
    packets: u64,
    secs: f64,
    allocs: u64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs one case, printing progress to stderr.
pub fn run_case(case: Case, opts: &MicroOptions) -> CaseResult {
    match case.kind {
        CaseKind::Parse => run_parse(case, opts),
        _ => run_pipeline(case, opts),
    }
}

fn summarize(case: Case, runs: &[Run], emc_hit_rate: f64, megaflow_hit_rate: f64) -> CaseResult {
    let mut mpps: Vec<f64> = runs
        .iter()
        .map(|r| r.packets as f64 / r.secs / 1e6)
        .collect();
    let packets = runs.first().map(|r| r.packets).unwrap_or(0);
    let allocs: u64 = runs.iter().map(|r| r.allocs).sum();
    let total: u64 = runs.iter().map(|r| r.packets).sum();
    let m = median(&mut mpps);
    CaseResult {
        case: case.kind.name(),
        flows: case.flows,
        subtables: case.subtables,
        packets,
        mpps: m,
        ns_per_pkt: if m > 0.0 { 1e3 / m } else { f64::INFINITY },
        mpps_min: mpps.first().copied().unwrap_or(0.0),
        mpps_max: mpps.last().copied().unwrap_or(0.0),
        emc_hit_rate,
        megaflow_hit_rate,
        allocs_per_pkt: if total > 0 {
            allocs as f64 / total as f64
        } else {
            0.0
        },
    }
}

/// How many packets one timed run uses: the fixed count, or a calibration.
fn packets_per_run(opts: &MicroOptions, mut timed: impl FnMut(u64) -> f64) -> u64 {
    if let Some(n) = opts.packets {
        return n.max(1);
    }
    let probe = 1 << 16;
    let secs = timed(probe).max(1e-6);
    let n = (opts.seconds / secs * probe as f64) as u64;
    n.clamp(probe, 1 << 32)
}

fn run_parse(case: Case, opts: &MicroOptions) -> CaseResult {
    let frames: Vec<[u8; 60]> = (0..case.flows.max(1)).map(|i| flow_frame(i, 1)).collect();
    let mut timed = |n: u64| {
        let start = Instant::now();
        let mut acc = 0u64;
        let len = frames.len();
        let mut i = 0;
        for _ in 0..n {
            let (k, off) = extract(black_box(&frames[i]), IN_PORT);
            acc = acc.wrapping_add(k.words[4] ^ off.l4 as u64);
            i += 1;
            if i == len {
                i = 0;
            }
        }
        black_box(acc);
        start.elapsed().as_secs_f64()
    };
    let n = packets_per_run(opts, &mut timed);
    let runs: Vec<Run> = (0..opts.repeat.max(1))
        .map(|_| {
            let a0 = alloc_count();
            let secs = timed(n);
            Run {
                packets: n,
                secs,
                allocs: alloc_count() - a0,
            }
        })
        .collect();
    summarize(case, &runs, 0.0, 0.0)
}

/// Everything a pipeline case needs between runs.
struct Bench {
    dp: Datapath,
    pool: PacketPool,
    sink: CountingSink,
    upcall: TrivialUpcall,
    template: [u8; 60],
    subtables: usize,
    order: Vec<u32>,
    pos: usize,
    next_new_flow: u32,
    batch: Batch,
    now_ms: u64,
    kind: CaseKind,
}

impl Bench {
    fn new(case: Case, opts: &MicroOptions) -> Bench {
        // emc_hit and miss_install run with the datapath's default EMC;
        // megaflow_hit turns the EMC off so that every lookup reaches the
        // megaflow cache.
        let mut emc = match case.kind {
            CaseKind::MegaflowHit => EmcConfig {
                insert_inv_prob: 0,
                ..EmcConfig::default()
            },
            _ => EmcConfig::default(),
        };
        if let Some(n) = opts.emc_entries {
            emc.entries = n;
        }
        if let Some(p) = opts.emc_insert_inv_prob {
            emc.insert_inv_prob = p;
        }
        let mut dp = Datapath::new(DatapathConfig {
            emc,
            flow_limit: case.flows.max(1) * 2 + 1024,
            ..DatapathConfig::default()
        });
        dp.add_port(OUT_PORT).expect("port 1 is in range");
        let subtables = case.subtables.max(1);
        let flows = case.flows.max(1);
        if case.kind != CaseKind::MissInstall {
            eprint!("  installing {flows} megaflows in {subtables} subtables ...");
            let masks: Vec<FlowMask> = (0..subtables).map(subtable_mask).collect();
            for i in 0..flows {
                let (key, _) = extract(&flow_frame(i, subtables), IN_PORT);
                dp.flow_put(
                    &key,
                    &masks[i % subtables],
                    &[Action::Output(OUT_PORT)],
                    PutMode::Create,
                )
                .expect("benchmark flows do not overlap");
            }
            eprintln!(" done");
        }
        let order = match case.kind {
            CaseKind::MissInstall => Vec::new(),
            _ => traffic_order(flows, flows.max(1 << 16)),
        };
        Bench {
            dp,
            pool: PacketPool::new(4 * BATCH_SIZE + 64, 2048),
            sink: CountingSink::default(),
            upcall: TrivialUpcall {
                mask: subtable_mask(0),
            },
            template: flow_frame(0, subtables),
            subtables,
            order,
            pos: 0,
            next_new_flow: 0,
            batch: Batch::new(),
            now_ms: 0,
            kind: case.kind,
        }
    }

    /// Sends `n` packets through the datapath.
    #[inline(never)]
    fn run(&mut self, n: u64) {
        let mut left = n;
        while left > 0 {
            let burst = left.min(BATCH_SIZE as u64) as usize;
            for _ in 0..burst {
                let Some(mut p) = self.pool.get() else { break };
                let flow = if self.kind == CaseKind::MissInstall {
                    self.next_new_flow = self.next_new_flow.wrapping_add(1);
                    self.next_new_flow as usize
                } else {
                    let idx = self.order[self.pos] as usize;
                    self.pos += 1;
                    if self.pos == self.order.len() {
                        self.pos = 0;
                    }
                    idx
                };
                p.set_frame(&self.template);
                write_flow(p.data_mut(), flow, self.subtables);
                p.in_port = IN_PORT;
                if let Err(p) = self.batch.push(p) {
                    self.pool.put(p);
                }
            }
            let mut ctx = ProcessContext {
                now_ms: self.now_ms,
                pool: &mut self.pool,
                upcall: &mut self.upcall,
                tx: &mut self.sink,
            };
            self.dp.process(&mut self.batch, &mut ctx);
            left -= burst as u64;
        }
        self.now_ms += 1;
        self.dp.rank_subtables();
    }
}

fn run_pipeline(case: Case, opts: &MicroOptions) -> CaseResult {
    let mut b = Bench::new(case, opts);
    // Warm up: fill the EMC (with 1-in-100 insertion a flow needs a few
    // hundred packets to get in), fault in the tables, settle the ranking.
    let warm = if case.kind == CaseKind::EmcHit {
        (case.flows as u64 * 500).clamp(1 << 16, 1 << 23)
    } else {
        (b.order.len() as u64 * 2).clamp(1 << 16, 1 << 22)
    };
    if case.kind != CaseKind::MissInstall {
        b.run(warm);
    }
    let n = {
        let mut timed = |n: u64| {
            let t = Instant::now();
            b.run(n);
            t.elapsed().as_secs_f64()
        };
        let n = packets_per_run(opts, &mut timed);
        if case.kind == CaseKind::MissInstall {
            // Each run installs n flows; keep within the flow limit.
            n.min(case.flows as u64)
        } else {
            n
        }
    };
    let mut runs = Vec::new();
    let (mut emc, mut mf, mut total) = (0u64, 0u64, 0u64);
    for _ in 0..opts.repeat.max(1) {
        if case.kind == CaseKind::MissInstall {
            b.dp.flow_flush();
        }
        b.dp.clear_stats();
        let a0 = alloc_count();
        let t = Instant::now();
        b.run(n);
        let secs = t.elapsed().as_secs_f64();
        let allocs = alloc_count() - a0;
        let s = *b.dp.stats();
        emc += s.emc_hits;
        mf += s.megaflow_hits;
        total += s.rx_packets;
        runs.push(Run {
            packets: n,
            secs,
            allocs,
        });
    }
    let rate = |x: u64| {
        if total > 0 {
            x as f64 / total as f64
        } else {
            0.0
        }
    };
    summarize(case, &runs, rate(emc), rate(mf))
}
