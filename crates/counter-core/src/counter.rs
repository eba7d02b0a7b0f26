//! The shared counter and its four strategies, laid out so that the same bytes work on one process's heap
//! and in a shared-memory segment mapped by many processes.
//!
//! # Layout
//! ```text
//! offset   0  value        AtomicU64            written by racy, mutex and atomic
//! offset  64  lock         RobustMutex          pthread, process-shared and robust
//! offset 128  meta         shard count, recoveries from a dead lock holder
//! offset 192  jobs         JobQueue             the job queue of a pooled run (see `pool`)
//! offset 256  shards[n]    AtomicU64 each       one per worker (pool member), sharded strategy only
//! ```
//! Every part sits on its own 64-byte cache line so that workers writing side by side do not slow each other
//! down through false sharing. The type holds only atomics and plain integers (and the pthread mutex, which
//! is made for shared memory), so it is valid at any address that two processes map with `MAP_SHARED`.
//!
//! # Updating
//! An increment is split in two, [`Counter::begin`] and [`PendingIncrement::finish`], so that a frontend can
//! put its work between the read and the write (the `inside` window), sleeping or awaiting there as it likes.

use std::{
    alloc::{self, Layout},
    mem::{align_of, size_of},
    ptr::{self, NonNull},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use crate::{
    config::Sync,
    error::CounterError,
    mutex::{Acquired, RobustMutex},
    pool::JobQueue,
};

/// Puts a value on a cache line of its own (64 bytes on x86-64 and most ARM cores).
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct CachePadded<T>(pub T);

/// Bookkeeping that lives with the counter.
#[derive(Debug)]
#[repr(C)]
struct Meta {
    /// How many shards follow the header.
    shard_count: u64,
    /// How many times a locker found the mutex's previous holder dead.
    dead_owner_recoveries: AtomicU64,
}

/// The fixed part of the counter's memory.
#[derive(Debug)]
#[repr(C)]
struct Header {
    value: CachePadded<AtomicU64>,
    lock: CachePadded<RobustMutex>,
    meta: CachePadded<Meta>,
    jobs: CachePadded<JobQueue>,
}

/// One worker's slot for the sharded strategy.
type Shard = CachePadded<AtomicU64>;

/// Bytes one cache line takes; every part of the layout starts on one.
pub const CACHE_LINE: usize = 64;

// The layout promised above, checked at compile time.
const _: () = {
    assert!(size_of::<libc::pthread_mutex_t>() <= CACHE_LINE);
    assert!(size_of::<JobQueue>() <= CACHE_LINE);
    assert!(size_of::<Header>() == 4 * CACHE_LINE);
    assert!(align_of::<Header>() == CACHE_LINE);
    assert!(size_of::<Shard>() == CACHE_LINE);
    assert!(align_of::<Shard>() == CACHE_LINE);
    assert!(std::mem::offset_of!(Header, value) == 0);
    assert!(std::mem::offset_of!(Header, lock) == CACHE_LINE);
    assert!(std::mem::offset_of!(Header, meta) == 2 * CACHE_LINE);
    assert!(std::mem::offset_of!(Header, jobs) == 3 * CACHE_LINE);
};

/// The memory a counter needs for `workers` writers (workers, or pool members) with strategy `sync`: shards
/// only when sharded.
pub fn layout(sync: Sync, workers: u64) -> Result<Layout, CounterLayoutError> {
    let shards = shard_count(sync, workers)?;
    size_of::<Shard>()
        .checked_mul(shards)
        .and_then(|bytes| bytes.checked_add(size_of::<Header>()))
        .and_then(|size| Layout::from_size_align(size, CACHE_LINE).ok())
        .ok_or(CounterLayoutError { workers })
}

fn shard_count(sync: Sync, workers: u64) -> Result<usize, CounterLayoutError> {
    if sync == Sync::Sharded { usize::try_from(workers).map_err(|_| CounterLayoutError { workers }) } else { Ok(0) }
}

/// The counter for this many workers would not fit in this machine's address space.
#[derive(Debug, thiserror::Error)]
#[error("a sharded counter for {workers} workers does not fit in memory")]
pub struct CounterLayoutError {
    workers: u64,
}

/// A view of an initialised counter, wherever its memory lives. Cheap to copy; share it with every worker.
#[derive(Debug, Clone, Copy)]
pub struct Counter<'a> {
    header: &'a Header,
    shards: &'a [Shard],
}

