//! The doctor's output: one line per finding, `[tag] what: text`, with indented details; a
//! `FAIL` anywhere marks the node not ready.

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Ok,
    Warn,
    Fail,
    Info,
}

pub(super) struct Report<'a> {
    pub(super) out: &'a mut dyn Write,
    pub(super) failed: bool,
}

impl Report<'_> {
    pub(super) fn line(&mut self, v: Verdict, what: &str, text: &str) {
        let tag = match v {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Info => "info",
        };
        if v == Verdict::Fail {
            self.failed = true;
        }
        let _ = writeln!(self.out, "[{tag}] {what}: {text}");
    }

    pub(super) fn detail(&mut self, text: &str) {
        let _ = writeln!(self.out, "         - {text}");
    }
}
