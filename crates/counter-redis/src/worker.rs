//! One worker: a tokio task with its own connection, doing the workload against the counter in Redis. Every
//! strategy is a handful of commands, each one round trip, timed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use counter_client::{
    should_stop,
    store::{Attempts, Progress},
};
use counter_core::{
    config::{Config, Strategy},
    workload::{Performed, Start},
};
use redis::{AsyncCommands, FromRedisValue, aio::MultiplexedConnection};
use tokio::sync::watch;

use crate::keys::Keys;

/// The Lua script that releases the lock only if it is still ours: the single-instance lock Redis documents.
const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Fenced: reads the counter with token ARGV[1], unless an older token than the newest seen (KEYS[1]): then
/// -1. A newer token becomes the newest, so that every holder before it is fenced off from then on. Every key it
/// writes gets the run's time to live (ARGV[2] ms), so that one recreated mid-run (flushed) has one too.
const FENCED_GET: &str = "local newest = tonumber(redis.call('get', KEYS[1]) or '0') \
                          if tonumber(ARGV[1]) < newest then return -1 end \
                          redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
                          return tonumber(redis.call('get', KEYS[2]) or '0')";

/// Fenced: writes ARGV[2] to the counter (KEYS[2]) with token ARGV[1], unless an older token than the newest
/// seen (KEYS[1]): 1 when written, 0 when fenced off; with the run's time to live (ARGV[3] ms).
const FENCED_SET: &str = "local newest = tonumber(redis.call('get', KEYS[1]) or '0') \
                          if tonumber(ARGV[1]) < newest then return 0 end \
                          redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3]) \
                          redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3]) \
                          return 1";

/// Fenced: draws the next token from the token counter (KEYS[1]); one not above the newest the counter has seen
/// (KEYS[2]) means the token counter was reset (deleted or flushed mid-run): it is set above the newest again,
/// and the draw says so (`{token, 1}`), so that the refusals such a reset would cause are neither made nor
/// blamed on an expired holder. The token counter keeps the run's time to live (ARGV[1] ms).
const DRAW_TOKEN: &str = "local token = redis.call('incr', KEYS[1]) \
                          local newest = tonumber(redis.call('get', KEYS[2]) or '0') \
                          if token > newest then redis.call('pexpire', KEYS[1], ARGV[1]) return {token, 0} end \
                          redis.call('set', KEYS[1], newest + 1, 'PX', ARGV[1]) \
                          return {newest + 1, 1}";

/// The shortest and longest pauses before trying a taken lock again.
const BACKOFF_MIN: Duration = Duration::from_micros(100);
const BACKOFF_MAX: Duration = Duration::from_millis(20);

counter_client::counts! {
    /// What only a Redis worker counts.
    pub(crate) struct RedisCounts {
        /// Mutex and fenced: attempts to take the lock that found it taken.
        lock_waits,
        /// Optimistic: EXECs that found the key changed.
        retries,
        /// Fenced: reads or writes the counter refused for an older token than the newest it had seen.
        fenced_off,
        /// Fenced: draws that found the token counter reset (deleted or flushed mid-run), and set it right.
        fence_resets,
    }
}

/// How a worker connects again after its connection broke.
#[derive(Debug)]
pub(crate) struct Reconnect {
    pub(crate) client: redis::Client,
    pub(crate) config: redis::AsyncConnectionConfig,
    /// Before the worker's index: the name `CLIENT LIST` shows.
    pub(crate) name_prefix: String,
    /// How long it keeps trying before the worker gives up.
    pub(crate) patience: Duration,
}

/// What every worker shares.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) config: Config,
    pub(crate) keys: Keys,
    pub(crate) lock_ttl: Duration,
    /// The run's keys' time to live, milliseconds: every write gives it again, so that a key recreated mid-run
    /// (flushed, deleted) never lives without one.
    pub(crate) keys_ttl_ms: u64,
    /// This participant's tag, unique to it: lock tokens and shard fields start with it.
    pub(crate) participant: String,
    /// Mutex strategy: each lock holder this participant's workers have waited for.
    pub(crate) holders: Mutex<HashMap<String, Sighting>>,
    pub(crate) reconnect: Reconnect,
}

