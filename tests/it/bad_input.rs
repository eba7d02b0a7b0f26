//! Every frontend refuses bad input the same way: a non-zero exit, a message naming the bad value and what is
//! allowed, and no panic.

use std::process::Stdio;

use counter_core::model::Model;
use tests::{command, run, shm_entries, stderr_of};

/// Arguments, and a piece of text the error message must contain.
const CASES: &[(&[&str], &str)] = &[
    (&["--workers", "0"], "'0'"),
    (&["--workers", "-1"], "-1"),
    (&["--workers", "abc"], "'abc'"),
    (&["--workers", "18446744073709551616"], "'18446744073709551616'"),
    (&["--increments", "0"], "from 1 to"),
    (&["--workers", "4294967296", "--increments", "4294967296"], "overflows the 64-bit counter"),
    (&["--work", "sleep:"], "'sleep:'"),
    (&["--work", "sleep:-1ms"], "cannot be negative"),
    (&["--work", "sleep:10xs"], "unknown unit 'xs'"),
    (&["--work", "nap:1ms"], "none, yield, sleep:<duration>"),
    (&["--work", "spin:1h", "--increments", "18446744073709551615", "--workers", "1"], "584 years"),
    (&["--sync", "lockfree"], "[possible values: racy, mutex, atomic, sharded, optimistic, fenced]"),
    (&["--window", "around"], "[possible values: before, inside]"),
    (&["--format", "xml"], "[possible values: text, json]"),
    (&["--hold", "soon"], "'soon'"),
    (&["--timer", "exact"], "[possible values: compensated, relative]"),
    (&["--workers", "2", "--workers", "3"], "cannot be used multiple times"),
    (&["--frobnicate"], "unexpected argument '--frobnicate'"),
];

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    for frontend in tests::every_frontend() {
        for (args, expected) in CASES {
            let child = command(frontend).args(*args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            let pid = child.id();
            let output = child.wait_with_output().unwrap();
            assert!(shm_entries(&format!("counter-processes-{pid}-")).is_empty(), "{frontend} {args:?} left a segment");
            let stderr = stderr_of(&output);
            assert_eq!(output.status.code(), Some(2), "{frontend} {args:?} exit status; stderr: {stderr}");
            assert!(stderr.contains(expected), "{frontend} {args:?}: expected '{expected}' in: {stderr}");
            assert!(!stderr.contains("panicked"), "{frontend} {args:?} panicked: {stderr}");
            assert!(output.stdout.is_empty(), "{frontend} {args:?} printed a report");
        }
    }
}

#[test]
fn help_documents_every_shared_flag() {
    for frontend in tests::every_frontend() {
        let output = run(frontend, &["--help"]);
        assert!(output.status.success(), "{frontend} --help");
        let help = String::from_utf8_lossy(&output.stdout);
        for flag in ["--workers", "--increments", "--work", "--window", "--sync", "--hold", "--format", "--trace"] {
            assert!(help.contains(flag), "{frontend} --help lacks {flag}:\n{help}");
        }
        // Each binary speaks of its own workers, offers block: only where the binary takes it, and ends with the
        // exit codes.
        let model = Model::ALL.into_iter().find(|model| model.binary() == frontend).unwrap();
        let own = format!("Number of {}", model.worker_nouns());
        assert!(help.contains(&own), "{frontend}: no '{own}' in:\n{help}");
        assert!(!help.contains("threads, processes or tasks"), "{frontend}:\n{help}");
        // A binary that does not take block: refuses it before it runs anything (no server is started).
        let block = run(frontend, &["--work", "block:1ms", "--workers", "1", "--increments", "1"]);
        let takes_block = !stderr_of(&block).contains("work 'block:1ms' is not available");
        assert_eq!(help.contains("block:<duration>"), takes_block, "{frontend}:\n{help}");
        assert!(help.contains("Exit codes: 0 success; 1 the run failed"), "{frontend}:\n{help}");
    }
}
