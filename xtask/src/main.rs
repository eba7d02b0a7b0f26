//! Project tasks, run as `cargo xtask <task>`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        None | Some("--help" | "-h" | "help") => {
            println!(
                "usage: cargo xtask <task>\n\ntasks:\n  compare   run every frontend on one workload and tabulate the results (not yet)"
            );
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("xtask: error: unknown task '{other}' (allowed: compare)");
            ExitCode::from(2)
        }
    }
}
