//! The lock-free strategies and the job queue, model-checked: loom runs each test under every interleaving of
//! its threads that the C++ memory model allows, so "never loses an update" is shown, not sampled.
//!
//! Built only with `--cfg loom`, which swaps the counter's atomics for loom's:
//! `RUSTFLAGS="--cfg loom" cargo test -p counter-core --test loom --release` (`.ci/run` runs it). The mutex
//! strategy is a process-shared pthread mutex, which loom cannot see into; the end-to-end tests cover it.
#![cfg(loom)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use counter_core::{config::Strategy, counter::HeapCounter};
use loom::{sync::Arc, thread};

/// What a strategy promises when two writers each add one: the test's own expectation, not the code's.
enum Promise {
    /// Some interleaving loses an update.
    LosesSometimes,
    /// Every interleaving ends at two.
    Exact,
    /// Not modelled here.
    NotModelled,
}

fn promise(strategy: Strategy) -> Promise {
    match strategy {
        Strategy::Racy => Promise::LosesSometimes,
        Strategy::Atomic | Strategy::Sharded | Strategy::Optimistic => Promise::Exact,
        // The process-shared pthread mutex; fenced is a store's (in memory it is the mutex).
        Strategy::Mutex | Strategy::Fenced => Promise::NotModelled,
    }
}

/// Runs two writers that each add one with `strategy`, the read and the write split as a worker with the
/// window inside does, under every interleaving; returns the totals seen and the most retries seen.
fn two_writers(strategy: Strategy) -> (Vec<u64>, u64) {
    // What every execution saw, kept outside the model (std's types: loom's exist only inside it).
    let totals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let most_retries = std::sync::Arc::new(AtomicU64::new(0));
    let (totals_seen, retries_seen) = (totals.clone(), most_retries.clone());
    loom::model(move || {
        let heap = Arc::new(HeapCounter::new(strategy, 2).unwrap());
        let writers: Vec<_> = (0..2)
            .map(|writer| {
                let heap = Arc::clone(&heap);
                thread::spawn(move || {
                    let pending = heap.counter().begin_lock_free(strategy, writer).expect("a lock-free strategy");
                    pending.finish();
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let counter = heap.counter();
        totals_seen.lock().unwrap().push(counter.total());
        retries_seen.fetch_max(counter.retries().unwrap_or(0), Relaxed);
    });
    let totals = totals.lock().unwrap().clone();
    (totals, most_retries.load(Relaxed))
}

#[test]
fn racy_loses_an_update_in_some_interleaving_and_the_others_never_do() {
    for strategy in Strategy::ALL {
        match promise(strategy) {
            Promise::NotModelled => {}
            Promise::LosesSometimes => {
                let (totals, _) = two_writers(strategy);
                assert!(totals.contains(&1), "{strategy:?}: no interleaving lost an update: {totals:?}");
                assert!(totals.contains(&2), "{strategy:?}: no interleaving kept both: {totals:?}");
                assert!(totals.iter().all(|total| (1..=2).contains(total)), "{strategy:?}: {totals:?}");
            }
            Promise::Exact => {
                let (totals, retries) = two_writers(strategy);
                assert!(!totals.is_empty());
                assert!(totals.iter().all(|&total| total == 2), "{strategy:?} lost or invented updates: {totals:?}");
                if strategy == Strategy::Optimistic {
                    // Both read 0 in some interleaving: the second exchange fails once, and only once.
                    assert_eq!(retries, 1, "{strategy:?}: most retries in one execution");
                }
            }
        }
    }
}

#[test]
fn every_job_of_the_queue_is_taken_once_and_none_past_the_end() {
    let some_interleaving_split_the_jobs = std::sync::Arc::new(AtomicBool::new(false));
    let split = some_interleaving_split_the_jobs.clone();
    loom::model(move || {
        let heap = Arc::new(HeapCounter::new(Strategy::Atomic, 2).unwrap());
        heap.counter().jobs().submit(3);
        let members: Vec<_> = (0..2)
            .map(|_| {
                let heap = Arc::clone(&heap);
                thread::spawn(move || std::iter::from_fn(|| heap.counter().jobs().take()).collect::<Vec<u64>>())
            })
            .collect();
        let taken: Vec<Vec<u64>> = members.into_iter().map(|member| member.join().unwrap()).collect();
        let mut all: Vec<u64> = taken.concat();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2], "taken by the two members: {taken:?}");
        if taken.iter().all(|jobs| !jobs.is_empty()) {
            split.store(true, Relaxed);
        }
        assert_eq!(heap.counter().jobs().waits().jobs, 3);
    });
    assert!(some_interleaving_split_the_jobs.load(Relaxed), "no interleaving gave both members a job");
}
