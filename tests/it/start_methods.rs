//! `counter-processes --start fork|forkserver|spawn`: the same counts under every method, the faults of each
//! method's own processes (the fork server, a spawned worker), and the hidden worker mode refusing to run by
//! hand. After every run, nothing may be left: no segment, no worker, no server.

use std::{fs, os::fd::AsRawFd, process::Stdio, thread, time::Duration};

use counter_core::report::RunReport;
use tests::{Held, command, process_exists, run, run_json, shm_entries, signal_pid, start_held, stderr_of};

const BIN: &str = "counter-processes";
const METHODS: [&str; 3] = ["fork", "forkserver", "spawn"];

fn gone(pid: i32) -> bool {
    (0..200).any(|_| {
        let gone = !process_exists(pid);
        if !gone {
            thread::sleep(Duration::from_millis(20));
        }
        gone
    })
}

fn assert_nothing_left(coordinator: i32, others: &[i32]) {
    assert!(shm_entries(&format!("counter-processes-{coordinator}-")).is_empty(), "segment left in /dev/shm");
    for &pid in others {
        assert!(gone(pid), "process {pid} is still there");
    }
}

/// The fork server's pid, from a held run's ready line.
fn server_of(held: &Held) -> i32 {
    let after = held.ready_line.split("fork server pid ").nth(1).expect("the ready line names the fork server");
    after.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[test]
fn the_safe_strategies_count_exactly_under_every_method() {
    for method in METHODS {
        for sync in ["atomic", "mutex", "sharded"] {
            let args = ["--workers", "3", "--increments", "300", "--work", "none", "--sync", sync, "--start", method];
            let report = run_json(BIN, &args);
            assert_eq!(report.final_value, 900, "{method} {sync}");
            let note = format!("started with {method}:");
            assert!(report.notes.iter().any(|n| n.starts_with(&note)), "{method}: {:?}", report.notes);
            // The fork server is one more process in the tree.
            let processes = if method == "forkserver" { 5 } else { 4 };
            assert_eq!(report.memory.processes, processes, "{method}");
            for worker in &report.workers {
                assert_eq!(worker.exit_status.as_deref(), Some("exited 0"), "{method}: {worker:?}");
                assert!(worker.cpu.is_some(), "{method}: how each worker ended comes back, from the server too");
            }
        }
        let pooled = ["--workers", "4", "--pool", "2", "--increments", "50", "--work", "none", "--sync", "atomic"];
        let report = run_json(BIN, &[&pooled[..], &["--start", method]].concat());
        assert_eq!(report.final_value, 200, "{method} pooled");
    }
}

#[test]
fn racy_with_the_window_inside_loses_updates_under_every_method() {
    for method in METHODS {
        let args =
            ["--workers", "4", "--increments", "30", "--work", "sleep:1ms", "--window", "inside", "--start", method];
        let report: RunReport = run_json(BIN, &args);
        let lost = report.lost_updates.expect("every worker reported");
        assert!(lost > 0, "{method}: four workers sleeping between read and write lose updates");
    }
}

#[test]
fn killing_the_fork_server_ends_the_run_and_its_workers() {
    let held = start_held(BIN, &["--workers", "3", "--start", "forkserver"]);
    let coordinator = held.pid();
    let server = server_of(&held);
    let workers = held.ids("worker pids");
    signal_pid(server, libc::SIGKILL);
    let (status, _, stderr) = held.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("the fork server (pid {server}) ended: killed by SIGKILL")), "{stderr}");
    assert_nothing_left(coordinator, &[&workers[..], &[server]].concat());
}

#[test]
fn a_spawned_worker_killed_mid_run_is_named_and_nothing_is_left() {
    let mut held = start_held(BIN, &["--workers", "3", "--work", "sleep:5ms", "--start", "spawn"]);
    let coordinator = held.pid();
    let workers = held.ids("worker pids");
    held.release();
    thread::sleep(Duration::from_millis(100));
    signal_pid(workers[1], libc::SIGKILL);
    let (status, _, stderr) = held.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("worker 1 (pid {}) was killed by SIGKILL", workers[1])), "{stderr}");
    assert_nothing_left(coordinator, &workers);
}

#[test]
fn killing_the_coordinator_takes_every_process_of_every_method_with_it() {
    for method in ["forkserver", "spawn"] {
        let mut held = start_held(BIN, &["--workers", "3", "--work", "sleep:5ms", "--start", method]);
        let coordinator = held.pid();
        let mut others = held.ids("worker pids");
        if method == "forkserver" {
            others.push(server_of(&held));
        }
        held.release();
        thread::sleep(Duration::from_millis(100));
        signal_pid(coordinator, libc::SIGKILL);
        let (status, _, _) = held.finish();
        assert_eq!(status.code(), None, "{method}: killed by a signal");
        assert_nothing_left(coordinator, &others);
    }
}

