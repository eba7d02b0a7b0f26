//! Unit tests of what compare says: the sentences, the table's cells, and the self-report check, on rows made
//! from known samples.

use std::time::Duration;

use counter_core::{
    config::{Request, Strategy, Work},
    cpu::CpuUsage,
    model::Model,
    proc::memory::MemorySnapshot,
    report::{Measurements, RunReport, WorkerReport},
};

use super::{
    probe::Probe,
    results::{Row, RowKey, ScenarioRun},
    summary, table,
};
use crate::{runner::Sample, stats::Stats};

fn memory(rss_kib: u64) -> MemorySnapshot {
    MemorySnapshot {
        taken: "test".to_owned(),
        processes: 1,
        threads: 6,
        rss_kib,
        pss_kib: rss_kib * 2 / 3,
        uss_kib: rss_kib / 2,
        swap_kib: 0,
        per_process: Vec::new(),
    }
}

/// A run of 5 workers x 200 increments after 1 ms of sleep that ended with `final_value`, in `wall_s`.
fn sample(model: Model, strategy: Strategy, final_value: u64, wall_s: f64) -> Sample {
    let config =
        Request { increments: 200, work: Work::Sleep(Duration::from_millis(1)), strategy, ..Request::default() }
            .validate()
            .unwrap();
    let workers = (0..5).map(|id| WorkerReport {
        id,
        os_id: None,
        increments_done: 200,
        elapsed_s: wall_s,
        exit_status: None,
        cpu: None,
        max_rss_kib: None,
    });
    let measured = Measurements {
        final_value,
        wall_time: Duration::from_secs_f64(wall_s),
        memory: memory(3000),
        workers: workers.collect(),
        ..Measurements::default()
    };
    let report = RunReport::new(model, &config, measured);
    Sample {
        external: report.memory.clone(),
        report,
        kernel_added_kib: 0,
        cpu: CpuUsage::default(),
        raw_json: String::new(),
    }
}

fn row(model: Model, strategy: Strategy, samples: &[Sample]) -> Row {
    let key = RowKey {
        scenario: "io-like".to_owned(),
        label: model.name().to_owned(),
        model,
        python: false,
        sync: strategy,
        flags: "--workers 5 --increments 200 --work sleep:1ms".to_owned(),
        workload: "--workers 5 --increments 200 --work sleep:1ms".to_owned(),
        workers: 5,
    };
    Row::measured(key, samples)
}

/// A sample of `n` runs whose wall times are spread evenly around `median_s` by ±`spread`.
fn runs(model: Model, strategy: Strategy, lost: &[u64], median_s: f64, spread: f64) -> Vec<Sample> {
    let n = lost.len();
    lost.iter()
        .enumerate()
        .map(|(i, lost)| {
            let offset = if n > 1 { (i as f64 / (n - 1) as f64 - 0.5) * 2.0 * spread } else { 0.0 };
            sample(model, strategy, 1000 - lost, median_s * (1.0 + offset))
        })
        .collect()
}

fn scenario() -> ScenarioRun {
    ScenarioRun {
        name: "io-like".to_owned(),
        about: "test".to_owned(),
        flags: String::new(),
        load_before: None,
        busy_cpus_before: None,
        steal_percent: None,
    }
}

fn rows() -> Vec<Row> {
    vec![
        row(Model::Threads, Strategy::Racy, &runs(Model::Threads, Strategy::Racy, &[2, 0, 1, 3, 0, 2], 0.21, 0.01)),
        row(Model::Threads, Strategy::Atomic, &runs(Model::Threads, Strategy::Atomic, &[0; 6], 0.215, 0.01)),
        row(Model::Async, Strategy::Racy, &runs(Model::Async, Strategy::Racy, &[0; 6], 0.5, 0.02)),
    ]
}

