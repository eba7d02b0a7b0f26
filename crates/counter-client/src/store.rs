//! What a store is to the coordinator: the [`Store`] trait, which a server model implements with only what is
//! its own (its connections, each strategy's commands in its [`Worker`], the participants' record in its own
//! terms, its server's figures), and what every client worker counts ([`Counted`]).
//!
//! The coordinator (module `coordinator`) drives it, the same way for every store: connect the clients a few
//! at a time, measure, hold, meet the other participants, go, join with one failure policy, meet again, read
//! the total, leave, report.

use std::{future::Future, time::Duration};

use counter_core::{
    config::{Config, Window},
    extension::Extension,
    latency::Latencies,
    model::Model,
    report::Unsettled,
    trace::{StepLog, Tracer as _},
    workload::{Performed, Start},
};
use tokio::sync::watch;

use crate::{
    Pacing,
    error::Error,
    participants::{Beat, Reported, Sharing},
};

/// What a store's worker counts beyond what every client worker counts (lock waits, refused transactions):
/// added up over the workers at the end.
pub trait Counts: Default + Send + 'static {
    /// Adds `other`'s counts to these.
    fn add(&mut self, other: &Self);
}

impl Counts for () {
    fn add(&mut self, (): &()) {}
}

/// A store's own counts: a struct of `u64` fields, each added up over the workers.
#[macro_export]
macro_rules! counts {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$field_meta:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $($(#[$field_meta])* pub(crate) $field: u64,)*
        }

        impl $crate::store::Counts for $name {
            fn add(&mut self, other: &Self) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

/// What one client worker counted: what every store's worker counts, and the store's own `C`.
#[derive(Debug, Default)]
pub struct Counted<C> {
    /// Increments acknowledged by the server.
    pub increments_done: u64,
    /// From the start to the worker's last increment.
    pub elapsed: Duration,
    /// Requests to the server, each one round trip.
    pub round_trips: u64,
    /// Their latencies.
    pub latencies: Latencies,
    /// Increments refused by the server, or never sent (the connection was gone).
    pub failed: u64,
    /// Increments whose write was sent and never answered: applied or not, nobody knows.
    pub indeterminate: u64,
    /// Connections made again after one broke.
    pub reconnections: u64,
    /// The store's own counts.
    pub own: C,
    /// `--trace`: the worker's steps.
    pub trace: Option<StepLog>,
}

impl<C> Counted<C> {
    /// Increments attempted so far, whatever became of them.
    pub fn attempts(&self) -> u64 {
        self.increments_done + self.failed + self.indeterminate
    }

    /// One round trip that took `elapsed`.
    pub fn round_trip(&mut self, elapsed: Duration) {
        self.latencies.record(elapsed);
        self.round_trips += 1;
    }
}

/// What a participant's workers counted, added up.
#[derive(Debug, Default)]
pub struct Totals<C> {
    /// Increments acknowledged.
    pub done: u64,
    /// Round trips.
    pub round_trips: u64,
    /// Their latencies.
    pub latencies: Latencies,
    /// Increments failed or indeterminate.
    pub unsettled: Unsettled,
    /// Connections made again.
    pub reconnections: u64,
    /// The store's own counts.
    pub own: C,
    /// `--trace`: every worker's steps.
    pub traces: Vec<StepLog>,
}

impl<C: Counts> Totals<C> {
    /// Adds one worker's counts (taking its steps).
    pub fn add(&mut self, counted: &mut Counted<C>) {
        self.traces.extend(counted.trace.take());
        self.done += counted.increments_done;
        self.round_trips += counted.round_trips;
        self.latencies.merge(&counted.latencies);
        self.unsettled.failed += counted.failed;
        self.unsettled.indeterminate += counted.indeterminate;
        self.reconnections += counted.reconnections;
        self.own.add(&counted.own);
    }

    /// Round trips per increment acknowledged.
    pub fn round_trips_per_increment(&self) -> f64 {
        self.round_trips as f64 / self.done.max(1) as f64
    }

    /// The round trips' latency, microseconds: median, p99, max.
    pub fn latency_us(&self) -> [f64; 3] {
        [self.latencies.quantile_us(0.5), self.latencies.quantile_us(0.99), self.latencies.max_us()]
    }
}

/// One client worker as the shared loop ([`run_attempts`]) drives it: its increments one at a time, each ending
/// acknowledged, failed or indeterminate, and its way back after an error. A store's worker is only this: each
/// strategy's commands, and what a broken connection means to it.
pub trait Attempts: Send {
    /// The store's own counts.
    type Counts: Counts;
    /// Why it could not go on.
    type Error: Send;

    /// The workload.
    fn config(&self) -> &Config;
    /// What it has done so far, and its pacing.
    fn progress(&mut self) -> &mut Progress<Self::Counts>;
    /// One increment by the run's strategy, its work inside when `inside`.
    fn attempt(&mut self, inside: bool) -> impl Future<Output = Result<Performed, Self::Error>> + Send;
    /// After an attempt failed with `error`: goes on (connected again, within its patience, if the connection
    /// broke), or returns the error it could not get past.
    fn recover(&mut self, error: Self::Error) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// One piece of the workload's work.
    fn work(&mut self) -> impl Future<Output = Performed> + Send {
        let work = self.config().work();
        self.progress().pacing.work(work)
    }
}

/// What every client worker keeps beside its connection: its counts, its pacing, and whether the last attempt's
/// write (or its COMMIT) was sent, so that an error after it leaves the increment indeterminate.
#[derive(Debug)]
pub struct Progress<C> {
    /// What it counted so far.
    pub tally: Counted<C>,
    /// Its work, which a stop wakes at once.
    pub pacing: Pacing,
    /// The last attempt's write was sent.
    pub writing: bool,
}

impl<C: Counts> Progress<C> {
    /// Nothing done yet by worker `index`, paced by `config`'s timer, stopped through `start`; its steps logged
    /// when the run is traced.
    pub fn new(config: &Config, index: u64, start: watch::Receiver<Start>) -> Progress<C> {
        // A run has far fewer workers than u32 numbers.
        let trace = config.trace().map(|limit| StepLog::new(index as u32, limit, config.increments()));
        let tally = Counted { trace, ..Counted::default() };
        Progress { tally, pacing: Pacing::new(config.timer(), start), writing: false }
    }

    /// The clock, when the run is traced: when a read had happened.
    pub fn clock(&self) -> u64 {
        if self.tally.trace.is_some() { counter_core::trace::now_ns() } else { 0 }
    }

    /// Records an increment whose read had happened at `read_ns` and whose write of `wrote` (over `overwrote`,
    /// where the store said) has now been acknowledged (`--trace`).
    pub fn record(&mut self, wrote: u64, overwrote: Option<u64>, read_ns: u64) {
        if let Some(trace) = &mut self.tally.trace {
            trace.record(wrote, overwrote, read_ns, counter_core::trace::now_ns());
        }
    }
}

/// Runs `worker`'s workload until every increment was attempted, or a stop; each attempt ends acknowledged,
/// failed (refused, or not sent) or indeterminate (sent, unanswered).
pub async fn run_attempts<A: Attempts>(mut worker: A) -> Result<Counted<A::Counts>, A::Error> {
    let started = std::time::Instant::now();
    let (increments, window) = (worker.config().increments(), worker.config().window());
    while worker.progress().tally.attempts() < increments && !crate::should_stop() {
        if window == Window::Before && worker.work().await == Performed::Interrupted {
            break;
        }
        match worker.attempt(window == Window::Inside).await {
            Ok(Performed::Finished) => worker.progress().tally.increments_done += 1,
            Ok(Performed::Interrupted) => break,
            Err(error) => {
                let progress = worker.progress();
                if progress.writing {
                    progress.tally.indeterminate += 1;
                } else {
                    progress.tally.failed += 1;
                }
                worker.recover(error).await?;
            }
        }
    }
    let tally = &mut worker.progress().tally;
    tally.elapsed = started.elapsed();
    Ok(std::mem::take(tally))
}

/// What every client model measures of its round trips, flattened into its figures (the same field names in
/// every model's report).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundTrips {
    /// Round trips to the server made by this participant's workers during the run.
    pub round_trips: u64,
    /// Round trips per increment done.
    pub round_trips_per_increment: f64,
    /// Latency of one round trip, microseconds: median.
    pub latency_median_us: f64,
    /// 99th percentile.
    pub latency_p99_us: f64,
    /// The slowest.
    pub latency_max_us: f64,
    /// Connections made again after one broke (killed, or a server that stopped answering).
    #[serde(default)]
    pub reconnections: u64,
}

impl RoundTrips {
    /// The round trips of `totals`.
    pub fn of<C: Counts>(totals: &Totals<C>) -> RoundTrips {
        let [latency_median_us, latency_p99_us, latency_max_us] = totals.latency_us();
        RoundTrips {
            round_trips: totals.round_trips,
            round_trips_per_increment: totals.round_trips_per_increment(),
            latency_median_us,
            latency_p99_us,
            latency_max_us,
            reconnections: totals.reconnections,
        }
    }

    /// `extension` with the report's line of round trips.
    pub fn line(&self, extension: Extension) -> Extension {
        let line = crate::round_trips_line(
            self.round_trips,
            self.round_trips_per_increment,
            [self.latency_median_us, self.latency_p99_us, self.latency_max_us],
        );
        extension.line("round trips", line)
    }

    /// `extension` with the report's line of connections made again, when there were any.
    pub fn reconnections_line(&self, extension: Extension) -> Extension {
        match crate::reconnections_line(self.reconnections) {
            Some(line) => extension.line("connections", line),
            None => extension,
        }
    }
}

/// A client worker, connected and prepared, waiting for the start.
pub trait Worker: Send + 'static {
    /// The store's own counts.
    type Counts: Counts;
    /// Why it could not go on (after trying to connect again, where the store does).
    type Error: Send + 'static;

    /// Runs the workload until every increment was attempted, or a stop.
    fn run(self) -> impl Future<Output = Result<Counted<Self::Counts>, Self::Error>> + Send;
}

/// Every store's worker is its attempts, run by the one loop ([`run_attempts`]).
impl<A: Attempts + 'static> Worker for A
where
    A::Error: 'static,
{
    type Counts = A::Counts;
    type Error = A::Error;

    fn run(self) -> impl Future<Output = Result<Counted<A::Counts>, A::Error>> + Send {
        run_attempts(self)
    }
}

/// What a worker's task carries until it has connected (a client, its settings): small, so that the task's
/// future, which holds it for its whole life, is no larger than the connecting or the running, whichever is the
/// larger (what a client costs is measured).
pub trait Connect: Send + 'static {
    /// The worker it makes.
    type Worker: Worker;

    /// Connects and prepares the worker; it starts when `start` says so.
    fn connect(
        self,
        start: watch::Receiver<Start>,
    ) -> impl Future<Output = Result<Self::Worker, <Self::Worker as Worker>::Error>> + Send;
}

