//! One worker's loop, for frontends whose workers block (threads and forked processes): do the work, update
//! the counter, `increments` times. The async frontend has its own loops with awaits in the same places, and
//! shares [`increments_without_work`], the loop without work.
//!
//! The loop is generic over the stop check, so that each frontend's check (a relaxed load of a flag) is
//! inlined into it rather than called through a pointer on every increment.

use std::{
    hint, thread,
    time::{Duration, Instant},
};

use crate::{
    config::{Config, Strategy, Timer, Window, Work},
    counter::{Counter, CounterError},
    signals,
    trace::{NoTrace, Tracer, now_ns},
};

/// What waiting workers are told at the start line: every frontend's gate (a condition variable, a list of
/// wakers, a pipe) carries one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Start {
    /// Not yet: keep waiting.
    #[default]
    Waiting = 0,
    /// Start the loop.
    Go = 1,
    /// Go home without running: the run was stopped before it started.
    Abort = 2,
}

impl Start {
    /// The value stored as a byte (in an atomic, or on a pipe); anything unknown is [`Start::Waiting`].
    pub fn from_u8(byte: u8) -> Start {
        match byte {
            1 => Start::Go,
            2 => Start::Abort,
            _ => Start::Waiting,
        }
    }
}

/// How a blocking worker learns that the run is to stop.
pub trait StopRequests {
    /// Whether the run is to stop: looked at between increments, so it should cost no more than a load.
    fn requested(&self) -> bool;

    /// Sleeps `duration` unless a stop comes first; a stop that comes during the sleep ends it at once.
    fn sleep(&self, duration: Duration) -> Performed;
}

/// The stop requests of a process: SIGINT and SIGTERM. A sleep is one futex wait that the signal handler ends
/// ([`signals::sleep_unless_received`]), so a sleeping worker costs what a plain sleep costs.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnSignal;

impl StopRequests for OnSignal {
    #[inline]
    fn requested(&self) -> bool {
        signals::received().is_some()
    }

    fn sleep(&self, duration: Duration) -> Performed {
        if signals::sleep_unless_received(duration) { Performed::Finished } else { Performed::Interrupted }
    }
}

/// What one worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerOutcome {
    /// Increments finished; fewer than asked when the run was stopped.
    pub increments_done: u64,
    /// From the start signal to the worker's last increment.
    pub elapsed: Duration,
}

/// How often a coordinator (or a busy loop that cannot be woken) looks for a stop request while it waits.
pub const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Whether a piece of work ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an interrupted piece of work must not be followed by its increment"]
pub enum Performed {
    /// The work took its course.
    Finished,
    /// A stop request cut it short: the increment it precedes (or sits inside) must not be made.
    Interrupted,
}

/// Increments between two looks at the stop flag when there is no work: a look costs as much as an increment,
/// and a thousand increments take about a microsecond.
pub const STOP_CHECK_EVERY: u64 = 1024;

/// Runs worker `worker` (numbered from 0) to completion, or until a stop is requested.
///
/// `stop` is asked before every increment (every [`STOP_CHECK_EVERY`] when there is no work) and while a busy
/// piece of work is under way; a sleep is ended by the stop itself.
pub fn run_worker(
    counter: Counter<'_>,
    config: &Config,
    worker: usize,
    stop: &impl StopRequests,
) -> Result<WorkerOutcome, CounterError> {
    run_worker_traced(counter, config, worker, stop, &mut NoTrace)
}

/// [`run_worker`], recording each increment into `tracer` (`--trace`).
pub fn run_worker_traced<T: Tracer>(
    counter: Counter<'_>,
    config: &Config,
    worker: usize,
    stop: &impl StopRequests,
    tracer: &mut T,
) -> Result<WorkerOutcome, CounterError> {
    let started = Instant::now();
    if config.work() == Work::None {
        let requested = || stop.requested();
        let done = if T::ON {
            increments_traced(counter, config.strategy(), worker, config.increments(), requested, tracer)?
        } else {
            increments_without_work(counter, config.strategy(), worker, config.increments(), requested)?
        };
        return Ok(WorkerOutcome { increments_done: done, elapsed: started.elapsed() });
    }
    let mut pacer = SleepPacer::new(config.timer());
    let mut done = 0;
    while done < config.increments() && !stop.requested() {
        if work_and_increment_traced(counter, config, worker, &mut pacer, stop, tracer)? == Performed::Interrupted {
            break;
        }
        done += 1;
    }
    Ok(WorkerOutcome { increments_done: done, elapsed: started.elapsed() })
}

