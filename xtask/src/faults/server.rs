//! The private servers the faults are injected into, one per model that keeps its counter in one, each kept by
//! its binary's `--serve`, which answers what the faults need in the store's own terms (the counter's value, the
//! lock's holder, the server's processes, ending a participant's connections, what a run left, the server's log
//! of writes): the requests are `counter_client::serve`'s, and nothing here names a store.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use counter_core::{child, model::Model};
use nix::{sys::signal::Signal, unistd::Pid};

use crate::usage::Usage;

/// How long one request may take to be answered.
const REQUEST_DEADLINE: Duration = Duration::from_secs(15);

/// A private server of one model, stopped when dropped.
pub struct Server {
    pub model: Model,
    process: Child,
    /// `--serve`'s standard input: the requests; closing it stops the server.
    input: Option<ChildStdin>,
    /// Its answers, one line each, read on a thread of their own.
    answers: mpsc::Receiver<String>,
    /// What the participants are given to reach it (the value of its binary's server flag).
    pub address: String,
    /// What it is, as it names itself, with its version.
    pub version: String,
}

impl Server {
    /// Starts a private server of `model` with its binary's `--serve` (from `bin_dir`): the binary makes it,
    /// removes what an earlier run killed with `kill -9` left, and stops and removes it when its input closes or
    /// it dies with this process. A server that cannot be made here is a [`Usage`] error (the binary exited 2).
    pub fn start(model: Model, bin_dir: &Path) -> anyhow::Result<Server> {
        let binary = bin_dir.join(model.binary());
        let mut process = child::dies_with_us(
            Command::new(&binary).arg("--serve").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()),
        )
        .spawn()
        .with_context(|| format!("could not run {}", binary.display()))?;
        let input = process.stdin.take();
        let (sender, answers) = mpsc::channel();
        if let Some(stdout) = process.stdout.take() {
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let address = answers.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        if address.is_empty() {
            let _ = process.kill();
            let output = process.wait_with_output()?;
            let why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if output.status.code() == Some(2) {
                return Err(Usage(why).into());
            }
            bail!("{} --serve made no server: {why}", model.binary());
        }
        let mut server = Server { model, process, input, answers, address, version: String::new() };
        server.version = server.ask("version")?;
        Ok(server)
    }

    /// The server's answer to `request`, within [`REQUEST_DEADLINE`].
    pub fn ask(&self, request: &str) -> anyhow::Result<String> {
        let mut input = self.input.as_ref().context("the server's input is closed")?;
        writeln!(input, "{request}").with_context(|| format!("{} --serve went away", self.model.binary()))?;
        let answer = self.answers.recv_timeout(REQUEST_DEADLINE).with_context(|| {
            format!("{} --serve did not answer '{request}' within {REQUEST_DEADLINE:?}", self.model.binary())
        })?;
        match answer.strip_prefix("error: ") {
            Some(why) => bail!("{} --serve could not answer '{request}': {why}", self.model.binary()),
            None => Ok(answer),
        }
    }

    /// Every process of the server.
    pub fn processes(&self) -> Vec<Pid> {
        let answer = self.ask("processes").unwrap_or_default();
        answer.split_whitespace().filter_map(|pid| pid.parse().ok()).filter(|pid| *pid > 0).map(Pid::from_raw).collect()
    }

    /// Sends `signal` to every process of the server.
    pub fn signal_all(&self, signal: Signal) {
        for pid in self.processes() {
            let _ = nix::sys::signal::kill(pid, signal);
        }
    }

    /// The counter's value in run `run_id`, 0 until there is one (or while the server does not answer).
    pub fn counter(&self, run_id: &str) -> u64 {
        self.ask(&format!("counter {run_id}")).ok().and_then(|value| value.parse().ok()).unwrap_or(0)
    }

    /// The pid of the participant that holds run `run_id`'s lock, where the lock is a lease that names it.
    pub fn lock_holder(&self, run_id: &str) -> Option<Pid> {
        self.ask(&format!("holder {run_id}")).ok()?.parse().ok().filter(|pid| *pid > 0).map(Pid::from_raw)
    }

    /// Ends participant `pid`'s worker connections by the server's own command: how many, and how, in words.
    pub fn end_connections_of(&self, run_id: &str, pid: Pid) -> anyhow::Result<String> {
        self.ask(&format!("end-connections {run_id} {pid}"))
    }

    /// What run `run_id` left on the server, then removed.
    pub fn left_behind(&self, run_id: &str) -> anyhow::Result<Vec<Leftover>> {
        let answer = self.ask(&format!("left {run_id}"))?;
        answer.split('\t').filter(|item| !item.is_empty()).map(Leftover::parse).collect()
    }

    /// Starts watching the server's log of commands for run `run_id`'s writes; false where there is none.
    pub fn watch(&self, run_id: &str) -> anyhow::Result<bool> {
        Ok(self.ask(&format!("watch {run_id}"))? == "watching")
    }

    /// What went back among the writes watched, each with its milliseconds since the watching started.
    pub fn watched(&self) -> anyhow::Result<Vec<(u64, String)>> {
        let answer = self.ask("watched")?;
        Ok(answer
            .split('\t')
            .filter_map(|event| {
                let (ms, text) = event.split_once(' ')?;
                Some((ms.parse().ok()?, text.to_owned()))
            })
            .collect())
    }
}

/// Something a run left on the server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Leftover {
    /// What, and how many: `2 tables`.
    pub what: String,
    /// Whether it waits for a participant that did not end (it has no time to live, and only the last
    /// participant out removes it); else it should never be left.
    pub waits_for_a_participant: bool,
}

impl Leftover {
    fn parse(item: &str) -> anyhow::Result<Leftover> {
        let (kind, what) = item.split_once(' ').context("a leftover without words")?;
        let waits_for_a_participant = match kind {
            "waits" => true,
            "never" => false,
            _ => bail!("a leftover of no known kind ({} characters)", kind.len()),
        };
        Ok(Leftover { what: what.to_owned(), waits_for_a_participant })
    }
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
