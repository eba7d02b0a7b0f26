//! What every frontend promises, checked on each: exact counts for the safe strategies, lost updates for the
//! racy one when the window is wide, a consistent report, the seed's first line, and clean interruption.

use std::time::Duration;

use counter_core::{
    config::Sync,
    report::{Model, RunReport},
};
use tests::{run, run_json, start_held};

use crate::FRONTENDS;

#[test]
fn safe_strategies_are_exact_under_contention() {
    for bin in FRONTENDS {
        for sync in ["mutex", "atomic", "sharded"] {
            let report = run_json(bin, &["--sync", sync, "--work", "none", "--workers", "4", "--increments", "20000"]);
            assert_eq!((report.final_value, report.lost_updates), (80_000, 0), "{bin} {sync} with no work");
            let report =
                run_json(bin, &["--sync", sync, "--window", "inside", "--work", "sleep:1ms", "--increments", "20"]);
            assert_eq!((report.final_value, report.lost_updates), (100, 0), "{bin} {sync} with sleep inside");
        }
    }
}

#[test]
fn racy_with_the_window_inside_loses_updates() {
    for bin in FRONTENDS {
        // Five workers each read, sleep 1 ms, then write: they all read the same value while the others sleep.
        let report =
            run_json(bin, &["--sync", "racy", "--window", "inside", "--work", "sleep:1ms", "--increments", "20"]);
        assert_eq!(report.config.sync, Sync::Racy);
        assert!(report.lost_updates > 0, "{bin}: no update lost: {report:?}");
        assert!(report.final_value < report.expected);
        assert_eq!(report.final_value + report.lost_updates, report.expected);
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

#[test]
fn sigint_during_hold_exits_130_with_a_partial_report() {
    for bin in FRONTENDS {
        let held = start_held(bin, &["--workers", "3"]);
        held.signal(libc::SIGINT);
        let (status, stdout, stderr) = held.finish();
        assert_eq!(status.code(), Some(130), "{bin}: {stderr}");
        assert!(stdout.is_empty(), "{bin}");
        assert!(
            stderr.contains("interrupted by SIGINT") && stderr.contains("Final counter value: 0"),
            "{bin}: {stderr}"
        );
    }
}

#[test]
fn sigterm_during_the_run_exits_143_and_reports_what_was_done() {
    for bin in FRONTENDS {
        let mut held = start_held(bin, &["--workers", "2", "--increments", "1000000", "--work", "sleep:1ms"]);
        held.release();
        std::thread::sleep(Duration::from_millis(300));
        held.signal(libc::SIGTERM);
        let (status, _, stderr) = held.finish();
        assert_eq!(status.code(), Some(143), "{bin}: {stderr}");
        assert!(stderr.contains("interrupted by SIGTERM"), "{bin}: {stderr}");
        assert!(stderr.contains("the run was stopped before the end"), "{bin}: {stderr}");
        assert!(!stderr.contains("Final counter value: 0\n"), "{bin}: some increments were done: {stderr}");
    }
}
