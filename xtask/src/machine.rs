//! The machine and the software a run was made with, recorded next to its results (`machine.json` in the run's
//! folder), so that a page built later says where its figures come from.

use std::{fs, path::Path, process::Command};

use serde::{Deserialize, Serialize};

/// Where and with what a run was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// When the run started, UTC (`2026-11-26 23:31:27 UTC`).
    pub date_utc: String,
    /// The command, as typed.
    pub command: String,
    /// CPUs online.
    pub cpus: usize,
    /// The CPU's model name.
    pub cpu_model: String,
    /// Memory, KiB (`MemTotal`).
    pub memory_total_kib: u64,
    /// The kernel's release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The tokio the frontends were built with (from `Cargo.lock`).
    pub tokio: String,
    /// `python3 --version`, if there is one.
    pub python: Option<String>,
    /// The servers of the models that keep their counter in one, with their versions, as found on the `PATH`
    /// (`<program> 7.0.15`); a server that is not there is left out.
    #[serde(default)]
    pub servers: Vec<String>,
}

/// The name of the file in a run's folder.
pub const FILE: &str = "machine.json";

impl Machine {
    /// This machine, now, for the task run as `task` with this process's arguments.
    pub fn now(task: &str) -> Machine {
        let arguments: Vec<String> = std::env::args().skip(2).collect();
        let arguments = crate::models::conceal_servers(&arguments);
        let command = format!("cargo xtask {task} {}", arguments.join(" ")).trim_end().to_owned();
        let (cpu_model, memory_total_kib, kernel) = counter_core::proc::machine_facts();
        Machine {
            date_utc: crate::output::utc_time_now(),
            command,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: cpu_model.unwrap_or_else(|| "unknown".to_owned()),
            memory_total_kib: memory_total_kib.unwrap_or(0),
            kernel: kernel.unwrap_or_else(|| "unknown".to_owned()),
            rustc: version_of("rustc", &["--version"]).unwrap_or_else(|| "unknown".to_owned()),
            tokio: locked_version("tokio").unwrap_or_else(|| "unknown".to_owned()),
            python: version_of("python3", &["--version"]),
            servers: counter_core::catalog::DESCRIPTIONS
                .iter()
                .filter_map(|description| description.server.as_ref())
                .filter_map(|server| Some(format!("{} {}", server.program, server_version(server.program)?)))
                .collect(),
        }
    }

    /// Writes it into a run's folder.
    pub fn record(&self, run_dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        fs::write(run_dir.join(FILE), text)?;
        Ok(())
    }

    /// Reads it from a run's folder; `None` for a run made before it was recorded.
    pub fn of_run(run_dir: &Path) -> Option<Machine> {
        serde_json::from_str(&fs::read_to_string(run_dir.join(FILE)).ok()?).ok()
    }
}

fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// What `program --version` says its version is: the first word that starts with a digit (`v=7.0.15` counts).
fn server_version(program: &str) -> Option<String> {
    let text = version_of(program, &["--version"])?;
    let word = text
        .split_whitespace()
        .map(|word| word.trim_start_matches("v="))
        .find(|word| word.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    Some(word.to_owned())
}

/// The version of `package` in the workspace's `Cargo.lock`.
fn locked_version(package: &str) -> Option<String> {
    let lock = fs::read_to_string(crate::workspace::root().join("Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            return lines.next()?.strip_prefix("version = \"")?.strip_suffix('"').map(str::to_owned);
        }
    }
    None
}
