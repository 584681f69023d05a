//! A fake `libnvidia-ml.so`: the NVML C ABI for the calls dynamig's `nvml` backend makes (plus
//! what nvml-wrapper calls on its own: `nvmlInit_v2`, `nvmlSystemGetDriverVersion`,
//! `nvmlShutdown`), with nvml.h's signatures, struct layouts (taken from `nvml-wrapper-sys`) and
//! return codes, on top of the exact simulated MIG node of the `sim` backend
//! ([`dynamig_node::backend::sim::SimNode`]). It refuses what the driver refuses because it runs the
//! same checks.
//!
//! Configuration, all by environment (so several processes share one fake node):
//! - `FAKE_NVML_STATE`: the simulated node file (the `sim.json` format; create it with
//!   `SimNode::new(&["a100-40gb"]).save(path)` or `dynamigctl sim init`, then point this at its
//!   `sim.json`). Unset or missing: `nvmlInit` fails with `NVML_ERROR_DRIVER_NOT_LOADED`.
//! - `FAKE_NVML_PROC_ROOT`: when set, the fake keeps a proc tree there, as the driver does under
//!   `/proc`: `devices` (with `nvidia-caps` major [`CAPS_MAJOR`] and `nvidia-uvm` major
//!   [`UVM_MAJOR`]) and `driver/nvidia/capabilities/gpu<minor>/mig/gi<G>[/ci<C>]/access` with a
//!   `DeviceFileMinor:` line for each existing instance. Point `DYNAMIG_PROC_ROOT` at it.
//! - `FAKE_NVML_DRIVER_VERSION`: the driver version reported (default `580.126.09`).
//! - `FAKE_NVML_PROFILE_MEMORY=<id>:<MiB>`: report a different memory for one GPU-instance
//!   profile id, to make the driver differ from the catalog.
//! - `FAKE_NVML_PLACEMENTS=<id>:<start>,<start>...[;<id>:...]`: offer only these placement
//!   starts for a profile id (a subset of the catalog's): they are what
//!   `nvmlDeviceGetGpuInstancePossiblePlacements_v2` lists, and creating an instance anywhere
//!   else is refused with `NVML_ERROR_INVALID_ARGUMENT`, as the driver does.
//! - `FAKE_NVML_GPU_NAME`: the product name every GPU reports (a model not in the catalog).
//!
//! - `FAKE_NVML_PERSISTENCE`: persistence mode per GPU index, comma-separated `1`/`0` (the
//!   last value holds for the GPUs after it; default `1`).
//! - `FAKE_NVML_NO_UVM=1`: the proc tree's `devices` lacks `nvidia-uvm` (the module not loaded).
//! - `FAKE_NVML_CI_DEVICE=mig`: `nvmlComputeInstanceGetInfo_v2` puts the compute instance's MIG
//!   device handle in `device`. Unset, it puts the parent device there, as nvml.h documents.
//! - `FAKE_NVML_CALL_LOG=<file>`: every `nvmlDeviceGetMigDeviceHandleByIndex` call appends its
//!   name to that file (so a test counts walks over the MIG indices).
//! - `FAKE_NVML_LATENCY_MS=<kind>=<ms>[,...]` and `FAKE_NVML_LATENCY_LOG=<file>`: emulated
//!   driver latency per call kind (`init`, `shutdown`, `gi_create`, `gi_destroy`, `ci_create`,
//!   `ci_destroy`, `gi_list`) and a log of the time slept (and when, by whom); see [`latency`].
//! - `FAKE_NVML_EXTRA_PROFILES=<index>:<id>:<name>[;...]`: GPU-instance profiles beyond the
//!   catalog's, at NVML 13 indices (`1_SLICE_NO_ME` 0x0D … `3_SLICE_GFX` 0x11) or past them, as
//!   a newer GPU has: `<name>` is a catalog profile's name with a suffix (`-me`: no media
//!   engines; `+me.all`: all of them, one instance; `+gfx`: as the base), e.g.
//!   `13:67:1g.5gb-me`. They are listed (info, V info, placements) but creating one answers
//!   `NOT_SUPPORTED`. Indices without a profile answer `NOT_SUPPORTED` up to NVML 13's count
//!   (0x12) or the highest extra index, `INVALID_ARGUMENT` past it, as the driver does.
//!
//! Processes: on a MIG device handle, that MIG device's; on a MIG-enabled parent, the aggregate
//! with the instance ids unset (0xFFFFFFFF), what an unprivileged caller gets, so nothing may
//! rely on the parent's list.
//!
//! What the tests set up by editing the state file directly: MIG disabled or pending
//! (`gpus[i].mig`), an instance made by someone else (`SimNode::create_gi`/`create_ci`), and
//! processes on an instance (`instances[j].pids`, counted while the pid lives). A file
//! `<FAKE_NVML_STATE>.busy` holding a number N makes the next N `nvmlGpuInstanceDestroy` calls
//! answer `NVML_ERROR_IN_USE` (the driver's brief "in use" after a compute instance goes away).
//! A file `<FAKE_NVML_STATE>.held` with lines `<gpu>:<gi>` (or `<gpu>:*`) makes those instances
//! held by a foreign NVML client (DCGM, dcgm-exporter): destroying their compute or GPU instance
//! answers `NVML_ERROR_IN_USE` while no process is listed on them, until the line goes.
//!
//! Limits: compute instances always span their GPU instance (the only kind dynamig makes; a
//! smaller compute-instance profile is listed but creating one is `NOT_SUPPORTED`), and handles
//! encode (tag, gpu, gi, ci) in the pointer value, so they stay valid across processes.

//!
//! The crate, by concern: [`config`] (the `FAKE_NVML_*` knobs), [`latency`] (emulated driver
//! time), [`errors`] (return codes,
//! `nvmlErrorString`), `handles` (the opaque handle encoding), `store` (the shared node file,
//! its lock, the `.busy`/`.held` side files), [`proc_tree`], `model` (lookups in the simulated
//! node), `profiles` (the GPU-instance profiles served), `abi` (the entry-point plumbing), and
//! the exported calls: [`init`], [`device`], [`processes`], [`gpu_instance`],
//! [`compute_instance`], [`mig_device`].

mod abi;
pub mod compute_instance;
pub mod config;
pub mod device;
pub mod errors;
pub mod gpu_instance;
mod handles;
pub mod init;
pub mod latency;
pub mod mig_device;
mod model;
pub mod proc_tree;
pub mod processes;
mod profiles;
mod store;

pub use compute_instance::*;
pub use config::{
    CALL_LOG_ENV, CI_DEVICE_ENV, DRIVER_ENV, EXTRA_PROFILES_ENV, GPU_NAME_ENV, NO_UVM_ENV,
    PERSISTENCE_ENV, PLACEMENTS_ENV, PROC_ROOT_ENV, PROFILE_MEMORY_ENV, STATE_ENV,
};
pub use device::*;
pub use errors::nvmlErrorString;
pub use gpu_instance::*;
pub use init::*;
pub use latency::{Kind as LatencyKind, Latency, LATENCY_ENV, LATENCY_LOG_ENV};
pub use mig_device::*;
pub use proc_tree::{write_proc_tree, CAPS_MAJOR, NVIDIA_MAJOR, UVM_MAJOR};
pub use processes::*;
