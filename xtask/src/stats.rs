//! Statistics over repeated runs that know their noise: the median with a confidence interval from order
//! statistics (no assumption about the distribution, which for timings on a shared machine is skewed and
//! often bimodal), min … max, mean ± σ, and the outliers.
//!
//! The interval of the median is `[x(k), x(n+1-k)]` of the sorted runs, for the largest `k` whose coverage,
//! `1 - 2 P(Binomial(n, 1/2) < k)`, is at least 95%. Below 6 runs no such `k` exists; the interval is then
//! `min … max` and its coverage is said as it is (75% for 3 runs, 94% for 5).

use serde::{Deserialize, Serialize};

/// The coverage the interval aims for.
pub const TARGET_LEVEL: f64 = 0.95;

/// Statistics of one figure over the runs of a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Runs.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Low end of the median's confidence interval.
    pub ci_low: f64,
    /// High end of the median's confidence interval.
    pub ci_high: f64,
    /// The interval's coverage: at least 0.95 from 6 runs on.
    pub ci_level: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one run).
    pub stddev: f64,
    /// Runs outside Tukey's fences (1.5 interquartile ranges beyond the quartiles).
    pub outliers: usize,
}

/// `P(Binomial(n, 1/2) <= k)`.
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    let mut term = 0.5_f64.powi(n as i32); // P(X = 0)
    let mut sum = term;
    for i in 1..=k.min(n) {
        term *= (n + 1 - i) as f64 / i as f64;
        sum += term;
    }
    sum
}

/// The value at fraction `q` of the sorted values, interpolated between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

impl Stats {
    /// Statistics of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Stats {
        if values.is_empty() {
            return Stats::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let stddev =
            if n > 1 { (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        // The largest k (1-based) whose interval [x(k), x(n+1-k)] covers the median with the target level.
        let mut k = 1;
        while k < n.div_ceil(2) && 1.0 - 2.0 * binomial_half_cdf(n, k) >= TARGET_LEVEL {
            k += 1;
        }
        let ci_level = if n == 1 { 0.0 } else { 1.0 - 2.0 * binomial_half_cdf(n, k - 1) };
        let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));
        let fence = 1.5 * (q3 - q1);
        Stats {
            n,
            median: quantile(&sorted, 0.5),
            ci_low: sorted[k - 1],
            ci_high: sorted[n - k],
            ci_level,
            min: sorted[0],
            max: sorted[n - 1],
            mean,
            stddev,
            outliers: sorted.iter().filter(|v| **v < q1 - fence || **v > q3 + fence).count(),
        }
    }

    /// Half the interval's width, as a fraction of the median.
    pub fn relative_half_width(&self) -> f64 {
        if self.median == 0.0 { 0.0 } else { (self.ci_high - self.ci_low) / 2.0 / self.median.abs() }
    }

    /// Whether the two intervals share any value: then the two rows cannot be told apart.
    pub fn overlaps(&self, other: &Stats) -> bool {
        self.ci_low <= other.ci_high && other.ci_low <= self.ci_high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_median_and_spread_of_a_few_values() {
        let stats = Stats::of(&[3.0, 1.0, 2.0, 10.0]);
        assert!(close(stats.mean, 4.0) && close(stats.median, 2.5));
        assert!(close(stats.min, 1.0) && close(stats.max, 10.0));
        assert!((stats.stddev - 4.0826).abs() < 1e-3);
        assert_eq!(Stats::of(&[]), Stats::default());
        assert!(Stats::of(&[5.0]).stddev.abs() < 1e-12);
    }

    #[test]
    fn few_runs_give_min_to_max_with_the_coverage_they_have() {
        // 3 runs: the median lies between the smallest and the largest with probability 1 - 2/8.
        let three = Stats::of(&[3.0, 1.0, 2.0]);
        assert!(close(three.ci_low, 1.0) && close(three.ci_high, 3.0) && close(three.ci_level, 0.75));
        let five = Stats::of(&[5.0, 1.0, 4.0, 2.0, 3.0]);
        assert!(close(five.ci_level, 1.0 - 2.0 / 32.0));
    }

    #[test]
    fn from_six_runs_the_interval_covers_95_percent_and_narrows_with_more() {
        let six = Stats::of(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(close(six.ci_low, 1.0) && close(six.ci_high, 6.0));
        assert!(close(six.ci_level, 1.0 - 2.0 / 64.0));
        // 10 runs: [x(2), x(9)], coverage 1 - 2 * 11/1024.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let ten = Stats::of(&ten);
        assert!(close(ten.ci_low, 2.0) && close(ten.ci_high, 9.0), "{ten:?}");
        assert!(close(ten.ci_level, 1.0 - 22.0 / 1024.0));
        assert!(ten.ci_level >= TARGET_LEVEL);
        // 30 runs: [x(10), x(21)], the textbook interval.
        let thirty: Vec<f64> = (1..=30).map(f64::from).collect();
        let thirty = Stats::of(&thirty);
        assert!(close(thirty.ci_low, 10.0) && close(thirty.ci_high, 21.0), "{thirty:?}");
    }

    #[test]
    fn overlap_and_width() {
        let fast = Stats::of(&[1.0, 1.1, 1.2, 1.0, 1.1, 1.2]);
        let slow = Stats::of(&[2.0, 2.1, 2.2, 2.0, 2.1, 2.2]);
        let near = Stats::of(&[1.15, 1.3, 1.25, 1.2, 1.3, 1.25]);
        assert!(!fast.overlaps(&slow) && !slow.overlaps(&fast));
        assert!(fast.overlaps(&near) && near.overlaps(&fast));
        assert!((fast.relative_half_width() - 0.1 / 1.1).abs() < 1e-9);
    }

    #[test]
    fn a_far_value_is_an_outlier() {
        assert_eq!(Stats::of(&[1.0, 1.1, 0.9, 1.0, 1.05, 9.0]).outliers, 1);
        assert_eq!(Stats::of(&[1.0, 1.1, 0.9, 1.0, 1.05, 0.95]).outliers, 0);
    }
}
