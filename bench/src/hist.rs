//! A latency histogram in the manner of HdrHistogram: log-linear buckets
//! with a fixed relative precision, so a microsecond and a second are both
//! recorded to within about 3 % in a fixed 16 KiB table, and recording is
//! one shift and one add (no allocation on the packet path).
//!
//! Values are nanoseconds (`u64`). Values below 64 have a bucket each;
//! above, each power of two is split into 32 equal buckets. A percentile
//! is reported as the upper edge of the bucket it falls in (never below
//! the true value, at most one bucket width above it), capped at the
//! largest value recorded.

/// Sub-buckets per power of two (5 bits: about 3 % precision).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for every `u64`.
const BUCKETS: usize = 64 * SUB as usize;

/// A histogram of nanosecond values.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The bucket of `v`.
#[inline]
fn index(v: u64) -> usize {
    let bits = 64 - v.leading_zeros();
    if bits <= SUB_BITS + 1 {
        return v as usize;
    }
    let shift = bits - (SUB_BITS + 1);
    (u64::from(shift) * SUB + (v >> shift)) as usize
}

/// The smallest value of bucket `i`, and its width.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * SUB {
        return (i, 1);
    }
    let shift = i / SUB - 1;
    let m = i % SUB + SUB;
    (m << shift, 1 << shift)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.record_n(ns, 1);
    }

    /// Records `n` occurrences of a value.
    #[inline]
    pub fn record_n(&mut self, ns: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.counts[index(ns)] += n;
        self.count += n;
        self.sum += u128::from(ns) * u128::from(n);
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// The largest value recorded (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at or below which a share `q` (0 to 1) of the values lie:
    /// the upper edge of its bucket, at most [`Histogram::max`]. 0 when
    /// empty.
    pub fn percentile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        if q == 0.0 {
            return self.min;
        }
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, width) = bucket_range(i);
                return (lo + width - 1).min(self.max).max(self.min);
            }
        }
        self.max
    }

    /// The distribution as (value, share of values at or below it) points,
    /// one per non-empty bucket, for plotting a CDF.
    pub fn cdf(&self) -> Vec<(u64, f64)> {
        let mut out = Vec::new();
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            seen += c;
            let (lo, width) = bucket_range(i);
            out.push((
                (lo + width - 1).min(self.max),
                seen as f64 / self.count as f64,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 1, u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i < BUCKETS);
            assert!(i >= last || v < 5000, "monotonic");
            let (lo, w) = bucket_range(i);
            assert!(lo <= v && v - lo < w, "{v} in bucket {i} = [{lo}, +{w})");
            last = i;
        }
    }

    #[test]
    fn precision_is_about_three_percent() {
        for v in [100u64, 1_000, 12_345, 1_000_000, 987_654_321] {
            let (_, w) = bucket_range(index(v));
            assert!(
                (w as f64) / (v as f64) <= 1.0 / 32.0 + 1e-9,
                "{v}: width {w}"
            );
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000); // 1 µs .. 10 ms, uniform
        }
        assert_eq!(h.count(), 10_000);
        for (q, want) in [(0.5, 5_000_000.0), (0.9, 9_000_000.0), (0.99, 9_900_000.0)] {
            let got = h.percentile(q) as f64;
            assert!(got >= want && got <= want * 1.032, "p{q}: {got} vs {want}");
        }
        assert_eq!(h.percentile(1.0), 10_000_000);
        assert_eq!(h.percentile(0.0), 1000);
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.min(), 1000);
        assert!((h.mean() - 5_000_500.0).abs() < 1.0);
    }

    #[test]
    fn merge_adds_and_empty_is_zero() {
        let e = Histogram::new();
        assert_eq!(
            (e.percentile(0.99), e.min(), e.max(), e.mean()),
            (0, 0, 0, 0.0)
        );
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record_n(10, 3);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        assert_eq!(a.percentile(0.75), 10);
        assert_eq!(a.max(), 1_000_000);
        let cdf = a.cdf();
        assert_eq!(cdf.len(), 2);
        assert_eq!(cdf[1].1, 1.0);
    }
}
