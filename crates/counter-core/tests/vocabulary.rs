//! The core knows no particular model: outside `model.rs`, which holds the closed list of models and their
//! names, and `catalog.rs`, what the tools know of each, no file of the core may use a model's own vocabulary. A
//! model's figures and words live in its crate.

use std::{fs, path::Path};

use counter_core::model::Model;

/// Words that belong to one model (its runtime, its way of starting workers, a server's language), lower case;
/// with every model's name but the three that are plain words (threads, processes, async).
const MODEL_VOCABULARY: [&str; 6] = ["tokio", "fork server", "forkserver", "sql", "round trip", "runtime thread"];

fn vocabulary() -> Vec<&'static str> {
    let plain = [Model::Threads, Model::Processes, Model::Async];
    let names = Model::ALL.into_iter().filter(|model| !plain.contains(model)).map(Model::name);
    MODEL_VOCABULARY.into_iter().chain(names).collect()
}

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
    let vocabulary = vocabulary();
    for file in files.iter().filter(|file| !file.ends_with("src/model.rs") && !file.ends_with("src/catalog.rs")) {
        let text = fs::read_to_string(file).unwrap().to_lowercase();
        for (number, line) in text.lines().enumerate() {
            for word in vocabulary.iter().filter(|word| line.contains(*word)) {
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
    assert!(vocabulary().iter().any(|word| model.to_lowercase().contains(word)));
}
