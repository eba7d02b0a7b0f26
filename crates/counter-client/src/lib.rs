//! What the models whose workers are tokio tasks, each a client of a server that holds the counter, share: a
//! worker's simulated work, which a stop wakes at once (the coordinator turns the start line to
//! [`Start::Abort`]; no worker wakes up on a timer of its own to look), and the coordinator's waits: for the next
//! worker to end while it watches for a stop signal, and `--hold` on the runtime.
//!
//! A private server, started for one run, lives in a directory of its own (module [`server_dir`]); a run shared
//! by several participants is described in module [`participants`], whatever the store.
//!
//! The run itself is coordinated once for every store (module [`coordinator`]), driven by the [`store::Store`]
//! trait that a model's crate implements: it knows no store; a model's crate starts its server, makes the
//! connections and carries the strategies and the participants' record out in its own terms.
#![warn(missing_docs)]

pub mod cli;
pub mod coordinator;
pub mod error;
pub mod options;
pub mod participants;
pub mod private_server;
pub mod serve;
pub mod server_dir;
pub mod sql;
pub mod store;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    task::Poll,
    time::{Duration, Instant},
};

use counter_core::{
    config::{Hold, Timer, Work},
    hold::{self, Holding, Outcome},
    model::Model,
    report::WorkerReport,
    signals,
    workload::{Performed, STOP_CHECK_INTERVAL, SleepPacer, Start},
};
use tokio::{
    sync::watch,
    task::{JoinError, JoinSet},
};

/// The `--work` help of a model whose workers are clients: their work awaits, it never blocks the runtime.
pub const WORK_HELP: &str = "Simulated work per increment: none, yield, sleep:<duration> (awaits the runtime's \
                             timer), or spin:<duration> (busy loop). Durations: 10ms, 250us, 1s";

/// Why such a model has no `--pool`.
pub const NO_POOL: &str = "each worker is a client with its own connection";

/// The shortest deadline a client's request can be given: the runtime's timer counts whole milliseconds.
pub const SHORTEST_DEADLINE: Duration = Duration::from_millis(1);

/// Checks a deadline flag (`--timeout`, `--lock-ttl`): one the clock cannot keep is refused, naming it.
pub fn check_deadline(flag: &str, value: Duration) -> Result<(), counter_core::config::ConfigError> {
    if value < SHORTEST_DEADLINE {
        return Err(counter_core::config::ConfigError::Conflict(format!(
            "invalid {flag} '{value:?}': at least 1ms (the runtime's timer counts whole milliseconds, so a shorter \
             deadline could not be kept)"
        )));
    }
    Ok(())
}

/// Descriptors kept for everything but the workers' connections (the runtime, the coordinator's connections,
/// stdio).
const SPARE_DESCRIPTORS: u64 = 64;

/// Lets this process open a descriptor per client connection: the soft limit is raised to the hard one, and a
/// run that would still not fit is refused before anything starts.
pub fn make_room_for(clients: u64) -> Result<(), counter_core::proc::limits::LimitError> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let needed = clients.saturating_add(SPARE_DESCRIPTORS);
    // Unreadable: nothing to raise, and the connections say what they lack.
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return Ok(()) };
    if needed > hard {
        return Err(counter_core::proc::limits::LimitError {
            request: format!("{clients} client connections"),
            limit: "RLIMIT_NOFILE",
            value: hard.to_string(),
            detail: format!(
                "each client holds a descriptor, and {SPARE_DESCRIPTORS} more are kept; raise the limit with \
                 `ulimit -n N` or `prlimit --nofile=N`"
            ),
        });
    }
    if soft < needed {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    Ok(())
}

/// How long a worker waits between two tries to connect again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// How long a worker whose connection broke keeps trying to connect again before the run fails: a server that
/// stalled, or ended the connection, is back within it; one that is gone is named within seconds.
pub fn reconnect_patience(timeout: Duration) -> Duration {
    (timeout * 2).max(Duration::from_secs(2))
}

