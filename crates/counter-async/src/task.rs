//! One task: wait for the start, then do the work and update the counter, `increments` times, with awaits
//! exactly where the work awaits.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use counter_core::{
    config::{Config, Strategy, Window, Work},
    counter::HeapCounter,
    error::CounterError,
    signals,
    workload::{Performed, STOP_CHECK_INTERVAL, SleepPacer, perform_blocking},
};
use tokio::sync::Notify;

/// What every task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counter: HeapCounter,
    pub(crate) config: Config,
    /// Tasks that have reported alive.
    pub(crate) ready: AtomicU64,
    /// A [`Start`] value.
    start: AtomicU8,
    started: Notify,
    /// The lock held across an await, for the mutex strategy with the window inside.
    async_lock: tokio::sync::Mutex<()>,
}

/// What the waiting tasks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Start {
    Waiting = 0,
    Go = 1,
    Abort = 2,
}

impl Shared {
    pub(crate) fn new(counter: HeapCounter, config: Config) -> Shared {
        Shared {
            counter,
            config,
            ready: AtomicU64::new(0),
            start: AtomicU8::new(Start::Waiting as u8),
            started: Notify::new(),
            async_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Tells every waiting task to go (or to give up).
    pub(crate) fn release(&self, start: Start) {
        // Release/Acquire so that a task that sees Go also sees everything the coordinator did before.
        self.start.store(start as u8, Ordering::Release);
        self.started.notify_waiters();
    }

    fn start(&self) -> Start {
        match self.start.load(Ordering::Acquire) {
            1 => Start::Go,
            2 => Start::Abort,
            _ => Start::Waiting,
        }
    }
}

/// What one task did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskOutcome {
    pub(crate) index: u64,
    pub(crate) increments_done: u64,
    pub(crate) elapsed: Duration,
}

fn should_stop() -> bool {
    signals::received().is_some()
}

/// The task's body.
pub(crate) async fn run(shared: Arc<Shared>, index: u64) -> Result<TaskOutcome, CounterError> {
    shared.ready.fetch_add(1, Ordering::Relaxed);
    loop {
        // Register for the notification before looking at the flag, so that a release in between is not missed.
        let notified = shared.started.notified();
        match shared.start() {
            Start::Go => break,
            Start::Abort => return Ok(TaskOutcome { index, increments_done: 0, elapsed: Duration::ZERO }),
            Start::Waiting => notified.await,
        }
    }
    let config = &shared.config;
    let counter = shared.counter.counter();
    // A task index is below `workers`, which the counter was sized for and which fits in memory, so in usize.
    let worker = index as usize;
    let started = Instant::now();
    let mut pacer = SleepPacer::new(config.timer());
    let mut done = 0;
    while done < config.increments() && !should_stop() {
        let performed = match (config.window(), config.strategy()) {
            (Window::Before, strategy) => {
                let performed = perform(config.work(), &mut pacer).await;
                if performed == Performed::Finished {
                    counter.increment(strategy, worker)?;
                }
                performed
            }
            (Window::Inside, Strategy::Mutex) => {
                // The lock must be held across the work's awaits: an async lock, so that waiting tasks yield. The
                // counter's own mutex could not be: its guard is `!Send`, so a task holding it across an await
                // would not compile for the multi-thread runtime.
                let _guard = shared.async_lock.lock().await;
                let pending = counter.begin_lock_free(Strategy::Racy, worker).expect("racy takes no lock");
                let performed = perform(config.work(), &mut pacer).await;
                if performed == Performed::Finished {
                    pending.finish();
                }
                performed
            }
            (Window::Inside, strategy) => {
                let pending = counter.begin_lock_free(strategy, worker).expect("only the mutex strategy locks");
                let performed = perform(config.work(), &mut pacer).await;
                if performed == Performed::Finished {
                    pending.finish();
                }
                performed
            }
        };
        if performed == Performed::Interrupted {
            break;
        }
        done += 1;
    }
    Ok(TaskOutcome { index, increments_done: done, elapsed: started.elapsed() })
}

/// Performs one piece of work, awaiting where it can.
async fn perform(work: Work, pacer: &mut SleepPacer) -> Performed {
    match work {
        Work::None => Performed::Finished,
        Work::Yield => {
            tokio::task::yield_now().await;
            Performed::Finished
        }
        Work::Sleep(duration) => {
            let start = tokio::time::Instant::now();
            let ask = pacer.ask(duration);
            let performed = if ask.is_zero() {
                // Fully made up already: a timer would still wait for its next millisecond tick, so only yield,
                // which keeps the await point where the work is.
                tokio::task::yield_now().await;
                Performed::Finished
            } else {
                sleep_unless_stopped(start, ask).await
            };
            pacer.record(duration, start.elapsed());
            performed
        }
        Work::Spin(_) | Work::Block(_) => perform_blocking(work, pacer, should_stop),
    }
}

async fn sleep_unless_stopped(start: tokio::time::Instant, duration: Duration) -> Performed {
    // One timer for the usual short sleep; long ones are cut so that Ctrl-C is noticed promptly. A deadline
    // too far for the clock is a sleep that only a stop request ends.
    let until = start.checked_add(duration);
    if duration <= STOP_CHECK_INTERVAL
        && let Some(until) = until
    {
        tokio::time::sleep_until(until).await;
        return Performed::Finished;
    }
    loop {
        if should_stop() {
            return Performed::Interrupted;
        }
        let now = tokio::time::Instant::now();
        let next = now + STOP_CHECK_INTERVAL;
        match until {
            Some(until) if now >= until => return Performed::Finished,
            Some(until) => tokio::time::sleep_until(until.min(next)).await,
            None => tokio::time::sleep_until(next).await,
        }
    }
}
