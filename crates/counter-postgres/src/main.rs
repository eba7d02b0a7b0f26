//! `counter-postgres`: the seed program with the counter in a PostgreSQL table, one client connection per worker.

use std::process::ExitCode;

use counter_client::participants::SharingArgs;
use counter_core::{
    cli::{self, RunArgs},
    duration::parse_duration,
    error::{EXIT_FAILURE, EXIT_USAGE},
};
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
    sharing: SharingArgs,

    /// Keep the run's table on the server at the end
    #[arg(long)]
    keep: bool,

    /// Make a private cluster, print its connection string, and keep it until standard input closes (for many
    /// runs with --postgres); no workload is run
    #[arg(long)]
    serve: bool,

    /// How long connecting, or any statement, may take before the run fails, naming the server
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = |s: &str| parse_duration(s))]
    timeout: std::time::Duration,
}

fn main() -> ExitCode {
    let Args { run: run_args, postgres: args } = cli::parse(&FRONTEND);
    if args.serve {
        return serve();
    }
    let options = PostgresOptions {
        url: args.postgres,
        isolation: args.isolation,
        sharing: args.sharing.into(),
        keep: args.keep,
        timeout: args.timeout,
    };
    cli::execute(&FRONTEND, &run_args, None, |config| run(config, &options))
}

/// `--serve`: the cluster until standard input closes; its errors as a run's are.
fn serve() -> ExitCode {
    let program = MODEL.binary();
    if let Err(error) = counter_core::signals::install() {
        return cli::fail(program, &error, EXIT_FAILURE);
    }
    match counter_postgres::serve() {
        // Ended by a stop signal, it says so as every other command does: 130 or 143.
        Ok(()) => counter_core::signals::received()
            .map_or(ExitCode::SUCCESS, |signal| ExitCode::from(counter_core::signals::exit_code(signal))),
        Err(error @ counter_postgres::PostgresError::NoServer) => cli::fail(program, &error, EXIT_USAGE),
        Err(error) => cli::fail(program, &error, EXIT_FAILURE),
    }
}
