//! The shared-counter experiment with the counter in a MariaDB table: each worker is a tokio task with its own
//! connection, which the server serves with a thread of its own (PostgreSQL forks a process per connection,
//! Redis serves them all from one event loop), and the seed's race comes back as the lost update (P4).
//!
//! By default the binary makes a private server (module `server`): `mariadb-install-db` into a fresh
//! directory, `mariadbd` on a Unix socket in it (no TCP port), stopped and removed on every way out; run as
//! root, the server runs as the `mysql` user. `--mariadb URL` uses a server that is already there (a
//! `mysql://` URL; the password from `MYSQL_PWD` when the URL has none, as the `mariadb` client reads it).
//!
//! The strategies are `counter_client::sql`'s, as statements (module `worker`). `--isolation` sets every
//! transaction's level (repeatable read by default, as the server's), and `--snapshot-isolation` the session's
//! `innodb_snapshot_isolation`, with which the server refuses a write to a row changed since the transaction's
//! snapshot (error 1020). A run's rows live in tables of its own (`counter_client::sql::table`), dropped at the
//! end unless `--keep`; every statement has a timeout on both sides (`max_statement_time`, the lock wait
//! timeout, and the client's, `--timeout`).
#![warn(missing_docs)]

mod client;
mod figures;
mod options;
mod participants;
mod run;
mod served;
mod server;
mod store;
mod worker;

use std::sync::OnceLock;

use counter_client::private_server::private_unless_given;
use counter_core::{
    cli::Frontend,
    config::{Abilities, Config},
    model::Model,
    report::RunReport,
};

use crate::{
    client::DIALECT,
    options::{connection_opts, describe},
    run::Run,
    server::PrivateMariadb,
};
pub use crate::{
    figures::MariadbFigures,
    options::{Error, Isolation, MariadbOptions, PASSWORD_VARIABLE, ServerError, Snapshot},
};
use counter_client::sql::table::Table;

/// The model this crate runs.
pub const MODEL: Model = Model::Mariadb;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: false,
        no_pool: Some(counter_client::NO_POOL),
        no_fencing: Some(counter_client::sql::NO_FENCING),
    },
    work_help: counter_client::WORK_HELP,
    words: figures::WORDS,
};

// What the frontend says it can run agrees with its model's facts, or the crate does not build.
const _: () = assert!(FRONTEND.agrees_with_its_model());

/// Connections a private server allows beyond the workers' (the run's own).
const SPARE_CONNECTIONS: u64 = 10;

/// Runs the workload against the counter in MariaDB and reports what happened.
pub fn run(config: &Config, options: &MariadbOptions) -> Result<RunReport, Error> {
    options.server.validate("--mariadb")?;
    counter_client::make_room_for(config.workers())?;
    let (private, text) = private_unless_given(
        options.server.url.as_ref(),
        || PrivateMariadb::start(config.workers() + SPARE_CONNECTIONS),
        PrivateMariadb::url,
    )?;
    let opts = connection_opts(&text)?;
    let server = private.as_ref().map_or_else(|| describe(&opts), PrivateMariadb::describe);
    let id = options.server.sharing.id();
    let run = Run {
        config,
        options,
        opts,
        server,
        server_pid: private.as_ref().map(PrivateMariadb::pid),
        table: Table::new(&id, DIALECT),
        id,
        has_snapshot: OnceLock::new(),
    };
    counter_client::coordinator::run_then_stop(&run, private)
}

/// Connections a served server allows: many runs of a few clients each, one after another.
const SERVED_CONNECTIONS: u64 = 300;

/// `--serve`: makes a private server, prints the URL that `--mariadb` takes, and keeps the server, answering
/// requests about it (`counter_client::serve`), until standard input closes or a stop signal arrives; then stops
/// it and removes it.
pub fn serve() -> Result<(), Error> {
    let private = PrivateMariadb::start(SERVED_CONNECTIONS)?;
    let mut served =
        served::ServedMariadb { server: private, runtime: counter_client::serve::runtime("MariaDB server")? };
    counter_client::serve::serve(&mut served);
    Ok(())
}
