//! Latency recording (HDR histograms) and the figures reported from them.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Largest latency recorded without saturating: 60 s, in microseconds.
const MAX_MICROS: u64 = 60_000_000;

/// A latency histogram in microseconds (3 significant digits).
///
/// ```
/// use std::time::Duration;
/// use webex_bench::stats::Latencies;
///
/// let mut l = Latencies::new();
/// l.record(Duration::from_micros(1500));
/// l.record(Duration::from_micros(2500));
/// let s = l.summary();
/// assert_eq!(s.count, 2);
/// assert!(s.p50_ms >= 1.49 && s.p50_ms <= 1.51);
/// ```
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Self {
        // 1 µs .. 60 s at 3 significant digits: valid bounds, cannot fail.
        match Histogram::new_with_bounds(1, MAX_MICROS, 3) {
            Ok(h) => Self(h),
            Err(_) => unreachable!("constant histogram bounds are valid"),
        }
    }

    /// Records one latency (saturating at 60 s).
    pub fn record(&mut self, d: Duration) {
        self.record_micros(u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS));
    }

    /// Records one latency given in microseconds (saturating at 60 s).
    pub fn record_micros(&mut self, micros: u64) {
        self.0.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Percentiles in milliseconds.
    pub fn summary(&self) -> Summary {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Summary {
            count: self.0.len(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest value.
    pub max_ms: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms (n={})",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms, self.count
        )
    }
}

/// The median of `values` (`0.0` when empty): how figures from several runs
/// are combined.
///
/// ```
/// assert_eq!(webex_bench::stats::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(webex_bench::stats::median(&[1.0, 2.0]), 1.5);
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.len(), 2);
        assert!(a.summary().max_ms >= 2.9);
    }

    #[test]
    fn huge_values_saturate() {
        let mut a = Latencies::new();
        a.record(Duration::from_secs(3600));
        assert_eq!(a.len(), 1);
    }
}
