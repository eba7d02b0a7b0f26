//! `counter-redis` end to end, against servers of its own (a private one per run) or of the test's (on a Unix
//! socket in a scratch folder, or on 127.0.0.1): each strategy, three participants adding up, the faults. Skipped
//! with one line without `redis-server`.

use std::{
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use counter_core::{
    config::Strategy,
    report::{RunReport, Verdict},
};
use tests::{KillOnDrop, Scratch, can_run, command, conformance, run, run_json, signal_pid, stderr_of, wait_timeout};

const BIN: &str = "counter-redis";

fn have_redis(test: &str) -> bool {
    can_run(test, false, &["redis-server", "redis-cli"])
}

/// A redis-server of the test's own, on a Unix socket in a scratch folder; killed when dropped.
struct TestServer {
    process: KillOnDrop,
    socket: std::path::PathBuf,
    _scratch: Scratch,
}

impl TestServer {
    fn start(name: &str, extra: &[&str]) -> TestServer {
        let scratch = Scratch::new(name);
        let socket = scratch.file("redis.sock");
        let process = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(scratch.path())
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = TestServer { process: KillOnDrop(process), socket, _scratch: scratch };
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&server.socket).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "the test's redis-server never listened");
            thread::sleep(Duration::from_millis(10));
        }
        server
    }

    fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn pid(&self) -> i32 {
        self.process.0.id() as i32
    }

    /// Waits until `key` holds a number of at least `at_least`: the run it belongs to has started counting.
    fn wait_for_value(&self, key: &str, at_least: u64) {
        let started = Instant::now();
        while self.cli(&["GET", key]).parse::<u64>().unwrap_or(0) < at_least {
            assert!(started.elapsed() < Duration::from_secs(30), "{key} never reached {at_least}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli").arg("-s").arg(&self.socket).args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

/// `text` with every byte but letters and digits percent-encoded, for a URL.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

impl conformance::Server for TestServer {
    fn bin(&self) -> &'static str {
        BIN
    }

    fn flag(&self) -> &'static str {
        "--redis"
    }

    fn model(&self) -> &'static str {
        "redis"
    }

    fn password_variable(&self) -> &'static str {
        "REDISCLI_AUTH"
    }

    fn url(&self) -> String {
        TestServer::url(self)
    }

    /// A user `counter` with `password` (the default user stays open for the test's own commands).
    fn urls_with_password(&self, password: &str) -> Vec<String> {
        assert_eq!(
            self.cli(&["ACL", "SETUSER", "counter", "reset", "on", &format!(">{password}"), "~*", "&*", "+@all"]),
            "OK"
        );
        let mut urls = vec![format!("{}?user=counter&pass={}", TestServer::url(self), percent_encoded(password))];
        if !password.contains(['&', '%', '+', '#']) {
            urls.push(format!("{}?user=counter&pass={password}", TestServer::url(self)));
        }
        urls
    }

    fn unusable_urls(&self, password: &str) -> Vec<String> {
        vec![
            password.to_owned(),
            format!("redis://:{password}@127.0.0.1:1/0"),
            format!("redis:/:{password}@127.0.0.1:1"),
            format!("redis://{password}@127.0.0.1:1"),
            format!("rediss://u:{password}@127.0.0.1:1"),
            format!("{}?user=counter&pass=x{}", TestServer::url(self), percent_encoded(password)),
        ]
    }

    fn kill_connections(&self) {
        self.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    }

    fn run_data(&self) -> Vec<String> {
        self.cli(&["KEYS", "counter-lab:*"]).lines().filter(|line| !line.is_empty()).map(str::to_owned).collect()
    }

    fn ready_workers(&self, run_id: &str) -> u64 {
        self.cli(&["GET", &format!("counter-lab:{run_id}:ready")]).parse().unwrap_or(0)
    }

    fn counter(&self, run_id: &str) -> Option<u64> {
        self.cli(&["GET", &format!("counter-lab:{run_id}:value")]).parse().ok()
    }
}

tests::conformance_suite!(have_redis, || TestServer::start("redis-conformance", &[]));

