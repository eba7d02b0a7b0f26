//! One task per worker: wait for the start, then do the work and update the counter, `increments` times, with
//! awaits exactly where the work awaits.
//!
//! A task is what the async model is measured by, so it carries as little as it can. The future spawned is
//! chosen for the configuration ([`spawn`]): a task without work or with blocking work holds no timer; a
//! sleeping task holds one [`tokio::time::Sleep`], reset in place for every piece of work, in a future written
//! out by hand ([`AwaitingTask`]) so that it holds nothing else but a few words. What a task did is written to
//! a slot of a table allocated once for all ([`Shared`]) rather than returned through a `JoinHandle`, and the
//! coordinator counts finished tasks. The tasks wait for the start on a gate that keeps their wakers in one
//! preallocated list, not in their futures. With tokio's header and trailer, a future of at most
//! [`SMALL_FUTURE_BYTES`] takes a 256-byte task cell.

use std::{
    pin::Pin,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{
            AtomicBool, AtomicU8, AtomicU64,
            Ordering::{Acquire, Relaxed, Release},
        },
    },
    task::{Context, Poll, Waker, ready},
    time::{Duration, Instant},
};

use counter_core::{
    config::{Config, Strategy, Window, Work},
    counter::{Counter, CounterError, DetachedIncrement, HeapCounter},
    signals,
    trace::{StepLog, Tracer as _, now_ns},
    workload::{
        OnSignal, Performed, SleepPacer, Start, increments_traced, increments_without_work, work_and_increment,
        work_and_increment_traced,
    },
};
use tokio::{sync::Notify, time::Sleep};

/// The largest future that tokio 1.x puts in a 256-byte task cell on x86-64 (header, scheduler, id, stage,
/// trailer, aligned to 128 bytes; measured). One byte more and the cell is 384 bytes.
pub(crate) const SMALL_FUTURE_BYTES: usize = 152;

/// What every task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counter: HeapCounter,
    pub(crate) config: Config,
    gate: StartGate,
    /// When the tasks were released: each task's time is counted from here, as a thread's is from its start.
    go: OnceLock<Instant>,
    /// What each task did, by task index.
    slots: Box<[Slot]>,
    /// Tasks that have ended, however they ended.
    finished: AtomicU64,
    all_finished: Notify,
    /// The first task that failed, and how.
    failure: Mutex<Option<TaskFailure>>,
    /// Set when the run is stopped: the tasks still running are then dropped with the runtime, which ends them
    /// wherever they are (a sleeping task never wakes up to look for a stop).
    stopping: AtomicBool,
    /// The lock held across an await, for the mutex strategy with the window inside.
    async_lock: tokio::sync::Mutex<()>,
    /// `--trace`: each task's steps, handed over once as it ends.
    traces: Mutex<Vec<StepLog>>,
}

/// Where the tasks wait for the start: a flag, and the wakers of the tasks waiting, in a list reserved for all
/// of them at once (16 bytes a task, against 64 for a waiter kept in each future).
#[derive(Debug)]
struct StartGate {
    /// A [`Start`] value; changed only with `waiting` locked.
    start: AtomicU8,
    /// Tasks that have reported alive.
    ready: AtomicU64,
    waiting: Mutex<Vec<Waker>>,
}

impl StartGate {
    fn new(tasks: u64) -> StartGate {
        // The list's pages are touched only as tasks register, so reserving for every task costs nothing up front.
        let waiting = Vec::with_capacity(usize::try_from(tasks).unwrap_or(0));
        StartGate { start: AtomicU8::new(Start::Waiting as u8), ready: AtomicU64::new(0), waiting: Mutex::new(waiting) }
    }

    fn start(&self) -> Start {
        // Acquire, paired with `release`'s Release: a task that sees Go sees everything done before it.
        Start::from_u8(self.start.load(Acquire))
    }

    /// The start, once given. `registered` is the task's own flag: its waker is kept once.
    fn poll_start(&self, registered: &mut bool, cx: &Context<'_>) -> Poll<Start> {
        match self.start() {
            Start::Waiting if *registered => Poll::Pending,
            Start::Waiting => {
                let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                // Looked at again under the lock, which `release` holds while it changes the flag: a task is
                // either woken by the release or sees it here.
                match self.start() {
                    Start::Waiting => {
                        waiting.push(cx.waker().clone());
                        *registered = true;
                        self.ready.fetch_add(1, Relaxed);
                        Poll::Pending
                    }
                    start => Poll::Ready(start),
                }
            }
            start => Poll::Ready(start),
        }
    }

