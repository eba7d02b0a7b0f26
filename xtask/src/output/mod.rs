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
    csv::to_csv,
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

/// The width a task's text for people fits: the terminal's when standard output is one (`$COLUMNS` first), else
/// 80 columns, as piped output is read.
pub fn width() -> usize {
    use std::io::IsTerminal as _;
    const PIPED: usize = 80;
    if !std::io::stdout().is_terminal() {
        return PIPED;
    }
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<usize>().ok()).filter(|c| *c > 0) {
        return columns;
    }
    terminal_size::terminal_size_of(std::io::stdout())
        .map_or(PIPED, |(terminal_size::Width(columns), _)| columns.into())
}

/// Says `text` on standard error, wrapped to the terminal's width there (80 when it is not one).
pub fn note(text: &str) {
    use std::io::IsTerminal as _;
    let width = if std::io::stderr().is_terminal() {
        terminal_size::terminal_size_of(std::io::stderr())
            .map_or(80, |(terminal_size::Width(columns), _)| columns.into())
    } else {
        80
    };
    out::eprint(&(wrap(text.trim_end(), width) + "\n"));
}

/// The columns a table keeps whole, if it can: what a row is and its main figures, which come first.
const KEPT_WHOLE: usize = 4;

/// The table in `width` columns, one line per row: columns are left out from the right (the last ones are read
/// last) until it fits, and a cell still too long is cut with `…`; the returned names are the columns left out.
pub fn fit_table(table: &Table, width: usize) -> (String, Vec<&'static str>) {
    // Whole cells first: the last columns are left out, down to the first few (what a row is, and its main
    // figures), before any cell is cut.
    for columns in (KEPT_WHOLE.min(table.headers.len())..=table.headers.len()).rev() {
        let text = render_columns(table, columns, None);
        if longest_line(&text) <= width {
            return (text, table.headers[columns..].to_vec());
        }
    }
    let mut columns = table.headers.len();
    loop {
        // A long message in a cell (a failed row's error) is cut before any column is left out.
        let text = render_columns(table, columns, Some(width));
        if longest_line(&text) <= width || columns <= 2 {
            return (text, table.headers[columns..].to_vec());
        }
        columns -= 1;
    }
}

fn render_columns(table: &Table, columns: usize, width: Option<usize>) -> String {
    let mut out = comfy_table::Table::new();
    out.load_preset(LIGHT);
    out.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    out.set_header(table.headers[..columns].to_vec());
    // The widest cell of each column but the one being cut decides how much room that one has.
    let widest = |column: usize, skip_row: Option<usize>| {
        let header = table.headers[column].chars().count();
        table
            .rows
            .iter()
            .enumerate()
            .filter(|(index, _)| Some(*index) != skip_row)
            .map(|(_, row)| row.get(column).map_or(0, |cell| cell.chars().count()))
            .fold(header, usize::max)
    };
    for (index, row) in table.rows.iter().enumerate() {
        let mut cells: Vec<String> = row.iter().take(columns).cloned().collect();
        if let Some(width) = width
            && let Some((longest, length)) =
                cells.iter().enumerate().map(|(i, cell)| (i, cell.chars().count())).max_by_key(|(_, n)| *n)
        {
            // Each column takes a space either side and a separator besides its cells.
            let others: usize =
                (0..columns).filter(|&c| c != longest).map(|c| widest(c, None)).sum::<usize>() + 3 * columns + 1;
            let room = width.saturating_sub(others).max(widest(longest, Some(index)).max(8));
            if length > room {
                cells[longest] = cells[longest].chars().take(room.saturating_sub(1)).collect::<String>() + "…";
            }
        }
        out.add_row(cells);
    }
    out.to_string()
}

fn longest_line(text: &str) -> usize {
    text.lines().map(|line| line.chars().count()).max().unwrap_or(0)
}

/// The table in `width` columns, with a line that names the columns left out to fit, if any.
pub fn render_to_width(table: &Table, width: usize) -> String {
    let (text, dropped) = fit_table(table, width);
    if dropped.is_empty() {
        return text;
    }
    text + "\n"
        + &wrap(
            &format!("(left out to fit {width} columns: {}; a wider terminal shows them)", dropped.join(", ")),
            width,
        )
}

/// `text` wrapped at word boundaries to `width` columns; a line that starts with `- ` (a sentence of a list) goes
/// on under its first word, two columns in. Lines that fit are kept as they are.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        let indent = if line.starts_with("- ") { "  " } else { "" };
        let mut current = String::new();
        for word in line.split(' ').flat_map(|word| split_long(word, width.saturating_sub(indent.len()).max(1))) {
            let fits = current.chars().count() + 1 + word.chars().count() <= width;
            if current.is_empty() {
                current.push_str(&word);
            } else if fits || current.trim().is_empty() {
                current.push(' ');
                current.push_str(&word);
            } else {
                out.push_str(current.trim_end());
                out.push('\n');
                current = format!("{indent}{word}");
            }
        }
        out.push_str(current.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}

/// A word longer than `width` (a path) in pieces that fit, cut after a `/` where one falls in the piece.
fn split_long(word: &str, width: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest: Vec<char> = word.chars().collect();
    while rest.len() > width {
        let cut = rest[..width].iter().rposition(|c| *c == '/').map_or(width, |slash| slash + 1);
        pieces.push(rest.drain(..cut).collect());
    }
    pieces.push(rest.into_iter().collect());
    pieces
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
        // A folder that is not there is refused rather than made (a typo would make a tree somewhere).
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(Usage(format!(
                "{flag} {}: its folder {} does not exist; make it first",
                path.display(),
                parent.display()
            )));
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
