//! One run's context: the workload, the options, the server (a client for it, and how the report names it), the
//! run's keys; and what every command of the coordinator's needs (its errors, its deadline, the keys' time to
//! live).

use std::time::Duration;

use counter_core::{config::Config, error::RunError};
use redis::{AsyncConnectionConfig, Client, aio::MultiplexedConnection};

use crate::{
    keys::Keys,
    options::{Error, PasswordFrom, RedisOptions, ServerError},
};

/// One run's context.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    pub(crate) config: &'a Config,
    pub(crate) options: &'a RedisOptions,
    pub(crate) client: Client,
    /// The server as the report names it.
    pub(crate) server: String,
    /// The private server's pid, when the run started one.
    pub(crate) server_pid: Option<i32>,
    /// Where the password comes from, for a refusal to name.
    pub(crate) password: PasswordFrom,
    /// The run's id, given (shared) or drawn.
    pub(crate) id: String,
    pub(crate) keys: Keys,
}

/// The result of a command of the coordinator's.
pub(crate) type Answer<T> = Result<T, Error>;

impl Run<'_> {
    /// Every connection's timeouts: connecting, and each answer.
    pub(crate) fn connection_config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.server.timeout))
            .set_response_timeout(Some(self.options.server.timeout))
    }

    /// A new connection of the coordinator's.
    pub(crate) async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        self.client.get_multiplexed_async_connection_with_config(&self.connection_config()).await
    }

    /// One command, its answer or the run's error.
    pub(crate) async fn ask<T: redis::FromRedisValue>(
        &self,
        admin: &mut MultiplexedConnection,
        command: &redis::Cmd,
    ) -> Answer<T> {
        command.query_async(admin).await.map_err(|error| self.failed(&error))
    }

    /// The server could not be used at all: about the request (exit 2).
    pub(crate) fn unreachable(&self, error: &redis::RedisError) -> Error {
        let hint = if error.kind() == redis::ErrorKind::AuthenticationFailed
            || error.code().is_some_and(|code| matches!(code, "WRONGPASS" | "NOAUTH"))
        {
            match self.password {
                PasswordFrom::Url => "the password in the URL was refused",
                PasswordFrom::Environment => "the password in REDISCLI_AUTH was refused",
                PasswordFrom::Nowhere => "the server wants a password: give it in REDISCLI_AUTH",
            }
        } else if error.is_connection_refusal() {
            "is the server running, and is the URL right?"
        } else {
            "see the reason above"
        };
        RunError::Frontend(ServerError::Unusable {
            store: "redis",
            server: self.server.clone(),
            detail: format!("{error} ({hint})"),
        })
    }

    /// The server failed during the run.
    pub(crate) fn failed(&self, source: &redis::RedisError) -> Error {
        let detail = if source.is_timeout() {
            format!("no answer within {:?} (--timeout): {source}", self.options.server.timeout)
        } else {
            source.to_string()
        };
        RunError::Frontend(ServerError::Server { store: "redis", server: self.server.clone(), detail })
    }

    /// How long the run's keys live: its rendezvous, twice its ideal time, and ten minutes, so that nothing a run
    /// leaves (a participant killed, `--keep`) outlives it by more than that.
    pub(crate) fn keys_ttl_ms(&self) -> u64 {
        let ideal = self.config.work().nominal().as_secs_f64() * self.config.increments() as f64;
        let seconds = self.options.server.sharing.rendezvous_timeout.as_secs_f64() + 2.0 * ideal + 600.0;
        (seconds * 1000.0).min(1e15) as u64
    }

    /// Gives every key of the run that exists the run's time to live, but the lock, whose time to live is the
    /// lease (`--lock-ttl`) and must stay so.
    pub(crate) async fn expire_all(&self, admin: &mut MultiplexedConnection) -> Answer<()> {
        let ttl = self.keys_ttl_ms();
        let mut pipe = redis::pipe();
        for key in self.keys.all().into_iter().filter(|key| *key != self.keys.lock) {
            pipe.cmd("PEXPIRE").arg(key).arg(ttl).ignore();
        }
        pipe.query_async::<()>(admin).await.map_err(|e| self.failed(&e))
    }
}

/// How long a worker whose connection broke keeps trying to connect again before it gives up: long enough for
/// a server that stalls or restarts, a few response timeouts.
pub(crate) fn reconnect_patience(timeout: Duration) -> Duration {
    (timeout * 4).max(Duration::from_secs(10))
}

/// A `field:value` line of `INFO`'s answer.
pub(crate) fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':')).map(str::trim)
}
