//! Printing the tables that `list` and `find` produce, in the formats of
//! `ovs-vsctl`:
//!
//! - `list` (the default): one `column : value` line per column (names
//!   padded to 20 characters), a blank line between records;
//! - `table`: aligned columns under a heading row and a row of dashes;
//! - `csv` (RFC 4180), `html`;
//! - `json`: `{"data":[[cell,...],...],"headings":[...]}` with cells in
//!   OVSDB's JSON notation.
//!
//! In the text formats a cell is printed as `--data` says: `string` (the
//! value syntax of the command line), `bare` (no quotes or brackets) or
//! `json`. Every table but the first that one invocation prints is
//! preceded by a blank line (not in `json`).

use super::value::{datum_to_bare, datum_to_string};
use rvs_ovsdb::types::{ColumnType, Datum};
use serde_json::{json, Value};

/// How tables are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    List,
    Table,
    Csv,
    Html,
    Json,
}

impl Format {
    /// Parses a `--format` argument.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "list" => Format::List,
            "table" => Format::Table,
            "csv" => Format::Csv,
            "html" => Format::Html,
            "json" => Format::Json,
            _ => return None,
        })
    }
}

/// How cells are written in the text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    String,
    Bare,
    Json,
}

impl DataFormat {
    /// Parses a `--data` argument.
    pub fn parse(s: &str) -> Option<DataFormat> {
        Some(match s {
            "string" => DataFormat::String,
            "bare" => DataFormat::Bare,
            "json" => DataFormat::Json,
            _ => return None,
        })
    }
}

/// The table formatting options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub format: Format,
    pub data: DataFormat,
    pub headings: bool,
    pub pretty: bool,
    pub max_width: Option<usize>,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            format: Format::List,
            data: DataFormat::String,
            headings: true,
            pretty: false,
            max_width: None,
        }
    }
}

/// One cell: a column's value and type.
#[derive(Debug, Clone)]
pub struct Cell {
    pub datum: Datum,
    pub ty: ColumnType,
}

