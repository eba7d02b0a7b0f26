//! The coordinator's view of its worker processes: their pids, what they reported, how they ended.
//!
//! [`Workers`] owns the children: when it is dropped, every child still running is killed and every child is
//! reaped, whatever path the run took. That is the guarantee of no zombie and no orphan.

use std::{
    collections::HashMap,
    os::fd::{AsFd, OwnedFd},
    time::Duration,
};

use counter_core::{cpu::CpuUsage, report::WorkerReport, signals};
use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::{
    Error,
    codec::{FrameReader, WorkerMessage},
    worker::exit,
};

/// How one worker process ended, from `wait4`.
#[derive(Debug, Clone, Copy)]
struct Ended {
    status: libc::c_int,
    usage: libc::rusage,
}

impl Ended {
    fn describe(&self) -> String {
        if libc::WIFEXITED(self.status) {
            format!("exited {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("killed by {}", signal_name(libc::WTERMSIG(self.status)))
        } else {
            format!("ended with wait status {:#x}", self.status)
        }
    }
}

fn signal_name(number: libc::c_int) -> String {
    Signal::try_from(number).map_or_else(|_| format!("signal {number}"), |s| s.as_str().to_owned())
}

#[derive(Debug)]
struct Slot {
    pid: Pid,
    ready: bool,
    done: Option<(u64, Duration)>,
    ended: Option<Ended>,
}

/// The worker processes of one run.
#[derive(Debug)]
pub(crate) struct Workers {
    slots: Vec<Slot>,
    by_pid: HashMap<i32, usize>,
    /// Read end of the report pipe; `None` once every writer has closed it.
    report: Option<OwnedFd>,
    reader: FrameReader,
    ready: u64,
    unreaped: u64,
    /// The first thing that went wrong; once set, the run is over.
    failure: Option<Error>,
}

/// How often the coordinator wakes up to look at signals and children when nothing else happens.
const TICK: Duration = Duration::from_millis(20);

impl Workers {
    pub(crate) fn new(report: OwnedFd, capacity: u64) -> Workers {
        let capacity = usize::try_from(capacity).unwrap_or(0);
        Workers {
            slots: Vec::with_capacity(capacity),
            by_pid: HashMap::with_capacity(capacity),
            report: Some(report),
            reader: FrameReader::default(),
            ready: 0,
            unreaped: 0,
            failure: None,
        }
    }

    /// Records a freshly forked worker.
    pub(crate) fn add(&mut self, pid: Pid) {
        self.by_pid.insert(pid.as_raw(), self.slots.len());
        self.slots.push(Slot { pid, ready: false, done: None, ended: None });
        self.unreaped += 1;
    }

    /// Every worker's pid, in worker order.
    pub(crate) fn pids(&self) -> Vec<i32> {
        self.slots.iter().map(|slot| slot.pid.as_raw()).collect()
    }

    fn count(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Reads what has arrived and reaps what has ended, waiting at most `timeout` for something to happen.
    /// Problems are recorded in `self.failure`.
    pub(crate) fn pump(&mut self, timeout: Duration) {
        self.read_reports(timeout);
        self.reap(false);
    }

    fn read_reports(&mut self, timeout: Duration) {
        let Some(report) = &self.report else {
            if !timeout.is_zero() {
                std::thread::sleep(timeout);
            }
            return;
        };
        let mut fds = [PollFd::new(report.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::NONE);
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => return,
            Ok(_) => {}
            Err(errno) => {
                self.fail(Error::Pipe(errno));
                return;
            }
        }
        let mut buffer = [0; 16 * 1024];
        match nix::unistd::read(report, &mut buffer) {
            Ok(0) => {
                // Every writer is gone: whatever is left over is a truncated frame.
                if let Err(error) = self.reader.finish() {
                    self.fail(Error::Report(error));
                }
                self.report = None;
            }
            Ok(n) => {
                self.reader.push(&buffer[..n]);
                self.handle_messages();
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(errno) => self.fail(Error::Pipe(errno)),
        }
    }

    fn handle_messages(&mut self) {
        while let Some(message) = self.reader.next_message() {
            let (worker, message) = match message {
                Ok(pair) => pair,
                Err(error) => {
                    self.fail(Error::Report(error));
                    continue;
                }
            };
            let Some(slot) = self.slots.get_mut(worker as usize) else {
                self.fail(Error::UnknownWorker { worker });
                continue;
            };
            match message {
                WorkerMessage::Ready { .. } if !slot.ready => {
                    slot.ready = true;
                    self.ready += 1;
                }
                WorkerMessage::Done { increments_done, elapsed_ns } if slot.ready && slot.done.is_none() => {
                    slot.done = Some((increments_done, Duration::from_nanos(elapsed_ns)));
                }
                other => self.fail(Error::UnexpectedReport { worker, message: format!("{other:?}") }),
            }
        }
    }

    /// Reaps ended children; with `block`, waits for every one of them.
    fn reap(&mut self, block: bool) {
        while self.unreaped > 0 {
            let mut status = 0;
            // SAFETY: `rusage` is plain old data the kernel fills in; zeroed is a valid value.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let flags = if block { 0 } else { libc::WNOHANG };
            // SAFETY: wait4 writes only to the two valid pointers given.
            let pid = unsafe { libc::wait4(-1, &raw mut status, flags, &raw mut usage) };
            if pid == 0 {
                return;
            }
            if pid < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    // No child left to wait for: every one has been reaped.
                    Errno::ECHILD => {
                        self.unreaped = 0;
                        return;
                    }
                    errno => {
                        self.fail(Error::Wait(errno));
                        return;
                    }
                }
            }
            let Some(&index) = self.by_pid.get(&pid) else { continue };
            let ended = Ended { status, usage };
            self.slots[index].ended = Some(ended);
            self.unreaped -= 1;
            self.check_ending(index, ended);
        }
    }

