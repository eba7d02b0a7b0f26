//! ARCHITECTURE.md's code map stays complete: every module file of the workspace's crates, xtask and the test
//! harness is named in it (a module folder by its `folder/`), so that a module added without a line there fails.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().map(|entry| entry.unwrap().path()) {
            if entry.is_dir() {
                folders.push(entry);
            } else if entry.extension().is_some_and(|extension| extension == "rs") {
                found.push(entry);
            }
        }
    }
    found
}

#[test]
fn every_module_is_in_the_code_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut roots: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    roots.extend([root.join("xtask/src"), root.join("tests/src")]);
    let mut missing = Vec::new();
    for file in roots.iter().flat_map(|src| sources(src)) {
        let name = file.file_name().unwrap().to_str().unwrap();
        let folder = file.parent().and_then(Path::file_name).unwrap().to_str().unwrap();
        let named = match name {
            "lib.rs" | "main.rs" => true,
            "mod.rs" => map.contains(&format!("`{folder}/`")),
            _ => {
                map.contains(&format!("`{name}`"))
                    || map.contains(&format!("/{name}`"))
                    || map.contains(&format!("{name}`"))
            }
        };
        if !named {
            missing.push(file.strip_prefix(&root).unwrap_or(&file).display().to_string());
        }
    }
    assert!(missing.is_empty(), "modules missing from ARCHITECTURE.md's code map: {missing:?}");
}