fn probe(model: Model, pss: [f64; 3], uss: [f64; 3], rss: [f64; 3]) -> Probe {
    Probe {
        model,
        start_method: None,
        workers: if model == Model::Async { 100_000 } else { 1000 },
        pss_bytes: Stats::of(&pss),
        uss_bytes: Stats::of(&uss),
        rss_bytes: Stats::of(&rss),
        start_s: Stats::of(&match model {
            Model::Threads => [49e-6, 51e-6, 50e-6],
            Model::Processes => [130e-6; 3],
            Model::Async => [0.6e-6, 0.7e-6, 0.65e-6],
            // Clients of a server, and any model added later.
            _ => [40e-6; 3],
        }),
        error: None,
        server_sampled: crate::models::of(model).server.is_some(),
    }
}

#[test]
fn the_sentences_under_the_table() {
    let probes = [
        probe(Model::Threads, [9930.0, 9950.0, 9940.0], [9900.0, 9910.0, 9905.0], [9950.0; 3]),
        probe(Model::Processes, [36_400.0, 36_500.0, 36_450.0], [31_300.0; 3], [760_000.0, 761_000.0, 762_000.0]),
        probe(Model::Async, [-10.0, 900.0, 850.0], [840.0, 860.0, 850.0], [850.0; 3]),
    ];
    insta::assert_snapshot!(summary::sentences(&[scenario()], &rows(), &probes).join("\n"));
}

#[test]
fn rows_whose_intervals_overlap_are_called_indistinguishable() {
    let rows = vec![
        row(Model::Threads, Strategy::Atomic, &runs(Model::Threads, Strategy::Atomic, &[0; 6], 0.200, 0.02)),
        row(Model::Threads, Strategy::Mutex, &runs(Model::Threads, Strategy::Mutex, &[0; 6], 0.205, 0.02)),
    ];
    let sentences = summary::sentences(&[scenario()], &rows, &[]).join("\n");
    assert!(sentences.contains("every row is indistinguishable in wall time"), "{sentences}");
    assert!(!sentences.contains("fastest"), "{sentences}");
}

#[test]
fn rows_apart_get_a_ratio_with_its_range() {
    let sentences = summary::sentences(&[scenario()], &rows(), &[]).join("\n");
    assert!(sentences.contains("slowest async racy"), "{sentences}");
    assert!(sentences.contains("2.4x (2.3x … 2.5x) as long"), "{sentences}");
}

#[test]
fn a_loss_says_in_how_many_runs() {
    let sentences = summary::sentences(&[scenario()], &rows(), &[]).join("\n");
    assert!(sentences.contains("racy on threads lost updates in 4 of 6 runs"), "{sentences}");
    assert!(sentences.contains("racy on async lost no update in 6 runs: on one thread"), "{sentences}");
}

#[test]
fn a_memory_cost_whose_range_crosses_zero_is_never_printed_negative() {
    let probes = [probe(Model::Async, [-300.0, 200.0, 500.0], [-10.0, 5.0, 20.0], [0.0; 3])];
    let sentences = summary::sentences(&[], &[], &probes).join("\n");
    assert!(sentences.contains("PSS below resolution (±400 B)"), "{sentences}");
    assert!(!sentences.contains('-'), "no negative figure: {sentences}");
}

#[test]
fn the_table_fits_its_width_one_line_per_row_and_says_what_it_left_out() {
    let mut rows = rows();
    let mut failed = rows[0].clone();
    failed.error = Some("x".repeat(300));
    rows.push(failed);
    let rows: Vec<&Row> = rows.iter().collect();
    for (wide, width) in [(false, 80), (true, 80), (false, 60), (true, 200)] {
        let text = table::render(&rows, wide, width);
        assert!(text.lines().all(|line| line.chars().count() <= width), "{width}:\n{text}");
        // A header, its rule, and one line per row; then, if any, the line naming what was left out.
        let table_lines = text.lines().take_while(|line| !line.starts_with("(left out")).count();
        assert_eq!(table_lines, 2 + rows.len(), "one line per row at {width}:\n{text}");
    }
    let narrow = table::render(&rows, true, 80);
    assert!(narrow.contains("(left out to fit 80 columns:"), "{narrow}");
    assert!(!table::render(&rows, true, 200).contains("left out"));
}

