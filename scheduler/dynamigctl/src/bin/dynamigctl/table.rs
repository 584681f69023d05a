//! Boxed text tables in the style of `nvidia-smi`: a title box, a header of one or more lines,
//! `=` under the header, cells that may span several lines, and `|` between column groups.

pub struct Table {
    pub title: Option<String>,
    /// Column headers; a `\n` in a header starts a second header line.
    pub header: Vec<String>,
    /// Rows of cells; a `\n` in a cell continues it on the next line.
    pub rows: Vec<Vec<String>>,
    /// Right-align these columns.
    pub right: Vec<usize>,
    /// Draw a `|` after these columns (column groups, as `nvidia-smi` does).
    pub bars: Vec<usize>,
    pub empty: String,
}

fn width(s: &str) -> usize {
    s.split('\n').map(|l| l.chars().count()).max().unwrap_or(0)
}

impl Table {
    pub fn render(&self) -> String {
        let l = Layout::new(self);
        let mut out = vec![l.sep('-', '-')];
        if let Some(t) = &self.title {
            out.extend(t.split('\n').map(|line| l.full(line)));
            out.push(l.sep('-', '+'));
        }
        out.extend(l.row(&self.header));
        out.push(l.sep('=', '+'));
        if self.rows.is_empty() {
            out.push(l.full(&self.empty));
        }
        for (k, r) in self.rows.iter().enumerate() {
            out.extend(l.row(r));
            if k + 1 < self.rows.len() && r.iter().any(|c| c.contains('\n')) {
                out.push(l.sep('-', '+'));
            }
        }
        out.push(l.sep('-', '+'));
        out.join("\n")
    }
}

/// A table's column widths, fitted to its header, rows and title.
struct Layout<'a> {
    t: &'a Table,
    /// Each column's width.
    w: Vec<usize>,
    /// The width inside the outer `|`s.
    inner: usize,
}

impl<'a> Layout<'a> {
    fn new(t: &'a Table) -> Self {
        let n = t.header.len();
        let mut w: Vec<usize> = t.header.iter().map(|h| width(h)).collect();
        for r in &t.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(width(c));
            }
        }
        let inner: usize = w.iter().sum::<usize>() + 3 * n - 1;
        if let Some(title) = &t.title {
            // A wide title widens the last column.
            let need = width(title) + 1;
            if need > inner {
                if let Some(last) = w.last_mut() {
                    *last += need - inner;
                }
            }
        }
        let inner: usize = w.iter().sum::<usize>() + 3 * n - 1;
        Layout { t, w, inner }
    }

    /// A `|` after column `i` (not after the last one, which always has its `|`).
    fn bar(&self, i: usize) -> bool {
        i + 1 < self.w.len() && self.t.bars.contains(&i)
    }

    /// A rule of `ch`, with `cross` where a column group ends.
    fn sep(&self, ch: char, cross: char) -> String {
        let n = self.w.len();
        let mut s = String::from("+");
        for (i, wi) in self.w.iter().enumerate() {
            s.push_str(&ch.to_string().repeat(wi + 2));
            s.push(if i + 1 == n {
                '+'
            } else if self.bar(i) {
                cross
            } else {
                ch
            });
        }
        s
    }

    /// The lines of one row: as many as its tallest cell.
    fn row(&self, cells: &[String]) -> Vec<String> {
        let n = self.w.len();
        let split: Vec<Vec<&str>> = (0..n)
            .map(|i| {
                cells
                    .get(i)
                    .map(|c| c.split('\n').collect())
                    .unwrap_or_default()
            })
            .collect();
        let height = split.iter().map(Vec::len).max().unwrap_or(1).max(1);
        (0..height)
            .map(|k| {
                let mut s = String::from("|");
                for (i, wi) in self.w.iter().enumerate() {
                    let c = split[i].get(k).copied().unwrap_or("");
                    let pad = " ".repeat(wi - c.chars().count());
                    if self.t.right.contains(&i) {
                        s.push_str(&format!(" {pad}{c} "));
                    } else {
                        s.push_str(&format!(" {c}{pad} "));
                    }
                    s.push(if i + 1 == n || self.bar(i) { '|' } else { ' ' });
                }
                s
            })
            .collect()
    }

    /// One line across the whole table (the title, the empty-table text).
    fn full(&self, text: &str) -> String {
        format!("| {text:<width$}|", width = self.inner - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_cells_and_groups_line_up() {
        let t = Table {
            title: Some("T".into()),
            header: vec!["A\nid".into(), "B".into(), "C".into()],
            rows: vec![
                vec!["1".into(), "x\nyy".into(), "z".into()],
                vec!["22".into(), "w".into(), "v".into()],
            ],
            right: vec![0],
            bars: vec![0],
            empty: "none".into(),
        };
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        let w = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == w), "{s}");
        assert_eq!(
            lines,
            vec![
                "+-------------+",
                "| T           |",
                "+----+--------+",
                "|  A | B    C |",
                "| id |        |",
                "+====+========+",
                "|  1 | x    z |",
                "|    | yy     |",
                "+----+--------+",
                "| 22 | w    v |",
                "+----+--------+",
            ]
        );
    }
}
