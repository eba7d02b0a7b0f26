//! Statistics over repeated runs, as hyperfine prints them: mean ± σ, median, min … max.

use serde::Serialize;

/// Statistics of one figure over the repeats of a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one run).
    pub stddev: f64,
    /// Median.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
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
        let median = if n % 2 == 1 { sorted[n / 2] } else { f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]) };
        Stats { mean, stddev, median, min: sorted[0], max: sorted[n - 1] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_a_few_values() {
        let stats = Stats::of(&[3.0, 1.0, 2.0, 10.0]);
        assert!((stats.mean - 4.0).abs() < 1e-12);
        assert!((stats.median - 2.5).abs() < 1e-12);
        assert!((stats.min - 1.0).abs() < 1e-12 && (stats.max - 10.0).abs() < 1e-12);
        assert!((stats.stddev - 4.0826).abs() < 1e-3);
        assert_eq!(Stats::of(&[]), Stats::default());
        assert!(Stats::of(&[5.0]).stddev.abs() < 1e-12);
    }
}