/// A table of records to print.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headings: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Style {
    fn cell_text(&self, c: &Cell) -> String {
        match self.data {
            DataFormat::String => datum_to_string(&c.datum, &c.ty),
            DataFormat::Bare => datum_to_bare(&c.datum),
            DataFormat::Json => c.datum.to_json().to_string(),
        }
    }

    /// Renders `t`. `first` says whether it is the first table the
    /// invocation prints.
    pub fn render(&self, t: &Table, first: bool) -> String {
        let mut out = String::new();
        if !first && self.format != Format::Json {
            out.push('\n');
        }
        match self.format {
            Format::List => self.render_list(t, &mut out),
            Format::Table => self.render_table(t, &mut out),
            Format::Csv => self.render_csv(t, &mut out),
            Format::Html => self.render_html(t, &mut out),
            Format::Json => self.render_json(t, &mut out),
        }
        out
    }

    fn render_list(&self, t: &Table, out: &mut String) {
        for (i, row) in t.rows.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            for (h, c) in t.headings.iter().zip(row) {
                if self.headings {
                    out.push_str(&format!("{h:<20}: "));
                }
                out.push_str(&self.cell_text(c));
                out.push('\n');
            }
        }
    }

    fn render_table(&self, t: &Table, out: &mut String) {
        let truncate = |s: String| match self.max_width {
            Some(w) if s.chars().count() > w => s.chars().take(w).collect(),
            _ => s,
        };
        let cells: Vec<Vec<String>> = t
            .rows
            .iter()
            .map(|r| r.iter().map(|c| truncate(self.cell_text(c))).collect())
            .collect();
        let mut widths: Vec<usize> = t
            .headings
            .iter()
            .map(|h| if self.headings { h.chars().count() } else { 0 })
            .collect();
        for r in &cells {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |items: Vec<String>, out: &mut String| {
            let n = items.len();
            for (i, (s, w)) in items.into_iter().zip(&widths).enumerate() {
                if i + 1 < n {
                    out.push_str(&format!("{s:<w$} "));
                } else {
                    out.push_str(&s);
                }
            }
            out.push('\n');
        };
        if self.headings {
            line(t.headings.clone(), out);
            line(widths.iter().map(|w| "-".repeat(*w)).collect(), out);
        }
        for r in cells {
            line(r, out);
        }
    }

    fn render_csv(&self, t: &Table, out: &mut String) {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        if self.headings {
            let h: Vec<String> = t.headings.iter().map(|h| quote(h)).collect();
            out.push_str(&h.join(","));
            out.push('\n');
        }
        for r in &t.rows {
            let cells: Vec<String> = r.iter().map(|c| quote(&self.cell_text(c))).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }

    fn render_html(&self, t: &Table, out: &mut String) {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        out.push_str("<table>\n");
        if self.headings {
            out.push_str("  <tr>\n");
            for h in &t.headings {
                out.push_str(&format!("    <th>{}</th>\n", esc(h)));
            }
            out.push_str("  </tr>\n");
        }
        for r in &t.rows {
            out.push_str("  <tr>\n");
            for c in r {
                out.push_str(&format!("    <td>{}</td>\n", esc(&self.cell_text(c))));
            }
            out.push_str("  </tr>\n");
        }
        out.push_str("</table>\n");
    }

    fn render_json(&self, t: &Table, out: &mut String) {
        let data: Vec<Value> = t
            .rows
            .iter()
            .map(|r| Value::Array(r.iter().map(|c| c.datum.to_json()).collect()))
            .collect();
        let v = json!({"data": data, "headings": t.headings});
        let text = if self.pretty {
            serde_json::to_string_pretty(&v)
        } else {
            serde_json::to_string(&v)
        };
        out.push_str(&text.unwrap_or_default());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_ovsdb::types::Atom;

    fn table() -> Table {
        let s = ColumnType::from_json(&json!("string")).unwrap();
        let m = ColumnType::from_json(
            &json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}),
        )
        .unwrap();
        let cell = |d: Datum, ty: &ColumnType| Cell {
            datum: d,
            ty: ty.clone(),
        };
        let name = |n: &str| Datum::scalar(Atom::String(n.into()));
        let opts = |kv: &[(&str, &str)]| {
            Datum::Map(
                kv.iter()
                    .map(|(k, v)| (Atom::String(k.to_string()), Atom::String(v.to_string())))
                    .collect(),
            )
        };
        Table {
            headings: vec!["name".into(), "options".into()],
            rows: vec![
                vec![cell(name("eth0"), &s), cell(opts(&[("foo", "bar")]), &m)],
                vec![cell(name("br0"), &s), cell(opts(&[]), &m)],
            ],
        }
    }

    #[test]
    fn list_format() {
        let st = Style::default();
        assert_eq!(
            st.render(&table(), true),
            "name                : eth0\noptions             : {foo=bar}\n\n\
             name                : br0\noptions             : {}\n"
        );
        assert!(st.render(&table(), false).starts_with("\nname"));
        let bare = Style {
            data: DataFormat::Bare,
            headings: false,
            ..Style::default()
        };
        assert_eq!(bare.render(&table(), true), "eth0\nfoo=bar\n\nbr0\n\n");
    }

    #[test]
    fn table_format() {
        let st = Style {
            format: Format::Table,
            ..Style::default()
        };
        assert_eq!(
            st.render(&table(), true),
            "name options\n---- ---------\neth0 {foo=bar}\nbr0  {}\n"
        );
    }

    #[test]
    fn json_and_csv_formats() {
        let st = Style {
            format: Format::Json,
            ..Style::default()
        };
        assert_eq!(
            st.render(&table(), false),
            "{\"data\":[[\"eth0\",[\"map\",[[\"foo\",\"bar\"]]]],[\"br0\",[\"map\",[]]]],\"headings\":[\"name\",\"options\"]}\n"
        );
        let csv = Style {
            format: Format::Csv,
            ..Style::default()
        };
        assert_eq!(
            csv.render(&table(), true),
            "name,options\neth0,{foo=bar}\nbr0,{}\n"
        );
    }
}
