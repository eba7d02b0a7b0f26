//! Latencies of requests to a server, kept as a histogram with eight buckets per power of two (within 12.5% of
//! the true value), so that millions of requests cost a few kilobytes per worker.

use std::time::Duration;

/// Buckets: eight per power of two of nanoseconds, up to 2^64.
const BUCKETS: usize = 64 * 8;

/// A histogram of durations: record each, merge the workers', read quantiles. Its buckets (4 KiB) are made at
/// the first request, not before: a client measured before the start (the run's memory snapshot) holds none of
/// the instrument's own memory.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    counts: Option<Box<[u64; BUCKETS]>>,
    total: u64,
    max_ns: u64,
}

fn bucket_of(ns: u64) -> usize {
    if ns < 8 {
        return ns as usize;
    }
    let exponent = 63 - ns.leading_zeros() as usize;
    let mantissa = ((ns >> (exponent - 3)) & 7) as usize;
    (exponent - 2) * 8 + mantissa
}

/// The smallest value of a bucket.
fn low_of(bucket: usize) -> u64 {
    if bucket < 8 {
        return bucket as u64;
    }
    let (exponent, mantissa) = (bucket / 8 + 2, (bucket % 8) as u64);
    (8 + mantissa) << (exponent - 3)
}

impl Latencies {
    /// Records one request's latency.
    pub fn record(&mut self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts.get_or_insert_with(|| Box::new([0; BUCKETS]))[bucket_of(ns)] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds another worker's latencies to these.
    pub fn merge(&mut self, other: &Latencies) {
        if let Some(theirs) = &other.counts {
            let ours = self.counts.get_or_insert_with(|| Box::new([0; BUCKETS]));
            for (count, more) in ours.iter_mut().zip(theirs.iter()) {
                *count += more;
            }
        }
        self.total += other.total;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0 to 1), microseconds: the middle of its bucket.
    pub fn quantile_us(&self, q: f64) -> f64 {
        let Some(counts) = self.counts.as_ref().filter(|_| self.total > 0) else { return 0.0 };
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = (low_of(bucket), low_of(bucket + 1).min(self.max_ns.max(low_of(bucket))));
                return (low + high) as f64 / 2.0 / 1000.0;
            }
        }
        self.max_us()
    }

    /// The slowest, microseconds.
    pub fn max_us(&self) -> f64 {
        self.max_ns as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_within_an_eighth_of_their_values() {
        for ns in [1, 7, 8, 9, 15, 16, 100, 1_000, 123_456, 10_000_000_000] {
            let bucket = bucket_of(ns);
            assert!(low_of(bucket) <= ns && ns < low_of(bucket + 1), "{ns}: bucket {bucket}");
            assert!((low_of(bucket + 1) - low_of(bucket)) as f64 <= ns as f64 / 8.0 + 1.0, "{ns}");
        }
    }

    #[test]
    fn quantiles_come_from_the_recorded_values() {
        let mut latencies = Latencies::default();
        for micros in 1..=100 {
            latencies.record(Duration::from_micros(micros));
        }
        let median = latencies.quantile_us(0.5);
        assert!((44.0..=56.0).contains(&median), "{median}");
        let p99 = latencies.quantile_us(0.99);
        assert!((87.0..=100.0).contains(&p99), "{p99}");
        assert!((latencies.max_us() - 100.0).abs() < 0.01);
        let mut merged = Latencies::default();
        merged.merge(&latencies);
        merged.merge(&latencies);
        assert_eq!(merged.count(), 200);
    }
}
