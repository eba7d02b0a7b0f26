//! The versions of the files the tasks write, in one place that the writers and the page that reads them both
//! look up (the page sits below the tasks that draw it, so it cannot ask them).

/// `results.json` of `cargo xtask compare`, and its JSON export. Bumped when a field changes meaning, appears or
/// disappears. 2: numbers only, units in the names, scenarios with their load, memory per worker from the probe
/// at scale. 3: rows' `unavailable` and `retries_median`, the probe's `start_method` and `start_s`, the
/// `sentences` printed under the tables. 4: a row's `label` (its name in the tables, `processes pool 2`) is no
/// longer called `model`, which now holds the model the row runs (`processes`; it was `kind`). 5: a row's
/// `refused_median`, the transactions a server refused as conflicting. 6: a row's `gil_enabled`, and Python
/// rows labelled with their interpreter (`python3.13t threading`). 8: `seen`, the traced run whose
/// interleaving the page draws.
pub const COMPARE: u32 = 8;

/// `cargo xtask calibrate`'s results. 2: the loops under `loops`, with each figure's range over the rounds, and
/// `sleeping`.
pub const CALIBRATE: u32 = 2;

/// `cargo xtask faults`'s results. 1: a row per run of a fault on a strategy, with its outcomes and timeline.
/// 2: rows of every store (`store`, `tables_left`), and `servers` for `server`. 3: `left_behind`, what a run left
/// in the store's own words and whether it waits for a participant, for `keys_without_ttl` and `tables_left`.
pub const FAULTS: u32 = 3;
