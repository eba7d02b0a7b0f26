//! The shared-counter experiment with the counter in a PostgreSQL table: each worker is a tokio task with its
//! own connection, as an application's requests would be, and the seed's race comes back as the lost update
//! (P4) of the isolation-level literature.
//!
//! By default the binary makes a private cluster (module `server`): `initdb` into a fresh directory, `postgres`
//! on a Unix socket in it (no TCP port), stopped and removed on every way out; run as root, the server runs as
//! the `postgres` user. `--postgres URL` uses a server that is already there (`postgresql://` URL or a
//! `key=value` string; the password from `PGPASSWORD` when the URL has none, as `psql` reads it).
//!
//! The strategies map one to one (module `worker`): racy is BEGIN, SELECT, UPDATE to the value read plus one,
//! COMMIT; mutex the same with SELECT ... FOR UPDATE (a row lock); atomic `UPDATE SET v = v + 1`; sharded the
//! same on a row per worker, summed at the end; optimistic a versioned UPDATE made again when no row changed.
//! `--isolation` sets every transaction's level: at repeatable read and serializable the server refuses one of
//! two overlapping read-then-write transactions (SQLSTATE 40001), which is rolled back, counted and made again.
//!
//! A run's rows live in a table of its own, `counter_lab_<id>`, dropped at the end (`--keep` keeps it); nothing
//! else on the server is touched. Every statement has a timeout on both sides (`statement_timeout` and the
//! client's, `--timeout`): a server that stops answering ends the run with an error naming it, never a hang.
#![warn(missing_docs)]

mod figures;
mod participants;
mod server;
mod table;
mod worker;

use std::{
    os::fd::AsFd as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use counter_client::{
    NotReady,
    participants::{Heartbeat, RendezvousTimeout, Reported, Sharing, participant_tag, shared_configuration},
};
use counter_core::{
    cli::Frontend,
    config::{Abilities, Config, ConfigError, Strategy},
    cpu::CpuUsage,
    error::{Error as CoreError, RunError, RunInterrupted},
    hold,
    latency::Latencies,
    model::Model,
    proc::{
        self,
        limits::{self, LimitError},
        memory,
    },
    report::{Measurements, RunReport, Unsettled, WorkerTally},
    secrets, signals,
    workload::Start,
};
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};

pub use crate::figures::PostgresFigures;
use crate::{
    participants::{Member, PostgresBeat},
    server::PrivateCluster,
    table::Table,
    worker::{Reconnect, Tally, Worker, WorkerError, within},
};

/// The model this crate runs.
pub const MODEL: Model = Model::Postgres;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: false,
        no_pool: Some(counter_client::NO_POOL),
        no_fencing: Some(
            "its lock is a row lock held to COMMIT, or until the holder's connection ends and the server rolls its \
             transaction back: never taken from a holder that is still connected",
        ),
    },
    work_help: counter_client::WORK_HELP,
    words: figures::WORDS,
};

/// Connections a private server allows beyond the workers' (the run's own, and PostgreSQL's reserved ones).
const SPARE_CONNECTIONS: u64 = 10;

/// Descriptors kept for everything but the workers' connections (the runtime, the admin connection, stdio).
const SPARE_DESCRIPTORS: u64 = 64;

/// The runtime thread's stack: the driver's handshake needs more than a small main-thread limit gives.
const RUNTIME_STACK_BYTES: usize = 2 << 20;

/// Clients connecting at the same moment: well under a server's listen backlog.
const CONNECTING_AT_ONCE: usize = 32;

/// The variable that holds the server's password, as `psql` reads it: so that it need not sit in argv.
pub const PASSWORD_VARIABLE: &str = "PGPASSWORD";

/// Why a run produced no report: a reason every frontend shares, or [`PostgresError`].
pub type Error = RunError<PostgresError>;