/// A store whose data needs no keeping while the workers run.
#[derive(Debug)]
pub struct NoKeeper;

impl Beat for NoKeeper {
    async fn beat(&mut self) {}
}

/// Why a coordination stopped early.
pub type Stop = counter_core::error::Stop<Error>;

/// Who the run's members are in the shared record, at a look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roll {
    /// Workers of the members that are ready, over every participant.
    pub ready_workers: u64,
    /// Members whose heartbeat lapsed without their leaving.
    pub stopped: u64,
}

/// One member's entry at the end: its report (read back only if it adds up), or whether it went unheard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What it reported, if it did and it adds up.
    pub reported: Option<Reported>,
    /// Not reported, and not heard from (its heartbeat lapsed, or it left without a report).
    pub unheard: bool,
}

/// What the coordinator reads of a run, the same for every store.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The model.
    pub model: Model,
    /// The workload.
    pub config: &'a Config,
    /// The run's sharing.
    pub sharing: &'a Sharing,
    /// The run's id.
    pub run_id: &'a str,
    /// Whether the run's data is kept at the end (`--keep`).
    pub keep: bool,
    /// The server as the report names it (never with a credential).
    pub server: &'a str,
    /// The server's pid, when it is ours.
    pub server_pid: Option<i32>,
    /// How long a request may take (`--timeout`).
    pub timeout: Duration,
}

