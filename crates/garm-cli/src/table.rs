//! A small box-drawing table renderer that looks like go-pretty's default style.

use std::fmt::Write as _;

/// Longest value-column line in a Field/Value table before it is wrapped, as in garm.
const FIELD_VALUE_WIDTH_MAX: usize = 100;

/// How a cell's text is placed inside its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One table cell; numbers are right-aligned like go-pretty does for numeric values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    text: String,
    align: Align,
}

impl Cell {
    /// A right-aligned cell, for numbers.
    pub fn num(value: impl std::fmt::Display) -> Self {
        Cell {
            text: value.to_string(),
            align: Align::Right,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell {
            text,
            align: Align::Left,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::from(text.to_string())
    }
}

impl From<bool> for Cell {
    fn from(value: bool) -> Self {
        Cell::from(value.to_string())
    }
}

/// How many columns a list view shows: `--long` adds times and details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    Short,
    Long,
}

impl Columns {
    /// `Long` when the `--long` flag was given.
    pub fn from_flag(long: bool) -> Self {
        if long {
            Self::Long
        } else {
            Self::Short
        }
    }
}

/// A table with an upper-cased header row, rendered with `+---+` borders.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
    /// Draw a separator line between data rows (garm's list views call `AppendSeparator`).
    separate_rows: bool,
    /// Blank out a first-column value equal to the one above it (go-pretty's vertical auto-merge).
    merge_first_column: bool,
    /// Hard-wrap the last column at this many characters.
    last_column_width_max: Option<usize>,
}

impl Table {
    /// A list view: one row per object, separated by lines.
    pub fn list<S: AsRef<str>>(header: &[S]) -> Self {
        Table {
            header: header.iter().map(|h| h.as_ref().to_string()).collect(),
            separate_rows: true,
            ..Table::default()
        }
    }

    /// A `Field`/`Value` view of one object; repeated field names are merged.
    pub fn fields() -> Self {
        Table {
            header: vec!["Field".to_string(), "Value".to_string()],
            merge_first_column: true,
            last_column_width_max: Some(FIELD_VALUE_WIDTH_MAX),
            ..Table::default()
        }
    }

    /// Appends a row; missing trailing cells render empty.
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Appends a `Field`/`Value` row.
    pub fn field(&mut self, name: &str, value: impl Into<Cell>) {
        self.rows.push(vec![Cell::from(name), value.into()]);
    }

    /// Renders the table without a trailing newline.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.header.len()))
            .max()
            .unwrap_or(0);
        if columns == 0 {
            return String::new();
        }
        let header: Vec<Vec<String>> = (0..columns)
            .map(|i| {
                let text = self.header.get(i).map(String::as_str).unwrap_or("");
                lines(&text.to_uppercase(), None)
            })
            .collect();
        let empty = Cell::from("");
        let mut body: Vec<Vec<(Vec<String>, Align)>> = Vec::with_capacity(self.rows.len());
        let mut previous_first: Option<&str> = None;
        for row in &self.rows {
            let mut rendered = Vec::with_capacity(columns);
            for i in 0..columns {
                let cell = row.get(i).unwrap_or(&empty);
                let mut text = cell.text.as_str();
                if i == 0 && self.merge_first_column {
                    if previous_first == Some(cell.text.as_str()) && !text.is_empty() {
                        text = "";
                    }
                    previous_first = Some(cell.text.as_str());
                }
                let width_max = if i + 1 == columns {
                    self.last_column_width_max
                } else {
                    None
                };
                rendered.push((lines(text, width_max), cell.align));
            }
            body.push(rendered);
        }
        let mut widths = vec![0usize; columns];
        let all_lines = header
            .iter()
            .enumerate()
            .chain(body.iter().flat_map(|row| row.iter().map(|(l, _)| l).enumerate()));
        for (i, cell_lines) in all_lines {
            for line in cell_lines {
                widths[i] = widths[i].max(line.chars().count());
            }
        }