/// What only this frontend can hit.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// No PostgreSQL to start, and no `--postgres` given.
    #[error(
        "no PostgreSQL server binaries found (pg_config --bindir, /usr/lib/postgresql/<version>/bin, the PATH): \
         install them (`apt-get install postgresql`), or pass --postgres URL to use a server that is already running"
    )]
    NoServer,
    /// The private server did not start.
    #[error("could not start a private PostgreSQL server: {detail}")]
    ServerStart {
        /// What went wrong.
        detail: String,
    },
    /// The hard stack limit is below what a PostgreSQL server starts with.
    #[error("the hard stack limit is {hard_bytes} bytes; a PostgreSQL server needs {needed_bytes}")]
    StackLimit {
        /// The hard `RLIMIT_STACK`.
        hard_bytes: u64,
        /// What the server needs.
        needed_bytes: u64,
    },
    /// The server stopped answering during the run, or answered with an error.
    #[error("the PostgreSQL server ({server}) failed during the run: {detail}")]
    Server {
        /// Which server.
        server: String,
        /// What went wrong.
        detail: String,
    },
    /// The other participants did not all come.
    #[error(transparent)]
    Rendezvous(RendezvousTimeout),
    /// The runtime's thread ended without a result (it panicked).
    #[error("the run's runtime thread ended without a result")]
    RuntimePanicked,
    /// A worker's task ended without a result (it panicked).
    #[error("worker {worker} ended without a result")]
    WorkerPanicked {
        /// The worker.
        worker: u64,
    },
}

/// The isolation level of every transaction of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Isolation {
    /// PostgreSQL's default: each statement sees what was committed before it began.
    #[default]
    ReadCommitted,
    /// A transaction sees one snapshot; an update of a row changed since is refused (40001).
    RepeatableRead,
    /// As repeatable read, and any order of transactions that no serial order could give is refused.
    Serializable,
}

impl Isolation {
    /// Every level, weakest first.
    pub const ALL: [Isolation; 3] = [Isolation::ReadCommitted, Isolation::RepeatableRead, Isolation::Serializable];

    /// Its name in SQL: `read committed`.
    pub const fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }
}

/// How to reach the server, on top of the shared [`Config`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A server to use (`postgresql://` URL or `key=value` string); `None` starts a private one.
    pub url: Option<String>,
    /// The isolation level of every transaction.
    pub isolation: Isolation,
    /// The run's id and its participants.
    pub sharing: Sharing,
    /// Keep the run's table at the end.
    pub keep: bool,
    /// How long connecting, or any statement, may take before the run fails.
    pub timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            url: None,
            isolation: Isolation::default(),
            sharing: Sharing::default(),
            keep: false,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The server to connect to: `text` parsed, the password from [`PASSWORD_VARIABLE`] when it has none.
fn connection_config(text: &str, timeout: Duration) -> Result<tokio_postgres::Config, ConfigError> {
    let mut config: tokio_postgres::Config = text.parse().map_err(|error| {
        ConfigError::Conflict(secrets::redact(&format!(
            "invalid --postgres '{text}': {error} (a postgresql://user@host/db URL or host=... user=... string)"
        )))
    })?;
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(ConfigError::Conflict(secrets::redact(&format!(
            "--postgres '{text}': TLS (sslmode=require) is not built into counter-postgres; use a Unix socket, a \
             server on this machine, or a TLS tunnel to the server"
        ))));
    }
    if config.get_password().is_none()
        && let Ok(password) = std::env::var(PASSWORD_VARIABLE)
        && !password.is_empty()
    {
        config.password(password);
    }
    config.connect_timeout(timeout);
    Ok(config)
}

