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
mod error;
mod frontend;
pub mod segment;
pub mod start;
mod trace;
mod worker;

use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

use counter_core::{
    config::{Config, Hold},
    counter::{self, Counter},
    cpu::CpuUsage,
    error::{Error as CoreError, RunError, RunInterrupted},
    hold,
    proc::{limits, memory},
    report::{Measurements, RunReport},
    trace::StepLog,
};
use nix::{
    errno::Errno,
    fcntl::OFlag,
    sys::signal::Signal,
    unistd::{Pid, getpid, pipe2},
};

use crate::{
    coordinator::{Stop, Workers},
    segment::{Segment, SegmentError},
    start::{Launcher, MethodNote},
    trace::TraceArea,
    worker::ChildSetup,
};
pub use crate::{
    error::{Error, ProcessesError},
    frontend::{FRONTEND, MODEL},
    start::{SPAWNED_WORKER_FLAG, StartMethod, spawned_worker_main},
};

/// How long stopped workers get to report what they did before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

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
    let trace = match config.trace() {
        Some(limit) => Some(TraceArea::of(config, layout.size()).ok_or_else(|| {
            CoreError::Config(counter_core::config::ConfigError::Conflict(format!(
                "--trace-limit {limit} for {} workers: their steps would not fit in memory; a smaller limit",
                config.members()
            )))
        })?),
        None => None,
    };
    let size = trace.and_then(|area| area.end()).unwrap_or(layout.size());
    let segment = Segment::create(size)?;
    // SAFETY: the segment is a fresh shared mapping of at least `layout.size()` bytes, page-aligned, that
    // nobody else maps yet; it stays mapped until `segment` is dropped at the end of this function, and the
    // children have their own copy of the mapping.
    let counter = unsafe { Counter::init_at(segment.base(), config.strategy(), config.members()) }?;
    Coordinator { config, counter, segment: &segment, method, trace }.run()
}

struct Coordinator<'a> {
    config: &'a Config,
    counter: Counter<'a>,
    segment: &'a Segment,
    method: StartMethod,
    trace: Option<TraceArea>,
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
            trace: self.trace.map(|area| (area, self.segment.base())),
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
            trace: self.trace.map(|area| (self.steps(area), None)),
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
        Self::checked(&mut workers, report)
    }

    /// Every worker's steps, read back from the segment once they have ended (`--trace`).
    fn steps(&self, area: TraceArea) -> Vec<StepLog> {
        (0..self.config.members())
            .filter_map(|index| {
                // SAFETY: the segment was made `area.end()` bytes long and stays mapped while `self` lives; its
                // words are only used as atomics.
                let words = unsafe { area.worker(self.segment.base(), index) }?;
                Some(area.read_back(words, index))
            })
            .collect()
    }

    /// `report`, unless a worker died, or the workers did not finish what they were asked.
    fn checked(workers: &mut Workers, report: RunReport) -> Result<RunReport, Error> {
        let config = &report.config;
        if let Some(death) = workers.take_death() {
            return Err(CoreError::Failed { cause: Box::new(death), partial: Box::new(report) }.into());
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
