//! The launcher's log lines: JSON objects in the runtime log, written on failure always and on
//! success only when `DYNAMIG_LOG` asks for them.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn lines(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn launcher_logs_json_on_failure_and_on_request() {
    let t = tempfile::tempdir().unwrap();
    let wrapper = t.path().join("dynamig-runc");
    std::fs::write(&wrapper, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = t.path().join("runtime.log");
    let shim = |runc_shim: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_containerd-shim-dynamig-v2"));
        c.arg("start")
            .env("DYNAMIG_STATE_DIR", t.path().join("state"))
            .env("DYNAMIG_LOG_FILE", &log)
            .env("DYNAMIG_RUNC_WRAPPER", &wrapper)
            .env("DYNAMIG_RUNC", "/bin/true")
            .env("DYNAMIG_RUNC_SHIM", runc_shim)
            .env_remove("DYNAMIG_LOG");
        c
    };
    // Launching, quietly: no log line, no log file.
    assert!(shim("/bin/true").status().unwrap().success());
    assert!(!log.exists());
    // Launching with DYNAMIG_LOG=debug: one line naming what it launched.
    assert!(shim("/bin/true")
        .env("DYNAMIG_LOG", "debug")
        .status()
        .unwrap()
        .success());
    let l = lines(&log);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(l[0]["level"], "DEBUG");
    assert_eq!(l[0]["fields"]["shim"], "/bin/true");
    assert_eq!(l[0]["span"]["component"], "containerd-shim-dynamig-v2");
    // A failure: logged as an error even without DYNAMIG_LOG, and on stderr.
    let missing = t.path().join("no-such-shim");
    let o = shim(missing.to_str().unwrap()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-shim"));
    let l = lines(&log);
    assert_eq!(l.len(), 2);
    assert_eq!(l[1]["level"], "ERROR");
    assert!(l[1]["timestamp"].is_string());
    assert!(l[1]["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("no-such-shim"));
}
