//! `cargo xtask calibrate` end to end, on a small count: a row per lock-free strategy, in numbers.

use tests::{Scratch, binary};

#[test]
fn calibrate_measures_each_strategy_against_the_bare_loop() {
    let scratch = Scratch::new("calibrate");
    let json = scratch.file("c.json");
    let output = std::process::Command::new(binary("xtask"))
        .args(["calibrate", "--increments", "200000", "--export-json", json.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let strategies: Vec<&str> = rows.iter().map(|row| row["strategy"].as_str().unwrap()).collect();
    assert_eq!(strategies, ["racy", "atomic", "sharded", "optimistic"]);
    for row in &rows {
        for field in ["bare_1_s", "loop_1_s", "bare_2_s", "loop_2_s"] {
            assert!(row[field].as_f64().is_some_and(|s| s > 0.0), "{field}: {row}");
        }
        assert!(
            stdout.contains(&format!("- {}: the worker loop takes", row["strategy"].as_str().unwrap())),
            "{stdout}"
        );
    }
}

#[test]
fn calibrate_refuses_a_count_past_its_limit() {
    let output = std::process::Command::new(binary("xtask")).args(["calibrate", "--increments", "0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid increments '0'"));
}
