//! The generator itself, in-process: exact counts through a ring pair, and
//! the RFC 2544 search against a sink that polices its input to a set
//! rate (a real port, real trials, wall-clock time).

use rvs_bench::endpoint::Endpoint;
use rvs_bench::measure::{measure_row, MeasureConfig, TrialCounter};
use rvs_bench::traffic::{FlowOrder, FrameBuilder, FrameSize, TrafficSpec};
use rvs_bench::trial::{self, TrialConfig};
use rvs_datapath::packet::{Batch, Packet, PacketPool};
use rvs_datapath::port::ring::{ring_pair, RingPort};
use rvs_datapath::port::{Port, PortStats};
use std::time::{Duration, Instant};

fn ring_endpoints() -> (Endpoint, Endpoint) {
    let (a, b) = ring_pair("tx", "rx", 4096);
    (Endpoint::port(Box::new(a)), Endpoint::port(Box::new(b)))
}

#[test]
fn a_known_number_of_frames_through_a_ring_pair_is_received_exactly() {
    for (frame, flows, order) in [
        (FrameSize::Fixed(64), 1, FlowOrder::Sequential),
        (FrameSize::Imix, 100_000, FlowOrder::Random),
        (FrameSize::Fixed(1518), 7, FlowOrder::Sequential),
    ] {
        let (mut tx, mut rx) = ring_endpoints();
        let mut b = FrameBuilder::new(&TrafficSpec {
            frame: frame.clone(),
            flows,
            order,
            vlan: Some(42),
            ..TrafficSpec::default()
        })
        .unwrap();
        let r = trial::run(
            &mut tx,
            &mut rx,
            &mut b,
            3,
            &TrialConfig {
                rate_pps: None,
                duration: Duration::from_secs(60),
                count: Some(123_457),
                latency: true,
            },
        )
        .unwrap();
        assert_eq!(r.sent, 123_457, "{frame}");
        assert_eq!(r.received, 123_457, "{frame}");
        assert_eq!((r.lost, r.reordered, r.foreign), (0, 0, 0), "{frame}");
        assert_eq!(r.latency.count(), 123_457);
    }
}

#[test]
fn a_rate_limited_trial_sends_at_its_rate() {
    let (mut tx, mut rx) = ring_endpoints();
    let mut b = FrameBuilder::new(&TrafficSpec::default()).unwrap();
    let r = trial::run(
        &mut tx,
        &mut rx,
        &mut b,
        1,
        &TrialConfig {
            rate_pps: Some(200_000.0),
            duration: Duration::from_millis(500),
            count: None,
            latency: false,
        },
    )
    .unwrap();
    // The schedule allows at most rate x time (plus one burst); a loaded
    // machine may fall behind, never ahead.
    assert!(r.sent <= 100_000 + 32, "{r:?}");
    assert!(r.sent >= 20_000, "{r:?}");
    assert_eq!(r.received, r.sent);
}

#[test]
fn frames_of_an_earlier_trial_are_not_counted_in_the_next() {
    let (mut tx, mut rx) = ring_endpoints();
    let mut b = FrameBuilder::new(&TrafficSpec::default()).unwrap();
    // Trial 1 leaves its frames in the ring: nobody receives them.
    let mut seq = 0;
    b.set_trial(1);
    while tx.send(32, &mut b, &mut seq, 0) > 0 && seq < 1000 {}
    let queued = seq;
    assert!(queued >= 32);
    let r = trial::run(
        &mut tx,
        &mut rx,
        &mut b,
        2,
        &TrialConfig {
            rate_pps: None,
            duration: Duration::from_secs(60),
            count: Some(500),
            latency: false,
        },
    )
    .unwrap();
    assert_eq!(r.received, 500);
    assert_eq!(r.foreign, queued, "{r:?}");
}

/// A port that forwards to an in-memory ring what its token bucket
/// allows — `rate` frames per second, a bucket of 64 — and drops the
/// rest: a switch of known capacity. It takes every frame offered (sent
/// or dropped), as a switch's port does.
struct Policer {
    out: RingPort,
    rate: f64,
    tokens: f64,
    last: Instant,
    taken: u64,
}

