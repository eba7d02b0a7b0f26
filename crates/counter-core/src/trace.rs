//! `--trace`: what each worker wrote, and when it read and wrote, on the machine's monotonic clock; and from
//! that, which increments were lost, and how.
//!
//! Every write is one more than the value it was computed from, so a step is the value written and two
//! instants. Laid end to end in the order of their writes, the steps tell the counter's history: a write of the
//! value already there lost one increment to a *collision* (two increments read the same value, and the later
//! write stood for both); a write below it is a *rollback*, which undid every increment made since its read; a
//! write above it (computed before a rollback, written after) gives increments back. Summed, these are the
//! increments done less the final value, exactly, when the trace kept every step and its order of writes is the
//! counter's: the report says whether they agree.
//!
//! A worker records into memory it owns ([`StepLog`]), up to its limit, counting what it does not keep; a run
//! without `--trace` records through [`NoTrace`], which compiles to nothing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Steps kept per worker unless `--trace-limit` says otherwise.
pub const DEFAULT_LIMIT: u64 = 100_000;

/// The most steps one worker may keep: 24 bytes each, 2.4 GB.
pub const MAX_LIMIT: u64 = 100_000_000;

/// Losses the report keeps in full, in time order; the rest are counted.
pub const LOSSES_KEPT: usize = 50;

/// Losses whose neighbourhood of steps the report keeps, for drawing the interleaving.
const LOSSES_DRAWN: usize = 3;

/// Steps kept around each loss drawn, on each side of it.
const STEPS_AROUND: usize = 12;

/// One increment as its worker saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The worker (numbered from 0).
    pub worker: u32,
    /// The value it wrote: one more than the value it read (a shard's own, for sharded).
    pub wrote: u64,
    /// The value its write overwrote, where the write could tell (a swap in memory, a store that answers it):
    /// then the loss at this write is exact, whatever the clock says of the order.
    pub overwrote: Option<u64>,
    /// When its read had happened, nanoseconds on the monotonic clock.
    pub read_ns: u64,
    /// When its write had happened.
    pub wrote_ns: u64,
}

impl Step {
    /// The value its write was computed from.
    pub fn read(&self) -> u64 {
        self.wrote.wrapping_sub(1)
    }
}

/// The machine's monotonic clock, nanoseconds: one clock for every process of a run (`CLOCK_MONOTONIC`).
#[inline]
pub fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |now| (now.tv_sec() as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec() as u64))
}

/// Where a worker's loop records its steps.
pub trait Tracer {
    /// Whether steps are recorded: the loop reads the clock only when they are.
    const ON: bool;
    /// Records one step: the value written, the value it overwrote if known, when the read and the write had
    /// happened.
    fn record(&mut self, wrote: u64, overwrote: Option<u64>, read_ns: u64, wrote_ns: u64);
}

/// No trace: a run without `--trace`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTrace;

impl Tracer for NoTrace {
    const ON: bool = false;

    #[inline]
    fn record(&mut self, _: u64, _: Option<u64>, _: u64, _: u64) {}
}

/// One worker's steps, in memory it owns, up to its limit; the steps past it are counted, not kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// The worker.
    pub worker: u32,
    /// The steps kept, in the worker's order.
    pub steps: Vec<Step>,
    /// The most it keeps.
    pub limit: u64,
    /// Steps made past the limit.
    pub not_kept: u64,
}

impl StepLog {
    /// An empty log for `worker`, keeping at most `limit` steps (room for up to `expected` made at once).
    pub fn new(worker: u32, limit: u64, expected: u64) -> StepLog {
        let room = usize::try_from(limit.min(expected).min(1 << 20)).unwrap_or(0);
        StepLog { worker, steps: Vec::with_capacity(room), limit, not_kept: 0 }
    }
}

impl Tracer for StepLog {
    const ON: bool = true;

    #[inline]
    fn record(&mut self, wrote: u64, overwrote: Option<u64>, read_ns: u64, wrote_ns: u64) {
        if (self.steps.len() as u64) < self.limit {
            self.steps.push(Step { worker: self.worker, wrote, overwrote, read_ns, wrote_ns });
        } else {
            self.not_kept += 1;
        }
    }
}

