//! RFC 2544 throughput search: the highest offered rate whose trial loses
//! no more than a set share of the frames — 0 for the *non-drop rate*
//! (NDR), a small share (0.5 % by default) for the *partial-drop rate*
//! (PDR).
//!
//! The method follows FD.io CSIT's MLRsearch in its outline, in one
//! phase: a first trial at the maximum rate; if it loses, a second at the
//! rate it *forwarded* (a good guess, as a switch forwards about its
//! capacity when overloaded); then bisection between the highest rate
//! that passed and the lowest that failed until the interval is narrower
//! than `precision` of its upper end; every trial the same length; last a
//! verification trial at the result, and if that one fails the search
//! goes on below it (a result is only ever a rate that passed twice or
//! was never contradicted).
//!
//! The search is generic over the trial (a closure from rate to
//! [`Outcome`]), so it runs the same against a switch or against a
//! synthetic sink in a test.

use anyhow::Result;

/// What the search needs to know of one trial.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The rate offered, frames per second.
    pub rate: f64,
    pub sent: u64,
    pub lost: u64,
}

impl Outcome {
    fn passes(&self, loss_ratio: f64) -> bool {
        if self.sent == 0 {
            return false;
        }
        self.lost as f64 <= loss_ratio * self.sent as f64
    }

    fn forwarded_rate(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.rate * (self.sent - self.lost.min(self.sent)) as f64 / self.sent as f64
        }
    }
}

/// How to search.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// The highest rate to try (the measured maximum, for one).
    pub max_rate: f64,
    /// Below this the search gives up and reports it (a rate that low is
    /// not worth resolving).
    pub min_rate: f64,
    /// Loss allowed: 0 for NDR.
    pub loss_ratio: f64,
    /// Stop when (hi - lo) / hi is below this.
    pub precision: f64,
    /// At most this many trials, verification included.
    pub max_trials: usize,
}

/// The result.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// The highest rate that passed (`min_rate` when none did, with
    /// `found` false).
    pub rate: f64,
    pub found: bool,
    /// Every trial, in order.
    pub trials: Vec<Outcome>,
}

