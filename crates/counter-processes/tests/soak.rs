//! A soak test: 200 back-to-back runs of the processes frontend, in one process, with small random
//! configurations. After each: the counts add up, no child is left (not even a zombie), no segment name is in
//! `/dev/shm`, and the coordinator's open file descriptors are as many as before the first run.
//!
//! Not run by the test harness (`harness = false`): the frontend forks, so it must run in a process with a
//! single thread, which libtest's runner is not.

use std::{fs, time::Instant};

use counter_core::config::{Jobs, Pool, Request, Strategy, Timer, Window, Work};

const RUNS: u64 = 200;

/// The same configurations every time (a seeded generator), so a failure repeats.
struct Random(fastrand::Rng);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0.u64(..bound)
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.0.usize(..choices.len())]
    }
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn our_segment_exists() -> bool {
    let ours = format!("counter-processes-{}-", std::process::id());
    fs::read_dir("/dev/shm").is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| entry.file_name().to_string_lossy().starts_with(&ours))
    })
}

fn no_child_left() -> bool {
    // SAFETY: waitpid with WNOHANG and a null status pointer writes no memory; it reaps a child that has ended
    // (none should be left to reap), and ECHILD means no child at all.
    let result = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
    result == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

fn main() {
    let started = Instant::now();
    let mut random = Random(fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15));
    let fds_before = open_fds();
    let mut failures = Vec::new();
    for run in 0..RUNS {
        let strategy = random.pick(&Strategy::ALL);
        let config = Request {
            workers: 1 + random.below(6),
            increments: 1 + random.below(200),
            work: random.pick(&[Work::None, Work::Yield]),
            window: random.pick(&[Window::Before, Window::Inside]),
            strategy,
            timer: Timer::Compensated,
            pool: (random.below(4) == 0)
                .then(|| Pool { size: 1 + random.below(3), jobs: random.pick(&[Jobs::Worker, Jobs::Increment]) }),
            hold: None,
            trace: None,
        }
        .validate()
        .expect("the soak draws valid workloads");
        let problem = match counter_processes::run(&config, counter_processes::StartMethod::Fork) {
            Err(error) => Some(format!("failed: {error}")),
            Ok(report) if !report.complete || report.worker_summary.increments_done != report.expected => Some(
                format!("the workers did {} of {} increments", report.worker_summary.increments_done, report.expected),
            ),
            Ok(report) if report.final_value > report.expected => Some(format!(
                "the counter shows {}, more than the {} increments made",
                report.final_value, report.expected
            )),
            Ok(report) if strategy != Strategy::Racy && report.final_value != report.expected => {
                Some(format!("{strategy:?} counted {} of {}", report.final_value, report.expected))
            }
            Ok(_) if !no_child_left() => Some("a child is left".to_owned()),
            Ok(_) if our_segment_exists() => Some("the segment is left in /dev/shm".to_owned()),
            Ok(_) if open_fds() != fds_before => Some(format!("{} fds open, {fds_before} before", open_fds())),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            failures.push(format!("run {run} ({config:?}): {problem}"));
        }
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    println!(
        "soak: {} passed, {} failed ({RUNS} runs in {:.1} s)",
        RUNS as usize - failures.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
