//! The private servers the faults are injected into, one per store: a `redis-server` on a Unix socket, or a
//! PostgreSQL cluster that `counter-postgres --serve` keeps; what the faults need of each (the counter's value,
//! the lock's holder, the server's processes, a participant's connections), and what a run left behind.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use counter_core::{child, model::Model};
use nix::{sys::signal::Signal, unistd::Pid};
use serde::{Deserialize, Serialize};

use crate::usage::Usage;

/// How long one client command (`redis-cli`, `psql`) may take.
const CLI_DEADLINE: Duration = Duration::from_secs(10);

/// A store whose runs can be shared by participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Store {
    /// Redis: the lock is a lease (`SET NX PX`).
    Redis,
    /// PostgreSQL: the lock is a row lock held to COMMIT.
    Postgres,
}

impl Store {
    /// Every store, in the order the table shows them.
    pub const ALL: [Store; 2] = [Store::Redis, Store::Postgres];

    /// Its model: whose binary the participants run.
    pub fn model(self) -> Model {
        match self {
            Store::Redis => Model::Redis,
            Store::Postgres => Model::Postgres,
        }
    }

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        self.model().name()
    }
}

/// A private server of one store, stopped when dropped.
pub struct Server {
    pub store: Store,
    process: Child,
    /// `--serve`'s standard input: closing it stops the cluster.
    input: Option<ChildStdin>,
    /// What the participants are given to reach it: a `unix://` URL or a connection string.
    pub address: String,
    /// What it is: `redis-server 7.0.15`.
    pub version: String,
}

