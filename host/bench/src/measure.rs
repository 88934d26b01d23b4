//! Timing samples, percentiles and the process's memory.

use std::time::{Duration, Instant};

/// Wall-clock now; the harness measures real time.
#[allow(clippy::disallowed_methods, reason = "the harness measures wall time")]
pub fn now() -> Instant {
    Instant::now()
}

/// Latency samples.
#[derive(Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Record one sample.
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    /// The `p`th percentile (0–100), in microseconds.
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort();
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e6
    }

    /// The median, in microseconds.
    pub fn p50_us(&self) -> f64 {
        self.percentile_us(50.0)
    }
}

/// Time `f` once.
pub async fn time<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let start = now();
    let out = f.await;
    (out, start.elapsed())
}

/// The process's resident set size and its peak, in bytes (Linux).
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
