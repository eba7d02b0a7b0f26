//! A private PostgreSQL cluster for one run: `initdb` into a fresh directory, `postgres` listening on a Unix
//! socket in that directory only (`listen_addresses=''`, no TCP port); started, stopped and cleaned up by
//! `counter_client::private_server`, with what is PostgreSQL's own: as root, the cluster belongs to the
//! `postgres` user (the server refuses root); SIGINT is its fast shutdown; a killed server leaves the small
//! System V segment its lock file names, which is removed with its directory.

use std::{
    fs,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use counter_client::private_server::{Launch, PrivateServer, Recipe};
use counter_core::proc::limits::LimitError;
use nix::{libc, sys::signal::Signal};

use crate::options::{Error, ServerError};

/// Where the server is looked for.
const LOOKED: &str = "pg_config --bindir, /usr/lib/postgresql/<version>/bin, the PATH";

/// The user the cluster is made for; it owns every table.
pub(crate) const SUPERUSER: &str = "counter";
/// The stack a server process is given, when the limit allows: PostgreSQL refuses to start when its stack
/// limit is under its `max_stack_depth` plus a margin, and a small limit of ours (`ulimit -Ss 128`) is not its.
const SERVER_STACK_BYTES: libc::rlim_t = 8 << 20;
/// The least stack PostgreSQL starts with: its smallest `max_stack_depth` (100 kB) and the 512 kB it keeps
/// spare, rounded up.
const SERVER_STACK_MIN_BYTES: libc::rlim_t = 1 << 20;

/// The folder that holds `initdb` and `postgres`: `pg_config --bindir`, or where the catalog finds the server
/// (the `PATH`, Debian's newest version).
pub(crate) fn bindir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let server = counter_core::catalog::of(crate::MODEL).server.as_ref()?;
    from_pg_config
        .filter(|dir| has_both(dir))
        .or_else(|| server.find("postgres")?.parent().map(Path::to_path_buf))
        .filter(|dir| has_both(dir))
}

/// A cluster of `bin`'s version allowing `max_connections` connections.
struct PostgresRecipe {
    bin: PathBuf,
    max_connections: u64,
}

fn data(dir: &Path) -> PathBuf {
    dir.join("data")
}

fn socket(dir: &Path) -> PathBuf {
    dir.join(".s.PGSQL.5432")
}

impl Recipe for PostgresRecipe {
    const LAUNCH: Launch = Launch {
        program: "postgres",
        name: "PostgreSQL server",
        dir_prefix: "counter-postgres-",
        run_as_when_root: Some("postgres"),
        start_timeout: Duration::from_secs(20),
        stop_timeout: Duration::from_secs(5),
        // Its fast shutdown: it ends the sessions and stops without waiting for clients.
        stop_signal: Signal::SIGINT,
        stack_bytes: Some(SERVER_STACK_BYTES),
    };

