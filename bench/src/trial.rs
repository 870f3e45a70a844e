//! One trial: send for a fixed time (or count) at a fixed rate on one
//! endpoint, receive on the other, from one thread, and count.
//!
//! The loop alternates a transmit burst (at most [`BURST`] frames, fewer
//! when the rate's budget says so) and a receive burst. Every frame
//! carries the trial number, its sequence number and the time of its
//! burst (ns since the trial started); the receiver reads the clock once
//! per receive burst, so latency is measured burst to burst, with the
//! generator's own loop time included (report it: at low rates that is a
//! few hundred ns). When sending stops, the receiver drains until nothing
//! has arrived for [`DRAIN_IDLE`] (at most [`DRAIN_MAX`]), so frames still
//! in the switch are not counted lost.
//!
//! Loss is frames sent minus frames of this trial received; reordering
//! counts frames whose sequence number is below one already received.
//! Frames without this trial's marker (a late frame of the previous
//! trial, the switch's own traffic) are counted apart.

use crate::endpoint::Endpoint;
use crate::hist::Histogram;
use crate::traffic::{parse_marker, widen_seq, FrameBuilder};
use anyhow::Result;
use std::time::{Duration, Instant};

/// Frames per transmit burst.
pub const BURST: usize = 32;
/// Drain until nothing arrived for this long…
pub const DRAIN_IDLE: Duration = Duration::from_millis(30);
/// …or this long in all.
pub const DRAIN_MAX: Duration = Duration::from_millis(500);

/// How to run a trial.
#[derive(Debug, Clone)]
pub struct TrialConfig {
    /// Frames per second offered; `None`: as fast as the endpoint takes
    /// them.
    pub rate_pps: Option<f64>,
    /// How long to send.
    pub duration: Duration,
    /// Stop after this many frames, if sooner.
    pub count: Option<u64>,
    /// Record latencies.
    pub latency: bool,
}

/// What a trial measured.
#[derive(Debug, Clone)]
pub struct TrialResult {
    /// Frames the transmit endpoint took.
    pub sent: u64,
    /// Frames of this trial received.
    pub received: u64,
    /// `sent - received` (never negative).
    pub lost: u64,
    pub reordered: u64,
    /// Frames received without this trial's marker.
    pub foreign: u64,
    /// Frames built but refused by a full transmit ring.
    pub tx_refused: u64,
    /// Time spent sending.
    pub tx_seconds: f64,
    /// Offered rate (what was asked for, or `None` for "as fast as
    /// possible").
    pub rate_pps: Option<f64>,
    /// Mean wire size of the frames, FCS included (for Gbps).
    pub frame_bytes: f64,
    pub latency: Histogram,
}

impl TrialResult {
    /// Frames per second sent.
    pub fn tx_pps(&self) -> f64 {
        self.sent as f64 / self.tx_seconds.max(1e-9)
    }

    /// Frames per second received (over the sending time).
    pub fn rx_pps(&self) -> f64 {
        self.received as f64 / self.tx_seconds.max(1e-9)
    }

    /// Share of the frames sent that were lost.
    pub fn loss_ratio(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.lost as f64 / self.sent as f64
        }
    }

    /// Gigabits per second received, FCS included (no preamble or gap).
    pub fn rx_gbps(&self) -> f64 {
        self.rx_pps() * self.frame_bytes * 8.0 / 1e9
    }
}

/// Counts what arrives.
struct Receiver {
    trial: u8,
    received: u64,
    foreign: u64,
    reordered: u64,
    /// The highest sequence number seen, plus one (0: none yet).
    next: u64,
    latency: bool,
    hist: Histogram,
}

impl Receiver {
    #[inline]
    fn frame(&mut self, frame: &[u8], now_ns: u64, sent: u64) {
        let Some(m) = parse_marker(frame) else {
            self.foreign += 1;
            return;
        };
        if m.trial != self.trial {
            self.foreign += 1;
            return;
        }
        let seq = widen_seq(m.seq, self.next);
        if seq >= sent {
            // Not sent by this trial (a corrupted or replayed frame).
            self.foreign += 1;
            return;
        }
        self.received += 1;
        if seq + 1 > self.next {
            self.next = seq + 1;
        } else {
            self.reordered += 1;
        }
        if self.latency {
            self.hist.record(now_ns.saturating_sub(m.ts_ns));
        }
    }
}

/// Runs one trial of `builder`'s traffic from `tx` to `rx`, marked with
/// trial number `trial`.
pub fn run(
    tx: &mut Endpoint,
    rx: &mut Endpoint,
    builder: &mut FrameBuilder,
    trial: u8,
    cfg: &TrialConfig,
) -> Result<TrialResult> {
    builder.set_trial(trial);
    builder.rewind();
    let refused0 = tx.tx_refused();
    let mut r = Receiver {
        trial,
        received: 0,
        foreign: 0,
        reordered: 0,
        next: 0,
        latency: cfg.latency,
        hist: Histogram::new(),
    };
    let limit = cfg.count.unwrap_or(u64::MAX);
    let duration_ns = cfg.duration.as_nanos() as u64;
    let mut seq = 0u64;
    let mut sent = 0u64;
    let start = Instant::now();
    let mut now_ns = 0u64;
    let mut polls = 0u32;
    while now_ns < duration_ns && sent < limit {
        let budget = match cfg.rate_pps {
            None => BURST as u64,
            Some(rate) => {
                let due = (rate * now_ns as f64 / 1e9) as u64;
                due.saturating_sub(sent).min(BURST as u64)
            }
        };
        let budget = budget.min(limit - sent) as usize;
        if budget > 0 {
            let before = seq;
            let took = tx.send(budget, builder, &mut seq, now_ns);
            // Frames built but refused keep their numbers (a gap), which
            // is fine: loss is counted from what was taken.
            debug_assert!(seq - before >= took as u64);
            sent += took as u64;
        }
        // One clock read per iteration: the receive time, which is also
        // the next burst's time.
        now_ns = start.elapsed().as_nanos() as u64;
        let t = now_ns;
        rx.recv(|f| r.frame(f, t, seq));
        polls += 1;
        if polls % 4096 == 0 {
            tx.check()?;
            rx.check()?;
        }
    }
    let tx_seconds = now_ns as f64 / 1e9;
    let drain_start = Instant::now();
    let mut last = Instant::now();
    while last.elapsed() < DRAIN_IDLE && drain_start.elapsed() < DRAIN_MAX && r.received < sent {
        let t = start.elapsed().as_nanos() as u64;
        if rx.recv(|f| r.frame(f, t, seq)) > 0 {
            last = Instant::now();
        }
        // Keep the transmit side's used ring moving too.
        tx.send(0, builder, &mut seq, 0);
    }
    Ok(TrialResult {
        sent,
        received: r.received,
        lost: sent.saturating_sub(r.received),
        reordered: r.reordered,
        foreign: r.foreign,
        tx_refused: tx.tx_refused() - refused0,
        tx_seconds,
        rate_pps: cfg.rate_pps,
        frame_bytes: builder.spec().frame.mean(),
        latency: r.hist,
    })
}
