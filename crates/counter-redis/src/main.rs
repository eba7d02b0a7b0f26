//! `counter-redis`: the seed program with the counter in Redis, one client connection per worker.

use std::process::ExitCode;

use counter_client::participants::SharingArgs;
use counter_core::{
    cli::{self, RunArgs},
    duration::parse_duration,
    error::{EXIT_FAILURE, EXIT_USAGE},
};
use counter_redis::{FRONTEND, MODEL, RedisOptions, run};

/// Five clients each add 1 to a counter in Redis 1000 times after 10 ms of work: is the result 5000?
///
/// Runs the workload with one tokio task per worker, each with its own connection to a Redis server (a private
/// one started for the run on a Unix socket, or --redis URL), and reports the final value, the updates lost, the
/// round trips and their latency, and the memory of the client and of the server.
#[derive(Debug, clap::Parser)]
#[command(name = MODEL.binary(), version)]
struct Args {
    #[command(flatten)]
    run: RunArgs,

    // A struct of its own, so that clap builds its flags in a stack frame of their own, after the shared ones
    // (in one frame, an unoptimised build needs over 128 KiB of stack for them).
    #[command(flatten)]
    redis: RedisFlags,
}

/// The flags only this binary has.
#[derive(Debug, clap::Args)]
struct RedisFlags {
    /// A Redis server to use instead of a private one (a redis or unix URL, with credentials if needed)
    #[arg(
        long,
        value_name = "URL",
        long_help = "A Redis server to use instead of a private one: redis://[user:password@]host[:port][/db] or \
                     unix:///path/to/socket[?pass=password]"
    )]
    redis: Option<String>,

    /// Keep the run's keys on the server at the end
    #[arg(long)]
    keep: bool,

    /// Start a private server, print its URL, and keep it until standard input closes (for many runs with
    /// --redis); no workload is run
    #[arg(long)]
    serve: bool,

    /// How long the mutex strategy's lock outlives a holder that never releases it
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = |s: &str| parse_duration(s))]
    lock_ttl: std::time::Duration,

    /// How long any command may take before the run fails, naming the server
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = |s: &str| parse_duration(s))]
    timeout: std::time::Duration,

    #[command(flatten)]
    sharing: SharingArgs,
}

fn main() -> ExitCode {
    let Args { run: run_args, redis: args } = cli::parse(&FRONTEND);
    if args.serve {
        return serve();
    }
    let options = RedisOptions {
        url: args.redis,
        sharing: args.sharing.into(),
        keep: args.keep,
        lock_ttl: args.lock_ttl,
        timeout: args.timeout,
    };
    cli::execute(&FRONTEND, &run_args, None, |config| run(config, &options))
}

/// `--serve`: the server until standard input closes; its errors as a run's are.
fn serve() -> ExitCode {
    let program = MODEL.binary();
    if let Err(error) = counter_core::signals::install() {
        return cli::fail(program, &error, EXIT_FAILURE);
    }
    match counter_redis::serve() {
        // Ended by a stop signal, it says so as every other command does: 130 or 143.
        Ok(()) => counter_core::signals::received()
            .map_or(ExitCode::SUCCESS, |signal| ExitCode::from(counter_core::signals::exit_code(signal))),
        Err(error @ counter_redis::RedisError::NoServer) => cli::fail(program, &error, EXIT_USAGE),
        Err(error) => cli::fail(program, &error, EXIT_FAILURE),
    }
}
