//! `counter-mariadb` end to end, on private servers: every strategy, snapshot isolation and the isolation
//! levels, the server's thread per connection, the conformance suite every store runs. Skipped with one line
//! without MariaDB.

use std::{path::PathBuf, process::Stdio};

use counter_core::{config::Strategy, report::RunReport};
use serde_json::Value;
use tests::{KillOnDrop, command, conformance, run_json, stderr_of};

const BIN: &str = "counter-mariadb";

fn have_mariadb(test: &str) -> bool {
    tests::runnable(test, BIN)
}

/// A contended run on the server these tests share: what is under test is the strategy with `extra` flags.
fn contended(strategy: Strategy, extra: &[&str]) -> RunReport {
    let args = ["--sync", strategy.name(), "--workers", "5", "--increments", "200", "--work", "none"];
    let server = tests::shared_server_flags(BIN);
    let server: Vec<&str> = server.iter().map(String::as_str).collect();
    run_json(BIN, &[&args[..], extra, &server].concat())
}

fn figures(report: &RunReport) -> Value {
    serde_json::to_value(report.extension.as_ref().expect("the server's figures")).unwrap()["figures"].clone()
}

#[test]
fn every_strategy_but_racy_is_exact_and_racy_loses_at_repeatable_read_without_an_error() {
    if !have_mariadb("every_strategy_but_racy_is_exact_and_racy_loses_at_repeatable_read_without_an_error") {
        return;
    }
    // Fenced is refused here (a row lock cannot expire): the contract tests check that.
    for strategy in Strategy::ALL.into_iter().filter(|strategy| *strategy != Strategy::Fenced) {
        let report = contended(strategy, &[]);
        let (lost, figures) = (report.lost_updates.expect("a finished run counts its losses"), figures(&report));
        assert_eq!((&figures["isolation"], &figures["snapshot_isolation"]), (&"repeatable read".into(), &false.into()));
        if strategy == Strategy::Racy {
            // 1000 read-then-write transactions on one row, a round trip apart: some overlap, and nothing says so.
            assert!(lost > 0, "racy at repeatable read lost nothing: {report:?}");
            assert_eq!(figures["refused"], 0, "{figures}");
        } else {
            assert_eq!((report.final_value, lost), (1000, 0), "{strategy:?}");
        }
        if strategy == Strategy::Mutex {
            assert!(figures["lock_waits"].as_u64().unwrap_or(0) > 0, "{figures}");
        }
    }
}

#[test]
fn snapshot_isolation_and_serializable_refuse_what_repeatable_read_loses() {
    if !have_mariadb("snapshot_isolation_and_serializable_refuse_what_repeatable_read_loses") {
        return;
    }
    let read_committed = contended(Strategy::Racy, &["--isolation", "read-committed"]);
    assert!(read_committed.lost_updates.unwrap_or(0) > 0, "{read_committed:?}");
    for flags in [["--snapshot-isolation", "on"], ["--isolation", "serializable"]] {
        let report = contended(Strategy::Racy, &flags);
        assert_eq!((report.final_value, report.lost_updates), (1000, Some(0)), "{flags:?}");
        let refused = figures(&report)["refused"].as_u64().unwrap();
        assert!(refused > 0, "{flags:?}: the server refused no transaction: {report:?}");
    }
}

#[test]
fn each_connection_is_a_thread_of_the_server_measured_from_proc() {
    if !have_mariadb("each_connection_is_a_thread_of_the_server_measured_from_proc") {
        return;
    }
    let report = run_json(BIN, &["--workers", "20", "--increments", "1", "--work", "none"]);
    let figures = figures(&report);
    let figure = |name: &str| figures[name].as_u64().unwrap_or_else(|| panic!("no {name}: {figures}"));
    let (before, cached, with) = (
        figure("server_threads_before"),
        figure("server_threads_cached_before"),
        figure("server_threads_with_clients"),
    );
    // A thread per connection: new ones, or idle ones the server kept from connections that ended.
    assert!(with + cached >= before + 20, "{before} threads ({cached} cached) before, {with} with 20 clients");
    // One process: this client and the server.
    assert_eq!(report.memory.processes, 2, "{:?}", report.memory);
    assert!(figures["server_pss_added_bytes"].as_i64().unwrap() > 0, "{figures}");
}

