//! The floor for sleeping threads: `N` threads that each sleep `D` once with `std::thread::sleep`, and nothing
//! else. `cargo xtask calibrate` runs it next to `counter-threads --work sleep:D --increments 1` to show what a
//! sleeping worker of ours costs against a plain sleep.
//!
//! Usage: `plain_sleeping_threads THREADS MILLISECONDS`.

use std::{thread, time::Duration};

fn main() {
    let mut args = std::env::args().skip(1).map(|arg| arg.parse::<u64>());
    let (Some(Ok(threads)), Some(Ok(millis))) = (args.next(), args.next()) else {
        eprintln!("usage: plain_sleeping_threads THREADS MILLISECONDS");
        std::process::exit(2);
    };
    let sleep = Duration::from_millis(millis);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(move || thread::sleep(sleep));
        }
    });
}
