//! `cargo xtask report` and `--export-html`: a page built from real runs, checked in a real browser (headless
//! Chromium): it loads with no failed request and no console error, every chart is drawn, and screenshots at a
//! phone's width and a wide screen's are not blank. Skipped with one line without Chromium.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use tests::{Scratch, can_run, have_tool};

fn xtask(scratch: &Scratch, args: &[&str]) -> std::process::Output {
    scratch.xtask().args(args).output().expect("xtask runs")
}

fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|name| have_tool(name))
}

/// Chromium, headless, on a file: its stdout and stderr.
fn chromium(browser: &str, page: &Path, args: &[String]) -> (String, String) {
    let output = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The share of a screenshot's pixels that are not near-white.
fn inked(png_file: &Path) -> f64 {
    let decoder = png::Decoder::new(std::fs::File::open(png_file).expect("a screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buffer).expect("a frame");
    let channels = frame.color_type.samples();
    let pixels = &buffer[..frame.buffer_size()];
    let inked = pixels.chunks(channels).filter(|pixel| pixel.iter().take(3).any(|&value| value < 200)).count();
    inked as f64 / (pixels.len() / channels) as f64
}

/// A quick comparison and sweep, and the page made from them.
fn real_report(scratch: &Scratch) -> PathBuf {
    let compare = xtask(
        scratch,
        &[
            "compare",
            "--profile",
            "dev",
            "--models",
            "threads,processes,async",
            "--syncs",
            "racy,atomic",
            "--workers",
            "3",
            "--increments",
            "20000",
            "--work",
            "none",
            "--repeats",
            "2",
            "--warmup",
            "0",
            "--row-budget",
            "0s",
            "--probe-pairs",
            "1",
        ],
    );
    assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stderr));
    let sweep = xtask(scratch, &["sweep", "--profile", "dev", "--quick", "--models", "threads,async"]);
    assert!(sweep.status.success(), "{}", String::from_utf8_lossy(&sweep.stderr));
    // This test's own results folder: its `latest` links are its runs'.
    let latest = |task: &str| scratch.file(&format!("results/{task}/latest")).to_str().unwrap().to_owned();
    let (compare_dir, sweep_dir) = (latest("compare"), latest("sweep"));
    let page = scratch.file("index.html");
    let report = xtask(
        scratch,
        &["report", "--compare", &compare_dir, "--sweep", &sweep_dir, "--output", page.to_str().unwrap()],
    );
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    page
}

#[test]
fn the_report_is_one_self_contained_page_of_the_latest_runs() {
    let scratch = Scratch::new("report-page");
    let page = real_report(&scratch);
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing that makes a browser fetch anything (the SVG namespace's URL is a name, never fetched).
    for outside in ["src=", "href=", "<script", "<link", "<img", "@import", "url("] {
        assert!(!html.contains(outside), "the page reaches outside itself: {outside}");
    }
    // Wall time, memory per worker, the sweep's lines (and the losses, when the racy row lost some).
    assert!(html.matches("<svg").count() >= 3, "{}", html.matches("<svg").count());
    for part in ["Where these figures come from", "cargo xtask compare", "Every row", "What the comparison says"] {
        assert!(html.contains(part), "{part}");
    }
    assert_eq!(html.matches("<figcaption>").count(), html.matches("<svg").count(), "a caption for every chart");
}

#[test]
fn the_report_renders_in_a_real_browser_at_a_phones_width_and_a_wide_screens() {
    let test = "the_report_renders_in_a_real_browser_at_a_phones_width_and_a_wide_screens";
    let Some(browser) = browser() else {
        tests::skip(test, "chromium");
        return;
    };
    if !can_run(test, false, &[browser]) {
        return;
    }
    let scratch = Scratch::new("report-browser");
    let page = real_report(&scratch);
    // The DOM as the browser built it: every chart there, of a plausible size.
    let (dom, log) = chromium(browser, &page, &["--dump-dom".to_owned()]);
    let charts: Vec<&str> = dom.split("<svg").skip(1).collect();
    assert!(charts.len() >= 3, "{} charts in the DOM", charts.len());
    for chart in &charts {
        let view_box = chart.split("viewBox=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default();
        let size: Vec<f64> = view_box.split(' ').filter_map(|n| n.parse().ok()).collect();
        assert!(size.len() == 4 && size[2] >= 300.0 && size[3] >= 80.0, "a chart of {view_box}");
        let drawn = chart.split("</svg>").next().unwrap_or_default().matches('<').count();
        assert!(drawn > 20, "a chart with {drawn} elements");
    }
    for failure in ["CONSOLE", "Uncaught", "net::ERR", "Failed to load resource"] {
        assert!(!log.contains(failure), "the browser said {failure}: {log}");
    }
    for width in [400, 1400] {
        let shot = scratch.file(&format!("shot-{width}.png"));
        let (_, log) = chromium(
            browser,
            &page,
            &[format!("--window-size={width},1600"), format!("--screenshot={}", shot.display())],
        );
        assert!(shot.exists(), "no screenshot at {width} px: {log}");
        let ink = inked(&shot);
        assert!(ink > 0.02, "the screenshot at {width} px is blank ({:.1}% inked)", ink * 100.0);
    }
}

#[test]
fn compare_and_sweep_write_the_page_of_their_own_run() {
    let scratch = Scratch::new("report-export");
    let html = scratch.file("compare.html");
    let output = xtask(
        &scratch,
        &[
            "compare",
            "--profile",
            "dev",
            "--models",
            "threads",
            "--syncs",
            "atomic",
            "--workers",
            "2",
            "--increments",
            "10",
            "--work",
            "none",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--row-budget",
            "0s",
            "--probe-pairs",
            "0",
            "--export-html",
            html.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && page.contains("Comparison"));
    let html = scratch.file("sweep.html");
    let output = xtask(
        &scratch,
        &["sweep", "--profile", "dev", "--quick", "--models", "threads", "--export-html", html.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Memory against workers") && page.contains("<svg"));
    // A page that cannot be written (its folder would be inside a file) is refused before anything runs.
    let file = scratch.file("a-file");
    std::fs::write(&file, "").unwrap();
    let page = file.join("page.html");
    let output = xtask(&scratch, &["sweep", "--quick", "--export-html", page.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_results_file_of_another_schema_or_with_a_wild_figure_is_refused_before_drawing() {
    let scratch = Scratch::new("report-refuses");
    let run = scratch.file("run");
    std::fs::create_dir_all(&run).unwrap();
    for (results, expected) in [
        (r#"{"schema_version": 999, "scenarios": [], "rows": [], "memory_per_worker": []}"#, "schema_version 999"),
        (r#"{"schema_version": "two"}"#, "no schema_version"),
        ("[1, 2, 3]", "no schema_version"),
        ("null", "no schema_version"),
    ] {
        std::fs::write(run.join("results.json"), results).unwrap();
        let page = scratch.file("page.html");
        let output =
            xtask(&scratch, &["report", "--compare", run.to_str().unwrap(), "--output", page.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{results}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains("results.json"), "{results}: {stderr}");
        assert!(!page.exists(), "no page is drawn from it");
    }
}
