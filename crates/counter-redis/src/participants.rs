//! The run's shared record in Redis, for participants that share one run across machines: the claim (the
//! configuration they share, `SET NX` with the run's time to live), the members (a set) and a heartbeat key each
//! with a short time to live, the ready count, the reports (a hash), and the count of those that left. The
//! protocol (who waits for whom, when the keys go) is `counter_client`'s; these are its steps in Redis' terms.

use std::{collections::HashMap, sync::Arc};

use counter_client::{
    participants::{Beat, Found, HEARTBEAT_TTL, Reported, may_join, shared_configuration},
    store::{Entry, Record, Roll},
};
use counter_core::config::Strategy;
use redis::{AsyncConnectionConfig, Client, aio::MultiplexedConnection};

use crate::{
    options::{Error, ServerError},
    run::{Answer, Run},
    worker::Job,
};

/// This participant's place in the run: its tag, the prefix of its connections' names, what its workers share.
pub(crate) struct Member {
    pub(crate) tag: String,
    pub(crate) name_prefix: String,
    pub(crate) job: Arc<Job>,
}

/// A Redis participant's beat: a key it sets again and again with a short time to live, on a connection of its
/// own, made again if it broke (killed, or a server that stalled), so that a participant at work stays heard from.
pub(crate) struct RedisBeat {
    pub(crate) client: Client,
    pub(crate) config: AsyncConnectionConfig,
    pub(crate) key: String,
    pub(crate) connection: Option<MultiplexedConnection>,
}

impl Beat for RedisBeat {
    async fn beat(&mut self) {
        if self.connection.is_none() {
            self.connection = self.client.get_multiplexed_async_connection_with_config(&self.config).await.ok();
        }
        if let Some(live) = self.connection.as_mut() {
            let beat: redis::RedisResult<()> =
                redis::cmd("SET").arg(&self.key).arg(1).arg("PX").arg(heartbeat_ttl_ms()).query_async(live).await;
            if beat.is_err() {
                self.connection = None;
            }
        }
    }
}

/// Keeps every key of the run with a time to live while the workers run: a key recreated mid-run without one
/// (flushed, deleted, then written by INCR or HINCRBY, which keep no time to live) gets the run's again within a
/// beat. On a connection of its own, made again if it broke.
pub(crate) struct KeysKeeper {
    pub(crate) client: Client,
    pub(crate) config: AsyncConnectionConfig,
    /// Every key of the run but the lock, whose time to live is its lease.
    pub(crate) keys: Vec<String>,
    pub(crate) ttl_ms: u64,
    pub(crate) connection: Option<MultiplexedConnection>,
}

/// Gives each key in KEYS that exists without a time to live ARGV[1] ms (a script: `PEXPIRE ... NX` needs
/// Redis 7).
const KEEP_TTL: &str = "for _, key in ipairs(KEYS) do \
                        if redis.call('pttl', key) == -1 then redis.call('pexpire', key, ARGV[1]) end \
                        end return 0";

impl Beat for KeysKeeper {
    async fn beat(&mut self) {
        if self.connection.is_none() {
            self.connection = self.client.get_multiplexed_async_connection_with_config(&self.config).await.ok();
        }
        if let Some(live) = self.connection.as_mut() {
            let mut keep = redis::cmd("EVAL");
            keep.arg(KEEP_TTL).arg(self.keys.len()).arg(&self.keys).arg(self.ttl_ms);
            if keep.query_async::<i64>(live).await.is_err() {
                self.connection = None;
            }
        }
    }
}

fn heartbeat_ttl_ms() -> u64 {
    u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX)
}