#[test]
fn prose_wraps_at_words_with_a_hanging_indent() {
    let sentence = format!("- {}", "word ".repeat(40));
    let wrapped = crate::output::wrap(sentence.trim_end(), 30);
    assert!(wrapped.lines().all(|line| line.chars().count() <= 30), "{wrapped}");
    assert!(wrapped.lines().skip(1).all(|line| line.starts_with("  word")), "{wrapped}");
    assert_eq!(wrapped.split_whitespace().filter(|word| *word == "word").count(), 40, "no word lost");
}

#[test]
fn the_exports_hold_numbers() {
    let rows = rows();
    let csv = super::json::to_csv(&rows).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(header.contains(&"wall_median_s") && header.contains(&"pss_bytes"), "{header:?}");
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "{line}");
        for (name, value) in header.iter().zip(&fields) {
            // Retries exist only for the optimistic strategy: empty elsewhere, a number where they exist.
            let only_some = [
                "retries_median",
                "round_trips_per_increment_median",
                "latency_median_us",
                "latency_p99_us",
                "refused_median",
            ];
            let not_applicable = only_some.contains(name) && value.is_empty();
            if (name.ends_with("_s") || name.ends_with("_bytes") || name.ends_with("_median")) && !not_applicable {
                assert!(value.parse::<f64>().is_ok(), "{name} = {value} is not a number");
            }
        }
    }
    let probes = [probe(Model::Threads, [9930.0, 9950.0, 9940.0], [9900.0, 9910.0, 9905.0], [9950.0; 3])];
    let json: serde_json::Value =
        serde_json::from_str(&super::json::to_json(&[scenario()], &rows, &probes, None)).unwrap();
    // Named after the version: a field that moves changes the snapshot of a version already published, which is
    // wrong; raise SCHEMA_VERSION and record a new one instead.
    let version = super::json::SCHEMA_VERSION;
    assert_eq!(json["schema_version"], version);
    let paths = counter_core::report::field_paths(&json);
    insta::assert_snapshot!(format!("compare_field_names_of_schema_version_{version}"), paths.join("\n"));
    let first = &json["rows"][0];
    for field in ["wall_median_s", "wall_ci_low_s", "wall_ci_high_s", "pss_bytes", "lost_median", "parallelism_median"]
    {
        assert!(first[field].is_number(), "{field}: {first}");
    }
}

#[test]
fn the_table_has_a_cell_per_header_and_a_failed_row_keeps_its_start() {
    let mut rows = rows();
    rows.push(Row::failed(
        RowKey {
            scenario: "io-like".to_owned(),
            label: "processes".to_owned(),
            model: Model::Processes,
            python: false,
            sync: Strategy::Mutex,
            flags: String::new(),
            workload: String::new(),
            workers: 5,
        },
        "x".repeat(300),
    ));
    let rows: Vec<&Row> = rows.iter().collect();
    let table = table::build(&rows, false);
    assert!(table.rows.iter().all(|cells| cells.len() == table.headers.len()));
    let failed = &table.rows[3][2];
    assert!(failed.starts_with("FAILED: xxx") && failed.ends_with('…') && failed.len() < 120, "{failed}");
    assert_eq!(table.rows[1][4], "1000", "the atomic row's final value");
    assert_eq!(table.rows[0][2], "0.15% (4/6)", "the racy row's median loss, and how many runs lost any");
}

#[test]
fn a_frontend_whose_memory_differs_from_ours_is_noted() {
    let mut off = sample(Model::Threads, Strategy::Atomic, 1000, 0.2);
    off.external = memory(3600);
    let noted = row(Model::Threads, Strategy::Atomic, &[off]);
    let note = noted.self_report_mismatch.expect("20% apart is noted");
    assert!(note.starts_with("RSS: self-reported 3000 KiB, measured 3600 KiB"), "{note}");
    let close = row(Model::Threads, Strategy::Atomic, &[sample(Model::Threads, Strategy::Atomic, 1000, 0.2)]);
    assert_eq!(close.self_report_mismatch, None);
}