impl<'a> Counter<'a> {
    /// Initialises a counter at `base` and returns a view of it.
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of [`layout(sync, workers)`](layout) bytes, aligned to
    /// [`CACHE_LINE`], unused by anyone else during this call, and must stay mapped and unmoved for `'a`.
    pub unsafe fn init_at(base: NonNull<u8>, sync: Sync, workers: u64) -> Result<Counter<'a>, CounterError> {
        let shards = shard_count(sync, workers).unwrap_or(0);
        let header = base.cast::<Header>().as_ptr();
        // SAFETY: `header` and the shards that follow it lie inside the memory the caller vouches for, and are
        // aligned because `base` is and every part's size is a multiple of the cache line.
        unsafe {
            ptr::write(&raw mut (*header).value, CachePadded(AtomicU64::new(0)));
            ptr::write(
                &raw mut (*header).meta,
                CachePadded(Meta { shard_count: shards as u64, dead_owner_recoveries: AtomicU64::new(0) }),
            );
            ptr::write(&raw mut (*header).jobs, CachePadded(JobQueue::default()));
            RobustMutex::init_at(&raw mut (*header).lock.0)?;
            let first_shard = header.add(1).cast::<Shard>();
            for i in 0..shards {
                ptr::write(first_shard.add(i), CachePadded(AtomicU64::new(0)));
            }
            Ok(Counter { header: &*header, shards: std::slice::from_raw_parts(first_shard, shards) })
        }
    }

    /// Starts one increment by worker `worker` (numbered from 0): reads the value, taking the lock first for
    /// the mutex strategy. Whatever runs before [`PendingIncrement::finish`] is inside the race window.
    pub fn begin(&self, sync: Sync, worker: usize) -> Result<PendingIncrement<'a>, CounterError> {
        // Relaxed is enough for every load and store here: racy wants no ordering at all (that is its point),
        // the mutex orders its own critical sections, an atomic RMW is indivisible whatever its ordering, and a
        // shard has a single writer. The coordinator reads the total after join/wait, which orders everything.
        let step = match sync {
            Sync::Racy => Step::Racy { read: self.header.value.0.load(Relaxed) },
            Sync::Mutex => {
                if self.header.lock.0.lock()? == Acquired::FromDeadOwner {
                    self.header.meta.0.dead_owner_recoveries.fetch_add(1, Relaxed);
                }
                Step::Locked { read: self.header.value.0.load(Relaxed) }
            }
            Sync::Atomic => Step::Atomic,
            Sync::Sharded => {
                let shard = &self.shards[worker].0;
                Step::Sharded { shard, read: shard.load(Relaxed) }
            }
        };
        Ok(PendingIncrement { header: self.header, step })
    }

    /// Adds one, with nothing in the window.
    pub fn increment(&self, sync: Sync, worker: usize) -> Result<(), CounterError> {
        self.begin(sync, worker)?.finish()
    }

    /// The counter's value: the shared word plus every shard (only one of the two is ever non-zero).
    pub fn total(&self) -> u64 {
        self.shards.iter().fold(self.header.value.0.load(Relaxed), |sum, shard| sum.wrapping_add(shard.0.load(Relaxed)))
    }

    /// The job queue of a pooled run.
    pub fn jobs(&self) -> &'a JobQueue {
        &self.header.jobs.0
    }

    /// How many times a worker found the lock's previous holder dead and recovered it.
    pub fn dead_owner_recoveries(&self) -> u64 {
        self.header.meta.0.dead_owner_recoveries.load(Relaxed)
    }
}

/// An increment that has read the counter and not yet written it back.
///
/// Dropping it without [`finish`](PendingIncrement::finish) abandons the update (and releases the lock).
#[derive(Debug)]
#[must_use = "an increment only counts once finished"]
pub struct PendingIncrement<'a> {
    header: &'a Header,
    step: Step<'a>,
}

#[derive(Debug)]
enum Step<'a> {
    Racy { read: u64 },
    Locked { read: u64 },
    Atomic,
    Sharded { shard: &'a AtomicU64, read: u64 },
    Done,
}

impl PendingIncrement<'_> {
    /// Writes the incremented value back (releasing the lock for the mutex strategy).
    pub fn finish(mut self) -> Result<(), CounterError> {
        match std::mem::replace(&mut self.step, Step::Done) {
            // The lost update: another worker may have stored since we read; this store overwrites it.
            Step::Racy { read } => self.header.value.0.store(read.wrapping_add(1), Relaxed),
            Step::Locked { read } => {
                self.header.value.0.store(read.wrapping_add(1), Relaxed);
                self.header.lock.0.unlock()?;
            }
            Step::Atomic => {
                self.header.value.0.fetch_add(1, Relaxed);
            }
            Step::Sharded { shard, read } => shard.store(read.wrapping_add(1), Relaxed),
            Step::Done => {}
        }
        Ok(())
    }
}

impl Drop for PendingIncrement<'_> {
    fn drop(&mut self) {
        if let Step::Locked { .. } = self.step {
            // Abandoned inside the critical section (an error or a stop request): release the lock so that
            // the others go on. An unlock error cannot be reported from here, and only means it was not held.
            let _ = self.header.lock.0.unlock();
        }
    }
}

/// A counter on this process's heap, for frontends whose workers share one address space.
#[derive(Debug)]
pub struct HeapCounter {
    base: NonNull<u8>,
    layout: Layout,
    counter: Counter<'static>,
}

// SAFETY: the allocation is owned by this value and only reached through `Counter`, which is `Sync`.
unsafe impl Send for HeapCounter {}
// SAFETY: as above; shared access goes through the counter's atomics and its mutex.
unsafe impl std::marker::Sync for HeapCounter {}

