//! The shared counter and its five strategies, laid out so that the same bytes work on one process's heap
//! and in a shared-memory segment mapped by many processes.
//!
//! # Layout
//! ```text
//! offset   0  value        AtomicU64            written by racy, mutex and atomic
//! offset  64  lock         RobustMutex          pthread, process-shared and robust
//! offset 128  meta         shard count, what the shards hold, recoveries from a dead lock holder
//! offset 192  jobs         JobQueue             the job queue of a pooled run (see `pool`)
//! offset 256  shards[n]    AtomicU64 each       one per worker (pool member): its count (sharded), or its
//!                                               compare-and-swap retries (optimistic); none otherwise
//! ```
//! Every part sits on its own 64-byte cache line so that workers writing side by side do not slow each other
//! down through false sharing. The type holds only atomics and plain integers (and the pthread mutex, which
//! is made for shared memory), so it is valid at any address that two processes map with `MAP_SHARED`.
//!
//! # Updating
//! An increment is split in two, [`Counter::begin`] and [`PendingIncrement::finish`], so that a frontend can
//! put its work between the read and the write (the `inside` window). A pending increment of the mutex
//! strategy holds the lock and is `!Send`; [`Counter::begin_lock_free`] gives the `Send` kind, which an async
//! task may hold across an await on any runtime.

use std::{
    alloc::{self, Layout},
    mem::offset_of,
    ptr::{self, NonNull},
    sync::atomic::Ordering::Relaxed,
};

use crate::{
    config::Strategy,
    mutex::{Acquired, MutexError, RobustGuard, RobustMutex},
    queue::JobQueue,
    sync::AtomicU64,
};

/// A counter that could not be set up or updated.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The process-shared mutex could not be initialised or locked.
    #[error(transparent)]
    Mutex(#[from] MutexError),
    /// Too many shards for the address space.
    #[error("a sharded counter for {writers} writers does not fit in memory")]
    TooLarge {
        /// Writers (workers, or pool members) asked for.
        writers: u64,
    },
    /// The allocator said no.
    #[error("could not allocate {bytes} bytes for the counter")]
    OutOfMemory {
        /// The size asked for.
        bytes: usize,
    },
    /// Memory handed over as a counter that is not one freshly initialised for this strategy and writers.
    #[error("the memory handed over is not a fresh counter for this run: {what}")]
    NotFresh {
        /// What differs.
        what: &'static str,
    },
}

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
    /// Whether the shards count retries (optimistic) rather than increments (sharded).
    shards_count_retries: bool,
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

// The layout promised above, checked at compile time (loom's atomics, for the model checker, are larger).
#[cfg(not(loom))]
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

/// The memory a counter needs for `writers` writers (workers, or pool members) with `strategy`: shards only
/// when sharded or optimistic.
pub fn layout(strategy: Strategy, writers: u64) -> Result<Layout, CounterError> {
    let shards = shard_count(strategy, writers)?;
    size_of::<Shard>()
        .checked_mul(shards)
        .and_then(|bytes| bytes.checked_add(size_of::<Header>()))
        .and_then(|size| Layout::from_size_align(size, CACHE_LINE).ok())
        .ok_or(CounterError::TooLarge { writers })
}

fn shard_count(strategy: Strategy, writers: u64) -> Result<usize, CounterError> {
    if matches!(strategy, Strategy::Sharded | Strategy::Optimistic) {
        usize::try_from(writers).map_err(|_| CounterError::TooLarge { writers })
    } else {
        Ok(0)
    }
}