    /// A worker that did not end by finishing its loop ends the run, with an error that names it.
    fn check_ending(&mut self, index: usize, ended: Ended) {
        let pid = self.slots[index].pid.as_raw();
        let worker = index as u64;
        if libc::WIFSIGNALED(ended.status) {
            let signal = signal_name(libc::WTERMSIG(ended.status));
            self.fail(Error::WorkerKilled { worker, pid, signal });
        } else if libc::WIFEXITED(ended.status) && libc::WEXITSTATUS(ended.status) != exit::OK {
            let code = libc::WEXITSTATUS(ended.status);
            self.fail(Error::WorkerFailed { worker, pid, code, meaning: exit::meaning(code) });
        }
    }

    fn fail(&mut self, error: Error) {
        // Keep the first cause: what follows (the other workers killed by us) is a consequence.
        self.failure.get_or_insert(error);
    }

    /// Waits until every worker reported alive. Fails on the first problem or stop signal.
    pub(crate) fn wait_until_ready(&mut self) -> Result<(), Stop> {
        while self.ready < self.count() {
            self.pump(TICK);
            self.check()?;
        }
        Ok(())
    }

    /// One look at the workers without waiting: false once something went wrong (for `--hold`).
    pub(crate) fn healthy(&mut self) -> bool {
        self.pump(Duration::ZERO);
        self.failure.is_none()
    }

    /// Waits until every worker has ended and every report has been read.
    pub(crate) fn wait_until_done(&mut self) -> Result<(), Stop> {
        while self.unreaped > 0 || self.report.is_some() {
            self.pump(TICK);
            self.check()?;
        }
        if let Some(index) = self.slots.iter().position(|slot| slot.done.is_none()) {
            let worker = index as u64;
            return Err(Stop::Failed(Error::WorkerSilent { worker, pid: self.slots[index].pid.as_raw() }));
        }
        Ok(())
    }

    /// The failure that made [`Workers::healthy`] say false.
    pub(crate) fn take_failure(&mut self) -> Error {
        self.failure.take().unwrap_or(Error::Pipe(Errno::EIO))
    }

    fn check(&mut self) -> Result<(), Stop> {
        if let Some(error) = self.failure.take() {
            return Err(Stop::Failed(error));
        }
        if let Some(signal) = signals::received() {
            return Err(Stop::Signal(signal));
        }
        Ok(())
    }

    /// Stops a started run for a partial report: SIGTERM makes each worker end its loop and report; any that
    /// has not ended after `grace` is killed.
    pub(crate) fn stop_gracefully(&mut self, grace: Duration) {
        self.send_all(Signal::SIGTERM);
        let deadline = std::time::Instant::now() + grace;
        while (self.unreaped > 0 || self.report.is_some()) && std::time::Instant::now() < deadline {
            self.pump(TICK);
        }
        self.failure = None;
    }

    fn send_all(&self, signal: Signal) {
        for slot in self.slots.iter().filter(|slot| slot.ended.is_none()) {
            // A child that has just exited but is not reaped yet still has its pid: no one else can have it.
            let _ = kill(slot.pid, signal);
        }
    }

    /// Each worker's figures, for those that reported.
    pub(crate) fn reports(&self) -> Vec<WorkerReport> {
        (0u64..)
            .zip(&self.slots)
            .filter_map(|(id, slot)| {
                let (increments_done, elapsed) = slot.done?;
                Some(WorkerReport {
                    id,
                    os_id: Some(i64::from(slot.pid.as_raw())),
                    increments_done,
                    elapsed_s: elapsed.as_secs_f64(),
                    exit_status: slot.ended.map(|ended| ended.describe()),
                    cpu: slot.ended.map(|ended| CpuUsage::from_rusage(&ended.usage)),
                    max_rss_kib: slot.ended.map(|ended| ended.usage.ru_maxrss as u64),
                })
            })
            .collect()
    }

    /// CPU use of every reaped worker, summed.
    pub(crate) fn cpu(&self) -> CpuUsage {
        self.slots
            .iter()
            .filter_map(|slot| slot.ended)
            .fold(CpuUsage::default(), |sum, ended| sum.plus(CpuUsage::from_rusage(&ended.usage)))
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        if self.unreaped > 0 {
            self.send_all(Signal::SIGKILL);
            self.reap(true);
        }
    }
}

/// Why waiting on the workers ended early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Something went wrong.
    Failed(Error),
    /// SIGINT or SIGTERM reached the coordinator.
    Signal(Signal),
}
