//! `--pool` on `counter-threads` and `counter-processes`: the workers' loops run as jobs on a fixed pool.

use counter_core::{
    config::{Jobs, Strategy},
    report::RunReport,
};
use tests::{run, run_json, stderr_of};

const POOLED: &[&str] = &["counter-threads", "counter-processes"];

fn pooled(bin: &str, args: &[&str]) -> RunReport {
    let report = run_json(bin, args);
    assert!(report.pool.is_some(), "{bin} {args:?}: no pool in the report");
    report
}

#[test]
fn safe_strategies_are_exact_on_a_pool_for_both_job_sizes() {
    for bin in POOLED {
        for jobs in ["worker", "increment"] {
            // Fenced is refused in memory (its own test): a lock there cannot expire.
            for sync in Strategy::ALL.iter().filter(|s| !s.is_racy() && **s != Strategy::Fenced).map(|s| s.name()) {
                let args = ["--pool", "3", "--jobs", jobs, "--sync", sync, "--workers", "7", "--increments", "2000"];
                let report = pooled(bin, &[&args[..], &["--work", "none"]].concat());
                assert_eq!((report.final_value, report.lost_updates), (14_000, Some(0)), "{bin} {jobs} {sync}");
                let inside = ["--window", "inside", "--work", "sleep:1ms", "--increments", "4"];
                let report = pooled(bin, &[&args[..8], &inside].concat());
                assert_eq!((report.final_value, report.lost_updates), (28, Some(0)), "{bin} {jobs} {sync} inside");
            }
        }
    }
}

#[test]
fn racy_on_a_pool_with_the_window_inside_loses_updates() {
    for bin in POOLED {
        let report = pooled(
            bin,
            &["--pool", "4", "--workers", "8", "--increments", "10", "--window", "inside", "--work", "sleep:1ms"],
        );
        assert!(report.lost_updates.is_some_and(|lost| lost > 0), "{bin}: {report:?}");
        assert_eq!(report.worker_summary.increments_done, report.expected, "every worker did every increment");
        assert!(report.final_value < report.expected, "and the counter shows fewer");
    }
}

#[test]
fn memory_follows_the_pool_not_the_workers() {
    for bin in POOLED {
        let report = pooled(
            bin,
            &["--pool", "4", "--workers", "300", "--increments", "2", "--work", "none", "--sync", "atomic"],
        );
        assert_eq!(report.final_value, 600);
        assert_eq!(report.memory.threads, 5, "{bin}: 4 members and the coordinator");
        assert_eq!(report.workers.len(), 4, "{bin}: the per-worker entries are the members");
        assert_eq!(report.workers.iter().map(|w| w.increments_done).sum::<u64>(), 600);
        let pool = report.pool.unwrap();
        assert_eq!((pool.size, pool.jobs, pool.job_count), (4, Jobs::Worker, 300));
        assert!(pool.queue_wait_max_s >= pool.queue_wait_median_s);
    }
}

#[test]
fn jobs_of_one_increment_are_counted_and_wait_in_order() {
    for bin in POOLED {
        let report = pooled(
            bin,
            &["--pool", "2", "--jobs", "increment", "--workers", "4", "--increments", "5", "--work", "sleep:1ms"],
        );
        let pool = report.pool.unwrap();
        assert_eq!(pool.job_count, 20);
        // 20 jobs of 1 ms on 2 members: the last job starts after about 9 rounds, the middle one after about 5.
        assert!(pool.queue_wait_max_s >= 0.008 && pool.queue_wait_median_s >= 0.004, "{bin}: {pool:?}");
        assert!(pool.queue_wait_max_s > pool.queue_wait_median_s);
    }
}

#[test]
fn the_pool_line_counts_in_the_singular_and_gives_no_ideal_time_without_work() {
    for bin in POOLED {
        let output = run(bin, &["--pool", "2", "--workers", "2", "--increments", "1", "--work", "none"]);
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().find(|line| line.starts_with("pool:")).unwrap_or_else(|| panic!("{bin}: {text}"));
        assert!(line.contains("ran 2 jobs of a whole worker each: 1 round;"), "{bin}: {line}");
        assert!(!line.contains("so about"), "{bin}: no ideal time for no work: {line}");
    }
}

#[test]
fn pool_flags_are_checked_and_a_large_pool_is_said() {
    for bin in POOLED {
        for (args, expected) in [
            (&["--pool", "0"][..], "invalid pool '0'"),
            (&["--jobs", "increment"], "--jobs increment needs --pool N"),
            (&["--pool", "2", "--jobs", "all"], "[possible values: worker, increment]"),
        ] {
            let output = run(bin, args);
            let stderr = stderr_of(&output);
            assert_eq!(output.status.code(), Some(2), "{bin} {args:?}: {stderr}");
            assert!(stderr.contains(expected), "{bin} {args:?}: {stderr}");
        }
        let args = ["--pool", "6", "--workers", "2", "--increments", "3", "--work", "none", "--sync", "atomic"];
        let report = pooled(bin, &args);
        assert_eq!((report.final_value, report.worker_summary.increments_done), (6, 6), "{bin}: every job done once");
        assert!(report.notes.iter().any(|n| n.contains("larger than the number of workers")), "{:?}", report.notes);
    }
    let output = run("counter-async", &["--pool", "2"]);
    assert_eq!(output.status.code(), Some(2), "async has no pool: its tasks are already jobs on a runtime");
}