/// Private servers still running, and their folders still there, of the binary run as `pid`.
fn leftovers_of(pid: u32) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("counter-redis-{pid}-")))
        .collect();
    let servers = Command::new("pgrep").args(["-f", &format!("counter-redis-{pid}-")]).output().unwrap();
    found.extend(String::from_utf8_lossy(&servers.stdout).lines().map(|pid| format!("server pid {pid}")));
    found
}

fn wait_until_gone(pid: u32) {
    let started = Instant::now();
    while !leftovers_of(pid).is_empty() && started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(leftovers_of(pid).is_empty(), "left behind: {:?}", leftovers_of(pid));
}

#[test]
fn every_strategy_against_a_private_server_counts_as_it_must() {
    if !have_redis("every_strategy_against_a_private_server_counts_as_it_must") {
        return;
    }
    for sync in Strategy::ALL.iter().filter(|strategy| !strategy.is_racy()).map(|strategy| strategy.name()) {
        let child = command(BIN)
            .args(["--workers", "4", "--increments", "150", "--work", "none", "--sync", sync, "--format", "json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{sync}: {}", stderr_of(&output));
        let report: RunReport = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!((report.final_value, report.lost_updates), (600, Some(0)), "{sync}");
        let redis = report.extension.as_ref().expect("the redis figures");
        let server = redis.figures["server"].as_str().unwrap_or_default();
        assert!(server.starts_with("private redis-server"), "{server}");
        // One command per increment for INCR and HINCRBY; more for the others.
        let per_increment = figure(&report, "round_trips_per_increment");
        match sync {
            "atomic" | "sharded" => assert!((per_increment - 1.0).abs() < 1e-9, "{sync}: {per_increment}"),
            "mutex" | "fenced" => assert!(per_increment >= 4.0, "SET NX, GET, SET, EVAL at least: {per_increment}"),
            _ => assert!(per_increment >= 3.0, "WATCH, GET, MULTI/SET/EXEC at least: {per_increment}"),
        }
        assert_eq!(report.retries.is_some(), sync == "optimistic", "{sync}");
        let (median, p99) = (figure(&report, "latency_median_us"), figure(&report, "latency_p99_us"));
        assert!(median > 0.0 && p99 >= median, "{redis:?}");
        assert!(figure(&report, "server_memory_per_connection_bytes") > 0.0, "{redis:?}");
        wait_until_gone(pid);
    }
}

/// A lease shorter than the work inside it expires under every holder: with the mutex, a second holder reads
/// the value while the first still works, and updates are lost although every increment took the lock; with
/// the fenced lock, the expired holder's write is refused and made again, and none is lost.
#[test]
fn an_expired_lease_loses_updates_under_mutex_and_none_under_fenced() {
    if !have_redis("an_expired_lease_loses_updates_under_mutex_and_none_under_fenced") {
        return;
    }
    let args = ["--workers", "3", "--increments", "20", "--window", "inside", "--work", "sleep:30ms"];
    let lease = ["--lock-ttl", "10ms"];
    let mutex = run_json(BIN, &[&args[..], &lease, &["--sync", "mutex"]].concat());
    assert!(mutex.lost_updates.is_some_and(|lost| lost > 0), "{mutex:?}");
    assert!(count(&mutex, "lock_expiries") > 0, "{mutex:?}");
    let fenced = run_json(BIN, &[&args[..], &lease, &["--sync", "fenced"]].concat());
    assert_eq!((fenced.final_value, fenced.lost_updates), (60, Some(0)), "{fenced:?}");
    assert!(count(&fenced, "fenced_off") > 0, "{fenced:?}");
    let text = run(BIN, &[&args[..], &lease, &["--sync", "fenced"]].concat());
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(said.lines().any(|line| line.starts_with("why:") && line.contains("fenced off")), "{said}");
}

/// A run whose figures are checked against their outcomes: started on `server` as `run_id` with `args`, its
/// report once `fault` (called when the counter has reached 30) has done its work.
fn run_through(server: &TestServer, run_id: &str, args: &[&str], fault: impl FnOnce()) -> RunReport {
    let mut child = KillOnDrop(
        command(BIN)
            .args(["--redis", &server.url(), "--run-id", run_id, "--format", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    server.wait_for_value(&format!("counter-lab:{run_id}:value"), 30);
    fault();
    let (status, stdout, stderr) = output_within(&mut child.0, Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Connections killed by the server's own command (`CLIENT KILL`), twice: the workers connect again and go on,
/// and the final value lies within the bounds the outcomes give.
#[test]
fn killed_connections_are_survived_by_reconnecting() {
    if !have_redis("killed_connections_are_survived_by_reconnecting") {
        return;
    }
    let server = TestServer::start("redis-client-kill", &[]);
    let args = ["--sync", "atomic", "--workers", "3", "--increments", "200", "--work", "sleep:5ms", "--timeout", "1s"];
    let report = run_through(&server, "killed", &args, || {
        for _ in 0..2 {
            assert_ne!(server.cli(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]), "0");
            thread::sleep(Duration::from_millis(200));
        }
    });
    let outcomes = report.outcomes.expect("the outcomes");
    assert_eq!(outcomes.acknowledged + outcomes.failed + outcomes.indeterminate, 600, "{outcomes:?}");
    assert!(outcomes.acknowledged < 600 && count(&report, "reconnections") >= 3, "{report:?}");
    let (low, high) = (outcomes.acknowledged, outcomes.acknowledged + outcomes.indeterminate);
    assert!((low..=high).contains(&report.final_value), "{} outside [{low}, {high}]", report.final_value);
    assert!(matches!(outcomes.verdict, Verdict::Exact | Verdict::Consistent { .. }), "{outcomes:?}");
    assert_eq!(server.cli(&["KEYS", "counter-lab:*"]), "", "the run's keys are gone");
}

/// The server stalled (SIGSTOP) past the response timeout: increments sent and never answered are
/// indeterminate, the workers connect again once it answers, and the final value lies within the bounds.
#[test]
fn a_stalled_server_yields_indeterminate_increments_and_a_final_value_within_bounds() {
    if !have_redis("a_stalled_server_yields_indeterminate_increments_and_a_final_value_within_bounds") {
        return;
    }
    let server = TestServer::start("redis-stall", &[]);
    let args =
        ["--sync", "atomic", "--workers", "3", "--increments", "100", "--work", "sleep:5ms", "--timeout", "500ms"];
    let report = run_through(&server, "stalled", &args, || {
        signal_pid(server.pid(), libc::SIGSTOP);
        thread::sleep(Duration::from_millis(1500));
        signal_pid(server.pid(), libc::SIGCONT);
    });
    let outcomes = report.outcomes.expect("the outcomes");
    assert!(outcomes.indeterminate > 0, "{outcomes:?}");
    let (low, high) = (outcomes.acknowledged, outcomes.acknowledged + outcomes.indeterminate);
    assert!((low..=high).contains(&report.final_value), "{} outside [{low}, {high}]", report.final_value);
    assert!(matches!(outcomes.verdict, Verdict::Consistent { .. }), "{outcomes:?}");
}

#[test]
fn racy_loses_updates_on_a_seed_like_workload() {
    if !have_redis("racy_loses_updates_on_a_seed_like_workload") {
        return;
    }
    // The seed with short sleeps: the workers wake together and their GET and SET round trips overlap.
    let report = run_json(BIN, &["--workers", "5", "--increments", "60", "--work", "sleep:1ms"]);
    assert!(report.lost_updates.is_some_and(|lost| lost > 0), "{report:?}");
    let per_increment = figure(&report, "round_trips_per_increment");
    assert!((per_increment - 2.0).abs() < 1e-9, "GET and SET: {per_increment}");
}

#[test]
fn a_lock_whose_holder_was_killed_expires_after_its_ttl_and_is_counted() {
    if !have_redis("a_lock_whose_holder_was_killed_expires_after_its_ttl_and_is_counted") {
        return;
    }
    let server = TestServer::start("redis-expiry", &[]);
    let url = server.url();
    // Two participants of one run (the same configuration), each holding the lock for 300 ms per increment.
    let args = [
        "--redis",
        &url,
        "--run-id",
        "expiry",
        "--participants",
        "2",
        "--sync",
        "mutex",
        "--lock-ttl",
        "1500ms",
        "--workers",
        "1",
        "--increments",
        "12",
        "--window",
        "inside",
        "--work",
        "sleep:300ms",
        "--format",
        "json",
    ];
    let mut both: Vec<KillOnDrop> = (0..2)
        .map(|_| KillOnDrop(command(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()))
        .collect();
    // The holder, as the lock's token names it (its pid first), killed while it holds the lock.
    let started = Instant::now();
    let holder_token = loop {
        let token = server.cli(&["GET", "counter-lab:expiry:lock"]);
        if !token.is_empty() {
            break token;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "nobody took the lock");
        thread::sleep(Duration::from_millis(10));
    };
    let holder: u32 = holder_token.split('-').next().and_then(|pid| pid.parse().ok()).expect("a pid first");
    let at = both.iter().position(|child| child.0.id() == holder).expect("the holder is one of the two");
    signal_pid(holder as i32, libc::SIGKILL);
    let mut survivor = both.remove(1 - at);
    let (status, stdout, stderr) = output_within(&mut survivor.0, Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let report: RunReport = serde_json::from_slice(stdout.as_bytes()).unwrap();
    assert_eq!(report.worker_summary.increments_done, 12, "the other went on once the lock expired");
    let redis = &report.extension.as_ref().unwrap().figures;
    assert!(count(&report, "lock_waits") > 0, "{redis:?}");
    assert_eq!(count(&report, "lock_expiries"), 1, "the killed holder's lock, held for its whole TTL: {redis:?}");
    assert_eq!(report.participants_unreported, 1);
}

#[test]
fn a_participant_killed_mid_run_is_reported_and_the_others_finish() {
    if !have_redis("a_participant_killed_mid_run_is_reported_and_the_others_finish") {
        return;
    }
    let server = TestServer::start("redis-killed", &[]);
    let url = server.url();
    let args = [
        "--redis",
        &url,
        "--run-id",
        "killed",
        "--participants",
        "2",
        "--workers",
        "2",
        "--increments",
        "40",
        "--work",
        "sleep:20ms",
        "--window",
        "inside",
        "--sync",
        "mutex",
        "--lock-ttl",
        "500ms",
        "--format",
        "json",
    ];
    let survivor = command(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let victim = KillOnDrop(command(BIN).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    // Killed once the run is under way: increments are in the counter.
    server.wait_for_value("counter-lab:killed:value", 4);
    signal_pid(victim.0.id() as i32, libc::SIGKILL);
    let output = survivor.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let report: RunReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report.worker_summary.increments_done, 80, "the survivor's workers all finished");
    assert_eq!(report.unreported_workers, 2, "the victim's two workers");
    assert!(report.lost_updates.is_none() && report.lost_updates_bounds.is_some(), "{report:?}");
    assert_eq!(report.participants_unreported, 1);
}

#[test]
fn a_server_killed_mid_run_ends_the_run_within_seconds_naming_it() {
    if !have_redis("a_server_killed_mid_run_ends_the_run_within_seconds_naming_it") {
        return;
    }
    let server = TestServer::start("redis-dies", &[]);
    let mut child = command(BIN)
        .args(["--redis", &server.url(), "--workers", "3", "--increments", "1000", "--work", "sleep:10ms"])
        .args(["--timeout", "2s", "--run-id", "dies", "--sync", "atomic"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once the run is under way: increments are in the counter.
    server.wait_for_value("counter-lab:dies:value", 3);
    drop(server);
    let status = wait_timeout(&mut child, Duration::from_secs(15));
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the redis server (Unix socket ") && stderr.contains("failed during the run"), "{stderr}");
}

#[test]
fn a_participant_alone_gives_up_after_its_rendezvous_timeout() {
    if !have_redis("a_participant_alone_gives_up_after_its_rendezvous_timeout") {
        return;
    }
    let server = TestServer::start("redis-alone", &[]);
    let args = ["--redis", &server.url(), "--run-id", "alone", "--participants", "2", "--rendezvous-timeout", "1s"];
    let output = run(BIN, &[&args[..], &["--workers", "2", "--work", "none"]].concat());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 of the 4 workers of every participant were ready"), "{stderr}");
    assert_eq!(server.cli(&["DBSIZE"]), "0", "its keys were removed");
}

#[test]
fn a_server_that_cannot_be_used_is_a_clear_refusal() {
    if !have_redis("a_server_that_cannot_be_used_is_a_clear_refusal") {
        return;
    }
    let scratch = Scratch::new("redis-refusals");
    let nowhere = format!("unix://{}", scratch.file("nothing.sock").display());
    let server = TestServer::start("redis-password", &["--requirepass", "right-one"]);
    let wrong = format!("unix://{}?pass=wrong-one", server.socket.display());
    for (url, expected) in [
        (nowhere.as_str(), "could not use the redis server"),
        ("redis://127.0.0.1:1", "could not use the redis server"),
        ("not a url", "invalid --redis URL"),
        ("rediss://user:secret@127.0.0.1", "TLS"),
        (wrong.as_str(), "the password in the URL was refused"),
    ] {
        let output = run(BIN, &["--redis", url, "--workers", "1", "--increments", "1", "--work", "none"]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(expected), "{url}: expected '{expected}' in {stderr}");
        assert!(!stderr.contains("secret") && !stderr.contains("wrong-one"), "a password was shown: {stderr}");
    }
    let output = run(BIN, &["--participants", "2", "--workers", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("needs --run-id"));
}

#[test]
fn without_redis_server_on_the_path_the_binary_says_how_to_get_one() {
    let output = command(BIN).env("PATH", "/nonexistent").args(["--workers", "1"]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("apt-get install redis-server") && stderr.contains("--redis URL"), "{stderr}");
}

/// One of the redis model's own figures, from the report's extension.
fn figure(report: &RunReport, name: &str) -> f64 {
    let extension = report.extension.as_ref().expect("the redis model's figures");
    extension.number(name).unwrap_or_else(|| panic!("no figure {name} in {:?}", extension.figures))
}

/// One of the redis model's own counts, from the report's extension.
fn count(report: &RunReport, name: &str) -> u64 {
    let extension = report.extension.as_ref().expect("the redis model's figures");
    extension.figures.get(name).and_then(serde_json::Value::as_u64).unwrap_or_else(|| panic!("no count {name}"))
}

#[test]
fn the_password_can_come_from_the_environment_as_redis_cli_takes_it() {
    if !have_redis("the_password_can_come_from_the_environment_as_redis_cli_takes_it") {
        return;
    }
    let server = TestServer::start("redis-auth", &["--requirepass", "from-env"]);
    let args = ["--redis", &server.url(), "--workers", "2", "--increments", "5", "--sync", "atomic"];
    let refused = command(BIN).args(args).env_remove("REDISCLI_AUTH").output().unwrap();
    assert!(!refused.status.success(), "a server that wants a password refuses us without one");
    let output = command(BIN).args(args).args(["--format", "json"]).env("REDISCLI_AUTH", "from-env").output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let report: RunReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report.final_value, 10);
    assert!(!String::from_utf8_lossy(&output.stdout).contains("from-env"));
    // A wrong one is named where it came from, not blamed on the URL.
    let wrong = command(BIN).args(args).env("REDISCLI_AUTH", "not-this-one").output().unwrap();
    let stderr = stderr_of(&wrong);
    assert_eq!(wrong.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the password in REDISCLI_AUTH was refused") && !stderr.contains("not-this-one"),
        "{stderr}"
    );
}

#[test]
fn a_server_at_its_client_limit_is_named_with_its_limit() {
    if !have_redis("a_server_at_its_client_limit_is_named_with_its_limit") {
        return;
    }
    let server = TestServer::start("redis-maxclients", &["--maxclients", "4"]);
    let output = command(BIN).args(["--redis", &server.url(), "--workers", "8", "--increments", "1"]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("it refused more clients: its maxclients is 4"), "{stderr}");
}

/// How a child with piped output ended, within `within` (killed when it is dropped, if it never ends): its
/// status, standard output and standard error.
fn output_within(child: &mut std::process::Child, within: Duration) -> (std::process::ExitStatus, String, String) {
    let status = tests::wait_timeout(child, within);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stdout, stderr)
}

/// A participant of a two-participant run, with `extra` flags.
fn participant(url: &str, run_id: &str, extra: &[&str]) -> std::process::Child {
    command(BIN)
        .args(["--redis", url, "--run-id", run_id, "--participants", "2", "--format", "json"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run's configuration is claimed: its first participant is in.
fn wait_for_claim(server: &TestServer, run_id: &str) {
    let started = Instant::now();
    while server.cli(&["EXISTS", &format!("counter-lab:{run_id}:config")]) != "1" {
        assert!(started.elapsed() < Duration::from_secs(20), "the run was never claimed");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn participants_need_a_server_they_all_reach() {
    let started = Instant::now();
    let output = run(BIN, &["--run-id", "private", "--participants", "2", "--workers", "1", "--work", "none"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs --redis URL"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "refused at once, not after a rendezvous");
}

/// A participant whose configuration differs from the run's, or that comes to a run that has ended and was
/// kept, is refused (exit 2) saying why, and the run it would have spoiled is untouched.
#[test]
fn strangers_and_left_over_runs_are_refused_saying_what_differs() {
    if !have_redis("strangers_and_left_over_runs_are_refused_saying_what_differs") {
        return;
    }
    let server = TestServer::start("redis-strangers", &[]);
    let url = server.url();
    let shared = ["--workers", "2", "--increments", "50", "--work", "sleep:2ms", "--rendezvous-timeout", "30s"];
    let first = KillOnDrop(participant(&url, "strangers", &[&shared[..], &["--sync", "atomic"]].concat()));
    wait_for_claim(&server, "strangers");
    for (args, differs) in [
        (["--workers", "2", "--increments", "50", "--sync", "sharded"], "--sync sharded"),
        (["--workers", "5", "--increments", "50", "--sync", "atomic"], "--workers 5"),
        (["--workers", "2", "--increments", "60", "--sync", "atomic"], "--increments 60"),
    ] {
        let output =
            participant(&url, "strangers", &[&args[..], &["--work", "sleep:2ms"]].concat()).wait_with_output().unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let said = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(said.contains("its participants were started with") && said.contains(differs), "{said}");
    }
    // The right partner completes the run; both count everything.
    let partner = participant(&url, "strangers", &[&shared[..], &["--sync", "atomic"]].concat());
    let mut both = [KillOnDrop(partner), first];
    for child in &mut both {
        let (status, stdout, stderr) = output_within(&mut child.0, Duration::from_secs(60));
        assert!(status.success(), "{stderr}");
        let report: RunReport = serde_json::from_str(&stdout).unwrap();
        assert_eq!((report.final_value, report.expected), (200, 200));
    }
    assert_eq!(server.cli(&["DBSIZE"]), "0", "the last to leave removed the keys");
    // A run kept with --keep is not taken for a new one, alone or with a partner.
    let kept = run(
        BIN,
        &["--redis", &url, "--run-id", "kept", "--keep", "--workers", "1", "--increments", "5", "--work", "none"],
    );
    assert!(kept.status.success(), "{}", stderr_of(&kept));
    for participants in ["1", "2"] {
        let output = run(
            BIN,
            &[
                "--redis",
                &url,
                "--run-id",
                "kept",
                "--participants",
                participants,
                "--workers",
                "1",
                "--increments",
                "5",
            ],
        );
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("run 'kept'"), "{stderr}");
    }
    // What a run leaves, even kept, lives no longer than the run's deadline.
    let keys = server.cli(&["KEYS", "counter-lab:kept:*"]);
    assert!(!keys.is_empty());
    for key in keys.lines() {
        let ttl: i64 = server.cli(&["PTTL", key]).parse().unwrap();
        assert!(ttl > 0, "{key} has no time to live ({ttl})");
    }
}

/// Ctrl-C on one participant withdraws that participant only: the other's run goes on with the counter as it
/// was, and the last to leave removes the keys.
#[test]
fn ctrl_c_on_one_participant_leaves_the_shared_run_alone() {
    if !have_redis("ctrl_c_on_one_participant_leaves_the_shared_run_alone") {
        return;
    }
    let server = TestServer::start("redis-ctrl-c", &[]);
    let url = server.url();
    let args = ["--workers", "2", "--increments", "300", "--work", "sleep:5ms", "--sync", "atomic"];
    let interrupted = participant(&url, "ctrl-c", &args);
    let other = participant(&url, "ctrl-c", &args);
    server.wait_for_value("counter-lab:ctrl-c:value", 100);
    signal_pid(interrupted.id() as i32, libc::SIGINT);
    let stopped = interrupted.wait_with_output().unwrap();
    let partial = stderr_of(&stopped);
    assert_eq!(stopped.status.code(), Some(130), "{partial}");
    // Its partial report has the increments it made (it said 0 after hundreds).
    let json = &partial[partial.find('{').unwrap_or_else(|| panic!("no partial report: {partial}"))..];
    let own: RunReport = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {partial}"));
    assert!(own.worker_summary.increments_done >= 40, "{partial}");
    let output = other.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let report: RunReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report.worker_summary.increments_done, 600, "its own workers finished");
    // The counter still holds the interrupted participant's increments (nobody deleted it under the other), and
    // the stopped participant reported what it had done before it left: every increment is accounted for.
    assert!(report.final_value >= 600 + 50, "final {} after the other was stopped", report.final_value);
    assert_eq!((report.participants_unreported, report.expected), (0, 1200), "{report:?}");
    assert_eq!(report.lost_updates, Some(0), "{report:?}");
    assert!(!report.complete, "the stopped participant did not make all its increments");
    let started = Instant::now();
    while server.cli(&["DBSIZE"]) != "0" {
        assert!(started.elapsed() < Duration::from_secs(5), "keys left: {}", server.cli(&["KEYS", "*"]));
        thread::sleep(Duration::from_millis(50));
    }
}

/// A participant paused past its heartbeat is not heard from, not dead: the other reports it so (its count
/// unknown) and leaves the keys to it; woken, it finishes against the same counter and reports every increment,
/// and then the keys go.
#[test]
fn a_paused_participant_finds_its_run_where_it_left_it() {
    if !have_redis("a_paused_participant_finds_its_run_where_it_left_it") {
        return;
    }
    let server = TestServer::start("redis-paused", &[]);
    let url = server.url();
    let args = ["--workers", "1", "--increments", "200", "--work", "sleep:5ms", "--sync", "atomic"];
    let mut paused = KillOnDrop(participant(&url, "paused", &args));
    let mut other = KillOnDrop(participant(&url, "paused", &args));
    server.wait_for_value("counter-lab:paused:value", 40);
    signal_pid(paused.0.id() as i32, libc::SIGSTOP);
    // The other finishes its 200 (about a second) and, the heartbeat lapsed after two, leaves.
    let (status, stdout, stderr) = output_within(&mut other.0, Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let report: RunReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.participants_unreported, 1, "{report:?}");
    assert!(report.lost_updates.is_none() && report.lost_updates_bounds.is_some(), "{report:?}");
    assert_ne!(server.cli(&["EXISTS", "counter-lab:paused:value"]), "0", "the counter was removed under it");
    signal_pid(paused.0.id() as i32, libc::SIGCONT);
    let (status, stdout, stderr) = output_within(&mut paused.0, Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let report: RunReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!((report.final_value, report.expected, report.lost_updates), (400, 400, Some(0)), "{report:?}");
    let started = Instant::now();
    while server.cli(&["DBSIZE"]) != "0" {
        assert!(started.elapsed() < Duration::from_secs(5), "keys left: {}", server.cli(&["KEYS", "*"]));
        thread::sleep(Duration::from_millis(50));
    }
}

/// A participant of `run_id` on `server`, its report on standard output.
fn counting(server: &TestServer, run_id: &str, args: &[&str]) -> KillOnDrop {
    KillOnDrop(
        command(BIN)
            .args(["--redis", &server.url(), "--run-id", run_id, "--format", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Keys recreated mid-run (the server flushed) get the run's time to live again, whatever writes them: none
/// is left without one, even after a `kill -9` of the run.
#[test]
fn keys_recreated_mid_run_get_a_time_to_live_again() {
    if !have_redis("keys_recreated_mid_run_get_a_time_to_live_again") {
        return;
    }
    let server = TestServer::start("redis-flushed", &[]);
    for sync in ["fenced", "atomic", "racy"] {
        let run_id = format!("flushed-{sync}");
        let args = ["--sync", sync, "--workers", "2", "--increments", "100000", "--work", "sleep:1ms"];
        let mut child = counting(&server, &run_id, &args);
        server.wait_for_value(&format!("counter-lab:{run_id}:value"), 20);
        assert_eq!(server.cli(&["FLUSHALL"]), "OK");
        server.wait_for_value(&format!("counter-lab:{run_id}:value"), 5);
        thread::sleep(Duration::from_millis(1500));
        signal_pid(child.0.id() as i32, libc::SIGKILL);
        let _ = child.0.wait();
        let keys = server.cli(&["KEYS", "counter-lab:*"]);
        assert!(!keys.is_empty(), "{sync}: the run wrote its keys again");
        for key in keys.lines() {
            let ttl: i64 = server.cli(&["PTTL", key]).parse().unwrap();
            assert!(ttl > 0, "{sync}: {key} has no time to live ({ttl})");
        }
        assert_eq!(server.cli(&["FLUSHALL"]), "OK");
    }
}

/// The fencing token counter deleted mid-run is found reset and set above the newest token again: no holder
/// is refused for it, and the report says so rather than blame expired leases.
#[test]
fn a_fencing_token_counter_reset_mid_run_is_named_not_blamed_on_expired_holders() {
    if !have_redis("a_fencing_token_counter_reset_mid_run_is_named_not_blamed_on_expired_holders") {
        return;
    }
    let server = TestServer::start("redis-fence-reset", &[]);
    let args = ["--sync", "fenced", "--workers", "2", "--increments", "400", "--work", "sleep:1ms"];
    let mut child = counting(&server, "fence-reset", &args);
    server.wait_for_value("counter-lab:fence-reset:value", 100);
    assert_eq!(server.cli(&["DEL", "counter-lab:fence-reset:fence"]), "1");
    let (status, stdout, stderr) = output_within(&mut child.0, Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let report: RunReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!((report.final_value, report.lost_updates), (800, Some(0)), "{report:?}");
    assert!(count(&report, "fence_resets") >= 1, "{report:?}");
    assert_eq!(count(&report, "fenced_off"), 0, "no holder's lease expired: {report:?}");
}

#[test]
fn compare_adds_redis_rows_and_a_probe_when_a_server_can_be_started() {
    let scratch = Scratch::new("redis-rows");
    let json = scratch.file("r.json");
    let args =
        ["--models", "redis", "--syncs", "racy,atomic,optimistic", "--workers", "3", "--increments", "20", "--details"];
    let export = ["--work", "none", "--probe-pairs", "1", "--export-json", json.to_str().unwrap()];
    if !tests::have_tool("redis-server") {
        // Without a server to start, the rows are skipped with one line, and nothing fails.
        let output = scratch.compare(&[&args[..], &export[..]].concat());
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("the redis rows are skipped"));
        tests::skip("compare_adds_redis_rows_and_a_probe_when_a_server_can_be_started", "redis-server");
        return;
    }
    let output = scratch.compare(&[&args[..], &export[..]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = document["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in rows {
        assert_eq!(row["label"], "redis");
        if row["sync"] != "racy" {
            assert_eq!(row["final_median"].as_f64(), Some(60.0), "{row}");
        }
    }
    assert!(stdout.contains("Memory per extra redis client (1 pairs of runs with 1 and 1000 clients)"), "{stdout}");
}