/// The loop without work, each increment recorded (`--trace`): the clock read after the read and after the
/// write, which is what looking costs.
pub fn increments_traced(
    counter: Counter<'_>,
    strategy: Strategy,
    writer: usize,
    increments: u64,
    should_stop: impl Fn() -> bool,
    tracer: &mut impl Tracer,
) -> Result<u64, CounterError> {
    let mut done = 0;
    while done < increments && !should_stop() {
        let batch = (increments - done).min(STOP_CHECK_EVERY);
        for _ in 0..batch {
            let pending = counter.begin(strategy, writer)?;
            let read_ns = now_ns();
            let (wrote, overwrote) = pending.finish_traced();
            tracer.record(wrote, Some(overwrote), read_ns, now_ns());
        }
        done += batch;
    }
    Ok(done)
}

/// With no work, nothing sits in the window (before and inside are the same), so the loop is only the
/// increments: one tight loop per strategy, the stop flag looked at between batches. This is what the contended
/// scenarios measure, so the loop adds as little as it can to the increment itself (`cargo xtask calibrate`).
///
/// Returns the increments done: `increments`, or fewer when `should_stop` said so. Every frontend runs this loop
/// for `--work none`, the async one included (a task without work never awaits).
pub fn increments_without_work(
    counter: Counter<'_>,
    strategy: Strategy,
    writer: usize,
    increments: u64,
    should_stop: impl Fn() -> bool,
) -> Result<u64, CounterError> {
    let mut done = 0;
    while done < increments && !should_stop() {
        let batch = (increments - done).min(STOP_CHECK_EVERY);
        match strategy {
            // Each arm's loop is its own, with the strategy known inside it.
            Strategy::Racy => (0..batch).for_each(|_| counter.increment_lock_free(Strategy::Racy, writer)),
            Strategy::Atomic => (0..batch).for_each(|_| counter.increment_lock_free(Strategy::Atomic, writer)),
            Strategy::Sharded => (0..batch).for_each(|_| counter.increment_lock_free(Strategy::Sharded, writer)),
            Strategy::Optimistic => {
                (0..batch).for_each(|_| counter.increment_lock_free(Strategy::Optimistic, writer));
            }
            Strategy::Mutex | Strategy::Fenced => {
                for _ in 0..batch {
                    counter.increment(Strategy::Mutex, writer)?;
                }
            }
        }
        done += batch;
    }
    Ok(done)
}

/// One step of a worker's loop: the work, and the increment by writer `writer`, with the work before the
/// read-modify-write or inside it as the window says. Work cut short by a stop request is not followed by its
/// increment: an interrupted piece of work is not a finished increment.
pub fn work_and_increment(
    counter: Counter<'_>,
    config: &Config,
    writer: usize,
    pacer: &mut SleepPacer,
    stop: &impl StopRequests,
) -> Result<Performed, CounterError> {
    work_and_increment_traced(counter, config, writer, pacer, stop, &mut NoTrace)
}

