//! Helpers for the end-to-end tests: build the workspace's binaries once, run them, wait for the line a held
#![allow(clippy::missing_panics_doc)] // test helpers fail the test by panicking, on purpose
//! run prints, and look for leftovers (segments in `/dev/shm`, processes left behind).
//!
//! `cargo test --workspace` does not build the other members' binaries, so the first test that needs one
//! runs `cargo build --workspace --bins` with the cargo and target directory of the test run itself.

use std::{
    env,
    fmt::Write as _,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, Command, ExitStatus, Output, Stdio},
    sync::{OnceLock, mpsc},
    thread,
    time::Duration,
};

use counter_core::{hold::READY_PREFIX, model::Model, report::RunReport};

pub mod conformance;

/// The profile folder the test executable lives in: `target/debug` (the test is in `target/debug/deps`).
fn profile_dir() -> PathBuf {
    let exe = env::current_exe().expect("the test executable has a path");
    exe.parent().and_then(Path::parent).expect("the test executable lives in target/<profile>/deps").to_path_buf()
}

/// Builds every binary of the workspace once per test run and returns the folder they are in.
pub fn bin_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().expect("a profile folder lives in the target folder");
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "--workspace", "--bins", "--quiet", "--target-dir"]).arg(target);
        if profile.file_name().is_some_and(|name| name == "release") {
            command.arg("--release");
        }
        let output = command.output().expect("cargo runs");
        assert!(output.status.success(), "building the binaries failed:\n{}", String::from_utf8_lossy(&output.stderr));
        profile
    })
}

/// The workspace's target folder, where `cargo xtask` writes its results.
pub fn workspace_target() -> PathBuf {
    profile_dir().parent().expect("a profile folder lives in the target folder").to_path_buf()
}

/// The path of a workspace binary, built on first use.
pub fn binary(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A command for a workspace binary.
pub fn command(name: &str) -> Command {
    let mut command = Command::new(binary(name));
    command.stdin(Stdio::null());
    command
}

/// How long a run a test starts may take before the test fails (a hang is a defect): generous, for a loaded
/// machine.
pub const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// Runs `command` to its end, within [`RUN_DEADLINE`] (else it is killed and the test fails), and returns what
/// it printed.
pub fn output_of(command: &mut Command) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the program starts");
    let drain = |stream: Option<Box<dyn std::io::Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let status = wait_timeout(&mut child, RUN_DEADLINE);
    Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

/// Runs a binary to the end, within [`RUN_DEADLINE`], and returns what it printed.
pub fn run(name: &str, args: &[&str]) -> Output {
    output_of(command(name).args(args))
}

/// Runs a binary with `--format json`, checks it succeeded, and parses the report.
pub fn run_json(name: &str, args: &[&str]) -> RunReport {
    let output = output_of(command(name).args(args).args(["--format", "json"]));
    assert!(output.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{name} {args:?} printed no report ({e}):\n{}", String::from_utf8_lossy(&output.stdout))
    })
}

/// A frontend started with `--hold stdin`, known to have every worker alive.
#[derive(Debug)]
pub struct Held {
    /// The frontend's process.
    pub child: Child,
    /// The line it printed once everything was alive.
    pub ready_line: String,
    /// The rest of its stderr, line by line, as it arrives.
    pub stderr: mpsc::Receiver<String>,
}

/// A child that is killed and reaped when dropped, so that a test that fails half-way leaves nothing running.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Both are harmless on a child already reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // A test that fails before `finish` must not leave its frontend held, or running its long workload.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a test waits for a frontend to become ready or to end before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Starts `name` with `--hold stdin` and the given arguments, and waits for its ready line.
pub fn start_held(name: &str, args: &[&str]) -> Held {
    let mut child = command(name)
        .args(args)
        .args(["--hold", "stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = forward_lines(child.stderr.take().expect("stderr is piped"));
    loop {
        match stderr.recv_timeout(TIMEOUT) {
            Ok(line) if line.starts_with(READY_PREFIX) => return Held { child, ready_line: line, stderr },
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} {args:?} never printed its '{READY_PREFIX}' line");
            }
        }
    }
}

fn forward_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

impl Held {
    /// The frontend's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The OS ids the ready line lists, whatever they are: worker processes, worker threads, or (when workers
    /// have none of their own) the process's threads or the process itself: the first `label: ids` part.
    pub fn listed_ids(&self) -> Vec<i32> {
        for part in self.ready_line.split("; ").skip(1) {
            if let Some((_, listed)) = part.rsplit_once(": ") {
                let ids: Vec<i32> = listed.split_whitespace().map_while(|word| word.parse().ok()).collect();
                if !ids.is_empty() {
                    return ids;
                }
            }
        }
        Vec::new()
    }

