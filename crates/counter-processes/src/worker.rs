//! The forked child: one worker.
//!
//! The coordinator forks while it has a single thread (checked before the first fork), so the child is an
//! ordinary single-threaded copy of it with no lock held by a vanished thread. Still, the child keeps to the
//! minimum: it never allocates, never touches the coordinator's buffered stdout, and leaves with `_exit`, so
//! that none of the coordinator's destructors run in it (they would unmap, close or unlink the coordinator's
//! resources a second time). A panic is caught before it can unwind into the frames of the coordinator that
//! the child is a copy of (dropping its `Workers` would kill the sibling workers), and becomes an exit code.

use std::{
    os::fd::{BorrowedFd, RawFd},
    panic::{AssertUnwindSafe, catch_unwind},
    ptr::NonNull,
};

use counter_core::{
    child,
    config::Config,
    counter::Counter,
    pool::run_pool_member,
    signals,
    workload::{OnSignal, Start, run_worker, run_worker_traced},
};
use nix::{
    errno::Errno,
    sys::signal::{self, SigHandler, Signal},
    unistd::{Pid, getpid},
};

use crate::{
    codec::{self, MAX_FRAME, WorkerMessage},
    trace::{SegmentLog, TraceArea},
};

/// What a child needs, all borrowed from the coordinator's memory, which the child has its own copy of.
#[derive(Clone, Copy)]
pub(crate) struct ChildSetup<'a> {
    pub(crate) counter: Counter<'a>,
    pub(crate) config: &'a Config,
    pub(crate) index: u64,
    /// The process that started this worker (the coordinator, or the fork server): the worker dies with it.
    pub(crate) parent: Pid,
    /// Write end of the report pipe.
    pub(crate) report: BorrowedFd<'a>,
    /// Read end of the start pipe.
    pub(crate) go: BorrowedFd<'a>,
    /// Descriptors inherited from the parent that the child must close (the coordinator's ends of both pipes,
    /// the fork server's request pipes); -1 for none.
    pub(crate) close: [RawFd; 2],
    /// `--trace`: where the workers' steps go in the segment, and the segment's start in this process.
    pub(crate) trace: Option<(TraceArea, NonNull<u8>)>,
}

/// Exit codes of a worker that could not do its job; the coordinator explains them.
pub(crate) mod exit {
    /// The worker finished and reported.
    pub(crate) const OK: i32 = 0;
    /// The parent-death signal could not be set, or the coordinator was already gone.
    pub(crate) const ORPHANED: i32 = 3;
    /// The report pipe could not be written.
    pub(crate) const REPORT_FAILED: i32 = 4;
    /// The start pipe closed before the start: the coordinator gave up.
    pub(crate) const NOT_STARTED: i32 = 5;
    /// A counter operation failed (the mutex).
    pub(crate) const COUNTER_FAILED: i32 = 6;
    /// The worker panicked (its message is on stderr).
    pub(crate) const PANICKED: i32 = 7;

    /// What an exit code means.
    pub(crate) fn meaning(code: i32) -> &'static str {
        match code {
            ORPHANED => "the coordinator was gone",
            REPORT_FAILED => "it could not write its report",
            NOT_STARTED => "the start pipe closed before the start",
            COUNTER_FAILED => "a counter operation (the process-shared mutex) failed",
            PANICKED => "it panicked (see its message above)",
            _ => "unexpected exit code",
        }
    }
}

/// Runs the worker in the forked child and ends the child. Never returns.
pub(crate) fn child_main(setup: &ChildSetup<'_>) -> ! {
    let code = run_in_child(setup);
    // SAFETY: `_exit` ends the process at once without running destructors or atexit handlers, which is what
    // a forked child must do: those belong to the coordinator.
    unsafe { libc::_exit(code) }
}

/// Runs the worker and returns its exit code; a panic becomes [`exit::PANICKED`].
pub(crate) fn run_in_child(setup: &ChildSetup<'_>) -> i32 {
    // The unwind stops here, in the child's own frame, never in the coordinator's frames above it.
    catch_unwind(AssertUnwindSafe(|| work(setup))).unwrap_or(exit::PANICKED)
}

