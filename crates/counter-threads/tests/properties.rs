//! Property tests of the counter's invariants on real threads: for any small valid workload, the final value
//! plus the lost updates is the expected value, the safe strategies are exact, and racy never exceeds it.

use counter_core::config::{Config, Jobs, Pool, Sync, Timer, Window, Work};
use proptest::prelude::*;

fn workloads() -> impl Strategy<Value = Config> {
    (
        1u64..=4,
        1u64..=300,
        prop::sample::select(vec![Work::None, Work::Yield]),
        prop::sample::select(vec![Window::Before, Window::Inside]),
        prop::sample::select(vec![Sync::Racy, Sync::Mutex, Sync::Atomic, Sync::Sharded]),
        prop::option::of((1u64..=3, prop::sample::select(vec![Jobs::Worker, Jobs::Increment]))),
    )
        .prop_map(|(workers, increments, work, window, sync, pool)| Config {
            workers,
            increments,
            work,
            window,
            sync,
            timer: Timer::Compensated,
            pool: pool.map(|(size, jobs)| Pool { size, jobs }),
            hold: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_counter_keeps_its_invariants(config in workloads()) {
        let report = counter_threads::run(&config).unwrap();
        prop_assert!(report.complete);
        prop_assert_eq!(report.final_value + report.lost_updates, report.expected);
        prop_assert!(report.final_value <= report.expected);
        if config.sync != Sync::Racy {
            prop_assert_eq!(report.final_value, report.expected);
        }
    }
}
