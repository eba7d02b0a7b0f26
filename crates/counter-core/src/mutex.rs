//! A robust, process-shared pthread mutex that can live inside the counter's memory, whether that memory is
//! on the heap of one process or in a shared-memory segment mapped by many.
//!
//! Robust means: if a holder dies (a worker process killed with `kill -9` inside its critical section), the
//! next locker is told so (`EOWNERDEAD`) instead of waiting forever; it marks the mutex consistent and goes on.
//! The counter value is a single word written with one store, so a dead holder leaves it either updated or not,
//! never torn.

use std::{cell::UnsafeCell, io, marker::PhantomData, mem::MaybeUninit};

/// How long a wait for the lock lasts before it looks whether the holder still exists, nanoseconds.
const RECHECK_NS: libc::c_long = 100_000_000;

/// The bits of a robust futex word that hold the owner's thread id.
const FUTEX_TID_MASK: i32 = 0x3fff_ffff;

unsafe extern "C" {
    // glibc 2.30 and later: `pthread_mutex_timedlock` on a clock that no one sets (the libc crate lacks it).
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// A `pthread_mutex_t` set up as `PTHREAD_PROCESS_SHARED` and `PTHREAD_MUTEX_ROBUST`.
///
/// It must not move after [`RobustMutex::init_at`]: it lives at a fixed place inside the counter's memory.
#[repr(C)]
pub struct RobustMutex {
    raw: UnsafeCell<libc::pthread_mutex_t>,
}

impl std::fmt::Debug for RobustMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RobustMutex")
    }
}

// SAFETY: a process-shared pthread mutex is made to be used from any thread (and any process); every write of
// the inner value goes through the pthread functions, which do their own synchronisation, and the one read
// outside them (`holder_is_gone`) is an atomic load of the futex word, as the kernel and glibc read it.
unsafe impl Sync for RobustMutex {}
// SAFETY: the mutex holds no thread-affine data; ownership may move to another thread while it is unlocked.
unsafe impl Send for RobustMutex {}

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// The usual case.
    Normally,
    /// The previous holder died holding it; the mutex has been made consistent again.
    FromDeadOwner,
}

/// The process-shared mutex could not be initialised or locked.
#[derive(Debug, thiserror::Error)]
#[error("the process-shared mutex failed to {operation}")]
pub struct MutexError {
    /// What was being done: `initialise`, `lock`, `make consistent`.
    pub operation: &'static str,
    /// The error the C library returned.
    #[source]
    pub source: io::Error,
}

fn check(operation: &'static str, code: libc::c_int) -> Result<(), MutexError> {
    if code == 0 { Ok(()) } else { Err(MutexError { operation, source: io::Error::from_raw_os_error(code) }) }
}

impl RobustMutex {
    /// Initialises a mutex in place.
    ///
    /// # Safety
    /// `this` must be valid for writes of `size_of::<RobustMutex>()` bytes, suitably aligned, not in use by
    /// anyone else, and must not move until [`RobustMutex::destroy`] (or until the memory is unmapped).
    pub unsafe fn init_at(this: *mut RobustMutex) -> Result<(), MutexError> {
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is a local the pthread functions initialise before any read; `this` is valid for
        // writes per this function's contract, and `raw` is its first and only field.
        unsafe {
            check("initialise", libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let result = check(
                "initialise",
                libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
            )
            .and_then(|()| {
                check("initialise", libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST))
            })
            .and_then(|()| {
                check(
                    "initialise",
                    libc::pthread_mutex_init(UnsafeCell::raw_get(&raw const (*this).raw), attr.as_ptr()),
                )
            });
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            result
        }
    }

