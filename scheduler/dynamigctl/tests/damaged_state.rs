//! Damaged, foreign or redirected state, through every `dynamigctl` entry point: a truncated,
//! zero-length, future-version, bad-checksum or symlinked `state.json` (or `sim.json`) is
//! reported in one line, never trusted, never reset, and never written through; a state
//! directory that others may write to, or that someone else owns, is refused.

mod common;
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn damages(good: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let text = String::from_utf8(good.to_vec()).unwrap();
    let mut flipped = good.to_vec();
    let last = flipped.len() - 5;
    flipped[last] ^= 0x20;
    vec![
        (
            "truncated",
            good[..good.len() * 2 / 3].to_vec(),
            "truncated",
        ),
        ("zero length", Vec::new(), "empty"),
        (
            "future version",
            text.replacen(" v1 ", " v7 ", 1)
                .replacen(" v2 ", " v7 ", 1)
                .into_bytes(),
            "newer dynamig",
        ),
        ("bad checksum", flipped, "checksum"),
        (
            "no header",
            text.lines()
                .skip(1)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            "damaged",
        ),
    ]
}

fn refused_everywhere(c: &Ctl, file: &std::path::Path, what: &str, needle: &str) {
    let before = std::fs::read(file).ok();
    for args in [
        &["status"][..],
        &["allocate", "new", "--gpu-memory", "5GB"][..],
        &["release", "a"][..],
        &["gc"][..],
    ] {
        let o = c.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what} {args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what} {args:?}: {err}");
        assert!(err.contains(needle), "{what} {args:?}: {err}");
        assert_eq!(
            std::fs::read(file).ok(),
            before,
            "{what} {args:?}: file changed"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(c.state_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{what}: {leftovers:?}");
}

#[test]
fn damaged_state_and_sim_files_are_refused_and_kept() {
    for name in ["state.json", "sim.json"] {
        let c = Ctl::new();
        c.ok(&["sim", "init", "a100-40gb"]);
        c.ok(&["allocate", "a", "--gpu-memory", "10GB"]);
        let path = c.state_dir().join(name);
        let good = std::fs::read(&path).unwrap();
        for (what, bytes, needle) in damages(&good) {
            std::fs::write(&path, &bytes).unwrap();
            refused_everywhere(&c, &path, &format!("{name} {what}"), needle);
        }
        std::fs::write(&path, &good).unwrap();
        c.ok(&["status"]);
    }
}

#[test]
fn symlinked_state_files_are_never_read_or_written_through() {
    for name in ["state.json", "sim.json"] {
        let c = Ctl::new();
        c.ok(&["sim", "init", "a100-40gb"]);
        c.ok(&["allocate", "a", "--gpu-memory", "10GB"]);
        let path = c.state_dir().join(name);
        // The link points at a valid state file elsewhere, e.g. one an attacker controls.
        let elsewhere = c.dir.path().join(format!("elsewhere-{name}"));
        std::fs::rename(&path, &elsewhere).unwrap();
        let target = std::fs::read(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        refused_everywhere(&c, &path, &format!("{name} symlink"), "symbolic link");
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read(&elsewhere).unwrap(),
            target,
            "written through the link"
        );
    }
}

#[test]
fn unsafe_state_directories_are_refused() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    let d = c.state_dir();
    assert_eq!(
        std::fs::metadata(&d).unwrap().mode() & 0o777,
        0o700,
        "created 0700"
    );
    for mode in [0o770, 0o707, 0o777] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        let o = c.run(&["status"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{mode:o}: {err}");
        assert!(err.contains("writable by group or others"), "{err}");
    }
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    if nix::unistd::Uid::effective().is_root() {
        // Owned by someone else (nobody): refused even though the mode is fine.
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
        let o = c.run(&["status"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("owned by uid 65534"), "{err}");
        std::os::unix::fs::chown(&d, Some(0), Some(0)).unwrap();
    }
    // The state directory itself as a symbolic link.
    let link = c.dir.path().join("link");
    std::os::unix::fs::symlink(&d, &link).unwrap();
    let o = c
        .cmd()
        .env("DYNAMIG_STATE_DIR", &link)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a directory"));
    c.ok(&["status"]);
}

/// `events.jsonl` (and its rotated `events.jsonl.1`) replaced by a link to a file elsewhere:
/// the work goes on, nothing is appended to the link's target, and `dynamigctl events` does not
/// read through it.
#[test]
fn a_symlinked_event_log_is_never_written_or_read_through() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    let elsewhere = c.dir.path().join("elsewhere.jsonl");
    let forged = r#"{"time_ms":1,"kind":"allocated","holder":"forged","gpu":null,"profile":null,"start":null,"uuid":null,"message":"x"}"#;
    std::fs::write(&elsewhere, format!("{forged}\n")).unwrap();
    for name in ["events.jsonl", "events.jsonl.1"] {
        std::os::unix::fs::symlink(&elsewhere, c.state_dir().join(name)).unwrap();
    }
    c.ok(&["allocate", "a", "--gpu-memory", "10GB"]);
    c.ok(&["release", "a"]);
    assert_eq!(
        std::fs::read_to_string(&elsewhere).unwrap(),
        format!("{forged}\n"),
        "appended through the link"
    );
    let evs = c.json(&["events", "--json"]);
    assert!(
        evs.as_array()
            .unwrap()
            .iter()
            .all(|e| e["holder"] != "forged"),
        "read through the link: {evs}"
    );
}
