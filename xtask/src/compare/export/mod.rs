//! Writing the results to files. Each format reads the same rows (JSON) or the same table model (CSV,
//! Markdown); none of them measures anything.

mod csv;
mod json;
mod markdown;

use std::{fs, path::Path};

use anyhow::Context;

pub use self::{csv::to_csv, json::to_json, markdown::to_markdown};

/// Writes `text` to `path`, creating its folder.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
}
