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
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(width(c));
            }
        }
        let inner: usize = w.iter().sum::<usize>() + 3 * n - 1;
        if let Some(t) = &self.title {
            // A wide title widens the last column.
            let need = width(t) + 1;
            if need > inner {
                if let Some(last) = w.last_mut() {
                    *last += need - inner;
                }
            }
        }
        let inner: usize = w.iter().sum::<usize>() + 3 * n - 1;
        let bar = |i: usize| i + 1 < n && self.bars.contains(&i);
        let sep = |ch: char, cross: char| {
            let mut s = String::from("+");
            for (i, wi) in w.iter().enumerate() {
                s.push_str(&ch.to_string().repeat(wi + 2));
                s.push(if i + 1 == n {
                    '+'
                } else if bar(i) {
                    cross
                } else {
                    ch
                });
            }
            s
        };
        let row = |cells: &[String]| -> Vec<String> {
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
                    for (i, wi) in w.iter().enumerate() {
                        let c = split[i].get(k).copied().unwrap_or("");
                        let pad = " ".repeat(wi - c.chars().count());
                        if self.right.contains(&i) {
                            s.push_str(&format!(" {pad}{c} "));
                        } else {
                            s.push_str(&format!(" {c}{pad} "));
                        }
                        s.push(if i + 1 == n || bar(i) { '|' } else { ' ' });
                    }
                    s
                })
                .collect()
        };
        let full = |text: &str| format!("| {text:<width$}|", width = inner - 1);
        let mut out = vec![sep('-', '-')];
        if let Some(t) = &self.title {
            out.extend(t.split('\n').map(full));
            out.push(sep('-', '+'));
        }
        out.extend(row(&self.header));
        out.push(sep('=', '+'));
        if self.rows.is_empty() {
            out.push(full(&self.empty));
        }
        for (k, r) in self.rows.iter().enumerate() {
            out.extend(row(r));
            if k + 1 < self.rows.len() && r.iter().any(|c| c.contains('\n')) {
                out.push(sep('-', '+'));
            }
        }
        out.push(sep('-', '+'));
        out.join("\n")
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
