//! A private MariaDB server for one run: `mariadb-install-db` into a fresh directory, `mariadbd` on a Unix
//! socket in it (`--skip-networking`: no TCP port), started, stopped and cleaned up by
//! `counter_client::private_server`; as root, the server runs as the `mysql` user its package creates. Nothing
//! of it lives outside its directory.

use std::{
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use counter_client::private_server::{Launch, PrivateServer, Recipe};

use nix::sys::signal::Signal;

use crate::options::{Error, ServerError};

/// Where the server is looked for.
const LOOKED: &str = "mariadbd and mariadb-install-db on the PATH or in /usr/sbin";

fn socket(dir: &Path) -> PathBuf {
    dir.join("mariadbd.sock")
}

/// A program of the server's package, where the catalog finds it (the `PATH`, or where Debian puts it).
fn program(name: &str) -> Option<PathBuf> {
    counter_core::catalog::of(crate::MODEL).server.as_ref()?.find(name)
}

/// A server allowing `max_connections` connections.
struct MariadbRecipe {
    server: PathBuf,
    install: PathBuf,
    max_connections: u64,
}

impl Recipe for MariadbRecipe {
    const LAUNCH: Launch = Launch {
        program: "mariadbd",
        name: "MariaDB server",
        dir_prefix: "counter-mariadb-",
        run_as_when_root: Some("mysql"),
        start_timeout: Duration::from_secs(20),
        stop_timeout: Duration::from_secs(10),
        stop_signal: Signal::SIGTERM,
        stack_bytes: None,
    };

    fn prepare(&self, dir: &Path) -> Vec<(Command, Duration)> {
        let mut install = Command::new(&self.install);
        // The `test` database is where a private server's tables go. Its temporary files, and the server's, stay
        // in its directory, away from every other server's.
        install
            .env("TMPDIR", dir)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-name-resolve"]);
        vec![(install, Duration::from_secs(60))]
    }

    fn server(&self, dir: &Path) -> Command {
        let mut server = Command::new(&self.server);
        server
            .env("TMPDIR", dir)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", socket(dir).display()))
            .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
            .arg(format!("--max-connections={}", self.max_connections))
            // A throwaway server: no crash safety to pay for (said in the report).
            .args([
                "--skip-networking",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
            ]);
        server
    }

    fn ready(dir: &Path) -> bool {
        UnixStream::connect(socket(dir)).is_ok()
    }
}

/// A running private server, and what the report says of it.
#[derive(Debug)]
pub(crate) struct PrivateMariadb {
    server: PrivateServer,
    version: String,
}

impl PrivateMariadb {
    /// Makes a server allowing `max_connections` connections and starts it; without its programs, the
    /// message says how to get them.
    pub(crate) fn start(max_connections: u64) -> Result<PrivateMariadb, Error> {
        let (Some(server), Some(install)) = (program("mariadbd"), program("mariadb-install-db")) else {
            return Err(Error::Frontend(ServerError::NoServer { model: crate::MODEL, looked: LOOKED }));
        };
        let output = Command::new(&server).arg("--version").output();
        let text = output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default();
        // `mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)`
        let version = text.split_whitespace().nth(2).unwrap_or("(unknown version)").to_owned();
        let server =
            PrivateServer::start(&MariadbRecipe { server, install, max_connections }).map_err(Error::Frontend)?;
        Ok(PrivateMariadb { server, version })
    }

    /// The URL the clients use: the socket, the server's root user (no password), the `test` database.
    pub(crate) fn url(&self) -> String {
        format!("mysql://root@localhost/test?socket={}", socket(self.server.dir()).display())
    }

    /// What the report calls it.
    pub(crate) fn describe(&self) -> String {
        let user = self.server.runs_as().map(|user| format!(", run as user {user}")).unwrap_or_default();
        format!(
            "private mariadbd {} (Unix socket in {}{user}; log flushed once a second: a throwaway server)",
            self.version,
            self.server.dir().display()
        )
    }

    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The server's process.
    pub(crate) fn pid(&self) -> i32 {
        self.server.pid()
    }
}
