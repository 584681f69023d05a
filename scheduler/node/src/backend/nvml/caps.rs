//! What the NVIDIA kernel modules publish under `/proc`: the capability minors of MIG GPU and
//! compute instances (`driver/nvidia/capabilities/gpu<minor>/mig/gi<G>[/ci<C>]/access`, line
//! `DeviceFileMinor: N`) and the character-device majors (`devices`: `nvidia-caps`,
//! `nvidia-uvm`, `nvidia-frontend`). The proc root is `DYNAMIG_PROC_ROOT` (default `/proc`, read
//! by [`crate::config::NodeConfig`]), so tests can point it at a fake tree.

use super::super::{BackendError, DeviceNode};
use dynamig_core::ids::{CiId, GiId};
use std::path::{Path, PathBuf};

pub const PROC_ROOT_ENV: &str = "DYNAMIG_PROC_ROOT";

/// The major of `/dev/nvidia*` and `/dev/nvidiactl` when `/proc/devices` does not name it.
pub const NVIDIA_MAJOR_DEFAULT: u32 = 195;
/// `/dev/nvidiactl`'s minor.
pub const NVIDIACTL_MINOR: u32 = 255;

#[derive(Debug, Clone)]
pub struct ProcTree {
    root: PathBuf,
}

/// The character-device majors of the NVIDIA modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Majors {
    pub nvidia: u32,
    pub caps: Option<u32>,
    pub uvm: Option<u32>,
}

impl ProcTree {
    pub fn at(root: &Path) -> ProcTree {
        ProcTree {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `.../capabilities/gpu<minor>/mig/gi<G>[/ci<C>]/access`.
    pub fn access_path(&self, gpu_minor: u32, gi: GiId, ci: Option<CiId>) -> PathBuf {
        let mut p = self.root.join(format!(
            "driver/nvidia/capabilities/gpu{gpu_minor}/mig/gi{gi}"
        ));
        if let Some(c) = ci {
            p.push(format!("ci{c}"));
        }
        p.join("access")
    }

    /// The `DeviceFileMinor` of a GPU instance's (or compute instance's) access capability.
    pub fn cap_minor(
        &self,
        gpu_minor: u32,
        gi: GiId,
        ci: Option<CiId>,
    ) -> Result<u32, BackendError> {
        let path = self.access_path(gpu_minor, gi, ci);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BackendError::Io(format!("cannot read {}: {e}", path.display())))?;
        parse_device_file_minor(&text)
            .ok_or_else(|| BackendError::Io(format!("{}: no DeviceFileMinor line", path.display())))
    }

    /// The majors from `devices`.
    pub fn majors(&self) -> Result<Majors, BackendError> {
        let path = self.root.join("devices");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BackendError::Io(format!("cannot read {}: {e}", path.display())))?;
        Ok(parse_majors(&text))
    }

    /// The majors a MIG device's nodes need, all present: (majors, `nvidia-caps`, `nvidia-uvm`).
    /// The `nvml` backend checks this before it creates a GPU instance, so a node without
    /// `nvidia-uvm` refuses the request instead of leaving an instance no container can use.
    pub fn mig_majors(&self) -> Result<(Majors, u32, u32), BackendError> {
        let m = self.majors()?;
        let caps = m.caps.ok_or_else(|| {
            BackendError::Io(format!(
                "no nvidia-caps major in {}/devices: is the NVIDIA driver loaded with MIG support?",
                self.root.display()
            ))
        })?;
        let uvm = m.uvm.ok_or_else(|| {
            BackendError::Io(format!(
                "no nvidia-uvm major in {}/devices: the nvidia-uvm module is not loaded (CUDA needs \
                 it); load it with `nvidia-modprobe -u -c=0` or `modprobe nvidia-uvm`",
                self.root.display()
            ))
        })?;
        Ok((m, caps, uvm))
    }

