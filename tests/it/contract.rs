//! What every frontend promises, checked on each: exact counts for the safe strategies, lost updates for the
//! racy one when the window is wide, a consistent report, the seed's first line, and clean interruption.

use std::time::Duration;

use counter_core::{config::Strategy, model::Model, report::RunReport};
use tests::{run, run_json, start_held};

use crate::FRONTENDS;

#[test]
fn safe_strategies_are_exact_under_contention() {
    for bin in FRONTENDS {
        for sync in ["mutex", "atomic", "sharded"] {
            let report = run_json(bin, &["--sync", sync, "--work", "none", "--workers", "4", "--increments", "20000"]);
            assert_eq!((report.final_value, report.lost_updates), (80_000, Some(0)), "{bin} {sync} with no work");
            let report =
                run_json(bin, &["--sync", sync, "--window", "inside", "--work", "sleep:1ms", "--increments", "20"]);
            assert_eq!((report.final_value, report.lost_updates), (100, Some(0)), "{bin} {sync} with sleep inside");
        }
    }
}

#[test]
fn racy_with_the_window_inside_loses_updates() {
    for bin in FRONTENDS {
        // Five workers each read, sleep 1 ms, then write: they all read the same value while the others sleep.
        let report =
            run_json(bin, &["--sync", "racy", "--window", "inside", "--work", "sleep:1ms", "--increments", "20"]);
        assert_eq!(report.config.strategy(), Strategy::Racy);
        assert!(report.lost_updates.is_some_and(|lost| lost > 0), "{bin}: no update lost: {report:?}");
        assert_eq!(report.worker_summary.increments_done, report.expected, "every worker did every increment");
        assert!(report.final_value < report.expected, "and the counter shows fewer");
        assert!(report.complete);
    }
}

fn check_consistent(bin: &str, report: &RunReport, workers: u64, increments: u64) {
    assert_eq!(report.model.binary(), bin);
    assert_eq!((report.expected, report.final_value), (workers * increments, workers * increments), "{bin}");
    assert_eq!(report.workers.len() as u64, workers, "{bin}");
    if report.model != Model::Async {
        let mut ids: Vec<_> = report.workers.iter().map(|w| w.os_id.expect("a thread or process has an id")).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len() as u64, workers, "{bin}: each worker has its own OS id");
    }
    assert!(report.workers.iter().all(|w| w.increments_done == increments), "{bin}");
    let memory = &report.memory;
    assert!(memory.pss_kib <= memory.rss_kib && memory.uss_kib <= memory.pss_kib, "{bin}: {memory:?}");
    assert!(report.wall_time_s >= report.ideal_time_s, "{bin}: sleeps take at least their time");
    assert!(report.efficiency.is_some_and(|e| e > 0.0 && e <= 1.0), "{bin}");
}

#[test]
fn the_json_report_describes_the_run() {
    for bin in FRONTENDS {
        let report =
            run_json(bin, &["--workers", "3", "--increments", "10", "--work", "sleep:1ms", "--sync", "atomic"]);
        check_consistent(bin, &report, 3, 10);
    }
}

#[test]
fn text_output_starts_with_the_seed_line_and_names_each_figure() {
    for bin in FRONTENDS {
        let output = run(bin, &["--workers", "2", "--increments", "3", "--work", "none"]);
        assert!(output.status.success(), "{bin}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.starts_with("Final counter value: "), "{bin}: {text}");
        for label in ["expected:", "lost updates:", "wall time:", "RSS", "PSS", "USS", "why:"] {
            assert!(text.contains(label), "{bin}: no '{label}' in:\n{text}");
        }
    }
}

/// The OS ids a held frontend lists, whatever they are: worker processes, worker threads, or (tasks having none)
/// the runtime's threads. Each must be gone once the frontend has ended.
fn listed_ids(bin: &str, held: &tests::Held) -> Vec<i32> {
    let label = match bin {
        "counter-processes" => "worker pids",
        "counter-threads" => "worker tids",
        _ => "this process's thread tids",
    };
    let ids = held.ids(label);
    assert!(!ids.is_empty(), "{bin}: no ids after '{label}' in {}", held.ready_line);
    ids
}

#[test]
fn sigint_and_sigterm_end_every_binary_cleanly_during_hold_and_run() {
    for bin in FRONTENDS {
        for (signal, name, code) in [(libc::SIGINT, "SIGINT", 130), (libc::SIGTERM, "SIGTERM", 143)] {
            for during_run in [false, true] {
                let mut held = start_held(bin, &["--workers", "3", "--increments", "1000000", "--work", "sleep:1ms"]);
                let pid = held.pid();
                let ids = listed_ids(bin, &held);
                if during_run {
                    held.release();
                    std::thread::sleep(Duration::from_millis(200));
                }
                held.signal(signal);
                let (status, stdout, stderr) = held.finish();
                let case = format!("{bin} {name} during {}", if during_run { "the run" } else { "the hold" });
                assert_eq!(status.code(), Some(code), "{case}: {stderr}");
                assert!(stdout.is_empty(), "{case}: the report goes to stderr");
                assert!(stderr.contains(&format!("interrupted by {name}")), "{case}: {stderr}");
                assert!(stderr.contains("the run did not finish every increment"), "{case}: {stderr}");
                assert!(!stderr.contains("panicked"), "{case}: {stderr}");
                if during_run {
                    assert!(!stderr.contains("Final counter value: 0\n"), "{case}: some increments were done");
                } else {
                    assert!(stderr.contains("Final counter value: 0\n"), "{case}: nothing started");
                }
                assert!(tests::shm_entries(&format!("counter-processes-{pid}-")).is_empty(), "{case}: segment left");
                // A thread's id has a /proc entry of its own while it lives, as a process's does.
                for id in ids {
                    assert!(!tests::process_exists(id), "{case}: {id} is still there");
                }
            }
        }
    }
}
