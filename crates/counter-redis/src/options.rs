//! What a run against Redis is asked for, beyond the shared workload: the server (a URL, never shown as given:
//! only what was parsed from it), the run's sharing, the lock's lease, the timeout.

use std::time::Duration;

pub use counter_client::error::{Error, ServerError};
use counter_client::options::ServerOptions;
use counter_core::config::ConfigError;

/// How to reach the server and share the run, on top of the shared [`Config`](counter_core::config::Config).
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// The server, the run's sharing, the deadline: what every store is asked for.
    pub server: ServerOptions,
    /// How long the mutex strategy's lock lives if its holder never releases it.
    pub lock_ttl: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions { server: ServerOptions::default(), lock_ttl: Duration::from_secs(5) }
    }
}

impl RedisOptions {
    /// Checks the options: a run id that makes valid keys, participants with a run id, no TLS URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate("--redis")?;
        if let Some(url) = &self.server.url
            && url.starts_with("rediss://")
        {
            return Err(ConfigError::Conflict(
                "--redis rediss://...: TLS is not built into counter-redis; use redis:// or unix://, or a TLS tunnel \
                 to the server"
                    .to_owned(),
            ));
        }
        counter_client::check_deadline("--lock-ttl", self.lock_ttl)
    }
}

/// The variable that holds the server's password, as `redis-cli` reads it: so that it need not sit in argv.
pub const PASSWORD_VARIABLE: &str = "REDISCLI_AUTH";

/// Where the password a server is given comes from: what a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordFrom {
    Url,
    Environment,
    Nowhere,
}

/// The server to connect to: the URL, with the password from [`PASSWORD_VARIABLE`] when the URL has none.
pub(crate) fn connection_info(url: &str) -> redis::RedisResult<(redis::ConnectionInfo, PasswordFrom)> {
    use redis::IntoConnectionInfo as _;
    let info = url.into_connection_info()?;
    if info.redis_settings().password().is_some() {
        return Ok((info, PasswordFrom::Url));
    }
    match std::env::var(PASSWORD_VARIABLE) {
        Ok(password) if !password.is_empty() => {
            let settings = info.redis_settings().clone().set_password(password);
            Ok((info.set_redis_settings(settings), PasswordFrom::Environment))
        }
        _ => Ok((info, PasswordFrom::Nowhere)),
    }
}

/// A server as the report names it: what was parsed from the URL (address, database, whether a password is
/// given), never the URL itself, nor its user field, where a misplaced password would sit.
pub(crate) fn describe(info: &redis::ConnectionInfo, password: PasswordFrom) -> String {
    let address = match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) | redis::ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host} port {port}")
        }
        redis::ConnectionAddr::Unix(path) => format!("Unix socket {}", path.display()),
        // An address kind of a later client version: its own display is an address, never credentials.
        other => other.to_string(),
    };
    let database = info.redis_settings().db();
    let database = if database == 0 { String::new() } else { format!(", database {database}") };
    let password = match password {
        PasswordFrom::Url => ", with the URL's password",
        PasswordFrom::Environment => ", with the password in REDISCLI_AUTH",
        PasswordFrom::Nowhere => "",
    };
    format!("{address}{database}{password}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_url_is_refused_without_showing_it() {
        let tls = RedisOptions {
            server: ServerOptions { url: Some("rediss://u:pw@h".into()), ..ServerOptions::default() },
            ..RedisOptions::default()
        };
        let message = tls.validate().unwrap_err().to_string();
        assert!(message.contains("TLS") && !message.contains("pw"), "{message}");
        assert!(RedisOptions::default().validate().is_ok());
    }
}
