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
    config::{Config, Sync, Window, Work},
    counter::HeapCounter,
    error::CounterError,
    signals,
    workload::{STOP_CHECK_INTERVAL, SleepPacer, perform_blocking},
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
    let mut pacer = SleepPacer::new(config.timer);
    let mut done = 0;
    while done < config.increments && !should_stop() {
        match (config.window, config.sync) {
            (Window::Before, _) => {
                perform(config.work, &mut pacer).await;
                counter.increment(config.sync, worker)?;
            }
            (Window::Inside, Sync::Mutex) => {
                // The lock must be held across the work's awaits: an async lock, so that waiting tasks yield.
                let _guard = shared.async_lock.lock().await;
                let pending = counter.begin(Sync::Racy, worker)?;
                perform(config.work, &mut pacer).await;
                pending.finish()?;
            }
            (Window::Inside, sync) => {
                let pending = counter.begin(sync, worker)?;
                perform(config.work, &mut pacer).await;
                pending.finish()?;
            }
        }
        done += 1;
    }
    Ok(TaskOutcome { index, increments_done: done, elapsed: started.elapsed() })
}

/// Performs one piece of work, awaiting where it can.
async fn perform(work: Work, pacer: &mut SleepPacer) {
    match work {
        Work::None => {}
        Work::Yield => tokio::task::yield_now().await,
        Work::Sleep(duration) => {
            let start = tokio::time::Instant::now();
            let ask = pacer.ask(duration);
            if ask.is_zero() {
                // Fully made up already: a timer would still wait for its next millisecond tick, so only yield,
                // which keeps the await point where the work is.
                tokio::task::yield_now().await;
            } else {
                sleep_until_unless_stopped(start + ask).await;
            }
            pacer.record(duration, start.elapsed());
        }
        Work::Spin(_) | Work::Block(_) => perform_blocking(work, pacer, &should_stop),
    }
}

async fn sleep_until_unless_stopped(until: tokio::time::Instant) {
    // One timer for the usual short sleep; long ones are cut so that Ctrl-C is noticed promptly.
    if until.saturating_duration_since(tokio::time::Instant::now()) <= STOP_CHECK_INTERVAL {
        tokio::time::sleep_until(until).await;
        return;
    }
    while !should_stop() {
        let now = tokio::time::Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep_until(until.min(now + STOP_CHECK_INTERVAL)).await;
    }
}
