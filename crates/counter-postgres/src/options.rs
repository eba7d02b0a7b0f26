//! What a run against PostgreSQL is asked for, beyond the shared workload: the server (a URL or key=value
//! string, never shown as given: only what was parsed from it), the isolation level, the run's sharing, the
//! timeout; and what only this model can fail with.

use std::time::Duration;

pub use counter_client::error::{Error, ServerError};
use counter_client::options::ServerOptions;
pub use counter_client::sql::Isolation;
use counter_core::config::ConfigError;

/// The variable that holds the server's password, as `psql` reads it: so that it need not sit in argv.
pub const PASSWORD_VARIABLE: &str = "PGPASSWORD";

/// How to reach the server, on top of the shared [`Config`](counter_core::config::Config).
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// The server, the run's sharing, the deadline: what every store is asked for.
    pub server: ServerOptions,
    /// The isolation level of every transaction.
    pub isolation: Isolation,
}

/// The server to connect to: `text` parsed, the password from [`PASSWORD_VARIABLE`] when it has none. `text` is
/// never shown (it may hold a password, in any shape): only what was parsed from it.
pub(crate) fn connection_config(text: &str, timeout: Duration) -> Result<tokio_postgres::Config, ConfigError> {
    let mut config: tokio_postgres::Config = text.parse().map_err(|error: tokio_postgres::Error| {
        ConfigError::Conflict(format!(
            "invalid --postgres (its {} characters are not shown): {}; a postgresql://user@host/db URL or a \
             host=... user=... dbname=... string is expected, the password better in {PASSWORD_VARIABLE}",
            text.chars().count(),
            parse_error_without_values(&error)
        ))
    })?;
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(ConfigError::Conflict(
            "--postgres with sslmode=require: TLS is not built into counter-postgres; use a Unix socket, a server on \
             this machine, or a TLS tunnel to the server"
                .to_owned(),
        ));
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

/// The driver's parse error, less what it quotes of the text (an option's name that may be part of a password,
/// the character it stopped at); the names of the options it knows, and the `=` it expected, are kept.
fn parse_error_without_values(error: &tokio_postgres::Error) -> String {
    // The driver's own option names, the only quoted text kept.
    const KNOWN: &str = "host hostaddr port user dbname password sslmode connect_timeout options application_name \
                         target_session_attrs channel_binding =";
    let text = std::error::Error::source(error).map_or_else(|| error.to_string(), ToString::to_string);
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('`');
    out.push_str(parts.next().unwrap_or_default());
    while let Some(quoted) = parts.next() {
        out.push('`');
        out.push_str(if KNOWN.split_whitespace().any(|known| known == quoted) { quoted } else { "…" });
        out.push('`');
        out.push_str(parts.next().unwrap_or_default());
    }
    out
}

/// A server as the report names it: what was parsed from the connection string (hosts or sockets, ports,
/// database, user), never the string itself.
pub(crate) fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let mut parts = vec![format!("host={}", if hosts.is_empty() { "(default)".to_owned() } else { hosts.join(",") })];
    if !config.get_ports().is_empty() {
        let numbers: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        parts.push(format!("port={}", numbers.join(",")));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(dbname) = config.get_dbname() {
        parts.push(format!("dbname={dbname}"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_comes_from_the_url_before_the_environment() {
        let config = connection_config("postgresql://u:given@localhost/db", Duration::from_secs(1)).unwrap();
        assert_eq!(config.get_password(), Some(&b"given"[..]));
    }
}
