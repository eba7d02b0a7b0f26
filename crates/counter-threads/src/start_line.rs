//! The start line: workers report alive and wait; the coordinator waits until all are alive, then releases
//! them together (or tells them to go home). Two condition variables, so that nobody is woken for nothing: the
//! last worker to arrive wakes the coordinator alone, and the start wakes each worker once.

use std::{
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use counter_core::{signals, workload::Start};
use nix::sys::signal::Signal;

use crate::POLL_INTERVAL;

#[derive(Debug)]
pub(crate) struct StartLine {
    state: Mutex<State>,
    /// The coordinator waits on it; the last worker to arrive wakes it.
    arrived: Condvar,
    /// The workers wait on it; the start (or its abort) wakes them all.
    released: Condvar,
    /// When the line was made: the first worker is spawned right after.
    made: Instant,
    /// How long after `made` the last worker arrived.
    all_alive_after: Mutex<Duration>,
}

impl Default for StartLine {
    fn default() -> Self {
        StartLine {
            state: Mutex::default(),
            arrived: Condvar::new(),
            released: Condvar::new(),
            made: Instant::now(),
            all_alive_after: Mutex::default(),
        }
    }
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

#[derive(Debug, Default)]
struct State {
    /// Thread ids of the workers alive, in arrival order.
    alive: Vec<i64>,
    /// How many the coordinator waits for, once it waits.
    expected: Option<u64>,
    /// What the workers are told.
    start: Start,
}

impl StartLine {
    /// The guard the coordinator holds while the workers may be waiting.
    pub(crate) fn guard(&self) -> LineGuard<'_> {
        LineGuard(self)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A worker that panicked while holding this lock left nothing half-done in it: go on with the data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by a worker: says it is alive and waits for the start. False means abort.
    pub(crate) fn arrive_and_wait(&self, tid: i64) -> bool {
        let mut state = self.state();
        state.alive.push(tid);
        if state.expected.is_some_and(|expected| state.alive.len() as u64 >= expected) {
            self.arrived.notify_one();
        }
        loop {
            match state.start {
                Start::Waiting => {
                    state = self.released.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                Start::Go => return true,
                Start::Abort => return false,
            }
        }
    }

    /// Called by the coordinator: waits until `workers` are alive and returns their thread ids, or returns the
    /// stop signal that arrived meanwhile.
    pub(crate) fn wait_until_alive(&self, workers: u64) -> Result<Vec<i64>, Signal> {
        let mut state = self.state();
        state.expected = Some(workers);
        while (state.alive.len() as u64) < workers {
            if let Some(signal) = signals::received() {
                return Err(signal);
            }
            state = self.arrived.wait_timeout(state, POLL_INTERVAL).unwrap_or_else(PoisonError::into_inner).0;
        }
        *self.all_alive_after.lock().unwrap_or_else(PoisonError::into_inner) = self.made.elapsed();
        Ok(state.alive.clone())
    }

    /// How long it took from the line's making until every worker was alive.
    pub(crate) fn alive_after(&self) -> Duration {
        *self.all_alive_after.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases every worker; returns the moment of the start.
    pub(crate) fn go(&self) -> Instant {
        let now = Instant::now();
        self.state().start = Start::Go;
        self.released.notify_all();
        now
    }

    /// Sends every worker still waiting home without running; workers already started are not affected.
    fn abort(&self) {
        let mut state = self.state();
        if let Start::Waiting = state.start {
            state.start = Start::Abort;
        }
        self.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::{panic, thread};

    use super::*;

    #[test]
    fn a_panic_in_the_coordinator_releases_the_waiting_workers() {
        let line = StartLine::default();
        // Without the guard, the scope would wait for ever for a worker parked on the line.
        let outcome = panic::catch_unwind(panic::AssertUnwindSafe(|| {
            thread::scope(|scope| {
                let _guard = line.guard();
                let worker = scope.spawn(|| line.arrive_and_wait(1));
                line.wait_until_alive(1).unwrap();
                drop(worker);
                panic!("the coordinator fails while a worker waits");
            })
        }));
        assert!(outcome.is_err());
    }

    #[test]
    fn workers_released_by_go_are_not_called_back_by_the_guard() {
        let line = StartLine::default();
        thread::scope(|scope| {
            let _guard = line.guard();
            let worker = scope.spawn(|| line.arrive_and_wait(1));
            line.wait_until_alive(1).unwrap();
            line.go();
            assert!(worker.join().unwrap(), "told to go, and it went");
        });
    }
}
