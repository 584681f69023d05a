//! Boxed text tables in the style of `nvidia-smi`: a title box, a header of one or more lines,
//! `=` under the header, cells that may span several lines, and `|` between column groups.
//! A table can be laid out to a fixed width ([`Table::fill`]): one column takes what the others
//! leave, so the table keeps its width from one redraw to the next.

#[derive(Default)]
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
    /// Two spaces between the columns of a group instead of three (`GPU  GI  CI  MIG`).
    pub tight: bool,
    /// Each column at least this wide (by index; missing entries are 0).
    pub min: Vec<usize>,
    /// `(column, width)`: that column takes the room the others leave in a table `width`
    /// characters wide; its cells are cut to it ([`fit`]). The table is then as wide whatever
    /// its rows (unless the other columns alone are wider).
    pub fill: Option<(usize, usize)>,
}

/// `s`, cut to `n` characters with `...` at the end when it is longer.
pub fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let keep = n.saturating_sub(3);
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(&".".repeat(n - keep));
    out
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
        let fill = t.fill.map(|(c, _)| c);
        for r in &t.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                if fill != Some(i) {
                    w[i] = w[i].max(width(c));
                }
            }
        }
        for (wi, m) in w.iter_mut().zip(&t.min) {
            *wi = (*wi).max(*m);
        }
        let inner = |w: &[usize]| {
            let gaps: usize = (0..n.saturating_sub(1))
                .map(|i| usize::from(!t.tight || t.bars.contains(&i)))
                .sum();
            w.iter().sum::<usize>() + 2 * n + gaps
        };
        if let Some((col, total)) = t.fill {
            let have = inner(&w) + 2;
            if let Some(c) = w.get_mut(col) {
                *c += total.saturating_sub(have);
            }
        }
        if let Some(title) = &t.title {
            // A wide title widens the last column.
            let need = width(title) + 1;
            let have = inner(&w);
            if need > have {
                if let Some(last) = w.last_mut() {
                    *last += need - have;
                }
            }
        }
        let inner = inner(&w);
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
            if i + 1 == n {
                s.push('+');
            } else if self.bar(i) {
                s.push(cross);
            } else if !self.t.tight {
                s.push(ch);
            }
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
                    let cut;
                    let c = if self.t.fill.is_some_and(|(f, _)| f == i) {
                        cut = fit(c, *wi);
                        cut.as_str()
                    } else {
                        c
                    };
                    let pad = " ".repeat(wi - c.chars().count());
                    if self.t.right.contains(&i) {
                        s.push_str(&format!(" {pad}{c} "));
                    } else {
                        s.push_str(&format!(" {c}{pad} "));
                    }
                    if i + 1 == n || self.bar(i) {
                        s.push('|');
                    } else if !self.t.tight {
                        s.push(' ');
                    }
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
            ..Table::default()
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

    #[test]
    fn a_filled_table_keeps_its_width_and_a_tight_group_two_spaces() {
        let t = |rows: Vec<Vec<String>>| Table {
            header: vec!["GPU".into(), "GI".into(), "Holder".into()],
            rows,
            right: vec![0, 1],
            bars: vec![1],
            tight: true,
            fill: Some((2, 30)),
            ..Table::default()
        };
        let short = t(vec![vec!["0".into(), "3".into(), "a".into()]]).render();
        let long = t(vec![vec![
            "0".into(),
            "13".into(),
            "ns/a-long-holder-id".into(),
        ]])
        .render();
        for s in [&short, &long] {
            assert!(s.lines().all(|l| l.chars().count() == 30), "{s}");
        }
        assert!(short.contains("| GPU  GI | Holder"), "{short}");
        assert!(long.contains("| ns/a-long-hol... |"), "{long}");
    }
}