    fn release(&self, start: Start) {
        let wakers = {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            self.start.store(start as u8, Release);
            std::mem::take(&mut *waiting)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Waits for the start: the gate's poll as a future, for the tasks written as `async fn`.
struct WaitForStart<'a> {
    gate: &'a StartGate,
    registered: bool,
}

impl Future for WaitForStart<'_> {
    type Output = Start;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Start> {
        let this = &mut *self;
        this.gate.poll_start(&mut this.registered, cx)
    }
}

/// What one task did: written once by the task as it ends, read by the coordinator after every task has ended.
#[derive(Debug, Default)]
struct Slot {
    increments_done: AtomicU64,
    elapsed_ns: AtomicU64,
}

/// How a task failed.
#[derive(Debug)]
pub(crate) enum TaskFailure {
    /// The counter refused an increment.
    Counter { index: u64, source: CounterError },
    /// The task panicked: its future was dropped while it ran.
    Panicked { index: u64 },
}

/// What one task did, read back by the coordinator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskOutcome {
    pub(crate) index: u64,
    pub(crate) increments_done: u64,
    pub(crate) elapsed: Duration,
}

impl Shared {
    /// The shared state of a run of `config.workers()` tasks, which must fit in 32 bits (see [`MAX_TASKS`]).
    pub(crate) fn new(counter: HeapCounter, config: Config) -> Shared {
        let slots = (0..config.workers()).map(|_| Slot::default()).collect();
        Shared {
            counter,
            gate: StartGate::new(config.workers()),
            config,
            go: OnceLock::new(),
            slots,
            finished: AtomicU64::new(0),
            all_finished: Notify::new(),
            failure: Mutex::new(None),
            stopping: AtomicBool::new(false),
            async_lock: tokio::sync::Mutex::new(()),
            traces: Mutex::new(Vec::new()),
        }
    }

    /// Every task's steps (`--trace`), once every task has ended.
    pub(crate) fn take_traces(&self) -> Vec<StepLog> {
        std::mem::take(&mut *self.traces.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Tasks that have reported alive.
    pub(crate) fn ready(&self) -> u64 {
        self.gate.ready.load(Relaxed)
    }

    /// Tells every waiting task to go (or to give up).
    pub(crate) fn release(&self, start: Start) {
        if start == Start::Go {
            self.go.get_or_init(Instant::now);
        }
        self.gate.release(start);
    }

    /// Whether the tasks were released.
    pub(crate) fn started(&self) -> bool {
        self.go.get().is_some()
    }

    /// Waits until every task has ended.
    pub(crate) async fn all_ended(&self) {
        loop {
            // Registered before the count is read, so that the last task's notification is not missed.
            let notified = self.all_finished.notified();
            if self.finished.load(Acquire) == self.config.workers() {
                return;
            }
            notified.await;
        }
    }

    /// Says that the run is stopping: the tasks dropped from now on were stopped, not broken.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Relaxed);
    }

    /// What each task did, or the first failure: once every task has ended, or been dropped with its runtime.
    pub(crate) fn outcomes(&self) -> Result<impl Iterator<Item = TaskOutcome> + '_, TaskFailure> {
        if let Some(failure) = self.failure.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(failure);
        }
        Ok((0u64..).zip(self.slots.iter()).map(|(index, slot)| TaskOutcome {
            index,
            increments_done: slot.increments_done.load(Relaxed),
            elapsed: Duration::from_nanos(slot.elapsed_ns.load(Relaxed)),
        }))
    }

    fn fail(&self, failure: TaskFailure) {
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(failure);
    }

    /// Counts task `index` as ended, in `state`, once its increments are in its slot. Called from the task's
    /// drop, so that every way out is counted: tokio drops a task's future when it panics.
    fn task_ended(&self, index: u32, state: State) {
        match state {
            // Dropped before the start: the run was called off, or the runtime is being dropped after an abort.
            State::Waiting => return,
            // Dropped while running: stopped with the runtime, or a panic.
            State::Running if self.stopping.load(Relaxed) => {}
            State::Running => self.fail(TaskFailure::Panicked { index: u64::from(index) }),
            State::Ended => {}
        }
        let elapsed = self.go.get().map_or(Duration::ZERO, Instant::elapsed);
        self.slots[index as usize].elapsed_ns.store(nanos(elapsed), Relaxed);
        // Release, so that the coordinator, which reads the count with Acquire, sees the slot written.
        if self.finished.fetch_add(1, Release) + 1 == self.config.workers() {
            self.all_finished.notify_one();
        }
    }
}

