//! What every task's output shares: the table model that the terminal table, CSV and Markdown are all made
//! from, the export files (opened before the first run, as hyperfine does, so that a bad path fails at once),
//! and the folder each run writes its results to. Nothing here measures anything.

mod csv;
mod markdown;
mod run_dir;

use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use counter_core::output::{self as out, PrintError};

pub use self::{
    csv::field as csv_field,
    markdown::to_markdown,
    run_dir::{RunDir, utc_time_now},
};
use crate::usage::Usage;

/// Headers and cells, all text.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// One line per result row.
    pub rows: Vec<Vec<String>>,
}

/// Columns apart by two spaces, one line under the header, nothing else: the most a narrow terminal can hold.
const LIGHT: &str = "     ──             ";

/// The table for a terminal of `width` columns (a fixed layout when `None`), in light lines.
pub fn render_to_width(table: &Table, width: Option<u16>) -> String {
    let mut out = comfy_table::Table::new();
    out.load_preset(LIGHT);
    out.set_header(table.headers.clone());
    for row in &table.rows {
        out.add_row(row.clone());
    }
    if let Some(width) = width {
        out.set_width(width).set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
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
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Exports {
    /// Write every figure as JSON to FILE (`-`: standard output, and the table goes to standard error)
    #[arg(long = "export-json", value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write the table as CSV to FILE (`-`: standard output)
    #[arg(long = "export-csv", value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Write the table as Markdown to FILE (`-`: standard output)
    #[arg(long = "export-markdown", value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Write a self-contained HTML page with charts to FILE (`-`: standard output), as `cargo xtask report` does
    #[arg(long = "export-html", value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Where one export goes.
#[derive(Debug)]
enum Sink {
    Stdout,
    File { path: PathBuf, file: File },
}

impl Sink {
    fn open(flag: &str, path: &Path) -> Result<Sink, Usage> {
        if path.as_os_str() == "-" {
            return Ok(Sink::Stdout);
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| Usage(format!("{flag} {}: could not create its folder: {e}", path.display())))?;
        }
        File::create(path)
            .map(|file| Sink::File { path: path.to_path_buf(), file })
            .map_err(|e| Usage(format!("{flag} {}: cannot be written: {e}", path.display())))
    }

    fn write(self, flag: &str, text: &str) -> anyhow::Result<()> {
        match self {
            Sink::Stdout => out::print(text).map_err(|e| match e {
                PrintError::BrokenPipe => anyhow::Error::new(e),
                PrintError::Failed(_) => anyhow::Error::new(e).context(flag.to_owned()),
            }),
            Sink::File { path, mut file } => file
                .write_all(text.as_bytes())
                .and_then(|()| file.sync_data())
                .with_context(|| format!("{flag}: could not write {}", path.display())),
        }
    }
}

/// The export files, open and ready before the first run.
#[derive(Debug, Default)]
pub struct OpenExports {
    json: Option<Sink>,
    csv: Option<Sink>,
    markdown: Option<Sink>,
    html: Option<Sink>,
}

impl Exports {
    /// Opens (creates) every export file now; a path that cannot be written is refused at once.
    pub fn open(&self) -> Result<OpenExports, Usage> {
        let given = [
            ("--export-json", &self.json),
            ("--export-csv", &self.csv),
            ("--export-markdown", &self.markdown),
            ("--export-html", &self.html),
        ];
        let given: Vec<(&str, &Path)> =
            given.iter().filter_map(|(flag, path)| path.as_deref().map(|path| (*flag, path))).collect();
        if given.iter().filter(|(_, path)| *path == Path::new("-")).count() > 1 {
            return Err(Usage("only one export can go to standard output ('-')".to_owned()));
        }
        // Two exports to one file would leave only the last one there.
        for (index, (flag, path)) in given.iter().enumerate() {
            let same = |other: &Path| std::path::absolute(other).ok() == std::path::absolute(path).ok();
            if let Some((other_flag, _)) =
                given[index + 1..].iter().find(|(_, other)| *path != Path::new("-") && same(other))
            {
                return Err(Usage(format!("{flag} and {other_flag} name the same file, {}", path.display())));
            }
        }
        let open = |flag, path: &Option<PathBuf>| path.as_deref().map(|path| Sink::open(flag, path)).transpose();
        Ok(OpenExports {
            json: open("--export-json", &self.json)?,
            csv: open("--export-csv", &self.csv)?,
            markdown: open("--export-markdown", &self.markdown)?,
            html: open("--export-html", &self.html)?,
        })
    }
}

impl OpenExports {
    /// Whether an export takes standard output, so that the table must go to standard error.
    pub fn takes_stdout(&self) -> bool {
        [&self.json, &self.csv, &self.markdown, &self.html].iter().any(|sink| matches!(sink, Some(Sink::Stdout)))
    }

    /// Whether a page was asked for.
    pub fn wants_html(&self) -> bool {
        self.html.is_some()
    }

    /// Writes every export, each made by the task: JSON and CSV with numbers, Markdown for people, and the page
    /// (`html` is made only when [`OpenExports::wants_html`] says so).
    pub fn write(self, json: &str, csv: &str, markdown: &str, html: Option<&str>) -> anyhow::Result<()> {
        let OpenExports { json: json_sink, csv: csv_sink, markdown: markdown_sink, html: html_sink } = self;
        for (sink, flag, text) in [
            (json_sink, "--export-json", Some(json)),
            (csv_sink, "--export-csv", Some(csv)),
            (markdown_sink, "--export-markdown", Some(markdown)),
            (html_sink, "--export-html", html),
        ] {
            if let (Some(sink), Some(text)) = (sink, text) {
                sink.write(flag, text)?;
            }
        }
        Ok(())
    }
}

/// Where a task's text for people goes: standard output, or standard error when an export took standard output.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    to_stderr: bool,
}

impl Terminal {
    /// The terminal for a task whose exports are `exports`.
    pub fn new(exports: &OpenExports) -> Terminal {
        Terminal { to_stderr: exports.takes_stdout() }
    }

    /// Prints `text` (a broken pipe or a full disk is an error the task ends with; nothing measured is lost,
    /// since results are written before anything is printed).
    pub fn print(self, text: &str) -> Result<(), PrintError> {
        if self.to_stderr {
            out::eprint(text);
            Ok(())
        } else {
            out::print(text)
        }
    }
}
