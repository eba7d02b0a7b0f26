//! What gets rows: each model asked for (once per start method when asked, on a pool when asked, with the rows
//! its description adds), and the Python reference programs, each with the strategies it has.

use std::path::Path;

use counter_core::{
    config::Strategy,
    model::{Model, StartMethod},
};

use crate::{
    models::{self, ServerArgs},
    python::{self, interpreter::Interpreter},
    runner::Program,
};

/// What the user asked to compare.
#[derive(Debug)]
pub(super) struct Asked<'a> {
    pub(super) models: &'a [Model],
    pub(super) syncs: &'a [Strategy],
    pub(super) starts: &'a [StartMethod],
    pub(super) pool: Option<u64>,
    pub(super) servers: &'a ServerArgs,
    /// The interpreters the Python programs run on (none without --with-python).
    pub(super) pythons: &'a [Interpreter],
}

/// Something that gets rows: a frontend, a frontend on a pool, or a Python reference program.
pub(super) struct Target {
    pub(super) label: String,
    pub(super) model: Model,
    pub(super) program: Program,
    pub(super) syncs: Vec<Strategy>,
    pub(super) extra_flags: Vec<String>,
    pub(super) python: bool,
}

pub(super) fn targets(asked: &Asked<'_>, bin_dir: &Path) -> Vec<Target> {
    let mut targets = Vec::new();
    for &model in asked.models {
        let description = models::of(model);
        let program = Program::binary(bin_dir, model.binary());
        // A lock that cannot expire needs no fencing: such a model's binary refuses `fenced`, so it gets no row.
        let syncs: Vec<Strategy> = asked
            .syncs
            .iter()
            .copied()
            .filter(|sync| *sync != Strategy::Fenced || description.model.lock_expires())
            .collect();
        let plain = |label: String, mut extra_flags: Vec<String>| {
            extra_flags.extend(asked.servers.flags(description.model));
            Target { label, model, program: program.clone(), syncs: syncs.clone(), extra_flags, python: false }
        };
        for (start, flags) in description.variants(asked.starts) {
            let label =
                start.map_or_else(|| model.name().to_owned(), |start| format!("{} {}", model.name(), start.name()));
            targets.push(plain(label, flags));
        }
        for extra in description.extra_rows {
            let syncs: Vec<Strategy> = syncs.iter().copied().filter(|sync| extra.syncs.contains(sync)).collect();
            if !syncs.is_empty() {
                let flags = extra.flags.iter().map(|&flag| flag.to_owned()).collect();
                targets.push(Target { syncs, ..plain(format!("{} {}", model.name(), extra.label), flags) });
            }
        }
        if let Some(size) = asked.pool.filter(|_| description.model.pools()) {
            targets.push(plain(format!("{} pool {size}", model.name()), vec!["--pool".into(), size.to_string()]));
        }
    }
    for interpreter in asked.pythons {
        for reference in python::PROGRAMS.iter().filter(|p| asked.models.contains(&p.model)) {
            let target = |label: String, extra_flags: Vec<String>| Target {
                label,
                model: reference.model,
                program: reference.program(interpreter),
                syncs: asked.syncs.iter().copied().filter(|sync| python::has_row(*sync)).collect(),
                extra_flags,
                python: true,
            };
            for (label, flags) in reference.variants(interpreter, asked.starts) {
                targets.push(target(label, flags));
            }
        }
    }
    targets
}
