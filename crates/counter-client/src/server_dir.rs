//! A private server's life on this machine: its directory, `<tmp>/<prefix><pid>-<random>`, whose pid tells a
//! later run whose it was, so that what a `kill -9` left is found and removed; the wait for it to be ready, with a
//! deadline; the tail of its log, for the message when it is not.

use std::{
    fs,
    io::{self, Read as _},
    path::{Path, PathBuf},
    process::Child,
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// A fresh directory for a server of this process, readable by this user alone.
pub fn create(prefix: &str) -> io::Result<TempDir> {
    tempfile::Builder::new().prefix(&format!("{prefix}{}-", std::process::id())).tempdir()
}

/// The directories under `prefix` whose owner is gone (its pid no longer runs): what a `kill -9` left.
pub fn left_by_dead_owners(prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return Vec::new() };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(prefix)) else { return false };
            let Some(pid) = rest.split('-').next().and_then(|pid| pid.parse::<i32>().ok()) else { return false };
            pid != std::process::id() as i32 && !counter_core::proc::exists(pid)
        })
        .map(|entry| entry.path())
        .collect()
}

/// The last three lines of `log`, on one line.
pub fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    let _ = fs::File::open(log).and_then(|mut file| file.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Waits until `ready` says so, while `server` runs, for at most `deadline`; what went wrong otherwise.
pub fn wait_until_ready(server: &mut Child, deadline: Duration, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("it ended ({status}) before it was ready"));
        }
        if ready() {
            return Ok(());
        }
        if started.elapsed() > deadline {
            return Err(format!("it was not ready within {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
