//! Participants that share one run across machines: they meet in Redis before the start (every worker of every
//! participant connected), keep a heartbeat key alive while they run, and meet again at the end to add up their
//! counts; the last to leave removes the run's keys.

use std::time::{Duration, Instant};

use counter_client::participants::{
    Beat, HEARTBEAT_TTL, RENDEZVOUS_POLL, RendezvousTimeout, Reported, Tally, last_out_after,
};
use counter_core::{error::RunError, report::OtherParticipants, signals};
use redis::{AsyncConnectionConfig, Client, aio::MultiplexedConnection};

use crate::{RedisError, Run, Stop, keys::Keys};

/// What the meeting at the end found: the other participants' share, and after how many have left the keys go.
pub(crate) struct Met {
    pub(crate) others: Option<OtherParticipants>,
    pub(crate) last_out_after: u64,
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
            let ttl_ms = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
            let beat: redis::RedisResult<()> =
                redis::cmd("SET").arg(&self.key).arg(1).arg("PX").arg(ttl_ms).query_async(live).await;
            if beat.is_err() {
                self.connection = None;
            }
        }
    }
}

impl Run<'_> {
    /// Every worker of every participant ready before any starts: each participant joins the members and adds
    /// its workers to the ready count; the last to be ready pushes one token per participant, and each waits
    /// for its token.
    pub(crate) async fn rendezvous(
        &self,
        admin: &mut MultiplexedConnection,
        keys: &Keys,
        participant: &str,
        workers: u64,
    ) -> Result<(), Stop> {
        let participants = self.options.sharing.participants;
        if participants == 1 {
            return Ok(());
        }
        // Alive before it is a member, so that one joining meanwhile never finds a member without a heartbeat.
        let ttl_ms = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
        let () = redis::cmd("SET")
            .arg(keys.alive(participant))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms)
            .query_async(admin)
            .await
            .map_err(|e| self.failed(&e))?;
        let _: u64 = redis::cmd("SADD")
            .arg(&keys.members)
            .arg(participant)
            .query_async(admin)
            .await
            .map_err(|e| self.failed(&e))?;
        let everyone = workers.saturating_mul(participants);
        let ready: u64 = match redis::cmd("INCRBY").arg(&keys.ready).arg(workers).query_async(admin).await {
            Ok(ready) => ready,
            Err(error) => {
                self.withdraw(admin, keys, participant, workers).await;
                return Err(self.failed(&error).into());
            }
        };
        // The keys this far, and those to come, live no longer than the run.
        self.expire_all(admin, keys).await?;
        if ready >= everyone {
            let tokens: Vec<u64> = (0..participants).collect();
            let _: u64 =
                redis::cmd("RPUSH").arg(&keys.go).arg(&tokens).query_async(admin).await.map_err(|e| self.failed(&e))?;
            self.expire_all(admin, keys).await?;
        }
        // The server holds a blocking wait open for its whole length: it must end before the connection's own
        // response timeout (--timeout) does.
        let poll_s = (self.options.timeout.as_secs_f64() / 2.0).clamp(0.01, RENDEZVOUS_POLL.as_secs_f64());
        let waiting = Instant::now();
        loop {
            if let Some(signal) = signals::received() {
                self.withdraw(admin, keys, participant, workers).await;
                return Err(Stop::Signal(signal));
            }
            let token: redis::RedisResult<Option<(String, String)>> =
                redis::cmd("BLPOP").arg(&keys.go).arg(poll_s).query_async(admin).await;
            match token {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => {}
                Err(error) => {
                    self.withdraw(admin, keys, participant, workers).await;
                    return Err(self.failed(&error).into());
                }
            }
            if waiting.elapsed() > self.options.sharing.rendezvous_timeout {
                return Err(self.give_up(admin, keys, participant, workers, everyone).await);
            }
        }
    }

    /// Takes this participant out of a rendezvous that has not started (stopped, or failed): its ready count,
    /// its membership and its heartbeat go, so that the others neither start with its workers counted nor wait
    /// for it; the keys go with the last one out.
    pub(crate) async fn withdraw(
        &self,
        admin: &mut MultiplexedConnection,
        keys: &Keys,
        participant: &str,
        workers: u64,
    ) -> Option<u64> {
        let ready: Option<u64> = redis::cmd("GET").arg(&keys.ready).query_async(admin).await.ok().flatten();
        let still_ready: redis::RedisResult<i64> =
            redis::cmd("DECRBY").arg(&keys.ready).arg(workers).query_async(admin).await;
        let _: redis::RedisResult<u64> =
            redis::cmd("SREM").arg(&keys.members).arg(participant).query_async(admin).await;
        let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(keys.alive(participant)).query_async(admin).await;
        if still_ready.is_ok_and(|ready| ready <= 0) && !self.options.keep {
            // Nobody else came: nothing of the run is left to keep.
            let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(&keys.all()[..]).query_async(admin).await;
        }
        ready
    }

    /// The others did not all come: this participant withdraws (so that one coming later does not start with
    /// its workers counted) and fails, saying how many were ready.
    async fn give_up(
        &self,
        admin: &mut MultiplexedConnection,
        keys: &Keys,
        participant: &str,
        workers: u64,
        everyone: u64,
    ) -> Stop {
        let ready = self.withdraw(admin, keys, participant, workers).await;
        Stop::Failed(RunError::Frontend(RedisError::Rendezvous(RendezvousTimeout {
            run_id: self.id.clone(),
            ready: ready.unwrap_or(0),
            everyone,
            waited: self.options.sharing.rendezvous_timeout,
        })))
    }

    /// With participants: reports this one's increments, waits until every other has reported or stopped (its
    /// heartbeat expired), and returns their share. The last to leave removes the keys.
    pub(crate) async fn meet_at_the_end(
        &self,
        admin: &mut MultiplexedConnection,
        keys: &Keys,
        participant: &str,
        local: Reported,
    ) -> Result<Met, Stop> {
        let participants = self.options.sharing.participants;
        if participants == 1 {
            return Ok(Met { others: None, last_out_after: 0 });
        }
        let () = redis::cmd("HSET")
            .arg(&keys.done)
            .arg(participant)
            .arg(local.encode())
            .query_async::<u64>(admin)
            .await
            .map(drop)
            .map_err(|e| self.failed(&e))?;
        self.expire_all(admin, keys).await?;
        let (reports, missing, stopped) = loop {
            if signals::received().is_some() {
                // Stopped after it reported: it does not wait for the others, and its report is partial.
                let members: Vec<String> =
                    redis::cmd("SMEMBERS").arg(&keys.members).query_async(admin).await.unwrap_or_default();
                let reports: std::collections::HashMap<String, String> =
                    redis::cmd("HGETALL").arg(&keys.done).query_async(admin).await.unwrap_or_default();
                let missing = members.iter().filter(|member| !reports.contains_key(*member)).count() as u64;
                break (reports, missing, Some(members.len() as u64));
            }
            let members: Vec<String> =
                redis::cmd("SMEMBERS").arg(&keys.members).query_async(admin).await.map_err(|e| self.failed(&e))?;
            let reports: std::collections::HashMap<String, String> =
                redis::cmd("HGETALL").arg(&keys.done).query_async(admin).await.map_err(|e| self.failed(&e))?;
            let missing: Vec<&String> = members.iter().filter(|member| !reports.contains_key(*member)).collect();
            if missing.is_empty() {
                break (reports, 0, None);
            }
            let alive: Vec<String> = missing.iter().map(|member| keys.alive(member)).collect();
            let beating: u64 =
                redis::cmd("EXISTS").arg(&alive).query_async(admin).await.map_err(|e| self.failed(&e))?;
            if beating == 0 {
                // Every participant still missing has stopped: waiting longer would be waiting forever.
                break (reports.clone(), missing.len() as u64, None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Another participant's report is read back only if it adds up; one that does not counts as missing.
        let decoded: Vec<Reported> = reports.values().filter_map(|entry| Reported::decode(entry)).collect();
        let unreadable = (reports.len() - decoded.len()) as u64;
        let tally = Tally::of(decoded, missing + unreadable);
        Ok(Met {
            others: Some(tally.others(participants, &local, self.config)),
            last_out_after: last_out_after(reports.len() as u64, missing + unreadable, stopped),
        })
    }

    /// Says this participant has read the totals; the one that makes `left` reach `last_out_after` removes the
    /// keys (never at `u64::MAX`).
    pub(crate) async fn leave(
        &self,
        admin: &mut MultiplexedConnection,
        keys: &Keys,
        last_out_after: u64,
    ) -> Result<(), Stop> {
        let left: u64 = redis::cmd("INCR").arg(&keys.left).query_async(admin).await.map_err(|e| self.failed(&e))?;
        if left >= last_out_after && !self.options.keep {
            let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(&keys.all()[..]).query_async(admin).await;
            return Ok(());
        }
        self.expire_all(admin, keys).await
    }
}