/// Searches with `trial`, which offers a rate and reports the outcome.
pub fn search(
    cfg: &SearchConfig,
    mut trial: impl FnMut(f64) -> Result<Outcome>,
) -> Result<SearchResult> {
    let mut trials = Vec::new();
    let mut run = |rate: f64, trials: &mut Vec<Outcome>| -> Result<Outcome> {
        let o = trial(rate)?;
        trials.push(o);
        Ok(o)
    };
    let max = cfg.max_rate.max(cfg.min_rate);
    let first = run(max, &mut trials)?;
    if first.passes(cfg.loss_ratio) {
        return Ok(SearchResult {
            rate: max,
            found: true,
            trials,
        });
    }
    let mut hi = max;
    let mut lo: Option<f64> = None;
    let forwarded = first.forwarded_rate();
    let guess = (forwarded * 0.99).clamp(cfg.min_rate, hi);
    let mut next = guess;
    // Once the guess passed, probe just above the forwarded rate before
    // bisecting: an overloaded switch forwards about its capacity, so the
    // interval usually shrinks to 2 % in two trials.
    let mut probe = Some((forwarded * 1.01).min(hi));
    loop {
        if trials.len() + 1 >= cfg.max_trials {
            break;
        }
        if next <= cfg.min_rate * 1.000_001 && lo.is_none() {
            // Even the floor: try it once.
            let o = run(cfg.min_rate, &mut trials)?;
            if o.passes(cfg.loss_ratio) {
                lo = Some(cfg.min_rate);
            } else {
                return Ok(SearchResult {
                    rate: cfg.min_rate,
                    found: false,
                    trials,
                });
            }
        } else {
            let o = run(next, &mut trials)?;
            if o.passes(cfg.loss_ratio) {
                lo = Some(next);
            } else {
                hi = next;
            }
        }
        let l = lo.unwrap_or(cfg.min_rate);
        if (hi - l) / hi <= cfg.precision && lo.is_some() {
            // Verify the result once more.
            let v = run(l, &mut trials)?;
            if v.passes(cfg.loss_ratio) {
                return Ok(SearchResult {
                    rate: l,
                    found: true,
                    trials,
                });
            }
            hi = l;
            lo = None;
            next = (l * (1.0 - 2.0 * cfg.precision)).max(cfg.min_rate);
            continue;
        }
        next = match lo {
            Some(l) => match probe.take() {
                Some(p) if p > l && p < hi => p,
                _ => (l + hi) / 2.0,
            },
            // Nothing passed yet: halve.
            None => (hi / 2.0).max(cfg.min_rate),
        };
    }
    Ok(SearchResult {
        rate: lo.unwrap_or(cfg.min_rate),
        found: lo.is_some(),
        trials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that forwards up to `cap` frames per second and drops the
    /// rest, trials of one second.
    fn sink(cap: f64) -> impl FnMut(f64) -> Result<Outcome> {
        move |rate| {
            let sent = rate as u64;
            let lost = (rate - cap).max(0.0) as u64;
            Ok(Outcome { rate, sent, lost })
        }
    }

    fn cfg(max: f64, loss: f64) -> SearchConfig {
        SearchConfig {
            max_rate: max,
            min_rate: 1000.0,
            loss_ratio: loss,
            precision: 0.01,
            max_trials: 30,
        }
    }

    #[test]
    fn ndr_converges_on_the_sinks_capacity() {
        for cap in [1e5, 2.5e6, 9.9e6] {
            let r = search(&cfg(10e6, 0.0), sink(cap)).unwrap();
            assert!(r.found);
            assert!(r.rate <= cap, "{} above {cap}", r.rate);
            assert!(r.rate >= cap * 0.99, "{} too far below {cap}", r.rate);
            assert!(r.trials.len() <= 12, "{} trials", r.trials.len());
        }
    }

    #[test]
    fn a_rate_the_sink_takes_is_found_in_one_trial() {
        let r = search(&cfg(1e6, 0.0), sink(2e6)).unwrap();
        assert_eq!((r.rate, r.found, r.trials.len()), (1e6, true, 1));
    }

    #[test]
    fn pdr_allows_its_share_of_loss() {
        // 0.5 % loss allowed: the sink may be offered up to cap / 0.995.
        let cap = 1e6;
        let r = search(&cfg(10e6, 0.005), sink(cap)).unwrap();
        let top = cap / 0.995;
        assert!(r.rate >= top * 0.99 && r.rate <= top + 1.0, "{}", r.rate);
        assert!(
            r.rate > cap * 0.999,
            "{}: loss allowed lifts the rate",
            r.rate
        );
    }

    #[test]
    fn a_failed_verification_moves_the_result_down() {
        // A sink that passes a rate the first time and fails it the second
        // (a noisy machine): the result must be a rate that passed last.
        let mut seen = std::collections::HashMap::new();
        let r = search(&cfg(1e6, 0.0), |rate| {
            let n = seen.entry(rate.to_bits()).or_insert(0);
            *n += 1;
            let cap = if *n > 1 { 4e5 } else { 5e5 };
            let lost = (rate - cap).max(0.0) as u64;
            Ok(Outcome {
                rate,
                sent: rate as u64,
                lost,
            })
        })
        .unwrap();
        assert!(r.rate <= 5e5);
        let last = r.trials.last().unwrap();
        assert_eq!(last.lost, 0, "the search ends on a passing trial");
    }

    #[test]
    fn nothing_passing_reports_the_floor_as_not_found() {
        let r = search(&cfg(1e6, 0.0), |rate| {
            Ok(Outcome {
                rate,
                sent: 100,
                lost: 1,
            })
        })
        .unwrap();
        assert!(!r.found);
        assert_eq!(r.rate, 1000.0);
    }

    #[test]
    fn the_trial_budget_is_kept() {
        let mut c = cfg(1e7, 0.0);
        c.max_trials = 4;
        c.precision = 1e-9;
        let mut n = 0;
        let r = search(&c, |rate| {
            n += 1;
            sink(3e6)(rate)
        })
        .unwrap();
        assert!(n <= 4, "{n} trials");
        assert!(r.rate <= 3e6);
    }
}
