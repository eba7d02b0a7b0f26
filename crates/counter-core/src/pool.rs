//! Pooled workers: N pool members (threads or processes) run the W workers' loops as jobs taken from one
//! shared queue, the way `concurrent.futures.ThreadPoolExecutor(max_workers=N)` runs submitted functions.
//!
//! Every job is submitted at the start, as an executor's `submit` loop does in microseconds, into the counter's
//! [`JobQueue`](crate::queue::JobQueue).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{
    config::{Config, Jobs},
    counter::{Counter, CounterError},
    model::Model,
    queue::QueueWaits,
    units,
    workload::{Performed, SleepPacer, StopRequests, WorkerOutcome, work_and_increment},
};

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

/// One pool member's loop: take jobs until the queue is empty or a stop is requested.
///
/// `member` (from 0) is the member's own slot for the sharded strategy: a slot must have a single writer, and
/// two members may run jobs of the same worker at once.
pub fn run_pool_member(
    counter: Counter<'_>,
    config: &Config,
    jobs: Jobs,
    member: usize,
    stop: &impl StopRequests,
) -> Result<WorkerOutcome, CounterError> {
    let started = Instant::now();
    let queue = counter.jobs();
    let mut pacer = SleepPacer::new(config.timer());
    let mut done = 0;
    'jobs: while !stop.requested() {
        let Some(_job) = queue.take() else { break };
        let increments = match jobs {
            Jobs::Worker => config.increments(),
            Jobs::Increment => 1,
        };
        for _ in 0..increments {
            if stop.requested()
                || work_and_increment(counter, config, member, &mut pacer, stop)? == Performed::Interrupted
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
        queue::JobQueue,
        workload::OnSignal,
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
            for strategy in Strategy::ALL.into_iter().filter(|strategy| !strategy.is_racy()) {
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
                            scope.spawn(move || run_pool_member(counter, config, jobs, member, &OnSignal).unwrap())
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
