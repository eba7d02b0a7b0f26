//! The shared-counter experiment with the counter in Redis: each worker is a tokio task with its own connection,
//! as a client on another machine would be, and the seed's race comes back at network scale.
//!
//! By default the binary starts a private `redis-server` (module `server`) on a Unix socket in a fresh directory,
//! with no TCP port and no persistence, and stops it on every way out; `--redis URL` uses a server that is
//! already there (`redis://` or `unix://`, credentials in the URL). The strategies map one to one (module `worker`):
//! racy is GET then SET (the window is a round trip), mutex a lock key taken with `SET NX PX` and released with a
//! compare-and-delete script, atomic is INCR, sharded HINCRBY on a field per worker, optimistic
//! WATCH / GET / MULTI / SET / EXEC retried when EXEC fails.
//!
//! With `--run-id ID --participants N`, N copies of the binary, on any machines that reach the same server,
//! meet in Redis: every worker of every participant is connected before any starts, each participant prints
//! its own report, and the counts (final value, lost updates) are over all of them. A run's keys live under
//! `counter-lab:<run-id>:` and are removed at the end (`--keep` keeps them); nothing else on the server is
//! touched.
//!
//! Every command has a timeout (`--timeout`): a server that stops answering ends the run with an error naming
//! it, never a hang. TLS (`rediss://`) is not built in: such a URL is refused, saying so.
#![warn(missing_docs)]

mod figures;
mod keys;
mod participants;
mod server;
mod worker;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use counter_client::NotReady;
use counter_client::participants::{
    Heartbeat, RendezvousTimeout, Reported, Sharing, participant_tag, shared_configuration,
};
use counter_core::{
    cli::Frontend,
    config::{Abilities, Config, ConfigError, Strategy},
    cpu::CpuUsage,
    error::{Error as CoreError, RunError, RunInterrupted},
    hold,
    latency::Latencies,
    model::Model,
    proc::{limits::LimitError, memory},
    report::{Measurements, RunReport, Unsettled, WorkerTally},
    secrets, signals,
    workload::Start,
};
use redis::{AsyncConnectionConfig, Client, aio::MultiplexedConnection};
use tokio::sync::watch;

pub use crate::figures::RedisFigures;
use crate::{
    keys::Keys,
    participants::RedisBeat,
    server::PrivateServer,
    worker::{Job, Tally, Worker},
};

/// The model this crate runs.
pub const MODEL: Model = Model::Redis;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: false,
        no_pool: Some(counter_client::NO_POOL),
        no_fencing: None,
    },
    work_help: counter_client::WORK_HELP,
    words: figures::WORDS,
};

/// Descriptors kept for everything but the workers' connections (the runtime, the admin connection, stdio).
const SPARE_DESCRIPTORS: u64 = 64;

/// The mutex strategy's lock needs this major version of Redis or a later one.
const MUTEX_NEEDS_MAJOR: u32 = 7;

/// Whether a server of `version` (`7.0.15`) has `SET ... NX GET`.
fn has_set_nx_get(version: &str) -> bool {
    version
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= MUTEX_NEEDS_MAJOR)
}

/// A `field:value` line of `INFO`'s answer.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':')).map(str::trim)
}

/// Clients connecting at the same moment: well under a server's listen backlog (511 by default).
const CONNECTING_AT_ONCE: usize = 64;

/// Why a run produced no report: a reason every frontend shares, or [`RedisError`].
pub type Error = RunError<RedisError>;

/// What only this frontend can hit.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// No `redis-server` to start, and no `--redis` given.
    #[error(
        "no redis-server on the PATH: install it (`apt-get install redis-server`), or pass --redis URL to use a \
         server that is already running"
    )]
    NoServer,
    /// The private server did not start.
    #[error("could not start a private redis-server: {detail}")]
    ServerStart {
        /// What went wrong.
        detail: String,
    },
    /// The server stopped answering during the run, or answered with an error.
    #[error("the redis server ({server}) failed during the run: {detail}")]
    Server {
        /// Which server.
        server: String,
        /// What the client said (its message carries its own causes).
        detail: String,
    },
    /// The other participants did not all come.
    #[error(transparent)]
    Rendezvous(RendezvousTimeout),
    /// A worker's task ended without a result (it panicked).
    #[error("worker {worker} ended without a result")]
    WorkerPanicked {
        /// The worker.
        worker: u64,
    },
}

