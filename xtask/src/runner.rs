//! Runs one frontend process and measures it from the outside.
//!
//! The frontend is started with `--hold stdin --format json`. Once it prints its ready line on stderr, every
//! worker is alive: the runner samples `/proc` for the whole process tree, then writes a line to the
//! frontend's stdin so that the workers start. At the end it reaps the frontend with `wait4`, which gives the
//! exit status and the rusage of the frontend and every child it reaped.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use counter_core::{
    cpu::CpuUsage,
    hold::READY_PREFIX,
    proc::memory::{self, MemorySnapshot},
    report::RunReport,
};

/// How long a frontend may take to have every worker alive.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// CPU use and context switches of the frontend and its reaped children, from `wait4`.
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

/// Runs `program` with `flags` and measures it.
pub fn run_once(program: &Program, flags: &[String]) -> anyhow::Result<Sample> {
    let name = &program.name;
    let kernel_before = memory::kernel().unwrap_or_default();
    let mut child = Command::new(&program.path)
        .args(&program.leading)
        .args(flags)
        .args(["--format", "json", "--hold", "stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {}", program.path.display()))?;
    let pid = child.id() as i32;
    let mut stdout = child.stdout.take().context("stdout is piped")?;
    let stdout_reader = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let (lines, stderr_reader) = forward_lines(child.stderr.take().context("stderr is piped")?);
    let mut stderr_text = String::new();
    let ready = loop {
        match lines.recv_timeout(READY_TIMEOUT) {
            Ok(line) if line.starts_with(READY_PREFIX) => break Ok(()),
            Ok(line) => {
                stderr_text.push_str(&line);
                stderr_text.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break Err(anyhow!("ended before its workers were alive")),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                break Err(anyhow!("did not have all its workers alive after {READY_TIMEOUT:?}"));
            }
        }
    };
    let external = match ready {
        Ok(()) => memory::snapshot_tree(pid, "sampled from outside while every worker was alive")
            .context("could not sample the process tree"),
        Err(error) => Err(error),
    };
    let kernel_added_kib = memory::kernel().unwrap_or_default().total_kib() as i64 - kernel_before.total_kib() as i64;
    // Start the workers (or, after a failure, let the frontend end): a line, then end of file.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let (status, cpu) = wait4(pid)?;
    let raw_json = stdout_reader.join().map_err(|_| anyhow!("stdout reader panicked"))?.unwrap_or_default();
    let _ = stderr_reader.join();
    stderr_text.extend(lines.try_iter().map(|line| line + "\n"));
    let failed = |what: String| {
        let stderr = stderr_text.trim();
        // The frontend's own message already starts with its name.
        if stderr.is_empty() { anyhow!("{name} {what}") } else { anyhow!("{name} {what}; it said: {stderr}") }
    };
    let external = external.map_err(|error| failed(format!("{error:#}")))?;
    if !status.success {
        return Err(failed(status.text));
    }
    let report =
        serde_json::from_str(&raw_json).map_err(|error| failed(format!("printed no valid report ({error})")))?;
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

struct ExitStatus {
    success: bool,
    text: String,
}

/// Reaps `pid` and returns how it ended and its rusage (its own and its reaped children's).
fn wait4(pid: i32) -> anyhow::Result<(ExitStatus, CpuUsage)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain data; all-zero is a valid value, which wait4 overwrites.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 writes only through the two valid pointers; `pid` is our own child, not yet reaped
        // (its std `Child` handle is never waited on).
        let reaped = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            bail!("could not wait for process {pid}: {error}");
        }
    }
    let text = if libc::WIFEXITED(status) {
        format!("exited with code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("ended with wait status {status:#x}")
    };
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ExitStatus { success, text }, CpuUsage::from_rusage(&usage)))
}
