//! A private server for one run (or for `--serve`), written once for every store: a fresh directory of its own
//! (`server_dir`), the steps that prepare it (a database's `initdb`), the server process listening inside it,
//! the wait until it accepts connections, and its end on every way out. It dies with this process
//! (`PR_SET_PDEATHSIG`), so that even `kill -9` leaves no server behind; what such a death leaves (the directory,
//! a process that outlived us, what the store's `clean` removes) is removed by the next start. A store that
//! refuses to run as root (a database) is started as the system user its package creates.

use std::{
    fs,
    io::Read as _,
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use counter_core::{child, proc};
use nix::{
    libc,
    sys::signal::{Signal, kill},
    unistd::{Pid, User, chown},
};
use tempfile::TempDir;

use crate::{error::ServerError, server_dir};

/// How a store's server is started and stopped: the facts [`PrivateServer`] needs besides the commands.
#[derive(Debug, Clone, Copy)]
pub struct Launch {
    /// The server as messages name it.
    pub name: &'static str,
    /// The server program's file name, which its processes' command lines start with.
    pub program: &'static str,
    /// The start of its directories' names, in the system's temporary directory: `counter-<model>-`.
    pub dir_prefix: &'static str,
    /// The system user a root run starts it as, for a server that refuses root (a database's own user).
    pub run_as_when_root: Option<&'static str>,
    /// How long it gets to accept connections.
    pub start_timeout: Duration,
    /// How long it gets to stop after `stop_signal`, before SIGKILL.
    pub stop_timeout: Duration,
    /// The signal that stops it at once, without waiting for its clients: SIGTERM for most, SIGINT for some.
    pub stop_signal: Signal,
    /// The soft stack limit its processes get, when the hard limit allows: a server that checks its stack
    /// against a setting of its own is not held to a small limit of ours.
    pub stack_bytes: Option<libc::rlim_t>,
}

/// A store's private server: what is its own (the commands, when it is ready, what it leaves when killed).
pub trait Recipe {
    /// How it is started and stopped.
    const LAUNCH: Launch;
    /// Commands that prepare the directory, in turn, each with its deadline (a database's `initdb`).
    fn prepare(&self, _dir: &Path) -> Vec<(Command, Duration)> {
        Vec::new()
    }
    /// The server's command, listening inside `dir` only; its output goes to `dir/server.log`.
    fn server(&self, dir: &Path) -> Command;
    /// Whether the server in `dir` accepts connections.
    fn ready(dir: &Path) -> bool;
    /// Removes what a server of this kind leaves outside its directory when it is killed (a System V segment): after it stopped, and when a later start finds a dead owner's directory.
    fn clean(_dir: &Path) {}
}

/// A running private server.
#[derive(Debug)]
pub struct PrivateServer {
    child: Child,
    /// Removed when the server is dropped, after the server has stopped.
    dir: TempDir,
    launch: Launch,
    clean: fn(&Path),
    /// The unprivileged user it runs as, when this process is root.
    runs_as: Option<String>,
}

fn start_error(launch: &Launch, detail: String) -> ServerError {
    ServerError::ServerStart { server: launch.name, detail }
}

impl PrivateServer {
    /// Prepares a directory with `recipe` and starts its server there; an error says which step failed and
    /// ends with the tail of the server's log.
    pub fn start<R: Recipe>(recipe: &R) -> Result<PrivateServer, ServerError> {
        let launch = R::LAUNCH;
        remove_stale(&launch, R::clean);
        let owner = owner(&launch)?;
        let dir = server_dir::create(launch.dir_prefix)
            .map_err(|source| start_error(&launch, format!("no directory: {source}")))?;
        if let Some(user) = &owner {
            chown(dir.path(), Some(user.uid), Some(user.gid)).map_err(|errno| {
                start_error(&launch, format!("could not give {} to {}: {errno}", dir.path().display(), user.name))
            })?;
            let _ = fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700));
        }
        let prepare = |command: &mut Command| {
            if let Some(user) = &owner {
                command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            }
            if let Some(bytes) = launch.stack_bytes {
                with_stack(command, bytes);
            }
        };
        for (mut step, deadline) in recipe.prepare(dir.path()) {
            let program = step.get_program().to_string_lossy().into_owned();
            step.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
            prepare(&mut step);
            run_within(child::dies_with_us(&mut step), deadline)
                .map_err(|detail| start_error(&launch, format!("{program}: {detail}")))?;
        }
        let log = fs::File::create(dir.path().join("server.log"))
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|source| start_error(&launch, format!("no log file: {source}")))?;
        let mut command = recipe.server(dir.path());
        let program = launch.program;
        command.stdin(Stdio::null()).stdout(log.0).stderr(log.1);
        prepare(&mut command);
        let child = child::dies_with_us(&mut command)
            .spawn()
            .map_err(|source| start_error(&launch, format!("could not run {program}: {source}")))?;
        let runs_as = owner.map(|user| user.name);
        let mut server = PrivateServer { child, dir, launch, clean: R::clean, runs_as };
        let dir = server.dir.path().to_path_buf();
        server_dir::wait_until_ready(&mut server.child, launch.start_timeout, || R::ready(&dir))
            .map_err(|why| start_error(&launch, format!("{why}: {}", server_dir::log_tail(&dir.join("server.log")))))?;
        Ok(server)
    }

    /// Its directory, where it listens.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's main process.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The unprivileged user it runs as, when this process is root.
    pub fn runs_as(&self) -> Option<&str> {
        self.runs_as.as_deref()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // A server stopped from outside (SIGSTOP) acts on no signal but SIGKILL, and a stopped child would
        // outlive its server for ever: every process of it is continued first.
        let tree = proc::process_tree(self.pid()).unwrap_or_default();
        for &pid in &tree {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = Pid::from_raw(self.pid());
            let _ = kill(pid, self.launch.stop_signal);
            child::stop(pid, self.launch.stop_timeout);
        }
        // Its children that outlived it (a backend still ending), if still this server's.
        for pid in tree.into_iter().filter(|&pid| pid != self.pid()) {
            let command_line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if command_line.starts_with(self.launch.program.as_bytes()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        (self.clean)(self.dir.path());
        // The directory (a `TempDir`) goes next, with the server gone.
    }
}

/// The user to start the server as: none unless this process is root and the server refuses root.
fn owner(launch: &Launch) -> Result<Option<User>, ServerError> {
    let Some(name) = launch.run_as_when_root.filter(|_| nix::unistd::geteuid().is_root()) else { return Ok(None) };
    let user = User::from_name(name).ok().flatten().ok_or_else(|| {
        start_error(
            launch,
            format!("it is not run as root, and there is no '{name}' user to run it as (its package creates it)"),
        )
    })?;
    Ok(Some(user))
}

/// Removes the directories of private servers whose owner died without cleaning up (`kill -9`): a server that
/// outlived it (it should have died with it) is killed first, if it is this store's program and its command
/// line names that directory.
fn remove_stale(launch: &Launch, clean: fn(&Path)) {
    for dir in server_dir::left_by_dead_owners(launch.dir_prefix) {
        let survivors = servers_naming(launch.program, &dir);
        for &pid in &survivors {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let deadline = Instant::now() + launch.stop_timeout;
        while survivors.iter().any(|&pid| proc::exists(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        clean(&dir);
        let _ = fs::remove_dir_all(dir);
    }
}

/// The processes of `program` whose command line names `dir`.
fn servers_naming(program: &str, dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let command_line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            // Its first word: a path, or the start of a title the server set (`redis-server unix:...`).
            let first = command_line.split(|&byte| byte == 0 || byte == b' ').next().unwrap_or_default();
            let is_program =
                Path::new(&*String::from_utf8_lossy(first)).file_name().is_some_and(|name| name == program);
            is_program && String::from_utf8_lossy(&command_line).contains(&needle)
        })
        .collect()
}

/// Lets `command`'s process raise its soft stack limit to `bytes` (or the hard limit, if lower).
fn with_stack(command: &mut Command, bytes: libc::rlim_t) {
    // SAFETY: the closure runs in the forked child before exec and makes two system calls (getrlimit,
    // setrlimit) on a local struct: async-signal-safe, no allocation, no lock. A failure leaves the limit as it
    // was, and the server then says what it lacks.
    unsafe {
        command.pre_exec(move || {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_STACK, &raw mut limit) == 0 && limit.rlim_cur < bytes {
                limit.rlim_cur = bytes.min(limit.rlim_max);
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

/// The server a store's run uses: the one `given` (its address as the user wrote it), or else a private one
/// made by `start`, with the address `address` gives it.
pub fn private_unless_given<P, E>(
    given: Option<&String>,
    start: impl FnOnce() -> Result<P, E>,
    address: impl FnOnce(&P) -> String,
) -> Result<(Option<P>, String), E> {
    if let Some(given) = given {
        return Ok((None, given.clone()));
    }
    let private = start()?;
    let address = address(&private);
    Ok((Some(private), address))
}
