//! How a worker process is started: `fork`, `forkserver` or `spawn`, Python's three start methods.
//!
//! - `fork`: the coordinator forks each worker; the worker is a copy-on-write copy of the coordinator.
//! - `forkserver`: the coordinator first forks a small server, which forks every worker on request (one
//!   request per worker, on a pipe, answered with the pid). The server does nothing between two forks but read
//!   a request and write a pid, so a worker's private pages are its own. The server reaps its workers and
//!   sends the coordinator how each ended, on the report pipe. The workers die with the server, the server
//!   with the coordinator (`PR_SET_PDEATHSIG`).
//! - `spawn`: each worker is this binary started anew (fork and exec, by `std::process::Command`) in a worker
//!   mode that is not offered to users (`--spawned-worker`). It inherits the report pipe, the start pipe and the
//!   counter's segment as descriptors 3, 4 and 5, and reads its hand-off (the workload, its number, the
//!   coordinator's pid) from descriptor 6, bincode-encoded. It shares no page with the coordinator but the
//!   segment's.

use std::{
    io::Read,
    num::NonZeroUsize,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
        unix::process::CommandExt,
    },
    path::PathBuf,
    process::{Command, ExitCode, Stdio},
};

pub use counter_core::model::StartMethod;
use counter_core::{child, config::Config, counter::Counter, error::EXIT_USAGE, model::Model, output};
use nix::{
    errno::Errno,
    fcntl::OFlag,
    sys::{
        mman::{self, MapFlags, ProtFlags},
        signal::{self, SigHandler, Signal},
        stat::{SFlag, fstat},
    },
    unistd::{ForkResult, Pid, fork, getpid, getppid, pipe2},
};

use crate::{
    codec::{self, FROM_SERVER, Handoff, WorkerMessage},
    error::ProcessesError,
    segment::Segment,
    trace::TraceArea,
    worker::{self, ChildSetup},
};

/// What a start method means for memory, for the report, and the descriptors it opens.
pub(crate) trait MethodNote {
    /// What the method means for memory, for the report.
    fn note(self) -> &'static str;

    /// Descriptors the coordinator opens besides those open when it checks, whatever the number of workers
    /// at their peak (the segment, the report and start pipes, what the method adds: the fork server's request
    /// and reply pipes, a spawned worker's hand-off; and the `/proc` file read while they are open), measured with
    /// `prlimit --nofile` from a process with only 0, 1 and 2 open.
    fn descriptors(self) -> u64;
}

impl MethodNote for StartMethod {
    fn descriptors(self) -> u64 {
        match self {
            StartMethod::Fork => 6,
            StartMethod::Forkserver => 10,
            StartMethod::Spawn => 13,
        }
    }

    fn note(self) -> &'static str {
        match self {
            StartMethod::Fork => {
                "started with fork: each worker is a copy-on-write copy of the coordinator, and shares its pages \
                 until one side writes them"
            }
            StartMethod::Forkserver => {
                "started with forkserver: each worker is forked from a small server started first, which touches \
                 nothing between two forks; the server is one more process in the tree"
            }
            StartMethod::Spawn => {
                "started with spawn: each worker is this binary started anew (fork and exec); it shares no page \
                 with the coordinator but the counter's segment and the program's and libraries' files"
            }
        }
    }
}

/// Descriptors a spawned worker finds its pipes, segment and hand-off at.
const SPAWNED_REPORT_FD: RawFd = 3;
const SPAWNED_GO_FD: RawFd = 4;
const SPAWNED_SEGMENT_FD: RawFd = 5;
const SPAWNED_HANDOFF_FD: RawFd = 6;

/// The hidden flag of the spawned worker mode.
pub const SPAWNED_WORKER_FLAG: &str = "--spawned-worker";

/// Starts the workers of one run with one method.
pub(crate) struct Launcher<'a> {
    template: ChildSetup<'a>,
    how: How,
}

enum How {
    Fork,
    Server(ForkServer),
    Spawn { executable: PathBuf, request: counter_core::config::Request, segment_bytes: u64, segment: RawFd },
}

