//! What the commands print and how: aligned tables and short confirmations for people, or the
//! admin API's JSON schema (`-o json`, `docs/admin-api.md`) for scripts.
//!
//! Everything goes through [`Out`], which writes with `writeln!` rather than `println!`: when
//! the reader of stdout goes away (`keel consume ... | head`), a write fails with
//! `BrokenPipe`, which becomes [`CliError::StdoutClosed`] and a quiet exit with status 0
//! instead of a panic.

use std::io::{BufWriter, ErrorKind, Stdout, Write};

use serde::Serialize;

/// `-o/--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables and short sentences.
    Table,
    /// The admin API's JSON (one object per record for `consume`).
    Json,
}

/// Why a command stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    /// Something the user should read on stderr; the exit status is 1.
    Failed(String),
    /// Stdout was closed by its reader: nothing more to say, exit 0.
    StdoutClosed,
}

impl CliError {
    pub fn failed(message: impl Into<String>) -> CliError {
        CliError::Failed(message.into())
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Failed(message)
    }
}

/// A write error on stdout: a closed pipe is a normal end, anything else a failure.
fn write_error(e: std::io::Error) -> CliError {
    if e.kind() == ErrorKind::BrokenPipe {
        CliError::StdoutClosed
    } else {
        CliError::Failed(format!("cannot write to stdout: {e}"))
    }
}

/// Buffered stdout that reports a closed pipe as [`CliError::StdoutClosed`].
pub struct Out {
    w: BufWriter<Stdout>,
}

impl Default for Out {
    fn default() -> Self {
        Out { w: BufWriter::new(std::io::stdout()) }
    }
}

impl Out {
    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<(), CliError> {
        writeln!(self.w, "{text}").map_err(write_error)
    }

    /// Writes `text` as it is (a rendered table ends with its own newline).
    pub fn text(&mut self, text: &str) -> Result<(), CliError> {
        self.w.write_all(text.as_bytes()).map_err(write_error)
    }

    /// Pushes what is buffered to the reader.
    pub fn flush(&mut self) -> Result<(), CliError> {
        self.w.flush().map_err(write_error)
    }

    /// `value` as indented JSON (`-o json`), or what `human` makes of it.
    pub fn show<T: Serialize>(
        &mut self,
        format: Format,
        value: &T,
        human: impl FnOnce(&T) -> String,
    ) -> Result<(), CliError> {
        match format {
            Format::Json => self.line(&pretty(value)),
            Format::Table => self.text(&ensure_newline(human(value))),
        }
    }
}

/// `value` as indented JSON.
pub fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"cannot encode: {e}\"}}"))
}

/// `value` as JSON on one line (JSON Lines).
pub fn compact<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\": \"cannot encode: {e}\"}}"))
}

fn ensure_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Columns aligned on their widest cell (in characters), two spaces apart; a header row in
/// capitals. The last column is not padded, so no line ends in spaces.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_uppercase()).collect(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            out.push_str(&render_row(row, &widths));
            out.push('\n');
        }
        out
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }
}

fn render_row(row: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        if i + 1 < row.len() {
            line.push_str(&" ".repeat(width.saturating_sub(cell.chars().count())));
        }
    }
    line.trim_end().to_string()
}

/// `name: value` lines with the values aligned, for the header of a describe.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.chars().count() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let key = format!("{k}:");
        out.push_str(format!("{key:<width$}  {v}").trim_end());
        out.push('\n');
    }
    out
}

/// A node list as `1,2,3` (`-` when empty).
pub fn ids(ids: &[u64]) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Milliseconds in the largest unit that divides them exactly: `7d`, `2h`, `15m`, `90s`,
/// `1500ms` (the units `--from-time` takes).
pub fn duration_ms(ms: u64) -> String {
    exact_unit(ms, &[("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)], "ms")
}

/// Bytes in the largest binary unit that divides them exactly: `1GiB`, `512KiB`, `1000B`.
pub fn bytes(n: u64) -> String {
    exact_unit(n, &[("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)], "B")
}

/// A size to a tenth of its unit: `512B`, `1.5KiB`, `20.0MiB`.
pub fn size(n: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", units[unit])
}

/// `n` in the first of `units` (largest first) that divides it, else in the base unit.
fn exact_unit(n: u64, units: &[(&str, u64)], base: &str) -> String {
    match units.iter().find(|(_, unit)| n > 0 && n.is_multiple_of(*unit)) {
        Some((name, unit)) => format!("{}{name}", n / unit),
        None => format!("{n}{base}"),
    }
}

/// An optional value, `-` when absent.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_line_ends() {
        let mut t = Table::new(&["partition", "leader", "isr"]);
        t.row(vec!["0".into(), "1".into(), "1,2,3".into()]);
        t.row(vec!["10".into(), "-".into(), "-".into()]);
        let expected = "PARTITION  LEADER  ISR\n0          1       1,2,3\n10         -       -\n";
        assert_eq!(t.render(), expected);
    }

    #[test]
    fn table_widens_for_long_cells_and_pads_short_rows() {
        let mut t = Table::new(&["name", "engine"]);
        t.row(vec!["a-very-long-topic".into()]);
        t.row(vec!["é".into(), "memory".into(), "dropped".into()]);
        assert_eq!(t.render(), "NAME               ENGINE\na-very-long-topic\né                  memory\n");
    }

    #[test]
    fn fields_align_values() {
        let s = fields(&[("topic", "orders".into()), ("partitions", "3".into()), ("retention", String::new())]);
        assert_eq!(s, "topic:       orders\npartitions:  3\nretention:\n");
    }

    #[test]
    fn id_lists_and_absent_values() {
        assert_eq!(ids(&[1, 2, 3]), "1,2,3");
        assert_eq!(ids(&[]), "-");
        assert_eq!(opt(Some(4)), "4");
        assert_eq!(opt::<u64>(None), "-");
    }

    #[test]
    fn durations_and_sizes_in_exact_units() {
        assert_eq!(duration_ms(86_400_000), "1d");
        assert_eq!(duration_ms(7_200_000), "2h");
        assert_eq!(duration_ms(60_000), "1m");
        assert_eq!(duration_ms(90_000), "90s");
        assert_eq!(duration_ms(1_500), "1500ms");
        assert_eq!(duration_ms(0), "0ms");
        assert_eq!(bytes(1 << 30), "1GiB");
        assert_eq!(bytes(3 << 20), "3MiB");
        assert_eq!(bytes(1000), "1000B");
        assert_eq!(bytes(0), "0B");
        assert_eq!(size(512), "512B");
        assert_eq!(size(1536), "1.5KiB");
        assert_eq!(size(20 << 20), "20.0MiB");
        assert_eq!(size(u64::MAX), "16777216.0TiB");
    }

    #[test]
    fn a_closed_pipe_is_a_quiet_end() {
        let e = write_error(std::io::Error::from(ErrorKind::BrokenPipe));
        assert_eq!(e, CliError::StdoutClosed);
        assert!(matches!(write_error(std::io::Error::from(ErrorKind::Other)), CliError::Failed(_)));
    }
}