/// [`work_and_increment`], recording the increment into `tracer` (`--trace`): the clock read once the read has
/// happened and once the write has.
pub fn work_and_increment_traced<T: Tracer>(
    counter: Counter<'_>,
    config: &Config,
    writer: usize,
    pacer: &mut SleepPacer,
    stop: &impl StopRequests,
    tracer: &mut T,
) -> Result<Performed, CounterError> {
    let strategy = config.strategy();
    let clock = || if T::ON { now_ns() } else { 0 };
    match config.window() {
        Window::Before => {
            let performed = perform_blocking(config.work(), pacer, stop);
            if performed == Performed::Finished {
                let pending = counter.begin(strategy, writer)?;
                let read_ns = clock();
                let (wrote, overwrote) = if T::ON { pending.finish_traced() } else { (pending.finish(), 0) };
                tracer.record(wrote, Some(overwrote), read_ns, clock());
            }
            Ok(performed)
        }
        Window::Inside => {
            let pending = counter.begin(strategy, writer)?;
            let read_ns = clock();
            let performed = perform_blocking(config.work(), pacer, stop);
            // Dropping the pending increment abandons it (and releases the lock).
            if performed == Performed::Finished {
                let (wrote, overwrote) = if T::ON { pending.finish_traced() } else { (pending.finish(), 0) };
                tracer.record(wrote, Some(overwrote), read_ns, clock());
            }
            Ok(performed)
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

    /// A pacer that is already `late_by` behind (for a worker that keeps the lateness itself, more compactly).
    pub fn with_late_by(timer: Timer, late_by: Duration) -> SleepPacer {
        SleepPacer { timer, late_by }
    }

    /// How much longer than asked the sleeps have lasted so far, not yet made up for.
    pub fn late_by(&self) -> Duration {
        self.late_by
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
        self.late_by = self.late_by.saturating_add(slept).saturating_sub(duration);
    }
}

/// Performs one piece of work on the calling thread, blocking it.
pub fn perform_blocking(work: Work, pacer: &mut SleepPacer, stop: &impl StopRequests) -> Performed {
    match work {
        Work::None => Performed::Finished,
        Work::Yield => {
            thread::yield_now();
            Performed::Finished
        }
        Work::Sleep(duration) | Work::Block(duration) => {
            let start = Instant::now();
            let performed = stop.sleep(pacer.ask(duration));
            pacer.record(duration, start.elapsed());
            performed
        }
        Work::Spin(duration) => {
            let start = Instant::now();
            while start.elapsed() < duration {
                if stop.requested() {
                    return Performed::Interrupted;
                }
                hint::spin_loop();
            }
            Performed::Finished
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::{config::Request, counter::HeapCounter};

    /// Stop requests that say no the first time they are looked at and yes from then on, counting the looks; a
    /// sleep is a look.
    struct StopOnSecondLook(Cell<u32>);

    impl StopRequests for StopOnSecondLook {
        fn requested(&self) -> bool {
            self.0.set(self.0.get() + 1);
            self.0.get() > 1
        }

        fn sleep(&self, _: Duration) -> Performed {
            if self.requested() { Performed::Interrupted } else { Performed::Finished }
        }
    }

    /// No stop, ever; sleeps are not slept.
    struct Never;

    impl StopRequests for Never {
        fn requested(&self) -> bool {
            false
        }

        fn sleep(&self, _: Duration) -> Performed {
            Performed::Finished
        }
    }

    #[test]
    fn a_worker_does_every_increment() {
        let config =
            Request { workers: 1, increments: 25, work: Work::Yield, ..Request::default() }.validate().unwrap();
        let heap = HeapCounter::new(config.strategy(), 1).unwrap();
        let outcome = run_worker(heap.counter(), &config, 0, &Never).unwrap();
        assert_eq!(outcome.increments_done, 25);
        assert_eq!(heap.counter().total(), 25);
    }

    #[test]
    fn without_work_every_strategy_counts_exactly_and_stops_between_batches() {
        for strategy in Strategy::ALL {
            let config = Request { workers: 1, increments: 5000, work: Work::None, strategy, ..Request::default() }
                .validate()
                .unwrap();
            let heap = HeapCounter::new(strategy, 1).unwrap();
            let outcome = run_worker(heap.counter(), &config, 0, &Never).unwrap();
            assert_eq!((outcome.increments_done, heap.counter().total()), (5000, 5000), "{strategy:?}");
            // A stop asked after the first batch ends the loop there.
            let heap = HeapCounter::new(strategy, 1).unwrap();
            let outcome = run_worker(heap.counter(), &config, 0, &StopOnSecondLook(Cell::new(0))).unwrap();
            assert_eq!(outcome.increments_done, STOP_CHECK_EVERY, "{strategy:?}");
            assert_eq!(heap.counter().total(), STOP_CHECK_EVERY, "{strategy:?}");
        }
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
    fn work_cut_short_is_not_followed_by_its_increment() {
        for (work, window) in [
            (Work::Sleep(Duration::from_secs(3600)), Window::Before),
            (Work::Spin(Duration::from_secs(3600)), Window::Before),
            (Work::Sleep(Duration::from_secs(3600)), Window::Inside),
        ] {
            for strategy in Strategy::ALL {
                let config = Request { workers: 1, increments: 1, work, window, strategy, ..Request::default() }
                    .validate()
                    .unwrap();
                let heap = HeapCounter::new(strategy, 1).unwrap();
                // The stop arrives during the work, after the loop's own check let the increment begin.
                let outcome = run_worker(heap.counter(), &config, 0, &StopOnSecondLook(Cell::new(0))).unwrap();
                assert_eq!(outcome.increments_done, 0, "{work} {window:?} {strategy:?}");
                assert_eq!(heap.counter().total(), 0, "{work} {window:?} {strategy:?}");
                // And the lock was released: another increment goes through.
                heap.counter().increment(strategy, 0).unwrap();
            }
        }
    }
}
