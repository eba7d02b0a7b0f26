//! How figures are written for people: sizes, durations, counts with their noun. The binaries and `cargo
//! xtask` print through these, so a figure reads the same wherever it appears.

use std::fmt::Write as _;

/// KiB for people: `812 KiB`, `2.1 MiB`, `1.37 GiB`; below 1 KiB in bytes (`420 B`). Negative values keep their
/// sign, so a difference can be printed too.
pub fn kib(kib: f64) -> String {
    let sign = if kib < 0.0 { "-" } else { "" };
    let size = kib.abs();
    if size >= 1024.0 * 1024.0 {
        format!("{sign}{:.2} GiB", size / (1024.0 * 1024.0))
    } else if size >= 1024.0 {
        format!("{sign}{:.1} MiB", size / 1024.0)
    } else if size >= 1.0 {
        let decimals = usize::from(size < 100.0 && size.fract() != 0.0);
        format!("{sign}{size:.decimals$} KiB")
    } else {
        format!("{sign}{:.0} B", size * 1024.0)
    }
}

/// Whole KiB for people.
pub fn whole_kib(value: u64) -> String {
    kib(value as f64)
}

/// Bytes for people: `4096 B`, `64.0 KiB`, `2.0 MiB`.
pub fn bytes(bytes: u64) -> String {
    if bytes < 1024 { format!("{bytes} B") } else { kib(bytes as f64 / 1024.0) }
}

/// Seconds for people, with a unit that suits them: `10.153 s`, `12.40 ms`, `850.0 us`, `75 ns`.
pub fn seconds(seconds: f64) -> String {
    let size = seconds.abs();
    if size >= 1.0 {
        format!("{seconds:.3} s")
    } else if size >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else if size >= 1e-6 {
        format!("{:.1} us", seconds * 1e6)
    } else {
        format!("{:.0} ns", seconds * 1e9)
    }
}

/// `1 round`, `3 rounds`: a count with its noun, in the singular for one.
pub fn count(count: u64, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
}

/// Up to `limit` ids, then how many more there are.
pub fn id_list(ids: &[i64], limit: usize) -> String {
    let mut text = ids.iter().take(limit).map(ToString::to_string).collect::<Vec<_>>().join(" ");
    if ids.len() > limit {
        let _ = write!(text, " ... and {} more", ids.len() - limit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(kib(812.0), "812 KiB");
        assert_eq!(kib(9.7), "9.7 KiB");
        assert_eq!(kib(2150.0), "2.1 MiB");
        assert_eq!(kib(3.0 * 1024.0 * 1024.0), "3.00 GiB");
        assert_eq!(kib(0.5), "512 B");
        assert_eq!(kib(-2.5), "-2.5 KiB");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(100), "100 B");
    }

    #[test]
    fn durations_and_counts() {
        assert_eq!(seconds(10.1534), "10.153 s");
        assert_eq!(seconds(0.0124), "12.40 ms");
        assert_eq!(seconds(0.000_85), "850.0 us");
        assert_eq!(seconds(7.5e-8), "75 ns");
        assert_eq!(count(1, "round", "rounds"), "1 round");
        assert_eq!(count(0, "round", "rounds"), "0 rounds");
        assert_eq!(id_list(&[1, 2, 3], 2), "1 2 ... and 1 more");
    }
}