/// A connection made again after one broke: `connect` tried again and again, 100 ms apart, until it
/// succeeds or `patience` has passed (then the last error, or `broken` if none came); `Ok(None)` when a stop
/// signal ended the trying.
pub async fn connect_again<T, E, Fut>(
    patience: Duration,
    broken: E,
    mut connect: impl FnMut() -> Fut,
) -> Result<Option<T>, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + patience;
    let mut last = broken;
    while Instant::now() < deadline {
        if should_stop() {
            return Ok(None);
        }
        match connect().await {
            Ok(connection) => return Ok(Some(connection)),
            Err(error) => last = error,
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
    if should_stop() { Ok(None) } else { Err(last) }
}

/// The report's line of connections made again after one broke, when there were any.
pub fn reconnections_line(reconnections: u64) -> Option<String> {
    (reconnections > 0)
        .then(|| format!("{} after one broke", counter_core::units::count(reconnections, "made again", "made again")))
}

/// The report's line of round trips: how many, per increment, and their latency (median, p99, max).
pub fn round_trips_line(round_trips: u64, per_increment: f64, [median_us, p99_us, max_us]: [f64; 3]) -> String {
    let seconds = |us: f64| counter_core::units::seconds(us / 1e6);
    format!(
        "{round_trips} ({per_increment:.2} per increment); latency median {} … p99 {} … max {}",
        seconds(median_us),
        seconds(p99_us),
        seconds(max_us)
    )
}

/// A stop signal has arrived.
pub fn should_stop() -> bool {
    signals::received().is_some()
}

/// One worker's simulated work: its sleeps paced (lateness does not add up) and cut short by a stop.
#[derive(Debug)]
pub struct Pacing {
    pacer: SleepPacer,
    /// The start line, which the coordinator turns to [`Start::Abort`] to stop a run.
    start: watch::Receiver<Start>,
}

impl Pacing {
    /// Pacing by `timer`, stopped through `start`.
    pub fn new(timer: Timer, start: watch::Receiver<Start>) -> Pacing {
        Pacing { pacer: SleepPacer::new(timer), start }
    }

    /// One piece of `work`, awaiting where it can.
    pub async fn work(&mut self, work: Work) -> Performed {
        match work {
            Work::None => Performed::Finished,
            Work::Yield => {
                tokio::task::yield_now().await;
                Performed::Finished
            }
            Work::Sleep(duration) | Work::Block(duration) => {
                let started = tokio::time::Instant::now();
                let ask = self.pacer.ask(duration);
                if ask.is_zero() {
                    tokio::task::yield_now().await;
                } else if self.sleep_unless_stopped(started, ask).await == Performed::Interrupted {
                    return Performed::Interrupted;
                }
                self.pacer.record(duration, started.elapsed());
                Performed::Finished
            }
            Work::Spin(duration) => {
                let started = Instant::now();
                while started.elapsed() < duration {
                    if should_stop() {
                        return Performed::Interrupted;
                    }
                    std::hint::spin_loop();
                }
                Performed::Finished
            }
        }
    }

    /// Sleeps `duration` from `started` in one timer, unless the coordinator stops the run first.
    async fn sleep_unless_stopped(&mut self, started: tokio::time::Instant, duration: Duration) -> Performed {
        let until = started.checked_add(duration);
        let mut sleep = std::pin::pin!(async move {
            match until {
                Some(until) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        });
        let mut stopped = std::pin::pin!(self.start.wait_for(|start| *start == Start::Abort));
        std::future::poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Performed::Finished);
            }
            // A closed channel (the coordinator is gone) is a stop too.
            stopped.as_mut().poll(cx).map(|_| Performed::Interrupted)
        })
        .await
    }
}