/// A lock holder as the waiters saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sighting {
    /// What was left of its lock's time to live when last seen, milliseconds.
    last_ttl_ms: i64,
    /// Its lock was found to have outlived its time to live.
    expired: bool,
}

/// A holder last seen with less than this left of its lock had it expire rather than release it: the waiter
/// tries again within [`BACKOFF_MAX`], and a holder releasing in its lock's last moments is one that stalled.
const ABOUT_TO_EXPIRE_MS: i64 = 3 * BACKOFF_MAX.as_millis() as i64;

impl Job {
    pub(crate) fn new(
        config: Config,
        keys: Keys,
        (lock_ttl, keys_ttl_ms): (Duration, u64),
        participant: String,
        reconnect: Reconnect,
    ) -> Job {
        Job { config, keys, lock_ttl, keys_ttl_ms, participant, holders: Mutex::new(HashMap::new()), reconnect }
    }

    fn holders(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sighting>> {
        self.holders.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks whose expiry this participant saw: held by someone longer than their time to live (a holder that
    /// died, or stalled), as its waiters saw it or as the holder found on releasing.
    pub(crate) fn lock_expiries(&self) -> u64 {
        self.holders().values().filter(|sighting| sighting.expired).count() as u64
    }
}

/// A worker's connection and its counts.
pub(crate) struct Worker {
    connection: MultiplexedConnection,
    job: Arc<Job>,
    index: u64,
    progress: Progress<RedisCounts>,
}

impl Attempts for Worker {
    type Counts = RedisCounts;
    type Error = redis::RedisError;

    fn config(&self) -> &Config {
        &self.job.config
    }

    fn progress(&mut self) -> &mut Progress<Self::Counts> {
        &mut self.progress
    }

    async fn attempt(&mut self, inside: bool) -> redis::RedisResult<Performed> {
        self.progress.writing = false;
        match self.job.config.strategy() {
            Strategy::Racy => self.racy(inside).await,
            Strategy::Mutex => self.locked(inside).await,
            Strategy::Fenced => self.fenced(inside).await,
            Strategy::Atomic => self.with_work_first(inside, |keys| redis::cmd("INCR").arg(&keys.value).clone()).await,
            Strategy::Sharded => {
                let field = format!("{}-{}", self.job.participant, self.index);
                self.with_work_first(inside, move |keys| {
                    redis::cmd("HINCRBY").arg(&keys.shards).arg(&field).arg(1).clone()
                })
                .await
            }
            Strategy::Optimistic => self.optimistic(inside).await,
        }
    }

    /// A broken connection (a timeout, an I/O error, a connection dropped or refused) is made again; a refusal
    /// on a live one leaves nothing to mend.
    async fn recover(&mut self, error: redis::RedisError) -> redis::RedisResult<()> {
        if error.is_timeout() || error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() {
            self.reconnect(error).await?;
        }
        Ok(())
    }
}

impl Worker {
    pub(crate) fn new(
        connection: MultiplexedConnection,
        job: Arc<Job>,
        index: u64,
        start: watch::Receiver<Start>,
    ) -> Worker {
        let progress = Progress::new(&job.config, index, start);
        Worker { connection, job, index, progress }
    }

    /// One command, one round trip, timed.
    async fn round_trip<T: FromRedisValue>(&mut self, command: &redis::Cmd) -> redis::RedisResult<T> {
        let started = Instant::now();
        let result = command.query_async(&mut self.connection).await;
        self.progress.tally.round_trip(started.elapsed());
        result
    }

    /// A command that writes the counter, one round trip, timed: from its sending until its answer, the
    /// increment is indeterminate if anything goes wrong.
    async fn write_trip<T: FromRedisValue>(&mut self, command: &redis::Cmd) -> redis::RedisResult<T> {
        self.progress.writing = true;
        let answer = self.round_trip(command).await;
        self.progress.writing = answer.is_err();
        answer
    }

    /// Sends `set` (a SET of the counter to `wrote`), timed as a write; traced (`--trace`), with `GET`, so that the
    /// answer says what the write overwrote, and the step is recorded.
    async fn write_value(&mut self, mut set: redis::Cmd, wrote: u64, read_ns: u64) -> redis::RedisResult<()> {
        if self.progress.tally.trace.is_none() {
            return self.write_trip(&set).await;
        }
        let overwrote: Option<u64> = self.write_trip(set.arg("GET")).await?;
        self.progress.record(wrote, Some(overwrote.unwrap_or(0)), read_ns);
        Ok(())
    }

    /// A new connection after `broken`, tried again and again for the job's patience; a stop ends the trying.
    async fn reconnect(&mut self, broken: redis::RedisError) -> Result<(), redis::RedisError> {
        let job = Arc::clone(&self.job);
        let reconnect = &job.reconnect;
        let name = format!("{}-{}", reconnect.name_prefix, self.index);
        let connected = counter_client::connect_again(reconnect.patience, broken, || async {
            let mut connection =
                reconnect.client.get_multiplexed_async_connection_with_config(&reconnect.config).await?;
            name_connection(&mut connection, &name).await?;
            Ok(connection)
        })
        .await?;
        if let Some(connection) = connected {
            self.connection = connection;
            self.progress.tally.reconnections += 1;
        }
        Ok(())
    }

    /// A command that reads and writes in the server in one step (INCR, HINCRBY): the window cannot be inside
    /// it, so "inside" means just before it, as "before" does.
    async fn with_work_first(
        &mut self,
        inside: bool,
        command: impl FnOnce(&Keys) -> redis::Cmd,
    ) -> redis::RedisResult<Performed> {
        if inside && self.work().await == Performed::Interrupted {
            return Ok(Performed::Interrupted);
        }
        let command = command(&self.job.keys);
        let _: i64 = self.write_trip(&command).await?;
        Ok(Performed::Finished)
    }

    /// GET, then SET of what was read plus one: the race window is a round trip wide.
    async fn racy(&mut self, inside: bool) -> redis::RedisResult<Performed> {
        let key = self.job.keys.value.clone();
        let read: Option<u64> = self.round_trip(redis::cmd("GET").arg(&key)).await?;
        let read_ns = self.progress.clock();
        if inside && self.work().await == Performed::Interrupted {
            return Ok(Performed::Interrupted);
        }
        let mut written = redis::cmd("SET");
        written.arg(&key).arg(read.unwrap_or(0) + 1).arg("PX").arg(self.job.keys_ttl_ms);
        self.write_value(written, read.unwrap_or(0) + 1, read_ns).await?;
        Ok(Performed::Finished)
    }

    /// Takes the lock (`SET lock token NX PX ttl GET`, retried with backoff), GET, SET, and releases it with the
    /// compare-and-delete script. A lock found to have outlived its time to live is counted once: by a waiter
    /// that saw the same holder for that long, or by its holder, whose release finds the lock gone.
    async fn locked(&mut self, inside: bool) -> redis::RedisResult<Performed> {
        let keys = self.job.keys.clone();
        let token = self.lock_token();
        if self.take_lock(&token, false).await?.is_none() {
            return Ok(Performed::Interrupted);
        }
        let read: Option<u64> = self.round_trip(redis::cmd("GET").arg(&keys.value)).await?;
        let read_ns = self.progress.clock();
        let performed = if inside { self.work().await } else { Performed::Finished };
        if performed == Performed::Finished {
            let mut written = redis::cmd("SET");
            written.arg(&keys.value).arg(read.unwrap_or(0) + 1).arg("PX").arg(self.job.keys_ttl_ms);
            self.write_value(written, read.unwrap_or(0) + 1, read_ns).await?;
        }
        // Written: a release that goes wrong leaves the lock to expire, and the increment acknowledged.
        let _ = self.release(&token).await;
        Ok(performed)
    }

    /// The mutex, with a fencing token from each grant: the GET and the SET are scripts that refuse a token older
    /// than the newest the counter has seen. A holder whose lease expired under it, and whose lock another took,
    /// is refused (fenced off) and makes the increment again under a new lock; its work is not made again.
    async fn fenced(&mut self, inside: bool) -> redis::RedisResult<Performed> {
        let keys = self.job.keys.clone();
        let mut work_inside = inside;
        loop {
            let token = self.lock_token();
            let Some(fence) = self.take_lock(&token, true).await? else {
                return Ok(Performed::Interrupted);
            };
            let read: i64 = self
                .round_trip(
                    redis::cmd("EVAL")
                        .arg(FENCED_GET)
                        .arg(2)
                        .arg(&keys.fence_newest)
                        .arg(&keys.value)
                        .arg(fence)
                        .arg(self.job.keys_ttl_ms),
                )
                .await?;
            let read_ns = self.progress.clock();
            let written = if read < 0 {
                false
            } else {
                if work_inside && self.work().await == Performed::Interrupted {
                    self.release(&token).await?;
                    return Ok(Performed::Interrupted);
                }
                work_inside = false;
                let written: i64 = self
                    .write_trip(
                        redis::cmd("EVAL")
                            .arg(FENCED_SET)
                            .arg(2)
                            .arg(&keys.fence_newest)
                            .arg(&keys.value)
                            .arg(fence)
                            .arg(read + 1)
                            .arg(self.job.keys_ttl_ms),
                    )
                    .await?;
                written == 1
            };
            if written {
                // The script wrote under the fence, over the value it read.
                self.progress.record(read.max(0) as u64 + 1, Some(read.max(0) as u64), read_ns);
                // Written: a release that goes wrong leaves the lock to expire, and the increment acknowledged.
                let _ = self.release(&token).await;
                return Ok(Performed::Finished);
            }
            self.release(&token).await?;
            self.progress.tally.own.fenced_off += 1;
            if should_stop() {
                return Ok(Performed::Interrupted);
            }
        }
    }

    /// This worker's token for its next lock: participant, worker and increment, unique across machines.
    fn lock_token(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.job.participant, self.index, self.progress.tally.increments_done, self.progress.tally.own.fenced_off
        )
    }

    /// Takes the lock with `token`, retried with backoff while another holds it; with `fence`, the grant also
    /// draws the next fencing token ([`DRAW_TOKEN`], in the same transaction). `None` when stopped while waiting.
    async fn take_lock(&mut self, token: &str, fence: bool) -> redis::RedisResult<Option<i64>> {
        let keys = self.job.keys.clone();
        let ttl_ms = u64::try_from(self.job.lock_ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut backoff = BACKOFF_MIN;
        let mut waited_for = Vec::new();
        loop {
            // With GET, SET NX answers the holder's token when the lock is taken, and nil when we took it; PTTL in
            // the same transaction says how long the holder's lock has left. A token is drawn even when the lock
            // was taken by another: tokens only need to rise.
            let started = Instant::now();
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("SET")
                .arg(&keys.lock)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .arg("GET")
                .cmd("PTTL")
                .arg(&keys.lock);
            if fence {
                pipe.cmd("EVAL")
                    .arg(DRAW_TOKEN)
                    .arg(2)
                    .arg(&keys.fence)
                    .arg(&keys.fence_newest)
                    .arg(self.job.keys_ttl_ms);
            } else {
                pipe.cmd("ECHO").arg(0);
            }
            let (holder, ttl_left, drawn): (Option<String>, i64, redis::Value) =
                pipe.query_async(&mut self.connection).await?;
            self.progress.tally.round_trip(started.elapsed());
            // Every draw counts a reset it found, whether or not this attempt took the lock.
            let (token, reset): (i64, i64) =
                if fence { redis::FromRedisValue::from_redis_value(drawn)? } else { (0, 0) };
            self.progress.tally.own.fence_resets += u64::from(reset == 1);
            let Some(holder) = holder else {
                self.note_expired_holders(&waited_for);
                return Ok(Some(token));
            };
            self.progress.tally.own.lock_waits += 1;
            // Only a holder seen about to expire is remembered: the map stays as small as such sightings are rare.
            if ttl_left <= ABOUT_TO_EXPIRE_MS {
                self.job.holders().entry(holder.clone()).or_insert(Sighting { last_ttl_ms: ttl_left, expired: false });
            }
            if !waited_for.contains(&holder) {
                waited_for.push(holder);
            }
            if should_stop() {
                return Ok(None);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Releases the lock if it is still `token`'s; one found gone had expired under its holder.
    async fn release(&mut self, token: &str) -> redis::RedisResult<()> {
        let keys = self.job.keys.clone();
        let released: i64 = self.round_trip(redis::cmd("EVAL").arg(RELEASE).arg(1).arg(&keys.lock).arg(token)).await?;
        if released == 0 {
            self.job.holders().insert(token.to_owned(), Sighting { last_ttl_ms: 0, expired: true });
        }
        Ok(())
    }

    /// After taking the lock: a holder this participant's waiters last saw with its lock about to expire kept it
    /// until it expired, rather than releasing it.
    fn note_expired_holders(&self, waited_for: &[String]) {
        let mut holders = self.job.holders();
        for holder in waited_for {
            if let Some(sighting) = holders.get_mut(holder)
                && sighting.last_ttl_ms <= ABOUT_TO_EXPIRE_MS
            {
                sighting.expired = true;
            }
        }
    }

    /// WATCH, GET, then MULTI / SET / EXEC in one round trip; an EXEC that finds the key changed since the WATCH
    /// does nothing, and the read and the write are made again (the work is not: it was done).
    async fn optimistic(&mut self, inside: bool) -> redis::RedisResult<Performed> {
        let key = self.job.keys.value.clone();
        let mut first = true;
        loop {
            let () = self.round_trip(redis::cmd("WATCH").arg(&key)).await?;
            let read: Option<u64> = self.round_trip(redis::cmd("GET").arg(&key)).await?;
            let read_ns = self.progress.clock();
            if inside && first && self.work().await == Performed::Interrupted {
                let () = self.round_trip(&redis::cmd("UNWATCH")).await?;
                return Ok(Performed::Interrupted);
            }
            first = false;
            let started = Instant::now();
            // EXEC answers nil when a watched key changed: then nothing was written.
            // With the run's time to live, which every write gives again.
            self.progress.writing = true;
            let exec: redis::Value = redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(read.unwrap_or(0) + 1)
                .arg("PX")
                .arg(self.job.keys_ttl_ms)
                .query_async(&mut self.connection)
                .await?;
            self.progress.writing = false;
            self.progress.tally.round_trip(started.elapsed());
            if exec != redis::Value::Nil {
                // EXEC ran only if the key was unchanged: it overwrote the value read.
                self.progress.record(read.unwrap_or(0) + 1, Some(read.unwrap_or(0)), read_ns);
                return Ok(Performed::Finished);
            }
            self.progress.tally.own.retries += 1;
            if should_stop() {
                return Ok(Performed::Interrupted);
            }
        }
    }
}

/// Names a connection so that `CLIENT LIST` can tell this run's clients from others.
pub(crate) async fn name_connection(connection: &mut MultiplexedConnection, name: &str) -> redis::RedisResult<()> {
    connection.client_setname(name).await
}