/// Runs the workload against the counter in PostgreSQL and reports what happened.
pub fn run(config: &Config, options: &PostgresOptions) -> Result<RunReport, Error> {
    if options.timeout.is_zero() {
        return Err(ConfigError::Conflict("--timeout must be longer than 0".to_owned()).into());
    }
    options.sharing.validate(options.url.is_some(), "--postgres")?;
    let more = config.workers().saturating_add(SPARE_DESCRIPTORS);
    if let Ok(Err(limit)) = limits::check_descriptors(more, "a connection per client") {
        return Err(limit.into());
    }
    let private = match &options.url {
        Some(_) => None,
        None => Some(PrivateCluster::start(config.workers() + SPARE_CONNECTIONS).map_err(|error| match error {
            // Nothing to start: the request cannot be met here as it stands (exit 2), and the message says how.
            PostgresError::NoServer => Error::from(ConfigError::Conflict(error.to_string())),
            PostgresError::StackLimit { hard_bytes, needed_bytes } => Error::from(LimitError {
                request: "a private PostgreSQL server".to_owned(),
                limit: "RLIMIT_STACK",
                value: format!("{hard_bytes} bytes (hard)"),
                detail: format!(
                    "the server needs at least {needed_bytes} bytes of stack; raise the hard limit (`ulimit -Hs`), \
                     or pass --postgres URL to use a server that is already running"
                ),
            }),
            other => RunError::Frontend(other),
        })?),
    };
    let (text, server) = match (&private, &options.url) {
        (Some(private), _) => (private.connection_string(), private.describe()),
        (None, Some(url)) => (url.clone(), secrets::redact(url)),
        (None, None) => unreachable!("a private server is started when no URL is given"),
    };
    let connection = connection_config(&text, options.timeout)?;
    let id = options.sharing.id();
    let run = Run {
        config,
        options,
        connection,
        server,
        server_pid: private.as_ref().map(PrivateCluster::pid),
        table: Table::new(&id),
        id,
    };
    // The driver's connection handshake nests deep: the runtime runs on a thread of its own, with a stack of
    // known size, so that a small main-thread limit (`ulimit -s 128`) is not the driver's.
    let outcome = std::thread::scope(|scope| {
        let runtime_thread = std::thread::Builder::new()
            .name("runtime".to_owned())
            .stack_size(RUNTIME_STACK_BYTES)
            .spawn_scoped(scope, || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| {
                    RunError::Frontend(PostgresError::ServerStart { detail: format!("no tokio runtime: {source}") })
                })?;
                let cpu_before = CpuUsage::of_this_process();
                runtime.block_on(Box::pin(run.coordinate(cpu_before)))
            })
            .map_err(|source| {
                RunError::Frontend(PostgresError::ServerStart { detail: format!("no runtime thread: {source}") })
            })?;
        runtime_thread.join().unwrap_or(Err(RunError::Frontend(PostgresError::RuntimePanicked)))
    });
    // The private server stops here, after every connection is closed.
    drop(private);
    outcome
}

/// Connections a served cluster allows: many runs of a few clients each, one after another.
const SERVED_CONNECTIONS: u64 = 200;

