//! The shared-counter experiment with one process per worker, forked (by default), forked from a fork server,
//! or spawned anew ([`start`]).
//!
//! The counter lives in a POSIX shared-memory segment ([`segment`]) that the coordinator creates, maps and
//! unlinks before it starts the workers, which inherit the mapping (or, spawned, its descriptor). Each worker
//! reports alive over a pipe and
//! waits for one byte on a start pipe; once all are alive the coordinator measures the whole process tree
//! (and, with `--hold`, waits to be inspected), then writes one byte per worker so that all start together.
//! Each worker sends its figures back over the report pipe ([`codec`], bincode) and leaves with `_exit`; the
//! coordinator reaps every one with `wait4`, which gives each worker's exit status and its own rusage.
//!
//! The mutex strategy uses the counter's robust process-shared pthread mutex, so a worker killed while
//! holding it does not hang the others.
//!
//! Nothing leaks: the segment's name is gone before the first fork; the workers die with the coordinator
//! (`PR_SET_PDEATHSIG`); a worker that dies ends the run, and the others are killed and reaped.
#![warn(missing_docs)]

pub mod codec;
mod coordinator;
pub mod segment;
pub mod start;
mod worker;

use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

use counter_core::{
    cli::error_chain,
    cli::{Frontend, WORK_HELP},
    config::Abilities,
    config::{Config, Hold},
    counter::{self, Counter},
    cpu::CpuUsage,
    error::{Error as CoreError, RunError, RunInterrupted},
    hold,
    model::Model,
    proc::{limits, limits::LimitError, memory},
    render::ModelWords,
    report::{Measurements, RunReport},
};
use nix::{
    errno::Errno,
    fcntl::OFlag,
    sys::signal::Signal,
    unistd::{Pid, getpid, pipe2},
};

pub use crate::start::{SPAWNED_WORKER_FLAG, StartMethod, spawned_worker_main};
use crate::{
    coordinator::{Stop, Workers},
    segment::{Segment, SegmentError},
    start::{Launcher, MethodNote},
    worker::ChildSetup,
};

/// The model this crate runs.
pub const MODEL: Model = Model::Processes;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: false,
        no_pool: None,
        no_fencing: Some(counter_core::config::IN_MEMORY_LOCK),
    },
    work_help: WORK_HELP,
    words: ModelWords::GENERIC,
};

// What the frontend says it can run agrees with its model's facts, or the crate does not build.
const _: () = assert!(FRONTEND.agrees_with_its_model());

/// How long stopped workers get to report what they did before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

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

impl From<ProcessesError> for Error {
    fn from(error: ProcessesError) -> Error {
        RunError::Frontend(error)
    }
}

impl From<SegmentError> for Error {
    fn from(error: SegmentError) -> Error {
        match error {
            // A full /dev/shm or a file-size limit is a request over a limit (exit 2), as with the others.
            SegmentError::Limit(limit) => limit.into(),
            other => ProcessesError::Segment(other).into(),
        }
    }
}

/// Runs the workload with one process per worker, started with `method`, and reports what happened.
///
/// Must be called while the process has a single thread (it forks, and checks) and no other children (it reaps
/// its workers with `wait4(-1)`, which would also take another child's exit status). With
/// [`StartMethod::Spawn`] the workers are the current program started anew with [`SPAWNED_WORKER_FLAG`] first:
/// its `main` must hand that to [`spawned_worker_main`], as `counter-processes`' does.
pub fn run(config: &Config, method: StartMethod) -> Result<RunReport, Error> {
    let threads = memory::of_process(getpid().as_raw()).map_err(CoreError::Probe)?.threads;
    if threads != 1 {
        return Err(ProcessesError::NotSingleThreaded { threads }.into());
    }
    let layout = counter::layout(config.strategy(), config.members())?;
    limits::check_processes(config.members(), layout.size() as u64).map_err(CoreError::LimitCheck)??;
    let purpose = format!("the segment and the pipes of --start {}", method.name());
    limits::check_descriptors(method.descriptors(), &purpose).map_err(CoreError::LimitCheck)??;
    let segment = Segment::create(layout.size())?;
    // SAFETY: the segment is a fresh shared mapping of at least `layout.size()` bytes, page-aligned, that
    // nobody else maps yet; it stays mapped until `segment` is dropped at the end of this function, and the
    // children have their own copy of the mapping.
    let counter = unsafe { Counter::init_at(segment.base(), config.strategy(), config.members()) }?;
    Coordinator { config, counter, segment: &segment, method }.run()
}