/// Checks, as plain integers read from their places, that the memory at `base` holds a counter as
/// [`Counter::init_at`] leaves it for `strategy` and `shards`: value zero, an unlocked mutex byte for byte as
/// this process initialises one, the bookkeeping that matches, an empty job queue, zero shards. Padding is not
/// looked at (a write of a whole struct leaves it unspecified).
///
/// # Safety
/// `base` must be readable for the counter's layout with `shards` shards, aligned to [`CACHE_LINE`].
unsafe fn check_fresh(base: NonNull<u8>, strategy: Strategy, shards: usize) -> Result<(), CounterError> {
    let not_fresh = |what| Err(CounterError::NotFresh { what });
    let at = |offset: usize| base.as_ptr().wrapping_add(offset).cast_const();
    let word = |offset: usize| {
        let mut bytes = [0_u8; 8];
        // SAFETY: every offset below lies inside the header or a shard, which the caller vouches are readable;
        // eight bytes are copied out as plain bytes.
        unsafe { ptr::copy_nonoverlapping(at(offset), bytes.as_mut_ptr(), bytes.len()) };
        u64::from_ne_bytes(bytes)
    };
    if word(offset_of!(Header, value)) != 0 {
        return not_fresh("the value is not zero");
    }
    let mut fresh = std::mem::MaybeUninit::<RobustMutex>::zeroed();
    // SAFETY: a local, zeroed and aligned, used by nobody else; destroyed below.
    unsafe { RobustMutex::init_at(fresh.as_mut_ptr()) }?;
    let mutex_bytes = size_of::<libc::pthread_mutex_t>();
    // SAFETY: the local was initialised just above; the segment's lock lies at its offset in the header.
    let same_lock = (0..mutex_bytes).all(|i| unsafe {
        ptr::read_volatile(at(offset_of!(Header, lock) + i)) == ptr::read(fresh.as_ptr().cast::<u8>().add(i))
    });
    // SAFETY: initialised above, unlocked, and unused from here.
    unsafe { RobustMutex::destroy(fresh.as_mut_ptr()) };
    if !same_lock {
        return not_fresh("the lock is held, or is not a process-shared robust mutex");
    }
    let meta = offset_of!(Header, meta);
    // SAFETY: a byte of the header, read as a byte (a `bool` with another value would be undefined).
    let flag = unsafe { ptr::read_volatile(at(meta + offset_of!(Meta, shards_count_retries))) };
    if word(meta + offset_of!(Meta, shard_count)) != shards as u64
        || flag != u8::from(strategy == Strategy::Optimistic)
        || word(meta + offset_of!(Meta, dead_owner_recoveries)) != 0
    {
        return not_fresh("its bookkeeping does not match the strategy and the writers");
    }
    let jobs = offset_of!(Header, jobs);
    if (0..size_of::<JobQueue>() / 8).any(|i| word(jobs + 8 * i) != 0) {
        return not_fresh("its job queue is not empty");
    }
    if (0..shards).any(|i| word(size_of::<Header>() + i * size_of::<Shard>()) != 0) {
        return not_fresh("a shard is not zero");
    }
    Ok(())
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
    /// `base` must be valid for reads and writes of [`layout(strategy, writers)`](layout) bytes, aligned to
    /// [`CACHE_LINE`], unused by anyone else during this call, and must stay mapped and unmoved for `'a`.
    pub unsafe fn init_at(base: NonNull<u8>, strategy: Strategy, writers: u64) -> Result<Counter<'a>, CounterError> {
        let shards = shard_count(strategy, writers)?;
        let header = base.cast::<Header>().as_ptr();
        // SAFETY: `header` and the shards that follow it lie inside the memory the caller vouches for, and are
        // aligned because `base` is and every part's size is a multiple of the cache line.
        unsafe {
            ptr::write(&raw mut (*header).value, CachePadded(AtomicU64::new(0)));
            ptr::write(
                &raw mut (*header).meta,
                CachePadded(Meta {
                    shard_count: shards as u64,
                    shards_count_retries: strategy == Strategy::Optimistic,
                    dead_owner_recoveries: AtomicU64::new(0),
                }),
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

    /// A view of a counter initialised at `base` and not yet used, in another process that maps the same memory
    /// (a worker started with exec, which inherits the segment but not the coordinator's view). What crossed the
    /// process boundary is checked as bytes before any of it is read as a counter: it must be, byte for byte,
    /// what [`Counter::init_at`] makes in this process for `strategy` and `writers` (an unlocked mutex of the
    /// same kind, a count of shards and a flag that agree, every figure zero); else [`CounterError::NotFresh`].
    ///
    /// # Safety
    /// `base` must be mapped readable and writable for [`layout(strategy, writers)`](layout) bytes, aligned to
    /// [`CACHE_LINE`], and must stay mapped and unmoved for `'a`; nobody may write it during this call.
    pub unsafe fn attach_at(base: NonNull<u8>, strategy: Strategy, writers: u64) -> Result<Counter<'a>, CounterError> {
        let shards = shard_count(strategy, writers)?;
        // SAFETY: the caller vouches for the mapping of the whole layout at `base`.
        unsafe { check_fresh(base, strategy, shards) }?;
        let header = base.cast::<Header>().as_ptr();
        // SAFETY: the bytes at `base` are those of a counter initialised for this layout (checked just above);
        // its parts are reached through atomics, the process-shared mutex, and the bookkeeping's plain fields,
        // which nothing writes after `init_at`.
        unsafe {
            let first_shard = header.add(1).cast::<Shard>();
            Ok(Counter { header: &*header, shards: std::slice::from_raw_parts(first_shard, shards) })
        }
    }

    /// Starts one increment by writer `writer` (numbered from 0): reads the value, taking the lock first for
    /// the mutex strategy. Whatever runs before [`PendingIncrement::finish`] is inside the race window.
    #[inline]
    pub fn begin(&self, strategy: Strategy, writer: usize) -> Result<PendingIncrement<'a>, CounterError> {
        if let Some(lock_free) = self.begin_lock_free(strategy, writer) {
            return Ok(PendingIncrement::LockFree(lock_free));
        }
        let (guard, acquired) = self.header.lock.0.lock()?;
        if acquired == Acquired::FromDeadOwner {
            self.header.meta.0.dead_owner_recoveries.fetch_add(1, Relaxed);
        }
        Ok(PendingIncrement::Locked { value: &self.header.value.0, read: self.header.value.0.load(Relaxed), guard })
    }

    /// Starts one increment of a strategy that takes no lock; `None` for the mutex strategy.
    #[inline]
    pub fn begin_lock_free(&self, strategy: Strategy, writer: usize) -> Option<LockFreeIncrement<'a>> {
        // Relaxed is enough for every load and store here: racy wants no ordering at all (that is its point),
        // the mutex orders its own critical sections, an atomic RMW is indivisible whatever its ordering, and a
        // shard has a single writer. The coordinator reads the total after join/wait, which orders everything.
        // `black_box` hides where the word is, so that the optimizer, once this is inlined into a loop, cannot
        // merge the loop's relaxed loads and stores into fewer: every increment is a real read and a real write.
        let value = std::hint::black_box(&self.header.value.0);
        match strategy {
            Strategy::Racy => Some(LockFreeIncrement::Store { target: value, read: value.load(Relaxed) }),
            // A lock in memory cannot expire under its holder: fenced is the mutex here.
            Strategy::Mutex | Strategy::Fenced => None,
            Strategy::Atomic => Some(LockFreeIncrement::Add { target: value }),
            Strategy::Sharded => {
                let shard = std::hint::black_box(&self.shards[writer].0);
                Some(LockFreeIncrement::Store { target: shard, read: shard.load(Relaxed) })
            }
            Strategy::Optimistic => Some(LockFreeIncrement::Swap {
                target: value,
                read: value.load(Relaxed),
                retries: &self.shards[writer].0,
            }),
        }
    }

    /// Adds one with a strategy that takes no lock (a mutex strategy does nothing here: use [`Counter::increment`]).
    #[inline]
    pub fn increment_lock_free(&self, strategy: Strategy, writer: usize) {
        if let Some(increment) = self.begin_lock_free(strategy, writer) {
            increment.finish();
        }
    }

    /// Writes an increment that [`LockFreeIncrement::detach`] detached, made by the same strategy and writer.
    #[inline]
    pub fn finish_detached(&self, strategy: Strategy, writer: usize, detached: DetachedIncrement) -> u64 {
        let value = &self.header.value.0;
        let increment = match strategy {
            Strategy::Atomic => LockFreeIncrement::Add { target: value },
            Strategy::Sharded => LockFreeIncrement::Store { target: &self.shards[writer].0, read: detached.read },
            Strategy::Optimistic => {
                LockFreeIncrement::Swap { target: value, read: detached.read, retries: &self.shards[writer].0 }
            }
            Strategy::Racy | Strategy::Mutex | Strategy::Fenced => {
                LockFreeIncrement::Store { target: value, read: detached.read }
            }
        };
        increment.finish()
    }

    /// Adds one, with nothing in the window; returns the value written.
    #[inline]
    pub fn increment(&self, strategy: Strategy, writer: usize) -> Result<u64, CounterError> {
        Ok(self.begin(strategy, writer)?.finish())
    }

    /// The counter's value: the shared word plus every shard that counts increments (only one of the two is ever
    /// non-zero).
    pub fn total(&self) -> u64 {
        let value = self.header.value.0.load(Relaxed);
        if self.header.meta.0.shards_count_retries { value } else { value.wrapping_add(self.sum_of_shards()) }
    }

    /// Compare-and-swap retries of the optimistic strategy, summed over the writers; `None` for the others.
    pub fn retries(&self) -> Option<u64> {
        self.header.meta.0.shards_count_retries.then(|| self.sum_of_shards())
    }

    fn sum_of_shards(&self) -> u64 {
        self.shards.iter().fold(0, |sum: u64, shard| sum.wrapping_add(shard.0.load(Relaxed)))
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
pub enum PendingIncrement<'a> {
    /// Racy, atomic or sharded.
    LockFree(LockFreeIncrement<'a>),
    /// The mutex strategy: the lock is held until the write.
    Locked {
        /// The shared value.
        value: &'a AtomicU64,
        /// What was read under the lock.
        read: u64,
        /// The lock, released when this is dropped.
        guard: RobustGuard<'a>,
    },
}

impl PendingIncrement<'_> {
    /// Writes the incremented value back (releasing the lock for the mutex strategy); returns the value
    /// written, one more than the value its write was computed from.
    #[inline]
    pub fn finish(self) -> u64 {
        match self {
            PendingIncrement::LockFree(increment) => increment.finish(),
            PendingIncrement::Locked { value, read, guard } => {
                value.store(read.wrapping_add(1), Relaxed);
                drop(guard);
                read.wrapping_add(1)
            }
        }
    }

    /// [`finish`](PendingIncrement::finish) for `--trace`: the value written and the value it overwrote, read
    /// in the same indivisible step (a swap where the strategy stores: part of what looking costs).
    #[inline]
    pub fn finish_traced(self) -> (u64, u64) {
        match self {
            PendingIncrement::LockFree(increment) => increment.finish_traced(),
            PendingIncrement::Locked { value, read, guard } => {
                let overwrote = value.swap(read.wrapping_add(1), Relaxed);
                drop(guard);
                (read.wrapping_add(1), overwrote)
            }
        }
    }
}

