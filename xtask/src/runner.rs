//! Runs one frontend process and measures it from the outside.
//!
//! The frontend is started with `--hold stdin --format json`. Once it prints its ready line on stderr, every
//! worker is alive: the runner samples `/proc` for the whole process tree, then writes a line to the
//! frontend's stdin so that the workers start. At the end it reaps the frontend with `wait4`, which gives the
//! exit status and the rusage of the frontend and every child it reaped.
//!
//! A frontend dies with the task: it gets a parent-death signal (SIGKILL) before it executes, so even `kill -9`
//! of `cargo xtask` takes it along; on SIGINT or SIGTERM the runner stops it (SIGTERM, then SIGKILL after a
//! grace period), reaps it and returns [`TaskInterrupted`].

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use counter_core::{
    child::{self, Reaped, dies_with_us},
    cpu::CpuUsage,
    hold::READY_PREFIX,
    proc::memory::{self, MemorySnapshot},
    report::RunReport,
    signals,
};
use nix::{sys::signal::Signal, unistd::Pid};

/// How long a frontend may take to have every worker alive.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How often the runner looks at signals while it waits.
const TICK: Duration = Duration::from_millis(10);

/// How long a frontend stopped with SIGTERM gets to end before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The task was interrupted by SIGINT or SIGTERM; the program it was running was stopped and reaped.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal}")]
pub struct TaskInterrupted {
    /// The signal.
    pub signal: Signal,
}

/// Returns [`TaskInterrupted`] if a stop signal has arrived.
pub fn check_signals() -> Result<(), TaskInterrupted> {
    signals::received().map_or(Ok(()), |signal| Err(TaskInterrupted { signal }))
}

/// One run, as the frontend reported it and as seen from outside.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The frontend's own JSON report.
    pub report: RunReport,
    /// The process tree's memory, sampled from outside while every worker was alive.
    pub external: MemorySnapshot,
    /// How much the system's kernel stacks and page tables grew between just before the start of the program
    /// and the sample, KiB: an estimate of the kernel memory the run holds (other processes move it too).
    pub kernel_added_kib: i64,
    /// CPU use and context switches of the whole tree: from `wait4`, which counts the frontend and every
    /// descendant reaped by its parent, or the frontend's own figure when that is larger (a worker reaped by a
    /// fork server that the frontend does not wait for, as Python's, never reaches `wait4`'s count; the
    /// frontend reports such workers' time itself).
    pub cpu: CpuUsage,
    /// The frontend's raw JSON, to keep.
    pub raw_json: String,
}

/// A program that runs the workload: one of our binaries, or an interpreter and a script.
#[derive(Debug, Clone)]
pub struct Program {
    /// What to execute.
    pub path: PathBuf,
    /// Arguments before the workload flags (the script, for an interpreter).
    pub leading: Vec<String>,
    /// Its name in messages.
    pub name: String,
}

impl Program {
    /// One of the workspace's binaries, in `bin_dir`.
    pub fn binary(bin_dir: &Path, name: &str) -> Program {
        Program { path: bin_dir.join(name), leading: Vec::new(), name: name.to_owned() }
    }
}

/// A started program that is stopped and reaped if the runner leaves early.
struct Running {
    child: Child,
    reaped: bool,
}

impl Running {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for the end, looking at signals meanwhile; on one, stops the program and says so.
    fn wait(&mut self) -> anyhow::Result<Reaped> {
        // Most runs end within milliseconds of the go: the first looks come soon, then every tick.
        let mut pause = Duration::from_micros(250);
        loop {
            match child::wait4(Some(self.pid()), false) {
                Ok(Some(reaped)) => {
                    self.reaped = true;
                    return Ok(reaped);
                }
                Ok(None) => {}
                Err(errno) => return Err(anyhow!("could not wait for process {}: {errno}", self.pid())),
            }
            if let Some(signal) = signals::received() {
                self.stop();
                return Err(TaskInterrupted { signal }.into());
            }
            thread::sleep(pause);
            pause = (pause * 2).min(TICK);
        }
    }

