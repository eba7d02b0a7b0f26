//! A connection to the server as every client of a run makes it (the session's isolation level and statement
//! timeout set), the client's own deadline on every request, and why a request failed.

use std::time::Duration;

use counter_client::sql::{
    record::{Dialect, Failure},
    request::{self, Driver, RequestError},
};
use tokio_postgres::{Client, NoTls, error::SqlState};

use crate::options::Isolation;

/// Connects with `config`, drives the connection on the runtime, and sets the session's isolation level and
/// statement timeout.
pub(crate) async fn connect(
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

/// How a worker connects again after its connection broke (terminated by the server, or a server that stopped
/// answering), and for how long it keeps trying.
#[derive(Debug, Clone)]
pub(crate) struct Reconnect {
    pub(crate) connection: tokio_postgres::Config,
    pub(crate) isolation: Isolation,
    pub(crate) patience: Duration,
}

/// The PostgreSQL driver, as the shared client asks what its errors say.
#[derive(Debug)]
pub(crate) struct Postgres;

/// Why a request failed: the server's answer, or none within the timeout.
pub(crate) type WorkerError = RequestError<Postgres>;

/// PostgreSQL's SQL where the shared statements need it.
pub(crate) const DIALECT: Dialect = Dialect {
    now: "clock_timestamp()",
    timestamp: "timestamptz",
    serial: "bigserial",
    key_text: "text",
    integer: "bigint",
    table_options: "",
    microseconds: |us| format!("interval '{us} microseconds'"),
    quote: '"',
    zero_rows: |from, to| format!("SELECT s, 0, 0, 0 FROM generate_series({from}, {to}) AS s"),
    returning: true,
    param: |n| format!("${n}"),
};

impl Driver for Postgres {
    type Error = tokio_postgres::Error;

    // The driver's own message is short ("db error"): the server's, with its code, says what happened.
    fn server_answer(error: &tokio_postgres::Error) -> Option<String> {
        let db = error.as_db_error()?;
        Some(format!("{} (SQLSTATE {})", db.message(), db.code().code()))
    }

    /// The server refused to serialize the transaction (40001) or chose it as a deadlock's victim (40P01).
    fn is_refusal(error: &tokio_postgres::Error) -> bool {
        error.code().is_some_and(|code| {
            *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        })
    }

    /// The table exists (42P07), or two made it at once (the catalog's unique index, 23505, or the table's row
    /// type, 42710, whichever the server met first); it is not there (42P01).
    fn failure(error: &tokio_postgres::Error) -> Failure {
        match error.code() {
            Some(code)
                if *code == SqlState::DUPLICATE_TABLE
                    || *code == SqlState::UNIQUE_VIOLATION
                    || *code == SqlState::DUPLICATE_OBJECT =>
            {
                Failure::TableExists
            }
            Some(code) if *code == SqlState::UNDEFINED_TABLE => Failure::NoTable,
            _ => Failure::Other,
        }
    }
}

/// `future`, or a timeout error after `timeout`.
pub(crate) async fn within<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, WorkerError> {
    request::within(timeout, future).await
}
