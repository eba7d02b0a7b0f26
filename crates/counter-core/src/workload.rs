//! One worker's loop, for frontends whose workers block (threads and forked processes): do the work, update
//! the counter, `increments` times. The async frontend has its own loop with awaits in the same places.

use std::{
    hint, thread,
    time::{Duration, Instant},
};

use crate::{
    config::{Config, Timer, Window, Work},
    counter::Counter,
    error::CounterError,
};

/// What one worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerOutcome {
    /// Increments finished; fewer than asked when the run was stopped.
    pub increments_done: u64,
    /// From the start signal to the worker's last increment.
    pub elapsed: Duration,
}

/// Sleeps longer than this are cut into slices of this length, so that a stop request is noticed promptly.
pub const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Runs worker `worker` (numbered from 0) to completion, or until `should_stop` says so.
///
/// `should_stop` is asked before every increment and while long work is under way; it must be cheap.
pub fn run_worker(
    counter: Counter<'_>,
    config: &Config,
    worker: usize,
    should_stop: &dyn Fn() -> bool,
) -> Result<WorkerOutcome, CounterError> {
    let started = Instant::now();
    let mut pacer = SleepPacer::new(config.timer);
    let mut done = 0;
    while done < config.increments && !should_stop() {
        work_and_increment(counter, config, worker, &mut pacer, should_stop)?;
        done += 1;
    }
    Ok(WorkerOutcome { increments_done: done, elapsed: started.elapsed() })
}

/// One step of a worker's loop: the work, and the increment by writer `writer`, with the work before the
/// read-modify-write or inside it as the window says.
pub fn work_and_increment(
    counter: Counter<'_>,
    config: &Config,
    writer: usize,
    pacer: &mut SleepPacer,
    should_stop: &dyn Fn() -> bool,
) -> Result<(), CounterError> {
    match config.window {
        Window::Before => {
            perform_blocking(config.work, pacer, should_stop);
            counter.increment(config.sync, writer)
        }
        Window::Inside => {
            let pending = counter.begin(config.sync, writer)?;
            perform_blocking(config.work, pacer, should_stop);
            pending.finish()
        }
    }
}

/// Times one worker's sleeps; see [`Timer`].
#[derive(Debug, Clone, Copy)]
pub struct SleepPacer {
    timer: Timer,
    /// How much longer than asked this worker's sleeps have lasted so far, not yet made up for.
    late_by: Duration,
}

impl SleepPacer {
    /// A pacer for one worker.
    pub fn new(timer: Timer) -> SleepPacer {
        SleepPacer { timer, late_by: Duration::ZERO }
    }

    /// How long to ask the OS or runtime to sleep for a piece of work of `duration`.
    pub fn ask(&self, duration: Duration) -> Duration {
        match self.timer {
            Timer::Compensated => duration.saturating_sub(self.late_by),
            Timer::Relative => duration,
        }
    }

    /// Records that a piece of work of `duration` really slept `slept`.
    pub fn record(&mut self, duration: Duration, slept: Duration) {
        self.late_by = (self.late_by + slept).saturating_sub(duration);
    }
}

/// Performs one piece of work on the calling thread, blocking it.
pub fn perform_blocking(work: Work, pacer: &mut SleepPacer, should_stop: &dyn Fn() -> bool) {
    match work {
        Work::None => {}
        Work::Yield => thread::yield_now(),
        Work::Sleep(duration) | Work::Block(duration) => {
            let start = Instant::now();
            sleep_unless_stopped(pacer.ask(duration), should_stop);
            pacer.record(duration, start.elapsed());
        }
        Work::Spin(duration) => {
            let start = Instant::now();
            while start.elapsed() < duration && !should_stop() {
                hint::spin_loop();
            }
        }
    }
}

fn sleep_unless_stopped(duration: Duration, should_stop: &dyn Fn() -> bool) {
    // One `nanosleep` for the usual short sleep keeps its timing exact; long ones are sliced.
    if duration <= STOP_CHECK_INTERVAL {
        thread::sleep(duration);
        return;
    }
    let deadline = Instant::now() + duration;
    while !should_stop() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        thread::sleep(left.min(STOP_CHECK_INTERVAL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::Sync, counter::HeapCounter};

    #[test]
    fn a_worker_does_every_increment() {
        let config = Config { workers: 1, increments: 25, work: Work::Yield, ..Config::default() };
        let heap = HeapCounter::new(config.sync, 1).unwrap();
        let outcome = run_worker(heap.counter(), &config, 0, &|| false).unwrap();
        assert_eq!(outcome.increments_done, 25);
        assert_eq!(heap.counter().total(), 25);
    }

    #[test]
    fn compensated_sleeps_make_up_only_for_lateness() {
        let ms = Duration::from_millis;
        let mut pacer = SleepPacer::new(Timer::Compensated);
        assert_eq!(pacer.ask(ms(10)), ms(10));
        pacer.record(ms(10), ms(11));
        assert_eq!(pacer.ask(ms(10)), ms(9), "one millisecond late: the next sleep is shorter");
        pacer.record(ms(10), ms(9));
        assert_eq!(pacer.ask(ms(10)), ms(10), "made up");
        pacer.record(ms(10), ms(35));
        assert_eq!(pacer.ask(ms(10)), ms(0), "never negative");
        let relative = SleepPacer::new(Timer::Relative);
        assert_eq!(relative.ask(ms(10)), ms(10));
    }

    #[test]
    fn a_stopped_worker_stops_early() {
        let config = Config {
            workers: 1,
            increments: 1_000_000,
            work: Work::Spin(Duration::from_secs(3600)),
            sync: Sync::Atomic,
            ..Config::default()
        };
        let heap = HeapCounter::new(config.sync, 1).unwrap();
        let outcome = run_worker(heap.counter(), &config, 0, &|| true).unwrap();
        assert_eq!(outcome.increments_done, 0);
    }
}
