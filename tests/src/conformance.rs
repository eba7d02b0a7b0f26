//! What every server model promises, as one suite that each store's own tests call with a server of its kind
//! ([`Server`]): a new store gets every behaviour test by implementing the trait for its test server. The runs
//! here are small: what they prove does not grow with the workload.

use std::{
    path::Path,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use counter_core::report::{RunReport, Verdict};

use crate::{KillOnDrop, Scratch, command, signal_pid, stderr_of, wait_timeout};

/// Every test of the suite, as a `#[test]` each in the calling test file: `can_run(test_name)` says whether the
/// store can run here (printing its one skip line if not), and `server()` makes a fresh test server of its kind.
/// A test added to the suite is added here once, and every store runs it.
#[macro_export]
macro_rules! conformance_suite {
    ($can_run:expr, $server:expr) => {
        $crate::conformance_suite!(
            @tests $can_run,
            $server,
            a_password_never_appears_in_what_is_printed_or_written,
            a_short_timeout_does_not_fail_the_rendezvous,
            a_participant_killed_in_the_rendezvous_ends_the_wait,
            connections_killed_mid_run_are_survived_and_cleaned_up
        );
    };
    (@tests $can_run:expr, $server:expr, $($test:ident),+) => {
        $(
            #[test]
            fn $test() {
                if !($can_run)(stringify!($test)) {
                    return;
                }
                $crate::conformance::$test(&($server)());
            }
        )+
    };
}

/// Passwords as users write them: spaces, quotes, `@`, `=`, `%`, `&`, `/`, `:` and non-ASCII; each also tried in
/// parts (a space-separated part must not leak either).
pub const PASSWORDS: [&str; 6] =
    ["Alpha9 Bravo7Zulu", "q'uo\"te5x", "at@Sign=eq9", "per%25cent&amp7", "nön-ASCII-密码7", "sl/ash:col7"];

/// A server of a store's kind, held by a test, and how that store's binary reaches it.
pub trait Server {
    /// The store's binary.
    fn bin(&self) -> &'static str;
    /// The flag that names a server.
    fn flag(&self) -> &'static str;
    /// The model's name, as `cargo xtask compare --models` takes it.
    fn model(&self) -> &'static str;
    /// The variable a password may come from, as the store's own tools read it.
    fn password_variable(&self) -> &'static str;
    /// How the binary reaches the server, without a password.
    fn url(&self) -> String;
    /// Every shape of address the store's clients take with `password` in it, each of which this server accepts
    /// (a password it requires, or one it ignores).
    fn urls_with_password(&self, password: &str) -> Vec<String>;
    /// Addresses with `password` in them that cannot be used (malformed, or no server there).
    fn unusable_urls(&self, password: &str) -> Vec<String>;
    /// Ends every connection of every client of the server (the coordinator's too).
    fn kill_connections(&self);
    /// What the server holds of runs (keys, tables), by name.
    fn run_data(&self) -> Vec<String>;
    /// The workers of shared run `run_id` that are ready, as the server's record says.
    fn ready_workers(&self, run_id: &str) -> u64;
    /// The counter of run `run_id`, once it exists.
    fn counter(&self, run_id: &str) -> Option<u64>;
}

/// Waits, at most `within`, until `done`; fails naming `what` never happened.
fn wait_for(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what} did not happen within {within:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Every text under `folder`, read.
fn texts_under(folder: &Path) -> Vec<(String, String)> {
    let mut files = vec![folder.to_path_buf()];
    let mut texts = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            texts.push((path.display().to_string(), text));
        }
    }
    texts
}

/// Fails if `text` holds `password` or any of its space-separated parts.
fn assert_without(text: &str, password: &str, place: &str) {
    for secret in std::iter::once(password).chain(password.split(' ')) {
        assert!(!text.contains(secret), "{place} holds the password ({secret:?}):\n{text}");
    }
}

/// A password never appears in what the binary prints (text, JSON, errors), whatever it holds and wherever it
/// comes from (the address, the environment), nor in what `cargo xtask compare` writes (its rows, the machine's
/// record, its exports, the page).
pub fn a_password_never_appears_in_what_is_printed_or_written(server: &dyn Server) {
    let run = ["--workers", "2", "--increments", "5", "--work", "none", "--sync", "atomic"];
    for password in PASSWORDS {
        for url in server.urls_with_password(password) {
            for format in ["text", "json"] {
                let mut run_once = command(server.bin());
                let output =
                    run_once.args([server.flag(), &url]).args(run).args(["--format", format]).output().unwrap();
                let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr_of(&output));
                assert!(output.status.success(), "{url:?}: {printed}");
                assert_without(&printed, password, &format!("the {format} report of a run with {url:?}"));
            }
        }
        for url in server.unusable_urls(password) {
            let output = command(server.bin()).args([server.flag(), &url]).args(run).output().unwrap();
            let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr_of(&output));
            assert_eq!(output.status.code(), Some(2), "{url:?}: {printed}");
            assert_without(&printed, password, &format!("the refusal of {url:?}"));
        }
    }
    // From the environment, as the store's own tools take it.
    let password = PASSWORDS[0];
    let output = command(server.bin())
        .args([server.flag(), &server.url()])
        .args(run)
        .env(server.password_variable(), password)
        .output()
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr_of(&output));
    assert_without(&printed, password, "a run with the password in the environment");
    // Nor in what compare keeps.
    let scratch = Scratch::new("conformance-password");
    let url = server.urls_with_password(password).remove(0);
    let output = scratch
        .xtask()
        .args(["compare", "--profile", "dev", "--models", server.model(), "--server"])
        .arg(format!("{}={url}", server.model()))
        .args(["--repeats", "1", "--warmup", "0", "--probe-pairs", "0", "--syncs", "atomic", "--increments", "1"])
        .args(["--export-json", scratch.file("e.json").to_str().unwrap()])
        .args(["--export-html", scratch.file("e.html").to_str().unwrap()])
        .output()
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr_of(&output));
    assert!(output.status.success(), "{printed}");
    assert_without(&printed, password, "compare's output");
    let texts = texts_under(scratch.path());
    assert!(texts.len() >= 4, "results, machine record and exports were written: {} files", texts.len());
    for (file, text) in texts {
        assert_without(&text, password, &file);
    }
}

