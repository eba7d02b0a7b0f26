//! One CPython interpreter, as it describes itself (version, free-threaded build) before it gets rows; each run's
//! report says again whether its GIL was on.

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
