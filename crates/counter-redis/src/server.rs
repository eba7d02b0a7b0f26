//! A private `redis-server` for one run: listening on a Unix socket in a fresh directory (no TCP port), with no
//! persistence, stopped and removed on every way out. It dies with this process (`PR_SET_PDEATHSIG`), so that
//! even `kill -9` leaves no server behind; the directory such a death leaves is removed by the next run.

use std::{
    fs,
    io::Read,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use counter_core::child;
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::RedisError;

/// How long a fresh server gets to open its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long it gets to stop after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// The start of every private server's directory name, in the system's temporary directory.
const DIR_PREFIX: &str = "counter-redis-";

/// A running private server.
#[derive(Debug)]
pub(crate) struct PrivateServer {
    child: Child,
    /// Removed when the server is dropped, after the server has stopped.
    dir: TempDir,
    socket: PathBuf,
    version: String,
}

impl PrivateServer {
    /// Starts `redis-server` from the `PATH`, allowing `max_clients` connections.
    pub(crate) fn start(max_clients: u64) -> Result<PrivateServer, RedisError> {
        let binary = child::on_path("redis-server").ok_or(RedisError::NoServer)?;
        remove_stale_dirs();
        // `<tmp>/counter-redis-<pid>-<random>`, readable by this user alone: the pid tells a later run whose it was.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .map_err(|source| RedisError::ServerStart { detail: format!("no directory: {source}") })?;
        let socket = dir.path().join("redis.sock");
        let log = dir.path().join("server.log");
        let mut command = Command::new(&binary);
        command
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(["--maxclients", &max_clients.max(10_000).to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = child::dies_with_us(&mut command).spawn().map_err(|source| RedisError::ServerStart {
            detail: format!("could not run {}: {source}", binary.display()),
        })?;
        let version = version_of(&binary);
        let mut server = PrivateServer { child, dir, socket, version };
        server.wait_until_listening()?;
        Ok(server)
    }

    fn wait_until_listening(&mut self) -> Result<(), RedisError> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(RedisError::ServerStart {
                    detail: format!("redis-server ended ({status}) before it listened: {}", self.log_tail()),
                });
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(RedisError::ServerStart {
                    detail: format!("redis-server did not listen within {START_TIMEOUT:?}: {}", self.log_tail()),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        let _ = fs::File::open(self.dir.path().join("server.log")).and_then(|mut file| file.read_to_string(&mut text));
        let lines: Vec<&str> = text.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// The URL the clients connect to.
    pub(crate) fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// What the report calls it.
    pub(crate) fn describe(&self) -> String {
        format!("private redis-server {} (Unix socket {})", self.version, self.socket.display())
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            child::stop(Pid::from_raw(self.pid()), STOP_TIMEOUT);
        }
        // The directory (a `TempDir`) goes next, with the server gone.
    }
}

/// Removes the directories of private servers whose owner died without cleaning up (`kill -9`): its pid is
/// gone, and so is the server (it died with its owner).
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(DIR_PREFIX)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|pid| pid.parse::<i32>().ok()) else { continue };
        if pid != std::process::id() as i32 && !counter_core::proc::exists(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn version_of(binary: &Path) -> String {
    let output = Command::new(binary).arg("--version").output();
    let text = output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default();
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map_or_else(|| "(unknown version)".to_owned(), str::to_owned)
}