    fn prepare(&self, dir: &Path) -> Vec<(Command, Duration)> {
        let mut initdb = Command::new(self.bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(data(dir))
            .args(["--auth=trust", "--username", SUPERUSER, "--encoding=UTF8", "--no-sync", "--no-instructions"])
            .env("LC_ALL", "C");
        vec![(initdb, Duration::from_secs(60))]
    }

    fn server(&self, dir: &Path) -> Command {
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(data(dir))
            .arg("-k")
            .arg(dir)
            .args(["-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"])
            .args(["-c", &format!("max_connections={}", self.max_connections)])
            // A throwaway cluster: no crash safety to pay for (said in the report), files rather than /dev/shm
            // segments for parallel queries, so that a killed server leaves nothing there.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "dynamic_shared_memory_type=mmap", "-c", "max_wal_senders=0", "-c", "wal_level=minimal"]);
        postgres
    }

    fn ready(dir: &Path) -> bool {
        // The server writes `ready` as its lock file's eighth line once it accepts connections.
        let lock = fs::read_to_string(data(dir).join("postmaster.pid")).unwrap_or_default();
        lock.lines().nth(7).is_some_and(|status| status.trim() == "ready") && UnixStream::connect(socket(dir)).is_ok()
    }

    fn clean(dir: &Path) {
        // A server that did not stop cleanly (killed) leaves its lock file, and the segment it names.
        if let Some(segment) = segment_named_in(&data(dir)) {
            remove_segment(segment);
        }
    }
}

/// A running private cluster, and what the report says of it.
#[derive(Debug)]
pub(crate) struct PrivateCluster {
    server: PrivateServer,
    version: String,
}

impl PrivateCluster {
    /// Makes a cluster and starts its server, allowing `max_connections` connections.
    /// Without server binaries, or with too small a stack limit, the request cannot be met here, and the message
    /// says how.
    pub(crate) fn start(max_connections: u64) -> Result<PrivateCluster, Error> {
        let bin = bindir().ok_or(Error::Frontend(ServerError::NoServer { model: crate::MODEL, looked: LOOKED }))?;
        let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
            .unwrap_or((libc::RLIM_INFINITY, libc::RLIM_INFINITY));
        if hard < SERVER_STACK_MIN_BYTES {
            return Err(LimitError {
                request: "a private PostgreSQL server".to_owned(),
                limit: "RLIMIT_STACK",
                value: format!("{hard} bytes (hard)"),
                detail: format!(
                    "the server needs at least {SERVER_STACK_MIN_BYTES} bytes of stack; raise the hard limit \
                     (`ulimit -Hs`), or pass --postgres URL to use a server that is already running"
                ),
            }
            .into());
        }
        let version = version_of(&bin);
        let server = PrivateServer::start(&PostgresRecipe { bin, max_connections }).map_err(Error::Frontend)?;
        Ok(PrivateCluster { server, version })
    }

    /// The connection string the clients use: the socket's folder, the cluster's user.
    pub(crate) fn connection_string(&self) -> String {
        format!("host={} user={SUPERUSER} dbname=postgres", self.server.dir().display())
    }

    /// What the report calls it.
    pub(crate) fn describe(&self) -> String {
        let user = self.server.runs_as().map(|user| format!(", run as user {user}")).unwrap_or_default();
        format!(
            "private postgres {} (Unix socket in {}{user}; fsync off: a throwaway cluster)",
            self.version,
            self.server.dir().display()
        )
    }

    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The server's main process, the postmaster.
    pub(crate) fn pid(&self) -> i32 {
        self.server.pid()
    }
}

/// The System V segment a server's lock file names (its seventh line: the key and the id).
fn segment_named_in(data: &Path) -> Option<(libc::key_t, i32)> {
    let lock = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let mut fields = lock.lines().nth(6)?.split_whitespace();
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// Removes the System V segment `id` if it is still the one with `key` (an id is reused once its segment is
/// gone): marked for removal, the kernel frees it when the last process attached to it (a backend still ending
/// after its server was killed) detaches.
fn remove_segment((key, id): (libc::key_t, i32)) {
    let mut status = std::mem::MaybeUninit::<libc::shmid_ds>::zeroed();
    // SAFETY: IPC_STAT writes one `shmid_ds` into the buffer it is given, which is that size; a bad id fails.
    let found = unsafe { libc::shmctl(id, libc::IPC_STAT, status.as_mut_ptr()) } == 0;
    // SAFETY: the call succeeded, so the kernel wrote the whole struct (and it was zeroed before).
    if found && unsafe { status.assume_init() }.shm_perm.__key == key {
        // SAFETY: IPC_RMID reads no buffer (null is allowed); it marks the segment for removal.
        unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

fn version_of(bin: &Path) -> String {
    let output = Command::new(bin.join("postgres")).arg("--version").output();
    let text = output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default();
    // `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`
    text.split_whitespace().nth(2).map_or_else(|| "(unknown version)".to_owned(), str::to_owned)
}