#[test]
fn without_a_server_installed_the_binary_says_how_to_get_one() {
    if !tests::can_run("without_a_server_installed_the_binary_says_how_to_get_one", true, &["unshare"]) {
        return;
    }
    // The server's programs hidden under empty folders, in a mount namespace of the run's own.
    let bin = tests::binary(BIN);
    let script =
        format!("mount -t tmpfs none /usr/sbin && mount -t tmpfs none /usr/bin && exec {} --workers 1", bin.display());
    let output = std::process::Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("apt-get install mariadb-server") && stderr.contains("--mariadb URL"), "{stderr}");
}

/// A server served by `counter-mariadb --serve` for a test: stopped when dropped.
struct Served {
    _server: KillOnDrop,
    url: String,
    socket: PathBuf,
}

impl Served {
    fn start() -> Served {
        let mut server =
            KillOnDrop(command(BIN).arg("--serve").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(server.0.stdout.take().unwrap()), &mut line).unwrap();
        let url = line.trim().to_owned();
        let socket = PathBuf::from(url.split_once("socket=").expect("a socket in the URL").1);
        Served { _server: server, url, socket }
    }

    /// What the `mariadb` client prints for `sql`, tab-separated without headers, or `None` if it failed.
    fn query(&self, sql: &str) -> Option<String> {
        let output = std::process::Command::new("mariadb")
            .args(["--no-defaults", "-u", "root", "-D", "test", "-N", "-B", "--force", "-S"])
            .arg(&self.socket)
            .args(["-e", sql])
            .output()
            .expect("the mariadb client, which comes with the server");
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
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
        "--mariadb"
    }

    fn model(&self) -> &'static str {
        "mariadb"
    }

    fn password_variable(&self) -> &'static str {
        "MYSQL_PWD"
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    /// A user whose password is `password`, made for it.
    fn urls_with_password(&self, password: &str) -> Vec<String> {
        let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
        let made = format!(
            "CREATE OR REPLACE USER 'counter_pw'@'localhost' IDENTIFIED BY '{quoted}'; \
             GRANT ALL ON test.* TO 'counter_pw'@'localhost'"
        );
        self.query(&made).expect("a user with the password");
        vec![format!(
            "mysql://counter_pw:{}@localhost/test?socket={}",
            percent_encoded(password),
            self.socket.display()
        )]
    }

    fn unusable_urls(&self, password: &str) -> Vec<String> {
        vec![
            password.to_owned(),
            format!("mysql://u:{password}@127.0.0.1:notaport/db"),
            format!("mysql://u:{}@127.0.0.1:1/db", percent_encoded(password)),
            format!("mysql://u:{}@localhost/db?socket=/nonexistent", percent_encoded(password)),
        ]
    }

    fn kill_connections(&self) {
        let ids = self
            .query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon'")
            .unwrap_or_default();
        let kills = ids.lines().map(|id| format!("KILL CONNECTION {id};")).collect::<Vec<_>>().join(" ");
        if !kills.is_empty() {
            let _ = self.query(&kills);
        }
    }

    fn run_data(&self) -> Vec<String> {
        let sql = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME LIKE 'counter\\_lab\\_%'";
        self.query(sql).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn ready_workers(&self, run_id: &str) -> u64 {
        let sql =
            format!("SELECT COALESCE(SUM(workers), 0) FROM `counter_lab_{run_id}:p` WHERE ready AND tag <> '#config'");
        self.query(&sql).and_then(|answer| answer.parse().ok()).unwrap_or(0)
    }

    fn counter(&self, run_id: &str) -> Option<u64> {
        self.query(&format!("SELECT SUM(v) FROM `counter_lab_{run_id}`"))?.parse().ok()
    }
}

tests::conformance_suite!(have_mariadb, Served::start);