impl<'a> Launcher<'a> {
    /// Gets ready to start workers like `template` (whose `index` is set for each): forks the fork server, or
    /// finds this program's path for spawn.
    pub(crate) fn new(
        method: StartMethod,
        template: ChildSetup<'a>,
        segment: &'a Segment,
    ) -> Result<Launcher<'a>, ProcessesError> {
        let how = match method {
            StartMethod::Fork => How::Fork,
            StartMethod::Forkserver => How::Server(ForkServer::start(&template, template.close)?),
            StartMethod::Spawn => {
                let executable = std::env::current_exe().map_err(|error| ProcessesError::StartFailed {
                    method: "spawn",
                    index: None,
                    detail: format!("this program's path is unknown: {error}"),
                })?;
                let mut request = template.config.request().clone();
                request.hold = None;
                How::Spawn {
                    executable,
                    request,
                    segment_bytes: segment.len() as u64,
                    segment: segment.fd().as_raw_fd(),
                }
            }
        };
        Ok(Launcher { template, how })
    }

    /// The fork server's pid, with `forkserver`.
    pub(crate) fn server(&self) -> Option<Pid> {
        match &self.how {
            How::Server(server) => Some(server.pid()),
            _ => None,
        }
    }

    /// Starts worker `index` and returns its pid.
    pub(crate) fn launch(&mut self, index: u64) -> Result<Pid, crate::error::Error> {
        let setup = ChildSetup { index, ..self.template };
        match &mut self.how {
            How::Server(server) => Ok(server.launch(index)?),
            How::Spawn { executable, request, segment_bytes, segment } => {
                let parent = setup.parent.as_raw();
                let handoff = Handoff { index, parent, request: request.clone(), segment_bytes: *segment_bytes };
                // SAFETY: the segment's descriptor is owned by the `Segment` borrowed for `'a`, open all along.
                let segment = unsafe { BorrowedFd::borrow_raw(*segment) };
                Ok(spawn(executable, &handoff, setup.report, setup.go, segment)?)
            }
            How::Fork => {
                // SAFETY: this process has one thread (checked in `run`, and nothing since started one), so the
                // child is a complete copy with no lock held by a thread that vanished; it runs `child_main`,
                // which does only what is listed in the `worker` module and leaves with `_exit`.
                match unsafe { fork() } {
                    Ok(ForkResult::Child) => worker::child_main(&setup),
                    Ok(ForkResult::Parent { child }) => Ok(child),
                    Err(source) => Err(crate::error::fork_failed(index, setup.config.members(), source)),
                }
            }
        }
    }

    /// Says every worker is started (the fork server then waits for them).
    pub(crate) fn all_launched(&mut self) {
        if let How::Server(server) = &mut self.how {
            server.all_launched();
        }
    }
}

/// The fork server, seen from the coordinator.
#[derive(Debug)]
pub(crate) struct ForkServer {
    pid: Pid,
    /// Where requests go: one worker number (8 bytes, little-endian) each.
    requests: Option<OwnedFd>,
    /// Where pids come back (4 bytes each; a negative value is an errno).
    replies: OwnedFd,
}

impl ForkServer {
    /// Forks the server. `template` is what every worker gets (its `index` and `parent` are set by the server);
    /// `coordinator_fds` are the coordinator's own ends of the report and start pipes, which the server closes.
    pub(crate) fn start(template: &ChildSetup<'_>, coordinator_fds: [RawFd; 2]) -> Result<ForkServer, ProcessesError> {
        let (requests_read, requests_write) = pipe2(OFlag::O_CLOEXEC).map_err(ProcessesError::Pipe)?;
        let (replies_read, replies_write) = pipe2(OFlag::O_CLOEXEC).map_err(ProcessesError::Pipe)?;
        let coordinator = getpid();
        // SAFETY: the coordinator has one thread (checked in `run`), so the child is a complete copy with no
        // lock held by a vanished thread; it runs `serve`, which does only what `worker::child_main` does, and
        // forks, and leaves with `_exit`.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let close =
                    [coordinator_fds[0], coordinator_fds[1], requests_write.as_raw_fd(), replies_read.as_raw_fd()];
                serve(template, coordinator, close, requests_read.as_fd(), replies_write.as_fd())
            }
            Ok(ForkResult::Parent { child }) => {
                Ok(ForkServer { pid: child, requests: Some(requests_write), replies: replies_read })
            }
            Err(source) => {
                Err(ProcessesError::StartFailed { method: "forkserver", index: None, detail: source.to_string() })
            }
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Asks the server for worker `index` and returns its pid.
    pub(crate) fn launch(&mut self, index: u64) -> Result<Pid, ProcessesError> {
        let failed = |detail: String| ProcessesError::StartFailed { method: "forkserver", index: Some(index), detail };
        let requests = self.requests.as_ref().ok_or_else(|| failed("the server was told to stop".to_owned()))?;
        write_all(requests.as_fd(), &index.to_le_bytes())
            .map_err(|errno| failed(format!("the server is gone ({errno})")))?;
        let mut reply = [0; 4];
        read_exact(self.replies.as_fd(), &mut reply)
            .map_err(|errno| failed(format!("the server is gone ({errno})")))?;
        match i32::from_le_bytes(reply) {
            pid if pid > 0 => Ok(Pid::from_raw(pid)),
            errno => Err(failed(format!("its fork failed: {}", Errno::from_raw(-errno).desc()))),
        }
    }

