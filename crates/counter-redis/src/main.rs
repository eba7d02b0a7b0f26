//! `counter-redis`: the seed program with the counter in Redis, one client connection per worker.

use std::process::ExitCode;

use counter_client::cli::{ServerFlags, store_main};
use counter_core::{
    cli::{self, RunArgs},
    duration::parse_duration,
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

    /// How long the mutex strategy's lock outlives a holder that never releases it (at least 1ms)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = |s: &str| parse_duration(s))]
    lock_ttl: std::time::Duration,

    #[command(flatten)]
    server: ServerFlags,
}

fn main() -> ExitCode {
    let Args { run: run_args, redis: args } = cli::parse(&FRONTEND);
    let options = RedisOptions { server: args.server.options(args.redis), lock_ttl: args.lock_ttl };
    store_main(&FRONTEND, &run_args, (&args.server, counter_redis::serve), |config| run(config, &options))
}
