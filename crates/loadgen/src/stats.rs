//! Latency summaries: mean and nearest-rank percentiles over per-request latencies.

use serde::Serialize;

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

impl LatencySummary {
    /// Summarizes latencies given in microseconds (sorts the slice). All zeros when empty.
    pub fn from_micros(samples: &mut [u32]) -> LatencySummary {
        samples.sort_unstable();
        let ms = |us: u32| f64::from(us) / 1000.0;
        if samples.is_empty() {
            return LatencySummary {
                count: 0,
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                max: 0.0,
            };
        }
        let sum: u64 = samples.iter().map(|&v| u64::from(v)).sum();
        LatencySummary {
            count: samples.len(),
            mean: sum as f64 / samples.len() as f64 / 1000.0,
            p50: ms(percentile(samples, 50.0)),
            p90: ms(percentile(samples, 90.0)),
            p99: ms(percentile(samples, 99.0)),
            max: ms(samples[samples.len() - 1]),
        }
    }
}

/// Nearest-rank percentile `p` (0-100] of sorted, non-empty `sorted`.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