/// The next worker to end; meanwhile, every [`STOP_CHECK_INTERVAL`], a look for a stop signal, which turns the
/// start line to [`Start::Abort`]: that wakes every sleeping worker, which then ends and reports.
pub async fn next_or_stop<T: 'static>(
    tasks: &mut JoinSet<T>,
    start: &watch::Sender<Start>,
) -> Option<Result<T, JoinError>> {
    let mut next = std::pin::pin!(tasks.join_next());
    let mut tick = std::pin::pin!(tokio::time::sleep(STOP_CHECK_INTERVAL));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(joined) = next.as_mut().poll(cx) {
            return Poll::Ready(joined);
        }
        while tick.as_mut().poll(cx).is_ready() {
            if should_stop() {
                start.send_if_modified(|line| std::mem::replace(line, Start::Abort) != Start::Abort);
            }
            tick.as_mut().reset(tokio::time::Instant::now() + STOP_CHECK_INTERVAL);
        }
        Poll::Pending
    })
    .await
}

/// Why the workers were not all connected.
#[derive(Debug)]
pub enum NotReady<E> {
    /// A stop signal arrived.
    Signal(nix::sys::signal::Signal),
    /// A worker could not connect: its error.
    Failed(E),
    /// A worker's task ended without a result (it panicked); how many were ready by then.
    Panicked {
        /// Workers that were ready.
        ready: u64,
    },
}

/// Waits until `workers` are `ready` (each counts itself once connected), or the first failure, or a stop
/// signal; on either of those, turns the start line to [`Start::Abort`], which sends every waiting worker home.
pub async fn until_connected<T: 'static, E: 'static>(
    tasks: &mut JoinSet<Result<T, E>>,
    ready: &AtomicU64,
    workers: u64,
    start: &watch::Sender<Start>,
) -> Result<(), NotReady<E>> {
    while ready.load(Ordering::Relaxed) < workers {
        let not_ready = match (signals::received(), tasks.try_join_next()) {
            (Some(signal), _) => NotReady::Signal(signal),
            (None, Some(Ok(Err(error)))) => NotReady::Failed(error),
            (None, Some(Err(_))) => NotReady::Panicked { ready: ready.load(Ordering::Relaxed) },
            _ => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let _ = start.send(Start::Abort);
        return Err(not_ready);
    }
    Ok(())
}

/// `--hold` on the runtime: a step at a time, awaiting in between, so that the connections' drivers go on
/// answering their server and no thread is added to the process while it is measured from outside.
pub async fn hold(hold_for: Hold) -> Outcome {
    let holding = Holding::new(hold_for);
    loop {
        if let Some(outcome) = holding.step(&mut || true, Duration::ZERO) {
            return outcome;
        }
        tokio::time::sleep(STOP_CHECK_INTERVAL).await;
    }
}

/// What `--hold` prints for a run of clients: this process (clients have no OS id of their own), its server, and
/// how to look at them, the last of which, `server_try`, is the server's own.
pub fn announce_hold(
    model: Model,
    hold_for: Hold,
    workers: u64,
    (server_pid, server): (Option<i32>, &str),
    server_try: String,
) {
    let pid = std::process::id() as i32;
    let server_pid = server_pid.map(|pid| format!("; server pid {pid}")).unwrap_or_default();
    hold::announce(
        hold_for,
        &hold::Announcement {
            model,
            workers,
            ids_label: "clients have no OS id; this process's pid",
            ids: &[i64::from(pid)],
            extra: format!("{server_pid}; server {server}"),
            tries: vec![
                format!("ps -o pid,nlwp,rss,comm -p {pid}"),
                format!("cat /proc/{pid}/smaps_rollup"),
                server_try,
            ],
        },
    );
}

/// A client's line in the report: which, what it did and for how long; it has no OS id, exit status, CPU or RSS
/// of its own (it is a task of this process).
pub fn worker_report(index: u64, increments_done: u64, elapsed: Duration) -> WorkerReport {
    WorkerReport {
        id: index,
        os_id: None,
        increments_done,
        elapsed_s: elapsed.as_secs_f64(),
        exit_status: None,
        cpu: None,
        max_rss_kib: None,
    }
}
