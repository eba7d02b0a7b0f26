//! `counter-processes`: the seed program with one forked process per worker.

use std::process::ExitCode;

use counter_core::cli::{self, PoolArgs, RunArgs};
use counter_processes::{MODEL, run};

/// Five processes each add 1 to a shared counter 1000 times after 10 ms of work: is the result 5000?
///
/// Runs the workload with one forked process per worker, the counter in a POSIX shared-memory segment, and
/// reports the final value, the updates lost, the time, and the memory of the whole process tree (summed RSS,
/// PSS and USS) taken while every worker was alive.
#[derive(Debug, clap::Parser)]
#[command(name = MODEL.binary(), version)]
struct Args {
    #[command(flatten)]
    run: RunArgs,

    #[command(flatten)]
    pool: PoolArgs,
}

fn main() -> ExitCode {
    let args: Args = cli::parse(MODEL);
    cli::main(MODEL, &args.run, Some(&args.pool), run)
}