#[test]
fn an_exec_that_fails_names_the_method_and_leaves_nothing() {
    // Run a copy of the binary through a descriptor, then delete the file: the program's own path is gone, as
    // when the binary is replaced or removed during a run, and each spawn's exec fails.
    let dir = std::env::temp_dir().join(format!("counter-exec-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(BIN);
    fs::copy(tests::binary(BIN), &copy).unwrap();
    let file = fs::File::open(&copy).unwrap();
    fs::remove_file(&copy).unwrap();
    let child = std::process::Command::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .args(["--workers", "2", "--increments", "1", "--work", "none", "--start", "spawn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let coordinator = child.id() as i32;
    let output = child.wait_with_output().unwrap();
    let _ = fs::remove_dir_all(&dir);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not start worker 0 with --start spawn: could not exec"), "{stderr}");
    assert_nothing_left(coordinator, &[]);
}

#[test]
fn the_hidden_worker_mode_refuses_to_run_by_hand() {
    let output = run(BIN, &["--spawned-worker"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not meant to be run by hand"), "{stderr}");
    // Descriptors that are open but are not its coordinator's pipes are refused too.
    let output = command(BIN).arg("--spawned-worker").stdin(Stdio::null()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    // And it is not offered in the help.
    assert!(!String::from_utf8_lossy(&run(BIN, &["--help"]).stdout).contains("spawned-worker"));
}

#[test]
fn a_worker_that_ends_before_it_is_alive_is_named_and_nothing_hangs() {
    // The binary replaced on disk while the coordinator spawns its workers: the later ones run `true`, which
    // exits 0 without a word. That is a failure naming the worker, never a wait for ever.
    let true_program = counter_core::child::on_path("true").expect("`true` is on the PATH");
    let mut named = false;
    for pause_ms in [20, 5, 60, 0, 120] {
        let scratch = tests::Scratch::new("spawn-replaced");
        let copy = scratch.file(BIN);
        fs::copy(tests::binary(BIN), &copy).unwrap();
        let mut child = std::process::Command::new(&copy)
            .args(["--workers", "400", "--increments", "1", "--work", "none", "--start", "spawn"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        thread::sleep(Duration::from_millis(pause_ms));
        let replacement = scratch.file("replacement");
        fs::copy(&true_program, &replacement).unwrap();
        fs::rename(&replacement, &copy).unwrap();
        let status = tests::wait_timeout(&mut child, Duration::from_secs(90));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!stderr.contains("panicked"), "{stderr}");
        if status.code() == Some(1) && stderr.contains("exited 0 before it said it was alive") {
            named = true;
            break;
        }
        assert!(status.success() || status.code() == Some(1), "{status:?}: {stderr}");
    }
    assert!(named, "no run replaced the binary while its workers were being spawned");
}

#[test]
fn too_few_open_files_is_refused_naming_rlimit_nofile_never_a_failed_run() {
    if !tests::can_run("too_few_open_files_is_refused_naming_rlimit_nofile_never_a_failed_run", false, &["prlimit"]) {
        return;
    }
    let under_limit = |files: &str, method: &str| {
        std::process::Command::new("prlimit")
            .arg(format!("--nofile={files}"))
            .arg(tests::binary(BIN))
            .args(["--start", method, "--workers", "3", "--increments", "1", "--work", "none"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for method in METHODS {
        let mut refused = false;
        for files in 6..=24 {
            let output = under_limit(&files.to_string(), method);
            let stderr = stderr_of(&output);
            match output.status.code() {
                Some(2) => {
                    assert!(stderr.contains("is more than RLIMIT_NOFILE allows"), "{method} {files}: {stderr}");
                    refused = true;
                    // The limit the message asks for is enough.
                    let advised = stderr
                        .split("`ulimit -n ")
                        .nth(1)
                        .and_then(|rest| rest.split('`').next())
                        .unwrap_or_else(|| panic!("{method} {files}: no advised limit in {stderr}"));
                    let output = under_limit(advised, method);
                    assert!(output.status.success(), "{method} at the advised {advised}: {}", stderr_of(&output));
                }
                Some(0) => {}
                other => panic!("{method} with {files} open files: {other:?}, {stderr}"),
            }
        }
        assert!(refused, "{method}: even 6 open files were enough?");
    }
}