impl Run<'_> {
    /// What every participant of a run must share, as the claim records it: `--sync atomic --workers 5 ...`.
    fn shared_configuration(&self) -> String {
        let lock_ttl = format!("--lock-ttl {}ms", self.options.lock_ttl.as_millis());
        shared_configuration(self.config, self.options.server.sharing.participants, &lock_ttl)
    }

    /// Claims the run id, or joins the run that claimed it: the first participant records the shared
    /// configuration (`SET NX`, with the run's time to live); the others must bring the same, and find a run
    /// still waiting for them. A stranger (another configuration), a run that has all its participants, or keys
    /// left by an earlier run (kept with `--keep`, or of a participant that stopped without leaving) are refused
    /// before anything is written.
    pub(crate) async fn claim(&self, admin: &mut MultiplexedConnection) -> Answer<()> {
        let keys = &self.keys;
        if self.options.server.sharing.run_id.is_none() {
            // A drawn id is new.
            return Ok(());
        }
        let shared = self.shared_configuration();
        let refuse = |why: String| -> Error {
            Error::Frontend(ServerError::RunTaken {
                run_id: self.id.clone(),
                data: format!("keys {}*", keys.prefix),
                why,
                remedy: "remove its keys",
            })
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
            let configuration: Option<String> =
                redis::cmd("GET").arg(&keys.config).query_async(admin).await.map_err(|e| self.failed(&e))?;
            // Gone between the two commands (expired, or its last participant left): claim it again.
            if configuration.is_none() {
                continue;
            }
            let members: Vec<String> = self.ask(admin, redis::cmd("SMEMBERS").arg(&keys.members)).await?;
            let ended: u64 = self.ask(admin, redis::cmd("EXISTS").arg(&keys.done).arg(&keys.left)).await?;
            let lapsed = members.len() as u64 - self.beating(admin, &members).await?;
            let found = Found { configuration, members: members.len() as u64, ended: ended > 0, lapsed };
            // A lapsed member's keys expire by themselves.
            return may_join(&found, &shared, self.options.server.sharing.participants).map_err(refuse);
        }
        Err(refuse("its keys kept changing while this participant tried to claim or join it".to_owned()))
    }

    /// How many of `members` have a heartbeat.
    async fn beating(&self, admin: &mut MultiplexedConnection, members: &[String]) -> Answer<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let alive: Vec<String> = members.iter().map(|member| self.keys.alive(member)).collect();
        self.ask(admin, redis::cmd("EXISTS").arg(&alive)).await
    }
}