#[test]
fn the_guide_s_export_example_is_this_schema_s() {
    // The guide shows a cut-down export: its version must be this one, and every field it shows must exist.
    let readme = std::fs::read_to_string(crate::workspace::root().join("docs/book/src/tools.md")).unwrap();
    let block = readme.split("```json\n").nth(1).and_then(|rest| rest.split("\n```").next()).expect("a JSON example");
    let example: serde_json::Value = serde_json::from_str(block).expect("the guide's example is JSON");
    assert_eq!(example["schema_version"], super::json::SCHEMA_VERSION, "the guide shows another version");
    let rows = rows();
    let probes = [probe(Model::Threads, [9930.0, 9950.0, 9940.0], [9900.0, 9910.0, 9905.0], [9950.0; 3])];
    let loaded = ScenarioRun {
        load_before: Some(counter_core::proc::load::MachineLoad::default()),
        busy_cpus_before: Some(0.0),
        steal_percent: Some(0.0),
        ..scenario()
    };
    let real: serde_json::Value = serde_json::from_str(&super::json::to_json(&[loaded], &rows, &probes, None)).unwrap();
    let real_paths = counter_core::report::field_paths(&real);
    for path in counter_core::report::field_paths(&example) {
        assert!(real_paths.contains(&path), "the guide shows a field the export does not have: {path}");
    }
    let report_version = format!("`schema_version` {}", counter_core::report::SCHEMA_VERSION);
    assert!(readme.contains(&report_version), "the guide's flags table gives another report version");
}

#[test]
fn the_seed_preset_runs_the_seeds_plain_sleeps_beside_our_timer_on_our_binaries_only() {
    let scenarios = super::scenario::Preset::Seed.scenarios();
    let names: Vec<&str> = scenarios.iter().map(|scenario| scenario.name).collect();
    assert_eq!(names, ["seed", "seed-relative"]);
    let relative = |scenario: &super::scenario::Scenario| {
        scenario.flags.windows(2).any(|pair| pair[0] == "--timer" && pair[1] == "relative")
    };
    assert!(!relative(&scenarios[0]) && !scenarios[0].ours_only, "the Python programs run the seed");
    assert!(relative(&scenarios[1]) && scenarios[1].ours_only);
    // Only the timer differs.
    let without_timer: Vec<&String> = scenarios[1].flags.iter().take_while(|flag| *flag != "--timer").collect();
    assert_eq!(without_timer, scenarios[0].flags.iter().collect::<Vec<_>>());
}

#[test]
fn the_pivot_keeps_each_strategy_s_wall_time_within_80_columns() {
    let mut rows = rows();
    let mut variant = rows[0].clone();
    variant.label = "mariadb snapshot-isolation".to_owned();
    rows.push(variant);
    let rows: Vec<&Row> = rows.iter().collect();
    let (pivot, said) = table::pivot(&rows);
    let text = crate::output::render_to_width(&pivot, 80);
    assert!(text.lines().all(|line| line.chars().count() <= 80) && !text.contains("left out"), "{text}");
    // A column per strategy with a row on more than its own; a variant run alone is said under the table.
    for row in rows.iter().filter(|row| row.label != "mariadb snapshot-isolation") {
        let heading = if row.sync == Strategy::Optimistic { "optim." } else { row.sync.name() };
        assert!(pivot.headers.contains(&heading), "{heading}: {:?}", pivot.headers);
        assert!(text.contains(row.label.split(' ').next().unwrap()), "{}:\n{text}", row.label);
    }
    assert!(said.iter().any(|line| line.starts_with("mariadb snapshot-isolation racy")), "{said:?}");
    assert!(!text.contains("snapshot"), "{text}");
}
