//! Reporting a failed `create` the way runc does, so the message reaches the user.
//!
//! containerd-shim-runc-v2 and dockerd only show what the runtime wrote to the file named by
//! runc's global `--log` flag: with `--log-format json` (what they pass), the last
//! `{"level":"error","msg":...}` line becomes `OCI runtime create failed: <msg>: unknown`.
//! Text on stderr alone is lost.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC time (`2024-05-01T12:34:56Z`), without a date crate.
pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The line runc would write for an error, in `json` (default) or `text` format.
pub fn error_line(msg: &str, format: Option<&str>) -> String {
    let time = rfc3339_now();
    if format == Some("text") {
        let q = serde_json::to_string(msg).unwrap_or_else(|_| format!("{msg:?}"));
        format!("time=\"{time}\" level=error msg={q}\n")
    } else {
        let v = serde_json::json!({"level": "error", "msg": msg, "time": time});
        format!("{v}\n")
    }
}

/// Writes `msg` to runc's `--log` file (when given) and to stderr.
pub fn report(log: Option<&Path>, format: Option<&str>, msg: &str) {
    if let Some(path) = log {
        let line = error_line(msg, format);
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = r {
            eprintln!(
                "dynamig-runc: cannot write to the runc log {}: {e}",
                path.display()
            );
        }
    }
    eprintln!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_566_896), "2024-05-01T12:34:56Z");
    }

    #[test]
    fn json_line_is_what_containerd_reads() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("log.json");
        report(Some(&p), Some("json"), "dynamig: bad \"x\"");
        let s = std::fs::read_to_string(&p).unwrap();
        assert_eq!(s.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "dynamig: bad \"x\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert!(error_line("m", Some("text")).starts_with("time=\""));
    }
}
