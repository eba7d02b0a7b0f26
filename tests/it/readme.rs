//! The README and the guide (`docs/book/`) against what they rest on: their command examples run against the
//! real binaries (every ```` ```console ```` block is a trycmd case, with `[..]` where a figure changes from run
//! to run and `...` for lines left out), their figures found in the recorded runs under `docs/`, and the
//! guide's includes and links resolved, so that what they show is what the binaries print and what was
//! recorded.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use counter_core::model::Model;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn book_src() -> PathBuf {
    root().join("docs/book/src")
}

/// Every chapter of the guide, by file name.
fn chapters() -> Vec<PathBuf> {
    let mut chapters: Vec<PathBuf> = fs::read_dir(book_src())
        .expect("the guide's sources")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    chapters.sort();
    chapters
}

/// The recorded runs: every text file under `docs/` but the guide's own sources.
fn recorded() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
        for entry in fs::read_dir(dir).expect("a folder of docs/").flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("book") {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "txt" || ext == "md")
                && let Ok(text) = fs::read_to_string(&path)
            {
                found.push((path, text));
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("docs"), &mut found);
    found
}

/// The fenced blocks of `text` whose fence opens with ```` ```language ````: their lines.
fn blocks<'a>(text: &'a str, language: &str) -> Vec<Vec<&'a str>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(fence) = line.strip_prefix("```") {
            let block: Vec<&str> = lines.by_ref().take_while(|line| !line.starts_with("```")).collect();
            if fence.trim() == language {
                blocks.push(block);
            }
        }
    }
    blocks
}

#[test]
fn the_readme_s_and_the_guide_s_console_examples_print_what_they_show() {
    let cases = trycmd::TestCases::new();
    for model in Model::ALL {
        cases.register_bin(model.binary(), tests::binary(model.binary()));
    }
    cases.case(root().join("README.md"));
    for chapter in chapters() {
        if fs::read_to_string(&chapter).expect("a chapter").contains("```console") {
            cases.case(chapter);
        }
    }
}

#[test]
fn every_output_the_readme_quotes_is_a_recorded_run_s() {
    let readme = fs::read_to_string(root().join("README.md")).expect("the README");
    let recorded = recorded();
    let quoted = blocks(&readme, "text");
    assert!(quoted.len() >= 2, "the README quotes the answers and the seed program's output");
    for block in quoted {
        let excerpt = block.join("\n");
        assert!(
            recorded.iter().any(|(_, text)| text.contains(&excerpt)),
            "the README quotes what no file under docs/ holds (record it, then quote it whole):\n{excerpt}"
        );
    }
    let lines = readme.lines().count();
    assert!(lines <= 300, "the README has {lines} lines: it fits on a few screens (at most 300); the guide has room");
}

/// A chapter's includes: `{{#include PATH}}` or `{{#include PATH:FIRST:LAST}}`.
fn includes(text: &str) -> Vec<(String, Option<(usize, usize)>)> {
    text.match_indices("{{#include ")
        .filter_map(|(at, _)| {
            let rest = &text[at + "{{#include ".len()..];
            let inner = &rest[..rest.find("}}")?];
            let mut parts = inner.trim().split(':');
            let path = parts.next()?.to_owned();
            // `PATH:FIRST:` is from FIRST to the end.
            let range = match (parts.next(), parts.next()) {
                (Some(first), Some("")) => Some((first.parse().ok()?, usize::MAX)),
                (Some(first), Some(last)) => Some((first.parse().ok()?, last.parse().ok()?)),
                _ => None,
            };
            Some((path, range))
        })
        .collect()
}

#[test]
fn every_include_and_link_of_the_guide_resolves() {
    let summary = fs::read_to_string(book_src().join("SUMMARY.md")).expect("the guide's SUMMARY.md");
    let mut listed = BTreeSet::new();
    for chapter in chapters() {
        let name = chapter.file_name().and_then(|name| name.to_str()).expect("a file name").to_owned();
        let text = fs::read_to_string(&chapter).expect("a chapter");
        for (path, range) in includes(&text) {
            let included = book_src().join(&path);
            let Ok(content) = fs::read_to_string(&included) else {
                panic!("{name} includes {path}, which is not there");
            };
            if let Some((first, last)) = range {
                let lines = content.lines().count();
                let last = if last == usize::MAX { lines } else { last };
                assert!(
                    first >= 1 && first <= last && last <= lines,
                    "{name} includes lines {first} to {last} of {path}, which has {lines}"
                );
            }
        }
        // Links outside the guide would not be in the built book: a chapter links to chapters only.
        for (at, _) in text.match_indices("](") {
            let target = &text[at + 2..];
            let target = &target[..target.find(')').unwrap_or(target.len())];
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap_or(target);
            assert!(
                !file.contains('/') && book_src().join(file).is_file(),
                "{name} links to {target}, which is not a chapter of the guide"
            );
            if name == "SUMMARY.md" {
                listed.insert(file.to_owned());
            }
        }
    }
    let unlisted: Vec<String> = chapters()
        .iter()
        .filter_map(|chapter| chapter.file_name()?.to_str().map(str::to_owned))
        .filter(|name| name != "SUMMARY.md" && !listed.contains(name))
        .collect();
    assert!(unlisted.is_empty(), "chapters that SUMMARY.md does not list: {unlisted:?}");
    assert!(summary.contains("](introduction.md)"));
}

/// Whether `text` holds a measured figure: a number with a unit of time, memory or share, outside code spans
/// (`sleep:10ms` is a flag's value, not a measurement).
fn has_measurements(text: &str) -> bool {
    let prose: String = text.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    let words: Vec<&str> = prose.split(|c: char| c.is_whitespace() || c == '|').filter(|w| !w.is_empty()).collect();
    let units = ["s", "ms", "us", "ns", "B", "KiB", "MiB", "GiB", "%"];
    words.windows(2).any(|pair| {
        let number = pair[0].trim_end_matches(|c: char| units.iter().any(|u| u.contains(c)));
        let glued = &pair[0][number.len()..];
        let is_number = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',');
        is_number && (units.contains(&glued) || (glued.is_empty() && units.contains(&pair[1])))
    })
}

#[test]
fn every_table_of_the_guide_is_a_recorded_run_s_or_says_whose() {
    // A table typed into a chapter drifts from its run: the figures of a table are included from the record,
    // or the table condenses one it names just before it (a range over runs, a choice of columns).
    let recorded = recorded();
    for chapter in chapters() {
        let text = fs::read_to_string(&chapter).expect("a chapter");
        let lines: Vec<&str> = text.lines().collect();
        let mut at = 0;
        while at < lines.len() {
            if !lines[at].starts_with('|') {
                at += 1;
                continue;
            }
            let end = (at..lines.len()).find(|&i| !lines[i].starts_with('|')).unwrap_or(lines.len());
            let table = lines[at..end].join("\n");
            let before = lines[at.saturating_sub(6)..at].join(" ");
            let verbatim = recorded.iter().any(|(_, text)| text.contains(&table));
            let names_its_record = before.contains("docs/") || !has_measurements(&table);
            assert!(
                verbatim || names_its_record,
                "{}: a table at line {} is neither a recorded run's nor says which it condenses",
                chapter.display(),
                at + 1
            );
            at = end;
        }
    }
}