impl Server {
    /// Starts a private server of `store` with its binary's `--serve` (from `bin_dir`): the binary makes it,
    /// removes what an earlier run killed with `kill -9` left, and stops and removes it when its input closes or
    /// it dies with this process.
    pub fn start(store: Store, bin_dir: &Path) -> anyhow::Result<Server> {
        let (client, install) = match store {
            Store::Redis => ("redis-cli", "apt-get install redis-server redis-tools"),
            Store::Postgres => ("psql", "apt-get install postgresql"),
        };
        if child::on_path(client).is_none() {
            return Err(Usage(format!("{client} is not on the PATH; install it ({install})")).into());
        }
        let binary = bin_dir.join(store.model().binary());
        let mut process = child::dies_with_us(
            Command::new(&binary).arg("--serve").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()),
        )
        .spawn()
        .with_context(|| format!("could not run {}", binary.display()))?;
        let input = process.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = process.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let address = line.trim().to_owned();
        if address.is_empty() {
            let _ = process.kill();
            let output = process.wait_with_output()?;
            let why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if output.status.code() == Some(2) {
                return Err(Usage(why).into());
            }
            bail!("{} --serve made no server: {why}", store.model().binary());
        }
        let mut server = Server { store, process, input, address, version: String::new() };
        server.version = match store {
            Store::Redis => server
                .redis(&["INFO", "server"])
                .lines()
                .find_map(|line| line.strip_prefix("redis_version:"))
                .map_or_else(|| "redis-server".to_owned(), |v| format!("redis-server {}", v.trim())),
            Store::Postgres => server
                .psql("SHOW server_version")
                .split_whitespace()
                .next()
                .map_or_else(|| "PostgreSQL".to_owned(), |version| format!("PostgreSQL {version}")),
        };
        Ok(server)
    }

    /// The Redis socket (for `MONITOR`).
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(self.address.trim_start_matches("unix://"))
    }

    /// The cluster's directory, from its connection string's `host=`.
    fn cluster_dir(&self) -> Option<PathBuf> {
        self.address.split_whitespace().find_map(|pair| pair.strip_prefix("host=")).map(PathBuf::from)
    }

    /// Every process of the server: redis-server, or the postmaster and its children.
    pub fn processes(&self) -> Vec<Pid> {
        let root = match self.store {
            // The served redis-server: the one child of `counter-redis --serve`.
            Store::Redis => counter_core::proc::process_tree(self.process.id() as i32)
                .unwrap_or_default()
                .into_iter()
                .find(|&pid| pid != self.process.id() as i32),
            Store::Postgres => self
                .cluster_dir()
                .and_then(|dir| std::fs::read_to_string(dir.join("data").join("postmaster.pid")).ok())
                .and_then(|lock| lock.lines().next()?.trim().parse().ok()),
        };
        let Some(root) = root else { return Vec::new() };
        counter_core::proc::process_tree(root).unwrap_or_else(|_| vec![root]).into_iter().map(Pid::from_raw).collect()
    }

    /// Sends `signal` to every process of the server.
    pub fn signal_all(&self, signal: Signal) {
        for pid in self.processes() {
            let _ = nix::sys::signal::kill(pid, signal);
        }
    }

    /// The counter's value in run `run_id`, 0 until there is one.
    pub fn counter(&self, run_id: &str) -> u64 {
        let answer = match self.store {
            Store::Redis => self.redis(&["GET", &format!("counter-lab:{run_id}:value")]),
            Store::Postgres => self.psql(&format!("SELECT v FROM \"counter_lab_{run_id}\" WHERE shard = 0")),
        };
        answer.parse().unwrap_or(0)
    }

    /// Who holds run `run_id`'s lock (Redis: the token, which starts with its holder's pid).
    pub fn lock_holder(&self, run_id: &str) -> String {
        match self.store {
            Store::Redis => self.redis(&["GET", &format!("counter-lab:{run_id}:lock")]),
            Store::Postgres => String::new(),
        }
    }

    /// Kills, by the server's own command, the worker connections of run `run_id`'s participant `pid`; how many.
    pub fn kill_connections_of(&self, run_id: &str, pid: Pid) -> usize {
        match self.store {
            Store::Redis => {
                let name = format!("name=counter-lab-{run_id}-{pid}-");
                let list = self.redis(&["CLIENT", "LIST"]);
                let ids: Vec<&str> = list
                    .lines()
                    .filter(|line| line.split_whitespace().any(|field| field.starts_with(&name)))
                    .filter_map(|line| line.split_whitespace().find_map(|field| field.strip_prefix("id=")))
                    .collect();
                for id in &ids {
                    self.redis(&["CLIENT", "KILL", "ID", id]);
                }
                ids.len()
            }
            Store::Postgres => self
                .psql(&format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE \
                     'counter-lab-{pid}-%'"
                ))
                .parse()
                .unwrap_or(0),
        }
    }

    /// What run `run_id` left on the server (keys without a time to live; tables), then removes it all, so that
    /// the next run starts clean: (keys without TTL, tables).
    pub fn left_behind(&self, run_id: &str) -> (u64, u64) {
        match self.store {
            Store::Redis => {
                let keys = self.redis(&["--scan", "--pattern", &format!("counter-lab:{run_id}:*")]);
                let mut without_ttl = 0;
                for key in keys.lines().filter(|key| !key.is_empty()) {
                    if self.redis(&["PTTL", key]) == "-1" {
                        without_ttl += 1;
                    }
                    self.redis(&["DEL", key]);
                }
                (without_ttl, 0)
            }
            Store::Postgres => {
                let tables = self.psql(&format!(
                    "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE tablename LIKE \
                     'counter\\_lab\\_{run_id}%'"
                ));
                if tables.is_empty() {
                    return (0, 0);
                }
                self.psql(&format!("DROP TABLE IF EXISTS {tables}"));
                (0, tables.split(", ").count() as u64)
            }
        }
    }

    fn redis(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.arg("-s").arg(self.socket()).args(args);
        answer_of(&mut command)
    }

    fn psql(&self, sql: &str) -> String {
        let mut command = Command::new("psql");
        command.args([&self.address, "-X", "-At", "-c", sql]);
        answer_of(&mut command)
    }
}

/// What `command` prints, trimmed; empty when it fails, or has not answered within [`CLI_DEADLINE`] (a server
/// that stopped answering: it is then killed). Its output is read while it runs, so that a long answer never
/// fills the pipe and stalls it.
fn answer_of(command: &mut Command) -> String {
    let Ok(mut child) = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn() else {
        return String::new();
    };
    let mut stdout = child.stdout.take();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(stdout) = stdout.as_mut() {
            let _ = std::io::Read::read_to_string(stdout, &mut text);
        }
        text
    });
    let started = Instant::now();
    while matches!(child.try_wait(), Ok(None)) {
        if started.elapsed() > CLI_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return String::new();
        }
        thread::sleep(Duration::from_millis(2));
    }
    reader.join().map(|text| text.trim().to_owned()).unwrap_or_default()
}

impl Drop for Server {
    fn drop(&mut self) {
        // Continued first, in case a fault left it stopped.
        self.signal_all(Signal::SIGCONT);
        // `--serve` stops and removes its server when its input closes.
        drop(self.input.take());
        let started = Instant::now();
        while matches!(self.process.try_wait(), Ok(None)) && started.elapsed() < Duration::from_secs(15) {
            thread::sleep(Duration::from_millis(20));
        }
        child::stop(Pid::from_raw(self.process.id() as i32), Duration::from_secs(3));
    }
}
