//! The boot id: `/proc/sys/kernel/random/boot_id`, a new random UUID at every boot. Read once
//! by the plugin's entry point and handed to [`crate::Options`]; the node state keeps the one
//! it last started in, so a start after a reboot knows every MIG instance went with it.

use std::path::Path;

/// Where Linux publishes it.
pub const PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Reads the boot id from `path` (normally [`PATH`]), trimmed.
pub fn read(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let id = text.trim();
    if id.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_trims_and_refuses_empty() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("boot_id");
        std::fs::write(&p, "6f1c8d2e-0000-4000-8000-000000000001\n").unwrap();
        assert_eq!(read(&p).unwrap(), "6f1c8d2e-0000-4000-8000-000000000001");
        std::fs::write(&p, "\n").unwrap();
        assert!(read(&p).is_err());
        assert!(read(&t.path().join("missing")).is_err());
    }
}
