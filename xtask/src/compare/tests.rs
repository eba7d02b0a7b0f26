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
    results::{Row, RowKey},
    summary::{self, Probe},
    table,
};
use crate::runner::Sample;

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
        model: model.name().to_owned(),
        kind: model,
        python: false,
        sync: strategy.name().to_owned(),
        flags: "--workers 5 --increments 200 --work sleep:1ms".to_owned(),
        workers: 5,
    };
    Row::measured(key, samples, None)
}

fn rows() -> Vec<Row> {
    vec![
        row(
            Model::Threads,
            Strategy::Racy,
            &[sample(Model::Threads, Strategy::Racy, 998, 0.21), sample(Model::Threads, Strategy::Racy, 1000, 0.22)],
        ),
        row(Model::Threads, Strategy::Atomic, &[sample(Model::Threads, Strategy::Atomic, 1000, 0.215)]),
        row(Model::Async, Strategy::Racy, &[sample(Model::Async, Strategy::Racy, 1000, 0.23)]),
    ]
}

#[test]
fn the_sentences_under_the_table() {
    let probes = [
        Probe { model: Model::Threads, workers: 101, pss_kib: 9.7, uss_kib: 9.6, rss_kib: 9.8 },
        Probe { model: Model::Processes, workers: 101, pss_kib: 40.1, uss_kib: 36.7, rss_kib: 640.0 },
        Probe { model: Model::Async, workers: 101, pss_kib: 0.8, uss_kib: 0.8, rss_kib: 0.8 },
    ];
    insta::assert_snapshot!(summary::sentences(&rows(), &probes).join("\n"));
}

#[test]
fn a_racy_row_that_lost_nothing_says_why_by_its_model() {
    let sentences = summary::sentences(&rows(), &[]).join("\n");
    assert!(sentences.contains("racy lost no update on async in any run: on one thread"), "{sentences}");
    assert!(sentences.contains("lost 1 of 1000"), "the median of 2 and 0 lost: {sentences}");
}

#[test]
fn the_table_has_a_cell_per_header_and_a_failed_row_keeps_its_start() {
    let mut rows = rows();
    rows.push(Row::failed(
        RowKey {
            scenario: "io-like".to_owned(),
            model: "processes".to_owned(),
            kind: Model::Processes,
            python: false,
            sync: "mutex".to_owned(),
            flags: String::new(),
            workers: 5,
        },
        "x".repeat(300),
    ));
    let table = table::build(&rows);
    assert!(table.rows.iter().all(|cells| cells.len() == table.headers.len()));
    let failed = &table.rows[3][3];
    assert!(failed.starts_with("FAILED: xxx") && failed.ends_with(" …") && failed.len() < 120, "{failed}");
    assert_eq!(table.rows[1][3], "1000 / 1000", "final / expected of the atomic row");
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
