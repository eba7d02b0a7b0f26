//! What a run against MariaDB is asked for beyond the shared workload: the server (a `mysql://` URL, never
//! shown as given: only what was parsed from it), the isolation level, snapshot isolation, the run's sharing.

pub use counter_client::error::{Error, ServerError};
use counter_client::options::ServerOptions;
pub use counter_client::sql::Isolation;
use counter_core::config::ConfigError;
use mysql_async::{Opts, OptsBuilder, UrlError};

/// The variable that holds the server's password, as the `mariadb` client reads it: so that it need not sit
/// in argv.
pub const PASSWORD_VARIABLE: &str = "MYSQL_PWD";

/// `innodb_snapshot_isolation`, the session variable that refuses a write to a row changed since the
/// transaction's snapshot (error 1020).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Snapshot {
    /// The variable set off (this version's default; on by default from 11.6.2).
    #[default]
    Off,
    /// The variable set on.
    On,
}

/// How to reach the server, on top of the shared [`Config`](counter_core::config::Config).
#[derive(Debug, Clone)]
pub struct MariadbOptions {
    /// The server, the run's sharing, the deadline: what every store is asked for.
    pub server: ServerOptions,
    /// The isolation level of every transaction.
    pub isolation: Isolation,
    /// `innodb_snapshot_isolation` for every session.
    pub snapshot: Snapshot,
}

/// The server to connect to: `text` parsed, the password from [`PASSWORD_VARIABLE`] when it has none. `text` is
/// never shown (it may hold a password): only what was parsed from it.
pub(crate) fn connection_opts(text: &str) -> Result<Opts, ConfigError> {
    const NO_TLS: &str = "--mariadb with TLS: TLS is not built into counter-mariadb; use a Unix socket, a server on \
                          this machine, or a TLS tunnel to the server";
    let opts = Opts::from_url(text).map_err(|error| match error {
        UrlError::FeatureRequired { .. } => ConfigError::Conflict(NO_TLS.to_owned()),
        _ => ConfigError::Conflict(format!(
            "invalid --mariadb (its {} characters are not shown): {}; a mysql://user@host[:port]/db URL is expected \
             (?socket=PATH for a Unix socket), the password better in {PASSWORD_VARIABLE}",
            text.chars().count(),
            without_values(&error)
        )),
    })?;
    if opts.ssl_opts().is_some() {
        return Err(ConfigError::Conflict(NO_TLS.to_owned()));
    }
    let password = std::env::var(PASSWORD_VARIABLE).ok().filter(|password| !password.is_empty());
    Ok(match (opts.pass(), password) {
        (None, Some(password)) => OptsBuilder::from_opts(opts).pass(Some(password)).into(),
        _ => opts,
    })
}

/// The driver's URL error, less what it quotes of the text (a value, a parameter's name that may be part of a
/// password); only the names of the parameters it reads are kept.
fn without_values(error: &UrlError) -> String {
    const KNOWN: [&str; 6] = ["socket", "prefer_socket", "pool_min", "pool_max", "compression", "require_ssl"];
    let name = |param: &str| if KNOWN.contains(&param) { param.to_owned() } else { "…".to_owned() };
    match error {
        UrlError::InvalidParamValue { param, .. } => format!("an invalid value for parameter `{}`", name(param)),
        UrlError::UnknownParameter { param } => format!("an unknown parameter `{}`", name(param)),
        UrlError::UnsupportedScheme { .. } => "a scheme other than mysql://".to_owned(),
        UrlError::Parse(parse) => format!("not a URL ({parse})"),
        _ => "an invalid or incomplete URL".to_owned(),
    }
}

/// A server as the report names it: what was parsed from the URL (socket or host and port, user, database),
/// never the URL itself.
pub(crate) fn describe(opts: &Opts) -> String {
    let place = opts.socket().map_or_else(
        || format!("host={} port={}", opts.ip_or_hostname(), opts.tcp_port()),
        |socket| format!("socket={socket}"),
    );
    let user = opts.user().map(|user| format!(" user={user}")).unwrap_or_default();
    let db = opts.db_name().map(|db| format!(" db={db}")).unwrap_or_default();
    format!("{place}{user}{db}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        for text in ["mysql://u:sekrit@host:notaport/db", "mysql://u:sekrit@h/db?sekrit=1", "sekrit"] {
            let message = connection_opts(text).unwrap_err().to_string();
            assert!(message.contains("invalid --mariadb") && !message.contains("sekrit"), "{message}");
        }
    }

    #[test]
    fn tls_is_refused_saying_so() {
        let message = connection_opts("mysql://u:sekrit@db/x?require_ssl=true").unwrap_err().to_string();
        assert!(message.contains("TLS") && !message.contains("sekrit"), "{message}");
    }

    #[test]
    fn the_description_is_what_was_parsed() {
        let opts = connection_opts("mysql://u:sekrit@localhost/db?socket=/tmp/s.sock").unwrap();
        assert_eq!(opts.pass(), Some("sekrit"));
        assert_eq!(describe(&opts), "socket=/tmp/s.sock user=u db=db");
    }
}