/// `--serve`: makes a private cluster, prints the connection string that `--postgres` takes, and keeps the
/// cluster until standard input closes or a stop signal arrives; then stops it and removes it. For a tool that
/// runs this binary many times (`cargo xtask compare`), so that its runs do not each pay for `initdb`.
pub fn serve() -> Result<(), PostgresError> {
    let cluster = PrivateCluster::start(SERVED_CONNECTIONS)?;
    if counter_core::output::print(&format!("{}\n", cluster.connection_string())).is_err() {
        return Ok(());
    }
    let stdin = std::io::stdin();
    loop {
        if signals::received().is_some() {
            return Ok(());
        }
        let mut fds = [nix::poll::PollFd::new(stdin.as_fd(), nix::poll::PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(STOP_CHECK_MS)) {
            // Readable: its end (or input, which is read and ignored) is what is waited for.
            Ok(1..) => {
                let mut buffer = [0_u8; 64];
                if matches!(std::io::Read::read(&mut stdin.lock(), &mut buffer), Ok(0) | Err(_)) {
                    return Ok(());
                }
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return Ok(()),
        }
    }
}

/// How often `--serve` looks for a stop signal, milliseconds.
const STOP_CHECK_MS: u16 = 50;

/// One run's context.
struct Run<'a> {
    config: &'a Config,
    options: &'a PostgresOptions,
    connection: tokio_postgres::Config,
    server: String,
    server_pid: Option<i32>,
    /// The run's id, given (shared) or drawn.
    id: String,
    table: Table,
}

/// Why the coordination stopped.
type Stop = counter_core::error::Stop<Error>;

/// Connects with `config`, drives the connection on the runtime, and sets the session's isolation level and
/// statement timeout.
async fn connect(
    config: &tokio_postgres::Config,
    isolation: Isolation,
    timeout: Duration,
) -> Result<Client, WorkerError> {
    let (client, connection) = within(timeout, config.connect(NoTls)).await?;
    // Ends with an error when the server goes; the client's next request says so.
    tokio::spawn(connection);
    let setup = format!(
        "SET default_transaction_isolation = '{}'; SET statement_timeout = {}",
        isolation.sql(),
        timeout.as_millis()
    );
    within(timeout, client.batch_execute(&setup)).await?;
    Ok(client)
}

impl Run<'_> {
    /// A first connection: an error here is about the request (a refused connection, a wrong password), exit 2.
    async fn connect_first(&self) -> Result<Client, Error> {
        let mut config = self.connection.clone();
        config.application_name("counter-lab");
        connect(&config, self.options.isolation, self.options.timeout).await.map_err(|error| {
            ConfigError::Conflict(secrets::redact(&format!(
                "could not use the PostgreSQL server {}: {error} (is the server running, and are the address and \
                 the credentials right?)",
                self.server
            )))
            .into()
        })
    }

    fn failed(&self, error: &WorkerError) -> Error {
        RunError::Frontend(PostgresError::Server {
            server: self.server.clone(),
            detail: secrets::redact(&error.to_string()),
        })
    }

    /// What every participant of a run must share, as the claim records it.
    fn shared_configuration(&self) -> String {
        let isolation = format!("--isolation {}", self.options.isolation.sql().replace(' ', "-"));
        shared_configuration(self.config, self.options.sharing.participants, &isolation)
    }

    async fn coordinate(&self, cpu_before: CpuUsage) -> Result<RunReport, Error> {
        let admin = self.connect_first().await?;
        let timeout = self.options.timeout;
        let tag = participant_tag();
        let member = self.claim(&admin, &tag).await?;
        let heartbeat = self.options.sharing.is_shared().then(|| {
            let mut connection = self.connection.clone();
            connection.application_name("counter-lab");
            Heartbeat::start(PostgresBeat {
                connection,
                isolation: self.options.isolation,
                members: self.table.members_quoted(),
                tag: tag.clone(),
                timeout,
                client: None,
            })
        });
        let outcome = self.measure(&admin, &member, heartbeat, cpu_before).await;
        if !self.options.sharing.is_shared() {
            // Alone, the table goes whatever happened (unless kept). A server that is gone cannot be cleaned,
            // and that is no new error.
            if !self.options.keep {
                let _ = within(timeout, admin.batch_execute(&self.table.drop_statement())).await;
            }
        } else if outcome.is_err() {
            // A participant that stopped or failed is gone, not paused: the others need not wait for it.
            self.abandon(&admin, &tag).await;
        }
        match outcome {
            Ok(report) => Ok(report),
            Err(Stop::Failed(error)) => Err(error),
            Err(Stop::Signal(signal)) => {
                let report =
                    RunReport::new(MODEL, self.config, Measurements { stopped: true, ..Measurements::default() });
                Err(RunInterrupted { signal, partial: Box::new(report) }.into())
            }
        }
    }

    /// The private server's processes (the postmaster and its children), summed PSS, KiB.
    fn server_pss_kib(&self) -> Option<u64> {
        let tree = proc::process_tree(self.server_pid?).ok()?;
        memory::snapshot(&tree, "the server").ok().map(|snapshot| snapshot.pss_kib)
    }

    /// The backend processes of this run's connections, as `/proc` shows them: (count, mean PSS, mean USS).
    async fn backends(&self, admin: &Client, prefix: &str) -> Result<(u64, Option<f64>, Option<f64>), Error> {
        let rows = within(
            self.options.timeout,
            admin.query("SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1", &[&format!("{prefix}-%")]),
        )
        .await
        .map_err(|error| self.failed(&error))?;
        let measured: Vec<memory::ProcessMemory> = rows
            .iter()
            .filter_map(|row| row.try_get::<_, i32>(0).ok())
            .filter_map(|pid| memory::of_process(pid).ok())
            .collect();
        if measured.is_empty() {
            return Ok((0, None, None));
        }
        let count = measured.len() as f64;
        let mean = |figure: fn(&memory::ProcessMemory) -> u64| measured.iter().map(figure).sum::<u64>() as f64 / count;
        Ok((measured.len() as u64, Some(mean(|m| m.pss_kib)), Some(mean(|m| m.uss_kib))))
    }

    #[allow(clippy::too_many_lines)]
    async fn measure(
        &self,
        admin: &Client,
        member: &Member,
        heartbeat: Option<Heartbeat>,
        cpu_before: CpuUsage,
    ) -> Result<RunReport, Stop> {
        let config = self.config;
        let workers = config.workers();
        // The participant's tag (its pid first): `pg_stat_activity` tells this participant's connections apart.
        let prefix = format!("counter-lab-{}", member.tag);
        let server_pss_before_kib = self.server_pss_kib();
        let started = Instant::now();
        let (start_tx, start_rx) = watch::channel(Start::Waiting);
        let ready = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        let connecting = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
        let job = Arc::new((config.clone(), self.table.clone()));
        let shard_base = member.shard_base;
        for index in 0..workers {
            let mut connection = self.connection.clone();
            connection.application_name(format!("{prefix}-{index}"));
            let (isolation, timeout, job) = (self.options.isolation, self.options.timeout, Arc::clone(&job));
            let (start, ready, connecting) = (start_rx.clone(), Arc::clone(&ready), Arc::clone(&connecting));
            tasks.spawn(Box::pin(async move {
                let permit = connecting.acquire_owned().await;
                let client = connect(&connection, isolation, timeout).await?;
                let (config, table) = &*job;
                let reconnect =
                    Reconnect { connection: connection.clone(), isolation, patience: reconnect_patience(timeout) };
                let worker =
                    Worker::prepare(client, (config, table), shard_base + index, timeout, reconnect, start.clone())
                        .await?;
                drop(permit);
                ready.fetch_add(1, Ordering::Relaxed);
                let mut start = start;
                let go = start.wait_for(|start| *start != Start::Waiting).await.map(|start| *start).ok();
                if go != Some(Start::Go) {
                    return Ok((index, Tally::default()));
                }
                worker.run().await.map(|tally| (index, tally))
            }));
        }
        // Every worker connected, or the first failure.
        match counter_client::until_connected(&mut tasks, &ready, workers, &start_tx).await {
            Ok(()) => {}
            Err(NotReady::Signal(signal)) => return Err(Stop::Signal(signal)),
            Err(NotReady::Failed(error)) => return Err(Stop::Failed(self.failed(&error))),
            Err(NotReady::Panicked { ready }) => {
                let worker = workers.saturating_sub(ready);
                return Err(Stop::Failed(RunError::Frontend(PostgresError::WorkerPanicked { worker })));
            }
        }
        let start_time = started.elapsed();
        // The tree, as ps and smem see it: this client process, and the private server's processes (if any).
        let mut pids = vec![std::process::id() as i32];
        if let Some(server) = self.server_pid {
            pids.extend(proc::process_tree(server).unwrap_or_else(|_| vec![server]));
        }
        let taken = format!("all {workers} clients connected, before they started");
        let client_memory =
            memory::snapshot(&pids, taken).map_err(|error| Stop::Failed(CoreError::Probe(error).into()))?;
        let server_pss_with_clients = self.server_pss_kib();
        let (backends_measured, pss_per_backend, uss_per_backend) = self.backends(admin, &prefix).await?;
        if let Some(hold_for) = config.hold() {
            let server_try = self.server_pid.map_or_else(
                || "psql -c 'SELECT pid, application_name FROM pg_stat_activity'".to_owned(),
                |server| format!("ps -o pid,rss,cmd --ppid {server}"),
            );
            counter_client::announce_hold(MODEL, hold_for, workers, (self.server_pid, &self.server), server_try);
            let held = counter_client::hold(hold_for).await;
            if let hold::Outcome::Signal(signal) = held {
                let _ = start_tx.send(Start::Abort);
                return Err(Stop::Signal(signal));
            }
        }
        self.rendezvous(admin, &member.tag).await.inspect_err(|_| {
            let _ = start_tx.send(Start::Abort);
        })?;
        let go = Instant::now();
        let _ = start_tx.send(Start::Go);
        let mut tallies: Vec<(u64, Tally)> = Vec::with_capacity(usize::try_from(workers).unwrap_or(0));
        let mut failure = None;
        while let Some(joined) = counter_client::next_or_stop(&mut tasks, &start_tx).await {
            match joined {
                Ok(Ok(done)) => tallies.push(done),
                Ok(Err(error)) => {
                    // The first failure ends the run: the others are told to stop.
                    let _ = start_tx.send(Start::Abort);
                    failure.get_or_insert_with(|| self.failed(&error));
                }
                Err(_) => {
                    failure.get_or_insert(RunError::Frontend(PostgresError::WorkerPanicked {
                        worker: tallies.len() as u64,
                    }));
                }
            }
        }
        let wall_time = go.elapsed();
        if let Some(error) = failure {
            return Err(Stop::Failed(error));
        }
        tallies.sort_by_key(|(index, _)| *index);
        let done: u64 = tallies.iter().map(|(_, tally)| tally.increments_done).sum();
        let unsettled = Unsettled {
            failed: tallies.iter().map(|(_, tally)| tally.failed).sum(),
            indeterminate: tallies.iter().map(|(_, tally)| tally.indeterminate).sum(),
        };
        let local = Reported { done, expected: config.expected(), unsettled };
        let met = self.meet_at_the_end(admin, &member.tag, &local).await?;
        // Read once every participant has finished (or gone unheard), before any leaves.
        let final_value: i64 = within(self.options.timeout, admin.query_one(&self.table.total(), &[]))
            .await
            .and_then(|row| row.try_get(0).map_err(WorkerError::Server))
            .map_err(|error| Stop::Failed(self.failed(&error)))?;
        if let Some(heartbeat) = heartbeat {
            heartbeat.stop().await;
            self.leave(admin, &member.tag, met.last_out_after).await?;
        }
        let mut latencies = Latencies::default();
        let mut worker_reports = WorkerTally::with_capacity(workers);
        let (mut round_trips, mut serialization_failures, mut version_conflicts, mut lock_waits) = (0, 0, 0, 0);
        for (index, tally) in &tallies {
            latencies.merge(&tally.latencies);
            round_trips += tally.round_trips;
            serialization_failures += tally.serialization_failures;
            version_conflicts += tally.version_conflicts;
            lock_waits += tally.lock_waits;
            worker_reports.push(counter_client::worker_report(*index, tally.increments_done, tally.elapsed));
        }
        let stopped = signals::received();
        let figures = PostgresFigures {
            server: self.server.clone(),
            isolation: self.options.isolation.sql().to_owned(),
            table: self.table.name().to_owned(),
            round_trips,
            round_trips_per_increment: round_trips as f64 / done.max(1) as f64,
            latency_median_us: latencies.quantile_us(0.5),
            latency_p99_us: latencies.quantile_us(0.99),
            latency_max_us: latencies.max_us(),
            serialization_failures,
            version_conflicts,
            lock_waits,
            reconnections: tallies.iter().map(|(_, tally)| tally.reconnections).sum(),
            backends_measured,
            backend_pss_kib: pss_per_backend,
            backend_uss_kib: uss_per_backend,
            server_pss_before_kib,
            server_pss_added_bytes: server_pss_before_kib
                .zip(server_pss_with_clients)
                .map(|(before, with)| (with as i64 - before as i64) * 1024),
        };
        let measured = Measurements {
            final_value: u64::try_from(final_value).unwrap_or(0),
            wall_time,
            start_time,
            cpu: CpuUsage::of_this_process().since(cpu_before),
            memory: client_memory,
            peak_rss_kib: memory::peak_rss_kib(pids[0]).ok(),
            // The compare-and-swap strategy's own retries; refused transactions are the server's figure.
            retries: (config.strategy() == Strategy::Optimistic).then_some(version_conflicts),
            extension: Some(figures.extension(config.strategy())),
            others: met.others,
            unsettled: Some(unsettled),
            workers: worker_reports,
            stopped: stopped.is_some(),
            notes: notes(config, self.options),
            ..Measurements::default()
        };
        let report = RunReport::new(MODEL, config, measured);
        match stopped {
            Some(signal) => Err(Stop::Failed(RunInterrupted { signal, partial: Box::new(report) }.into())),
            None => Ok(report),
        }
    }
}