    /// Locks, waiting as long as the holder lives; recovers from a holder that died. The lock is held until the
    /// guard is dropped, on this thread: the guard cannot be sent to another one.
    ///
    /// A free lock is taken at once (`trylock`: nothing is added to an uncontended lock's cost). A wait is cut
    /// into slices of 100 ms: a holder killed in the middle of its unlock (the word cleared, the waiters not yet
    /// woken) would otherwise leave them asleep forever, and a slice that ends finds the lock free and takes it.
    /// A holder that is gone while its id is still in the lock's word (so that the kernel never released it) is
    /// an error, not a wait without end. Allocates nothing: it runs in forked workers.
    pub fn lock(&self) -> Result<(RobustGuard<'_>, Acquired), MutexError> {
        // SAFETY: `self` was initialised by `init_at` (the only way a `RobustMutex` comes to exist in a counter)
        // and has not moved since.
        let first = unsafe { libc::pthread_mutex_trylock(self.raw.get()) };
        let code = if first == libc::EBUSY { self.wait_for_lock()? } else { first };
        self.acquired(code)
    }

    /// Waits for a lock that another holds, in slices (see [`RobustMutex::lock`]); the code of the lock call
    /// that ended the wait.
    fn wait_for_lock(&self) -> Result<libc::c_int, MutexError> {
        loop {
            let mut deadline = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: clock_gettime writes the one timespec it is given.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut deadline) };
            deadline.tv_nsec += RECHECK_NS;
            if deadline.tv_nsec >= 1_000_000_000 {
                deadline.tv_sec += 1;
                deadline.tv_nsec -= 1_000_000_000;
            }
            // SAFETY: `self` was initialised by `init_at` (the only way a `RobustMutex` comes to exist in a
            // counter) and has not moved since; `deadline` is a valid timespec on the clock named.
            let code = unsafe { pthread_mutex_clocklock(self.raw.get(), libc::CLOCK_MONOTONIC, &raw const deadline) };
            if code != libc::ETIMEDOUT {
                return Ok(code);
            }
            if self.holder_is_gone() {
                return Err(MutexError {
                    operation: "lock (its holder is gone, and the kernel never released the lock it held)",
                    source: io::Error::from_raw_os_error(libc::ENOTRECOVERABLE),
                });
            }
        }
    }

    /// The guard for a lock call's `code`: taken, or taken from a dead holder and made consistent, or an error.
    fn acquired(&self, code: libc::c_int) -> Result<(RobustGuard<'_>, Acquired), MutexError> {
        let acquired = match code {
            0 => Acquired::Normally,
            libc::EOWNERDEAD => {
                // SAFETY: we hold the lock (EOWNERDEAD grants it); marking it consistent is the holder's job.
                let consistent = check("make consistent", unsafe { libc::pthread_mutex_consistent(self.raw.get()) });
                if let Err(error) = consistent {
                    // Unlocked while still inconsistent, the mutex becomes unusable (ENOTRECOVERABLE) for every
                    // other worker, which then fails instead of waiting forever for a lock nobody will release.
                    // SAFETY: this thread holds the lock (EOWNERDEAD granted it).
                    unsafe { libc::pthread_mutex_unlock(self.raw.get()) };
                    return Err(error);
                }
                Acquired::FromDeadOwner
            }
            code => return Err(MutexError { operation: "lock", source: io::Error::from_raw_os_error(code) }),
        };
        Ok((RobustGuard { mutex: self, not_send: PhantomData }, acquired))
    }

    /// Whether the thread whose id is in the lock's word no longer exists (reaped), or is no kin of ours (its id
    /// reused by another process since, or a lock word nobody of ours wrote): glibc keeps the holder's thread id
    /// in the low 30 bits of the mutex's first word (its futex), as the kernel's robust-futex protocol requires.
    fn holder_is_gone(&self) -> bool {
        // SAFETY: the futex word is the first `int` of glibc's `pthread_mutex_t` on Linux, 4-byte aligned
        // because the mutex is; it is only read here, atomically, as the kernel and glibc read it.
        let word = unsafe { std::sync::atomic::AtomicI32::from_ptr(self.raw.get().cast::<i32>()) }
            .load(std::sync::atomic::Ordering::Relaxed);
        let holder = word & FUTEX_TID_MASK;
        // SAFETY: signal 0 only checks that the thread exists; nothing is sent.
        let gone =
            unsafe { libc::kill(holder, 0) } == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        holder != 0 && (gone || !crate::proc::is_kin(holder))
    }

    /// Whether the mutex is free to be destroyed: takes it if nobody holds it (recovering it from a dead
    /// holder) and releases it at once. False while a live thread holds it, for example one that leaked its
    /// guard with `mem::forget`: then the memory must be leaked too, because glibc still links the mutex into
    /// that thread's list of robust mutexes.
    pub fn is_free(&self) -> bool {
        // SAFETY: initialised as for `lock`.
        let code = unsafe { libc::pthread_mutex_trylock(self.raw.get()) };
        let taken = match code {
            0 => true,
            // SAFETY: EOWNERDEAD grants the lock; marking it consistent is the holder's job.
            libc::EOWNERDEAD => (unsafe { libc::pthread_mutex_consistent(self.raw.get()) }) == 0,
            _ => false,
        };
        if taken {
            // SAFETY: this thread took the lock just above.
            unsafe { libc::pthread_mutex_unlock(self.raw.get()) };
        }
        taken
    }

    /// Destroys the mutex.
    ///
    /// # Safety
    /// The mutex must be unlocked (see [`RobustMutex::is_free`]) and no one may use it afterwards.
    pub unsafe fn destroy(this: *mut RobustMutex) {
        // SAFETY: per the contract, nobody holds or will use the mutex.
        unsafe {
            libc::pthread_mutex_destroy(UnsafeCell::raw_get(&raw const (*this).raw));
        }
    }
}