    /// The numbers listed after `label: ` in the ready line (worker tids or pids).
    pub fn ids(&self, label: &str) -> Vec<i32> {
        let after = self.ready_line.split(&format!("{label}: ")).nth(1).unwrap_or("");
        after.split_whitespace().map_while(|word| word.trim_end_matches(';').parse().ok()).collect()
    }

    /// Lets the workers start.
    pub fn release(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(b"go\n").expect("the frontend reads stdin");
        stdin.flush().expect("flush");
    }

    /// Sends a signal to the frontend.
    pub fn signal(&self, signal: libc::c_int) {
        signal_pid(self.pid(), signal);
    }

    /// Waits for the end, with a timeout, and returns the status, stdout and the rest of stderr.
    pub fn finish(mut self) -> (ExitStatus, String, String) {
        let status = wait_timeout(&mut self.child, TIMEOUT);
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut out, &mut stdout);
        }
        let mut stderr = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        (status, stdout, stderr)
    }
}

/// Sends `signal` to `pid`.
pub fn signal_pid(pid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal}) failed: {}", std::io::Error::last_os_error());
}

/// Waits for `child` to end, killing it and failing the test after `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not end within {timeout:?}", child.id());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` exists (a zombie counts as existing).
pub fn process_exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The state letter of a process from `/proc/<pid>/stat` (`Z` for a zombie), if it exists.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
}

/// Entries in `/dev/shm` whose name contains `needle`.
pub fn shm_entries(needle: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

/// Says, on one line that the test harness does not capture, that a test is skipped and what it misses.
pub fn skip(test: &str, missing: &str) {
    // Straight to the stream: libtest captures `eprintln!`, not writes to the handle.
    let _ = std::io::stderr().write_all(format!("skipped: {test}: {missing}\n").as_bytes());
}

/// The worker of `workers` that holds the counter's lock, in a run with its work inside the lock: the one asleep
/// in the run's own sleep (a futex wait on a word private to its process), while the others wait on the lock's
/// futex, which the processes share. Read from the kernel (`/proc/<pid>/syscall`), not guessed from timing;
/// `None` if no single worker is seen holding it within a few seconds.
pub fn lock_holder(workers: &[i32]) -> Option<i32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let asleep: Vec<i32> = workers.iter().copied().filter(|&pid| in_private_futex_wait(pid)).collect();
        if let [holder] = asleep[..] {
            return Some(holder);
        }
        thread::sleep(Duration::from_millis(1));
    }
    None
}

/// Whether `pid` is blocked in a `FUTEX_WAIT` on a private word: the system call number, then its arguments.
fn in_private_futex_wait(pid: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else { return false };
    let mut fields = text.split_whitespace();
    let futex = fields.next() == Some(libc::SYS_futex.to_string().as_str());
    let op = fields.nth(1).and_then(|op| i64::from_str_radix(op.trim_start_matches("0x"), 16).ok()).unwrap_or(-1);
    futex && op >= 0 && op & i64::from(libc::FUTEX_PRIVATE_FLAG) != 0 && op & 0x7f == i64::from(libc::FUTEX_WAIT)
}

/// Whether `tool` is an executable on the `PATH`.
pub fn have_tool(tool: &str) -> bool {
    counter_core::child::on_path(tool).is_some()
}

/// The Python interpreters the reference programs are tested on: `python3` from the `PATH`, and each one that
/// `cargo xtask python install` built in the target folder (a folder there marked built names its executable).
pub fn pythons() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = counter_core::child::on_path("python3").into_iter().collect();
    found.extend(built_pythons().into_iter().map(|(_, path)| path));
    found
}

/// The interpreters `cargo xtask python install` built: (executable name, path), such as `python3.13t`.
pub fn built_pythons() -> Vec<(String, PathBuf)> {
    let dir = profile_dir().parent().expect("a profile folder lives in the target folder").join("python");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|entry| {
            let folder = entry.ok()?.path();
            let name = std::fs::read_to_string(folder.join(".built")).ok()?.trim().to_owned();
            let executable = folder.join("bin").join(&name);
            executable.is_file().then_some((name, executable))
        })
        .collect();
    found.sort();
    found
}

/// The interpreter named `name` (`python3.13t`) that the install step built; if there is none, the test says
/// it is skipped and how to build it.
pub fn built_python(test: &str, name: &str) -> Option<PathBuf> {
    let found = built_pythons().into_iter().find(|(built, _)| built == name).map(|(_, path)| path);
    if found.is_none() {
        skip(test, &format!("needs {name}: `cargo xtask python install` builds it"));
    }
    found
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Every model's binary, from the one list of models, for what each must do before it runs anything (refuse bad
/// input, answer `--help`).
pub fn every_frontend() -> impl Iterator<Item = &'static str> {
    Model::ALL.into_iter().map(Model::binary)
}