    /// Tells the server that every worker is started: it then waits for them and reports how each ended.
    pub(crate) fn all_launched(&mut self) {
        self.requests = None;
    }
}

/// The fork server's body. Never returns.
fn serve(
    template: &ChildSetup<'_>,
    coordinator: Pid,
    close: [RawFd; 4],
    requests: BorrowedFd<'_>,
    replies: BorrowedFd<'_>,
) -> ! {
    // SAFETY: `_exit` ends the process at once without running the coordinator's destructors, as a forked child
    // must; a panic of `serve_or_fail` is caught here, by `catch_unwind`, and becomes an exit code.
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve_or_fail(template, coordinator, close, requests, replies)
    }))
    .unwrap_or(worker::exit::PANICKED);
    // SAFETY: see above.
    unsafe { libc::_exit(code) }
}

fn serve_or_fail(
    template: &ChildSetup<'_>,
    coordinator: Pid,
    close: [RawFd; 4],
    requests: BorrowedFd<'_>,
    replies: BorrowedFd<'_>,
) -> i32 {
    if child::die_with_parent(coordinator).is_err() {
        return worker::exit::ORPHANED;
    }
    // Ctrl-C reaches the whole process group: the coordinator handles it. SIGTERM keeps the coordinator's
    // handler (a flag this loop does not look at): the server stops when its request pipe closes.
    // SAFETY: SIG_IGN installs no handler code; nothing else runs in this process.
    if unsafe { signal::signal(Signal::SIGINT, SigHandler::SigIgn) }.is_err() {
        return worker::exit::ORPHANED;
    }
    for fd in close {
        // SAFETY: the coordinator's descriptors, open in this copy of its table and never used here.
        unsafe { libc::close(fd) };
    }
    let server = getpid();
    let mut request = [0; 8];
    // Between two forks: one read, one write, nothing else written but this stack frame.
    while read_exact(requests, &mut request).is_ok() {
        let setup = ChildSetup {
            index: u64::from_le_bytes(request),
            parent: server,
            close: [requests.as_raw_fd(), replies.as_raw_fd()],
            ..*template
        };
        // SAFETY: this process has one thread, so the child is a complete copy of it; it runs the worker,
        // which leaves with `_exit`.
        let reply = match unsafe { fork() } {
            Ok(ForkResult::Child) => worker::child_main(&setup),
            Ok(ForkResult::Parent { child }) => child.as_raw(),
            Err(errno) => -(errno as i32),
        };
        if write_all(replies, &reply.to_le_bytes()).is_err() {
            return worker::exit::REPORT_FAILED;
        }
    }
    // Every worker is started: reap each and say how it ended.
    loop {
        match counter_core::child::wait4(None, true) {
            Ok(Some(reaped)) => {
                let micros = |seconds: f64| (seconds * 1e6) as u64;
                let ended = WorkerMessage::Ended {
                    pid: reaped.pid.as_raw(),
                    status: std::os::unix::process::ExitStatusExt::into_raw(reaped.status),
                    user_us: micros(reaped.cpu.user_s),
                    sys_us: micros(reaped.cpu.sys_s),
                    voluntary_switches: reaped.cpu.voluntary_switches,
                    involuntary_switches: reaped.cpu.involuntary_switches,
                    max_rss_kib: reaped.max_rss_kib,
                };
                if worker::send(template.report, FROM_SERVER, &ended).is_err() {
                    return worker::exit::REPORT_FAILED;
                }
            }
            Err(Errno::EINTR) | Ok(None) => {}
            Err(_) => return worker::exit::OK,
        }
    }
}