/// A participant of a shared run.
fn participant(server: &dyn Server, run_id: &str, participants: u64, extra: &[&str]) -> KillOnDrop {
    let child = command(server.bin())
        .args([server.flag(), &server.url(), "--run-id", run_id, "--participants", &participants.to_string()])
        .args(["--format", "json"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

/// What a participant ended with: its status, its report if it printed one, its standard error.
fn ended(mut child: KillOnDrop, within: Duration) -> (std::process::ExitStatus, Option<RunReport>, String) {
    let status = wait_timeout(&mut child.0, within);
    let stdout = std::io::read_to_string(child.0.stdout.take().unwrap()).unwrap();
    let stderr = std::io::read_to_string(child.0.stderr.take().unwrap()).unwrap();
    (status, serde_json::from_str(&stdout).ok(), stderr)
}

/// A rendezvous under a response timeout shorter than any wait of the server's own (100 ms) still meets.
pub fn a_short_timeout_does_not_fail_the_rendezvous(server: &dyn Server) {
    let args = ["--workers", "1", "--increments", "20", "--work", "none", "--sync", "atomic", "--timeout", "100ms"];
    let first = participant(server, "short", 2, &args);
    wait_for(Duration::from_secs(30), "the first participant's readiness", || server.ready_workers("short") >= 1);
    thread::sleep(Duration::from_millis(500));
    let second = participant(server, "short", 2, &args);
    for child in [first, second] {
        let (status, report, stderr) = ended(child, Duration::from_secs(60));
        assert!(status.success(), "{stderr}");
        assert_eq!(report.expect("a report").final_value, 40);
    }
    wait_for(Duration::from_secs(5), "the run's data removed", || server.run_data().is_empty());
}

/// A participant killed while the others wait for the rest is noticed by its heartbeat's lapse: they stop
/// waiting within seconds, not at the rendezvous timeout, say why, and the run's data goes.
pub fn a_participant_killed_in_the_rendezvous_ends_the_wait(server: &dyn Server) {
    let args = ["--workers", "2", "--increments", "10", "--work", "none", "--sync", "atomic"];
    let args = [&args[..], &["--rendezvous-timeout", "10m"]].concat();
    let waiting = participant(server, "killed-early", 3, &args);
    let mut killed = participant(server, "killed-early", 3, &args);
    wait_for(Duration::from_secs(30), "both participants' readiness", || server.ready_workers("killed-early") >= 4);
    signal_pid(killed.0.id() as i32, libc::SIGKILL);
    let _ = killed.0.wait();
    let started = Instant::now();
    let (status, _, stderr) = ended(waiting, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 of its participants stopped without leaving before the start"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15), "it waited {:?}", started.elapsed());
    wait_for(Duration::from_secs(5), "the run's data removed", || server.run_data().is_empty());
}

/// Every connection of a run ended by the server (the coordinator's too) mid-run: the workers and the
/// coordinator connect again, the run ends with a final value within its bounds, and its data is removed.
pub fn connections_killed_mid_run_are_survived_and_cleaned_up(server: &dyn Server) {
    let child = command(server.bin())
        .args([server.flag(), &server.url(), "--run-id", "killed-connections", "--format", "json"])
        .args(["--workers", "2", "--increments", "150", "--work", "sleep:5ms", "--sync", "atomic", "--timeout", "2s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let child = KillOnDrop(child);
    wait_for(Duration::from_secs(30), "the counter's first increments", || {
        server.counter("killed-connections").is_some_and(|value| value >= 20)
    });
    server.kill_connections();
    let (status, report, stderr) = ended(child, Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let report = report.expect("a report");
    let outcomes = report.outcomes.expect("outcomes where a store can leave an increment unknown");
    assert!(matches!(outcomes.verdict, Verdict::Exact | Verdict::Consistent { .. }), "{outcomes:?}");
    assert!(report.final_value >= outcomes.acknowledged, "{report:?}");
    wait_for(Duration::from_secs(5), "the run's data removed", || server.run_data().is_empty());
}