/// How an increment was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// It read the value another increment had read, and its write stood for both.
    Collision,
    /// It wrote below the value already written, undoing the increments made since its read.
    Rollback,
}

/// One loss, as the trace shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    /// A collision or a rollback.
    pub kind: LossKind,
    /// The write that was there before: for a collision, the other increment that read the same value.
    pub before: Step,
    /// The write that lost: the second of the two, or the late one.
    pub late: Step,
    /// Increments lost here: 1 for a collision; for a rollback, its own and those it undid.
    pub lost: u64,
}

/// What a run's trace says of its lost updates (the `trace` of a report).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    /// Steps kept, over every worker.
    pub kept: u64,
    /// Steps made past a worker's limit (`--trace-limit`): not kept, not attributed.
    pub not_kept: u64,
    /// Increments lost to collisions (one each).
    pub collisions: u64,
    /// Rollbacks.
    pub rollbacks: u64,
    /// Increments lost to rollbacks: each one's own and those it undid.
    pub rolled_back: u64,
    /// Increments given back by writes above the value then current (computed before a rollback).
    pub restored: u64,
    /// What the trace attributes: collisions and rolled back, less restored.
    pub attributed: i64,
    /// Whether `attributed` equals the lost updates counted from the final value; `None` when it cannot
    /// (steps not kept, a loss not counted, another participant's increments).
    pub agrees: Option<bool>,
    /// The first losses in the order of their writes, at most [`LOSSES_KEPT`].
    pub losses: Vec<Loss>,
    /// The steps around the first few losses, for drawing the interleaving, in the order of their writes.
    pub steps: Vec<Step>,
    /// Refused attempts the server made again (a store's): the collisions it prevented.
    #[serde(default)]
    pub prevented: Option<u64>,
}

/// What the attribution needs to know of the run besides its steps.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    /// Each worker writes its own word (sharded): the steps are laid end to end per worker.
    pub own_words: bool,
    /// The lost updates counted from the final value, if they were (and this run's alone).
    pub lost: Option<u64>,
}

/// Attributes every lost update in `logs` (every worker's).
pub fn attribute(logs: Vec<StepLog>, counted: Counted) -> TraceReport {
    let not_kept: u64 = logs.iter().map(|log| log.not_kept).sum();
    let mut steps: Vec<Step> = logs.into_iter().flat_map(|log| log.steps).collect();
    steps.sort_by_key(|step| (step.wrote_ns, step.worker));
    let mut report = TraceReport { kept: steps.len() as u64, not_kept, ..TraceReport::default() };
    // The value each word holds (one word, or one per worker) by the clock's order of the writes, and the last
    // step that wrote each value.
    let mut words: HashMap<u32, u64> = HashMap::new();
    let mut writers: HashMap<(u32, u64), Step> = HashMap::new();
    let mut losses_at = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let word = if counted.own_words { step.worker } else { 0 };
        let value = words.entry(word).or_insert(0);
        // What the write overwrote: as it said, else what the clock's order says was there.
        let overwrote = step.overwrote.unwrap_or(*value);
        let before = writers.get(&(word, overwrote)).copied();
        let deficit = i128::from(overwrote) + 1 - i128::from(step.wrote);
        if deficit < 0 {
            report.restored += deficit.unsigned_abs() as u64;
        } else if deficit > 0 {
            let lost = deficit as u64;
            let kind = if lost == 1 { LossKind::Collision } else { LossKind::Rollback };
            match kind {
                LossKind::Collision => report.collisions += 1,
                LossKind::Rollback => {
                    report.rollbacks += 1;
                    report.rolled_back += lost;
                }
            }
            if let Some(before) = before
                && report.losses.len() < LOSSES_KEPT
            {
                report.losses.push(Loss { kind, before, late: *step, lost });
                losses_at.push(index);
            }
        }
        *value = step.wrote;
        writers.insert((word, step.wrote), *step);
    }
    report.attributed = (report.collisions + report.rolled_back) as i64 - report.restored as i64;
    report.agrees = match counted.lost {
        Some(lost) if not_kept == 0 => Some(report.attributed == lost as i64),
        _ => None,
    };
    report.steps = around(&steps, &losses_at);
    report
}

