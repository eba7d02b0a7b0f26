//! `counter-postgres` end to end, each run on a private cluster of its own: every strategy, the isolation
//! levels' matrix, the server's memory per connection, and the faults. Skipped with one line without PostgreSQL.

use std::{
    path::PathBuf,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use counter_core::{config::Strategy, report::RunReport};
use serde_json::Value;
use tests::{KillOnDrop, command, process_exists, run, run_json, signal_pid, stderr_of, wait_timeout};

const BIN: &str = "counter-postgres";

fn have_postgres(test: &str) -> bool {
    tests::frontends(test).contains(&BIN)
}

/// A contended run: no work, every worker at the same row.
fn contended(strategy: Strategy, isolation: &str) -> RunReport {
    let args = ["--sync", strategy.name(), "--workers", "5", "--increments", "300", "--work", "none"];
    run_json(BIN, &[&args[..], &["--isolation", isolation]].concat())
}

fn figures(report: &RunReport) -> Value {
    serde_json::to_value(report.extension.as_ref().expect("the server's figures")).unwrap()["figures"].clone()
}

#[test]
fn every_strategy_but_racy_is_exact_and_racy_loses_at_read_committed() {
    if !have_postgres("every_strategy_but_racy_is_exact_and_racy_loses_at_read_committed") {
        return;
    }
    for strategy in Strategy::ALL {
        let report = contended(strategy, "read-committed");
        let lost = report.lost_updates.expect("a finished run counts its losses");
        if strategy == Strategy::Racy {
            // 1500 read-then-write transactions on one row, a round trip apart: some overlap.
            assert!(lost > 0, "racy at read committed lost nothing: {report:?}");
        } else {
            assert_eq!(report.final_value, 1500, "{strategy:?}");
            assert_eq!(lost, 0, "{strategy:?}");
        }
        assert_eq!(figures(&report)["isolation"], "read committed");
    }
}

#[test]
fn racy_at_repeatable_read_and_serializable_is_exact_with_refused_transactions() {
    if !have_postgres("racy_at_repeatable_read_and_serializable_is_exact_with_refused_transactions") {
        return;
    }
    for isolation in ["repeatable-read", "serializable"] {
        let report = contended(Strategy::Racy, isolation);
        assert_eq!(report.final_value, 1500, "{isolation}");
        let refused = figures(&report)["serialization_failures"].as_u64().unwrap();
        assert!(refused > 0, "{isolation}: the server refused no transaction: {report:?}");
    }
}

#[test]
fn each_connection_is_a_backend_process_measured_from_proc() {
    if !have_postgres("each_connection_is_a_backend_process_measured_from_proc") {
        return;
    }
    let report = run_json(BIN, &["--workers", "4", "--increments", "1", "--work", "none"]);
    let figures = figures(&report);
    assert_eq!(figures["backends_measured"], 4, "{figures}");
    let (pss, uss) = (figures["backend_pss_kib"].as_f64().unwrap(), figures["backend_uss_kib"].as_f64().unwrap());
    // A backend is a forked server process: hundreds of KiB of its own at least, and PSS counts what it owns.
    assert!(uss > 100.0 && pss >= uss, "PSS {pss} KiB, USS {uss} KiB");
    // The tree measured: this client, the postmaster, its helpers and a backend per client.
    assert!(report.memory.processes >= 2 + 4, "{:?}", report.memory);
}

#[test]
fn a_bad_or_unreachable_server_is_exit_2_without_its_password() {
    for (url, says) in [
        ("postgresql://u:sekrit@127.0.0.1:notaport/db", "invalid --postgres"),
        ("postgresql://u:sekrit@127.0.0.1:1/db?connect_timeout=2", "could not use the PostgreSQL server"),
    ] {
        let output = run(BIN, &["--postgres", url, "--workers", "1", "--increments", "1", "--work", "none"]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(says) && !stderr.contains("sekrit"), "{url}: {stderr}");
    }
}

/// The private cluster's directory of a run, from its report's server line, once it is started.
fn cluster_dir(pid: u32) -> Option<PathBuf> {
    std::fs::read_dir(std::env::temp_dir()).ok()?.flatten().map(|entry| entry.path()).find(|path| {
        path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("counter-postgres-{pid}-")))
    })
}

/// The postmaster of the cluster in `dir`, once it runs.
fn postmaster(dir: &std::path::Path) -> Option<i32> {
    let lock = std::fs::read_to_string(dir.join("data").join("postmaster.pid")).ok()?;
    lock.lines().next()?.trim().parse().ok()
}

