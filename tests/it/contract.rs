//! What every frontend promises, checked on each: exact counts for the safe strategies, lost updates for the
//! racy one when the window is wide, a consistent report, the seed's first line, and clean interruption.

use std::time::Duration;

use counter_core::{config::Strategy, model::Model, report::RunReport};
use tests::{run, run_json, start_held};

#[test]
fn safe_strategies_are_exact_under_contention() {
    for bin in tests::frontends("safe_strategies_are_exact_under_contention") {
        for strategy in Strategy::ALL.into_iter().filter(|strategy| !strategy.is_racy()) {
            let sync = strategy.name();
            if strategy == Strategy::Fenced && !lock_can_expire(bin) {
                continue;
            }
            // Back to back (a few thousand; a few hundred where every step is a round trip), then with a yield
            // and with a sleep between every read and its write, so that the workers interleave inside. A model
            // with a server runs them all on one shared server: what is under test is the strategy, not the
            // server's start.
            let server = tests::shared_server_flags(bin);
            let server: Vec<&str> = server.iter().map(String::as_str).collect();
            let increments: u64 = if tests::steps_are_round_trips(bin) { 500 } else { 3000 };
            let args =
                [&["--sync", sync, "--work", "none", "--workers", "4", "--increments"][..], &[&increments.to_string()]];
            let report = run_json(bin, &[&args.concat()[..], &server].concat());
            assert_eq!(
                (report.final_value, report.lost_updates),
                (4 * increments, Some(0)),
                "{bin} {sync} with no work"
            );
            for work in ["yield", "sleep:1ms"] {
                let args = ["--sync", sync, "--window", "inside", "--work", work, "--increments", "20"];
                let report = run_json(bin, &[&args[..], &server].concat());
                assert_eq!(
                    (report.final_value, report.lost_updates),
                    (100, Some(0)),
                    "{bin} {sync} with {work} inside"
                );
            }
        }
    }
}

/// Whether `bin`'s lock is a lease that can expire under a live holder, as its model says.
fn lock_can_expire(bin: &str) -> bool {
    Model::ALL.into_iter().any(|model| model.binary() == bin && model.lock_expires())
}

#[test]
fn fenced_is_refused_where_a_lock_cannot_expire_saying_so() {
    for bin in tests::frontends("fenced_is_refused_where_a_lock_cannot_expire_saying_so") {
        if lock_can_expire(bin) {
            continue;
        }
        let output = run(bin, &["--sync", "fenced", "--workers", "1", "--increments", "1", "--work", "none"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bin}: {stderr}");
        assert!(
            stderr.contains("a lock that cannot expire needs no fencing") && stderr.lines().count() == 1,
            "{bin}: {stderr}"
        );
    }
}

#[test]
fn racy_with_the_window_inside_loses_updates() {
    for bin in tests::frontends("racy_with_the_window_inside_loses_updates") {
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
    // Workers with an OS id of their own (threads, processes) each have a different one; tasks and clients have
    // none.
    let mut ids: Vec<i64> = report.workers.iter().filter_map(|w| w.os_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert!(ids.is_empty() || ids.len() as u64 == workers, "{bin}: each worker has its own OS id: {ids:?}");
    assert!(report.workers.iter().all(|w| w.increments_done == increments), "{bin}");
    // The tree's figures are the sums of its processes' (the report lists each while there are few).
    let memory = &report.memory;
    assert_eq!(memory.per_process.len() as u64, memory.processes, "{bin}: {memory:?}");
    let summed = |figure: fn(&counter_core::proc::memory::ProcessMemory) -> u64| {
        memory.per_process.iter().map(figure).sum::<u64>()
    };
    assert_eq!((summed(|p| p.rss_kib), summed(|p| p.pss_kib)), (memory.rss_kib, memory.pss_kib), "{bin}");
    assert!(report.wall_time_s >= report.ideal_time_s, "{bin}: sleeps take at least their time");
    assert!(report.efficiency.is_some_and(|e| e > 0.0 && e <= 1.0), "{bin}");
}

#[test]
fn the_json_report_describes_the_run() {
    for bin in tests::frontends("the_json_report_describes_the_run") {
        let report =
            run_json(bin, &["--workers", "3", "--increments", "10", "--work", "sleep:1ms", "--sync", "atomic"]);
        check_consistent(bin, &report, 3, 10);
    }
}

#[test]
fn text_output_starts_with_the_seed_line_and_names_each_figure() {
    for bin in tests::frontends("text_output_starts_with_the_seed_line_and_names_each_figure") {
        let output = run(bin, &["--workers", "2", "--increments", "3", "--work", "none"]);
        assert!(output.status.success(), "{bin}: {}", tests::stderr_of(&output));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.starts_with("Final counter value: "), "{bin}: {text}");
        for label in ["expected:", "lost updates:", "wall time:", "RSS", "PSS", "USS", "why:"] {
            assert!(text.contains(label), "{bin}: no '{label}' in:\n{text}");
        }
    }
}

/// The OS ids a held frontend lists, whatever they are: worker processes, worker threads, or (when workers have
/// none) the process's threads or the process. Each must be gone once the frontend has ended.
fn listed_ids(bin: &str, held: &tests::Held) -> Vec<i32> {
    let ids = held.listed_ids();
    assert!(!ids.is_empty(), "{bin}: no ids in {}", held.ready_line);
    ids
}

#[test]
fn sigint_and_sigterm_end_every_binary_cleanly_during_hold_and_run() {
    for bin in tests::frontends("sigint_and_sigterm_end_every_binary_cleanly_during_hold_and_run") {
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