/// The steps around the first [`LOSSES_DRAWN`] losses (at `losses_at`), each once, in order.
fn around(steps: &[Step], losses_at: &[usize]) -> Vec<Step> {
    let mut chosen: Vec<usize> = losses_at
        .iter()
        .take(LOSSES_DRAWN)
        .flat_map(|&at| at.saturating_sub(STEPS_AROUND)..(at + STEPS_AROUND + 1).min(steps.len()))
        .collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen.into_iter().map(|index| steps[index]).collect()
}

impl TraceReport {
    /// The report's lines: what was kept, what the trace attributes and whether it agrees with the count, and
    /// the first collision narrated (worker, value read, time, write), times from the first step's read.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.summary()];
        let first_collision = self.losses.iter().find(|loss| loss.kind == LossKind::Collision);
        if let Some(first) = first_collision.or(self.losses.first()) {
            let origin = self.steps.iter().map(|step| step.read_ns).min().unwrap_or(first.before.read_ns);
            lines.extend(narrate(first, origin));
        }
        lines
    }

    fn summary(&self) -> String {
        let kept = if self.not_kept == 0 {
            format!("{} steps kept", self.kept)
        } else {
            format!("{} steps kept, {} past --trace-limit not kept", self.kept, self.not_kept)
        };
        let mut parts = vec![format!("{} lost to collisions", self.collisions)];
        if self.rollbacks > 0 {
            parts.push(format!(
                "{} to {}",
                self.rolled_back,
                crate::units::count(self.rollbacks, "rollback", "rollbacks")
            ));
        }
        if self.restored > 0 {
            parts.push(format!("{} given back by late writes", self.restored));
        }
        if let Some(prevented) = self.prevented {
            parts.push(format!("{prevented} collisions the server prevented (refused, made again)"));
        }
        let agreement = match self.agrees {
            Some(true) if self.attributed == 0 => "; none lost, as the final value says".to_owned(),
            Some(true) => "; that is every lost update counted from the final value".to_owned(),
            Some(false) => "; not the count from the final value: the clock read after a write put two writes in \
                            another order than the counter's"
                .to_owned(),
            None if self.not_kept > 0 => "; not every step was kept, so this is a part".to_owned(),
            None => String::new(),
        };
        format!("{kept}: {}{agreement}", parts.join(", "))
    }
}