struct Coordinator<'a> {
    config: &'a Config,
    counter: Counter<'a>,
    segment: &'a Segment,
    method: StartMethod,
}

impl Coordinator<'_> {
    fn run(&self) -> Result<RunReport, Error> {
        let config = self.config;
        let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(ProcessesError::Pipe)?;
        let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).map_err(ProcessesError::Pipe)?;
        let cpu_before = CpuUsage::of_this_process();
        let coordinator = getpid();
        let report_read_fd = report_read.as_raw_fd();
        let members = config.members();
        let mut workers = Workers::new(report_read, members)?;
        let started = Instant::now();
        let template = ChildSetup {
            counter: self.counter,
            config,
            index: 0,
            parent: coordinator,
            report: report_write.as_fd(),
            go: go_read.as_fd(),
            close: [report_read_fd, go_write.as_raw_fd()],
        };
        let server_pid = self.start_workers(&mut workers, template)?;
        // Only the workers write reports and only they read the start pipe: with our copies closed, each side
        // sees end-of-file when the other is gone.
        drop(report_write);
        drop(go_read);
        workers.wait_until_ready().map_err(|stop| self.stopped(stop, stopped()))?;
        let start_time = started.elapsed();
        let worker_pids = workers.pids();
        let mut pids = vec![coordinator.as_raw()];
        pids.extend(server_pid);
        pids.extend(&worker_pids);
        let taken = format!("all {members} worker processes alive, before they started");
        let memory = memory::snapshot(&pids, taken).map_err(CoreError::Probe)?;
        if let Some(hold_for) = config.hold() {
            self.announce_hold(hold_for, coordinator.as_raw(), server_pid, &worker_pids);
            let before_start = || Measurements { memory: memory.clone(), start_time, ..stopped() };
            match hold::wait(hold_for, &mut || workers.healthy()) {
                hold::Outcome::Done => {}
                hold::Outcome::Signal(signal) => return Err(self.interrupted(signal, before_start())),
                hold::Outcome::Broken => return Err(workers.take_failure().into()),
            }
        }
        let go = Instant::now();
        if let Some(pool) = config.pool() {
            self.counter.jobs().submit(counter_core::pool::job_count(config, pool.jobs));
        }
        workers.started();
        release(go_write, members)?;
        let finished = workers.wait_until_done();
        let measured = |workers: &Workers, stopped: bool| Measurements {
            wall_time: go.elapsed(),
            final_value: self.counter.total(),
            start_time,
            cpu: CpuUsage::of_this_process().since(cpu_before).plus(workers.cpu()),
            memory: memory.clone(),
            peak_rss_kib: memory::peak_rss_kib(coordinator.as_raw()).ok(),
            lock_recoveries: self.counter.dead_owner_recoveries(),
            retries: self.counter.retries(),
            workers: workers.reports(),
            unreported_workers: workers.unreported(),
            stopped,
            queue_waits: config.pool().map(|_| self.counter.jobs().waits()),
            notes: vec![self.method.note().to_owned()],
            ..Measurements::default()
        };
        match finished {
            Ok(()) => {}
            Err(Stop::Signal(signal)) => {
                workers.stop_gracefully(STOP_GRACE);
                return Err(self.interrupted(signal, measured(&workers, true)));
            }
            Err(Stop::Failed(error)) => return Err(error.into()),
        }
        let report = RunReport::new(MODEL, config, measured(&workers, false));
        if let Some(death) = workers.take_death() {
            return Err(CoreError::Failed { cause: error_chain(&death), partial: Box::new(report) }.into());
        }
        if config.pool().is_some() && !report.complete {
            // A pool's members do varying shares of the work; only their sum is known in advance.
            return Err(ProcessesError::PoolStoppedEarly {
                done: report.worker_summary.increments_done,
                expected: report.expected,
            }
            .into());
        }
        let unpooled = config.pool().is_none();
        if let Some(short) = report.workers.iter().find(|w| unpooled && w.increments_done < config.increments()) {
            return Err(ProcessesError::WorkerStoppedEarly {
                worker: short.id,
                pid: short.os_id.unwrap_or_default(),
                done: short.increments_done,
                asked: config.increments(),
            }
            .into());
        }
        Ok(report)
    }

    /// Starts every worker with the run's method; returns the fork server's pid, if there is one. A failure
    /// leaves the ones started in `workers`, whose drop kills and reaps them.
    fn start_workers(&self, workers: &mut Workers, template: ChildSetup<'_>) -> Result<Option<i32>, Error> {
        let mut launcher = Launcher::new(self.method, template, self.segment)?;
        if let Some(server) = launcher.server() {
            workers.set_server(server);
        }
        for index in 0..self.config.members() {
            if let Some(signal) = counter_core::signals::received() {
                return Err(self.interrupted(signal, stopped()));
            }
            workers.add(launcher.launch(index)?);
        }
        launcher.all_launched();
        workers.all_forked();
        Ok(launcher.server().map(Pid::as_raw))
    }

    fn interrupted(&self, signal: Signal, measured: Measurements) -> Error {
        RunInterrupted { signal, partial: Box::new(RunReport::new(MODEL, self.config, measured)) }.into()
    }

    fn stopped(&self, stop: Stop, measured: Measurements) -> Error {
        match stop {
            Stop::Failed(error) => error.into(),
            Stop::Signal(signal) => self.interrupted(signal, measured),
        }
    }

    fn announce_hold(&self, hold_for: Hold, coordinator: i32, server: Option<i32>, workers: &[i32]) {
        let first_worker = workers.first().copied().unwrap_or(coordinator);
        let worker_pids: Vec<i64> = workers.iter().map(|&pid| i64::from(pid)).collect();
        let server = server.map(|pid| format!("; fork server pid {pid}")).unwrap_or_default();
        hold::announce(
            hold_for,
            &hold::Announcement {
                model: MODEL,
                workers: self.config.members(),
                ids_label: "worker pids",
                ids: &worker_pids,
                extra: format!(
                    "{server}; segment {} (unlinked already, so `ls /dev/shm` does not list it; pmap shows it as \
                     deleted)",
                    self.segment.name()
                ),
                tries: vec![
                    format!("ps -o pid,ppid,nlwp,rss,vsz,comm --ppid {coordinator} -p {coordinator}"),
                    format!("pmap -x {first_worker} | grep -E 'counter-processes-|total'"),
                    format!("cat /proc/{first_worker}/smaps_rollup"),
                    format!("smem -k -t -P '^\\S*{}'", MODEL.binary()),
                    "ls -l /dev/shm".to_owned(),
                ],
            },
        );
    }
}

/// What a run stopped before its start measured: nothing yet.
fn stopped() -> Measurements {
    Measurements { stopped: true, ..Measurements::default() }
}

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

/// Starts every worker: one byte each on the start pipe, then closes it.
fn release(go: OwnedFd, workers: u64) -> Result<(), Error> {
    // Small, and static: the coordinator's stack must stay small (see `Workers::buffer`).
    static CHUNK: [u8; 512] = [b'g'; 512];
    let chunk = &CHUNK;
    let mut left = workers;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
        match nix::unistd::write(&go, &chunk[..n]) {
            Ok(written) => left -= written as u64,
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(ProcessesError::Pipe(errno).into()),
        }
    }
    // Closing our end is part of the protocol: a worker that finds the pipe closed before its byte gives up.
    drop(go);
    Ok(())
}
