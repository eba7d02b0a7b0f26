//! Property tests of the parsers: whatever the text, they answer with a value or an error that names it.

use std::time::Duration;

use counter_core::{
    config::{Work, parse_count},
    duration::{format_duration, parse_duration},
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn durations_round_trip(number in 0u64..1_000_000, unit in prop::sample::select(vec!["ns", "us", "ms", "s", "m", "h"])) {
        let text = format!("{number}{unit}");
        let duration = parse_duration(&text).unwrap();
        prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
    }

    #[test]
    fn any_text_is_a_duration_or_an_error_naming_it(text in any::<String>()) {
        if let Err(error) = parse_duration(&text) {
            let quoted = format!("'{text}'");
            prop_assert!(error.to_string().contains(&quoted));
        }
    }

    #[test]
    fn any_text_is_work_or_an_error_naming_it(text in "[a-z:0-9-]{0,14}") {
        match text.parse::<Work>() {
            Ok(work) => prop_assert_eq!(work.to_string().parse::<Work>(), Ok(work)),
            Err(error) => {
                let message = error.to_string();
                let quoted = format!("'{text}'");
                prop_assert!(message.contains(&quoted) && message.contains(Work::ALLOWED), "{}", message);
            }
        }
    }

    #[test]
    fn every_positive_number_is_a_count(count in 1u64..) {
        prop_assert_eq!(parse_count("workers", &count.to_string()), Ok(count));
    }

    #[test]
    fn text_with_anything_but_digits_is_not_a_count(text in ".*[^0-9].*") {
        let message = parse_count("workers", &text).unwrap_err().to_string();
        let quoted = format!("'{text}'");
        prop_assert!(message.contains(&quoted) && message.contains("from 1 to"), "{}", message);
    }

    #[test]
    fn zero_is_not_a_count_however_written(zeros in 1usize..20) {
        prop_assert!(parse_count("workers", &"0".repeat(zeros)).is_err());
    }

    #[test]
    fn sleep_work_keeps_its_duration(millis in 0u64..100_000) {
        let work: Work = format!("sleep:{millis}ms").parse().unwrap();
        prop_assert_eq!(work.nominal(), Duration::from_millis(millis));
    }
}