fn work(setup: &ChildSetup<'_>) -> i32 {
    // Die with the parent, even by `kill -9`. Then close the race: if it died before this line, we have been
    // re-parented already and the signal will never come, so check the parent now.
    if child::die_with_parent(setup.parent).is_err() {
        return exit::ORPHANED;
    }
    // Ctrl-C reaches the whole process group: the coordinator handles it and stops us, so ignore it here.
    // SIGTERM keeps the handler inherited from the coordinator: it sets the stop flag, and the loop below ends
    // early and reports what it did, which is how the coordinator stops workers for a partial report.
    // SAFETY: setting a disposition to SIG_IGN installs no handler code; nothing else runs in this process.
    if unsafe { signal::signal(Signal::SIGINT, SigHandler::SigIgn) }.is_err() {
        return exit::ORPHANED;
    }
    for fd in setup.close.into_iter().filter(|fd| *fd >= 0) {
        // SAFETY: these are the parent's own descriptors, open in this copy of its fd table and never used
        // here; closing them lets each side see end-of-file when the other side is gone.
        unsafe { libc::close(fd) };
    }
    // The worker's index was checked to be below `workers`, which fits in u32 for any fork-able count.
    let worker = setup.index as u32;
    if send(setup.report, worker, &WorkerMessage::Ready { pid: getpid().as_raw() }).is_err() {
        return exit::REPORT_FAILED;
    }
    if wait_for_start(setup.go) != Start::Go {
        if let Some(signal) = signals::received() {
            // SIGTERM before the start, from someone else than the coordinator (which kills, before the start):
            // end as that signal would have ended us, so that the coordinator names it.
            die_of(signal);
        }
        return exit::NOT_STARTED;
    }
    // The index is below the number of members, which the counter was sized for.
    let member = setup.index as usize;
    // SAFETY: the segment is mapped at `base` for the whole area (the coordinator sized it so, and a spawned
    // worker checked its length), for this process's life; its words are only used as atomics.
    let words = setup.trace.and_then(|(area, base)| unsafe { area.worker(base, setup.index) });
    let outcome = match (setup.config.pool(), words) {
        (None, None) => run_worker(setup.counter, setup.config, member, &OnSignal),
        (None, Some(words)) => {
            let mut log = SegmentLog::new(words, setup.index);
            let outcome = run_worker_traced(setup.counter, setup.config, member, &OnSignal, &mut log);
            log.close();
            outcome
        }
        (Some(pool), _) => run_pool_member(setup.counter, setup.config, pool.jobs, member, &OnSignal),
    };
    let Ok(outcome) = outcome else {
        return exit::COUNTER_FAILED;
    };
    let done = WorkerMessage::Done {
        increments_done: outcome.increments_done,
        elapsed_ns: u64::try_from(outcome.elapsed.as_nanos()).unwrap_or(u64::MAX),
    };
    if send(setup.report, worker, &done).is_err() { exit::REPORT_FAILED } else { exit::OK }
}

/// Ends this process by `signal`, with its default action.
fn die_of(signal: Signal) {
    // SAFETY: restoring the default disposition installs no handler code; nothing else runs in this process.
    if unsafe { signal::signal(signal, SigHandler::SigDfl) }.is_ok() {
        let _ = nix::sys::signal::raise(signal);
    }
}

/// Writes one frame with one `write(2)`, atomic on a pipe.
pub(crate) fn send(report: BorrowedFd<'_>, worker: u32, message: &WorkerMessage) -> Result<(), ()> {
    let mut buffer = [0; MAX_FRAME];
    let frame = codec::encode(worker, message, &mut buffer).map_err(|_| ())?;
    loop {
        match nix::unistd::write(report, frame) {
            Ok(written) if written == frame.len() => return Ok(()),
            Err(Errno::EINTR) => {}
            _ => return Err(()),
        }
    }
}

/// Blocks until the coordinator writes our start byte ([`Start::Go`]); [`Start::Abort`] if the pipe closes
/// first.
fn wait_for_start(go: BorrowedFd<'_>) -> Start {
    let mut byte = [0; 1];
    loop {
        match nix::unistd::read(go, &mut byte) {
            Ok(1) => return Start::Go,
            // SIGTERM before the start: the coordinator is stopping the run.
            Err(Errno::EINTR) if signals::received().is_none() => {}
            _ => return Start::Abort,
        }
    }
}
