//! `--trace` for processes: each worker records its steps into its own part of the segment, after the counter
//! (a forked worker may not allocate, and every worker, however started, maps the segment), and the
//! coordinator reads them back once the workers have ended, checking every word: what a worker wrote crosses a
//! process boundary, and is not trusted.
//!
//! A worker's part is two words (the steps it kept, the steps past its capacity) and then five words a step
//! (worker, value written, value overwritten, read and write instants). Its capacity is the run's `--trace-limit`, or its
//! increments if fewer.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use counter_core::{
    config::Config,
    trace::{Step, StepLog, Tracer},
};

/// Words a step takes.
const STEP_WORDS: usize = 5;
/// The word that stands for "not known" in a step's `overwrote`.
const UNKNOWN: u64 = u64::MAX;
/// Words before a worker's steps.
const HEADER_WORDS: usize = 2;

/// Where the workers' steps are in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceArea {
    /// Bytes from the segment's start: just after the counter, on a word boundary.
    offset: usize,
    /// Steps each worker may keep.
    capacity: u64,
    workers: u64,
}

impl TraceArea {
    /// The area a traced run needs after a counter of `counter_bytes`; `None` untraced, or for sizes that do not
    /// fit in memory.
    pub(crate) fn of(config: &Config, counter_bytes: usize) -> Option<TraceArea> {
        let capacity = config.trace()?.min(config.increments());
        let area = TraceArea { offset: counter_bytes.next_multiple_of(8), capacity, workers: config.members() };
        area.bytes().map(|_| area)
    }

    fn words_per_worker(&self) -> Option<usize> {
        usize::try_from(self.capacity).ok()?.checked_mul(STEP_WORDS)?.checked_add(HEADER_WORDS)
    }

    /// The area's size in bytes.
    pub(crate) fn bytes(&self) -> Option<usize> {
        self.words_per_worker()?.checked_mul(usize::try_from(self.workers).ok()?)?.checked_mul(8)
    }

    /// The segment's size with the area: what the counter takes, then the area.
    pub(crate) fn end(&self) -> Option<usize> {
        self.offset.checked_add(self.bytes()?)
    }

    /// Worker `index`'s words, in a segment mapped at `base` for at least [`TraceArea::end`] bytes.
    ///
    /// # Safety
    /// `base` is the start of a shared mapping, aligned to 8 bytes, of at least `self.end()` bytes, which stays
    /// mapped for `'a`; the words are only ever accessed as atomics.
    pub(crate) unsafe fn worker<'a>(&self, base: std::ptr::NonNull<u8>, index: u64) -> Option<&'a [AtomicU64]> {
        if index >= self.workers {
            return None;
        }
        let words = self.words_per_worker()?;
        let start = self.offset.checked_add(usize::try_from(index).ok()?.checked_mul(words)?.checked_mul(8)?)?;
        // SAFETY: `start` is below `self.end()` (the index is below `workers`, checked above, and the area holds
        // `workers` parts of `words` words after `offset`), which the caller promises is mapped.
        let first = unsafe { base.as_ptr().add(start) };
        if first.align_offset(std::mem::align_of::<AtomicU64>()) != 0 {
            return None;
        }
        #[allow(clippy::cast_ptr_alignment, reason = "the alignment is checked just above")]
        let first = first.cast::<AtomicU64>();
        // SAFETY: `words` atomics from `first` end at or before `self.end()`, within the mapping the caller
        // promises; `first` is aligned (checked); AtomicU64 has u64's size; the caller promises atomic access only.
        Some(unsafe { std::slice::from_raw_parts(first, words) })
    }

    /// Worker `index`'s steps, read back from `words` once it has ended: only what is consistent is kept (a
    /// count within the capacity, each step the worker's own); the rest is counted as not kept.
    pub(crate) fn read_back(&self, words: &[AtomicU64], index: u64) -> StepLog {
        let claimed = words.first().map_or(0, |word| word.load(Relaxed));
        let kept = claimed.min(self.capacity);
        let mut log = StepLog::new(index as u32, self.capacity, kept);
        log.not_kept = words.get(1).map_or(0, |word| word.load(Relaxed)).saturating_add(claimed - kept);
        for step in words.get(HEADER_WORDS..).unwrap_or_default().chunks_exact(STEP_WORDS).take(kept as usize) {
            let [worker, wrote, overwrote, read_ns, wrote_ns] = [0, 1, 2, 3, 4].map(|i| step[i].load(Relaxed));
            if worker == index {
                let overwrote = (overwrote != UNKNOWN).then_some(overwrote);
                log.steps.push(Step { worker: index as u32, wrote, overwrote, read_ns, wrote_ns });
            } else {
                log.not_kept += 1;
            }
        }
        log
    }
}

/// A worker's log in its part of the segment: plain atomic stores, no allocation, no lock.
pub(crate) struct SegmentLog<'a> {
    words: &'a [AtomicU64],
    worker: u64,
    kept: u64,
    not_kept: u64,
}

impl<'a> SegmentLog<'a> {
    pub(crate) fn new(words: &'a [AtomicU64], worker: u64) -> SegmentLog<'a> {
        SegmentLog { words, worker, kept: 0, not_kept: 0 }
    }

    /// Writes the counts, for the coordinator to read once this worker has ended.
    pub(crate) fn close(&self) {
        self.words[0].store(self.kept, Relaxed);
        self.words[1].store(self.not_kept, Relaxed);
    }
}

impl Tracer for SegmentLog<'_> {
    const ON: bool = true;

    #[inline]
    fn record(&mut self, wrote: u64, overwrote: Option<u64>, read_ns: u64, wrote_ns: u64) {
        let at = HEADER_WORDS + self.kept as usize * STEP_WORDS;
        match self.words.get(at..at + STEP_WORDS) {
            Some(step) => {
                let overwrote = overwrote.unwrap_or(UNKNOWN);
                for (word, value) in step.iter().zip([self.worker, wrote, overwrote, read_ns, wrote_ns]) {
                    word.store(value, Relaxed);
                }
                self.kept += 1;
            }
            None => self.not_kept += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use counter_core::config::Request;

    use super::*;

    #[test]
    fn a_worker_keeps_its_capacity_and_a_crafted_part_is_not_trusted() {
        let config = Request { workers: 2, increments: 3, trace: Some(10), ..Request::default() }.validate().unwrap();
        let area = TraceArea::of(&config, 100).unwrap();
        assert_eq!((area.offset, area.capacity), (104, 3));
        let words: Vec<AtomicU64> = (0..area.words_per_worker().unwrap()).map(|_| AtomicU64::new(0)).collect();
        let mut log = SegmentLog::new(&words, 1);
        (1..=5).for_each(|n| log.record(n, Some(n - 1), n * 10, n * 10 + 1));
        log.close();
        let back = area.read_back(&words, 1);
        assert_eq!((back.steps.len(), back.not_kept), (3, 2));
        assert_eq!(back.steps[2], Step { worker: 1, wrote: 3, overwrote: Some(2), read_ns: 30, wrote_ns: 31 });
        // A count past the capacity, and a step that names another worker: neither is taken as it says.
        words[0].store(u64::MAX, Relaxed);
        words[HEADER_WORDS].store(7, Relaxed);
        let back = area.read_back(&words, 1);
        assert_eq!(back.steps.len(), 2);
        assert!(back.not_kept > 3);
    }
}
