//! The coordinator's view of its worker processes: their pids, what they reported, how they ended.
//!
//! [`Workers`] owns the children: when it is dropped, every child still running is killed and every child is
//! reaped, whatever path the run took. That is the guarantee of no zombie and no orphan.
//!
//! Before the start, a worker that dies ends the run at once. After the start it does not: the others go on,
//! so that the counter's robust mutex can show what it is for (a worker killed holding the lock hands it to
//! the next one, which recovers it); the run ends with an error that names the dead worker, and a report of
//! what the others did.

use std::{
    collections::HashMap,
    num::NonZeroUsize,
    os::fd::{AsFd, OwnedFd},
    ptr::NonNull,
    time::{Duration, Instant},
};

use counter_core::{
    child::{self, Reaped},
    cpu::CpuUsage,
    report::{WorkerReport, WorkerTally},
    signals,
};
use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::mman,
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::{
    codec::{FROM_SERVER, FrameReader, WorkerMessage},
    error::ProcessesError,
    worker::exit,
};

#[derive(Debug)]
struct Slot {
    pid: Pid,
    ready: bool,
    done: Option<(u64, Duration)>,
    ended: Option<Reaped>,
}

/// Which part of the run the workers are in: it decides what a worker's death means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Forked, not yet released: a death ends the run.
    Starting,
    /// Released: a death is recorded, and the others finish.
    Running,
}

/// The worker processes of one run.
#[derive(Debug)]
pub(crate) struct Workers {
    /// Filled in as the workers are forked, where no child keeps a copy of what is written.
    forked: ForkedPids,
    /// The fork server, while it runs (`--start forkserver`): it reaps the workers, which are its children,
    /// and reports how each ended.
    server: Option<Pid>,
    /// One per forked worker, made once every worker is forked (see [`Workers::add`]).
    slots: Vec<Slot>,
    by_pid: HashMap<i32, usize>,
    /// Read end of the report pipe; `None` once every writer has closed it.
    report: Option<OwnedFd>,
    reader: FrameReader,
    /// Where reports are read into: on the heap, so that the coordinator's stack stays small (a tight
    /// `RLIMIT_STACK` must not overflow it).
    buffer: Vec<u8>,
    ready: u64,
    unreaped: u64,
    phase: Phase,
    /// The first thing that went wrong before the start; once set, the run is over.
    failure: Option<ProcessesError>,
    /// The first worker death during the run: the run goes on, then fails with this.
    died: Option<ProcessesError>,
}

/// How often the coordinator wakes up to look at signals and children when nothing else happens.
const TICK: Duration = Duration::from_millis(20);

/// How long the workers get to say they are alive, besides a millisecond each.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// How often the coordinator looks for exited children once every report is in.
const REAP_TICK: Duration = Duration::from_millis(1);

/// Bytes read from the report pipe at once.
const READ_BUFFER: usize = 16 * 1024;

impl Workers {
    pub(crate) fn new(report: OwnedFd, workers: u64) -> Result<Workers, ProcessesError> {
        let capacity = usize::try_from(workers).unwrap_or(0);
        Ok(Workers {
            forked: ForkedPids::new(capacity).map_err(|source| ProcessesError::PidList { workers, source })?,
            server: None,
            slots: Vec::with_capacity(capacity),
            // Made with its entries once every worker is forked: a map made now would have its control bytes
            // written, pages that every child would then map.
            by_pid: HashMap::new(),
            report: Some(report),
            reader: FrameReader::default(),
            buffer: vec![0; READ_BUFFER],
            ready: 0,
            unreaped: 0,
            phase: Phase::Starting,
            failure: None,
            died: None,
        })
    }

    /// Records a freshly forked worker.
    ///
    /// Called between two forks, so it writes nothing but the shared pid list and this value (on the
    /// coordinator's stack, whose page every child writes anyway): a heap page the coordinator wrote here would
    /// be copied, and the copy kept by every child forked before, a private page per child. The slots are made
    /// once the last worker is forked ([`Workers::all_forked`]).
    pub(crate) fn add(&mut self, pid: Pid) {
        self.forked.push(pid.as_raw());
        self.unreaped += 1;
    }

