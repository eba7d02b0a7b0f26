//! The floor for sleeping tasks: `N` tokio tasks on a current-thread runtime that each await one
//! `tokio::time::sleep(D)`, and nothing else. `cargo xtask calibrate` runs it next to
//! `counter-async --work sleep:D --increments 1` to show what a sleeping task of ours costs against a plain one.
//!
//! Usage: `plain_sleeping_tasks TASKS MILLISECONDS`.

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1).map(|arg| arg.parse::<u64>());
    let (Some(Ok(tasks)), Some(Ok(millis))) = (args.next(), args.next()) else {
        eprintln!("usage: plain_sleeping_tasks TASKS MILLISECONDS");
        std::process::exit(2);
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_time().build() else {
        eprintln!("plain_sleeping_tasks: could not build the runtime");
        std::process::exit(1);
    };
    let sleep = Duration::from_millis(millis);
    runtime.block_on(async {
        let handles: Vec<_> = (0..tasks).map(|_| tokio::spawn(tokio::time::sleep(sleep))).collect();
        for handle in handles {
            let _ = handle.await;
        }
    });
}
