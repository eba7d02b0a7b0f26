//! A private `redis-server` for one run: listening on a Unix socket in a fresh directory (no TCP port), with no
//! persistence, stopped and removed on every way out. It dies with this process (`PR_SET_PDEATHSIG`), so that
//! even `kill -9` leaves no server behind; the directory such a death leaves is removed by the next run.

use std::{
    fs,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use counter_client::server_dir;
use counter_core::child;
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::options::{Error, ServerError};

/// How long a fresh server gets to open its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long it gets to stop after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Why there is no private server to start.
const NO_SERVER: &str = "no redis-server on the PATH: install it (`apt-get install redis-server`), or pass --redis URL \
                         to use a server that is already running";

fn start_error(detail: String) -> Error {
    Error::Frontend(ServerError::ServerStart { server: "redis-server", detail })
}

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
    /// Starts `redis-server` from the `PATH`, allowing `max_clients` connections; without one, the request cannot
    /// be met here (exit 2), and the message says how.
    pub(crate) fn start(max_clients: u64) -> Result<PrivateServer, Error> {
        let binary = child::on_path("redis-server").ok_or(Error::Frontend(ServerError::NoServer(NO_SERVER)))?;
        remove_stale_dirs();
        let dir = server_dir::create(DIR_PREFIX).map_err(|source| start_error(format!("no directory: {source}")))?;
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
        let child = child::dies_with_us(&mut command)
            .spawn()
            .map_err(|source| start_error(format!("could not run {}: {source}", binary.display())))?;
        let version = version_of(&binary);
        let mut server = PrivateServer { child, dir, socket, version };
        server.wait_until_listening()?;
        Ok(server)
    }

    fn wait_until_listening(&mut self) -> Result<(), Error> {
        let socket = self.socket.clone();
        server_dir::wait_until_ready(&mut self.child, START_TIMEOUT, || UnixStream::connect(&socket).is_ok())
            .map_err(|why| start_error(format!("{why}: {}", server_dir::log_tail(&self.dir.path().join("server.log")))))
    }

    /// The URL the clients connect to.
    pub(crate) fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// What the report calls it.
    pub(crate) fn describe(&self) -> String {
        format!("private redis-server {} (Unix socket {})", self.version, self.socket.display())
    }

    pub(crate) fn version(&self) -> &str {
        &self.version
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
    for dir in server_dir::left_by_dead_owners(DIR_PREFIX) {
        let _ = fs::remove_dir_all(dir);
    }
}

fn version_of(binary: &Path) -> String {
    let output = Command::new(binary).arg("--version").output();
    let text = output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default();
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map_or_else(|| "(unknown version)".to_owned(), str::to_owned)
}
