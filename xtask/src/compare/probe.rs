//! Memory and start time per extra worker, measured where it stands above the noise: each model held with 1 worker and with
//! many (1000 threads or processes, 100 000 tasks, whose few hundred bytes would otherwise vanish in page
//! granularity), the two sizes alternated (three pairs by default) so that drift hits both alike. Each pair
//! gives one figure per worker; the probe keeps their median and range.

use std::path::Path;

use counter_core::{
    model::{Model, StartMethod},
    proc::memory::MemorySnapshot,
};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::{
    models::{self, ServerArgs},
    runner::{Program, TaskInterrupted, run_once_beside},
    stats::Stats,
};

/// What one more worker of a model costs, in bytes, from pairs of runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    /// The model.
    pub model: Model,
    /// How the processes were started, when compare ran more than the default (`--starts`).
    pub start_method: Option<StartMethod>,
    /// Workers in the larger run of each pair.
    pub workers: u64,
    /// PSS per extra worker, bytes (median, min … max over the pairs).
    pub pss_bytes: Stats,
    /// USS per extra worker, bytes.
    pub uss_bytes: Stats,
    /// Summed RSS per extra worker, bytes: for processes it counts every page a worker shares (the program,
    /// libc, the copy-on-write pages of the coordinator) once per process.
    pub rss_bytes: Stats,
    /// Time to bring one more worker alive, seconds: the growth of the run's start time (from the first spawn
    /// to every worker alive) per extra worker.
    pub start_s: Stats,
    /// Why the model could not be probed, if it could not.
    pub error: Option<String>,
    /// Whether a server the runs used (one started for them) was sampled with them: its share is then in the
    /// figures. False for a model without a server, and for a server of the user's.
    #[serde(default)]
    pub server_sampled: bool,
}

impl Probe {
    /// Whether `figure` is too small for the runs to tell it from zero: its range crosses zero, or is wider
    /// than the figure itself.
    pub fn below_resolution(figure: &Stats) -> bool {
        figure.min <= 0.0 || figure.max - figure.min > figure.median.abs()
    }
}

impl Probe {
    /// What one worker is, in words, with its start method if it has one: `process (spawn)`.
    pub fn worker_noun(&self) -> String {
        let noun = self.model.worker_noun();
        // A noun several models share (a client of one server, of another) says whose.
        let shared = Model::ALL.iter().filter(|model| model.worker_noun() == noun).count() > 1;
        match (self.start_method, shared) {
            (Some(start), _) => format!("{noun} ({})", start.name()),
            (None, true) => format!("{} {noun}", self.model.name()),
            (None, false) => noun.to_owned(),
        }
    }
}

/// How many probes `probe_all` makes: one per model, and one per start method for a model that has them.
pub fn count(models: &[Model], starts: &[StartMethod]) -> u64 {
    models.iter().map(|&model| models::of(model).variants(starts).len() as u64).sum()
}

/// Probes every model (processes once per start method in `starts`, if any); a model that cannot be probed (a
/// limit) says why, an interruption ends the probe. A model whose runs use a server started for them (its
/// process in `shared`) has that server's process tree sampled with each run's; with a server of the user's
/// (`--server`), its memory is outside the figures.
pub(super) fn probe_all(
    models: &[Model],
    starts: &[StartMethod],
    (servers, shared): (&ServerArgs, &[(Model, i32)]),
    bin_dir: &Path,
    (pairs, rounds): (u64, &super::measure::Rounds),
    progress: &ProgressBar,
) -> anyhow::Result<Vec<Probe>> {
    let mut probes = Vec::new();
    for &model in models.iter().filter(|_| pairs > 0) {
        let description = models::of(model);
        let binary = Program::binary(bin_dir, model.binary());
        for (start, mut flags) in description.variants(starts) {
            let label = start.map_or(String::new(), |start| format!(" ({})", start.name()));
            progress.set_message(format!(
                "{}memory of one more {}{label}",
                super::measure::time_left(rounds),
                model.worker_noun()
            ));
            flags.extend(servers.flags(description.model));
            let server = shared.iter().find(|(of, _)| *of == model).map(|&(_, pid)| pid);
            probes.push(probe(model, start, (&flags, server), &binary, pairs, progress)?);
        }
    }
    Ok(probes)
}

fn probe(
    model: Model,
    start_method: Option<StartMethod>,
    (extra, server): (&[String], Option<i32>),
    binary: &Program,
    pairs: u64,
    progress: &ProgressBar,
) -> anyhow::Result<Probe> {
    let many = models::of(model).probe_workers;
    let flags = |workers: u64| {
        let mut flags: Vec<String> =
            ["--workers", &workers.to_string(), "--increments", "1", "--work", "none", "--sync", "atomic"]
                .map(str::to_owned)
                .into();
        flags.extend(extra.iter().cloned());
        flags
    };
    let mut per_worker: Vec<[f64; 4]> = Vec::new();
    let mut error = None;
    // A server shared by the runs keeps some of what its last clients held (a thread's memory, its caches): one
    // unmeasured run of the larger size first, so that every pair finds the server as the others do.
    if server.is_some()
        && let Err(failure) = run_once_beside(binary, &flags(many), server)
    {
        if failure.is::<TaskInterrupted>() {
            return Err(failure);
        }
        error = Some(format!("{failure:#}"));
    }
    for _ in 0..pairs {
        if error.is_some() {
            break;
        }
        let pair = run_once_beside(binary, &flags(1), server)
            .and_then(|one| Ok((one, run_once_beside(binary, &flags(many), server)?)));
        progress.inc(2);
        match pair {
            Ok((one, large)) => {
                let per = |figure: fn(&MemorySnapshot) -> u64| {
                    (figure(&large.external) as f64 - figure(&one.external) as f64) * 1024.0 / (many - 1) as f64
                };
                let start = (large.report.start_time_s - one.report.start_time_s) / (many - 1) as f64;
                per_worker.push([per(|m| m.pss_kib), per(|m| m.uss_kib), per(|m| m.rss_kib), start]);
            }
            Err(failure) if failure.is::<TaskInterrupted>() => return Err(failure),
            Err(failure) => {
                error = Some(format!("{failure:#}"));
                break;
            }
        }
    }
    let stats = |index: usize| Stats::of(&per_worker.iter().map(|figures| figures[index]).collect::<Vec<_>>());
    Ok(Probe {
        model,
        start_method,
        workers: many,
        pss_bytes: stats(0),
        uss_bytes: stats(1),
        rss_bytes: stats(2),
        start_s: stats(3),
        error,
        server_sampled: server.is_some(),
    })
}
