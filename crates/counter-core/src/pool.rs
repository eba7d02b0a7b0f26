//! Pooled workers: N pool members (threads or processes) run the W workers' loops as jobs taken from one
//! shared queue, the way `concurrent.futures.ThreadPoolExecutor(max_workers=N)` runs submitted functions.
//!
//! Every job is submitted at the start, as an executor's `submit` loop does in microseconds. The queue is a
//! counter of jobs taken, so it needs no allocation and works in a shared-memory segment as well as on the heap:
//! it lives in the counter's header ([`crate::counter::Counter::jobs`]). Jobs are taken in order, so the waits
//! grow with the job's place in the queue: the wait of the job in the middle of the queue is their median.

use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    config::{Config, Jobs},
    counter::Counter,
    error::CounterError,
    model::Model,
    units,
    workload::{Performed, SleepPacer, WorkerOutcome, work_and_increment},
};

/// Nanoseconds on `CLOCK_MONOTONIC`, which every process of the machine shares (unlike an `Instant`, which
/// cannot be sent to another process).
pub fn monotonic_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux; a zero on the impossible error only makes a wait read as zero.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |now| (now.tv_sec() as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec() as u64))
}

/// The shared queue of jobs. `#[repr(C)]` and atomics only: valid in a shared mapping.
#[derive(Debug, Default)]
#[repr(C)]
pub struct JobQueue {
    /// Jobs taken so far (the next job's number).
    next: AtomicU64,
    /// Jobs in all.
    total: AtomicU64,
    /// When every job was submitted: the start signal, [`monotonic_ns`].
    submitted_ns: AtomicU64,
    /// The wait of the job in the middle of the queue: jobs are taken in order, so this is the median wait.
    middle_job_wait_ns: AtomicU64,
    /// The longest wait.
    max_wait_ns: AtomicU64,
}

impl JobQueue {
    /// Fills the queue with `total` jobs, submitted now. Call it when the pool is released.
    pub fn submit(&self, total: u64) {
        self.total.store(total, Relaxed);
        self.next.store(0, Relaxed);
        // Published to the members by the start signal itself (a condvar, a pipe, a Notify), which orders it.
        self.submitted_ns.store(monotonic_ns(), Relaxed);
    }

    /// Takes the next job, if any, and records how long it waited.
    pub fn take(&self) -> Option<u64> {
        let job = self.next.fetch_add(1, Relaxed);
        let total = self.total.load(Relaxed);
        if job >= total {
            return None;
        }
        let wait = monotonic_ns().saturating_sub(self.submitted_ns.load(Relaxed));
        self.max_wait_ns.fetch_max(wait, Relaxed);
        if job == total / 2 {
            self.middle_job_wait_ns.store(wait, Relaxed);
        }
        Some(job)
    }

    /// Jobs in all, and the waits so far.
    pub fn waits(&self) -> QueueWaits {
        QueueWaits {
            jobs: self.total.load(Relaxed),
            middle_job: Duration::from_nanos(self.middle_job_wait_ns.load(Relaxed)),
            longest: Duration::from_nanos(self.max_wait_ns.load(Relaxed)),
        }
    }
}

/// What a pool's queue saw: how many jobs, and how long they waited to start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueWaits {
    /// Jobs submitted.
    pub jobs: u64,
    /// The wait of the job in the middle of the queue (the median wait: jobs are taken in order).
    pub middle_job: Duration,
    /// The longest wait.
    pub longest: Duration,
}

/// How many jobs a pooled run submits: one per worker, or one per increment.
pub fn job_count(config: &Config, jobs: Jobs) -> u64 {
    match jobs {
        Jobs::Worker => config.workers(),
        Jobs::Increment => config.expected(),
    }
}