    /// Records the fork server, a child of the coordinator whose children the workers are.
    pub(crate) fn set_server(&mut self, pid: Pid) {
        self.server = Some(pid);
    }

    /// Whether children are left to reap: workers, or the fork server.
    fn children_left(&self) -> bool {
        self.unreaped > 0 || self.server.is_some()
    }

    /// Makes the slots of the workers forked so far; call it once the last one is forked.
    pub(crate) fn all_forked(&mut self) {
        self.by_pid.reserve(self.forked.as_slice().len() - self.slots.len());
        for &pid in &self.forked.as_slice()[self.slots.len()..] {
            self.by_pid.insert(pid, self.slots.len());
            self.slots.push(Slot { pid: Pid::from_raw(pid), ready: false, done: None, ended: None });
        }
    }

    /// Every worker's pid, in worker order.
    pub(crate) fn pids(&self) -> Vec<i32> {
        self.slots.iter().map(|slot| slot.pid.as_raw()).collect()
    }

    fn count(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Says the workers have been released: from now on a death does not end the run at once.
    pub(crate) fn started(&mut self) {
        self.phase = Phase::Running;
    }

    /// Reads what has arrived and reaps what has ended, waiting at most `timeout` for something to happen.
    /// Problems are recorded in `self.failure` (or `self.died`).
    pub(crate) fn pump(&mut self, timeout: Duration) {
        self.read_reports(timeout);
        self.reap(false);
    }

    /// Reads what has arrived within `timeout`; whether anything was read.
    fn read_reports(&mut self, timeout: Duration) -> bool {
        let Some(report) = &self.report else {
            // Every report is in; what is left is reaping children that are exiting (the fork server exits just
            // after its last message). A short pause, so that the run's end is not measured a tick late.
            if !timeout.is_zero() {
                std::thread::sleep(timeout.min(REAP_TICK));
            }
            return false;
        };
        let mut fds = [PollFd::new(report.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::NONE);
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => return false,
            Ok(_) => {}
            Err(errno) => {
                self.fail(ProcessesError::Pipe(errno));
                return false;
            }
        }
        match nix::unistd::read(report, &mut self.buffer) {
            Ok(0) => {
                // Every writer is gone: whatever is left over is a truncated frame.
                if let Err(error) = self.reader.finish() {
                    self.fail(ProcessesError::Report(error));
                }
                self.report = None;
                false
            }
            Ok(n) => {
                self.reader.push(&self.buffer[..n]);
                self.handle_messages();
                true
            }
            Err(Errno::EINTR | Errno::EAGAIN) => false,
            Err(errno) => {
                self.fail(ProcessesError::Pipe(errno));
                false
            }
        }
    }

    fn handle_messages(&mut self) {
        while let Some(message) = self.reader.next_message() {
            let (worker, message) = match message {
                Ok(pair) => pair,
                Err(error) => {
                    self.fail(ProcessesError::Report(error));
                    continue;
                }
            };
            if let (
                FROM_SERVER,
                WorkerMessage::Ended {
                    pid,
                    status,
                    user_us,
                    sys_us,
                    voluntary_switches,
                    involuntary_switches,
                    max_rss_kib,
                },
            ) = (worker, message)
            {
                let cpu = CpuUsage {
                    user_s: user_us as f64 / 1e6,
                    sys_s: sys_us as f64 / 1e6,
                    voluntary_switches,
                    involuntary_switches,
                };
                let status = std::os::unix::process::ExitStatusExt::from_raw(status);
                self.ended(Reaped { pid: Pid::from_raw(pid), status, cpu, max_rss_kib });
                continue;
            }
            let Some(slot) = self.slots.get_mut(worker as usize) else {
                self.fail(ProcessesError::UnknownWorker { worker });
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
                other => self.fail(ProcessesError::UnexpectedReport { worker, message: format!("{other:?}") }),
            }
        }
    }

    /// Reaps ended children; with `block`, waits for every one of them.
    fn reap(&mut self, block: bool) {
        while self.children_left() {
            let reaped = match child::wait4(None, block) {
                Ok(Some(reaped)) => reaped,
                Ok(None) => return,
                Err(Errno::EINTR) => continue,
                // No child left to wait for: every one has been reaped.
                Err(Errno::ECHILD) => {
                    self.unreaped = 0;
                    self.server = None;
                    return;
                }
                Err(errno) => {
                    self.fail(ProcessesError::Wait(errno));
                    return;
                }
            };
            if Some(reaped.pid) == self.server {
                self.server_ended(reaped);
                continue;
            }
            self.ended(reaped);
        }
    }

    /// Records how a worker ended (reaped here, or by the fork server).
    fn ended(&mut self, reaped: Reaped) {
        let Some(&index) = self.by_pid.get(&reaped.pid.as_raw()) else { return };
        if self.slots[index].ended.is_some() {
            return;
        }
        self.slots[index].ended = Some(reaped);
        self.unreaped -= 1;
        self.check_ending(index, reaped);
    }

    /// The fork server ended: after its last worker, as it should, or before, and its workers died with it
    /// (their parent-death signal) without anyone to say how: they count as killed.
    fn server_ended(&mut self, reaped: Reaped) {
        self.server = None;
        // Its last messages (how its last workers ended) were written before it exited, and may still be in the
        // pipe when its exit is seen: read them first.
        while self.unreaped > 0 && self.read_reports(Duration::ZERO) {}
        if self.unreaped == 0 {
            return;
        }
        let error =
            ProcessesError::ServerDied { pid: reaped.pid.as_raw(), how: reaped.describe(), left: self.unreaped };
        for slot in self.slots.iter_mut().filter(|slot| slot.ended.is_none()) {
            let killed = std::os::unix::process::ExitStatusExt::from_raw(libc::SIGKILL);
            slot.ended = Some(Reaped { pid: slot.pid, status: killed, cpu: CpuUsage::default(), max_rss_kib: 0 });
        }
        self.unreaped = 0;
        match self.phase {
            Phase::Starting => self.fail(error),
            Phase::Running => {
                self.died.get_or_insert(error);
            }
        }
    }

    /// A worker that did not end by finishing its loop: before the start it ends the run; during the run it is
    /// recorded, and the others go on.
    fn check_ending(&mut self, index: usize, reaped: Reaped) {
        let pid = reaped.pid.as_raw();
        let worker = index as u64;
        let during = match self.phase {
            Phase::Starting => "the other workers were stopped and reaped",
            Phase::Running => "the other workers went on to the end",
        };
        let error = if let Some(signal) = reaped.signal() {
            ProcessesError::WorkerKilled { worker, pid, signal: signal.as_str(), during }
        } else if let Some(code) = reaped.status.code().filter(|code| *code != exit::OK) {
            ProcessesError::WorkerFailed { worker, pid, code, meaning: exit::meaning(code), during }
        } else if self.phase == Phase::Starting && !self.slots[index].ready {
            ProcessesError::EndedBeforeReady { worker, pid }
        } else {
            return;
        };
        match self.phase {
            Phase::Starting => self.fail(error),
            Phase::Running => {
                self.died.get_or_insert(error);
            }
        }
    }

    fn fail(&mut self, error: ProcessesError) {
        // Keep the first cause: what follows (the other workers killed by us) is a consequence.
        self.failure.get_or_insert(error);
    }

    /// Waits until every worker reported alive. Fails on the first problem or stop signal, and when they have
    /// not all said so by a deadline: a minute, and a millisecond more per worker (a thousand spawned workers
    /// start in about a second here).
    pub(crate) fn wait_until_ready(&mut self) -> Result<(), Stop> {
        let waited = READY_DEADLINE + Duration::from_millis(self.count());
        let deadline = Instant::now() + waited;
        while self.ready < self.count() {
            self.pump(TICK);
            self.check()?;
            if Instant::now() > deadline {
                let (ready, workers, waited_s) = (self.ready, self.count(), waited.as_secs());
                return Err(Stop::Failed(ProcessesError::NotReadyInTime { ready, workers, waited_s }));
            }
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
        while self.children_left() || self.report.is_some() {
            self.pump(TICK);
            self.check()?;
        }
        if self.died.is_none()
            && let Some(index) = self.slots.iter().position(|slot| slot.done.is_none())
        {
            let worker = index as u64;
            return Err(Stop::Failed(ProcessesError::WorkerSilent { worker, pid: self.slots[index].pid.as_raw() }));
        }
        Ok(())
    }

    /// The failure that made [`Workers::healthy`] say false.
    pub(crate) fn take_failure(&mut self) -> ProcessesError {
        self.failure.take().unwrap_or(ProcessesError::Pipe(Errno::EIO))
    }

    /// The first worker that died during the run, if one did.
    pub(crate) fn take_death(&mut self) -> Option<ProcessesError> {
        self.died.take()
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
    /// has not ended after `grace` (a stopped process, say) is killed, and counts as unreported.
    pub(crate) fn stop_gracefully(&mut self, grace: Duration) {
        self.send_all(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while (self.children_left() || self.report.is_some()) && Instant::now() < deadline {
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
    pub(crate) fn reports(&self) -> WorkerTally {
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
                    cpu: slot.ended.map(|ended| ended.cpu),
                    max_rss_kib: slot.ended.map(|ended| ended.max_rss_kib),
                })
            })
            .collect()
    }

    /// Workers that were released but never said how many increments they made.
    pub(crate) fn unreported(&self) -> u64 {
        match self.phase {
            Phase::Starting => 0,
            Phase::Running => self.slots.iter().filter(|slot| slot.done.is_none()).count() as u64,
        }
    }

    /// CPU use of every reaped worker, summed.
    pub(crate) fn cpu(&self) -> CpuUsage {
        self.slots.iter().filter_map(|slot| slot.ended).fold(CpuUsage::default(), |sum, ended| sum.plus(ended.cpu))
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // A fork that failed part-way leaves workers without slots yet.
        self.all_forked();
        if self.children_left() {
            self.send_all(Signal::SIGKILL);
            // The fork server's workers die with it; it would otherwise wait to report on them.
            if let Some(server) = self.server {
                let _ = kill(server, Signal::SIGKILL);
            }
            self.reap(true);
        }
    }
}

/// The pids of the forked workers, in a shared anonymous mapping. A shared page is not copied on write, so the
/// coordinator's writes here between forks leave no copy behind in the children (which never touch it).
#[derive(Debug)]
struct ForkedPids {
    base: NonNull<i32>,
    capacity: usize,
    len: usize,
}

impl ForkedPids {
    fn new(capacity: usize) -> Result<ForkedPids, Errno> {
        let bytes = NonZeroUsize::new(capacity.max(1).saturating_mul(size_of::<i32>())).unwrap_or(NonZeroUsize::MIN);
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing aliases nothing.
        let base = unsafe {
            mman::mmap_anonymous(
                None,
                bytes,
                mman::ProtFlags::PROT_READ | mman::ProtFlags::PROT_WRITE,
                mman::MapFlags::MAP_SHARED,
            )
        }?;
        Ok(ForkedPids { base: base.cast(), capacity, len: 0 })
    }

    fn push(&mut self, pid: i32) {
        assert!(self.len < self.capacity, "more workers forked than the run has");
        // SAFETY: `len` is below the capacity the mapping was made for, and the mapping is ours until drop.
        unsafe { self.base.add(self.len).write(pid) };
        self.len += 1;
    }

    fn as_slice(&self) -> &[i32] {
        // SAFETY: the first `len` entries were written by `push`; the mapping lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) }
    }
}

impl Drop for ForkedPids {
    fn drop(&mut self) {
        let bytes = self.capacity.max(1).saturating_mul(size_of::<i32>());
        // SAFETY: the mapping made in `new`, of this length, unmapped once; nothing borrows it past `self`.
        let _ = unsafe { mman::munmap(self.base.cast(), bytes) };
    }
}

/// Why waiting on the workers ended early.
pub(crate) type Stop = counter_core::error::Stop<ProcessesError>;