/// Every model's binary, with the first line of its refusal of a tiny run when it cannot run here (exit 2: a
/// server it needs is not installed); asked once per test run.
fn refusals() -> &'static [(&'static str, Option<String>)] {
    static RUNNABLE: OnceLock<Vec<(&'static str, Option<String>)>> = OnceLock::new();
    RUNNABLE.get_or_init(|| {
        Model::ALL
            .iter()
            .map(|model| {
                let output = run(model.binary(), &["--workers", "1", "--increments", "1", "--work", "none"]);
                let refused = output.status.code() == Some(2);
                let reason = stderr_of(&output).lines().next().unwrap_or_default().to_owned();
                (model.binary(), refused.then_some(reason))
            })
            .collect()
    })
}

/// Every model's binary that can run on this machine, from the one list of models. When some cannot, the test
/// says so on one line naming them and their own reasons (it ran for the others, not for them).
pub fn frontends(test: &str) -> Vec<&'static str> {
    let refused: Vec<String> = refusals()
        .iter()
        .filter_map(|(binary, refused)| refused.as_ref().map(|reason| format!("{binary} ({reason})")))
        .collect();
    if !refused.is_empty() {
        skip(test, &format!("in part: needs what these need here: {}", refused.join("; ")));
    }
    refusals().iter().filter(|(_, refused)| refused.is_none()).map(|(binary, _)| *binary).collect()
}

/// Whether `binary` can run on this machine; if not, the test says so on one line with the binary's reason.
pub fn runnable(test: &str, binary: &str) -> bool {
    match refusals().iter().find(|(name, _)| *name == binary) {
        Some((_, Some(reason))) => {
            skip(test, &format!("needs what {binary} needs here ({reason})"));
            false
        }
        _ => true,
    }
}

/// Whether `test` can run: root and every tool in `tools` are there; if not, says so on one line.
pub fn can_run(test: &str, needs_root: bool, tools: &[&str]) -> bool {
    if needs_root && !is_root() {
        skip(test, "needs root");
        return false;
    }
    if let Some(tool) = tools.iter().find(|tool| !have_tool(tool)) {
        skip(test, &format!("needs `{tool}` on the PATH"));
        return false;
    }
    true
}

/// Runs a workspace binary as the unprivileged user `nobody` with `RLIMIT_NPROC` set to `nproc`: root is exempt
/// from that limit, so this is how a test makes `fork` or `pthread_create` hit it. Needs root, `setpriv` and
/// `prlimit` (util-linux); without them the test is skipped (`None`).
pub fn run_with_nproc_limit(name: &str, nproc: u32, args: &[&str]) -> Option<Output> {
    run_as_nobody(name, &format!("--nproc={nproc}"), args)
}

/// Runs a workspace binary as the unprivileged user `nobody` under `prlimit LIMIT` (`--nproc=8`, `--as=N`).
pub fn run_as_nobody(name: &str, limit: &str, args: &[&str]) -> Option<Output> {
    if !can_run(&format!("{name} {args:?} as nobody"), true, &["setpriv", "prlimit"]) {
        return None;
    }
    // `nobody` may not be able to reach the target folder (a clone under a private home): run a copy from a
    // folder of its own under /tmp, which anyone can traverse.
    let dir = env::temp_dir().join(format!("counter-nproc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a folder under the temporary folder");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let copy = dir.join(name);
    std::fs::copy(binary(name), &copy).expect("copy the binary");
    let output = output_of(
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "prlimit", limit])
            .arg(&copy)
            .args(args)
            .stdin(Stdio::null()),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Some(output)
}

/// Processes of user `nobody` whose command line mentions `needle`, one `pid command` per line.
pub fn nobody_processes(needle: &str) -> String {
    let mut found = String::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().filter_map(Result::ok) {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else { continue };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let uid =
            status.lines().find_map(|line| line.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().next());
        let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let command = String::from_utf8_lossy(&command).replace('\0', " ");
        if uid == Some("65534") && command.contains(needle) {
            let _ = writeln!(found, "{pid} {command}");
        }
    }
    found
}