impl<'a> Plan<'a> {
    /// A run's plan from what every store's run is asked (`options`) and what it found (its id, its server).
    pub fn of(
        model: Model,
        config: &'a Config,
        options: &'a crate::options::ServerOptions,
        (run_id, server, server_pid): (&'a str, &'a str, Option<i32>),
    ) -> Plan<'a> {
        Plan {
            model,
            config,
            sharing: &options.sharing,
            run_id,
            keep: options.keep,
            server,
            server_pid,
            timeout: options.timeout,
        }
    }
}

/// The run's shared record, in a store's own terms: what the participants of a run meet in (claimed, joined,
/// ready, reported, left), and the counter's value. The protocol (who waits for whom, when the data goes) is the
/// coordinator's.
#[allow(async_fn_in_trait)]
pub trait Record {
    /// The coordinator's own connection.
    type Admin;
    /// This participant's place in the run (its tag, where its shards begin, what its workers share).
    type Member;

    /// Says this member's workers are ready (shared runs).
    async fn say_ready(&self, admin: &mut Self::Admin, member: &Self::Member) -> Result<(), Error>;
    /// The members' readiness (shared runs).
    async fn roll(&self, admin: &mut Self::Admin) -> Result<Roll, Error>;
    /// Takes this member out of a run that has not started; returns the members left.
    async fn withdraw(&self, admin: &mut Self::Admin, member: &Self::Member) -> Option<u64>;
    /// Makes the counter ready to be written, just before the start.
    async fn prepare_counter(&self, admin: &mut Self::Admin) -> Result<(), Error>;
    /// Records this member's report (shared runs).
    async fn report(&self, admin: &mut Self::Admin, member: &Self::Member, local: &Reported) -> Result<(), Error>;
    /// Every member's entry (shared runs).
    async fn entries(&self, admin: &mut Self::Admin) -> Result<Vec<Entry>, Error>;
    /// The counter's value (the shards summed).
    async fn final_value(&self, admin: &mut Self::Admin) -> Result<u64, Error>;
    /// Says this member has left, with its report or without; returns how many members have left and how many
    /// there are.
    async fn leave(&self, admin: &mut Self::Admin, member: &Self::Member) -> Result<(u64, u64), Error>;
    /// Removes the run's data from the server; what it could not remove, named.
    async fn remove_run(&self, admin: &mut Self::Admin) -> Result<(), String>;
}

