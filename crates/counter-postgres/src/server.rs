//! A private PostgreSQL cluster for one run: `initdb` into a fresh directory, `postgres` listening on a Unix
//! socket in that directory only (`listen_addresses=''`, no TCP port), stopped and removed on every way out. It
//! dies with this process (`PR_SET_PDEATHSIG`; its backends end when it does), so that even `kill -9` leaves no
//! server behind; the directory such a death leaves is removed by the next run, with the small System V segment
//! the server keeps. PostgreSQL refuses to run as root: run as root, the cluster belongs to the `postgres` user.

use std::{
    fs,
    io::Read,
    os::unix::{fs::PermissionsExt as _, net::UnixStream, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use counter_client::server_dir;
use counter_core::child;
use nix::{
    sys::signal::{Signal, kill},
    unistd::{Pid, User, chown},
};
use tempfile::TempDir;

use counter_core::proc::limits::LimitError;

use crate::options::{Error, ServerError};

/// Why there is no private server to make.
const NO_SERVER: &str = "no PostgreSQL server binaries found (pg_config --bindir, /usr/lib/postgresql/<version>/bin, \
                         the PATH): install them (`apt-get install postgresql`), or pass --postgres URL to use a \
                         server that is already running";

fn start_error(detail: String) -> Error {
    Error::Frontend(ServerError::ServerStart { server: "PostgreSQL server", detail })
}

/// How long `initdb` may take.
const INITDB_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fresh server gets to open its socket.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long it gets to stop after a fast shutdown request before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The start of every private cluster's directory name, in the system's temporary directory.
const DIR_PREFIX: &str = "counter-postgres-";
/// The user the cluster is made for; it owns every table.
pub(crate) const SUPERUSER: &str = "counter";
/// The system user a root run starts the server as.
const SYSTEM_USER: &str = "postgres";
/// Debian's layout: `/usr/lib/postgresql/<version>/bin`.
const VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// A running private cluster.
#[derive(Debug)]
pub(crate) struct PrivateCluster {
    child: Child,
    /// Removed when the cluster is dropped, after the server has stopped.
    dir: TempDir,
    version: String,
    /// The unprivileged user it runs as, when this process is root.
    runs_as: Option<String>,
}

/// The folder that holds `initdb` and `postgres`: `pg_config --bindir`, Debian's newest version, or the `PATH`.
pub(crate) fn bindir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|dir| has_both(dir)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(VERSIONS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    child::on_path("postgres").and_then(|path| path.parent().map(Path::to_path_buf)).filter(|dir| has_both(dir))
}

impl PrivateCluster {
    /// Makes a cluster and starts its server, allowing `max_connections` connections.
    /// Without server binaries, or with too small a stack limit, the request cannot be met here, and the message
    /// says how.
    pub(crate) fn start(max_connections: u64) -> Result<PrivateCluster, Error> {
        let bin = bindir().ok_or(Error::Frontend(ServerError::NoServer(NO_SERVER)))?;
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
        remove_stale_dirs();
        let owner = if nix::unistd::geteuid().is_root() {
            let user = User::from_name(SYSTEM_USER).ok().flatten().ok_or_else(|| {
                start_error(format!(
                    "PostgreSQL refuses to run as root, and there is no '{SYSTEM_USER}' user to run it as (the \
                     postgresql package creates it)"
                ))
            })?;
            Some(user)
        } else {
            None
        };
        let dir = server_dir::create(DIR_PREFIX).map_err(|source| start_error(format!("no directory: {source}")))?;
        if let Some(user) = &owner {
            chown(dir.path(), Some(user.uid), Some(user.gid)).map_err(|errno| {
                start_error(format!("could not give {} to {SYSTEM_USER}: {errno}", dir.path().display()))
            })?;
            let _ = fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700));
        }
        let data = dir.path().join("data");
        let as_owner = |command: &mut Command| {
            if let Some(user) = &owner {
                command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            }
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["--auth=trust", "--username", SUPERUSER, "--encoding=UTF8", "--no-sync", "--no-instructions"])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb);
        with_room_to_recurse(&mut initdb);
        run_within(child::dies_with_us(&mut initdb), INITDB_TIMEOUT)
            .map_err(|detail| start_error(format!("initdb: {detail}")))?;
        let log = fs::File::create(dir.path().join("server.log"))
            .map_err(|source| start_error(format!("no log file: {source}")))?;
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"])
            .args(["-c", &format!("max_connections={max_connections}")])
            // A throwaway cluster: no crash safety to pay for (said in the report), files rather than /dev/shm
            // segments for parallel queries, so that a killed server leaves nothing there.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "dynamic_shared_memory_type=mmap", "-c", "max_wal_senders=0", "-c", "wal_level=minimal"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        as_owner(&mut postgres);
        with_room_to_recurse(&mut postgres);
        let child = child::dies_with_us(&mut postgres)
            .spawn()
            .map_err(|source| start_error(format!("could not run {}: {source}", bin.join("postgres").display())))?;
        let version = version_of(&bin);
        let mut cluster = PrivateCluster { child, dir, version, runs_as: owner.map(|user| user.name) };
        cluster.wait_until_listening()?;
        Ok(cluster)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join(".s.PGSQL.5432")
    }

    fn wait_until_listening(&mut self) -> Result<(), Error> {
        let (data, socket) = (self.dir.path().join("data"), self.socket());
        // The server writes `ready` as its lock file's eighth line once it accepts connections.
        let ready = || {
            let lock = fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
            lock.lines().nth(7).is_some_and(|status| status.trim() == "ready") && UnixStream::connect(&socket).is_ok()
        };
        server_dir::wait_until_ready(&mut self.child, START_TIMEOUT, ready)
            .map_err(|why| start_error(format!("{why}: {}", server_dir::log_tail(&self.dir.path().join("server.log")))))
    }

    /// The connection string the clients use: the socket's folder, the cluster's user.
    pub(crate) fn connection_string(&self) -> String {
        format!("host={} user={SUPERUSER} dbname=postgres", self.dir.path().display())
    }

    /// What the report calls it.
    pub(crate) fn describe(&self) -> String {
        let user = self.runs_as.as_ref().map(|user| format!(", run as user {user}")).unwrap_or_default();
        format!(
            "private postgres {} (Unix socket in {}{user}; fsync off: a throwaway cluster)",
            self.version,
            self.dir.path().display()
        )
    }

    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The server's main process, the postmaster.
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // A cluster stopped from outside (SIGSTOP of its processes) acts on no shutdown, and a stopped child
        // would outlive its postmaster for ever: every process of it is continued first.
        let tree = counter_core::proc::process_tree(self.pid()).unwrap_or_default();
        for &pid in &tree {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGINT is PostgreSQL's fast shutdown: it ends the sessions and stops without waiting for clients.
            let pid = Pid::from_raw(self.pid());
            let _ = kill(pid, Signal::SIGINT);
            child::stop(pid, STOP_TIMEOUT);
        }
        // Its children that outlived it (a backend still ending, one that was stopped), if still this server's.
        for pid in tree.into_iter().filter(|&pid| pid != self.pid()) {
            let command_line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if command_line.starts_with(b"postgres") {
                let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        // A server that did not stop cleanly (killed) leaves its lock file, and the segment it names.
        if let Some(segment) = segment_named_in(&self.dir.path().join("data")) {
            remove_segment(segment);
        }
        // The directory (a `TempDir`) goes next, with the server gone.
    }
}

