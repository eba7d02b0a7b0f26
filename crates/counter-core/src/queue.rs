//! The job queue of a pooled run: a counter of jobs taken, so it needs no allocation and works in a
//! shared-memory segment as well as on the heap; it lives in the counter's header, where `Counter::jobs`
//! finds it. Jobs are taken in order, so the waits grow with the job's place in the
//! queue: the wait of the job in the middle of the queue is their median.

use std::{sync::atomic::Ordering::Relaxed, time::Duration};

use crate::sync::AtomicU64;

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
