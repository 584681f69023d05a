//! NVML, the driver and each GPU: MIG mode, persistence mode, the driver's profiles and
//! placements against the catalog, the GPU's device node.

use super::report::{Report, Verdict};
use dynamig_node::backend::nvml::{NvmlBackend, OpenError, LIB_NAME};
use dynamig_node::backend::tables::Resolved;
use dynamig_node::backend::{BackendError, GpuInfo};
use std::path::Path;

/// Every NVML check, on NVML as [`NvmlBackend::open`] `opened` it. Returns how many GPUs
/// dynamig can use.
pub(super) fn check(r: &mut Report, opened: Result<NvmlBackend, OpenError>, dev: &Path) -> usize {
    let Some(mut b) = open(r, opened) else {
        return 0;
    };
    versions(r, &b);
    let gpus = match b.gpu_infos() {
        Ok(g) => g,
        Err(e) => {
            r.line(Verdict::Fail, "GPUs", &e.to_string());
            return 0;
        }
    };
    if gpus.is_empty() {
        r.line(Verdict::Fail, "GPUs", "NVML sees no GPU");
        return 0;
    }
    let mut usable = 0;
    for g in &gpus {
        if check_gpu(r, &mut b, g, dev) {
            usable += 1;
        }
    }
    if usable == 0 {
        r.line(Verdict::Fail, "GPUs", "no GPU has MIG enabled and usable");
    }
    usable
}

/// NVML itself, when it could be opened; else says why and what to do.
fn open(r: &mut Report, opened: Result<NvmlBackend, OpenError>) -> Option<NvmlBackend> {
    match opened {
        Ok(b) => Some(b),
        Err(e) => {
            r.line(Verdict::Fail, "NVML", &e.to_string());
            let hint = match e {
                // The library loads: a GPU node, which never falls back to a simulated node.
                OpenError::Init(_) => "the NVIDIA library loads, so this is a GPU node: load the kernel driver that matches it (`nvidia-smi` says why it cannot); dynamig uses a simulated node here only with DYNAMIG_BACKEND=sim",
                OpenError::Load(_) => "on a GPU node install the NVIDIA driver; without a GPU, `dynamigctl sim init a100-40gb` makes a simulated node",
            };
            r.line(Verdict::Info, "NVML", hint);
            None
        }
    }
}

/// The NVML and driver versions.
fn versions(r: &mut Report, b: &NvmlBackend) {
    match b.nvml_version() {
        Ok(v) => r.line(
            Verdict::Ok,
            "NVML",
            &format!("{LIB_NAME} loaded, NVML version {v}"),
        ),
        Err(e) => r.line(
            Verdict::Warn,
            "NVML",
            &format!("{LIB_NAME} loaded; version unknown ({e})"),
        ),
    }
    match b.driver_version() {
        Ok(v) => r.line(Verdict::Ok, "driver", &format!("version {v}")),
        Err(e) => r.line(Verdict::Fail, "driver", &e.to_string()),
    }
}

/// One GPU. True when dynamig can use it.
fn check_gpu(r: &mut Report, b: &mut NvmlBackend, g: &GpuInfo, dev: &Path) -> bool {
    let what = format!("GPU {}", g.index);
    let id = format!("{} {} (/dev/nvidia{})", g.name, g.uuid, g.minor);
    if let Some(m) = mig_unusable(g) {
        r.line(Verdict::Warn, &what, &format!("{id}: {m}"));
        persistence_line(r, &what, g);
        return false;
    }
    r.line(Verdict::Ok, &what, &format!("{id}: MIG enabled"));
    persistence_line(r, &what, g);
    let usable = match b.tables(g.index) {
        Ok(t) => tables_lines(r, &what, g, &t),
        Err(e) => {
            let hint = match &e {
                BackendError::Nvml { code: 4, .. } => " (run doctor as root)",
                _ => "",
            };
            r.line(
                Verdict::Fail,
                &what,
                &format!("cannot read the MIG profiles and placements: {e}{hint}"),
            );
            false
        }
    };
    let node = dev.join(format!("nvidia{}", g.minor));
    if !node.exists() {
        r.line(
            Verdict::Fail,
            &what,
            &format!("device node {} is missing", node.display()),
        );
    }
    usable
}

/// Why the GPU's MIG mode keeps dynamig off it, if it does.
fn mig_unusable(g: &GpuInfo) -> Option<String> {
    match (g.mig.current, g.mig.pending) {
        (true, true) => None,
        (false, false) => Some(format!(
            "MIG disabled: not used (enable with `nvidia-smi -i {} -mig 1` on an idle GPU)",
            g.index
        )),
        (true, false) => Some("MIG enabled, but disabling is pending a GPU reset: not used".into()),
        (false, true) => Some(format!(
            "MIG enabling is pending a GPU reset (`nvidia-smi -i {} -r`): not used until then",
            g.index
        )),
    }
}

/// The driver's profiles and placements against the catalog. True when there is a model to
/// plan with.
fn tables_lines(r: &mut Report, what: &str, g: &GpuInfo, t: &Resolved) -> bool {
    let n = t.model.as_ref().map(|m| m.profiles.len()).unwrap_or(0);
    match (g.model, &t.model) {
        (_, Err(why)) => r.line(Verdict::Warn, what, &format!("not used: {why}")),
        (Some(model), Ok(_)) if t.diffs.is_empty() => r.line(
            Verdict::Ok,
            what,
            &format!(
                "{n} profiles and their placements match the catalog ({})",
                model.key
            ),
        ),
        (Some(model), Ok(_)) => r.line(
            Verdict::Warn,
            what,
            &format!(
                "the driver differs from the catalog ({}) in {} way(s); NVML's values are the truth here and are planned with",
                model.key,
                t.diffs.len()
            ),
        ),
        (None, Ok(m)) => r.line(
            Verdict::Warn,
            what,
            &format!(
                "model {:?} is not in dynamig's catalog: planned with the driver's {n} profiles and placements (as {})",
                g.name, m.key
            ),
        ),
    }
    for d in &t.diffs {
        r.detail(&d.to_string());
    }
    t.model.is_ok()
}

/// One line on a GPU's persistence mode: without it the driver tears the GPU down when the last
/// NVML client exits, and every short NVML session (each dynamig entry point opens one) can pay
/// its initialisation again, seconds per GPU.
fn persistence_line(r: &mut Report, what: &str, g: &GpuInfo) {
    match g.persistence_mode {
        Some(true) => r.line(Verdict::Ok, what, "persistence mode on"),
        Some(false) => r.line(
            Verdict::Warn,
            what,
            &format!(
                "persistence mode off: each short NVML session (every dynamig call opens one) can \
                 pay the GPU's initialisation, seconds per GPU; enable it with \
                 `nvidia-smi -i {} -pm 1` or run nvidia-persistenced",
                g.index
            ),
        ),
        None => r.line(Verdict::Info, what, "persistence mode not reported by NVML"),
    }
}
