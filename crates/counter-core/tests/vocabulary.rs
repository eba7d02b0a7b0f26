//! The core knows no particular model: outside `model.rs`, which holds the closed list of models and their
//! names, no file of the core may use a model's own vocabulary. A model's figures and words live in its crate.

use std::{fs, path::Path};

/// Words that belong to one model (its store, its runtime, its way of starting workers), lower case.
const MODEL_VOCABULARY: [&str; 8] =
    ["redis", "tokio", "fork server", "forkserver", "postgres", "sql", "round trip", "runtime thread"];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_file_of_the_core_but_the_list_of_models_names_a_model_s_own_vocabulary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("examples"), &mut files);
    assert!(files.len() > 10, "the core's sources were found: {files:?}");
    let mut found = Vec::new();
    for file in files.iter().filter(|file| !file.ends_with("src/model.rs")) {
        let text = fs::read_to_string(file).unwrap().to_lowercase();
        for (number, line) in text.lines().enumerate() {
            for word in MODEL_VOCABULARY.iter().filter(|word| line.contains(*word)) {
                found.push(format!("{}:{}: '{word}' in: {}", file.display(), number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "the core names a model's own vocabulary:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_word_where_it_is() {
    // The rule must be able to fail: the list of models itself uses the vocabulary.
    let model = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model.rs")).unwrap();
    assert!(MODEL_VOCABULARY.iter().any(|word| model.to_lowercase().contains(word)));
}