/// An increment of a strategy that takes no lock: `Send`, so it may be held across an await anywhere.
#[derive(Debug)]
#[must_use = "an increment only counts once finished"]
pub enum LockFreeIncrement<'a> {
    /// Racy or sharded: store what was read plus one. For racy this is the lost update: another worker may
    /// have stored since the read, and this store overwrites it. A shard has one writer, so nothing is lost.
    Store {
        /// The word to write.
        target: &'a AtomicU64,
        /// What was read.
        read: u64,
    },
    /// Atomic: one indivisible `fetch_add`, which reads nothing beforehand.
    Add {
        /// The shared value.
        target: &'a AtomicU64,
    },
    /// Optimistic: write what was read plus one only if the value is still what was read
    /// (`compare_exchange`); if another worker got there first, take the value it left and try again.
    Swap {
        /// The shared value.
        target: &'a AtomicU64,
        /// What was read.
        read: u64,
        /// This writer's count of failed attempts (its own shard: only it writes there).
        retries: &'a AtomicU64,
    },
}

impl LockFreeIncrement<'_> {
    /// Keeps only what was read, for a worker that must not borrow the counter across the window (a
    /// hand-written future, whose fields cannot borrow each other); [`Counter::finish_detached`] writes it.
    #[inline]
    pub fn detach(self) -> DetachedIncrement {
        match self {
            LockFreeIncrement::Store { read, .. } | LockFreeIncrement::Swap { read, .. } => DetachedIncrement { read },
            LockFreeIncrement::Add { .. } => DetachedIncrement { read: 0 },
        }
    }

    /// Writes the increment; returns the value written (a shard's own, for sharded), one more than the value
    /// it was computed from.
    #[inline]
    pub fn finish(self) -> u64 {
        match self {
            LockFreeIncrement::Store { target, read } => {
                target.store(read.wrapping_add(1), Relaxed);
                read.wrapping_add(1)
            }
            LockFreeIncrement::Add { target } => target.fetch_add(1, Relaxed).wrapping_add(1),
            LockFreeIncrement::Swap { target, mut read, retries } => {
                let mut failed = 0;
                // A strong exchange: a spurious failure would count as a retry that no other writer caused.
                while let Err(actual) = target.compare_exchange(read, read.wrapping_add(1), Relaxed, Relaxed) {
                    read = actual;
                    failed += 1;
                }
                if failed > 0 {
                    // The writer's own shard: a plain load and store, no contended read-modify-write.
                    retries.store(retries.load(Relaxed).wrapping_add(failed), Relaxed);
                }
                read.wrapping_add(1)
            }
        }
    }
}