/// How to reach the server and share the run, on top of the shared [`Config`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// A server to use (`redis://`, `unix://`); `None` starts a private one.
    pub url: Option<String>,
    /// The run's id and its participants.
    pub sharing: Sharing,
    /// Keep the run's keys at the end.
    pub keep: bool,
    /// How long the mutex strategy's lock lives if its holder never releases it.
    pub lock_ttl: Duration,
    /// How long any command may take before the run fails.
    pub timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: None,
            sharing: Sharing::default(),
            keep: false,
            lock_ttl: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

impl RedisOptions {
    /// Checks the options: a run id that makes valid keys, participants with a run id, no TLS URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.sharing.validate(self.url.is_some(), "--redis")?;
        if let Some(url) = &self.url
            && url.starts_with("rediss://")
        {
            return Err(ConfigError::Conflict(format!(
                "--redis {}: TLS (rediss://) is not built into counter-redis; use redis:// or unix://, or a TLS \
                 tunnel to the server",
                secrets::redact(url)
            )));
        }
        if self.lock_ttl.is_zero() || self.timeout.is_zero() {
            return Err(ConfigError::Conflict("--lock-ttl and --timeout must be longer than 0".to_owned()));
        }
        Ok(())
    }
}

/// The variable that holds the server's password, as `redis-cli` reads it: so that it need not sit in argv.
pub const PASSWORD_VARIABLE: &str = "REDISCLI_AUTH";

/// The server to connect to: the URL, with the password from [`PASSWORD_VARIABLE`] when the URL has none.
fn connection_info(url: &str) -> redis::RedisResult<redis::ConnectionInfo> {
    use redis::IntoConnectionInfo as _;
    let info = url.into_connection_info()?;
    match std::env::var(PASSWORD_VARIABLE) {
        Ok(password) if info.redis_settings().password().is_none() && !password.is_empty() => {
            let settings = info.redis_settings().clone().set_password(password);
            Ok(info.set_redis_settings(settings))
        }
        _ => Ok(info),
    }
}

/// Runs the workload against the counter in Redis and reports what happened.
pub fn run(config: &Config, options: &RedisOptions) -> Result<RunReport, Error> {
    options.validate()?;
    raise_descriptor_limit(config.workers())?;
    let private = match &options.url {
        Some(_) => None,
        None => Some(PrivateServer::start(config.workers() + SPARE_DESCRIPTORS).map_err(|error| match error {
            // Nothing to start: the request cannot be met here as it stands (exit 2), and the message says how.
            RedisError::NoServer => Error::from(ConfigError::Conflict(error.to_string())),
            other => RunError::Frontend(other),
        })?),
    };
    let (url, server) = match (&private, &options.url) {
        (Some(private), _) => (private.url(), private.describe()),
        (None, Some(url)) => (url.clone(), secrets::redact(url)),
        (None, None) => unreachable!("a private server is started when no URL is given"),
    };
    let client = connection_info(&url)
        .and_then(Client::open)
        .map_err(|error| ConfigError::Conflict(secrets::redact(&format!("invalid --redis URL '{server}': {error}"))))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| {
        RunError::Frontend(RedisError::ServerStart { detail: format!("no tokio runtime: {source}") })
    })?;
    let run = Run {
        config,
        options,
        client,
        server,
        server_pid: private.as_ref().map(PrivateServer::pid),
        id: options.sharing.id(),
    };
    let cpu_before = CpuUsage::of_this_process();
    // On the heap: the coordination's future holds every client's connection setup and is too large for a small
    // main-thread stack (`ulimit -s 128`) in a debug build.
    let outcome = runtime.block_on(Box::pin(run.coordinate(cpu_before)));
    drop(runtime);
    // The private server stops here, after every connection is closed.
    drop(private);
    outcome
}

