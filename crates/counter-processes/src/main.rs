//! `counter-processes`: the seed program with one forked process per worker.

use std::process::ExitCode;

use counter_core::cli::{self, PoolArgs, RunArgs};
use counter_processes::{FRONTEND, MODEL, SPAWNED_WORKER_FLAG, StartMethod, run, spawned_worker_main};

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

    /// How each worker process is started: fork (a copy-on-write copy of this process), forkserver (forked from
    /// a small server started first) or spawn (this program started anew, with exec)
    #[arg(long, value_enum, default_value_t = StartMethod::Fork, value_name = "METHOD")]
    start: StartMethod,
}

fn main() -> ExitCode {
    // A worker started with `--start spawn`: not a mode for users, and it refuses to run without its hand-off.
    if std::env::args_os().nth(1).is_some_and(|arg| arg == SPAWNED_WORKER_FLAG) {
        if counter_core::signals::install().is_err() {
            return ExitCode::FAILURE;
        }
        return spawned_worker_main();
    }
    let args: Args = cli::parse(&FRONTEND);
    cli::execute(&FRONTEND, &args.run, Some(&args.pool), |config| run(config, args.start))
}
