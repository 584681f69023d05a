//! Device names in a ResourceSlice: one per whole GPU and one per (GPU, MIG profile,
//! placement). A DRA device name must be a DNS label (at most 63 characters of `[a-z0-9-]`,
//! starting and ending with an alphanumeric), so a profile name such as `1g.24gb+me.all` is
//! spelled as a slug:
//!
//! | device | name |
//! |---|---|
//! | GPU 0, whole | `gpu-0` |
//! | GPU 0, `2g.10gb` at memory slice 4 | `gpu-0-mig-2g10gb-4` |
//! | GPU 1, `1g.10gb+me` at 6 | `gpu-1-mig-1g10gb-me-6` |
//! | GPU 0, `1g.24gb+me.all` at 0 | `gpu-0-mig-1g24gb-meall-0` |
//! | GPU 0, `1g.24gb-me` at 0 | `gpu-0-mig-1g24gb-nome-0` |
//!
//! The slug drops `.`, writes `+` as `-` and `-` as `-no`; it is one-to-one on every catalog
//! model (a test checks), and a name is parsed back against the GPU's model, so only a profile
//! that model has is ever accepted.

use dynamig_core::catalog::{GpuModel, Profile};
use dynamig_core::ids::GpuIndex;
use std::fmt;
use thiserror::Error;

/// What a device name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    /// The whole GPU.
    Whole { gpu: GpuIndex },
    /// A MIG device: `profile` at the placement that starts at memory slice `start`.
    Mig {
        gpu: GpuIndex,
        profile: &'static Profile,
        start: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeviceNameError {
    #[error("device name {0:?} is not one of dynamig's (gpu-N or gpu-N-mig-PROFILE-START)")]
    Malformed(String),
    #[error("device name {name:?}: GPU {gpu}'s model {model} has no profile spelled {slug:?}")]
    UnknownProfile {
        name: String,
        gpu: GpuIndex,
        model: &'static str,
        slug: String,
    },
    #[error("device name {name:?}: {profile} cannot start at memory slice {start} on {model}")]
    BadPlacement {
        name: String,
        profile: &'static str,
        start: u8,
        model: &'static str,
    },
}

/// The slug of a profile name (see the module's table).
pub fn profile_slug(profile: &str) -> String {
    let mut out = String::with_capacity(profile.len() + 2);
    for c in profile.chars() {
        match c {
            '.' => {}
            '+' => out.push('-'),
            '-' => out.push_str("-no"),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

impl DeviceName {
    pub fn gpu(&self) -> GpuIndex {
        match *self {
            DeviceName::Whole { gpu } | DeviceName::Mig { gpu, .. } => gpu,
        }
    }

    /// Just the GPU index of `name`, without a model to check the rest against (to find which
    /// GPU's model to [`parse`](DeviceName::parse) with).
    pub fn gpu_of(name: &str) -> Result<GpuIndex, DeviceNameError> {
        let rest = name
            .strip_prefix("gpu-")
            .ok_or_else(|| DeviceNameError::Malformed(name.to_string()))?;
        let digits = rest.split('-').next().unwrap_or_default();
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return Err(DeviceNameError::Malformed(name.to_string()));
        }
        digits
            .parse::<u32>()
            .map(GpuIndex::new)
            .map_err(|_| DeviceNameError::Malformed(name.to_string()))
    }

    /// Parses `name` for a GPU of `model`; fails unless [`DeviceName::to_string`] of the result
    /// gives `name` back.
    pub fn parse(name: &str, model: &'static GpuModel) -> Result<DeviceName, DeviceNameError> {
        let malformed = || DeviceNameError::Malformed(name.to_string());
        let gpu = Self::gpu_of(name)?;
        let after_gpu = &name["gpu-".len() + gpu.to_string().len()..];
        if after_gpu.is_empty() {
            return Ok(DeviceName::Whole { gpu });
        }
        let mig = after_gpu.strip_prefix("-mig-").ok_or_else(malformed)?;
        let (slug, start) = mig.rsplit_once('-').ok_or_else(malformed)?;
        if start.is_empty() || (start.len() > 1 && start.starts_with('0')) {
            return Err(malformed());
        }
        let start: u8 = start.parse().map_err(|_| malformed())?;
        let profile = model
            .profiles
            .iter()
            .find(|p| profile_slug(p.name) == slug)
            .ok_or_else(|| DeviceNameError::UnknownProfile {
                name: name.to_string(),
                gpu,
                model: model.key,
                slug: slug.to_string(),
            })?;
        if !profile.accepts_start(start) {
            return Err(DeviceNameError::BadPlacement {
                name: name.to_string(),
                profile: profile.name,
                start,
                model: model.key,
            });
        }
        Ok(DeviceName::Mig {
            gpu,
            profile,
            start,
        })
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeviceName::Whole { gpu } => write!(f, "gpu-{gpu}"),
            DeviceName::Mig {
                gpu,
                profile,
                start,
            } => write!(f, "gpu-{gpu}-mig-{}-{start}", profile_slug(profile.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamig_core::catalog::{model_by_key, models};
    use std::collections::HashSet;

    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn every_catalog_device_round_trips_and_is_a_dns_label() {
        for model in models() {
            let mut seen = HashSet::new();
            for gpu in [0u32, 7, 15] {
                let whole = DeviceName::Whole {
                    gpu: GpuIndex::new(gpu),
                };
                assert_eq!(DeviceName::parse(&whole.to_string(), model), Ok(whole));
                for profile in model.profiles {
                    for &start in profile.starts {
                        let d = DeviceName::Mig {
                            gpu: GpuIndex::new(gpu),
                            profile,
                            start,
                        };
                        let name = d.to_string();
                        assert!(is_dns_label(&name), "{name}");
                        assert!(
                            seen.insert(name.clone()),
                            "{} names {name} twice",
                            model.key
                        );
                        assert_eq!(DeviceName::parse(&name, model), Ok(d), "{name}");
                    }
                }
            }
        }
    }

    #[test]
    fn slugs_spell_the_table() {
        assert_eq!(profile_slug("2g.10gb"), "2g10gb");
        assert_eq!(profile_slug("1g.10gb+me"), "1g10gb-me");
        assert_eq!(profile_slug("1g.24gb+me.all"), "1g24gb-meall");
        assert_eq!(profile_slug("1g.24gb-me"), "1g24gb-nome");
    }

    #[test]
    fn foreign_or_impossible_names_are_refused() {
        let a100 = model_by_key("a100-40gb").expect("a100 in catalog");
        for bad in [
            "",
            "gpu",
            "gpu-",
            "gpu-x",
            "gpu-01",
            "gpu-0-",
            "gpu-0-mig",
            "gpu-0-mig-2g10gb",
            "gpu-0-mig-2g10gb-04",
            "gpu-0-mig-2g10gb-x",
            "gpu-0-foo-2g10gb-4",
            "nvidia-gpu-0",
            "gpu-99999999999-mig-1g5gb-0",
        ] {
            assert!(
                matches!(
                    DeviceName::parse(bad, a100),
                    Err(DeviceNameError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            DeviceName::parse("gpu-0-mig-1g24gb-0", a100),
            Err(DeviceNameError::UnknownProfile { .. })
        ));
        // 2g.10gb starts at 0, 2 or 4 on an A100 (not 6, not odd slices).
        assert!(matches!(
            DeviceName::parse("gpu-0-mig-2g10gb-1", a100),
            Err(DeviceNameError::BadPlacement { .. })
        ));
    }
}
