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

/// What the browser laid out: the document's width and the viewport's, and for every chart shown, its smallest
/// text in CSS pixels and how many of its texts are numbers (tick labels).
struct Measured {
    width: (f64, f64),
    charts: Vec<(f64, usize)>,
}

/// Lays the page out `width` pixels wide and measures it. A copy of the page gets a script that measures and
/// writes what it found into the page; it is shown in a frame of that width (a headless window is never
/// narrower than 500 px), and the frame's page read back from the browser's DOM. The page itself has no script.
fn measure(browser: &str, scratch: &Scratch, page: &Path, width: u32) -> Measured {
    const SCRIPT: &str = "<script>
const out = ['width ' + document.documentElement.scrollWidth + ' ' + window.innerWidth];
for (const svg of document.querySelectorAll('.chart svg')) {
  const box = svg.getBoundingClientRect();
  if (box.width === 0) continue;
  const scale = box.width / svg.viewBox.baseVal.width;
  let least = Infinity, ticks = 0;
  for (const text of svg.querySelectorAll('text')) {
    least = Math.min(least, parseFloat(getComputedStyle(text).fontSize) * scale);
    if (/^[0-9.]+[kMG]?$/.test(text.textContent)) ticks++;
  }
  out.push('chart ' + least + ' ' + ticks);
}
const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = out.join(';');
document.body.appendChild(pre);
</script></body>";
    let html = std::fs::read_to_string(page).unwrap();
    let measuring = scratch.file(&format!("measure-{width}.html"));
    std::fs::write(&measuring, html.replace("</body>", SCRIPT)).unwrap();
    let host = scratch.file(&format!("host-{width}.html"));
    std::fs::write(
        &host,
        format!(
            "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"f\" src=\"{}\" \
             style=\"width:{width}px;height:3000px;border:0\"></iframe><script>
document.getElementById('f').addEventListener('load', () => {{
  const pre = document.createElement('pre'); pre.id = 'out';
  pre.textContent = document.getElementById('f').contentDocument.getElementById('measured').textContent;
  document.body.appendChild(pre);
}});</script></body></html>",
            measuring.file_name().unwrap().to_string_lossy()
        ),
    )
    .unwrap();
    let profile = scratch.file(&format!("profile-{width}"));
    let (dom, log) = chromium(
        browser,
        &host,
        &[
            "--allow-file-access-from-files".to_owned(),
            "--virtual-time-budget=10000".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            "--window-size=1500,2000".to_owned(),
            "--dump-dom".to_owned(),
        ],
    );
    let text = dom
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("nothing measured at {width} px: {log}"));
    let mut measured = Measured { width: (0.0, 0.0), charts: Vec::new() };
    for part in text.split(';') {
        let words: Vec<&str> = part.split(' ').collect();
        match words.as_slice() {
            ["width", document, viewport] => measured.width = (document.parse().unwrap(), viewport.parse().unwrap()),
            ["chart", font, ticks] => measured.charts.push((font.parse().unwrap(), ticks.parse().unwrap())),
            _ => panic!("unreadable measure: {part}"),
        }
    }
    assert!((measured.width.1 - f64::from(width)).abs() < 0.5, "the frame's viewport: {}", measured.width.1);
    measured
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
    // Every figure: a caption, and its chart drawn for a wide and for a narrow screen.
    let figures = html.matches("<figure").count();
    assert!(figures >= 3, "{figures} figures");
    assert_eq!(html.matches("<figcaption>").count(), figures, "a caption for every chart");
    assert_eq!(html.matches("class=\"chart wide\"").count(), figures);
    assert_eq!(html.matches("class=\"chart narrow\"").count(), figures);
    // The headline and the findings come from the runs shown, before the charts.
    let headline = html.split("class=\"headline\">").nth(1).and_then(|rest| rest.split("</p>").next()).unwrap();
    for part in ["threads", "processes", "async", "racy", "atomic", "3 workers x 20000 increments, no work"] {
        assert!(headline.contains(part), "{part} is not in the headline: {headline}");
    }
    let findings = html.find("<h2>Findings</h2>").expect("findings");
    assert!(findings < html.find("<figure").unwrap(), "the findings come before the charts");
    assert!(html.contains("One more worker costs"), "the memory finding");
    // The traced run: its first collision in words, and drawn with each overwritten write crossed out.
    let seen = html.split("<h3>The lost update, seen</h3>").nth(1).expect("the traced run's section");
    let seen = seen.split("</figure>").next().unwrap();
    assert!(seen.contains("first collision") && seen.contains("one increment lost"), "{seen}");
    assert!(seen.matches("stroke-width=\"3\"").count() >= 2, "a crossed-out write in each drawing: {seen}");
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
    // Legends' markers are SVG too: a chart is the drawing in a chart's box.
    let charts: Vec<&str> = dom.split("class=\"chart ").skip(1).collect();
    assert!(charts.len() >= 6, "{} charts in the DOM", charts.len());
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
    // The interleaving is among them, measured below with the others at both widths.
    assert!(dom.contains("ms from the first read drawn"), "the traced run's interleaving is drawn");
    for width in [420, 1400] {
        let measured = measure(browser, &scratch, &page, width);
        let (document, viewport) = measured.width;
        assert!(document <= viewport, "at {width} px the page is {document} px wide: it scrolls sideways");
        assert!(measured.charts.len() >= 3, "at {width} px, {} charts shown", measured.charts.len());
        for (index, &(least_font, ticks)) in measured.charts.iter().enumerate() {
            assert!(least_font >= 11.0, "at {width} px, chart {index}'s text is {least_font} px");
            assert!(ticks >= 3, "at {width} px, chart {index} has {ticks} labelled ticks");
        }
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

/// Every number under `value` made -1.
fn all_minus_one(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(_) => *value = serde_json::json!(-1),
        serde_json::Value::Array(items) => items.iter_mut().for_each(all_minus_one),
        serde_json::Value::Object(map) => map.values_mut().for_each(all_minus_one),
        _ => {}
    }
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
    // A recorded comparison with every figure turned to -1: a time, a count, a size below zero is refused.
    let recorded =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/compare/answers.json")).unwrap();
    let mut results: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    let version = results["schema_version"].clone();
    all_minus_one(&mut results);
    results["schema_version"] = version;
    std::fs::write(run.join("results.json"), results.to_string()).unwrap();
    let page = scratch.file("page.html");
    let output = xtask(&scratch, &["report", "--compare", run.to_str().unwrap(), "--output", page.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("= -1") && stderr.contains("below zero"), "{stderr}");
    assert!(!page.exists(), "no page is drawn from it");
}
