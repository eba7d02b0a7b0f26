//! Calibration of the worker loop against the floor: for each lock-free strategy, a bare loop on a padded
//! atomic (the least a program can do per increment) next to the frontends' own worker loop
//! (`counter_core::workload::run_worker` on a `HeapCounter`), each at 1 and 2 workers, in one run so that the
//! ratios compare like with like. Run by `cargo xtask calibrate`, optimised; prints one JSON line per figure.

use std::{
    hint::black_box,
    sync::{
        Barrier,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    thread,
    time::Instant,
};

use counter_core::{
    config::{Request, Strategy, Work},
    counter::{CachePadded, HeapCounter},
    workload::{OnSignal, run_worker},
};

/// Increments per worker in one measurement.
fn increments() -> u64 {
    std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000_000)
}

/// Rounds; the median is kept.
const ROUNDS: usize = 5;

/// The bare loop: `workers` threads, each adding `n` to its target with nothing else around it.
fn bare(strategy: Strategy, workers: usize, n: u64) -> f64 {
    let shared = CachePadded(AtomicU64::new(0));
    let slots: Vec<CachePadded<AtomicU64>> = (0..workers).map(|_| CachePadded(AtomicU64::new(0))).collect();
    // Every worker starts at once, as behind the frontends' start line: the time is from the release to the end.
    let start_line = Barrier::new(workers + 1);
    let started = thread::scope(|scope| {
        for slot in &slots {
            let (shared, slot, start_line) = (&shared.0, &slot.0, &start_line);
            scope.spawn(move || {
                start_line.wait();
                match strategy {
                    // `black_box` on the target keeps the compiler from fusing the loop's loads and stores into one,
                    // which it may do for relaxed atomics that nothing else can be seen to touch.
                    Strategy::Racy => {
                        for _ in 0..n {
                            let shared = black_box(shared);
                            shared.store(shared.load(Relaxed).wrapping_add(1), Relaxed);
                        }
                    }
                    Strategy::Atomic => {
                        for _ in 0..n {
                            black_box(shared).fetch_add(1, Relaxed);
                        }
                    }
                    Strategy::Optimistic => {
                        for _ in 0..n {
                            let shared = black_box(shared);
                            let mut read = shared.load(Relaxed);
                            while let Err(actual) =
                                shared.compare_exchange(read, read.wrapping_add(1), Relaxed, Relaxed)
                            {
                                read = actual;
                            }
                        }
                    }
                    Strategy::Sharded | Strategy::Mutex | Strategy::Fenced => {
                        for _ in 0..n {
                            let slot = black_box(slot);
                            slot.store(slot.load(Relaxed).wrapping_add(1), Relaxed);
                        }
                    }
                }
            });
        }
        start_line.wait();
        Instant::now()
    });
    let elapsed = started.elapsed().as_secs_f64();
    black_box((shared.0.load(Relaxed), slots.iter().map(|s| s.0.load(Relaxed)).sum::<u64>()));
    elapsed
}

/// The frontends' worker loop, `workers` threads.
fn worker_loop(strategy: Strategy, workers: u64, n: u64) -> f64 {
    let config = Request { workers, increments: n, work: Work::None, strategy, ..Request::default() }
        .validate()
        .expect("a valid calibration workload");
    let heap = HeapCounter::new(strategy, workers).expect("a small counter");
    let counter = heap.counter();
    let start_line = Barrier::new(workers as usize + 1);
    let started = thread::scope(|scope| {
        for worker in 0..workers {
            let (config, start_line) = (&config, &start_line);
            scope.spawn(move || {
                start_line.wait();
                run_worker(counter, config, worker as usize, &OnSignal)
            });
        }
        start_line.wait();
        Instant::now()
    });
    let elapsed = started.elapsed().as_secs_f64();
    black_box(counter.total());
    elapsed
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let n = increments();
    // The lock-free strategies: the mutex's loop is the lock, whose cost compare measures.
    for strategy in Strategy::ALL.into_iter().filter(|strategy| !strategy.takes_lock()) {
        // Interleaved rounds: drift in the machine's load falls on every figure alike.
        let mut figures: [Vec<f64>; 4] = Default::default();
        for _ in 0..ROUNDS {
            figures[0].push(bare(strategy, 1, n));
            figures[1].push(worker_loop(strategy, 1, n));
            figures[2].push(bare(strategy, 2, n));
            figures[3].push(worker_loop(strategy, 2, n));
        }
        let ranges = figures.clone().map(|values| {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(0.0, f64::max);
            format!("[{min},{max}]")
        });
        let [bare_1, loop_1, bare_2, loop_2] = figures.map(median);
        let [bare_1_range, loop_1_range, bare_2_range, loop_2_range] = ranges;
        println!(
            "{{\"strategy\":\"{}\",\"increments\":{n},\"bare_1_s\":{bare_1},\"loop_1_s\":{loop_1},\"bare_2_s\":{bare_2},\"loop_2_s\":{loop_2},\"bare_1_range_s\":{bare_1_range},\"loop_1_range_s\":{loop_1_range},\"bare_2_range_s\":{bare_2_range},\"loop_2_range_s\":{loop_2_range}}}",
            strategy.name()
        );
    }
}
