//! The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, then samples.

use std::fmt::Write;

#[derive(Default)]
pub struct Text {
    out: String,
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers without a fraction, `+Inf` for infinity.
fn value(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

impl Text {
    /// Starts a metric family: `kind` is `gauge`, `counter` or `histogram`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.out, " {}", value(v));
    }

    /// A histogram's `_bucket`, `_sum` and `_count` samples.
    pub fn histogram(&mut self, name: &str, h: &super::histogram::Histogram) {
        self.labelled_histogram(name, &[], h);
    }

    /// [`Text::histogram`] with labels on every sample (`le` last on the buckets).
    pub fn labelled_histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        h: &super::histogram::Histogram,
    ) {
        for (le, n) in h.cumulative() {
            let le = le.map(value).unwrap_or_else(|| "+Inf".into());
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &l, n as f64);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        let mut t = Text::default();
        t.family("x_total", "counter", "a \\ b\nc");
        t.sample("x_total", &[("a", "q\"\\\n")], 3.0);
        t.sample("y", &[], 0.25);
        let s = t.finish();
        assert_eq!(
            s,
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{a=\"q\\\"\\\\\\n\"} 3\ny 0.25\n"
        );
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(0.00001), "0.00001");
    }
}
