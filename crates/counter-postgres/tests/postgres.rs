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
use tests::{KillOnDrop, command, conformance, process_exists, run, run_json, signal_pid, stderr_of, wait_timeout};

const BIN: &str = "counter-postgres";

fn have_postgres(test: &str) -> bool {
    tests::runnable(test, BIN)
}

/// A contended run: no work, every worker at the same row.
/// A contended run on the server these tests share: what is under test is the strategy at `isolation`.
fn contended(strategy: Strategy, isolation: &str) -> RunReport {
    let args = ["--sync", strategy.name(), "--workers", "5", "--increments", "300", "--work", "none"];
    let server = tests::shared_server_flags(BIN);
    let server: Vec<&str> = server.iter().map(String::as_str).collect();
    run_json(BIN, &[&args[..], &["--isolation", isolation], &server].concat())
}

fn figures(report: &RunReport) -> Value {
    serde_json::to_value(report.extension.as_ref().expect("the server's figures")).unwrap()["figures"].clone()
}

#[test]
fn a_connection_string_that_cannot_be_used_is_refused_saying_why_without_its_password() {
    // Refused as it is parsed: no server is needed. What the parser quotes of the text goes; the `=` it expected
    // stays; TLS is named.
    for (text, says) in [
        ("postgresql://u:sekrit@host:notaport/db", "invalid --postgres"),
        ("host=x Alpha9 Bravo7Zulu password=sekrit", "expected `=` but got `…`"),
        ("host=db sslmode=require password=sekrit", "TLS is not built into counter-postgres"),
    ] {
        let output = run("counter-postgres", &["--postgres", text, "--workers", "1", "--increments", "1"]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(says), "{text}: {stderr}");
        for secret in ["sekrit", "Alpha9", "Bravo7Zulu", "`B`"] {
            assert!(!stderr.contains(secret), "{text}: {stderr}");
        }
    }
}