impl HeapCounter {
    /// Allocates and initialises a counter for `workers` workers with strategy `sync`.
    pub fn new(sync: Sync, workers: u64) -> Result<HeapCounter, HeapCounterError> {
        let layout = layout(sync, workers)?;
        // SAFETY: the layout's size is at least the header's, never zero.
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(layout) })
            .ok_or(HeapCounterError::OutOfMemory { bytes: layout.size() })?;
        // SAFETY: `base` is a fresh allocation of `layout`, aligned to the cache line, owned by the value we
        // return, freed only in `drop`, after every `Counter` borrowed from it is gone (they borrow `self`).
        let counter = unsafe { Counter::init_at(base, sync, workers) };
        match counter {
            Ok(counter) => Ok(HeapCounter { base, layout, counter }),
            Err(error) => {
                // SAFETY: allocated just above with this layout, never shared.
                unsafe { alloc::dealloc(base.as_ptr(), layout) };
                Err(error.into())
            }
        }
    }

    /// The counter, borrowed for no longer than this allocation lives.
    pub fn counter(&self) -> Counter<'_> {
        self.counter
    }
}

impl Drop for HeapCounter {
    fn drop(&mut self) {
        // SAFETY: no `Counter` outlives `&self` and a `PendingIncrement` releases the lock when dropped, so the
        // mutex is unlocked and unused; the allocation was made with `self.layout`.
        unsafe {
            RobustMutex::destroy(&raw mut (*self.base.cast::<Header>().as_ptr()).lock.0);
            alloc::dealloc(self.base.as_ptr(), self.layout);
        }
    }
}

/// Why a heap counter could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HeapCounterError {
    /// Too many shards for the address space.
    #[error(transparent)]
    Layout(#[from] CounterLayoutError),
    /// The allocator said no.
    #[error("could not allocate {bytes} bytes for the counter")]
    OutOfMemory {
        /// The size asked for.
        bytes: usize,
    },
    /// The mutex could not be set up.
    #[error(transparent)]
    Counter(#[from] CounterError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Sync; 4] = [Sync::Racy, Sync::Mutex, Sync::Atomic, Sync::Sharded];

    #[test]
    fn layout_holds_shards_only_when_sharded() {
        assert_eq!(layout(Sync::Atomic, 1000).unwrap().size(), 256);
        assert_eq!(layout(Sync::Sharded, 3).unwrap().size(), 256 + 3 * 64);
        assert_eq!(layout(Sync::Sharded, 3).unwrap().align(), 64);
    }

    #[test]
    fn every_strategy_counts_exactly_on_one_thread() {
        for sync in ALL {
            let heap = HeapCounter::new(sync, 3).unwrap();
            let counter = heap.counter();
            for worker in 0..3 {
                for _ in 0..10 {
                    counter.increment(sync, worker).unwrap();
                }
            }
            assert_eq!(counter.total(), 30, "{sync:?}");
        }
    }

    #[test]
    fn safe_strategies_count_exactly_across_threads() {
        for sync in [Sync::Mutex, Sync::Atomic, Sync::Sharded] {
            let heap = HeapCounter::new(sync, 4).unwrap();
            let counter = heap.counter();
            std::thread::scope(|scope| {
                for worker in 0..4 {
                    scope.spawn(move || {
                        for _ in 0..20_000 {
                            counter.increment(sync, worker).unwrap();
                        }
                    });
                }
            });
            assert_eq!(counter.total(), 80_000, "{sync:?}");
        }
    }

    #[test]
    fn interleaved_racy_increments_lose_one() {
        // Two workers read the same value before either writes: the textbook lost update, made deterministic.
        let heap = HeapCounter::new(Sync::Racy, 2).unwrap();
        let counter = heap.counter();
        let first = counter.begin(Sync::Racy, 0).unwrap();
        let second = counter.begin(Sync::Racy, 1).unwrap();
        first.finish().unwrap();
        second.finish().unwrap();
        assert_eq!(counter.total(), 1);
    }

    #[test]
    fn an_abandoned_locked_increment_releases_the_lock() {
        let heap = HeapCounter::new(Sync::Mutex, 1).unwrap();
        let counter = heap.counter();
        drop(counter.begin(Sync::Mutex, 0).unwrap());
        counter.increment(Sync::Mutex, 0).unwrap();
        assert_eq!(counter.total(), 1);
    }

    #[test]
    fn a_lock_whose_holder_died_is_recovered() {
        // Robust mutexes are released by the kernel when the holding thread ends, as when a process dies.
        let heap = HeapCounter::new(Sync::Mutex, 1).unwrap();
        let counter = heap.counter();
        std::thread::scope(|scope| {
            scope.spawn(|| std::mem::forget(counter.begin(Sync::Mutex, 0).unwrap()));
        });
        counter.increment(Sync::Mutex, 0).unwrap();
        assert_eq!(counter.dead_owner_recoveries(), 1);
        assert_eq!(counter.total(), 1);
    }
}