/// Lets this process open a descriptor per worker connection: the soft limit is raised to the hard one, and a
/// run that would still not fit is refused before anything starts.
fn raise_descriptor_limit(workers: u64) -> Result<(), Error> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let needed = workers.saturating_add(SPARE_DESCRIPTORS);
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|errno| {
        RunError::Frontend(RedisError::ServerStart { detail: format!("RLIMIT_NOFILE unreadable: {errno}") })
    })?;
    if needed > hard {
        return Err(LimitError {
            request: format!("{workers} client connections"),
            limit: "RLIMIT_NOFILE",
            value: hard.to_string(),
            detail: format!(
                "each client holds a descriptor, and {SPARE_DESCRIPTORS} more are kept; raise the limit with \
                 `ulimit -n N` or `prlimit --nofile=N`"
            ),
        }
        .into());
    }
    if soft < needed {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    Ok(())
}

/// One run's context.
struct Run<'a> {
    config: &'a Config,
    options: &'a RedisOptions,
    client: Client,
    server: String,
    server_pid: Option<i32>,
    id: String,
}

/// Why the coordination stopped.
type Stop = counter_core::error::Stop<Error>;

impl Run<'_> {
    fn connection_config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.timeout))
            .set_response_timeout(Some(self.options.timeout))
    }

    /// A first connection: an error here is about the request (a refused connection, a wrong password), exit 2.
    async fn connect_first(&self) -> Result<MultiplexedConnection, Error> {
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.connection_config())
            .await
            .map_err(|error| self.unreachable(&error))?;
        let () = redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|error| self.unreachable(&error))?;
        if matches!(self.config.strategy(), Strategy::Mutex | Strategy::Fenced) {
            // The lock is taken with SET ... NX GET, which came with Redis 7.0.
            let info: String =
                redis::cmd("INFO").arg("server").query_async(&mut connection).await.map_err(|e| self.failed(&e))?;
            let version = info_field(&info, "redis_version").unwrap_or_default();
            if !has_set_nx_get(version) {
                return Err(ConfigError::Conflict(format!(
                    "the redis server {} is version {version}; the mutex strategy takes its lock with SET ... NX GET, \
                     which needs Redis {MUTEX_NEEDS_MAJOR}.0 or later",
                    self.server
                ))
                .into());
            }
        }
        Ok(connection)
    }

    /// Why a worker's connection failed: the server's client limit, when it was reached, in those words.
    async fn connection_failed(&self, admin: &mut MultiplexedConnection, error: &redis::RedisError) -> Error {
        let limit: redis::RedisResult<(String, String)> =
            redis::cmd("CONFIG").arg("GET").arg("maxclients").query_async(admin).await;
        let connected: redis::RedisResult<String> = redis::cmd("INFO").arg("clients").query_async(admin).await;
        if let (Ok((_, limit)), Ok(info)) = (limit, connected) {
            let connected = info_field(&info, "connected_clients").unwrap_or_default();
            let (limit_n, connected_n) =
                (limit.parse::<u64>().unwrap_or(u64::MAX), connected.parse::<u64>().unwrap_or(0));
            // This run's clients, beside those connected now (ours have gone by the time this is asked).
            let workers = self.config.workers();
            if connected_n.saturating_add(workers) > limit_n {
                return RunError::Frontend(RedisError::Server {
                    server: self.server.clone(),
                    detail: format!(
                        "it refused more clients: its maxclients is {limit}; {connected} are connected besides this \
                         run's workers, which need {workers} more ({error})"
                    ),
                });
            }
        }
        self.failed(error)
    }

    fn unreachable(&self, error: &redis::RedisError) -> Error {
        let hint = if error.kind() == redis::ErrorKind::AuthenticationFailed
            || error.code().is_some_and(|code| matches!(code, "WRONGPASS" | "NOAUTH"))
        {
            "the credentials in the URL were refused"
        } else if error.is_connection_refusal() {
            "is the server running, and is the URL right?"
        } else {
            "see the reason above"
        };
        ConfigError::Conflict(format!("could not use the redis server {}: {error} ({hint})", self.server)).into()
    }

    fn failed(&self, source: &redis::RedisError) -> Error {
        let detail = if source.is_timeout() {
            format!("no answer within {:?} (--timeout): {source}", self.options.timeout)
        } else {
            source.to_string()
        };
        RunError::Frontend(RedisError::Server { server: self.server.clone(), detail })
    }

    async fn coordinate(&self, cpu_before: CpuUsage) -> Result<RunReport, Error> {
        let mut admin = self.connect_first().await?;
        let keys = Keys::new(&self.id);
        self.claim(&mut admin, &keys).await?;
        let outcome = self.measure(&mut admin, &keys, cpu_before).await;
        // Alone, the keys go whatever happened (unless kept). With participants, the last to leave removes them,
        // and one that stops leaves them to the others: everything has a time to live besides. A server that is
        // gone cannot be cleaned, and that is no new error.
        if !self.options.keep && self.options.sharing.participants == 1 {
            let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(&keys.all()[..]).query_async(&mut admin).await;
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

    /// What every participant of a run must share, as the claim records it: `--sync atomic --workers 5 ...`.
    fn shared_configuration(&self) -> String {
        let lock_ttl = format!("--lock-ttl {}ms", self.options.lock_ttl.as_millis());
        shared_configuration(self.config, self.options.sharing.participants, &lock_ttl)
    }

    /// How long the run's keys live: its rendezvous, twice its ideal time, and ten minutes, so that nothing a run
    /// leaves (a participant killed, `--keep`) outlives it by more than that.
    fn keys_ttl_ms(&self) -> u64 {
        let ideal = self.config.work().nominal().as_secs_f64() * self.config.increments() as f64;
        let seconds = self.options.sharing.rendezvous_timeout.as_secs_f64() + 2.0 * ideal + 600.0;
        (seconds * 1000.0).min(1e15) as u64
    }

    /// Gives every key of the run that exists the run's time to live, but the lock, whose time to live is the
    /// lease (`--lock-ttl`) and must stay so.
    async fn expire_all(&self, admin: &mut MultiplexedConnection, keys: &Keys) -> Result<(), Stop> {
        let ttl = self.keys_ttl_ms();
        let mut pipe = redis::pipe();
        for key in keys.all().into_iter().filter(|key| *key != keys.lock) {
            pipe.cmd("PEXPIRE").arg(key).arg(ttl).ignore();
        }
        pipe.query_async::<()>(admin).await.map_err(|e| Stop::Failed(self.failed(&e)))
    }

    /// Claims the run id, or joins the run that claimed it: the first participant records the shared
    /// configuration (`SET NX`, with the run's time to live); the others must bring the same, and find a run
    /// still waiting for them. A stranger (another configuration), a run that has all its participants, or keys
    /// left by an earlier run (kept with `--keep`, or of a participant that stopped without leaving) are refused
    /// before anything is written.
    async fn claim(&self, admin: &mut MultiplexedConnection, keys: &Keys) -> Result<(), Error> {
        if self.options.sharing.run_id.is_none() {
            // A drawn id is new.
            return Ok(());
        }
        let shared = self.shared_configuration();
        let refuse = |why: String| -> Error {
            ConfigError::Conflict(format!(
                "run '{}' (keys {}*): {why}; choose another --run-id, or remove its keys",
                self.id, keys.prefix
            ))
            .into()
        };
        for _ in 0..3 {
            let claimed: Option<String> = redis::cmd("SET")
                .arg(&keys.config)
                .arg(&shared)
                .arg("NX")
                .arg("PX")
                .arg(self.keys_ttl_ms())
                .query_async(admin)
                .await
                .map_err(|e| self.failed(&e))?;
            if claimed.is_some() {
                let others: Vec<&str> = keys.all().into_iter().filter(|key| *key != keys.config).collect();
                let left: u64 =
                    redis::cmd("EXISTS").arg(&others).query_async(admin).await.map_err(|e| self.failed(&e))?;
                if left == 0 {
                    return Ok(());
                }
                let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(&keys.config).query_async(admin).await;
                return Err(refuse("the server holds keys of an earlier run with this id".to_owned()));
            }
            let theirs: Option<String> =
                redis::cmd("GET").arg(&keys.config).query_async(admin).await.map_err(|e| self.failed(&e))?;
            // Gone between the two commands (expired, or its last participant left): claim it again.
            let Some(theirs) = theirs else { continue };
            if theirs != shared {
                return Err(refuse(format!("its participants were started with {theirs}; this one with {shared}")));
            }
            if self.options.sharing.participants == 1 {
                return Err(refuse("another run with this id is under way, or was kept with --keep".to_owned()));
            }
            let members: Vec<String> =
                redis::cmd("SMEMBERS").arg(&keys.members).query_async(admin).await.map_err(|e| self.failed(&e))?;
            let ended: u64 = redis::cmd("EXISTS")
                .arg(&keys.done)
                .arg(&keys.left)
                .arg(&keys.go)
                .query_async(admin)
                .await
                .map_err(|e| self.failed(&e))?;
            if ended > 0 || members.len() as u64 >= self.options.sharing.participants {
                return Err(refuse(format!(
                    "the run has its {} participants already, or has ended (kept with --keep)",
                    self.options.sharing.participants
                )));
            }
            let alive: Vec<String> = members.iter().map(|member| keys.alive(member)).collect();
            let beating: u64 = if alive.is_empty() {
                0
            } else {
                redis::cmd("EXISTS").arg(&alive).query_async(admin).await.map_err(|e| self.failed(&e))?
            };
            if beating < members.len() as u64 {
                return Err(refuse(format!(
                    "{} of its participants stopped without leaving (their keys expire by themselves)",
                    members.len() as u64 - beating
                )));
            }
            return Ok(());
        }
        Err(refuse("its keys kept changing while this participant tried to claim or join it".to_owned()))
    }

    async fn server_memory(&self, admin: &mut MultiplexedConnection) -> Result<u64, Error> {
        let info: String = redis::cmd("INFO").arg("memory").query_async(admin).await.map_err(|e| self.failed(&e))?;
        Ok(info
            .lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0))
    }

    /// What the server holds per connection of this run: `tot-mem` of `CLIENT LIST`, averaged over the
    /// connections named for this run.
    async fn memory_per_connection(&self, admin: &mut MultiplexedConnection, name_prefix: &str) -> Result<f64, Error> {
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(admin).await.map_err(|e| self.failed(&e))?;
        let ours: Vec<u64> = list
            .lines()
            .filter(|line| {
                line.split_whitespace()
                    .any(|field| field.strip_prefix("name=").is_some_and(|n| n.starts_with(name_prefix)))
            })
            .filter_map(|line| {
                line.split_whitespace().find_map(|field| field.strip_prefix("tot-mem=")).and_then(|v| v.parse().ok())
            })
            .collect();
        Ok(if ours.is_empty() { 0.0 } else { ours.iter().sum::<u64>() as f64 / ours.len() as f64 })
    }

    #[allow(clippy::too_many_lines)]
    async fn measure(
        &self,
        admin: &mut MultiplexedConnection,
        keys: &Keys,
        cpu_before: CpuUsage,
    ) -> Result<RunReport, Stop> {
        let config = self.config;
        let workers = config.workers();
        // The pid first: a lock token or a member names the process it belongs to (`ps`, `kill`).
        let participant = participant_tag();
        let name_prefix = format!("counter-lab-{}-{participant}", self.id);
        let reconnect = worker::Reconnect {
            client: self.client.clone(),
            config: self.connection_config(),
            name_prefix: name_prefix.clone(),
            patience: reconnect_patience(self.options.timeout),
        };
        let job =
            Arc::new(Job::new(config.clone(), keys.clone(), self.options.lock_ttl, participant.clone(), reconnect));
        let memory_before = self.server_memory(admin).await?;
        let started = Instant::now();
        let (start_tx, start_rx) = watch::channel(Start::Waiting);
        let ready = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        // A server takes new connections from a queue of its listen backlog: a thousand clients connecting at
        // once would overflow it (a Unix socket then refuses with EAGAIN), so they connect a few at a time.
        let connecting = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
        for index in 0..workers {
            let (client, connection_config, job) = (self.client.clone(), self.connection_config(), Arc::clone(&job));
            let (mut start, ready, name) = (start_rx.clone(), Arc::clone(&ready), format!("{name_prefix}-{index}"));
            let connecting = Arc::clone(&connecting);
            // Boxed where it is made: a client's future is a few kilobytes, too much to move through a small
            // main-thread stack (`ulimit -s 32`) on its way into the task.
            tasks.spawn(Box::pin(async move {
                let permit = connecting.acquire_owned().await;
                let mut connection = client.get_multiplexed_async_connection_with_config(&connection_config).await?;
                worker::name_connection(&mut connection, &name).await?;
                drop(permit);
                ready.fetch_add(1, Ordering::Relaxed);
                let go = start.wait_for(|start| *start != Start::Waiting).await.map(|start| *start).ok();
                if go != Some(Start::Go) {
                    return Ok((index, Tally::default()));
                }
                Worker::new(connection, &job, index, start).run().await.map(|tally| (index, tally))
            }));
        }
        // Every worker connected, or the first failure.
        match counter_client::until_connected(&mut tasks, &ready, workers, &start_tx).await {
            Ok(()) => {}
            Err(NotReady::Signal(signal)) => return Err(Stop::Signal(signal)),
            // A client that could not connect, or name its connection (the server's client limit, say).
            Err(NotReady::Failed(error)) => return Err(Stop::Failed(self.connection_failed(admin, &error).await)),
            Err(NotReady::Panicked { ready }) => {
                let worker = workers.saturating_sub(ready);
                return Err(Stop::Failed(RunError::Frontend(RedisError::WorkerPanicked { worker })));
            }
        }
        let start_time = started.elapsed();
        // The tree, as ps and smem see it: this client process, and the private server it started (if any).
        let mut pids = vec![std::process::id() as i32];
        pids.extend(self.server_pid);
        let taken = format!("all {workers} clients connected, before they started");
        let client_memory =
            memory::snapshot(&pids, taken).map_err(|error| Stop::Failed(CoreError::Probe(error).into()))?;
        let memory_with_clients = self.server_memory(admin).await?;
        let per_connection = self.memory_per_connection(admin, &name_prefix).await?;
        let server_rss_kib = self.server_pid.and_then(|pid| memory::of_process(pid).ok()).map(|m| m.rss_kib);
        if let Some(hold_for) = config.hold() {
            let server_try = "redis-cli -s <socket> CLIENT LIST".to_owned();
            counter_client::announce_hold(MODEL, hold_for, workers, (self.server_pid, &self.server), server_try);
            let held = counter_client::hold(hold_for).await;
            if let hold::Outcome::Signal(signal) = held {
                let _ = start_tx.send(Start::Abort);
                return Err(Stop::Signal(signal));
            }
        }
        let heartbeat = (self.options.sharing.participants > 1).then(|| {
            Heartbeat::start(RedisBeat {
                client: self.client.clone(),
                config: self.connection_config(),
                key: keys.alive(&participant),
                connection: None,
            })
        });
        self.rendezvous(admin, keys, &participant, workers).await.inspect_err(|_| {
            let _ = start_tx.send(Start::Abort);
        })?;
        // The counter exists before the first increment, with the run's time to live, which every write keeps:
        // nothing the run leaves (killed, or kept) outlives its deadline.
        let prepared: redis::RedisResult<()> = redis::pipe()
            .cmd("SET")
            .arg(&keys.value)
            .arg(0)
            .arg("NX")
            .ignore()
            .cmd("HSETNX")
            .arg(&keys.shards)
            .arg("_")
            .arg(0)
            .ignore()
            .cmd("SET")
            .arg(&keys.fence)
            .arg(0)
            .arg("NX")
            .ignore()
            .cmd("SET")
            .arg(&keys.fence_newest)
            .arg(0)
            .arg("NX")
            .ignore()
            .query_async(admin)
            .await;
        if let Err(error) = prepared {
            let _ = start_tx.send(Start::Abort);
            return Err(Stop::Failed(self.failed(&error)));
        }
        self.expire_all(admin, keys).await.inspect_err(|_| {
            let _ = start_tx.send(Start::Abort);
        })?;
        let go = Instant::now();
        let _ = start_tx.send(Start::Go);
        let mut tallies: Vec<(u64, Tally)> = Vec::with_capacity(usize::try_from(workers).unwrap_or(0));
        let mut failure = None;
        while let Some(joined) = counter_client::next_or_stop(&mut tasks, &start_tx).await {
            match joined {
                Ok(Ok(done)) => tallies.push(done),
                Ok(Err(error)) if failure.is_none() => failure = Some(self.connection_failed(admin, &error).await),
                Ok(Err(_)) => {}
                Err(_) => {
                    failure
                        .get_or_insert(RunError::Frontend(RedisError::WorkerPanicked { worker: tallies.len() as u64 }));
                }
            }
        }
        let wall_time = go.elapsed();
        if let Some(error) = failure {
            return Err(Stop::Failed(error));
        }
        // The coordinator's connection may have been killed with the workers': it is made again if so.
        self.make_sure_of(admin).await?;
        tallies.sort_by_key(|(index, _)| *index);
        let local_done: u64 = tallies.iter().map(|(_, tally)| tally.increments_done).sum();
        let unsettled = Unsettled {
            failed: tallies.iter().map(|(_, tally)| tally.failed).sum(),
            indeterminate: tallies.iter().map(|(_, tally)| tally.indeterminate).sum(),
        };
        let local = Reported { done: local_done, expected: config.expected(), unsettled };
        let met = self.meet_at_the_end(admin, keys, &participant, local).await?;
        // Read once every participant has finished (or stopped), before any leaves.
        let final_value = self.final_value(admin, keys).await?;
        if let Some(heartbeat) = heartbeat {
            // Stopped (and its key removed) before leaving, so that the last to leave leaves no key behind.
            heartbeat.stop().await;
            let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(keys.alive(&participant)).query_async(admin).await;
            self.leave(admin, keys, met.last_out_after).await?;
        }
        let mut latencies = Latencies::default();
        let mut worker_reports = WorkerTally::with_capacity(workers);
        let (mut round_trips, mut lock_waits, mut retries, mut fenced_off) = (0, 0, 0, 0);
        for (index, tally) in &tallies {
            latencies.merge(&tally.latencies);
            round_trips += tally.round_trips;
            lock_waits += tally.lock_waits;
            fenced_off += tally.fenced_off;
            retries += tally.retries;
            worker_reports.push(counter_client::worker_report(*index, tally.increments_done, tally.elapsed));
        }
        let stopped = signals::received();
        let figures = RedisFigures {
            server: self.server.clone(),
            run_id: self.id.clone(),
            round_trips,
            round_trips_per_increment: round_trips as f64 / local_done.max(1) as f64,
            latency_median_us: latencies.quantile_us(0.5),
            latency_p99_us: latencies.quantile_us(0.99),
            latency_max_us: latencies.max_us(),
            server_memory_before_bytes: memory_before,
            server_memory_added_bytes: memory_with_clients as i64 - memory_before as i64,
            server_memory_per_connection_bytes: per_connection,
            server_rss_kib,
            lock_waits,
            lock_expiries: job.lock_expiries(),
            fenced_off,
            reconnections: tallies.iter().map(|(_, tally)| tally.reconnections).sum(),
        };
        let measured = Measurements {
            final_value,
            wall_time,
            start_time,
            cpu: CpuUsage::of_this_process().since(cpu_before),
            memory: client_memory,
            peak_rss_kib: memory::peak_rss_kib(pids[0]).ok(),
            retries: (config.strategy() == Strategy::Optimistic).then_some(retries),
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

    /// `admin` answering: as it is, or connected again within the workers' patience.
    async fn make_sure_of(&self, admin: &mut MultiplexedConnection) -> Result<(), Stop> {
        let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(admin).await;
        let Err(mut last) = ping else { return Ok(()) };
        let deadline = Instant::now() + reconnect_patience(self.options.timeout);
        while Instant::now() < deadline {
            match self.client.get_multiplexed_async_connection_with_config(&self.connection_config()).await {
                Ok(connection) => {
                    *admin = connection;
                    return Ok(());
                }
                Err(error) => last = error,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Stop::Failed(self.failed(&last)))
    }

    async fn final_value(&self, admin: &mut MultiplexedConnection, keys: &Keys) -> Result<u64, Stop> {
        let value = if self.config.strategy() == Strategy::Sharded {
            let fields: Vec<u64> =
                redis::cmd("HVALS").arg(&keys.shards).query_async(admin).await.map_err(|e| self.failed(&e))?;
            fields.iter().sum()
        } else {
            let value: Option<u64> =
                redis::cmd("GET").arg(&keys.value).query_async(admin).await.map_err(|e| self.failed(&e))?;
            value.unwrap_or(0)
        };
        Ok(value)
    }
}

/// How long a worker whose connection broke keeps trying to connect again before it gives up: long enough for
/// a server that stalls or restarts, a few response timeouts.
fn reconnect_patience(timeout: Duration) -> Duration {
    (timeout * 4).max(Duration::from_secs(10))
}

/// What this run's choices mean, for the report.
fn notes(config: &Config, options: &RedisOptions) -> Vec<String> {
    let mut notes = vec![
        "each worker is a tokio task with its own connection; memory is the tree's: this client process and the \
         private server it started, if any (the server line gives the server's share)"
            .to_owned(),
    ];
    match config.strategy() {
        Strategy::Racy => notes.push("racy is GET, then SET of the value read plus one: the window is a round trip".to_owned()),
        Strategy::Mutex => notes.push(format!(
            "mutex is a lock key taken with SET NX PX {} ms (retried with backoff) and released with a compare-and-delete \
             script; a holder that dies keeps it until then",
            options.lock_ttl.as_millis()
        )),
        Strategy::Fenced => notes.push(format!(
            "fenced is the mutex's lock (SET NX PX {} ms) with a token from INCR at each grant; the GET and the SET \
             are scripts that refuse a token older than the newest the counter has seen (Kleppmann's fencing), so a \
             holder whose lease expired under it cannot write over a newer holder's update: it is fenced off, and \
             takes the lock again",
            options.lock_ttl.as_millis()
        )),
        Strategy::Atomic => notes.push("atomic is INCR: the server does the read-modify-write".to_owned()),
        Strategy::Sharded => notes.push("sharded is HINCRBY on a field per worker, summed (HVALS) at the end".to_owned()),
        Strategy::Optimistic => notes.push(
            "optimistic is WATCH, GET, then MULTI / SET / EXEC; EXEC does nothing if the key changed since WATCH, and \
             the read and the write are made again"
                .to_owned(),
        ),
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mutex_needs_redis_7() {
        let info = "# Server\r\nredis_version:6.2.14\r\nredis_mode:standalone\r\n";
        assert_eq!(info_field(info, "redis_version"), Some("6.2.14"));
        assert!(!has_set_nx_get("6.2.14") && !has_set_nx_get("") && !has_set_nx_get("x"));
        assert!(has_set_nx_get("7.0.15") && has_set_nx_get("8.0.0"));
    }

    #[test]
    fn options_are_checked() {
        let bad = |options: RedisOptions| options.validate().unwrap_err().to_string();
        assert!(
            bad(RedisOptions { sharing: Sharing { participants: 3, ..Sharing::default() }, ..RedisOptions::default() })
                .contains("needs --run-id")
        );
        assert!(
            bad(RedisOptions {
                sharing: Sharing { run_id: Some("a b".into()), ..Sharing::default() },
                ..RedisOptions::default()
            })
            .contains("' '")
        );
        let tls = RedisOptions { url: Some("rediss://u:pw@h".into()), ..RedisOptions::default() };
        let message = bad(tls);
        assert!(message.contains("TLS") && !message.contains("pw"), "{message}");
        assert!(RedisOptions::default().validate().is_ok());
    }
}
