//! `counter-postgres`: the seed program with the counter in a PostgreSQL table, one client connection per worker.

use std::process::ExitCode;

use counter_client::cli::{ServerFlags, store_main};
use counter_core::cli::{self, RunArgs};
use counter_postgres::{FRONTEND, Isolation, MODEL, PostgresOptions, run};

/// Five clients each add 1 to a counter in a PostgreSQL table 1000 times after 10 ms of work: is the result 5000?
///
/// Runs the workload with one tokio task per worker, each with its own connection to a PostgreSQL server (a
/// private cluster made for the run, on a Unix socket, or --postgres URL), and reports the final value, the
/// updates lost, the transactions the server refused, the round trips and their latency, and the memory of the
/// client and of the server's backend processes.
#[derive(Debug, clap::Parser)]
#[command(name = MODEL.binary(), version)]
struct Args {
    #[command(flatten)]
    run: RunArgs,

    // A struct of its own, so that clap builds its flags in a stack frame of their own, after the shared ones.
    #[command(flatten)]
    postgres: PostgresFlags,
}

/// The flags only this binary has.
#[derive(Debug, clap::Args)]
struct PostgresFlags {
    /// A PostgreSQL server to use instead of a private one (a URL or key=value string; password from PGPASSWORD)
    #[arg(
        long,
        value_name = "URL",
        long_help = "A PostgreSQL server to use instead of a private one: postgresql://[user[:password]@]host[:port]/db \
                     or 'host=/run/postgresql user=... dbname=...'; the password from PGPASSWORD when none is given"
    )]
    postgres: Option<String>,

    /// The isolation level of every transaction
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = Isolation::ReadCommitted)]
    isolation: Isolation,

    #[command(flatten)]
    server: ServerFlags,
}

fn main() -> ExitCode {
    let Args { run: run_args, postgres: args } = cli::parse(&FRONTEND);
    let options = PostgresOptions { server: args.server.options(args.postgres), isolation: args.isolation };
    store_main(&FRONTEND, &run_args, (&args.server, counter_postgres::serve), |config| run(config, &options))
}
