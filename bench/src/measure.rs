//! One result row: the measurements `rvs-pktgen run` and `compare` make
//! for one path, switch, frame size and flow count.
//!
//! In order: a warm-up trial (flows get installed, caches fill), a trial
//! at the highest rate the generator reaches (the *max* figures: what the
//! path forwarded when offered all it could take), optionally the
//! RFC 2544 search ([`crate::search`]) for the NDR or PDR starting from
//! that maximum, and a latency trial at a share of the NDR (or of the
//! forwarded maximum when there was no search). Every trial has its own
//! number in the frames' marker, so stragglers of one never count in the
//! next.

use crate::endpoint::Endpoint;
use crate::hist::Histogram;
use crate::search::{self, Outcome, SearchConfig};
use crate::traffic::FrameBuilder;
use crate::trial::{self, TrialConfig, TrialResult};
use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

/// How to measure a row.
#[derive(Debug, Clone)]
pub struct MeasureConfig {
    /// Length of every trial.
    pub trial: Duration,
    /// Length of the warm-up trial (0: none).
    pub warmup: Duration,
    /// Search for the rate with at most this loss ratio (0: NDR).
    pub search_loss: Option<f64>,
    /// Search precision: stop when the interval is narrower than this
    /// share of its top.
    pub precision: f64,
    /// Most trials in a search.
    pub max_trials: usize,
    /// The latency trial's rate as a share of the NDR (or of the
    /// forwarded maximum); 0: no latency trial.
    pub latency_load: f64,
    /// A fixed offered rate instead of "as fast as possible" for the
    /// main trial.
    pub rate: Option<Rate>,
    /// Stop the main trial after this many frames.
    pub count: Option<u64>,
}

/// An offered rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Frames per second.
    Pps(f64),
    /// A share (0..1] of the rate the path forwards at most, measured
    /// first.
    OfMax(f64),
}

impl Rate {
    /// `2.5Mpps`, `800kpps`, `100000` (pps), or `50%`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || format!("rate {s:?} is not like 2.5Mpps, 800kpps, 100000 or 50%");
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!("rate {s:?}: a percentage must be in (0, 100]"));
            }
            return Ok(Rate::OfMax(v / 100.0));
        }
        let (num, mult) = if let Some(n) = t.strip_suffix("mpps") {
            (n, 1e6)
        } else if let Some(n) = t.strip_suffix("kpps") {
            (n, 1e3)
        } else if let Some(n) = t.strip_suffix("pps") {
            (n, 1.0)
        } else {
            (t.as_str(), 1.0)
        };
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("rate {s:?} must be more than 0"));
        }
        Ok(Rate::Pps(v * mult))
    }
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Latency {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub samples: u64,
    /// The rate of the latency trial, Mpps.
    pub at_mpps: f64,
}

impl Latency {
    fn of(h: &Histogram, rate_pps: f64) -> Latency {
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            p50_us: us(h.percentile(0.5)),
            p90_us: us(h.percentile(0.9)),
            p99_us: us(h.percentile(0.99)),
            p999_us: us(h.percentile(0.999)),
            max_us: us(h.max()),
            samples: h.count(),
            at_mpps: rate_pps / 1e6,
        }
    }
}

/// What a row measured.
#[derive(Debug, Clone)]
pub struct Row {
    /// The main trial (as fast as possible, or at the fixed rate).
    pub main: TrialResult,
    /// The searched rate (NDR or PDR), frames per second, if searched
    /// and found.
    pub searched_pps: Option<f64>,
    /// Trials the search took.
    pub search_trials: usize,
    pub latency: Option<Latency>,
    /// The latency trial's histogram (for plots).
    pub latency_hist: Option<Histogram>,
}

/// Numbers trials so that each has its own marker.
#[derive(Debug, Default)]
pub struct TrialCounter(u8);

impl TrialCounter {
    pub fn advance(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// Measures one row from `tx` to `rx`; `note` is told what runs (for a
/// progress bar).
pub fn measure_row(
    tx: &mut Endpoint,
    rx: &mut Endpoint,
    builder: &mut FrameBuilder,
    cfg: &MeasureConfig,
    counter: &mut TrialCounter,
    note: &mut dyn FnMut(&str),
) -> Result<Row> {
    let mut run = |rate: Option<f64>, secs: Duration, latency: bool, count: Option<u64>| {
        let t = counter.advance();
        trial::run(
            tx,
            rx,
            builder,
            t,
            &TrialConfig {
                rate_pps: rate,
                duration: secs,
                count,
                latency,
            },
        )
    };
    if !cfg.warmup.is_zero() {
        note("warm-up");
        run(None, cfg.warmup, false, None)?;
    }
    let main = match cfg.rate {
        Some(Rate::Pps(r)) => {
            note("fixed rate");
            run(Some(r), cfg.trial, true, cfg.count)?
        }
        Some(Rate::OfMax(share)) => {
            note("maximum rate");
            let max = run(None, cfg.trial, false, None)?;
            note("share of the maximum");
            run(Some(max.rx_pps() * share), cfg.trial, true, cfg.count)?
        }
        None => {
            note("maximum rate");
            run(None, cfg.trial, true, cfg.count)?
        }
    };
    let mut searched = None;
    let mut search_trials = 0;
    if let Some(loss) = cfg.search_loss {
        let max_rate = main.tx_pps().max(1000.0);
        let sc = SearchConfig {
            max_rate,
            min_rate: (max_rate / 1000.0).max(1000.0),
            loss_ratio: loss,
            precision: cfg.precision,
            max_trials: cfg.max_trials,
        };
        let r = search::search(&sc, |rate| {
            note(&format!("search: {:.3} Mpps", rate / 1e6));
            let t = run(Some(rate), cfg.trial, false, None)?;
            Ok(Outcome {
                rate,
                sent: t.sent,
                lost: t.lost,
            })
        })?;
        search_trials = r.trials.len();
        if r.found {
            searched = Some(r.rate);
        }
    }
    let mut latency = None;
    let mut latency_hist = None;
    if cfg.latency_load > 0.0 {
        let base = searched.unwrap_or_else(|| main.rx_pps());
        let rate = (base * cfg.latency_load).max(1000.0);
        note(&format!("latency at {:.3} Mpps", rate / 1e6));
        let t = run(Some(rate), cfg.trial, true, None)?;
        latency = Some(Latency::of(&t.latency, rate));
        latency_hist = Some(t.latency);
    }
    Ok(Row {
        main,
        searched_pps: searched,
        search_trials,
        latency,
        latency_hist,
    })
}

/// `v` with `prec` decimals, or "-" when there is none (table cells).
pub fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.prec$}"))
}

/// The host's CPU clock from /proc/cpuinfo (`cpu MHz`), to turn busy
/// nanoseconds into cycles; `None` where it does not say.
pub fn cpu_ghz() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|mhz| mhz / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units_and_percentages() {
        assert_eq!(Rate::parse("2.5Mpps"), Ok(Rate::Pps(2.5e6)));
        assert_eq!(Rate::parse("800kpps"), Ok(Rate::Pps(8e5)));
        assert_eq!(Rate::parse("1000"), Ok(Rate::Pps(1000.0)));
        assert_eq!(Rate::parse("50%"), Ok(Rate::OfMax(0.5)));
        assert!(Rate::parse("0").is_err());
        assert!(Rate::parse("150%").unwrap_err().contains("(0, 100]"));
        assert!(Rate::parse("fast").unwrap_err().contains("not like"));
    }
}
