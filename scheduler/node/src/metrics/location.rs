//! Where the metrics file goes.
//!
//! 1. `$DYNAMIG_METRICS_FILE` when set (`off` turns the file off);
//! 2. with the default state directory (`/run/dynamig`), `dynamig.prom` in the first of
//!    node-exporter's usual textfile-collector directories that exists:
//!    `/var/lib/node_exporter/textfile_collector` (upstream's convention) and
//!    `/var/lib/prometheus/node-exporter` (Debian's and Ubuntu's `prometheus-node-exporter`);
//! 3. otherwise `<state dir>/metrics/dynamig.prom`. A non-default state directory (tests, demos,
//!    several simulated nodes on one machine) thus never overwrites the node's real file.

use crate::state::dir::DEFAULT;
use std::path::{Path, PathBuf};

pub const ENV: &str = "DYNAMIG_METRICS_FILE";
pub const FILE_NAME: &str = "dynamig.prom";
pub const TEXTFILE_DIRS: [&str; 2] = [
    "/var/lib/node_exporter/textfile_collector",
    "/var/lib/prometheus/node-exporter",
];

/// The metrics file for a state directory, or `None` when turned off; `setting` is
/// `DYNAMIG_METRICS_FILE`'s value (`NodeConfig::metrics_file`).
pub fn metrics_file(setting: Option<&Path>, dir: &Path) -> Option<PathBuf> {
    resolve(
        setting.map(Path::to_path_buf),
        dir,
        &TEXTFILE_DIRS.map(Path::new),
    )
}

fn resolve(env: Option<PathBuf>, state: &Path, textfile_dirs: &[&Path]) -> Option<PathBuf> {
    match env.filter(|p| !p.as_os_str().is_empty()) {
        Some(p) if p.as_os_str() == "off" => None,
        Some(p) => Some(p),
        None => {
            if state == Path::new(DEFAULT) {
                if let Some(d) = textfile_dirs.iter().find(|d| d.is_dir()) {
                    return Some(d.join(FILE_NAME));
                }
            }
            Some(state.join("metrics").join(FILE_NAME))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_then_textfile_dir_then_state_dir() {
        let t = tempfile::tempdir().unwrap();
        let tf = t.path().join("textfile");
        let none = t.path().join("absent");
        let dirs = [none.as_path(), tf.as_path()];
        let default = Path::new(DEFAULT);
        assert_eq!(
            resolve(Some("/x/m.prom".into()), default, &dirs),
            Some(PathBuf::from("/x/m.prom"))
        );
        assert_eq!(resolve(Some("off".into()), default, &dirs), None);
        // no textfile directory: under the state directory
        assert_eq!(
            resolve(None, default, &dirs),
            Some(default.join("metrics/dynamig.prom"))
        );
        std::fs::create_dir(&tf).unwrap();
        assert_eq!(resolve(None, default, &dirs), Some(tf.join(FILE_NAME)));
        assert_eq!(
            resolve(Some("".into()), default, &dirs),
            Some(tf.join(FILE_NAME))
        );
        // a private state directory keeps its metrics to itself
        let own = t.path().join("state");
        assert_eq!(
            resolve(None, &own, &dirs),
            Some(own.join("metrics/dynamig.prom"))
        );
    }
}