/// What a pooled run says about its pool, in words, for the report's notes.
pub(crate) fn notes(config: &Config, model: Model) -> Vec<String> {
    let Some(pool) = config.pool() else { return Vec::new() };
    let mut notes = vec![format!(
        "{} pool {} ran {} ({}); the per-worker figures are the pool members'",
        pool.size,
        model.worker_nouns(),
        units::count(job_count(config, pool.jobs), "job", "jobs"),
        match pool.jobs {
            Jobs::Worker => "one per worker, each a whole worker's loop",
            Jobs::Increment => "one per increment",
        }
    )];
    if pool.size > config.workers() {
        notes.push(format!(
            "the pool ({}) is larger than the number of workers ({}): {} no job",
            pool.size,
            config.workers(),
            units::count(pool.size - config.workers(), "member finds", "members find")
        ));
    }
    notes
}

/// One pool member's loop: take jobs until the queue is empty or `should_stop` says so.
///
/// `member` (from 0) is the member's own slot for the sharded strategy: a slot must have a single writer, and
/// two members may run jobs of the same worker at once.
pub fn run_pool_member(
    counter: Counter<'_>,
    config: &Config,
    jobs: Jobs,
    member: usize,
    should_stop: impl Fn() -> bool + Copy,
) -> Result<WorkerOutcome, CounterError> {
    let started = Instant::now();
    let queue = counter.jobs();
    let mut pacer = SleepPacer::new(config.timer());
    let mut done = 0;
    'jobs: while !should_stop() {
        let Some(_job) = queue.take() else { break };
        let increments = match jobs {
            Jobs::Worker => config.increments(),
            Jobs::Increment => 1,
        };
        for _ in 0..increments {
            if should_stop()
                || work_and_increment(counter, config, member, &mut pacer, should_stop)? == Performed::Interrupted
            {
                break 'jobs;
            }
            done += 1;
        }
    }
    Ok(WorkerOutcome { increments_done: done, elapsed: started.elapsed() })
}

/// What a pooled run reports about its pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolReport {
    /// Pool members (threads or processes).
    pub size: u64,
    /// What a job is: a whole worker's loop, or one increment.
    pub jobs: Jobs,
    /// Jobs submitted.
    pub job_count: u64,
    /// Seconds the job in the middle of the queue waited between its submission and its start.
    pub queue_wait_median_s: f64,
    /// The longest wait, seconds.
    pub queue_wait_max_s: f64,
}

impl PoolReport {
    /// The report of a pool of `size` members running `jobs` jobs, whose queue saw `waits`.
    pub fn new(size: u64, jobs: Jobs, waits: QueueWaits) -> PoolReport {
        PoolReport {
            size,
            jobs,
            job_count: waits.jobs,
            queue_wait_median_s: waits.middle_job.as_secs_f64(),
            queue_wait_max_s: waits.longest.as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::{Pool, Request, Strategy, Work},
        counter::HeapCounter,
    };

    #[test]
    fn the_queue_hands_out_each_job_once() {
        let queue = JobQueue::default();
        queue.submit(3);
        assert_eq!((queue.take(), queue.take(), queue.take(), queue.take()), (Some(0), Some(1), Some(2), None));
        assert_eq!(queue.waits().jobs, 3);
    }

    #[test]
    fn a_pool_does_every_increment_exactly() {
        for jobs in [Jobs::Worker, Jobs::Increment] {
            for strategy in [Strategy::Mutex, Strategy::Atomic, Strategy::Sharded] {
                let config = Request {
                    workers: 7,
                    increments: 300,
                    work: Work::None,
                    strategy,
                    pool: Some(Pool { size: 3, jobs }),
                    ..Request::default()
                }
                .validate()
                .unwrap();
                let heap = HeapCounter::new(strategy, config.members()).unwrap();
                let counter = heap.counter();
                counter.jobs().submit(job_count(&config, jobs));
                let done: u64 = std::thread::scope(|scope| {
                    let members: Vec<_> = (0..3)
                        .map(|member| {
                            let config = &config;
                            scope.spawn(move || run_pool_member(counter, config, jobs, member, || false).unwrap())
                        })
                        .collect();
                    members.into_iter().map(|m| m.join().unwrap().increments_done).sum()
                });
                assert_eq!((done, counter.total()), (2100, 2100), "{jobs:?} {strategy:?}");
                let waits = counter.jobs().waits();
                assert_eq!(waits.jobs, if jobs == Jobs::Worker { 7 } else { 2100 });
                assert!(waits.longest >= waits.middle_job);
            }
        }
    }
}