/// A loss in four lines: the two reads and the two writes, in the order they happened.
fn narrate(loss: &Loss, origin: u64) -> Vec<String> {
    let ms = |ns: u64| format!("{:>10.3} ms", ns.saturating_sub(origin) as f64 / 1e6);
    let (a, b) = (loss.before, loss.late);
    let mut events = vec![
        (a.read_ns, format!("worker {} read {}", a.worker, a.read())),
        (b.read_ns, format!("worker {} read {}", b.worker, b.read())),
        (a.wrote_ns, format!("worker {} wrote {}", a.worker, a.wrote)),
        (
            b.wrote_ns,
            match loss.kind {
                LossKind::Collision => format!(
                    "worker {} wrote {} over worker {}'s {}: one increment lost",
                    b.worker, b.wrote, a.worker, a.wrote
                ),
                LossKind::Rollback => {
                    format!("worker {} wrote {} over {}: {} increments lost", b.worker, b.wrote, a.wrote, loss.lost)
                }
            },
        ),
    ];
    events.sort_by_key(|(at, _)| *at);
    let title = match loss.kind {
        LossKind::Collision => "first collision",
        LossKind::Rollback => "first loss, a rollback",
    };
    events
        .into_iter()
        .enumerate()
        .map(|(i, (at, what))| format!("{:<22} {}  {what}", if i == 0 { title } else { "" }, ms(at)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(worker: u32, wrote: u64, read_ns: u64, wrote_ns: u64) -> Step {
        Step { worker, wrote, overwrote: None, read_ns, wrote_ns }
    }

    fn logs(steps: &[Step]) -> Vec<StepLog> {
        let mut logs: Vec<StepLog> = (0..4).map(|worker| StepLog::new(worker, 100, 100)).collect();
        for step in steps {
            logs[step.worker as usize].steps.push(*step);
        }
        logs
    }

    #[test]
    fn in_order_increments_lose_nothing() {
        let steps: Vec<Step> = (1..=6).map(|n| step((n % 2) as u32, n, n * 10, n * 10 + 5)).collect();
        let report = attribute(logs(&steps), Counted { own_words: false, lost: Some(0) });
        assert_eq!((report.collisions, report.rollbacks, report.attributed, report.agrees), (0, 0, 0, Some(true)));
        assert!(report.losses.is_empty() && report.steps.is_empty());
    }

    #[test]
    fn two_reads_of_one_value_are_a_collision_and_the_later_write_stands() {
        // 0 and 1 both read 0 and write 1; then 0 reads 1 and writes 2. Three increments, final 2: one lost.
        let steps = [step(0, 1, 10, 30), step(1, 1, 20, 40), step(0, 2, 50, 60)];
        let report = attribute(logs(&steps), Counted { own_words: false, lost: Some(1) });
        assert_eq!((report.collisions, report.attributed, report.agrees), (1, 1, Some(true)));
        let loss = report.losses[0];
        assert_eq!((loss.kind, loss.before.worker, loss.late.worker, loss.lost), (LossKind::Collision, 0, 1, 1));
        let lines = report.lines();
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(lines[1].contains("first collision") && lines[1].contains("worker 0 read 0"), "{lines:#?}");
        assert!(lines[4].contains("worker 1 wrote 1 over worker 0's 1"), "{lines:#?}");
    }

    #[test]
    fn a_late_write_below_the_value_is_a_rollback_of_what_came_between() {
        // Worker 3 reads 0 and pauses; the others bring the counter to 4; worker 3 writes 1: four lost (its own,
        // and the three increments it undid), and the next increments go on from 1.
        let steps = [
            step(3, 1, 1, 100),
            step(0, 1, 10, 11),
            step(1, 2, 20, 21),
            step(2, 3, 30, 31),
            step(0, 4, 40, 41),
            step(1, 2, 110, 111),
        ];
        let report = attribute(logs(&steps), Counted { own_words: false, lost: Some(4) });
        assert_eq!((report.rollbacks, report.rolled_back, report.collisions), (1, 4, 0));
        assert_eq!((report.attributed, report.agrees), (4, Some(true)));
        assert_eq!(report.losses[0].kind, LossKind::Rollback);
    }

    #[test]
    fn a_write_computed_before_a_rollback_gives_increments_back() {
        // 0 writes 1, 2; 1 read 2 and writes 3 late, after 2 rolled back to 1: then 3 is above 1 + 1.
        let steps = [step(0, 1, 1, 2), step(0, 2, 3, 4), step(2, 1, 0, 5), step(1, 3, 4, 6)];
        let report = attribute(logs(&steps), Counted { own_words: false, lost: Some(1) });
        assert_eq!((report.rolled_back, report.restored, report.attributed, report.agrees), (2, 1, 1, Some(true)));
    }

    #[test]
    fn own_words_never_collide_and_a_kept_limit_is_counted() {
        let steps = [step(0, 1, 1, 2), step(1, 1, 1, 2), step(0, 2, 3, 4), step(1, 2, 3, 4)];
        let report = attribute(logs(&steps), Counted { own_words: true, lost: Some(0) });
        assert_eq!((report.collisions, report.agrees), (0, Some(true)));
        let mut log = StepLog::new(0, 2, 10);
        (1..=5).for_each(|n| log.record(n, None, n, n));
        assert_eq!((log.steps.len(), log.not_kept), (2, 3));
        let report = attribute(vec![log], Counted { own_words: false, lost: Some(0) });
        assert_eq!((report.kept, report.not_kept, report.agrees), (2, 3, None));
        assert!(report.lines()[0].contains("3 past --trace-limit not kept"), "{:?}", report.lines());
    }

    #[test]
    fn the_clock_is_monotonic_and_shared() {
        let (a, b) = (now_ns(), now_ns());
        assert!(a > 0 && b >= a);
    }
}