        let border = border_line(&widths);
        let mut out = String::new();
        out.push_str(&border);
        let header_cells: Vec<(Vec<String>, Align)> = header.into_iter().map(|l| (l, Align::Left)).collect();
        write_row(&mut out, &header_cells, &widths);
        out.push_str(&border);
        for (n, row) in body.iter().enumerate() {
            if n > 0 && self.separate_rows {
                out.push_str(&border);
            }
            write_row(&mut out, row, &widths);
        }
        if !body.is_empty() {
            out.push_str(&border);
        }
        out.truncate(out.trim_end_matches('\n').len());
        out
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// Splits a cell into lines, hard-wrapping each at `width_max` characters.
fn lines(text: &str, width_max: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r').replace('\t', "    ");
        match width_max {
            Some(max) if max > 0 && line.chars().count() > max => {
                let chars: Vec<char> = line.chars().collect();
                out.extend(chars.chunks(max).map(|c| c.iter().collect::<String>()));
            }
            _ => out.push(line),
        }
    }
    out
}

fn border_line(widths: &[usize]) -> String {
    let mut line = String::from("+");
    for width in widths {
        line.push_str(&"-".repeat(width + 2));
        line.push('+');
    }
    line.push('\n');
    line
}

fn write_row(out: &mut String, cells: &[(Vec<String>, Align)], widths: &[usize]) {
    let height = cells.iter().map(|(l, _)| l.len()).max().unwrap_or(1);
    for n in 0..height {
        out.push('|');
        for ((cell_lines, align), width) in cells.iter().zip(widths) {
            let text = cell_lines.get(n).map(String::as_str).unwrap_or("");
            let _ = match align {
                Align::Left => write!(out, " {text:<width$} |"),
                Align::Right => write!(out, " {text:>width$} |"),
            };
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_table_has_upper_case_header_borders_and_row_separators() {
        let mut table = Table::list(&["ID", "Name"]);
        table.row(vec![Cell::num(1), "alpha".into()]);
        table.row(vec![Cell::num(22), "b".into()]);
        let expected = "\
+----+-------+
| ID | NAME  |
+----+-------+
|  1 | alpha |
+----+-------+
| 22 | b     |
+----+-------+";
        assert_eq!(table.render(), expected);
    }

    #[test]
    fn empty_list_renders_only_the_header_box() {
        let table = Table::list(&["Name", "Base URL"]);
        let expected = "\
+------+----------+
| NAME | BASE URL |
+------+----------+";
        assert_eq!(table.render(), expected);
    }

    #[test]
    fn field_table_merges_repeated_field_names_and_has_no_row_separators() {
        let mut table = Table::fields();
        table.field("ID", "abc");
        table.field("Pools", "p1");
        table.field("Pools", "p2");
        table.field("Enabled", true);
        let expected = "\
+---------+-------+
| FIELD   | VALUE |
+---------+-------+
| ID      | abc   |
| Pools   | p1    |
|         | p2    |
| Enabled | true  |
+---------+-------+";
        assert_eq!(table.render(), expected);
    }

    #[test]
    fn multi_line_and_overlong_values_span_several_lines() {
        let mut table = Table::fields();
        table.field("Key", "a\nbb");
        let long = "x".repeat(FIELD_VALUE_WIDTH_MAX + 3);
        table.field("Long", long.as_str());
        let rendered = table.render();
        assert!(rendered.contains("| Key   | a   "), "{rendered}");
        assert!(rendered.contains("|       | bb  "), "{rendered}");
        assert!(rendered.contains(&format!("| {} |", "x".repeat(FIELD_VALUE_WIDTH_MAX))));
        assert!(rendered.contains(&format!("|       | xxx{} |", " ".repeat(97))));
    }

    #[test]
    fn short_rows_are_padded_with_empty_cells() {
        let mut table = Table::list(&["A", "B"]);
        table.row(vec!["only".into()]);
        assert_eq!(
            table.render(),
            "+------+---+\n| A    | B |\n+------+---+\n| only |   |\n+------+---+"
        );
    }
}