    /// SIGTERM, a grace period, then SIGKILL; reaps it.
    fn stop(&mut self) {
        if self.reaped {
            return;
        }
        child::stop(self.pid(), STOP_GRACE);
        self.reaped = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `program` with `flags` and measures it.
pub fn run_once(program: &Program, flags: &[String]) -> anyhow::Result<Sample> {
    run_once_beside(program, flags, None)
}

/// [`run_once`], with the process tree of `server` (a server the program's workers connect to, started apart)
/// sampled with the program's: its share of the run's memory is then in the figures.
pub fn run_once_beside(program: &Program, flags: &[String], server: Option<i32>) -> anyhow::Result<Sample> {
    let name = &program.name;
    check_signals()?;
    let kernel_before = memory::kernel().unwrap_or_default();
    let child = dies_with_us(
        Command::new(&program.path)
            .args(&program.leading)
            .args(flags)
            .args(["--format", "json", "--hold", "stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .spawn()
    .with_context(|| format!("could not start {}", program.path.display()))?;
    let mut running = Running { child, reaped: false };
    let pid = running.pid().as_raw();
    let mut stdout = running.child.stdout.take().context("stdout is piped")?;
    let stdout_reader = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let (lines, stderr_reader) = forward_lines(running.child.stderr.take().context("stderr is piped")?);
    let mut stderr_text = String::new();
    let started = Instant::now();
    let ready = loop {
        if let Some(signal) = signals::received() {
            running.stop();
            return Err(TaskInterrupted { signal }.into());
        }
        match lines.recv_timeout(TICK) {
            Ok(line) if line.starts_with(READY_PREFIX) => break Ok(()),
            Ok(line) => {
                stderr_text.push_str(&line);
                stderr_text.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break Err(anyhow!("ended before its workers were alive")),
            Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() > READY_TIMEOUT => {
                running.stop();
                break Err(anyhow!("did not have all its workers alive after {READY_TIMEOUT:?}"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    let external = match ready {
        Ok(()) => {
            let mut pids = counter_core::proc::process_tree(pid).context("could not list the process tree")?;
            if let Some(server) = server {
                pids.extend(counter_core::proc::process_tree(server).unwrap_or_default());
            }
            memory::snapshot(&pids, "sampled from outside while every worker was alive")
                .context("could not sample the process tree")
        }
        Err(error) => Err(error),
    };
    let kernel_added_kib = memory::kernel().unwrap_or_default().total_kib() as i64 - kernel_before.total_kib() as i64;
    // Start the workers (or, after a failure, let the frontend end): a line, then end of file.
    if let Some(mut stdin) = running.child.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let reaped = running.wait()?;
    let raw_json = stdout_reader.join().map_err(|_| anyhow!("stdout reader panicked"))?.unwrap_or_default();
    let _ = stderr_reader.join();
    stderr_text.extend(lines.try_iter().map(|line| line + "\n"));
    let failed = |what: String| {
        let stderr = stderr_text.trim();
        // The frontend's own message already starts with its name.
        if stderr.is_empty() { anyhow!("{name} {what}") } else { anyhow!("{name} {what}; it said: {stderr}") }
    };
    let external = external.map_err(|error| failed(format!("{error:#}")))?;
    if !reaped.status.success() {
        return Err(failed(reaped.describe()));
    }
    let report: RunReport =
        serde_json::from_str(&raw_json).map_err(|error| failed(format!("printed no valid report ({error})")))?;
    let total = |cpu: &CpuUsage| cpu.user_s + cpu.sys_s;
    let cpu = if total(&report.cpu) > total(&reaped.cpu) { report.cpu } else { reaped.cpu };
    Ok(Sample { report, external, kernel_added_kib, cpu, raw_json })
}

fn forward_lines(stderr: impl Read + Send + 'static) -> (mpsc::Receiver<String>, thread::JoinHandle<()>) {
    let (send, receive) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    (receive, reader)
}
