//! The GPU model catalog: every MIG GPU-instance profile of every supported model, with its
//! NVML profile id, memory, slices, engines and valid placements.
//!
//! One file per model holds that model's table and cites where each value came from. The tables
//! are what `nvidia-smi mig -lgip` (profiles) and `nvidia-smi mig -lgipp` (placements) print
//! (placements in the driver's own grid: eight units on most models, twelve on the RTX PRO 6000
//! Blackwell); values no source gave are marked GUESS in the model's file; on a
//! real node the NVML backend reads the driver's own values and logs any difference from these.

mod a100_40gb;
mod a100_80gb;
mod a30_24gb;
mod b200_180gb;
mod b300;
mod gb200_186gb;
mod gb300;
mod gh200_144gb;
mod gh200_96gb;
mod h100_80gb;
mod h100_94gb;
mod h200_141gb;
mod h20_96gb;
mod rtx_pro_6000_bse;

use crate::ids::ProfileId;
use serde::Serialize;

/// Hardware engines a GPU instance owns exclusively (copy, decode, encode, JPEG, optical flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Engines {
    pub ce: u8,
    pub dec: u8,
    pub enc: u8,
    pub jpg: u8,
    pub ofa: u8,
}

impl Engines {
    pub const fn new(ce: u8, dec: u8, enc: u8, jpg: u8, ofa: u8) -> Self {
        Self {
            ce,
            dec,
            enc,
            jpg,
            ofa,
        }
    }

    pub const ZERO: Engines = Engines::new(0, 0, 0, 0, 0);

    pub fn plus(self, o: Engines) -> Engines {
        Engines {
            ce: self.ce.saturating_add(o.ce),
            dec: self.dec.saturating_add(o.dec),
            enc: self.enc.saturating_add(o.enc),
            jpg: self.jpg.saturating_add(o.jpg),
            ofa: self.ofa.saturating_add(o.ofa),
        }
    }

    /// True when every engine count of `self` is at most the one of `cap`.
    pub fn within(self, cap: Engines) -> bool {
        self.ce <= cap.ce
            && self.dec <= cap.dec
            && self.enc <= cap.enc
            && self.jpg <= cap.jpg
            && self.ofa <= cap.ofa
    }
}

/// One GPU-instance profile, as `nvidia-smi mig -lgip` prints it, plus its placements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// The name users write, e.g. `2g.10gb` or `1g.5gb+me`.
    pub name: &'static str,
    /// The NVML GPU-instance profile id (the `ID` column of `-lgip`), which the placement and
    /// create calls take.
    pub id: ProfileId,
    /// The `NVML_GPU_INSTANCE_PROFILE_*` index that `nvmlDeviceGetGpuInstanceProfileInfo` takes.
    pub index: u32,
    /// Memory in MiB as NVML reports it (`memorySizeMB`).
    pub memory_mib: u64,
    /// Compute slices (the `Ng` of the name).
    pub compute_slices: u8,
    /// Memory slices, which is also the placement size.
    pub memory_slices: u8,
    /// Most instances of this profile a GPU can hold at once.
    pub max_count: u8,
    /// Streaming multiprocessors.
    pub sms: u16,
    /// Engines owned by one instance.
    pub engines: Engines,
    /// Valid placement starts (memory-slice index); each placement spans `memory_slices`.
    pub starts: &'static [u8],
}

impl Profile {
    /// The memory-slice bitmask of the placement that starts at `start`.
    pub fn mask_at(&self, start: u8) -> u16 {
        slice_mask(start, self.memory_slices)
    }

    /// True if `start` is one of the placements NVML accepts for this profile.
    pub fn accepts_start(&self, start: u8) -> bool {
        self.starts.contains(&start)
    }

    /// The memory in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_mib * 1024 * 1024
    }
}

/// Most memory slices (placement-grid units) a model may have: slice sets are 16-bit masks. The
/// RTX PRO 6000 Blackwell's driver counts placements on a 12-unit grid; every other model in
/// the catalog has 8 (the A30 4).
pub const MAX_MEMORY_SLICES: u8 = 16;

/// The bitmask of `size` memory slices from `start` (bit i = slice i); slices past
/// [`MAX_MEMORY_SLICES`] are dropped.
pub fn slice_mask(start: u8, size: u8) -> u16 {
    let ones = 1u32
        .checked_shl(u32::from(size))
        .map_or(u32::MAX, |b| b - 1);
    let bits = ones.checked_shl(u32::from(start)).unwrap_or(0);
    // Masked to 16 bits first, so the conversion cannot fail.
    u16::try_from(bits & 0xffff).unwrap_or(u16::MAX)
}

/// A MIG-capable GPU model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GpuModel {
    /// The key used on the command line (`dynamigctl sim init a100-40gb`).
    pub key: &'static str,
    /// The product name NVML reports (`nvmlDeviceGetName`).
    pub name: &'static str,
    /// Other names NVML has reported for this model (older drivers drop the `NVIDIA ` prefix).
    pub aliases: &'static [&'static str],
    /// Total framebuffer memory as `nvidia-smi` shows it, in MiB.
    pub memory_mib: u64,
    pub compute_slices: u8,
    pub memory_slices: u8,
    /// Engines of the whole GPU (what the full-GPU profile owns).
    pub engines: Engines,
    /// The driver generation whose memory values the table pins.
    pub driver: &'static str,
    pub profiles: &'static [Profile],
}

impl GpuModel {
    pub fn profile(&self, name: &str) -> Option<&'static Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn profile_by_id(&self, id: ProfileId) -> Option<&'static Profile> {
        self.profiles.iter().find(|p| p.id == id)
    }

    /// The bitmask of all memory slices.
    pub fn full_mask(&self) -> u16 {
        slice_mask(0, self.memory_slices)
    }
}

/// Every model dynamig knows, in a stable order.
pub fn models() -> &'static [GpuModel] {
    &MODELS
}

/// The first six are the models dynamig started with; the others follow (docs/models.md says
/// what of each is sourced and what inferred).
static MODELS: [GpuModel; 14] = [
    a100_40gb::MODEL,
    a100_80gb::MODEL,
    a30_24gb::MODEL,
    h100_80gb::MODEL,
    h100_94gb::MODEL,
    h200_141gb::MODEL,
    rtx_pro_6000_bse::MODEL,
    b200_180gb::MODEL,
    gb200_186gb::MODEL,
    gh200_96gb::MODEL,
    gh200_144gb::MODEL,
    h20_96gb::MODEL,
    b300::MODEL,
    gb300::MODEL,
];

/// A model by its command-line key (`a100-40gb`), case-insensitively.
pub fn model_by_key(key: &str) -> Option<&'static GpuModel> {
    MODELS.iter().find(|m| m.key.eq_ignore_ascii_case(key))
}

/// A model by the name NVML reports for the device.
pub fn model_by_name(name: &str) -> Option<&'static GpuModel> {
    let name = name.trim();
    MODELS
        .iter()
        .find(|m| m.name == name || m.aliases.contains(&name))
}

/// The keys of all models, for messages.
pub fn model_keys() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.key).collect()
}
