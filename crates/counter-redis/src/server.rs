//! A private `redis-server` for one run: listening on a Unix socket in a fresh directory (no TCP port), with no
//! persistence; started, stopped and cleaned up by `counter_client::private_server`.

use std::{
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use counter_client::private_server::{Launch, PrivateServer, Recipe};
use counter_core::child;
use nix::sys::signal::Signal;

use crate::options::{Error, ServerError};

/// Where the server is looked for.
const LOOKED: &str = "on the PATH";

/// `redis-server` from the `PATH`, allowing `max_clients` connections.
struct RedisRecipe {
    binary: PathBuf,
    max_clients: u64,
}

fn socket(dir: &Path) -> PathBuf {
    dir.join("redis.sock")
}

impl Recipe for RedisRecipe {
    const LAUNCH: Launch = Launch {
        program: "redis-server",
        name: "redis-server",
        dir_prefix: "counter-redis-",
        run_as_when_root: None,
        start_timeout: Duration::from_secs(10),
        stop_timeout: Duration::from_secs(3),
        stop_signal: Signal::SIGTERM,
        stack_bytes: None,
    };

    fn server(&self, dir: &Path) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(["--port", "0", "--unixsocket"])
            .arg(socket(dir))
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("server.log"))
            .args(["--maxclients", &self.max_clients.max(10_000).to_string()]);
        command
    }

    fn ready(dir: &Path) -> bool {
        UnixStream::connect(socket(dir)).is_ok()
    }
}

/// A running private server, and what the report says of it.
#[derive(Debug)]
pub(crate) struct RedisServer {
    server: PrivateServer,
    version: String,
}

impl RedisServer {
    /// Starts `redis-server` from the `PATH`, allowing `max_clients` connections; without one, the request cannot
    /// be met here (exit 2), and the message says how.
    pub(crate) fn start(max_clients: u64) -> Result<RedisServer, Error> {
        let binary = child::on_path("redis-server")
            .ok_or(Error::Frontend(ServerError::NoServer { model: crate::MODEL, looked: LOOKED }))?;
        let version = version_of(&binary);
        let server = PrivateServer::start(&RedisRecipe { binary, max_clients }).map_err(Error::Frontend)?;
        Ok(RedisServer { server, version })
    }

    /// The URL the clients connect to.
    pub(crate) fn url(&self) -> String {
        format!("unix://{}", socket(self.server.dir()).display())
    }

    /// What the report calls it.
    pub(crate) fn describe(&self) -> String {
        format!("private redis-server {} (Unix socket {})", self.version, socket(self.server.dir()).display())
    }

    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    pub(crate) fn pid(&self) -> i32 {
        self.server.pid()
    }
}

fn version_of(binary: &Path) -> String {
    let output = Command::new(binary).arg("--version").output();
    let text = output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default();
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map_or_else(|| "(unknown version)".to_owned(), str::to_owned)
}