impl Port for Policer {
    fn name(&self) -> &str {
        "policer"
    }
    fn rx_burst(&mut self, _batch: &mut Batch, _pool: &mut PacketPool) -> usize {
        0
    }
    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        let now = Instant::now();
        self.tokens = (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(64.0);
        self.last = now;
        let mut pass = Vec::new();
        for p in pkts.drain(..) {
            self.taken += 1;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                pass.push(p);
            } else {
                pool.put(p);
            }
        }
        self.out.tx_burst(&mut pass, pool);
    }
    fn stats(&self) -> PortStats {
        PortStats {
            tx_packets: self.taken,
            ..PortStats::default()
        }
    }
}

#[test]
fn the_ndr_search_converges_on_a_sink_that_drops_above_a_set_rate() {
    let cap = 400_000.0;
    let (a, b) = ring_pair("police", "sink", 1 << 16);
    let mut tx = Endpoint::port(Box::new(Policer {
        out: a,
        rate: cap,
        tokens: 0.0,
        last: Instant::now(),
        taken: 0,
    }));
    let mut rx = Endpoint::port(Box::new(b));
    let mut builder = FrameBuilder::new(&TrafficSpec::default()).unwrap();
    let row = measure_row(
        &mut tx,
        &mut rx,
        &mut builder,
        &MeasureConfig {
            trial: Duration::from_millis(300),
            warmup: Duration::ZERO,
            search_loss: Some(0.0),
            precision: 0.02,
            max_trials: 16,
            latency_load: 0.5,
            rate: None,
            count: None,
        },
        &mut TrialCounter::default(),
        &mut |_| {},
    )
    .unwrap();
    // As fast as possible, the generator far exceeds the cap and loses.
    assert!(row.main.tx_pps() > 2.0 * cap, "{:?}", row.main);
    assert!(row.main.lost > 0);
    let ndr = row.searched_pps.expect("an NDR was found");
    // The bucket lets a little more through than the rate; a loaded
    // machine that falls behind its schedule sends bursts that lose, so
    // the NDR may come out lower — but never far above the cap.
    assert!(ndr <= cap * 1.1, "NDR {ndr} above the cap {cap}");
    assert!(ndr >= cap * 0.3, "NDR {ndr} far below the cap {cap}");
    let lat = row.latency.expect("a latency trial");
    assert!(lat.samples > 0 && lat.p50_us <= lat.p99_us && lat.p99_us <= lat.max_us);
}

/// Frames sent with AF_XDP or AF_PACKET on one end of a fresh veth pair
/// arrive, counted exactly, at the other end (as root).
#[test]
fn host_endpoints_send_and_receive_across_a_veth_pair() {
    for kind in ["afxdp", "afpacket"] {
        let pair = rvs_bench::switches::VethPair::new().expect("a veth pair");
        let open = |dev: &str| match kind {
            "afxdp" => Endpoint::afxdp(dev),
            _ => Endpoint::afpacket(dev),
        };
        let mut tx = open(&pair.gen_end).expect("the transmit endpoint");
        let mut rx = open(&pair.switch_end.name).expect("the receive endpoint");
        let mut b = FrameBuilder::new(&TrafficSpec {
            flows: 100,
            ..TrafficSpec::default()
        })
        .unwrap();
        let r = trial::run(
            &mut tx,
            &mut rx,
            &mut b,
            9,
            &TrialConfig {
                // Slow enough that no socket ring overflows on a busy machine.
                rate_pps: Some(20_000.0),
                duration: Duration::from_secs(30),
                count: Some(5_000),
                latency: true,
            },
        )
        .unwrap();
        assert_eq!(r.sent, 5_000, "{kind}: {r:?}");
        assert_eq!(r.received, 5_000, "{kind}: {r:?}");
        assert_eq!(r.reordered, 0, "{kind}");
        assert!(r.latency.count() == 5_000 && r.latency.max() > 0, "{kind}");
    }
}
