//! What every server model promises, as one suite that each store's own tests call with a server of its kind
//! ([`Server`]): a new store gets every behaviour test by implementing the trait for its test server. The runs
//! here are small: what they prove does not grow with the workload.

use std::{
    path::Path,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use counter_core::{
    config::Strategy,
    model::Model,
    report::{RunReport, Verdict},
};

use crate::{KillOnDrop, Scratch, command, process_exists, run, signal_pid, stderr_of, wait_timeout};

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
            connections_killed_mid_run_are_survived_and_cleaned_up,
            participants_add_up_exactly_and_leave_no_data,
            strangers_one_too_many_and_kept_runs_are_refused_saying_why,
            the_private_server_goes_with_the_binary_on_every_way_out
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

/// The model whose binary `server` names.
fn model_of(server: &dyn Server) -> Model {
    Model::ALL.into_iter().find(|model| model.name() == server.model()).expect("a model of the catalog")
}

/// Three participants in three processes, with every strategy that cannot lose an update on the store: each
/// one's total exact, and the last to leave removes the run's data.
pub fn participants_add_up_exactly_and_leave_no_data(server: &dyn Server) {
    let model = model_of(server);
    let exact = Strategy::ALL.into_iter().filter(|strategy| !strategy.is_racy());
    for strategy in exact.filter(|strategy| *strategy != Strategy::Fenced || model.lock_expires()) {
        let run_id = format!("three-{}", strategy.name());
        let args = ["--sync", strategy.name(), "--workers", "2", "--increments", "40", "--work", "sleep:1ms"];
        let args = [&args[..], &["--rendezvous-timeout", "60s"]].concat();
        let children: Vec<_> = (0..3).map(|_| participant(server, &run_id, 3, &args)).collect();
        for child in children {
            let (status, report, stderr) = ended(child, Duration::from_secs(60));
            assert!(status.success(), "{strategy:?}: {stderr}");
            let report = report.expect("a report");
            assert_eq!((report.final_value, report.expected, report.lost_updates), (240, 240, Some(0)), "{strategy:?}");
            assert_eq!((report.participants, report.participants_unreported), (3, 0), "{strategy:?}");
            assert_eq!(report.worker_summary.increments_done, 80, "{strategy:?}: each participant's own workers");
        }
        wait_for(Duration::from_secs(5), "the run's data removed", || server.run_data().is_empty());
    }
}

/// A participant whose configuration differs from the run's, one more than the run was started for, or one
/// coming to a run that ended and was kept is refused (exit 2) saying why; the run it would have spoiled ends
/// as it would have.
pub fn strangers_one_too_many_and_kept_runs_are_refused_saying_why(server: &dyn Server) {
    let shared = ["--sync", "atomic", "--workers", "2", "--increments", "50", "--work", "sleep:20ms"];
    let first = participant(server, "strangers", 2, &[&shared[..], &["--rendezvous-timeout", "60s"]].concat());
    wait_for(Duration::from_secs(30), "the first participant's readiness", || server.ready_workers("strangers") >= 2);
    for (args, differs) in [
        (["--sync", "sharded", "--workers", "2"], "--sync sharded"),
        (["--sync", "atomic", "--workers", "3"], "--workers 3"),
    ] {
        let stranger = participant(server, "strangers", 2, &[&args[..], &shared[4..]].concat());
        let (status, _, stderr) = ended(stranger, Duration::from_secs(30));
        let said = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("its participants were started with") && said.contains(differs), "{said}");
    }
    let second = participant(server, "strangers", 2, &shared);
    wait_for(Duration::from_secs(30), "the pair's readiness", || server.ready_workers("strangers") >= 4);
    let (status, _, stderr) = ended(participant(server, "strangers", 2, &shared), Duration::from_secs(30));
    let said = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(status.code() == Some(2) && said.contains("has its 2 participants already"), "{said}");
    for child in [first, second] {
        let (status, report, stderr) = ended(child, Duration::from_secs(60));
        assert!(status.success(), "{stderr}");
        let report = report.expect("a report");
        assert_eq!((report.final_value, report.expected), (200, 200));
    }
    // A run kept with --keep is not taken for a new one, alone or with a partner.
    let once = ["--workers", "1", "--increments", "5", "--work", "none"];
    let kept = run(server.bin(), &[&[server.flag(), &server.url(), "--run-id", "kept", "--keep"][..], &once].concat());
    assert!(kept.status.success(), "{}", stderr_of(&kept));
    for participants in [1, 2] {
        let (status, _, stderr) = ended(participant(server, "kept", participants, &once), Duration::from_secs(30));
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("run 'kept'"), "{stderr}");
    }
}

/// The private servers' directories of binary `pid` (`counter-<model>-<pid>-...` in the temporary
/// directory), and the processes whose command line names one of them.
fn private_servers_of(model: Model, pid: i32) -> (Vec<std::path::PathBuf>, Vec<i32>) {
    let prefix = format!("counter-{}-{pid}-", model.name());
    let dirs: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect();
    let processes = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&process| {
            let line = std::fs::read(format!("/proc/{process}/cmdline")).unwrap_or_default();
            process != pid && String::from_utf8_lossy(&line).contains(&prefix)
        })
        .collect();
    (dirs, processes)
}

/// The private server a run makes lives as long as the binary: after Ctrl-C, SIGTERM or `kill -9` no server is
/// left, and what a `kill -9` left on disk is removed by the next run.
pub fn the_private_server_goes_with_the_binary_on_every_way_out(server: &dyn Server) {
    let model = model_of(server);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGKILL] {
        let mut held = crate::start_held(server.bin(), &["--workers", "3", "--work", "sleep:10ms"]);
        let pid = held.pid();
        let (dirs, servers) = private_servers_of(model, pid);
        assert!(dirs.len() == 1 && !servers.is_empty(), "a directory and a server while it runs: {dirs:?} {servers:?}");
        held.release();
        thread::sleep(Duration::from_millis(200));
        signal_pid(pid, signal);
        let (status, _, stderr) = held.finish();
        let expected = match signal {
            libc::SIGINT => Some(130),
            libc::SIGTERM => Some(143),
            _ => None,
        };
        assert_eq!(status.code(), expected, "{stderr}");
        wait_for(Duration::from_secs(15), "the server's end with the binary", || {
            servers.iter().all(|&server| !process_exists(server))
        });
        if signal != libc::SIGKILL {
            assert!(private_servers_of(model, pid).0.is_empty(), "its directory is left after signal {signal}");
        }
    }
    // The next run removes what a kill -9 left.
    let output = run(server.bin(), &["--workers", "1", "--increments", "1", "--work", "none"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let prefix = format!("counter-{}-", model.name());
    let stale: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .filter(|name| {
            name[prefix.len()..]
                .split('-')
                .next()
                .and_then(|pid| pid.parse().ok())
                .is_some_and(|pid| !process_exists(pid))
        })
        .collect();
    assert!(stale.is_empty(), "{stale:?}");
}
