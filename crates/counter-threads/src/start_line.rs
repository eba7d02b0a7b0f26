//! The start line: workers report alive and wait; the coordinator waits until all are alive, then releases
//! them together (or tells them to go home). Nobody is woken for nothing and nobody queues for a lock: a worker
//! arrives by writing its own slot and counting itself with one atomic add; the last to arrive wakes the
//! coordinator alone; each worker waits parked and is woken once, by its own `unpark`, at the start.

use std::{
    sync::{
        Condvar, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    thread::{self, Thread},
    time::{Duration, Instant},
};

use counter_core::signals;
use nix::sys::signal::Signal;

use crate::POLL_INTERVAL;

/// The workers wait.
const WAITING: u8 = 0;
/// The workers go.
const GO: u8 = 1;
/// The workers go home without running.
const ABORT: u8 = 2;

#[derive(Debug)]
pub(crate) struct StartLine {
    /// Each worker's thread id and handle, written once by the worker when it arrives.
    slots: Box<[OnceLock<(i64, Thread)>]>,
    /// Workers arrived.
    arrived: AtomicU64,
    /// What the workers are told: [`WAITING`], [`GO`] or [`ABORT`].
    start: AtomicU8,
    /// The coordinator's wait for the last arrival: the lock guards no data, only the wait.
    coordinator: Mutex<()>,
    last_arrived: Condvar,
    /// When the line was made: the first worker is spawned right after.
    made: Instant,
    /// How long after `made` the last worker arrived.
    all_alive_after: Mutex<Duration>,
}

/// The start line for the coordinator: dropped, it sends every worker still waiting home. Nothing else is
/// needed on the way out, whatever the way (an early return, a panic): the workers wake and return, and the
/// scope joins them.
#[derive(Debug)]
pub(crate) struct LineGuard<'a>(&'a StartLine);

impl Drop for LineGuard<'_> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl StartLine {
    /// A line for `workers` workers, numbered from 0.
    pub(crate) fn new(workers: u64) -> StartLine {
        StartLine {
            slots: (0..workers).map(|_| OnceLock::new()).collect(),
            arrived: AtomicU64::new(0),
            start: AtomicU8::new(WAITING),
            coordinator: Mutex::new(()),
            last_arrived: Condvar::new(),
            made: Instant::now(),
            all_alive_after: Mutex::default(),
        }
    }

    /// The guard the coordinator holds while the workers may be waiting.
    pub(crate) fn guard(&self) -> LineGuard<'_> {
        LineGuard(self)
    }

    /// Called by worker `index` (below the line's number of workers): says it is alive and waits for the start.
    /// False means abort.
    pub(crate) fn arrive_and_wait(&self, index: usize, tid: i64) -> bool {
        let _ = self.slots[index].set((tid, thread::current()));
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.slots.len() as u64 {
            // Under the lock: the coordinator is either not yet waiting (it reads the count first) or waiting.
            let _waiting = self.coordinator.lock().unwrap_or_else(PoisonError::into_inner);
            self.last_arrived.notify_one();
        }
        // A start that came after the slot was written unparks this worker: the token makes `park` return.
        loop {
            match self.start.load(Ordering::Acquire) {
                WAITING => thread::park(),
                GO => return true,
                _ => return false,
            }
        }
    }

    /// Called by the coordinator: waits until every worker is alive and returns their thread ids in worker
    /// order, or returns the stop signal that arrived meanwhile.
    pub(crate) fn wait_until_alive(&self) -> Result<Vec<i64>, Signal> {
        let mut waiting = self.coordinator.lock().unwrap_or_else(PoisonError::into_inner);
        while self.arrived.load(Ordering::Acquire) < self.slots.len() as u64 {
            if let Some(signal) = signals::received() {
                return Err(signal);
            }
            waiting = self.last_arrived.wait_timeout(waiting, POLL_INTERVAL).unwrap_or_else(PoisonError::into_inner).0;
        }
        *self.all_alive_after.lock().unwrap_or_else(PoisonError::into_inner) = self.made.elapsed();
        Ok(self.slots.iter().filter_map(|slot| slot.get().map(|(tid, _)| *tid)).collect())
    }

    /// How long it took from the line's making until every worker was alive.
    pub(crate) fn alive_after(&self) -> Duration {
        *self.all_alive_after.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases every worker; returns the moment of the start.
    pub(crate) fn go(&self) -> Instant {
        let now = Instant::now();
        self.start.store(GO, Ordering::Release);
        self.unpark_all();
        now
    }

    /// Sends every worker still waiting home without running; workers already started are not affected.
    fn abort(&self) {
        let _ = self.start.compare_exchange(WAITING, ABORT, Ordering::AcqRel, Ordering::Acquire);
        self.unpark_all();
    }

    /// Wakes every worker that has arrived (a spare unpark of a running worker only makes a later park return,
    /// and the worker's loop parks again).
    fn unpark_all(&self) {
        for (_, worker) in self.slots.iter().filter_map(OnceLock::get) {
            worker.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic;

    use super::*;

    #[test]
    fn a_panic_in_the_coordinator_releases_the_waiting_workers() {
        let line = StartLine::new(1);
        // Without the guard, the scope would wait for ever for a worker parked on the line.
        let outcome = panic::catch_unwind(panic::AssertUnwindSafe(|| {
            thread::scope(|scope| {
                let _guard = line.guard();
                let worker = scope.spawn(|| line.arrive_and_wait(0, 1));
                line.wait_until_alive().unwrap();
                drop(worker);
                panic!("the coordinator fails while a worker waits");
            })
        }));
        assert!(outcome.is_err());
    }

    #[test]
    fn workers_released_by_go_are_not_called_back_by_the_guard() {
        let line = StartLine::new(2);
        thread::scope(|scope| {
            let _guard = line.guard();
            let line = &line;
            let workers: Vec<_> = (0..2).map(|index| scope.spawn(move || line_wait(line, index))).collect();
            assert_eq!(line.wait_until_alive().unwrap().len(), 2);
            line.go();
            for worker in workers {
                assert!(worker.join().unwrap(), "told to go, and it went");
            }
        });
    }

    fn line_wait(line: &StartLine, index: usize) -> bool {
        line.arrive_and_wait(index, index as i64 + 1)
    }
}
