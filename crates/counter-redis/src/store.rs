//! The Redis store as the shared coordinator drives it (`counter_client::store::Store`): the coordinator's
//! connection, the workers (module `worker`), the run's shared record (module `participants`), and the server's
//! figures: its `used_memory` before and with the clients, what it holds per connection (`CLIENT LIST`), and its
//! RSS when it is ours.

use std::sync::Arc;

use counter_client::store::{Connect, Plan, RoundTrips, Store, Totals};
use counter_core::{config::Strategy, error::RunError, extension::Extension, proc::memory, workload::Start};
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;

use crate::{
    figures::RedisFigures,
    options::{Error, ServerError},
    participants::{KeysKeeper, Member, RedisBeat},
    run::{Answer, Run, info_field, reconnect_patience},
    worker::{Job, Reconnect, RedisCounts, Worker, name_connection},
};

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

/// What a worker's task carries until it has connected.
pub(crate) struct Connector {
    client: redis::Client,
    config: redis::AsyncConnectionConfig,
    job: Arc<Job>,
    /// Its connection's name, which `CLIENT LIST` shows.
    name: String,
    index: u64,
}

impl Connect for Connector {
    type Worker = Worker;

    async fn connect(self, start: watch::Receiver<Start>) -> redis::RedisResult<Worker> {
        let mut connection = self.client.get_multiplexed_async_connection_with_config(&self.config).await?;
        name_connection(&mut connection, &self.name).await?;
        Ok(Worker::new(connection, self.job, self.index, start))
    }
}

/// The server's figures around the clients' connecting.
pub(crate) struct Probe {
    memory_before: u64,
    memory_with_clients: u64,
    per_connection: f64,
    server_rss_kib: Option<u64>,
}

impl Run<'_> {
    /// A first connection: an error here is about the request (a refused connection, a wrong password), exit 2.
    async fn connect_first(&self) -> Answer<MultiplexedConnection> {
        let mut connection = self.connection().await.map_err(|error| self.unreachable(&error))?;
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
                return Err(RunError::Frontend(ServerError::Unusable {
                    store: "redis",
                    server: self.server.clone(),
                    detail: format!(
                        "it is version {version}; the mutex strategy takes its lock with SET ... NX GET, which needs \
                         Redis {MUTEX_NEEDS_MAJOR}.0 or later"
                    ),
                }));
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
                return RunError::Frontend(ServerError::Server {
                    store: "redis",
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
    async fn memory_per_connection(&self, admin: &mut MultiplexedConnection, name_prefix: &str) -> Answer<f64> {
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
}

impl Store for Run<'_> {
    type Worker = Worker;
    type Connector = Connector;
    type Probe = Probe;
    type Beat = RedisBeat;
    type Keeper = KeysKeeper;

    const CONNECTING_AT_ONCE: usize = 64;

    fn plan(&self) -> Plan<'_> {
        Plan::of(crate::MODEL, self.config, &self.options.server, (&self.id, &self.server, self.server_pid))
    }

    fn hold_try(&self) -> String {
        "redis-cli -s <socket> CLIENT LIST".to_owned()
    }

    async fn connect(&self) -> Answer<MultiplexedConnection> {
        self.connect_first().await
    }

    async fn answers(&self, admin: &mut MultiplexedConnection) -> bool {
        redis::cmd("PING").query_async::<String>(admin).await.is_ok()
    }

    async fn connect_again(&self) -> Answer<MultiplexedConnection> {
        self.connection().await.map_err(|error| self.failed(&error))
    }

    fn patience(&self) -> std::time::Duration {
        reconnect_patience(self.options.server.timeout)
    }

    async fn claim(&self, admin: &mut MultiplexedConnection, tag: &str) -> Answer<Member> {
        Run::claim(self, admin).await?;
        let name_prefix = format!("counter-lab-{}-{tag}", self.id);
        let reconnect = Reconnect {
            client: self.client.clone(),
            config: self.connection_config(),
            name_prefix: name_prefix.clone(),
            patience: reconnect_patience(self.options.server.timeout),
        };
        let ttls = (self.options.lock_ttl, self.keys_ttl_ms());
        let job = Job::new(self.config.clone(), self.keys.clone(), ttls, tag.to_owned(), reconnect);
        Ok(Member { tag: tag.to_owned(), name_prefix, job: Arc::new(job) })
    }

    async fn probe(&self, admin: &mut MultiplexedConnection) -> Answer<Probe> {
        let memory_before = self.server_memory(admin).await?;
        Ok(Probe { memory_before, memory_with_clients: memory_before, per_connection: 0.0, server_rss_kib: None })
    }

    fn connector(&self, member: &Member, index: u64) -> Connector {
        Connector {
            client: self.client.clone(),
            config: self.connection_config(),
            job: Arc::clone(&member.job),
            name: format!("{}-{index}", member.name_prefix),
            index,
        }
    }

    async fn worker_failed(&self, admin: &mut MultiplexedConnection, error: redis::RedisError) -> Error {
        self.connection_failed(admin, &error).await
    }

    async fn probe_clients(&self, admin: &mut MultiplexedConnection, member: &Member, probe: &mut Probe) -> Answer<()> {
        probe.memory_with_clients = self.server_memory(admin).await?;
        probe.per_connection = self.memory_per_connection(admin, &member.name_prefix).await?;
        probe.server_rss_kib = self.server_pid.and_then(|pid| memory::of_process(pid).ok()).map(|m| m.rss_kib);
        Ok(())
    }

    fn beat(&self, member: &Member) -> RedisBeat {
        RedisBeat {
            client: self.client.clone(),
            config: self.connection_config(),
            key: self.keys.alive(&member.tag),
            connection: None,
        }
    }

    fn keeper(&self) -> Option<KeysKeeper> {
        Some(KeysKeeper {
            client: self.client.clone(),
            config: self.connection_config(),
            keys: self.keys.all().into_iter().filter(|key| *key != self.keys.lock).map(str::to_owned).collect(),
            ttl_ms: self.keys_ttl_ms(),
            connection: None,
        })
    }

    fn figures(&self, member: &Member, probe: Probe, totals: &Totals<RedisCounts>) -> Extension {
        RedisFigures {
            server: self.server.clone(),
            run_id: self.id.clone(),
            trips: RoundTrips::of(totals),
            server_memory_before_bytes: probe.memory_before,
            server_memory_added_bytes: probe.memory_with_clients as i64 - probe.memory_before as i64,
            server_memory_per_connection_bytes: probe.per_connection,
            server_rss_kib: probe.server_rss_kib,
            lock_waits: totals.own.lock_waits,
            lock_expiries: member.job.lock_expiries(),
            fenced_off: totals.own.fenced_off,
            fence_resets: totals.own.fence_resets,
        }
        .extension(self.config.strategy())
    }

    fn prevented(&self, totals: &Totals<RedisCounts>) -> Option<u64> {
        (self.config.strategy() == Strategy::Fenced).then_some(totals.own.fenced_off)
    }

    fn retries(&self, totals: &Totals<RedisCounts>) -> Option<u64> {
        (self.config.strategy() == Strategy::Optimistic).then_some(totals.own.retries)
    }

    /// What this run's choices mean, for the report.
    fn notes(&self) -> Vec<String> {
        let (config, options) = (self.config, self.options);
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
}
