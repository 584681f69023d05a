//! Boxed text tables in the style of `nvidia-smi`.

pub struct Table {
    pub title: Option<String>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Right-align these columns.
    pub right: Vec<usize>,
    pub empty: String,
}

impl Table {
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let inner: usize = w.iter().sum::<usize>() + 3 * n - 2;
        let sep = |ch: char| {
            let mut s = String::from("+");
            for (i, wi) in w.iter().enumerate() {
                s.push_str(&ch.to_string().repeat(wi + 2));
                s.push(if i + 1 == n { '+' } else { ch });
            }
            s
        };
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, wi) in w.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = wi - c.chars().count();
                if self.right.contains(&i) {
                    s.push_str(&format!(" {}{} ", " ".repeat(pad), c));
                } else {
                    s.push_str(&format!(" {}{} ", c, " ".repeat(pad)));
                }
                s.push(if i + 1 == n { '|' } else { ' ' });
            }
            s
        };
        let mut out = Vec::new();
        out.push(sep('-'));
        if let Some(t) = &self.title {
            out.push(format!("| {t:<width$}|", width = inner));
            out.push(sep('-'));
        }
        out.push(line(&self.header));
        out.push(sep('='));
        if self.rows.is_empty() {
            out.push(format!("| {:<width$}|", self.empty, width = inner));
        }
        for r in &self.rows {
            out.push(line(r));
        }
        out.push(sep('-'));
        out.join("\n")
    }
}
