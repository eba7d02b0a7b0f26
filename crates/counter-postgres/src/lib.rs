//! The shared-counter experiment with the counter in a PostgreSQL table: each worker is a tokio task with its
//! own connection, as an application's requests would be, and the seed's race comes back as the lost update
//! (P4) of the isolation-level literature.
//!
//! By default the binary makes a private cluster (module `server`): `initdb` into a fresh directory, `postgres`
//! on a Unix socket in it (no TCP port), stopped and removed on every way out; run as root, the server runs as
//! the `postgres` user. `--postgres URL` uses a server that is already there (`postgresql://` URL or a
//! `key=value` string; the password from `PGPASSWORD` when the URL has none, as `psql` reads it).
//!
//! The strategies are `counter_client::sql`'s, as prepared statements (module `worker`). `--isolation` sets
//! every transaction's level: at repeatable read and serializable the server refuses one of two overlapping
//! read-then-write transactions (SQLSTATE 40001), which is rolled back, counted and made again. A run's rows live
//! in tables of its own (`counter_client::sql::table`), dropped at the end unless `--keep`; every statement has a
//! timeout on both sides (`statement_timeout` and the client's, `--timeout`): a server that stops answering ends
//! the run with an error naming it, never a hang.
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

use counter_client::private_server::private_unless_given;
use counter_core::{
    cli::Frontend,
    config::{Abilities, Config},
    model::Model,
    report::RunReport,
};

use crate::{
    client::DIALECT,
    options::{connection_config, describe},
    run::Run,
    server::PrivateCluster,
};
pub use crate::{
    figures::PostgresFigures,
    options::{Error, Isolation, PASSWORD_VARIABLE, PostgresOptions, ServerError},
};
use counter_client::sql::table::Table;

/// The model this crate runs.
pub const MODEL: Model = Model::Postgres;

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

/// Connections a private server allows beyond the workers' (the run's own, and PostgreSQL's reserved ones).
const SPARE_CONNECTIONS: u64 = 10;

/// Runs the workload against the counter in PostgreSQL and reports what happened.
pub fn run(config: &Config, options: &PostgresOptions) -> Result<RunReport, Error> {
    options.server.validate("--postgres")?;
    counter_client::make_room_for(config.workers())?;
    let (private, text) = private_unless_given(
        options.server.url.as_ref(),
        || PrivateCluster::start(config.workers() + SPARE_CONNECTIONS),
        PrivateCluster::connection_string,
    )?;
    let connection = connection_config(&text, options.server.timeout)?;
    let server = private.as_ref().map_or_else(|| describe(&connection), PrivateCluster::describe);
    let id = options.server.sharing.id();
    let run = Run {
        config,
        options,
        connection,
        server,
        server_pid: private.as_ref().map(PrivateCluster::pid),
        table: Table::new(&id, DIALECT),
        id,
    };
    counter_client::coordinator::run_then_stop(&run, private)
}

/// Connections a served cluster allows: many runs of a few clients each, one after another.
const SERVED_CONNECTIONS: u64 = 200;

/// `--serve`: makes a private cluster, prints the connection string that `--postgres` takes, and keeps the
/// cluster, answering requests about it (`counter_client::serve`), until standard input closes or a stop signal
/// arrives; then stops it and removes it. For a tool that runs this binary many times (`cargo xtask compare`,
/// `cargo xtask faults`), so that its runs do not each pay for `initdb`.
pub fn serve() -> Result<(), Error> {
    let cluster = PrivateCluster::start(SERVED_CONNECTIONS)?;
    let mut served = served::ServedPostgres { cluster, runtime: counter_client::serve::runtime("PostgreSQL server")? };
    counter_client::serve::serve(&mut served);
    Ok(())
}