impl LockFreeIncrement<'_> {
    /// [`finish`](LockFreeIncrement::finish) for `--trace`: the value written and the value it overwrote.
    #[inline]
    pub fn finish_traced(self) -> (u64, u64) {
        match self {
            LockFreeIncrement::Store { target, read } => {
                (read.wrapping_add(1), target.swap(read.wrapping_add(1), Relaxed))
            }
            LockFreeIncrement::Add { .. } | LockFreeIncrement::Swap { .. } => {
                // Both overwrite exactly the value their write was computed from.
                let wrote = self.finish();
                (wrote, wrote.wrapping_sub(1))
            }
        }
    }
}

/// A lock-free increment reduced to what it read (nothing, for atomic): eight bytes that borrow nothing.
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "an increment only counts once finished"]
pub struct DetachedIncrement {
    read: u64,
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
unsafe impl Sync for HeapCounter {}

impl HeapCounter {
    /// Allocates and initialises a counter for `writers` writers with `strategy`.
    pub fn new(strategy: Strategy, writers: u64) -> Result<HeapCounter, CounterError> {
        let layout = layout(strategy, writers)?;
        // SAFETY: the layout's size is at least the header's, never zero.
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(layout) })
            .ok_or(CounterError::OutOfMemory { bytes: layout.size() })?;
        // SAFETY: `base` is a fresh allocation of `layout`, aligned to the cache line, owned by the value we
        // return, freed only in `drop`, after every `Counter` borrowed from it is gone (they borrow `self`).
        let counter = unsafe { Counter::init_at(base, strategy, writers) };
        match counter {
            Ok(counter) => Ok(HeapCounter { base, layout, counter }),
            Err(error) => {
                // SAFETY: allocated just above with this layout, never shared.
                unsafe { alloc::dealloc(base.as_ptr(), layout) };
                Err(error)
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
        // A guard cannot outlive the `Counter` it was taken from, but it can be leaked (`mem::forget`) with the
        // lock held; glibc then still links the mutex into the holder's robust list, and freeing the memory
        // would let the allocator hand it out while glibc writes to it. Leak it instead.
        if !self.counter.header.lock.0.is_free() {
            return;
        }
        // SAFETY: the mutex is unlocked (checked just above; nobody can take it since, because every `Counter`
        // borrowed from `self` is gone) and the allocation was made with `self.layout`.
        unsafe {
            RobustMutex::destroy(&raw mut (*self.base.cast::<Header>().as_ptr()).lock.0);
            alloc::dealloc(self.base.as_ptr(), self.layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_holds_shards_only_when_sharded() {
        assert_eq!(layout(Strategy::Atomic, 1000).unwrap().size(), 256);
        assert_eq!(layout(Strategy::Sharded, 3).unwrap().size(), 256 + 3 * 64);
        assert_eq!(layout(Strategy::Sharded, 3).unwrap().align(), 64);
    }

    #[test]
    fn every_strategy_counts_exactly_on_one_thread() {
        for strategy in Strategy::ALL {
            let heap = HeapCounter::new(strategy, 3).unwrap();
            let counter = heap.counter();
            for worker in 0..3 {
                for _ in 0..10 {
                    counter.increment(strategy, worker).unwrap();
                }
            }
            assert_eq!(counter.total(), 30, "{strategy:?}");
        }
    }

    #[test]
    fn safe_strategies_count_exactly_across_threads() {
        for strategy in Strategy::ALL.into_iter().filter(|strategy| !strategy.is_racy()) {
            let heap = HeapCounter::new(strategy, 4).unwrap();
            let counter = heap.counter();
            std::thread::scope(|scope| {
                for worker in 0..4 {
                    scope.spawn(move || {
                        for _ in 0..20_000 {
                            counter.increment(strategy, worker).unwrap();
                        }
                    });
                }
            });
            assert_eq!(counter.total(), 80_000, "{strategy:?}");
        }
    }

    #[test]
    fn interleaved_racy_increments_lose_one() {
        // Two workers read the same value before either writes: the textbook lost update, made deterministic.
        let heap = HeapCounter::new(Strategy::Racy, 2).unwrap();
        let counter = heap.counter();
        let first = counter.begin(Strategy::Racy, 0).unwrap();
        let second = counter.begin(Strategy::Racy, 1).unwrap();
        first.finish();
        second.finish();
        assert_eq!(counter.total(), 1);
    }

    #[test]
    fn an_abandoned_locked_increment_releases_the_lock() {
        let heap = HeapCounter::new(Strategy::Mutex, 1).unwrap();
        let counter = heap.counter();
        drop(counter.begin(Strategy::Mutex, 0).unwrap());
        counter.increment(Strategy::Mutex, 0).unwrap();
        assert_eq!(counter.total(), 1);
    }

    #[test]
    fn a_lock_whose_holder_died_is_recovered() {
        // Robust mutexes are released by the kernel when the holding thread ends, as when a process dies.
        let heap = HeapCounter::new(Strategy::Mutex, 1).unwrap();
        let counter = heap.counter();
        std::thread::scope(|scope| {
            scope.spawn(|| std::mem::forget(counter.begin(Strategy::Mutex, 0).unwrap()));
        });
        assert_eq!(counter.dead_owner_recoveries(), 0);
        counter.increment(Strategy::Mutex, 0).unwrap();
        assert_eq!(counter.dead_owner_recoveries(), 1);
        assert_eq!(counter.total(), 1);
    }

    #[test]
    fn a_lock_still_held_at_the_end_is_seen() {
        let heap = HeapCounter::new(Strategy::Mutex, 1).unwrap();
        assert!(heap.counter().header.lock.0.is_free());
        let pending = heap.counter().begin(Strategy::Mutex, 0).unwrap();
        assert!(!heap.counter().header.lock.0.is_free(), "held by this thread");
        // With the guard leaked the lock stays held: dropping the counter leaks its memory instead of freeing
        // what glibc's robust list still points to.
        std::mem::forget(pending);
        drop(heap);
    }

    #[test]
    fn only_lock_free_strategies_give_a_sendable_increment() {
        fn sendable<T: Send>(_: &T) {}
        for strategy in Strategy::ALL {
            let heap = HeapCounter::new(strategy, 2).unwrap();
            let increment = heap.counter().begin_lock_free(strategy, 1);
            assert_eq!(increment.is_none(), strategy.takes_lock(), "{strategy:?}");
            if let Some(increment) = increment {
                sendable(&increment);
                increment.finish();
                assert_eq!(heap.counter().total(), 1, "{strategy:?}");
            }
        }
    }

    #[test]
    fn an_optimistic_write_that_lost_the_race_tries_again_and_counts_it() {
        let heap = HeapCounter::new(Strategy::Optimistic, 2).unwrap();
        let counter = heap.counter();
        let first = counter.begin_lock_free(Strategy::Optimistic, 0).unwrap();
        // Writer 1 reads the same value and writes first: writer 0's compare-and-swap fails once, then lands on
        // the value writer 1 left.
        counter.increment_lock_free(Strategy::Optimistic, 1);
        first.finish();
        assert_eq!((counter.total(), counter.retries()), (2, Some(1)));
        // The same through a detached increment, as an async task keeps it across an await.
        let detached = counter.begin_lock_free(Strategy::Optimistic, 1).unwrap().detach();
        counter.increment_lock_free(Strategy::Optimistic, 0);
        counter.finish_detached(Strategy::Optimistic, 1, detached);
        assert_eq!((counter.total(), counter.retries()), (4, Some(2)));
        // The other strategies have no retries to report, and sharded counts its shards.
        let sharded = HeapCounter::new(Strategy::Sharded, 2).unwrap();
        sharded.counter().increment_lock_free(Strategy::Sharded, 1);
        assert_eq!((sharded.counter().total(), sharded.counter().retries()), (1, None));
    }
}