/// A test's own folder under the temporary folder, removed when dropped: everything the test writes goes here,
/// the results of the `cargo xtask` it runs included.
#[derive(Debug)]
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    /// A fresh folder named after the test.
    pub fn new(name: &str) -> Scratch {
        let dir = tempfile::Builder::new().prefix(&format!("counter-test-{name}-")).tempdir();
        Scratch(dir.expect("create a folder under the temporary folder"))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// A path inside it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// `cargo xtask`, keeping its results (run folders, `latest` links) in this folder, never in the workspace's
    /// `target/`, where they would replace the user's own.
    pub fn xtask(&self) -> Command {
        let mut command = Command::new(binary("xtask"));
        command.env("COUNTER_LAB_RESULTS", self.file("results")).stdin(Stdio::null());
        command
    }

    /// `cargo xtask compare` with the debug binaries, one repeat, no warm-up, no time budget per row, and the
    /// memory probe only where `args` ask for it (a thousand processes, three times): its output.
    pub fn compare(&self, args: &[&str]) -> std::process::Output {
        let probe: &[&str] = if args.contains(&"--probe-pairs") { &[] } else { &["--probe-pairs", "0"] };
        output_of(
            self.xtask()
                .arg("compare")
                .args(["--profile", "dev", "--repeats", "1", "--warmup", "0", "--row-budget", "0s"])
                .args(probe)
                .args(args),
        )
    }
}

/// Summed `key` (such as `Pss`) of `/proc/<pid>/smaps_rollup` over `pids`, KiB, read directly.
pub fn smaps_rollup_sum(pids: &[i32], key: &str) -> u64 {
    pids.iter()
        .map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("the process is alive");
            let line = text.lines().find(|l| l.split(':').next() == Some(key)).expect("smaps_rollup has the key");
            line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).expect("a number of kB")
        })
        .sum()
}

/// Summed `ps -o rss=` over `pids`, KiB; `None` (and a line saying so) without `ps`.
pub fn ps_rss_sum(pids: &[i32]) -> Option<u64> {
    if !can_run("comparing with ps", false, &["ps"]) {
        return None;
    }
    let list = pids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let ps = Command::new("ps").args(["-o", "rss=", "-p", &list]).output().expect("ps runs");
    Some(String::from_utf8_lossy(&ps.stdout).split_whitespace().map(|v| v.parse::<u64>().expect("a number")).sum())
}

/// Whether `ours` is within 5% of `theirs`.
pub fn within_5_percent(ours: u64, theirs: u64) -> bool {
    ours.abs_diff(theirs) * 20 <= theirs
}

/// Text of a finished command's stderr.
pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// How long a shared server gets to say where it listens.
const SERVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The flags that point `binary` at one server of its model shared by every test of this test process
/// (its server flag and the address), started with the binary's `--serve` on first use; none for a model
/// without a server.
/// A test whose subject is the private server a run starts (its cleanup, its limits) does not use it; one that
/// only needs a server to run against does, so that a server (a database cluster's `initdb`) is not made
/// again for every run. The server is started from a thread that lives as long as the test process and holds
/// the server's standard input open: when this process ends, however it ends, that input closes and the server
/// stops.
pub fn shared_server_flags(binary: &str) -> Vec<String> {
    /// Each binary's shared server: its address, or none where it could not be started.
    type Shared = std::sync::Mutex<Vec<(String, Option<String>)>>;
    static SERVERS: OnceLock<Shared> = OnceLock::new();
    let Some(model) = Model::ALL.into_iter().find(|model| model.binary() == binary) else { return Vec::new() };
    let description = counter_core::catalog::of(model);
    let (Some(server), Some(serve_flag)) = (&description.server, description.serve_flag) else { return Vec::new() };
    let servers = SERVERS.get_or_init(Default::default);
    let mut servers = servers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let address = if let Some((_, address)) = servers.iter().find(|(name, _)| name == binary) {
        address.clone()
    } else {
        let address = serve_for_the_process(binary, serve_flag);
        servers.push((binary.to_owned(), address.clone()));
        address
    };
    // A server that could not be shared: each run starts its own, as without this.
    address.map(|address| vec![server.flag.to_owned(), address]).unwrap_or_default()
}

/// Starts `binary serve_flag` on a thread that then waits for ever, and returns the address it printed.
fn serve_for_the_process(binary: &str, serve_flag: &str) -> Option<String> {
    let (sender, receiver) = mpsc::channel();
    let mut command = command(binary);
    command.arg(serve_flag).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    thread::spawn(move || {
        let Ok(mut child) = command.spawn() else { return };
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let _ = sender.send(line.trim().to_owned());
        // The child keeps its standard input open while this process lives: its end is the server's.
        let _stdin = child.stdin.take();
        loop {
            thread::park();
        }
    });
    receiver.recv_timeout(SERVE_TIMEOUT).ok().filter(|address| !address.is_empty())
}

/// Whether every step of `binary`'s model is a round trip to a server (its catalog entry has a slow step): such
/// a model's end-to-end cases run fewer increments where the size proves nothing.
pub fn steps_are_round_trips(binary: &str) -> bool {
    Model::ALL
        .into_iter()
        .find(|model| model.binary() == binary)
        .is_some_and(|model| counter_core::catalog::of(model).slow_step.is_some())
}
