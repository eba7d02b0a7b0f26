//! `--trace` on every frontend: the trace attributes every lost update (collisions and rollbacks, a paused worker's
//! included), finds none where a lock or one indivisible step leaves none, keeps to its bound and counts the rest,
//! and narrates the first collision.

use std::time::Duration;

use counter_core::{config::Strategy, report::RunReport, trace::LossKind};
use tests::{run, run_json};

/// `bin`'s report of a traced run with `args`, on its shared server if it has one.
fn traced(bin: &str, args: &[&str]) -> RunReport {
    let server = tests::shared_server_flags(bin);
    let server: Vec<&str> = server.iter().map(String::as_str).collect();
    run_json(bin, &[args, &["--trace"], &server].concat())
}

#[test]
fn every_lost_update_is_attributed_on_every_model() {
    for bin in tests::frontends("every_lost_update_is_attributed_on_every_model") {
        let report =
            traced(bin, &["--sync", "racy", "--window", "inside", "--work", "sleep:1ms", "--increments", "20"]);
        let lost = report.lost_updates.expect("every worker reported");
        let trace = report.trace.as_ref().unwrap_or_else(|| panic!("{bin}: no trace in the report"));
        assert!(lost > 0, "{bin}: nothing lost to attribute: {trace:?}");
        assert_eq!((trace.kept, trace.not_kept), (report.expected, 0), "{bin}: every step kept");
        // Counted two ways: from the final value, and step by step from what each write overwrote.
        assert_eq!((trace.attributed, trace.agrees), (lost as i64, Some(true)), "{bin}: {trace:?}");
        assert_eq!(trace.attributed, (trace.collisions + trace.rolled_back) as i64 - trace.restored as i64, "{bin}");
        let first = trace.losses.first().unwrap_or_else(|| panic!("{bin}: no loss listed"));
        if first.kind == LossKind::Collision {
            // Two increments that read the same value and wrote the same one: the later write stood for both.
            assert_eq!((first.before.wrote, first.late.wrote), (first.late.wrote, first.before.wrote), "{bin}");
            assert!(first.before.wrote_ns <= first.late.wrote_ns, "{bin}: the losses are in the order of the writes");
        }
        assert!(!trace.steps.is_empty(), "{bin}: the steps around the first losses are kept for drawing");
    }
}

#[test]
fn a_lock_or_one_indivisible_step_leaves_no_collision() {
    for bin in tests::frontends("a_lock_or_one_indivisible_step_leaves_no_collision") {
        for strategy in [Strategy::Mutex, Strategy::Atomic] {
            let args = ["--sync", strategy.name(), "--window", "inside", "--work", "sleep:1ms", "--increments", "10"];
            let report = traced(bin, &args);
            let trace = report.trace.as_ref().unwrap_or_else(|| panic!("{bin}: no trace"));
            assert_eq!(report.lost_updates, Some(0), "{bin} {strategy:?}");
            assert_eq!((trace.collisions, trace.rollbacks, trace.attributed), (0, 0, 0), "{bin} {strategy:?}");
            assert!(trace.losses.is_empty(), "{bin} {strategy:?}: {trace:?}");
        }
    }
}

#[test]
fn the_bound_is_kept_and_what_is_past_it_is_counted() {
    for bin in ["counter-threads", "counter-processes", "counter-async"] {
        let args = ["--sync", "racy", "--work", "none", "--workers", "2", "--increments", "50", "--trace-limit", "7"];
        let trace = traced(bin, &args).trace.unwrap_or_else(|| panic!("{bin}: no trace"));
        assert_eq!((trace.kept, trace.not_kept, trace.agrees), (14, 86, None), "{bin}");
    }
    // The limit needs a trace, and a pool's members are not one worker each.
    for (args, says) in [
        (&["--trace-limit", "5"][..], "--trace"),
        (&["--trace", "--pool", "2"][..], "--pool"),
        (&["--trace", "--trace-limit", "0"][..], "trace-limit"),
    ] {
        let output = run("counter-threads", &[args, &["--increments", "1", "--work", "none"]].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn a_worker_paused_between_its_read_and_its_write_rolls_back_what_came_between() {
    // Worker 0 of two is stopped while it sleeps between its read and its write; the other goes on for a while;
    // its late write takes the counter back, and the increments made in between are lost with its own.
    let mut held = tests::start_held(
        "counter-processes",
        &[
            "--workers",
            "2",
            "--increments",
            "300",
            "--work",
            "sleep:2ms",
            "--window",
            "inside",
            "--trace",
            "--format",
            "json",
        ],
    );
    let pids = held.listed_ids();
    held.release();
    std::thread::sleep(Duration::from_millis(60));
    tests::signal_pid(pids[0], libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(150));
    tests::signal_pid(pids[0], libc::SIGCONT);
    let (status, stdout, stderr) = held.finish();
    assert!(status.success(), "{stderr}");
    let report: RunReport = serde_json::from_str(&stdout).expect("a report");
    let trace = report.trace.expect("a trace");
    assert!(trace.rollbacks >= 1 && trace.rolled_back > 1, "{trace:?}");
    assert_eq!((trace.attributed, trace.agrees), (report.lost_updates.expect("known") as i64, Some(true)));
}

#[test]
fn the_text_report_narrates_the_first_collision() {
    let output =
        run("counter-threads", &["--window", "inside", "--work", "sleep:1ms", "--increments", "10", "--trace"]);
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().skip_while(|line| !line.starts_with("trace:")).take(5).collect();
    assert!(lines[0].contains("steps kept") && lines[0].contains("lost to collisions"), "{text}");
    assert!(lines[1].contains("first collision") && lines[1].contains(" read "), "{text}");
    assert!(lines[4].contains("wrote") && lines[4].contains("one increment lost"), "{text}");
}
