//! `counter-threads` end to end: what is particular to threads.

use tests::{nobody_processes, run, run_json, run_with_nproc_limit, start_held, stderr_of};

const BIN: &str = "counter-threads";

#[test]
fn every_worker_is_a_thread_of_one_process() {
    let report = run_json(BIN, &["--workers", "3", "--increments", "2", "--work", "none"]);
    assert_eq!((report.memory.processes, report.memory.threads), (1, 4), "main thread + 3 workers");
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
fn more_threads_than_rlimit_nproc_allows_are_refused_before_any_starts() {
    let Some(output) = run_with_nproc_limit(BIN, 8, &["--workers", "20", "--work", "none"]) else { return };
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("20 threads is more than RLIMIT_NPROC allows (RLIMIT_NPROC = 8"), "{stderr}");
    assert!(nobody_processes(BIN).is_empty());
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
    let ps_rss = tests::ps_rss_sum(&[pid]);
    held.release();
    let (status, stdout, stderr) = held.finish();
    assert!(status.success(), "{stderr}");
    let Some(ps_rss) = ps_rss else { return };
    let report: counter_core::report::RunReport = serde_json::from_str(&stdout).unwrap();
    // The report's snapshot was taken just before the ready line, ps's while held: nothing ran in between.
    let diff = report.memory.rss_kib.abs_diff(ps_rss);
    assert!(diff * 20 <= ps_rss, "report RSS {} KiB vs ps {} KiB", report.memory.rss_kib, ps_rss);
}

/// Waiting at the start line costs a worker about one context switch: nobody is woken for another's arrival
/// (before, each arrival woke every worker already waiting: 12 to 14 switches a worker at 1000).
#[test]
fn the_start_line_wakes_each_worker_about_once() {
    let workers = 1000;
    let report = run_json(BIN, &["--workers", "1000", "--increments", "1", "--work", "none"]);
    // Each thread's start and end switch too (a plain scope of 1000 empty threads: about 1.2 to 3.7 a thread).
    let per_worker = report.cpu.voluntary_switches as f64 / f64::from(workers);
    assert!(per_worker < 6.0, "{per_worker:.1} voluntary context switches a worker: {:?}", report.cpu);
}
