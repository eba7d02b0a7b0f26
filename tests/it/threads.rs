//! `counter-threads` end to end.

use counter_core::{config::Sync, report::Model};
use tests::{run, run_json, start_held, stderr_of};

const BIN: &str = "counter-threads";

#[test]
fn safe_strategies_are_exact_under_contention() {
    for sync in ["mutex", "atomic", "sharded"] {
        let report = run_json(BIN, &["--sync", sync, "--work", "none", "--workers", "4", "--increments", "20000"]);
        assert_eq!((report.final_value, report.lost_updates), (80_000, 0), "{sync} with no work");
        let report =
            run_json(BIN, &["--sync", sync, "--window", "inside", "--work", "sleep:1ms", "--increments", "20"]);
        assert_eq!((report.final_value, report.lost_updates), (100, 0), "{sync} with sleep inside");
    }
}

#[test]
fn racy_with_the_window_inside_loses_updates() {
    // Five workers each read, sleep 1 ms, then write: they all read the same value while the others sleep.
    let report = run_json(BIN, &["--sync", "racy", "--window", "inside", "--work", "sleep:1ms", "--increments", "20"]);
    assert_eq!(report.config.sync, Sync::Racy);
    assert!(report.lost_updates > 0, "no update lost: {report:?}");
    assert!(report.final_value < report.expected);
    assert_eq!(report.final_value + report.lost_updates, report.expected);
    assert!(report.complete);
}

#[test]
fn the_json_report_describes_the_run() {
    let report = run_json(BIN, &["--workers", "3", "--increments", "10", "--work", "sleep:1ms", "--sync", "atomic"]);
    assert_eq!(report.model, Model::Threads);
    assert_eq!((report.expected, report.final_value), (30, 30));
    assert_eq!(report.workers.len(), 3);
    let mut tids: Vec<_> = report.workers.iter().map(|w| w.os_id.expect("a thread has a tid")).collect();
    tids.sort_unstable();
    tids.dedup();
    assert_eq!(tids.len(), 3, "each worker is its own thread");
    assert!(report.workers.iter().all(|w| w.increments_done == 10));
    assert_eq!((report.memory.processes, report.memory.threads), (1, 4), "main thread + 3 workers");
    assert!(report.memory.pss_kib <= report.memory.rss_kib && report.memory.uss_kib <= report.memory.pss_kib);
    assert!(report.wall_time_s >= report.ideal_time_s, "10 sleeps of 1 ms take at least 10 ms");
    assert!(report.efficiency.is_some_and(|e| e > 0.0 && e <= 1.0));
}

#[test]
fn text_output_starts_with_the_seed_line() {
    let output = run(BIN, &["--workers", "2", "--increments", "3", "--work", "none"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("Final counter value: "), "{text}");
    for label in ["expected:", "lost updates:", "wall time:", "RSS", "PSS", "USS", "why:"] {
        assert!(text.contains(label), "no '{label}' in:\n{text}");
    }
}

#[test]
fn ten_thousand_threads_run() {
    let report = run_json(BIN, &["--workers", "10000", "--increments", "1", "--work", "none", "--sync", "atomic"]);
    assert_eq!(report.final_value, 10_000);
    assert_eq!(report.memory.threads, 10_001);
    assert_eq!(report.worker_summary.count, 10_000);
}

#[test]
fn too_many_threads_is_a_clear_error_not_an_abort() {
    let output = run(BIN, &["--workers", "100000", "--work", "none"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("vm.max_map_count") && stderr.contains("100000 threads"), "{stderr}");
}

#[test]
fn hold_shows_every_thread_alive_and_the_figures_agree_with_proc() {
    let mut held = start_held(BIN, &["--workers", "4", "--increments", "5", "--work", "none", "--format", "json"]);
    let pid = held.pid();
    let tids = held.ids("worker tids");
    assert_eq!(tids.len(), 4, "{}", held.ready_line);
    for tid in &tids {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists(),
            "tid {tid} is not a thread of {pid}"
        );
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.lines().any(|line| line == "Threads:\t5"), "{status}");
    let ps = std::process::Command::new("ps").args(["-o", "rss=", "-p", &pid.to_string()]).output().unwrap();
    let ps_rss: u64 = String::from_utf8_lossy(&ps.stdout).trim().parse().unwrap();
    held.release();
    let (status, stdout, stderr) = held.finish();
    assert!(status.success(), "{stderr}");
    let report: counter_core::report::RunReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.final_value + report.lost_updates, 20);
    // The report's snapshot was taken just before the ready line, ps's while held: nothing ran in between.
    let diff = report.memory.rss_kib.abs_diff(ps_rss);
    assert!(diff * 20 <= ps_rss, "report RSS {} KiB vs ps {} KiB", report.memory.rss_kib, ps_rss);
}

#[test]
fn sigint_during_hold_exits_130_with_a_partial_report() {
    let held = start_held(BIN, &["--workers", "3"]);
    held.signal(libc::SIGINT);
    let (status, stdout, stderr) = held.finish();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("interrupted by SIGINT") && stderr.contains("Final counter value: 0"), "{stderr}");
}

#[test]
fn sigterm_during_the_run_exits_143_and_reports_what_was_done() {
    let mut held = start_held(BIN, &["--workers", "2", "--increments", "1000000", "--work", "sleep:1ms"]);
    held.release();
    std::thread::sleep(std::time::Duration::from_millis(300));
    held.signal(libc::SIGTERM);
    let (status, _, stderr) = held.finish();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGTERM") && stderr.contains("the run was stopped before the end"),
        "{stderr}"
    );
}