impl Record for Run<'_> {
    type Admin = MultiplexedConnection;
    type Member = Member;

    /// Says this participant's workers are ready: alive first (so that one joining meanwhile never finds a
    /// member without a heartbeat), then a member, then its workers added to the ready count.
    async fn say_ready(&self, admin: &mut MultiplexedConnection, member: &Member) -> Answer<()> {
        let (keys, tag) = (&self.keys, member.tag.as_str());
        let () =
            self.ask(admin, redis::cmd("SET").arg(keys.alive(tag)).arg(1).arg("PX").arg(heartbeat_ttl_ms())).await?;
        let _: u64 = self.ask(admin, redis::cmd("SADD").arg(&keys.members).arg(tag)).await?;
        let _: u64 = self.ask(admin, redis::cmd("INCRBY").arg(&keys.ready).arg(self.config.workers())).await?;
        // The keys this far, and those to come, live no longer than the run.
        self.expire_all(admin).await
    }

    /// The workers ready over every member, and the members whose heartbeat lapsed.
    async fn roll(&self, admin: &mut MultiplexedConnection) -> Answer<Roll> {
        let keys = &self.keys;
        let ready: Option<u64> = self.ask(admin, redis::cmd("GET").arg(&keys.ready)).await?;
        let members: Vec<String> = self.ask(admin, redis::cmd("SMEMBERS").arg(&keys.members)).await?;
        let beating = self.beating(admin, &members).await?;
        Ok(Roll { ready_workers: ready.unwrap_or(0), stopped: (members.len() as u64).saturating_sub(beating) })
    }

    /// Takes this participant out of a run that has not started: its membership, its workers from the ready
    /// count (if it had added them), its heartbeat; returns the members left.
    async fn withdraw(&self, admin: &mut MultiplexedConnection, member: &Member) -> Option<u64> {
        let (keys, tag) = (&self.keys, member.tag.as_str());
        let was_member: u64 = redis::cmd("SREM").arg(&keys.members).arg(tag).query_async(admin).await.ok()?;
        if was_member > 0 {
            let _: redis::RedisResult<i64> =
                redis::cmd("DECRBY").arg(&keys.ready).arg(self.config.workers()).query_async(admin).await;
        }
        let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(keys.alive(tag)).query_async(admin).await;
        redis::cmd("SCARD").arg(&keys.members).query_async(admin).await.ok()
    }

    /// The counter, its shards and its fences exist before the first increment, with the run's time to live,
    /// which every write keeps: nothing the run leaves (killed, or kept) outlives its deadline.
    async fn prepare_counter(&self, admin: &mut MultiplexedConnection) -> Answer<()> {
        let keys = &self.keys;
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
        prepared.map_err(|error| self.failed(&error))?;
        self.expire_all(admin).await
    }

    /// Records this participant's report.
    async fn report(&self, admin: &mut MultiplexedConnection, member: &Member, local: &Reported) -> Answer<()> {
        let done = redis::cmd("HSET").arg(&self.keys.done).arg(&member.tag).arg(local.encode()).clone();
        let _: u64 = self.ask(admin, &done).await?;
        self.expire_all(admin).await
    }

    /// Every member's entry: its report, read back only if it adds up, or whether it is unheard. A member that
    /// wrote a report, readable or not, is done: it will not be heard from again.
    async fn entries(&self, admin: &mut MultiplexedConnection) -> Answer<Vec<Entry>> {
        let keys = &self.keys;
        let members: Vec<String> = self.ask(admin, redis::cmd("SMEMBERS").arg(&keys.members)).await?;
        let reports: HashMap<String, String> = self.ask(admin, redis::cmd("HGETALL").arg(&keys.done)).await?;
        let mut entries = Vec::with_capacity(members.len());
        for member in &members {
            let entry = if let Some(report) = reports.get(member) {
                Entry { reported: Reported::decode(report), unheard: true }
            } else {
                let alive: u64 = self.ask(admin, redis::cmd("EXISTS").arg(keys.alive(member))).await?;
                Entry { reported: None, unheard: alive == 0 }
            };
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Says this participant has left (its heartbeat gone with it); returns how many have left, and how many
    /// members there are. The keys live on with the run's time to live until the last one out removes them.
    async fn leave(&self, admin: &mut MultiplexedConnection, member: &Member) -> Answer<(u64, u64)> {
        let keys = &self.keys;
        let _: u64 = self.ask(admin, redis::cmd("DEL").arg(keys.alive(&member.tag))).await?;
        let left: u64 = self.ask(admin, redis::cmd("INCR").arg(&keys.left)).await?;
        let members: u64 = self.ask(admin, redis::cmd("SCARD").arg(&keys.members)).await?;
        self.expire_all(admin).await?;
        Ok((left, members))
    }

    async fn final_value(&self, admin: &mut MultiplexedConnection) -> Answer<u64> {
        if self.config.strategy() == Strategy::Sharded {
            let fields: Vec<u64> = self.ask(admin, redis::cmd("HVALS").arg(&self.keys.shards)).await?;
            return Ok(fields.iter().sum());
        }
        let value: Option<u64> = self.ask(admin, redis::cmd("GET").arg(&self.keys.value)).await?;
        Ok(value.unwrap_or(0))
    }

    /// Removes every key of the run; what could not be removed, named.
    async fn remove_run(&self, admin: &mut MultiplexedConnection) -> Result<(), String> {
        let removed: redis::RedisResult<u64> = redis::cmd("DEL").arg(&self.keys.all()[..]).query_async(admin).await;
        removed.map(drop).map_err(|error| {
            format!(
                "the run's keys ({}*) could not be removed ({error}); they expire by themselves within {} s",
                self.keys.prefix,
                self.keys_ttl_ms() / 1000
            )
        })
    }
}