/// The farthest a timer is set: a year, well within what tokio's timer keeps; a sleep this long ends by a stop.
const FARTHEST_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most tasks a run may have: a task keeps its index in 32 bits.
pub(crate) const MAX_TASKS: u64 = u32::MAX as u64;

/// Spawns task `index` on the current runtime, with the future made for the configuration, and returns that
/// future's size in bytes. The task's `JoinHandle` is dropped: the task reports through [`Shared`].
pub(crate) fn spawn(shared: &Arc<Shared>, index: u32) -> usize {
    fn detached<F: Future<Output = ()> + Send + 'static>(future: F) -> usize {
        let bytes = size_of_val(&future);
        drop(tokio::spawn(future));
        bytes
    }
    let task = || Task { shared: Arc::clone(shared), index, done: 0, state: State::Waiting };
    let config = &shared.config;
    if let Some(limit) = config.trace() {
        return detached(task().traced(limit));
    }
    match (config.work(), config.window(), config.strategy()) {
        (Work::None, _, _) => detached(task().without_work()),
        (Work::Spin(_) | Work::Block(_), _, _) => detached(task().blocking()),
        (Work::Yield | Work::Sleep(_), Window::Inside, Strategy::Mutex) => detached(task().awaiting_inside_lock()),
        (Work::Yield | Work::Sleep(_), window, _) => detached(AwaitingTask::new(Arc::clone(shared), index, window)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Ended,
}

/// One task's own state. Dropping it reports the task as ended, whatever way it ended: a panic drops the
/// future too, and is then reported as such.
#[derive(Debug)]
struct Task {
    shared: Arc<Shared>,
    done: u64,
    index: u32,
    state: State,
}

fn should_stop() -> bool {
    signals::received().is_some()
}

impl Task {
    /// Waits for the start; `false` when the run was called off.
    async fn wait_for_start(&mut self) -> bool {
        let started = WaitForStart { gate: &self.shared.gate, registered: false }.await == Start::Go;
        if started {
            self.state = State::Running;
        }
        started
    }

    fn counter(&self) -> Counter<'_> {
        self.shared.counter.counter()
    }

    fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Which shard is this task's: its index, below `workers`, which the counter was sized for.
    fn writer(&self) -> usize {
        self.index as usize
    }

    fn more_to_do(&self) -> bool {
        self.done < self.shared.config.increments() && !should_stop()
    }

    fn end(&mut self) {
        self.state = State::Ended;
    }

    fn fail(&mut self, source: CounterError) {
        self.shared.fail(TaskFailure::Counter { index: u64::from(self.index), source });
        self.state = State::Ended;
    }

    /// `--work none`: the loop every frontend shares; it never awaits.
    async fn without_work(mut self) {
        if !self.wait_for_start().await {
            return;
        }
        let (counter, config) = (self.counter(), self.config());
        match increments_without_work(counter, config.strategy(), self.writer(), config.increments(), should_stop) {
            Ok(done) => {
                self.done = done;
                self.end();
            }
            Err(source) => self.fail(source),
        }
    }

    /// `spin:` and `block:`: the work holds the runtime's thread, as a blocking call in a task does.
    async fn blocking(mut self) {
        if !self.wait_for_start().await {
            return;
        }
        let mut pacer = SleepPacer::new(self.config().timer());
        while self.more_to_do() {
            match work_and_increment(self.counter(), self.config(), self.writer(), &mut pacer, &OnSignal) {
                Ok(Performed::Finished) => self.done += 1,
                Ok(Performed::Interrupted) => break,
                Err(source) => return self.fail(source),
            }
        }
        self.end();
    }

    /// `sleep:` and `yield` inside the window with the mutex strategy: the lock is held across the work's awaits.
    /// It is an async lock, so that waiting tasks yield. The counter's own mutex could not be: its guard is
    /// `!Send`, so a task holding it across an await would not compile for the multi-thread runtime. The lock's
    /// wait and the sleep are both in this future, which makes it larger than the others (see the report).
    async fn awaiting_inside_lock(mut self) {
        if !self.wait_for_start().await {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let mut pacer = SleepPacer::new(self.config().timer());
        while self.more_to_do() {
            let _guard = shared.async_lock.lock().await;
            let pending = self.counter().begin_lock_free(Strategy::Racy, self.writer()).expect("racy takes no lock");
            // A stop does not end the work: it drops the task.
            await_work(self.config().work(), &mut pacer).await;
            pending.finish();
            self.done += 1;
        }
        self.end();
    }
}

impl Task {
    /// `--trace`: every increment recorded into the task's own log, which this future keeps (a larger future
    /// than an untraced task's: part of what looking costs) and hands to the shared state once, as it ends.
    async fn traced(mut self, limit: u64) {
        if !self.wait_for_start().await {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let (config, counter, writer) = (&shared.config, shared.counter.counter(), self.writer());
        let mut log = StepLog::new(self.index, limit, config.increments());
        let mut pacer = SleepPacer::new(config.timer());
        let strategy = config.strategy();
        let failed = match config.work() {
            Work::None => increments_traced(counter, strategy, writer, config.increments(), should_stop, &mut log)
                .map(|done| self.done = done)
                .err(),
            Work::Spin(_) | Work::Block(_) => loop {
                if !self.more_to_do() {
                    break None;
                }
                match work_and_increment_traced(counter, config, writer, &mut pacer, &OnSignal, &mut log) {
                    Ok(Performed::Finished) => self.done += 1,
                    Ok(Performed::Interrupted) => break None,
                    Err(source) => break Some(source),
                }
            },
            work @ (Work::Yield | Work::Sleep(_)) => loop {
                if !self.more_to_do() {
                    break None;
                }
                if config.window() == Window::Before {
                    await_work(work, &mut pacer).await;
                    let pending = match counter.begin(strategy, writer) {
                        Ok(pending) => pending,
                        Err(source) => break Some(source),
                    };
                    let read_ns = now_ns();
                    let (wrote, overwrote) = pending.finish_traced();
                    log.record(wrote, Some(overwrote), read_ns, now_ns());
                } else {
                    // The mutex inside the window is the async lock around a plain read and write, as untraced.
                    let _guard = if strategy == Strategy::Mutex { Some(shared.async_lock.lock().await) } else { None };
                    let lock_free = if strategy == Strategy::Mutex { Strategy::Racy } else { strategy };
                    // Every strategy here takes no lock of the counter's (fenced is refused for tasks).
                    let Some(pending) = counter.begin_lock_free(lock_free, writer) else { break None };
                    let read_ns = now_ns();
                    await_work(work, &mut pacer).await;
                    let (wrote, overwrote) = pending.finish_traced();
                    log.record(wrote, Some(overwrote), read_ns, now_ns());
                }
                self.done += 1;
            },
        };
        shared.traces.lock().unwrap_or_else(PoisonError::into_inner).push(log);
        match failed {
            Some(source) => self.fail(source),
            None => self.end(),
        }
    }
}

/// One piece of `sleep:` or `yield` work, awaited: a stop does not end it, it drops the task.
async fn await_work(work: Work, pacer: &mut SleepPacer) {
    if let Work::Sleep(duration) = work {
        let start = tokio::time::Instant::now();
        let ask = pacer.ask(duration);
        if ask.is_zero() {
            tokio::task::yield_now().await;
        } else {
            sleep_from(start, ask).await;
        }
        pacer.record(duration, start.elapsed());
    } else {
        tokio::task::yield_now().await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if self.state != State::Waiting {
            self.shared.slots[self.index as usize].increments_done.store(self.done, Relaxed);
        }
        self.shared.task_ended(self.index, self.state);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

pin_project_lite::pin_project! {
    /// A task whose work awaits (`sleep:` or `yield`), lock-free or with the window before, written out by hand
    /// so that it holds its one timer and five words, nothing more (152 bytes): `async fn` would keep a pointer
    /// to the pinned timer, each nested future's arguments, and a [`Task`] whose padding its own flags could not
    /// use.
    struct AwaitingTask {
        progress: Progress,
        // Reset in place for every piece of work.
        #[pin]
        sleep: Sleep,
    }
}

/// The plain part of an [`AwaitingTask`]: everything but its timer. Its increments are kept in its slot.
struct Progress {
    shared: Arc<Shared>,
    index: u32,
    state: State,
    step: Step,
    window: Window,
    /// How much longer than asked the sleeps have lasted so far, not yet made up for, in nanoseconds.
    late_by_ns: u64,
    /// While sleeping: what is left of the piece of work after the sleep's deadline (long ones are cut into
    /// slices, so that a stop request is noticed). While yielding to make up for lateness: when the yield began,
    /// in nanoseconds since the start.
    step_ns: u64,
    /// What the increment read, with the window inside.
    read: DetachedIncrement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    WaitingForStart {
        registered: bool,
    },
    /// About to begin a piece of work (and, with the window inside, the increment).
    Begin,
    Sleeping,
    /// Yielding: `timed` when the yield stands for a sleep that lateness has already made up for.
    Yielding {
        timed: bool,
        yielded: bool,
    },
}

impl AwaitingTask {
    fn new(shared: Arc<Shared>, index: u32, window: Window) -> AwaitingTask {
        let progress = Progress {
            shared,
            index,
            state: State::Waiting,
            step: Step::WaitingForStart { registered: false },
            window,
            late_by_ns: 0,
            step_ns: 0,
            read: DetachedIncrement::default(),
        };
        // The timer is not registered until first polled, which is only once the run has started.
        AwaitingTask { progress, sleep: tokio::time::sleep(Duration::ZERO) }
    }
}

impl Progress {
    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn counter(&self) -> Counter<'_> {
        self.shared.counter.counter()
    }

    fn slot(&self) -> &Slot {
        &self.shared.slots[self.index as usize]
    }

    fn since_go(&self) -> u64 {
        nanos(self.shared.go.get().map_or(Duration::ZERO, Instant::elapsed))
    }

    fn sleep_duration(&self) -> Duration {
        match self.config().work() {
            Work::Sleep(duration) => duration,
            _ => Duration::ZERO,
        }
    }

    fn pacer(&self) -> SleepPacer {
        SleepPacer::with_late_by(self.config().timer(), Duration::from_nanos(self.late_by_ns))
    }

    /// Records that the piece of work slept `slept`.
    fn record(&mut self, slept: Duration) {
        let mut pacer = self.pacer();
        pacer.record(self.sleep_duration(), slept);
        self.late_by_ns = nanos(pacer.late_by());
    }

    fn end(&mut self) -> Poll<()> {
        self.state = State::Ended;
        Poll::Ready(())
    }

    /// Starts a piece of work; `Ready` when the task has ended.
    fn begin(&mut self, sleep: Pin<&mut Sleep>) -> Poll<()> {
        let done = self.slot().increments_done.load(Relaxed);
        if done >= self.config().increments() || should_stop() {
            return self.end();
        }
        let writer = self.index as usize;
        if self.window == Window::Inside {
            let pending = self.counter().begin_lock_free(self.config().strategy(), writer);
            self.read = pending.expect("the mutex strategy inside the window has its own task").detach();
        }
        let Work::Sleep(duration) = self.config().work() else {
            self.step = Step::Yielding { timed: false, yielded: false };
            return Poll::Pending;
        };
        let ask = self.pacer().ask(duration);
        if ask.is_zero() {
            // Fully made up already: a timer would still wait for its next millisecond tick, so only yield,
            // which keeps the await point where the work is.
            self.step_ns = self.since_go();
            self.step = Step::Yielding { timed: true, yielded: false };
            return Poll::Pending;
        }
        // One timer for the whole piece of work: a stop drops the task, so it never wakes up to look. A deadline
        // too far for the clock (about 584 years) becomes the farthest one tokio keeps.
        let now = tokio::time::Instant::now();
        sleep.reset(now.checked_add(ask).unwrap_or_else(|| now + FARTHEST_DEADLINE));
        self.step = Step::Sleeping;
        Poll::Pending
    }

    /// Ends a piece of work with its increment; `Ready` when the task has ended.
    fn finish(&mut self) -> Poll<()> {
        let (strategy, writer) = (self.config().strategy(), self.index as usize);
        match self.window {
            Window::Inside => {
                self.counter().finish_detached(strategy, writer, self.read);
            }
            Window::Before => {
                if let Err(source) = self.counter().increment(strategy, writer) {
                    self.shared.fail(TaskFailure::Counter { index: u64::from(self.index), source });
                    return self.end();
                }
            }
        }
        // This task is the slot's only writer until it ends.
        let slot = self.slot();
        slot.increments_done.store(slot.increments_done.load(Relaxed) + 1, Relaxed);
        self.step = Step::Begin;
        Poll::Pending
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.shared.task_ended(self.index, self.state);
    }
}

impl Future for AwaitingTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let progress = this.progress;
        let mut sleep = this.sleep;
        loop {
            let step = match progress.step {
                Step::WaitingForStart { mut registered } => {
                    let start = progress.shared.gate.poll_start(&mut registered, cx);
                    progress.step = Step::WaitingForStart { registered };
                    if ready!(start) != Start::Go {
                        return Poll::Ready(());
                    }
                    progress.state = State::Running;
                    progress.step = Step::Begin;
                    Poll::Pending
                }
                Step::Begin => progress.begin(sleep.as_mut()),
                Step::Sleeping => {
                    ready!(sleep.as_mut().poll(cx));
                    // What was slept: what was asked, and how late the timer woke.
                    let late = tokio::time::Instant::now().saturating_duration_since(sleep.deadline());
                    let asked = progress.pacer().ask(progress.sleep_duration());
                    progress.record(asked + late);
                    progress.finish()
                }
                Step::Yielding { timed, yielded: false } => {
                    progress.step = Step::Yielding { timed, yielded: true };
                    // A task that wakes itself while it is polled is put at the back of the run queue, as
                    // `tokio::task::yield_now` does, and no future is needed for it.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Step::Yielding { timed, yielded: true } => {
                    if timed {
                        let slept = Duration::from_nanos(progress.since_go().saturating_sub(progress.step_ns));
                        progress.record(slept);
                    }
                    progress.finish()
                }
            };
            if step.is_ready() {
                return Poll::Ready(());
            }
        }
    }
}

/// Sleeps `duration` from `start`, in one timer: a stop does not wake the task, it drops it (see
/// [`Shared::stop`]). A deadline too far for the clock is a sleep that only a stop ends.
async fn sleep_from(start: tokio::time::Instant, duration: Duration) {
    match start.checked_add(duration) {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use counter_core::config::{Request, Timer};

    use super::*;

    /// The size of the future spawned for one task of `request`.
    fn spawned_future_bytes(request: Request) -> usize {
        let config = request.validate().expect("a valid request");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
        runtime.block_on(async {
            let shared = Arc::new(Shared::new(HeapCounter::new(config.strategy(), 1).unwrap(), config));
            let bytes = spawn(&shared, 0);
            shared.release(Start::Abort);
            bytes
        })
    }

    #[test]
    fn a_sleeping_task_fits_the_small_task_cell() {
        for window in [Window::Before, Window::Inside] {
            for strategy in [Strategy::Racy, Strategy::Atomic, Strategy::Sharded, Strategy::Mutex] {
                if (window, strategy) == (Window::Inside, Strategy::Mutex) {
                    continue;
                }
                for timer in [Timer::Compensated, Timer::Relative] {
                    let request = Request { workers: 1, window, strategy, timer, ..Request::default() };
                    let bytes = spawned_future_bytes(request);
                    assert!(bytes <= SMALL_FUTURE_BYTES, "{window:?} {strategy:?}: {bytes} B");
                }
            }
        }
        for work in [Work::None, Work::Yield, Work::Spin(Duration::from_millis(1)), Work::Block(Duration::ZERO)] {
            let bytes = spawned_future_bytes(Request { workers: 1, work, ..Request::default() });
            assert!(bytes <= SMALL_FUTURE_BYTES, "{work}: {bytes} B");
        }
    }

    #[test]
    fn the_lock_held_across_an_await_makes_a_larger_task() {
        let request = Request { workers: 1, window: Window::Inside, strategy: Strategy::Mutex, ..Request::default() };
        assert!(spawned_future_bytes(request) > SMALL_FUTURE_BYTES);
    }
}