/// A store, as the coordinator drives it. Its methods are only what is the store's own: connecting, the
/// workers (each strategy's commands), the run's shared record (claimed, joined, ready, reported, left), the
/// server's figures and the words of its report. Every method that talks to the server has a deadline.
///
/// The coordinator runs on a current-thread runtime (`block_on`), so the futures of the methods that take the
/// coordinator's own connection need not be `Send`; what runs on tasks of its own (the workers, the heartbeat)
/// is.
#[allow(async_fn_in_trait)]
pub trait Store: Record + Sync {
    /// A connected worker.
    type Worker: Worker;
    /// What a worker's task carries until it has connected.
    type Connector: Connect<Worker = Self::Worker>;
    /// The server's figures, taken before the clients connect and completed once they have.
    type Probe;
    /// A participant's heartbeat, on a connection of its own.
    type Beat: Beat;
    /// What keeps the run's data in order while the workers run, every beat ([`NoKeeper`] where nothing needs
    /// it).
    type Keeper: Beat;

    /// Clients connecting at once: under the server's listen backlog.
    const CONNECTING_AT_ONCE: usize = 32;

    /// What the coordinator reads of the run: the same for every store.
    fn plan(&self) -> Plan<'_>;
    /// The server's processes, when it is ours, for the memory of the run's tree: its one process, unless the
    /// store knows more.
    fn server_processes(&self) -> Vec<i32> {
        self.plan().server_pid.into_iter().collect()
    }
    /// The command `--hold` suggests to look at the server.
    fn hold_try(&self) -> String;

