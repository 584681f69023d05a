//! The plugin's command line. Everything else (state directory, backend, lock timeout) is the
//! node's configuration, read from the environment once, as every dynamig entry point does.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// dynamig's DRA kubelet plugin: publishes this node's MIG devices as ResourceSlices of driver
/// mig.dynamig.io and prepares the claims the scheduler allocated on it (docs/kubernetes.md).
#[derive(Debug, Parser)]
#[command(name = "dynamig-dra", version)]
pub struct Args {
    /// This node's name (the DaemonSet passes spec.nodeName): the pool of its devices.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// The kubelet's plugin registry directory, where the registration socket goes.
    #[arg(long, default_value = dynamig_dra_grpc::config::DEFAULT_REGISTRY_DIR)]
    pub registry_dir: PathBuf,
    /// The plugin's own directory, where the DRA service socket goes.
    #[arg(long, default_value = dynamig_dra_grpc::config::DEFAULT_PLUGIN_DIR)]
    pub plugin_dir: PathBuf,
    /// Where the per-claim CDI specs are written (a directory the container runtime reads).
    #[arg(long, default_value = dynamig_dra_claims::cdi::DEFAULT_DIR)]
    pub cdi_dir: PathBuf,
    /// How often the ResourceSlices are checked against the node and the API server, and
    /// republished under a new pool generation when they differ.
    #[arg(long, default_value = "30s", value_parser = parse_seconds)]
    pub resync: Duration,
    /// Where this boot's id is read from (tests point it at a file).
    #[arg(long, default_value = dynamig_dra_claims::boot_id::PATH, hide = true)]
    pub boot_id_file: PathBuf,
}

/// `30s`, `2m` or a bare number of seconds.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let (n, unit) = match s.strip_suffix('s') {
        Some(n) => (n, 1),
        None => match s.strip_suffix('m') {
            Some(n) => (n, 60),
            None => (s, 1),
        },
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30s or 2m"))?;
    if n == 0 {
        return Err("the resync interval must be above zero".into());
    }
    Ok(Duration::from_secs(n * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_takes_seconds_and_minutes() {
        assert_eq!(parse_seconds("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_seconds("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_seconds("45"), Ok(Duration::from_secs(45)));
        assert!(parse_seconds("0s").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
