//! Measuring: every scenario in turn, and within one the rows' runs interleaved, round after round, each row
//! run until it has its `--repeats` and, while its budget lasts, an interval as narrow as the target.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{
    plan::Target,
    results::{Row, RowKey, ScenarioRun},
    scenario::Scenario,
};
use crate::{
    output::{self, RunDir},
    python,
    runner::{Program, Sample, TaskInterrupted, run_once},
    stats::Stats,
};
use counter_core::proc::load::MachineLoad;
use std::io::IsTerminal;

/// The most runs a row gets to narrow its interval, beyond `--repeats`.
const MAX_ADAPTIVE_RUNS: usize = 30;
/// The interval a row aims for: its half-width as a fraction of the median.
const TARGET_HALF_WIDTH: f64 = 0.05;
/// How long the machine is watched, idle, before each scenario to see what else keeps it busy.
pub(super) const BUSY_SAMPLE: Duration = Duration::from_millis(250);

/// How many runs a row gets: at least `repeats` measured ones (after `warmup` unmeasured ones of its program),
/// and more while its interval is wide, its `row_budget` lasts, and the comparison's `deadline` is not near.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rounds {
    pub(super) repeats: u64,
    pub(super) warmup: u64,
    pub(super) row_budget: Duration,
    /// When the comparison's time budget runs out: no run beyond `repeats` starts unless it can end before.
    pub(super) deadline: Instant,
}

impl Rounds {
    /// The most runs one row may take: its warm-up, and its measured runs up to the adaptive limit.
    pub(super) fn most_per_row(&self) -> u64 {
        let measured =
            if self.row_budget.is_zero() { self.repeats } else { self.repeats.max(MAX_ADAPTIVE_RUNS as u64) };
        self.warmup + measured
    }

    /// What is left of the budget, none once it is spent.
    pub(super) fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// One row being measured.
struct Cell<'a> {
    key: RowKey,
    program: &'a Program,
    flags: Vec<String>,
    samples: Vec<Sample>,
    error: Option<String>,
    /// Why the program has no such strategy: the row is not run.
    unavailable: Option<&'static str>,
    spent: Duration,
}

impl Cell<'_> {
    /// Whether the row wants another run: fewer than `--repeats`, or an interval still wider than the target
    /// while its budget lasts.
    fn wants_more(&self, rounds: &Rounds) -> bool {
        if self.error.is_some() || self.unavailable.is_some() {
            return false;
        }
        let runs = self.samples.len();
        if (runs as u64) < rounds.repeats {
            return true;
        }
        let wall = Stats::of(&self.samples.iter().map(|s| s.report.wall_time_s).collect::<Vec<_>>());
        runs < MAX_ADAPTIVE_RUNS
            && self.spent < rounds.row_budget
            && wall.relative_half_width() > TARGET_HALF_WIDTH
            && self.one_run() < rounds.left()
    }

    /// What one run of this row took, on average so far.
    fn one_run(&self) -> Duration {
        self.spent / u32::try_from(self.samples.len().max(1)).unwrap_or(u32::MAX)
    }

    /// One run; a failure makes the row a failed row, an interruption ends the comparison.
    fn run(&mut self, measured: bool, run_dir: &RunDir) -> anyhow::Result<()> {
        let started = Instant::now();
        match run_once(self.program, &self.flags) {
            Ok(sample) if measured => {
                self.spent += started.elapsed();
                let file = run_dir.path().join(&self.key.scenario).join(format!(
                    "{}-{}-{}.json",
                    self.key.label.replace(' ', "-"),
                    self.key.sync.name(),
                    self.samples.len() + 1
                ));
                output::write(&file, &sample.raw_json)?;
                self.samples.push(sample);
            }
            Ok(_) => {}
            Err(error) if error.is::<TaskInterrupted>() => return Err(error),
            Err(error) => self.error = Some(counter_core::secrets::redact(&format!("{error:#}"))),
        }
        Ok(())
    }

    fn into_row(self) -> Row {
        match (self.error, self.unavailable) {
            (Some(error), _) => Row::failed(self.key, error),
            (None, Some(why)) => Row::unavailable(self.key, why),
            (None, None) => Row::measured(self.key, &self.samples),
        }
    }
}

/// One scenario's rows being measured.
pub(super) struct Measuring<'a> {
    run: ScenarioRun,
    cells: Vec<Cell<'a>>,
}

/// Every scenario in turn, each row to its `--repeats` (the plan's least), its rows' runs interleaved round
/// after round; what each scenario's rows are, for [`narrow`] and then [`finish`].
pub(super) fn measure_all<'a>(
    rounds: &Rounds,
    scenarios: &[Scenario],
    targets: &'a [Target],
    run_dir: &RunDir,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<Measuring<'a>>> {
    let mut measuring = Vec::new();
    for scenario in scenarios {
        let busy_cpus_before = MachineLoad::busy_cpus_over(BUSY_SAMPLE).ok();
        let load_before = MachineLoad::now().ok();
        let (mut cells, firsts) = cells_of(scenario, targets);
        warm_up(rounds, scenario, &mut cells, &firsts, run_dir, progress)?;
        let mut round = 0;
        loop {
            let wanting: Vec<usize> = (0..cells.len())
                .filter(|&i| cells[i].wants_more(&Rounds { row_budget: Duration::ZERO, ..*rounds }))
                .collect();
            if wanting.is_empty() {
                break;
            }
            round += 1;
            progress.set_message(format!("{}{} round {round}", time_left(rounds), scenario.name));
            for index in wanting {
                cells[index].run(true, run_dir)?;
                progress.inc(1);
            }
        }
        let steal_percent =
            load_before.and_then(|before| MachineLoad::now().ok().map(|after| after.steal_percent_since(&before)));
        let run = ScenarioRun {
            name: scenario.name.to_owned(),
            about: scenario.about.to_owned(),
            flags: scenario.flags.join(" "),
            load_before,
            busy_cpus_before,
            steal_percent,
        };
        measuring.push(Measuring { run, cells });
    }
    Ok(measuring)
}