#[test]
fn every_strategy_but_racy_is_exact_and_racy_loses_at_read_committed() {
    if !have_postgres("every_strategy_but_racy_is_exact_and_racy_loses_at_read_committed") {
        return;
    }
    // Fenced is refused here (a row lock cannot expire): the contract tests check that.
    for strategy in Strategy::ALL.into_iter().filter(|strategy| *strategy != Strategy::Fenced) {
        let report = contended(strategy, "read-committed");
        let lost = report.lost_updates.expect("a finished run counts its losses");
        if strategy == Strategy::Racy {
            // 1500 read-then-write transactions on one row, a round trip apart: some overlap.
            assert!(lost > 0, "racy at read committed lost nothing: {report:?}");
        } else {
            assert_eq!(report.final_value, 1500, "{strategy:?}");
            assert_eq!(lost, 0, "{strategy:?}");
        }
        if strategy == Strategy::Mutex {
            // Five workers on one row, back to back: some find it locked, and the report counts their waits.
            assert!(figures(&report)["lock_waits"].as_u64().unwrap_or(0) > 0, "{report:?}");
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
    long_run_with(&[])
}

/// [`long_run`] with `extra` flags.
fn long_run_with(extra: &[&str]) -> (KillOnDrop, PathBuf, i32) {
    let child = KillOnDrop(
        command(BIN)
            .args(["--work", "sleep:10ms", "--increments", "100000"])
            .args(extra)
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

/// A private cluster stopped from outside (every process of it stopped with SIGSTOP), then the run interrupted: the binary
/// continues its processes and ends them all; none is left stopped (state T) or at all.
#[test]
fn a_cluster_stopped_from_outside_is_ended_whole_with_the_run() {
    if !have_postgres("a_cluster_stopped_from_outside_is_ended_whole_with_the_run") {
        return;
    }
    let (mut child, dir, server) = long_run_with(&["--timeout", "1s"]);
    let tree = counter_core::proc::process_tree(server).unwrap();
    assert!(tree.len() > 5, "the postmaster, its helpers and the backends: {tree:?}");
    for &pid in &tree {
        signal_pid(pid, libc::SIGSTOP);
    }
    signal_pid(child.0.id() as i32, libc::SIGINT);
    let status = wait_timeout(&mut child.0, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while tree.iter().any(|&pid| process_exists(pid)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<(i32, Option<char>)> =
        tree.iter().filter(|&&pid| process_exists(pid)).map(|&pid| (pid, tests::process_state(pid))).collect();
    assert!(left.is_empty(), "processes of the cluster left (pid, state): {left:?}");
    assert!(!dir.exists(), "{} is left", dir.display());
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

/// A cluster served by `counter-postgres --serve` for several runs: stopped when dropped.
struct Served {
    server: KillOnDrop,
    connection: String,
    dir: PathBuf,
}

impl Served {
    fn start() -> Served {
        let mut server =
            KillOnDrop(command(BIN).arg("--serve").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(server.0.stdout.take().unwrap()), &mut line).unwrap();
        let dir = cluster_dir(server.0.id()).expect("the served cluster's directory");
        Served { server, connection: line.trim().to_owned(), dir }
    }

    /// What `psql` prints for `sql`, unaligned, without headers.
    fn query(&self, sql: &str) -> String {
        let output = std::process::Command::new("psql")
            .args([&self.connection, "-At", "-c", sql])
            .output()
            .expect("psql, which comes with the server");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The tables on the server whose names begin with `counter_lab`.
    fn tables(&self) -> Vec<String> {
        let listed = self.query("SELECT tablename FROM pg_tables WHERE tablename LIKE 'counter_lab%'");
        listed.lines().map(str::to_owned).collect()
    }

    /// Closes its input and waits for it to stop: its status, and whether its directory and server are gone.
    fn stop(mut self) -> (std::process::ExitStatus, bool) {
        let server_pid = postmaster(&self.dir).expect("the server runs");
        drop(self.server.0.stdin.take());
        let status = wait_timeout(&mut self.server.0, Duration::from_secs(15));
        (status, !self.dir.exists() && !process_exists(server_pid))
    }
}

/// `text` as a connection string's quoted value.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `text` with every byte but letters and digits percent-encoded, for a URL.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

impl conformance::Server for Served {
    fn bin(&self) -> &'static str {
        BIN
    }

    fn flag(&self) -> &'static str {
        "--postgres"
    }

    fn model(&self) -> &'static str {
        "postgres"
    }

    fn password_variable(&self) -> &'static str {
        "PGPASSWORD"
    }

    fn url(&self) -> String {
        self.connection.clone()
    }

    /// The served cluster trusts its Unix socket: any password is taken, and ignored.
    fn urls_with_password(&self, password: &str) -> Vec<String> {
        let dir = self.dir.display().to_string();
        vec![
            format!("{} password={}", self.connection, quoted(password)),
            format!("{} password = {}", self.connection, quoted(password)),
            format!("postgresql://counter:{}@/postgres?host={}", percent_encoded(password), percent_encoded(&dir)),
        ]
    }

    fn unusable_urls(&self, password: &str) -> Vec<String> {
        vec![
            password.to_owned(),
            format!("host=/nonexistent user=x password={} connect_timeout=2", quoted(password)),
            format!("host=/nonexistent password = {password} dbname=x"),
            format!("postgresql://u:{password}@127.0.0.1:notaport/db"),
            format!("postgresql://u:{}@127.0.0.1:1/db?connect_timeout=2", percent_encoded(password)),
        ]
    }

    fn kill_connections(&self) {
        self.query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'counter-lab%'",
        );
    }

    fn run_data(&self) -> Vec<String> {
        self.tables()
    }

    fn ready_workers(&self, run_id: &str) -> u64 {
        let sql = format!(
            "SELECT COALESCE(sum(workers) FILTER (WHERE ready), 0) FROM \"counter_lab_{run_id}:p\" WHERE tag <> '#config'"
        );
        self.try_query(&sql).and_then(|answer| answer.parse().ok()).unwrap_or(0)
    }

    fn counter(&self, run_id: &str) -> Option<u64> {
        self.try_query(&format!("SELECT sum(v) FROM \"counter_lab_{run_id}\""))?.parse().ok()
    }
}

impl Served {
    /// What `psql` prints for `sql`, or `None` if it failed (a table not there yet).
    fn try_query(&self, sql: &str) -> Option<String> {
        let output = std::process::Command::new("psql").args([&self.connection, "-At", "-c", sql]).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

tests::conformance_suite!(have_postgres, Served::start);

#[test]
fn serve_keeps_one_cluster_for_many_runs_until_its_input_closes() {
    if !have_postgres("serve_keeps_one_cluster_for_many_runs_until_its_input_closes") {
        return;
    }
    let served = Served::start();
    for strategy in [Strategy::Atomic, Strategy::Sharded] {
        let args =
            ["--postgres", &served.connection, "--sync", strategy.name(), "--workers", "3", "--increments", "50"];
        let report = run_json(BIN, &[&args[..], &["--work", "none"]].concat());
        assert_eq!(report.final_value, 150, "{strategy:?}");
    }
    let (status, gone) = served.stop();
    assert!(status.success(), "{status}");
    assert!(gone, "the served cluster's directory or its server is left");
}

#[test]
fn participants_need_a_server_they_all_reach() {
    let output = run(BIN, &["--run-id", "private", "--participants", "2", "--workers", "1", "--work", "none"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs --postgres URL"), "{stderr}");
}

#[test]
fn a_participant_that_waits_in_vain_gives_up_and_withdraws() {
    if !have_postgres("a_participant_that_waits_in_vain_gives_up_and_withdraws") {
        return;
    }
    let served = Served::start();
    let alone = command(BIN)
        .args([
            "--postgres",
            &served.connection,
            "--run-id",
            "alone",
            "--participants",
            "2",
            "--rendezvous-timeout",
            "1s",
        ])
        .args(["--workers", "1", "--increments", "5", "--work", "none"])
        .output()
        .unwrap();
    let stderr = stderr_of(&alone);
    assert_eq!(alone.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 of the 2 workers of every participant were ready"), "{stderr}");
    assert!(served.tables().is_empty(), "the one who withdrew last dropped the tables: {:?}", served.tables());
    let (status, _) = served.stop();
    assert!(status.success());
}

#[test]
fn postgres_rows_add_the_stricter_isolation_levels_where_the_racy_outcome_differs() {
    let test = "postgres_rows_add_the_stricter_isolation_levels_where_the_racy_outcome_differs";
    if !tests::runnable(test, BIN) {
        return;
    }
    let scratch = tests::Scratch::new("postgres-rows");
    let json = scratch.file("p.json");
    let args = ["--models", "postgres", "--syncs", "racy,atomic", "--workers", "5", "--increments", "100", "--details"];
    let output = scratch.compare(&[&args[..], &["--work", "none", "--export-json", json.to_str().unwrap()]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    let labels: Vec<(&str, &str)> =
        rows.iter().map(|row| (row["label"].as_str().unwrap(), row["sync"].as_str().unwrap())).collect();
    assert_eq!(
        labels,
        [
            ("postgres", "racy"),
            ("postgres", "atomic"),
            ("postgres repeatable-read", "racy"),
            ("postgres serializable", "racy")
        ]
    );
    for row in &rows[2..] {
        // Exact, because the server refused what would have lost an update, and the sentence says so.
        assert_eq!(row["final_median"].as_f64(), Some(500.0), "{row}");
        assert!(row["refused_median"].as_f64().unwrap() > 0.0, "{row}");
    }
    let said = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(said.contains("racy on postgres serializable lost no update in 1 run: the server refused"), "{said}");
}