/// The System V segment a server's lock file names (its seventh line: the key and the id).
fn segment_named_in(data: &Path) -> Option<(libc::key_t, i32)> {
    let lock = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let mut fields = lock.lines().nth(6)?.split_whitespace();
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// The stack a server process is given, when the limit allows: PostgreSQL refuses to start when its stack
/// limit is under its `max_stack_depth` plus a margin, and a small limit of ours (`ulimit -Ss 128`) is not its.
const SERVER_STACK_BYTES: libc::rlim_t = 8 << 20;

/// The least stack PostgreSQL starts with: its smallest `max_stack_depth` (100 kB) and the 512 kB it keeps
/// spare, rounded up.
const SERVER_STACK_MIN_BYTES: libc::rlim_t = 1 << 20;

/// Lets `command`'s process raise its soft stack limit to [`SERVER_STACK_BYTES`] (or the hard limit, if lower).
fn with_room_to_recurse(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and makes two system calls (getrlimit,
    // setrlimit) on a local struct: async-signal-safe, no allocation, no lock. A failure leaves the limit as it
    // was, and the server then says what it lacks.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_STACK, &raw mut limit) == 0 && limit.rlim_cur < SERVER_STACK_BYTES {
                limit.rlim_cur = SERVER_STACK_BYTES.min(limit.rlim_max);
                libc::setrlimit(libc::RLIMIT_STACK, &raw const limit);
            }
            Ok(())
        });
    }
}

/// Runs `command` to its end within `deadline`; its error output on failure.
fn run_within(command: &mut Command, deadline: Duration) -> Result<(), String> {
    let mut process = command.spawn().map_err(|source| format!("could not run: {source}"))?;
    let started = Instant::now();
    loop {
        match process.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut text = String::new();
                if let Some(mut stderr) = process.stderr.take() {
                    let _ = stderr.read_to_string(&mut text);
                }
                return Err(format!("{status}: {}", text.trim()));
            }
            Ok(None) if started.elapsed() > deadline => {
                let _ = process.kill();
                let _ = process.wait();
                return Err(format!("did not finish within {deadline:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => return Err(source.to_string()),
        }
    }
}

/// Removes the directories of private clusters whose owner died without cleaning up (`kill -9`): its pid is
/// gone, and so is the server (it died with its owner). The System V segment the server kept goes too.
fn remove_stale_dirs() {
    for dir in server_dir::left_by_dead_owners(DIR_PREFIX) {
        let data = dir.join("data");
        let lock = fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        // A server that outlived its owner (it should have died with it) is stopped, if it is this directory's.
        if let Some(server) = lock.lines().next().and_then(|pid| pid.trim().parse::<i32>().ok())
            && counter_core::proc::exists(server)
        {
            let command_line = fs::read(format!("/proc/{server}/cmdline")).unwrap_or_default();
            if !String::from_utf8_lossy(&command_line).contains(&*dir.to_string_lossy()) {
                continue;
            }
            let _ = kill(Pid::from_raw(server), Signal::SIGKILL);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while counter_core::proc::exists(server) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if let Some(segment) = segment_named_in(&data) {
            remove_segment(segment);
        }
        let _ = fs::remove_dir_all(dir);
    }
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