/// With what is left of the budget: more runs of the rows whose interval is wider than the target, every
/// scenario's, interleaved round after round, each started only if it can end before the deadline.
pub(super) fn narrow(
    rounds: &Rounds,
    measuring: &mut [Measuring<'_>],
    run_dir: &RunDir,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let mut round = 0;
    loop {
        let wanting: Vec<(usize, usize)> = measuring
            .iter()
            .enumerate()
            .flat_map(|(s, scenario)| {
                scenario.cells.iter().enumerate().filter(|(_, cell)| cell.wants_more(rounds)).map(move |(c, _)| (s, c))
            })
            .collect();
        if wanting.is_empty() {
            return Ok(());
        }
        round += 1;
        progress.set_message(format!("{}narrowing intervals, round {round}", time_left(rounds)));
        for (s, c) in wanting {
            let cell = &mut measuring[s].cells[c];
            if cell.one_run() < rounds.left() {
                cell.run(true, run_dir)?;
                progress.inc(1);
            }
        }
    }
}

/// Every scenario's rows, measured or not.
pub(super) fn finish(measuring: Vec<Measuring<'_>>, rows: &mut Vec<Row>, scenario_runs: &mut Vec<ScenarioRun>) {
    for Measuring { run, cells } in measuring {
        scenario_runs.push(run);
        rows.extend(cells.into_iter().map(Cell::into_row));
    }
}

/// `12 s left · `, the start of the progress line's message, which a narrow terminal cuts at its end.
pub(super) fn time_left(rounds: &Rounds) -> String {
    format!("{:.0} s left · ", rounds.left().as_secs_f64())
}

/// A scenario's rows, and where each target's first row is (the one its warm-up runs take).
fn cells_of<'a>(scenario: &Scenario, targets: &'a [Target]) -> (Vec<Cell<'a>>, Vec<usize>) {
    let mut cells = Vec::new();
    let mut firsts = Vec::new();
    for target in targets.iter().filter(|target| !(target.python && scenario.ours_only)) {
        let workload = scenario.flags_for(target.model);
        let mut flags = workload.clone();
        flags.extend(target.extra_flags.iter().cloned());
        if target.python {
            flags = python::flags(&flags);
        }
        firsts.push(cells.len());
        for &strategy in &target.syncs {
            let mut row_flags = flags.clone();
            row_flags.extend(["--sync".to_owned(), strategy.name().to_owned()]);
            let key = RowKey {
                scenario: scenario.name.to_owned(),
                label: target.label.clone(),
                model: target.model,
                python: target.python,
                sync: strategy,
                flags: crate::models::conceal_servers(&flags).join(" "),
                workload: workload.join(" "),
                workers: scenario.workers,
            };
            let unavailable = target.python.then(|| python::unavailable(strategy)).flatten();
            cells.push(Cell {
                key,
                program: &target.program,
                flags: row_flags,
                samples: Vec::new(),
                error: None,
                unavailable,
                spent: Duration::ZERO,
            });
        }
    }
    (cells, firsts)
}

/// A warm-up loads a program and its libraries, and warms its server: one row of each program does it for all
/// its rows (a warm-up of every row cost a tenth of the default comparison).
fn warm_up(
    rounds: &Rounds,
    scenario: &Scenario,
    cells: &mut [Cell<'_>],
    firsts: &[usize],
    run_dir: &RunDir,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    for round in 0..rounds.warmup {
        progress.set_message(format!("{}{} warm-up {}", time_left(rounds), scenario.name, round + 1));
        for &first in firsts {
            let Some(label) = cells.get(first).map(|cell| cell.key.label.clone()) else { continue };
            let Some(cell) = cells[first..]
                .iter_mut()
                .take_while(|cell| cell.key.label == label)
                .find(|cell| cell.error.is_none() && cell.unavailable.is_none())
            else {
                continue;
            };
            cell.run(false, run_dir)?;
            progress.inc(1);
        }
    }
    Ok(())
}

pub(super) fn progress_bar(total: u64) -> ProgressBar {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    // `wide_msg` takes what is left of the terminal's width and no more, so the line never wraps.
    // The total is the most runs the rows may take, fixed at the start: the bar never moves back, and a row that
    // narrows its interval early makes the end come sooner than the bar says.
    if let Ok(style) = ProgressStyle::with_template("{bar:16} {pos} of at most {len} runs · {wide_msg}") {
        bar.set_style(style);
    }
    bar
}
