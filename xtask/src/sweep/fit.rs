//! Least-squares lines: what one more worker costs.

/// Slope and intercept of the least-squares line through `points` (x, y).
pub fn line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    Some((slope, mean_y - slope * mean_x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_line() {
        let (slope, intercept) = line(&[(1.0, 12.0), (10.0, 30.0), (100.0, 210.0)]).unwrap();
        assert!((slope - 2.0).abs() < 1e-9 && (intercept - 10.0).abs() < 1e-9);
        assert!(line(&[(1.0, 1.0)]).is_none());
        assert!(line(&[(3.0, 1.0), (3.0, 2.0)]).is_none());
    }
}
