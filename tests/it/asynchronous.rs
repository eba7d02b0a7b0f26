//! `counter-async` end to end: what is particular to tasks and runtimes.

use counter_core::{config::Strategy, report::WorkerDetail};
use tests::{run, run_json, stderr_of};

const BIN: &str = "counter-async";

#[test]
fn safe_strategies_are_exact_on_the_multi_thread_runtime_too() {
    // Fenced is refused in memory (its own test): a lock there cannot expire.
    for sync in Strategy::ALL.iter().filter(|s| !s.is_racy() && **s != Strategy::Fenced).map(|s| s.name()) {
        for window in [["--work", "none", "--window", "before"], ["--work", "sleep:1ms", "--window", "inside"]] {
            let mut args = vec!["--flavor", "multi-thread", "--threads", "2", "--sync", sync, "--increments", "40"];
            args.extend(window);
            let report = run_json(BIN, &args);
            assert_eq!((report.final_value, report.lost_updates), (200, Some(0)), "{args:?}");
            let runtime = report.extension.as_ref().filter(|extension| extension.name == "runtime");
            assert_eq!(runtime.and_then(|runtime| runtime.number("threads")), Some(2.0));
        }
    }
}

#[test]
fn racy_before_on_one_thread_cannot_lose_an_update() {
    // The tasks interleave at every yield, thousands of times, but never between a read and its write: there is
    // no await there, and on one thread nothing else can run in between.
    let report = run_json(BIN, &["--sync", "racy", "--window", "before", "--work", "yield", "--increments", "2000"]);
    assert_eq!((report.final_value, report.lost_updates), (10_000, Some(0)));
    assert_eq!((report.memory.processes, report.memory.threads), (1, 1), "current-thread: one thread in all");
    let text = String::from_utf8_lossy(&run(BIN, &["--work", "yield", "--increments", "10"]).stdout).into_owned();
    assert!(text.contains("none can be here: on one thread"), "{text}");
}

#[test]
fn racy_inside_on_one_thread_loses_at_the_await() {
    let report = run_json(BIN, &["--sync", "racy", "--window", "inside", "--work", "yield", "--increments", "200"]);
    assert!(report.lost_updates.is_some_and(|lost| lost > 0));
    assert_eq!(report.worker_summary.increments_done, report.expected, "every worker did every increment");
    assert!(report.final_value < report.expected, "and the counter shows fewer");
}

#[test]
fn the_mutex_note_says_which_lock_and_why() {
    let inside = run_json(BIN, &["--sync", "mutex", "--window", "inside", "--work", "sleep:1ms", "--increments", "3"]);
    assert!(inside.notes.iter().any(|n| n.contains("tokio's async mutex")), "{:?}", inside.notes);
    let before = run_json(BIN, &["--sync", "mutex", "--work", "none", "--increments", "3"]);
    assert!(before.notes.iter().any(|n| n.contains("blocking mutex")), "{:?}", before.notes);
}

#[test]
fn a_hundred_thousand_tasks_are_summarised() {
    let report =
        run_json(BIN, &["--workers", "100000", "--increments", "1", "--work", "sleep:1ms", "--sync", "atomic"]);
    assert_eq!(report.final_value, 100_000);
    assert_eq!(report.worker_detail, WorkerDetail::Summary);
    assert!(report.workers.is_empty());
    assert_eq!(report.worker_summary.count, 100_000);
    assert!(report.memory.rss_kib > 10 * 1024, "100k tasks hold memory: {:?}", report.memory);
}

#[test]
fn runtime_flags_are_checked() {
    for (args, expected) in [
        (&["--flavor", "green"][..], "[possible values: current-thread, multi-thread]"),
        (&["--flavor", "multi-thread", "--threads", "0"], "invalid threads '0'"),
        (&["--threads", "2"], "needs --flavor multi-thread"),
        (&["--threads", "x", "--flavor", "multi-thread"], "'x'"),
        (&["--timer", "atomic"], "[possible values: compensated, relative]"),
    ] {
        let output = run(BIN, args);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn too_many_tasks_for_memory_is_a_clear_error() {
    let output = run(BIN, &["--workers", "18000000000000", "--increments", "1"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MemAvailable") && stderr.contains("18000000000000 tasks"), "{stderr}");
}
