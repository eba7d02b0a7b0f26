//! `counter-threads`: the seed program with one OS thread per worker.

use std::process::ExitCode;

use counter_core::cli::{self, PoolArgs, RunArgs};
use counter_threads::{FRONTEND, MODEL, run};

/// Five threads each add 1 to a shared counter 1000 times after 10 ms of work: is the result 5000?
///
/// Runs the workload with one OS thread per worker and reports the final value, the updates lost, the time
/// and the memory (RSS, PSS, USS) taken while every thread was alive.
#[derive(Debug, clap::Parser)]
#[command(name = MODEL.binary(), version)]
struct Args {
    #[command(flatten)]
    run: RunArgs,

    #[command(flatten)]
    pool: PoolArgs,
}

fn main() -> ExitCode {
    let args: Args = cli::parse(&FRONTEND);
    cli::execute(&FRONTEND, &args.run, Some(&args.pool), run)
}
