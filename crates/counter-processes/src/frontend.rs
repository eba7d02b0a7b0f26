//! The model this crate runs, and how its binary presents itself.

use counter_core::{
    cli::{Frontend, WORK_HELP},
    config::Abilities,
    model::Model,
    render::ModelWords,
};

/// The model this crate runs.
pub const MODEL: Model = Model::Processes;

/// How this crate's binary presents itself: what it can run, its help, its words.
pub const FRONTEND: Frontend = Frontend {
    model: MODEL,
    abilities: Abilities {
        binary: MODEL.binary(),
        blocking_work: false,
        no_pool: None,
        no_fencing: Some(counter_core::config::IN_MEMORY_LOCK),
    },
    work_help: WORK_HELP,
    words: ModelWords::GENERIC,
};

// What the frontend says it can run agrees with its model's facts, or the crate does not build.
const _: () = assert!(FRONTEND.agrees_with_its_model());
