//! The CPython interpreters the reference programs run on: the `python3` on the `PATH` and those
//! `cargo xtask python install` built, or the ones named with `--python PATH` (or `$COUNTER_PYTHON`). Each is asked what it is
//! (version, free-threaded build) before it gets rows, and each run's report says again whether its GIL was on.

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use counter_core::child::{self, dies_with_us};
use nix::unistd::Pid;
use serde::Deserialize;

use super::install;
use crate::usage::Usage;

/// How long an interpreter may take to say what it is.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// One interpreter, as it described itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// What to execute.
    pub path: PathBuf,
    /// `3.13.5`.
    pub version: String,
    /// Built with `Py_GIL_DISABLED` (PEP 703): its threads can run Python at the same time.
    pub free_threaded: bool,
}

impl Interpreter {
    /// Asks the interpreter at `path` what it is (with a deadline: a program that never answers is named).
    pub fn probe(path: &Path) -> anyhow::Result<Interpreter> {
        #[derive(Deserialize)]
        struct Answer {
            version: String,
            free_threaded: bool,
        }
        let script = "import json, platform, sysconfig; print(json.dumps({'version': platform.python_version(), \
                      'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED'))}))";
        let mut command = Command::new(path);
        command.args(["-c", script]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut process =
            dies_with_us(&mut command).spawn().with_context(|| format!("could not run {}", path.display()))?;
        let pid = Pid::from_raw(process.id() as i32);
        let started = Instant::now();
        let reaped = loop {
            if let Some(reaped) = child::wait4(Some(pid), false)? {
                break reaped;
            }
            if started.elapsed() > PROBE_TIMEOUT {
                child::stop(pid, Duration::from_secs(1));
                bail!("{} did not say what it is within {} s", path.display(), PROBE_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut answer = String::new();
        process.stdout.take().map(|mut out| out.read_to_string(&mut answer));
        if !reaped.status.success() {
            bail!("{} is not a working Python: {}", path.display(), reaped.describe());
        }
        let answer: Answer = serde_json::from_str(answer.trim())
            .map_err(|error| anyhow!("{} is not a CPython this project can read ({error})", path.display()))?;
        // A version is digits and dots, perhaps a suffix (3.14.0rc1): anything else is not put in a label.
        if answer.version.is_empty() || !answer.version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            bail!("{} gave an unreadable version", path.display());
        }
        Ok(Interpreter { path: path.to_path_buf(), version: answer.version, free_threaded: answer.free_threaded })
    }

    /// The interpreter as its executable is named: `python3.11`, `python3.13t` (the `t` for free-threaded).
    pub fn name(&self) -> String {
        let minor: Vec<&str> = self.version.split('.').take(2).collect();
        format!("python{}{}", minor.join("."), if self.free_threaded { "t" } else { "" })
    }
}

/// The interpreters to run: those named (each must work), or else the default `python3` and every one that the
/// install step built. Says in one line which are missing and how to build them; an interpreter that fails
/// its probe is an error when named, and a note otherwise.
pub fn to_run(named: &[PathBuf]) -> anyhow::Result<Vec<Interpreter>> {
    if !named.is_empty() {
        let mut found = Vec::new();
        for path in named {
            // A bare name (`python3.12`) is looked up on the PATH, as a shell would.
            // One that does not work is a request that cannot be met (exit 2).
            let path = if path.components().count() == 1 && !path.starts_with(".") {
                child::on_path(&path.to_string_lossy())
                    .ok_or_else(|| Usage(format!("--python {}: not on the PATH", path.display())))?
            } else {
                path.clone()
            };
            let interpreter =
                Interpreter::probe(&path).map_err(|error| Usage(format!("--python {}: {error:#}", path.display())))?;
            if !found.iter().any(|seen: &Interpreter| seen.name() == interpreter.name()) {
                found.push(interpreter);
            }
        }
        return Ok(found);
    }
    let mut found = Vec::new();
    // `$COUNTER_PYTHON` names the one interpreter to use, as `--python` would.
    if let Some(path) = std::env::var_os("COUNTER_PYTHON").map(PathBuf::from) {
        match Interpreter::probe(&path) {
            Ok(interpreter) => found.push(interpreter),
            Err(error) => {
                crate::output::note(&format!("xtask: $COUNTER_PYTHON: {error:#}: the Python rows are skipped"));
            }
        }
        return Ok(found);
    }
    let mut candidates: Vec<PathBuf> = child::on_path("python3").into_iter().collect();
    let built = install::built();
    candidates.extend(built.iter().map(|(_, path)| path.clone()));
    for path in candidates {
        match Interpreter::probe(&path) {
            Ok(interpreter) if !found.iter().any(|seen: &Interpreter| seen.name() == interpreter.name()) => {
                found.push(interpreter);
            }
            Ok(_) => {}
            Err(error) => crate::output::note(&format!("xtask: {error:#}: its Python rows are skipped")),
        }
    }
    let missing: Vec<&str> = install::BUILDS
        .iter()
        .filter(|build| !built.iter().any(|(name, _)| *name == build.name))
        .map(|build| build.name)
        .collect();
    if found.is_empty() {
        crate::output::note("xtask: no python3 on the PATH: the Python rows are skipped");
    }
    if !missing.is_empty() {
        crate::output::note(&format!(
            "xtask: CPython {} not built, so no rows for {}: `cargo xtask python install` builds them in {} (about \
             {} minutes on 2 CPUs)",
            missing.join(" and "),
            if missing.len() == 1 { "it" } else { "them" },
            install::default_dir().display(),
            install::BUILD_MINUTES_ON_TWO_CPUS * missing.len() as u64,
        ));
    }
    Ok(found)
}
