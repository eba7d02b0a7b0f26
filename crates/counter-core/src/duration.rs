//! Human durations such as `10ms`, `250us` or `1s`, parsed and printed the same way everywhere.

use std::time::Duration;

/// A duration that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration '{value}': {reason}")]
pub struct DurationError {
    /// The text as given.
    pub value: String,
    /// Why it was refused, with what is allowed.
    pub reason: String,
}

/// Refuses text with white space in it: every value is written without spaces (`sleep:10ms`, `30s`, `5`), so
/// `sleep: 10ms` and `sleep:10 ms` are refused alike.
pub fn no_spaces(text: &str) -> Result<(), String> {
    if text.chars().any(char::is_whitespace) {
        Err("it contains white space; write values without spaces, as in sleep:10ms".to_owned())
    } else {
        Ok(())
    }
}

/// The units a duration may carry, smallest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// The longest duration any value may have, in words: what a 64-bit count of nanoseconds holds.
pub const MAX_DESCRIBED: &str = "about 584 years (2^64 nanoseconds)";

/// The units, as a user reads them in an error message.
pub const ALLOWED_UNITS: &str = "ns, us, ms, s, m, h";

/// Parses a whole number followed by a unit: `10ms`, `250us`, `1s`, `0ns`.
///
/// A duration must name its unit: a bare `10` is ambiguous (seconds? milliseconds?), so it is refused.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    duration_or_reason(text).map_err(|reason| DurationError { value: text.to_owned(), reason })
}

/// [`parse_duration`], with only the reason when it fails: for callers that name the value themselves.
pub fn duration_or_reason(text: &str) -> Result<Duration, String> {
    let bad = |reason: String| reason;
    if text.is_empty() {
        return Err(bad("it is empty".into()));
    }
    no_spaces(text)?;
    if text.starts_with('-') {
        return Err(bad("durations cannot be negative".into()));
    }
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(bad("it must start with a whole number".into()));
    }
    if unit.is_empty() {
        return Err(bad(format!("it has no unit (allowed: {ALLOWED_UNITS})")));
    }
    let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(bad(format!("unknown unit '{unit}' (allowed: {ALLOWED_UNITS})")));
    };
    let number: u128 = digits.parse().map_err(|_| bad("the number is too large".into()))?;
    let nanos = number
        .checked_mul(unit_nanos)
        .filter(|n| *n <= u128::from(u64::MAX))
        .ok_or_else(|| bad(format!("it is longer than {MAX_DESCRIBED}")))?;
    Ok(Duration::from_nanos(nanos as u64))
}

/// Prints a duration in the largest unit that keeps it a whole number: `10ms`, `250us`, `1s`.
///
/// The inverse of [`parse_duration`]: `parse_duration(&format_duration(d)) == Ok(d)`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let (name, unit_nanos) = UNITS
        .iter()
        .rev()
        .find(|(_, unit)| nanos.is_multiple_of(*unit) && nanos != 0)
        .copied()
        .unwrap_or(("ms", 1_000_000));
    format!("{}{name}", nanos / unit_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_bad_text_naming_it() {
        for bad in ["", "-1ms", "10", "ms", "10xs", "1.5s", "99999999999999999999999h", " 10ms", "10 ms"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
        assert!(parse_duration("10xs").unwrap_err().to_string().contains(ALLOWED_UNITS));
    }

    #[test]
    fn format_round_trips() {
        for text in ["10ms", "250us", "1s", "7ns", "2m", "1h", "1500ms"] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(format_duration(Duration::ZERO), "0ms");
    }
}
