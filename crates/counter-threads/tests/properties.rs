//! Property tests of the counter's invariants on real threads: for any small valid workload, the workers make
//! every increment, the safe strategies are exact, and racy never shows more than was made.

use counter_core::config::{Config, Jobs, Pool, Request, Strategy as CounterStrategy, Timer, Window, Work};
use proptest::prelude::*;

fn workloads() -> impl Strategy<Value = Config> {
    (
        1u64..=4,
        1u64..=300,
        prop::sample::select(vec![Work::None, Work::Yield]),
        prop::sample::select(vec![Window::Before, Window::Inside]),
        prop::sample::select(CounterStrategy::ALL.to_vec()),
        prop::option::of((1u64..=3, prop::sample::select(vec![Jobs::Worker, Jobs::Increment]))),
    )
        .prop_map(|(workers, increments, work, window, strategy, pool)| {
            Request {
                workers,
                increments,
                work,
                window,
                strategy,
                timer: Timer::Compensated,
                pool: pool.map(|(size, jobs)| Pool { size, jobs }),
                hold: None,
                trace: None,
            }
            .validate()
            .expect("small counts always validate")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_counter_keeps_its_invariants(config in workloads()) {
        let report = counter_threads::run(&config).unwrap();
        prop_assert!(report.complete);
        prop_assert_eq!(report.worker_summary.increments_done, config.workers() * config.increments());
        prop_assert!(report.final_value <= report.expected);
        if config.strategy() != CounterStrategy::Racy {
            prop_assert_eq!(report.final_value, report.expected);
        }
    }
}