/// The backend processes of the server `pid`: its children titled `postgres: counter ...`.
fn backends(pid: i32) -> usize {
    let tree = counter_core::proc::process_tree(pid).unwrap_or_default();
    tree.iter()
        .filter(|child| {
            std::fs::read(format!("/proc/{child}/cmdline")).is_ok_and(|line| line.starts_with(b"postgres: counter "))
        })
        .count()
}

/// The System V segment the server in `dir` keeps: its lock file's seventh line holds its key and id.
fn segment_of(dir: &std::path::Path) -> i32 {
    let lock = std::fs::read_to_string(dir.join("data").join("postmaster.pid")).unwrap();
    lock.lines().nth(6).and_then(|line| line.split_whitespace().nth(1)?.parse().ok()).expect("a segment id")
}

/// Whether System V segment `id` still exists, as `ipcs -m` lists it, a few seconds on: one marked for removal
/// goes when the last process attached to it (a backend of a killed server, ending) detaches.
fn segment_exists(id: i32) -> bool {
    let listed = || {
        let table = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
        table.lines().skip(1).any(|line| line.split_whitespace().nth(1) == Some(&id.to_string()))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while listed() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    listed()
}

/// Starts a long run and waits until its server is up and it has counted.
fn long_run() -> (KillOnDrop, PathBuf, i32) {
    let child = KillOnDrop(
        command(BIN)
            .args(["--work", "sleep:10ms", "--increments", "100000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    loop {
        let found = cluster_dir(child.0.id()).and_then(|dir| Some((postmaster(&dir)?, dir)));
        // Every client connected: a backend each (titled with the cluster's user), and the run's own.
        if let Some((server, dir)) = found
            && backends(server) > 5
        {
            thread::sleep(Duration::from_millis(300));
            return (child, dir, server);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the run's server never came up");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_the_run_with_143_and_removes_its_cluster() {
    if !have_postgres("sigterm_stops_the_run_with_143_and_removes_its_cluster") {
        return;
    }
    let (mut child, dir, server) = long_run();
    let segment = segment_of(&dir);
    signal_pid(child.0.id() as i32, libc::SIGTERM);
    let status = wait_timeout(&mut child.0, Duration::from_secs(15));
    assert_eq!(status.code(), Some(143));
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(!segment_exists(segment), "System V segment {segment} is left");
    assert!(!process_exists(server), "the server {server} is left");
}

#[test]
fn kill_nine_leaves_no_server_and_the_next_run_removes_the_directory() {
    if !have_postgres("kill_nine_leaves_no_server_and_the_next_run_removes_the_directory") {
        return;
    }
    let (mut child, dir, server) = long_run();
    let segment = segment_of(&dir);
    signal_pid(child.0.id() as i32, libc::SIGKILL);
    wait_timeout(&mut child.0, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_exists(server) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(!process_exists(server), "the server {server} outlived its owner");
    let next = run(BIN, &["--workers", "1", "--increments", "1", "--work", "none"]);
    assert!(next.status.success(), "{}", stderr_of(&next));
    assert!(!dir.exists(), "{} is left after the next run", dir.display());
    assert!(!segment_exists(segment), "System V segment {segment} is left after the next run");
}

#[test]
fn a_server_killed_mid_run_ends_it_with_exit_1_naming_the_server() {
    if !have_postgres("a_server_killed_mid_run_ends_it_with_exit_1_naming_the_server") {
        return;
    }
    let (mut child, dir, server) = long_run();
    let segment = segment_of(&dir);
    signal_pid(server, libc::SIGKILL);
    let status = wait_timeout(&mut child.0, Duration::from_secs(15));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the PostgreSQL server (private postgres"), "{stderr}");
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(!segment_exists(segment), "System V segment {segment} is left");
}

#[test]
fn serve_keeps_one_cluster_for_many_runs_until_its_input_closes() {
    if !have_postgres("serve_keeps_one_cluster_for_many_runs_until_its_input_closes") {
        return;
    }
    let mut server =
        KillOnDrop(command(BIN).arg("--serve").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.0.stdout.take().unwrap()), &mut line).unwrap();
    let connection = line.trim().to_owned();
    let dir = cluster_dir(server.0.id()).expect("the served cluster's directory");
    for strategy in [Strategy::Atomic, Strategy::Sharded] {
        let args = ["--postgres", &connection, "--sync", strategy.name(), "--workers", "3", "--increments", "50"];
        let report = run_json(BIN, &[&args[..], &["--work", "none"]].concat());
        assert_eq!(report.final_value, 150, "{strategy:?}");
    }
    let server_pid = postmaster(&dir).expect("the server runs");
    drop(server.0.stdin.take());
    let status = wait_timeout(&mut server.0, Duration::from_secs(15));
    assert!(status.success(), "{status}");
    assert!(!dir.exists() && !process_exists(server_pid), "{} or its server is left", dir.display());
}