/// How long a worker whose connection broke keeps trying to connect again before the run fails: a server that
/// stalls or whose backend was terminated is back within it; one that is gone is named within seconds.
fn reconnect_patience(timeout: Duration) -> Duration {
    (timeout * 2).max(Duration::from_secs(2))
}

/// What this run's choices mean, for the report.
fn notes(config: &Config, options: &PostgresOptions) -> Vec<String> {
    let mut notes = vec![format!(
        "each worker is a tokio task with its own connection, served by a backend process of the server; every \
         transaction at {}; memory is the tree's: this client process and the private server's processes, if any",
        options.isolation.sql()
    )];
    notes.push(
        match config.strategy() {
            Strategy::Racy => {
                "racy is BEGIN, SELECT v, UPDATE to the value read plus one, COMMIT: the window is a round trip, and \
                 what isolation level lets through"
            }
            Strategy::Mutex | Strategy::Fenced => {
                "mutex is SELECT ... FOR UPDATE, a row lock held to COMMIT; pg_advisory_xact_lock is the other common \
                 lock, not offered here: it locks the same way, on a number instead of a row"
            }
            Strategy::Atomic => "atomic is UPDATE SET v = v + 1: the server reads and writes the row",
            Strategy::Sharded => "sharded is UPDATE SET v = v + 1 on a row per worker, summed at the end",
            Strategy::Optimistic => {
                "optimistic is SELECT v, version, then UPDATE ... WHERE version = <read>; no row changed means \
                 another wrote first, and the read and the write are made again"
            }
        }
        .to_owned(),
    );
    if options.sharing.is_shared() {
        notes.push(
            "the participants meet in the server's tables (the counter's and its members'); PostgreSQL has no time to \
             live: the tables of a run whose participant never reported stay until dropped by hand, and the next \
             claim of the run id names them"
                .to_owned(),
        );
    }
    if options.isolation != Isolation::ReadCommitted {
        notes.push(
            "a transaction refused with SQLSTATE 40001 (or 40P01) is rolled back and made again, and counted under \
             refused"
                .to_owned(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_connection_string_is_refused_without_its_password() {
        let error = connection_config("postgresql://u:sekrit@host:notaport/db", Duration::from_secs(1)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("invalid --postgres") && !message.contains("sekrit"), "{message}");
    }

    #[test]
    fn tls_is_refused_saying_so() {
        let error = connection_config("host=db sslmode=require password=sekrit", Duration::from_secs(1)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("TLS") && !message.contains("sekrit"), "{message}");
    }

    #[test]
    fn the_password_comes_from_the_url_before_the_environment() {
        let config = connection_config("postgresql://u:given@localhost/db", Duration::from_secs(1)).unwrap();
        assert_eq!(config.get_password(), Some(&b"given"[..]));
    }
}
