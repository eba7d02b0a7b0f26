//! What the models whose workers are tokio tasks, each a client of a server that holds the counter, share: a
//! worker's simulated work, which a stop wakes at once (the coordinator turns the start line to
//! [`Start::Abort`]; no worker wakes up on a timer of its own to look), and the coordinator's waits: for the next
//! worker to end while it watches for a stop signal, and `--hold` on the runtime.
//!
//! A private server, started for one run, lives in a directory of its own (module [`server_dir`]).
//!
//! It knows no store: a model's crate starts its server, makes the connections and carries the strategies out.
#![warn(missing_docs)]

pub mod server_dir;

use std::{
    task::Poll,
    time::{Duration, Instant},
};

use counter_core::{
    config::{Hold, Timer, Work},
    hold::{Holding, Outcome},
    signals,
    workload::{Performed, STOP_CHECK_INTERVAL, SleepPacer, Start},
};
use tokio::{
    sync::watch,
    task::{JoinError, JoinSet},
};

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