    /// The coordinator's connection: an error here is about the request (a refused connection, a wrong
    /// password), exit 2.
    async fn connect(&self) -> Result<Self::Admin, Error>;
    /// Whether `admin` answers a request within the run's deadline.
    async fn answers(&self, admin: &mut Self::Admin) -> bool;
    /// A new connection of the coordinator's; its error, the server's failure.
    async fn connect_again(&self) -> Result<Self::Admin, Error>;
    /// How long a broken connection is tried again before the run fails: by default
    /// [`reconnect_patience`](crate::reconnect_patience) of the run's timeout.
    fn patience(&self) -> Duration {
        crate::reconnect_patience(self.plan().timeout)
    }

    /// `admin` answering: as it is, or connected again; `patient`, tried again within [`Store::patience`],
    /// else once (to clean up after a failure, without waiting for a server that is gone).
    async fn reconnect(&self, admin: &mut Self::Admin, patient: bool) -> Result<(), Error> {
        if self.answers(admin).await {
            return Ok(());
        }
        let deadline = std::time::Instant::now() + if patient { self.patience() } else { Duration::ZERO };
        loop {
            match self.connect_again().await {
                Ok(connection) => {
                    *admin = connection;
                    return Ok(());
                }
                Err(error) if std::time::Instant::now() >= deadline => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    /// Claims the run id, or joins the run that claimed it (strangers and full or ended runs refused, exit 2).
    async fn claim(&self, admin: &mut Self::Admin, tag: &str) -> Result<Self::Member, Error>;
    /// The server's figures before the clients connect.
    async fn probe(&self, admin: &mut Self::Admin) -> Result<Self::Probe, Error>;
    /// What worker `index` carries to its task to connect there.
    fn connector(&self, member: &Self::Member, index: u64) -> Self::Connector;
    /// What a worker's error means for the run (the server's client limit, say).
    async fn worker_failed(&self, admin: &mut Self::Admin, error: <Self::Worker as Worker>::Error) -> Error;
    /// The server's figures once every client is connected.
    async fn probe_clients(
        &self,
        admin: &mut Self::Admin,
        member: &Self::Member,
        probe: &mut Self::Probe,
    ) -> Result<(), Error>;
    /// The member's heartbeat.
    fn beat(&self, member: &Self::Member) -> Self::Beat;
    /// The keeper of the run's data while the workers run, if the store needs one (none by default: data that
    /// outlives no deadline of its own needs no keeping).
    fn keeper(&self) -> Option<Self::Keeper> {
        None
    }

    /// This model's figures, for the report's extension.
    fn figures(
        &self,
        member: &Self::Member,
        probe: Self::Probe,
        totals: &Totals<<Self::Worker as Worker>::Counts>,
    ) -> Extension;
    /// The strategy's retries, where it has them.
    fn retries(&self, totals: &Totals<<Self::Worker as Worker>::Counts>) -> Option<u64>;
    /// Attempts the server refused and the worker made again: the collisions it prevented (`--trace`).
    fn prevented(&self, _totals: &Totals<<Self::Worker as Worker>::Counts>) -> Option<u64> {
        None
    }
    /// What this run's choices mean, for the report.
    fn notes(&self) -> Vec<String>;
}
