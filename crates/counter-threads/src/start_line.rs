//! The start line: workers report alive and wait; the coordinator waits until all are alive, then releases
//! them together (or tells them to go home).

use std::{
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
    time::Instant,
};

use counter_core::signals;
use nix::sys::signal::Signal;

use crate::POLL_INTERVAL;

#[derive(Debug, Default)]
pub(crate) struct StartLine {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Thread ids of the workers alive, in arrival order.
    alive: Vec<i64>,
    /// What the workers are told.
    start: Start,
}

#[derive(Debug, Default, Clone, Copy)]
enum Start {
    #[default]
    Waiting,
    Go,
    Abort,
}

impl StartLine {
    fn state(&self) -> MutexGuard<'_, State> {
        // A worker that panicked while holding this lock left nothing half-done in it: go on with the data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by a worker: says it is alive and waits for the start. False means abort.
    pub(crate) fn arrive_and_wait(&self, tid: i64) -> bool {
        let mut state = self.state();
        state.alive.push(tid);
        self.changed.notify_all();
        loop {
            match state.start {
                Start::Waiting => {
                    state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
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
        while (state.alive.len() as u64) < workers {
            if let Some(signal) = signals::received() {
                return Err(signal);
            }
            state = self.changed.wait_timeout(state, POLL_INTERVAL).unwrap_or_else(PoisonError::into_inner).0;
        }
        Ok(state.alive.clone())
    }

    /// Releases every worker; returns the moment of the start.
    pub(crate) fn go(&self) -> Instant {
        let now = Instant::now();
        self.state().start = Start::Go;
        self.changed.notify_all();
        now
    }

    /// Sends every worker home without running.
    pub(crate) fn abort(&self) {
        self.state().start = Start::Abort;
        self.changed.notify_all();
    }
}
