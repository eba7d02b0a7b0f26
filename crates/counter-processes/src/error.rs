//! What only this frontend can fail with, and the error a run ends with.

use counter_core::{
    error::RunError,
    proc::{limits, limits::LimitError},
};
use nix::errno::Errno;

use crate::{codec, segment::SegmentError};

/// Why a run produced no report: a reason every frontend shares, or [`ProcessesError`].
pub type Error = RunError<ProcessesError>;

/// What only this frontend can hit.
#[derive(Debug, thiserror::Error)]
pub enum ProcessesError {
    /// The coordinator has more than one thread, so forking it would not be safe.
    #[error("the coordinator has {threads} threads; it must fork while it has exactly one")]
    NotSingleThreaded {
        /// Threads found.
        threads: u64,
    },
    /// The segment could not be made.
    #[error(transparent)]
    Segment(SegmentError),
    /// A pipe could not be made or used.
    #[error("pipe between the coordinator and its workers failed")]
    Pipe(#[source] Errno),
    /// A worker (or the fork server) could not be started with the method asked for.
    #[error("could not start {} with --start {method}: {detail}", index.map_or("the fork server".to_owned(), |i| format!("worker {i}")))]
    StartFailed {
        /// `fork`, `forkserver` or `spawn`.
        method: &'static str,
        /// The worker, or `None` for the fork server itself.
        index: Option<u64>,
        /// What went wrong.
        detail: String,
    },
    /// A worker ended, without a fault, before it said it was alive: it was not started as one of ours.
    #[error(
        "worker {worker} (pid {pid}) exited 0 before it said it was alive; the other workers were stopped and reaped"
    )]
    EndedBeforeReady {
        /// The worker's number.
        worker: u64,
        /// Its pid.
        pid: i32,
    },
    /// Workers did not say they were alive in time.
    #[error(
        "{ready} of {workers} workers said they were alive within {waited_s} s; the others never did, and all were \
         stopped and reaped"
    )]
    NotReadyInTime {
        /// Workers that said so.
        ready: u64,
        /// Workers started.
        workers: u64,
        /// How long the coordinator waited, seconds.
        waited_s: u64,
    },
    /// The fork server ended while it still had workers.
    #[error("the fork server (pid {pid}) ended: {how}, while {left} workers were still alive; they died with it")]
    ServerDied {
        /// Its pid.
        pid: i32,
        /// How it ended, in words.
        how: String,
        /// Workers that had not ended.
        left: u64,
    },
    /// The shared list of worker pids could not be mapped.
    #[error("could not map the list of {workers} worker pids")]
    PidList {
        /// Workers in the run.
        workers: u64,
        /// What mmap said.
        #[source]
        source: Errno,
    },
    /// `fork` failed part-way for a reason other than a limit.
    #[error(
        "could not fork worker {index} of {requested} ({limits}); the {index} already started were stopped and reaped"
    )]
    Fork {
        /// Workers forked before the failure.
        index: u64,
        /// Workers asked for.
        requested: u64,
        /// The limits in force, to tell which one was hit.
        limits: String,
        /// The OS's error.
        #[source]
        source: Errno,
    },
    /// `wait4` failed.
    #[error("could not wait for the workers")]
    Wait(#[source] Errno),
    /// A worker was killed by a signal.
    #[error("worker {worker} (pid {pid}) was killed by {signal}; {during}")]
    WorkerKilled {
        /// The worker's number.
        worker: u64,
        /// Its pid.
        pid: i32,
        /// The signal's name.
        signal: &'static str,
        /// What became of the others.
        during: &'static str,
    },
    /// A worker exited with an error code.
    #[error("worker {worker} (pid {pid}) exited with code {code}: {meaning}; {during}")]
    WorkerFailed {
        /// The worker's number.
        worker: u64,
        /// Its pid.
        pid: i32,
        /// Its exit code.
        code: i32,
        /// What the code means.
        meaning: &'static str,
        /// What became of the others.
        during: &'static str,
    },
    /// A worker exited without sending its figures.
    #[error("worker {worker} (pid {pid}) exited without reporting")]
    WorkerSilent {
        /// The worker's number.
        worker: u64,
        /// Its pid.
        pid: i32,
    },
    /// A worker stopped before the end although nobody asked the run to stop.
    #[error("worker {worker} (pid {pid}) stopped after {done} of {asked} increments (was it sent SIGTERM?)")]
    WorkerStoppedEarly {
        /// The worker's number.
        worker: u64,
        /// Its pid.
        pid: i64,
        /// Increments done.
        done: u64,
        /// Increments asked for.
        asked: u64,
    },
    /// A pool stopped before the end although nobody asked the run to stop.
    #[error("the pool did {done} of {expected} increments and stopped (was a member sent SIGTERM?)")]
    PoolStoppedEarly {
        /// Increments done.
        done: u64,
        /// Increments expected.
        expected: u64,
    },
    /// A report frame could not be read.
    #[error("a worker's report could not be read")]
    Report(#[source] codec::CodecError),
    /// A frame named a worker that does not exist.
    #[error("garbled report: it names worker {worker}, which does not exist")]
    UnknownWorker {
        /// The number in the frame.
        worker: u32,
    },
    /// A worker sent a message out of turn.
    #[error("worker {worker} sent an unexpected report: {message}")]
    UnexpectedReport {
        /// The worker's number.
        worker: u32,
        /// The message.
        message: String,
    },
}

/// Each a failed run (exit 1).
impl counter_core::error::FrontendError for ProcessesError {}

/// A fork that failed: a limit (exit 2) when the OS says it is out of resources (`EAGAIN`: `RLIMIT_NPROC` or the
/// task limits), else a failure.
pub(crate) fn fork_failed(index: u64, requested: u64, source: Errno) -> Error {
    let limits = limits::summary();
    if source == Errno::EAGAIN {
        return Error::from(LimitError {
            request: format!("{requested} processes"),
            limit: "the task limits",
            value: format!("{index} processes could be forked"),
            detail: format!(
                "fork of worker {index} was refused ({}); {limits}; the ones already started were \
                             stopped and reaped",
                source.desc()
            ),
        });
    }
    ProcessesError::Fork { index, requested, limits, source }.into()
}