/// The lock, held: released when dropped, on the thread that took it.
///
/// `!Send` (as std's `MutexGuard`): a pthread mutex must be unlocked by the thread that locked it, so a guard
/// held across an `.await` on a multi-thread runtime, where the task may resume elsewhere, does not compile:
///
/// ```compile_fail
/// fn sendable<T: Send>() {}
/// sendable::<counter_core::mutex::RobustGuard<'static>>();
/// ```
///
/// Nor does a pending increment that holds it:
///
/// ```compile_fail
/// fn sendable<T: Send>() {}
/// sendable::<counter_core::counter::PendingIncrement<'static>>();
/// ```
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RobustGuard<'a> {
    mutex: &'a RobustMutex,
    not_send: PhantomData<*const ()>,
}

impl Drop for RobustGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only because this thread locked the mutex (`lock`), and it cannot have moved
        // to another thread (`!Send`). Even a wrong unlock would be sound: a robust mutex refuses a thread that
        // does not own it with EPERM. The only other error, EINVAL, means an uninitialised mutex, which a
        // `RobustMutex` never is; either way there is nothing a destructor could do about it.
        unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock whose word names a thread that no longer exists, without the kernel's owner-died mark (what a
    /// holder that the kernel never released leaves), is an error within a slice, not a wait without end.
    #[test]
    fn a_lock_held_by_a_thread_that_is_gone_is_an_error_not_a_hang() {
        let mut memory = Box::new(MaybeUninit::<RobustMutex>::uninit());
        // SAFETY: a fresh, aligned allocation that nothing else uses; it outlives the mutex's use below.
        unsafe { RobustMutex::init_at(memory.as_mut_ptr()) }.unwrap();
        // SAFETY: initialised just above.
        let mutex = unsafe { memory.assume_init_ref() };
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id() as i32;
        gone.wait().unwrap();
        // SAFETY: the futex word is the mutex's first int (see `holder_is_gone`); nobody else uses this mutex.
        unsafe { std::sync::atomic::AtomicI32::from_ptr(mutex.raw.get().cast::<i32>()) }
            .store(pid, std::sync::atomic::Ordering::Relaxed);
        let started = std::time::Instant::now();
        let error = mutex.lock().map(|_| ()).expect_err("a lock held by a thread that is gone");
        assert!(error.operation.contains("holder is gone"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
