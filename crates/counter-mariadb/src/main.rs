//! `counter-mariadb`: the seed program with the counter in a MariaDB table, one client connection per worker.

use std::process::ExitCode;

use counter_client::cli::{ServerFlags, store_main};
use counter_core::cli::{self, RunArgs};
use counter_mariadb::{FRONTEND, Isolation, MODEL, MariadbOptions, Snapshot, run};

/// Five clients each add 1 to a counter in a MariaDB table 1000 times after 10 ms of work: is the result 5000?
///
/// Runs the workload with one tokio task per worker, each with its own connection to a MariaDB server (a
/// private server made for the run, on a Unix socket, or --mariadb URL), which serves each connection with a
/// thread of its own; reports the final value, the updates lost, the transactions the server refused, the round
/// trips and their latency, and the server's memory and threads with the clients.
#[derive(Debug, clap::Parser)]
#[command(name = MODEL.binary(), version)]
struct Args {
    #[command(flatten)]
    run: RunArgs,

    // A struct of its own, so that clap builds its flags in a stack frame of their own, after the shared ones.
    #[command(flatten)]
    mariadb: MariadbFlags,
}

/// The flags only this binary has.
#[derive(Debug, clap::Args)]
struct MariadbFlags {
    #[arg(
        long,
        value_name = "URL",
        help = "A MariaDB server to use instead of a private one (a mysql:// URL; password from MYSQL_PWD)",
        long_help = "A MariaDB server to use instead of a private one: mysql://[user[:password]@]host[:port]/db, \
                     ?socket=PATH for a Unix socket; the password from MYSQL_PWD when none is given"
    )]
    mariadb: Option<String>,

    /// The isolation level of every transaction
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = Isolation::RepeatableRead)]
    isolation: Isolation,

    #[arg(
        long,
        value_name = "ON_OFF",
        value_enum,
        default_value_t = Snapshot::Off,
        help = "innodb_snapshot_isolation for every session: on refuses a write to a row changed since the \
                transaction's snapshot (error 1020)"
    )]
    snapshot_isolation: Snapshot,

    #[command(flatten)]
    server: ServerFlags,
}

fn main() -> ExitCode {
    let Args { run: run_args, mariadb: args } = cli::parse(&FRONTEND);
    let options = MariadbOptions {
        server: args.server.options(args.mariadb),
        isolation: args.isolation,
        snapshot: args.snapshot_isolation,
    };
    store_main(&FRONTEND, &run_args, (&args.server, counter_mariadb::serve), |config| run(config, &options))
}
