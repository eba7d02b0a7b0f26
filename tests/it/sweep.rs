//! `cargo xtask sweep` end to end, with the debug binaries.

use counter_core::model::Model;
use serde_json::Value;
use tests::Scratch;

fn sweep(scratch: &Scratch, args: &[&str]) -> std::process::Output {
    scratch.xtask().args(["sweep", "--profile", "dev"]).args(args).output().expect("xtask runs")
}

#[test]
fn a_quick_sweep_fits_every_model_and_draws_one_line_each() {
    let dir = Scratch::new("sweep-quick");
    let (plot, json, csv, markdown) = (dir.file("m.svg"), dir.file("m.json"), dir.file("m.csv"), dir.file("m.md"));
    let output = sweep(
        &dir,
        &[
            "--quick",
            "--models",
            "threads,processes,async",
            "--plot",
            plot.to_str().unwrap(),
            "--export-json",
            json.to_str().unwrap(),
            "--export-csv",
            csv.to_str().unwrap(),
            "--export-markdown",
            markdown.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let models: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let labels: Vec<&str> = models.iter().map(|m| m["label"].as_str().unwrap()).collect();
    // Processes get a line per start method.
    assert_eq!(labels, ["threads", "processes fork", "processes forkserver", "processes spawn", "async"]);
    for model in &models {
        assert_eq!(model["points"].as_array().unwrap().len(), 3, "{model}");
        // USS, not PSS: a page's PSS share falls when other processes map it, and tests run beside each other.
        let uss = model["fit"]["uss_kib"].as_f64().unwrap();
        assert!(uss > 0.0, "one more worker costs private memory: {model}");
        assert!(stdout.contains(&format!("- {}: ", model["label"].as_str().unwrap())), "{stdout}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "not an SVG document");
    assert_eq!(svg.matches("<svg").count(), 1);
    // A line per model and a legend entry for each, drawn thicker than the axes and ticks; the lines of one
    // model told apart by their dashes.
    assert_eq!(svg.matches("<polyline").count(), models.len(), "{svg}");
    assert!(svg.matches(r#"stroke-width="2""#).count() >= 2 * models.len(), "{svg}");
    assert_eq!(svg.matches(r#"stroke-dasharray="8 5""#).count(), 2, "processes forkserver, line and legend");
    assert_eq!(svg.matches("viewBox=").count(), 1, "one view box, and no fixed size: it scales");
    for label in labels {
        assert!(svg.contains(&format!(">\n{label}\n</text>")) || svg.contains(&format!(">{label}</text>")), "{label}");
    }
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("model,workers,"), "{csv}");
    assert!(std::fs::read_to_string(&markdown).unwrap().lines().all(|l| l.starts_with('|')));
}

#[test]
fn a_model_stops_at_its_limit_and_the_sweep_says_which() {
    let dir = Scratch::new("sweep-limit");
    let json = dir.file("m.json");
    let output = sweep(
        &dir,
        &[
            "--models",
            "threads",
            "--workers",
            "10,100000",
            "--plot",
            dir.file("m.svg").to_str().unwrap(),
            "--export-json",
            json.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let models: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(models[0]["points"].as_array().unwrap().len(), 1);
    let stopped = models[0]["stopped"].as_str().unwrap();
    assert!(stopped.contains("100000") && stopped.contains("vm.max_map_count"), "{stopped}");
}

#[test]
fn without_python_the_python_rows_are_skipped_with_one_line() {
    let dir = Scratch::new("sweep-no-interpreter");
    let output = dir
        .xtask()
        .args(["sweep", "--profile", "dev", "--quick", "--with-python", "--models", "async", "--plot"])
        .arg(dir.file("m.svg"))
        .env("COUNTER_PYTHON", "/nonexistent/python3")
        .output()
        .unwrap();
    assert!(output.status.success());
    // One line, wrapped to the width: words apart by one space once unwrapped.
    let stderr = String::from_utf8_lossy(&output.stderr).split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(stderr.matches("the Python rows are skipped").count(), 1, "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("asyncio"));
}

#[test]
fn sweep_refuses_bad_flags() {
    let scratch = Scratch::new("sweep-refuses-bad-flags");
    // Every model, from the one list.
    let models = format!("[possible values: {}]", Model::ALL.map(Model::name).join(", "));
    for (args, expected) in [
        (&["--workers", "0"][..], "invalid workers '0'"),
        (&["--workers", "10,x"], "'x'"),
        (&["--quick", "--workers", "10"], "cannot be used with"),
        (&["--models", "fibers"], models.as_str()),
    ] {
        let output = scratch.xtask().arg("sweep").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn the_plot_lands_in_the_run_folder_under_the_results_folder() {
    let scratch = Scratch::new("the-plot-lands-in-the-run-folder");
    let output = scratch
        .xtask()
        .current_dir(std::env::temp_dir())
        .args(["sweep", "--profile", "dev", "--models", "threads", "--workers", "1,2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // In the run's own folder, under the results folder, which `latest` links to.
    assert!(stdout.contains("Plot: "), "{stdout}");
    assert!(scratch.file("results/sweep/latest/memory.svg").is_file(), "{stdout}");
}

#[test]
fn a_sweep_without_a_single_point_fails() {
    let scratch = Scratch::new("a-sweep-without-a-single-point-fails");
    let output = sweep(&scratch, &["--models", "threads", "--workers", "100000"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no model produced a single point"), "{stderr}");
}