    /// The device nodes of MIG device `gi`/`ci` of the GPU with minor `gpu_minor`.
    pub fn mig_device_nodes(
        &self,
        gpu_minor: u32,
        gi: GiId,
        ci: CiId,
    ) -> Result<Vec<DeviceNode>, BackendError> {
        let (m, caps, uvm) = self.mig_majors()?;
        let gi_minor = self.cap_minor(gpu_minor, gi, None)?;
        let ci_minor = self.cap_minor(gpu_minor, gi, Some(ci))?;
        let node = |path: String, major: u32, minor: u32| DeviceNode { path, major, minor };
        Ok(vec![
            node(
                format!("/dev/nvidia-caps/nvidia-cap{gi_minor}"),
                caps,
                gi_minor,
            ),
            node(
                format!("/dev/nvidia-caps/nvidia-cap{ci_minor}"),
                caps,
                ci_minor,
            ),
            node(format!("/dev/nvidia{gpu_minor}"), m.nvidia, gpu_minor),
            node("/dev/nvidiactl".into(), m.nvidia, NVIDIACTL_MINOR),
            node("/dev/nvidia-uvm".into(), uvm, 0),
            node("/dev/nvidia-uvm-tools".into(), uvm, 1),
        ])
    }
}

/// The number of the `DeviceFileMinor: N` line.
pub fn parse_device_file_minor(text: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "DeviceFileMinor")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

/// The NVIDIA majors among the character devices of `/proc/devices`.
pub fn parse_majors(text: &str) -> Majors {
    let mut m = Majors {
        nvidia: NVIDIA_MAJOR_DEFAULT,
        caps: None,
        uvm: None,
    };
    let mut in_char = false;
    for line in text.lines() {
        let t = line.trim();
        if t.eq_ignore_ascii_case("Character devices:") {
            in_char = true;
            continue;
        }
        if t.eq_ignore_ascii_case("Block devices:") {
            in_char = false;
            continue;
        }
        if !in_char {
            continue;
        }
        let mut it = t.split_whitespace();
        let (Some(num), Some(name)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(num) = num.parse::<u32>() else {
            continue;
        };
        match name {
            "nvidia-caps" => m.caps = Some(num),
            "nvidia-uvm" => m.uvm = Some(num),
            "nvidia-frontend" | "nvidia" => m.nvidia = num,
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let devices = "Character devices:\n  1 mem\n195 nvidia-frontend\n236 nvidia-caps\n\
                       508 nvidia-uvm\n\nBlock devices:\n236 nvidia-caps-not\n";
        assert_eq!(
            parse_majors(devices),
            Majors {
                nvidia: 195,
                caps: Some(236),
                uvm: Some(508)
            }
        );
        assert_eq!(parse_majors("").caps, None);
        let access = "DeviceFileMinor: 30\nDeviceFileMode: 444\nDeviceFileModify: 1\n";
        assert_eq!(parse_device_file_minor(access), Some(30));
        assert_eq!(parse_device_file_minor("DeviceFileMinor: x\n"), None);
    }

    #[test]
    fn reads_a_proc_tree() {
        let t = tempfile::tempdir().unwrap();
        let p = ProcTree::at(t.path());
        assert!(matches!(p.majors(), Err(BackendError::Io(_))));
        std::fs::write(
            t.path().join("devices"),
            "Character devices:\n195 nvidia\n237 nvidia-caps\n511 nvidia-uvm\n",
        )
        .unwrap();
        for (ci, minor) in [(None, 39), (Some(CiId(0)), 40)] {
            let a = p.access_path(0, GiId(4), ci);
            std::fs::create_dir_all(a.parent().unwrap()).unwrap();
            std::fs::write(&a, format!("DeviceFileMinor: {minor}\n")).unwrap();
        }
        let n = p.mig_device_nodes(0, GiId(4), CiId(0)).unwrap();
        assert_eq!(n[0].path, "/dev/nvidia-caps/nvidia-cap39");
        assert_eq!((n[1].major, n[1].minor), (237, 40));
        assert_eq!(n[2].path, "/dev/nvidia0");
        assert_eq!(n[5].major, 511);
        assert!(p.mig_device_nodes(0, GiId(5), CiId(0)).is_err());
    }
}