/// Starts worker `index` with exec: this binary in its spawned worker mode.
pub(crate) fn spawn(
    executable: &PathBuf,
    handoff: &Handoff,
    report: BorrowedFd<'_>,
    go: BorrowedFd<'_>,
    segment: BorrowedFd<'_>,
) -> Result<Pid, ProcessesError> {
    let failed = |detail: String| ProcessesError::StartFailed { method: "spawn", index: Some(handoff.index), detail };
    let bytes = codec::encode_handoff(handoff).map_err(|error| failed(error.to_string()))?;
    let (handoff_read, handoff_write) = pipe2(OFlag::O_CLOEXEC).map_err(ProcessesError::Pipe)?;
    // At most 4 KiB, which a pipe's buffer holds before anyone reads it.
    write_all(handoff_write.as_fd(), &bytes)
        .map_err(|errno| failed(format!("could not write the hand-off ({errno})")))?;
    drop(handoff_write);
    let sources = [report.as_raw_fd(), go.as_raw_fd(), segment.as_raw_fd(), handoff_read.as_raw_fd()];
    let parent = getpid();
    let mut command = Command::new(executable);
    command.arg(SPAWNED_WORKER_FLAG).stdin(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe functions
    // (`die_with_parent`, fcntl, dup2) on descriptors that are open in the child; its errors are `io::Error`s
    // made from a raw errno, which allocate nothing.
    unsafe {
        command.pre_exec(move || {
            // Die with the coordinator (ESRCH: it was gone already).
            child::die_with_parent(parent).map_err(|errno| std::io::Error::from_raw_os_error(errno as i32))?;
            // First out of the way (above any target), then into place without close-on-exec.
            let mut moved = [0; 4];
            for (slot, fd) in moved.iter_mut().zip(sources) {
                *slot = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                if *slot < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (target, fd) in (SPAWNED_REPORT_FD..).zip(moved) {
                if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|error| failed(format!("could not exec {}: {error}", executable.display())))?;
    // The child is reaped with `wait4` with the others; std's handle is not needed.
    Ok(Pid::from_raw(child.id() as i32))
}

/// The spawned worker mode's entry: checks that a coordinator started this process, then works.
pub fn spawned_worker_main() -> ExitCode {
    let program = Model::Processes.binary();
    let handoff = match receive_handoff() {
        Ok(handoff) => handoff,
        Err(why) => {
            output::eprint(&format!(
                "{program}: error: {SPAWNED_WORKER_FLAG} is how `{program} --start spawn` starts its own workers, \
                 and is not meant to be run by hand ({why})\n"
            ));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run_spawned(handoff) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(why) => {
            output::eprint(&format!("{program}: error: {SPAWNED_WORKER_FLAG}: the hand-off is refused: {why}\n"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// A spawned worker's hand-off, checked against what it describes: the workload, the worker's number, and the
/// segment on descriptor 5, which must be a file at least as large as the counter's layout says.
struct Spawned {
    handoff: Handoff,
    config: Config,
    segment: OwnedFd,
    length: NonZeroUsize,
}

fn receive_handoff() -> Result<Spawned, String> {
    for fd in [SPAWNED_REPORT_FD, SPAWNED_GO_FD, SPAWNED_HANDOFF_FD] {
        // SAFETY: a descriptor number is only looked at here, not owned.
        let kind = fstat(unsafe { BorrowedFd::borrow_raw(fd) }).map_err(|_| format!("descriptor {fd} is not open"))?;
        if SFlag::from_bits_truncate(kind.st_mode) & SFlag::S_IFMT != SFlag::S_IFIFO {
            return Err(format!("descriptor {fd} is not a pipe"));
        }
    }
    // SAFETY: descriptor 6 is open (checked above) and nothing else in this process owns it.
    let mut pipe = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(SPAWNED_HANDOFF_FD) });
    let mut bytes = Vec::new();
    pipe.by_ref().take(codec::MAX_HANDOFF as u64 + 1).read_to_end(&mut bytes).map_err(|error| error.to_string())?;
    let handoff = codec::decode_handoff(&bytes).map_err(|error| format!("no hand-off on descriptor 6: {error}"))?;
    if getppid().as_raw() != handoff.parent {
        return Err(format!("the hand-off names pid {} as the parent, which is not this process's", handoff.parent));
    }
    let config = handoff
        .request
        .clone()
        .validate_for(&crate::frontend::FRONTEND.abilities)
        .map_err(|error| format!("the hand-off's workload is refused: {error}"))?;
    if handoff.index >= config.members() {
        return Err(format!("the hand-off names worker {} of {}", handoff.index, config.members()));
    }
    let counter_bytes = counter_core::counter::layout(config.strategy(), config.members())
        .map_err(|error| format!("the hand-off's counter cannot be laid out: {error}"))?
        .size();
    // A traced run's segment also holds every worker's steps, after the counter.
    let needed = match config.trace() {
        Some(_) => TraceArea::of(&config, counter_bytes)
            .and_then(|area| area.end())
            .ok_or("the hand-off's trace does not fit in memory")?,
        None => counter_bytes,
    };
    let length =
        usize::try_from(handoff.segment_bytes).ok().filter(|&length| length >= needed).and_then(NonZeroUsize::new);
    let Some(length) = length else {
        return Err(format!(
            "the hand-off gives the segment {} bytes, less than the {needed} its counter takes",
            handoff.segment_bytes
        ));
    };
    // SAFETY: a descriptor number is only looked at here, not owned.
    let segment = fstat(unsafe { BorrowedFd::borrow_raw(SPAWNED_SEGMENT_FD) })
        .map_err(|_| format!("descriptor {SPAWNED_SEGMENT_FD} is not open"))?;
    if SFlag::from_bits_truncate(segment.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(format!("descriptor {SPAWNED_SEGMENT_FD} is not a shared-memory segment (a regular file)"));
    }
    if u64::try_from(segment.st_size).unwrap_or(0) < handoff.segment_bytes {
        return Err(format!(
            "the segment on descriptor {SPAWNED_SEGMENT_FD} holds {} bytes, less than the {} the hand-off gives it",
            segment.st_size, handoff.segment_bytes
        ));
    }
    // SAFETY: descriptor 5 is open and a regular file at least `length` bytes long (both checked just above);
    // nothing else in this process owns it.
    let segment = unsafe { OwnedFd::from_raw_fd(SPAWNED_SEGMENT_FD) };
    Ok(Spawned { handoff, config, segment, length })
}

/// Maps the segment, checks that it holds a fresh counter for this run (its bytes, before any is read as a
/// counter: a crafted one is refused, not trusted), and works; the worker's exit code, or why the segment was
/// refused.
fn run_spawned(spawned: Spawned) -> Result<i32, String> {
    let Spawned { handoff, config, segment, length } = spawned;
    // SAFETY: a fresh shared mapping of the segment at an address of the kernel's choosing aliases nothing; it
    // stays mapped until this process ends.
    let base = match unsafe {
        mman::mmap(None, length, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, &segment, 0)
    } {
        Ok(base) => base.cast::<u8>(),
        Err(_) => return Ok(worker::exit::COUNTER_FAILED),
    };
    // SAFETY: the mapping covers the counter's layout for this strategy and member count (the hand-off's length
    // was checked to, and the file to be at least that long), is aligned to a page, and lives as long as this
    // process; no worker writes it before the start, which comes after this check.
    let counter =
        unsafe { Counter::attach_at(base, config.strategy(), config.members()) }.map_err(|error| error.to_string())?;
    // SAFETY: descriptors 3 and 4 are open pipes (checked), borrowed for the worker's life.
    let (report, go) = unsafe { (BorrowedFd::borrow_raw(SPAWNED_REPORT_FD), BorrowedFd::borrow_raw(SPAWNED_GO_FD)) };
    let parent = Pid::from_raw(handoff.parent);
    let counter_bytes =
        counter_core::counter::layout(config.strategy(), config.members()).map_err(|error| error.to_string())?.size();
    let trace = TraceArea::of(&config, counter_bytes).map(|area| (area, base));
    let setup =
        ChildSetup { counter, config: &config, index: handoff.index, parent, report, go, close: [-1, -1], trace };
    Ok(worker::run_in_child(&setup))
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return Err(Errno::EPIPE),
            Ok(written) => bytes = &bytes[written..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

fn read_exact(fd: BorrowedFd<'_>, mut buffer: &mut [u8]) -> Result<(), Errno> {
    while !buffer.is_empty() {
        match nix::unistd::read(fd, buffer) {
            Ok(0) => return Err(Errno::EPIPE),
            Ok(read) => buffer = &mut buffer[read..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}
