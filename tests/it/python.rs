//! The Python reference programs in `python/`: they must print the same report as the Rust binaries, count
//! exactly with a lock, and lose updates without one where the window is wide.

use std::process::{Command, Output};

use counter_core::report::RunReport;

const PROGRAMS: [&str; 5] = [
    "counter_threading.py",
    "counter_futures.py",
    "counter_multiprocessing.py",
    "counter_process_pool.py",
    "counter_asyncio.py",
];

/// The programs that start processes, and take --start-method.
const PROCESS_PROGRAMS: [&str; 2] = ["counter_multiprocessing.py", "counter_process_pool.py"];

fn python(script: &str, args: &[&str]) -> Output {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python").join(script);
    Command::new("python3").arg(path).args(args).output().expect("python3 was found on the PATH")
}

/// Whether python3 is there; if not, the test says it is skipped.
fn have_python(test: &str) -> bool {
    tests::can_run(test, false, &["python3"])
}

fn report(script: &str, args: &[&str]) -> RunReport {
    let output = python(script, &[args, &["--format", "json"]].concat());
    assert!(output.status.success(), "{script} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script}: not a report ({e})"))
}

#[test]
fn locked_python_programs_count_exactly_and_report_like_ours() {
    if !have_python("locked_python_programs_count_exactly_and_report_like_ours") {
        return;
    }
    for script in PROGRAMS {
        let report = report(script, &["--sync", "mutex", "--work", "none", "--workers", "4", "--increments", "2000"]);
        assert_eq!((report.final_value, report.lost_updates, report.expected), (8000, Some(0), 8000), "{script}");
        assert!(report.implementation.as_deref().is_some_and(|i| i.starts_with("CPython")), "{script}");
        assert!(report.memory.rss_kib > 0 && report.memory.pss_kib <= report.memory.rss_kib, "{script}");
    }
}

#[test]
fn unlocked_python_programs_lose_updates_with_the_window_inside() {
    if !have_python("unlocked_python_programs_lose_updates_with_the_window_inside") {
        return;
    }
    for script in PROGRAMS {
        let report = report(script, &["--window", "inside", "--work", "sleep:1ms", "--increments", "10"]);
        assert!(report.lost_updates.is_some_and(|lost| lost > 0), "{script}: {report:?}");
        assert_eq!(report.worker_summary.increments_done, report.expected, "{script}: every worker did its part");
        assert!(report.final_value < report.expected, "{script}");
    }
}

#[test]
fn python_programs_refuse_bad_input() {
    if !have_python("python_programs_refuse_bad_input") {
        return;
    }
    for script in PROGRAMS {
        for (args, expected) in
            [(&["--workers", "0"][..], "'0'"), (&["--work", "nap"], "'nap'"), (&["--sync", "atomic"], "atomic")]
        {
            let output = python(script, args);
            assert_eq!(output.status.code(), Some(2), "{script} {args:?}");
            assert!(String::from_utf8_lossy(&output.stderr).contains(expected), "{script} {args:?}");
        }
    }
}

#[test]
fn python_process_programs_run_under_every_start_method() {
    if !have_python("python_process_programs_run_under_every_start_method") {
        return;
    }
    for script in PROCESS_PROGRAMS {
        for method in ["fork", "forkserver", "spawn"] {
            let locked = ["--sync", "mutex", "--work", "none", "--workers", "3", "--increments", "500"];
            let exact = report(script, &[&locked[..], &["--start-method", method]].concat());
            assert_eq!(exact.final_value, 1500, "{script} {method}");
            let said = format!("started with {method}");
            assert!(exact.notes.iter().any(|note| note.starts_with(&said)), "{script} {method}: {:?}", exact.notes);
            // forkserver adds its server, and forkserver and spawn the resource tracker, to the tree.
            let least = if method == "fork" { 4 } else { 5 };
            assert!(exact.memory.processes >= least, "{script} {method}: {}", exact.memory.processes);
            let racy = ["--window", "inside", "--work", "sleep:1ms", "--increments", "10", "--start-method", method];
            let lossy = report(script, &racy);
            assert!(lossy.lost_updates.is_some_and(|lost| lost > 0), "{script} {method}: {lossy:?}");
            // The workers' CPU time is counted whoever reaps them (a forkserver's are the server's children):
            // two workers spinning 3 x 20 ms each use at least half of that even on a busy machine.
            let spin = ["--work", "spin:20ms", "--workers", "2", "--increments", "3", "--start-method", method];
            let spinning = report(script, &spin);
            let cpu = spinning.cpu.user_s + spinning.cpu.sys_s;
            assert!(cpu >= 0.5 * 2.0 * 3.0 * 0.020, "{script} {method}: {cpu} s of CPU");
        }
        let output = python(script, &["--start-method", "vfork"]);
        assert_eq!(output.status.code(), Some(2), "{script}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("'vfork'"), "{script}");
    }
}
