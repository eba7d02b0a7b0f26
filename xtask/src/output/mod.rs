//! What every task's output shares: the table model that the terminal table, CSV and Markdown are all made
//! from, and writing files. Nothing here measures anything.

mod csv;
mod markdown;

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context;

pub use self::{csv::to_csv, markdown::to_markdown};

/// Headers and cells, all text.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// One line per result row.
    pub rows: Vec<Vec<String>>,
}

/// The table for a terminal.
pub fn render(table: &Table) -> String {
    let mut out = comfy_table::Table::new();
    out.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    out.set_header(table.headers.clone());
    for row in &table.rows {
        out.add_row(row.clone());
    }
    out.to_string()
}

/// Writes `text` to `path`, creating its folder.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
}

/// The export flags every task takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Exports {
    /// Write every figure as JSON
    #[arg(long = "export-json", value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write the table as CSV
    #[arg(long = "export-csv", value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Write the table as Markdown
    #[arg(long = "export-markdown", value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// Writes the exports a task was asked for: JSON text (made by the task), CSV and Markdown (from the table).
pub fn write_exports(exports: &Exports, json: &str, table: &Table) -> anyhow::Result<()> {
    let Exports { json: json_path, csv, markdown } = exports;
    if let Some(path) = json_path {
        write(path, json).context("--export-json")?;
    }
    if let Some(path) = csv {
        write(path, &to_csv(table)).context("--export-csv")?;
    }
    if let Some(path) = markdown {
        write(path, &to_markdown(table)).context("--export-markdown")?;
    }
    Ok(())
}
