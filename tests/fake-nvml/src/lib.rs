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

// Every exported function is an NVML C entry point whose safety contract is nvml.h's: pointers
// are checked for null and otherwise trusted, as the real library does.
#![allow(clippy::missing_safety_doc)]

use dynamig_core::catalog::Profile;
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use dynamig_node::backend::sim::{cap_minor, SimGpu, SimInstance, SimNode};
use dynamig_node::backend::BackendError;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub const STATE_ENV: &str = "FAKE_NVML_STATE";
pub const PROC_ROOT_ENV: &str = "FAKE_NVML_PROC_ROOT";
pub const DRIVER_ENV: &str = "FAKE_NVML_DRIVER_VERSION";
pub const PROFILE_MEMORY_ENV: &str = "FAKE_NVML_PROFILE_MEMORY";
pub const PLACEMENTS_ENV: &str = "FAKE_NVML_PLACEMENTS";
pub const GPU_NAME_ENV: &str = "FAKE_NVML_GPU_NAME";
pub const PERSISTENCE_ENV: &str = "FAKE_NVML_PERSISTENCE";
pub const NO_UVM_ENV: &str = "FAKE_NVML_NO_UVM";
pub const CI_DEVICE_ENV: &str = "FAKE_NVML_CI_DEVICE";
pub const CALL_LOG_ENV: &str = "FAKE_NVML_CALL_LOG";
pub const EXTRA_PROFILES_ENV: &str = "FAKE_NVML_EXTRA_PROFILES";
/// `NVML_GPU_INSTANCE_PROFILE_COUNT` and `NVML_COMPUTE_INSTANCE_PROFILE_COUNT` of NVML 13.
const GI_PROFILE_COUNT: u32 = 0x12;
const CI_PROFILE_COUNT: u32 = 0x09;
/// `gpuInstanceId`/`computeInstanceId` of a process NVML does not attribute to an instance.
const NO_INSTANCE: u32 = 0xFFFF_FFFF;
/// Majors the fake proc tree publishes (deliberately not the `sim` backend's).
pub const NVIDIA_MAJOR: u32 = 195;
pub const CAPS_MAJOR: u32 = 237;
pub const UVM_MAJOR: u32 = 508;

type Ret = sys::nvmlReturn_t;
const SUCCESS: Ret = 0;
const UNINITIALIZED: Ret = 1;
const INVALID_ARGUMENT: Ret = 2;
const NOT_SUPPORTED: Ret = 3;
const NOT_FOUND: Ret = 6;
const INSUFFICIENT_SIZE: Ret = 7;
const DRIVER_NOT_LOADED: Ret = 9;
const IN_USE: Ret = 19;
const INSUFFICIENT_RESOURCES: Ret = 23;
const ARGUMENT_VERSION_MISMATCH: Ret = 25;
const UNKNOWN: Ret = 999;

static INIT_COUNT: AtomicU32 = AtomicU32::new(0);

// ---------------------------------------------------------------------------------------------
// Handles: (tag, gpu, gi, ci) packed into the pointer value. Never dereferenced.

const TAG_DEVICE: usize = 1;
const TAG_MIG: usize = 2;
const TAG_GI: usize = 3;
const TAG_CI: usize = 4;

fn pack(tag: usize, gpu: u32, gi: u32, ci: u32) -> usize {
    (tag << 28)
        | ((gpu as usize & 0xfff) << 16)
        | ((gi as usize & 0xff) << 8)
        | (ci as usize & 0xff)
}

/// `v & mask` for a mask below 2^32.
fn low_bits(v: usize, mask: u32) -> u32 {
    u32::try_from(v & mask as usize).unwrap_or(0)
}

fn unpack<T>(p: *mut T) -> (usize, u32, u32, u32) {
    let v = p as usize;
    (
        v >> 28,
        low_bits(v >> 16, 0xfff),
        low_bits(v >> 8, 0xff),
        low_bits(v, 0xff),
    )
}

fn handle<T>(tag: usize, gpu: u32, gi: u32, ci: u32) -> *mut T {
    pack(tag, gpu, gi, ci) as *mut T
}

// ---------------------------------------------------------------------------------------------
// The model.

fn state_path() -> Result<PathBuf, Ret> {
    std::env::var_os(STATE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or(DRIVER_NOT_LOADED)
}

/// Serialises read-modify-write of the state file between processes.
struct FileLock(std::fs::File);

impl FileLock {
    fn take(state: &Path) -> Result<FileLock, Ret> {
        let mut p = state.as_os_str().to_owned();
        p.push(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(p))
            .map_err(|_| UNKNOWN)?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(UNKNOWN);
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor we locked.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn load() -> Result<SimNode, Ret> {
    let p = state_path()?;
    match SimNode::load(&p) {
        Ok(Some(n)) => Ok(n),
        _ => Err(DRIVER_NOT_LOADED),
    }
}

/// Runs `f` on the node under the lock, saving it (and the proc tree) afterwards.
fn modify<T>(f: impl FnOnce(&mut SimNode) -> Result<T, Ret>) -> Result<T, Ret> {
    let p = state_path()?;
    let _l = FileLock::take(&p)?;
    let mut n = load()?;
    let out = f(&mut n)?;
    n.save(&p).map_err(|_| UNKNOWN)?;
    write_proc_tree(&n);
    Ok(out)
}

fn code_of(e: &BackendError) -> Ret {
    match e {
        BackendError::NoSuchGpu(_) | BackendError::UnknownProfile { .. } => INVALID_ARGUMENT,
        BackendError::InvalidPlacement { .. } => INVALID_ARGUMENT,
        BackendError::NoSuchInstance { .. } => NOT_FOUND,
        BackendError::MigDisabled { .. } => NOT_SUPPORTED,
        BackendError::InsufficientResources { .. } => INSUFFICIENT_RESOURCES,
        BackendError::InUse { .. } => IN_USE,
        _ => UNKNOWN,
    }
}

fn gpu_of(n: &SimNode, gpu: u32) -> Result<&SimGpu, Ret> {
    n.gpus.get(gpu as usize).ok_or(INVALID_ARGUMENT)
}

fn profile_of(g: &SimGpu, id: ProfileId) -> Result<&'static Profile, Ret> {
    let m = g.model().map_err(|_| UNKNOWN)?;
    m.profile_by_id(id).ok_or(INVALID_ARGUMENT)
}

fn instance_of(g: &SimGpu, gi: u32) -> Result<&SimInstance, Ret> {
    g.instances
        .iter()
        .find(|i| i.gi == GiId(gi))
        .ok_or(INVALID_ARGUMENT)
}

fn alive(pid: u32) -> bool {
    dynamig_node::process::ProcRef::of(pid).is_some()
}

/// Compute slices of `NVML_COMPUTE_INSTANCE_PROFILE_*` index (the profile id equals the index).
fn ci_slices(index: u32) -> Option<u32> {
    match index {
        0 => Some(1),
        1 => Some(2),
        2 => Some(3),
        3 => Some(4),
        4 => Some(7),
        5 => Some(8),
        6 => Some(6),
        8 => Some(7), // 7_SLICE_NVL (NVML 13): listed; the full-span one created is 7_SLICE
        _ => None,    // 7 = 1_SLICE_REV1 (+me compute instances): not modelled
    }
}

fn full_ci_profile(p: &Profile) -> u32 {
    (0..7)
        .find(|i| ci_slices(*i) == Some(u32::from(p.compute_slices)))
        .unwrap_or(0)
}

fn profile_memory(p: &Profile) -> u64 {
    if let Ok(v) = std::env::var(PROFILE_MEMORY_ENV) {
        if let Some((id, mib)) = v.split_once(':') {
            if id.trim().parse() == Ok(p.id) {
                if let Ok(m) = mib.trim().parse() {
                    return m;
                }
            }
        }
    }
    p.memory_mib
}

/// The placement starts this fake driver offers for a profile: the catalog's, or the subset
/// `FAKE_NVML_PLACEMENTS` names for its id.
fn offered_starts(p: &Profile) -> Vec<u8> {
    if let Ok(v) = std::env::var(PLACEMENTS_ENV) {
        for entry in v.split(';') {
            let Some((id, starts)) = entry.split_once(':') else {
                continue;
            };
            if id.trim().parse() == Ok(p.id) {
                return starts
                    .split(',')
                    .filter_map(|s| s.trim().parse().ok())
                    .filter(|s| p.starts.contains(s))
                    .collect();
            }
        }
    }
    p.starts.to_vec()
}

/// The product name a GPU reports: its model's, or `FAKE_NVML_GPU_NAME`.
fn gpu_name(g: &SimGpu) -> Result<String, Ret> {
    match std::env::var(GPU_NAME_ENV) {
        Ok(n) if !n.is_empty() => Ok(n),
        _ => Ok(g.model().map_err(|_| UNKNOWN)?.name.to_string()),
    }
}

/// MIG devices of a GPU in NVML's index order: instances with a compute instance, by GI id.
fn mig_devices(g: &SimGpu) -> Vec<&SimInstance> {
    let mut v: Vec<&SimInstance> = g.instances.iter().filter(|i| i.ci.is_some()).collect();
    v.sort_by_key(|i| i.gi);
    v
}

fn busy_path() -> Option<PathBuf> {
    let mut p = state_path().ok()?.into_os_string();
    p.push(".busy");
    Some(PathBuf::from(p))
}

/// Consumes one "in use" answer from `<state>.busy`, if any are left.
fn take_busy() -> bool {
    let Some(p) = busy_path() else { return false };
    let n: u32 = std::fs::read_to_string(&p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if n == 0 {
        return false;
    }
    let _ = std::fs::write(&p, format!("{}\n", n - 1));
    true
}

/// Whether a foreign NVML client holds GPU instance `gi` of `gpu` (`<state>.held`).
fn held(gpu: u32, gi: u32) -> bool {
    let Some(p) = state_path().ok().map(|p| {
        let mut s = p.into_os_string();
        s.push(".held");
        PathBuf::from(s)
    }) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(p) else {
        return false;
    };
    text.lines().any(|l| {
        let Some((g, i)) = l.trim().split_once(':') else {
            return false;
        };
        g.trim().parse() == Ok(gpu) && (i.trim() == "*" || i.trim().parse() == Ok(gi))
    })
}

/// Appends `function` to `FAKE_NVML_CALL_LOG`, when set.
fn log_call(function: &str) {
    if let Some(p) = std::env::var_os(CALL_LOG_ENV).filter(|v| !v.is_empty()) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{function}");
        }
    }
}

/// Persistence mode of GPU `gpu` (`FAKE_NVML_PERSISTENCE`).
fn persistence(gpu: u32) -> bool {
    let Ok(v) = std::env::var(PERSISTENCE_ENV) else {
        return true;
    };
    let modes: Vec<bool> = v.split(',').map(|m| m.trim() != "0").collect();
    modes
        .get(gpu as usize)
        .or(modes.last())
        .copied()
        .unwrap_or(true)
}

/// A GPU-instance profile as this fake driver serves it: a catalog profile, or one of
/// `FAKE_NVML_EXTRA_PROFILES` (`extra`: listed, never created).
struct Served {
    index: u32,
    name: String,
    info: sys::nvmlGpuInstanceProfileInfo_t,
    starts: Vec<u8>,
    size: u32,
    extra: bool,
}

/// The profiles a GPU's driver serves, by index.
fn served_profiles(g: &SimGpu) -> Result<Vec<Served>, Ret> {
    let m = g.model().map_err(|_| UNKNOWN)?;
    let mut v: Vec<Served> = m
        .profiles
        .iter()
        .map(|p| Served {
            index: p.index,
            name: p.name.to_string(),
            info: profile_info(p),
            starts: offered_starts(p),
            size: u32::from(p.memory_slices),
            extra: false,
        })
        .collect();
    let extras = std::env::var(EXTRA_PROFILES_ENV).unwrap_or_default();
    for entry in extras.split(';').filter(|e| !e.trim().is_empty()) {
        let mut it = entry.trim().splitn(3, ':');
        let (Some(Ok(index)), Some(Ok(id)), Some(name)) = (
            it.next().map(|x| x.trim().parse::<u32>()),
            it.next().map(|x| x.trim().parse::<u32>()),
            it.next().map(str::trim),
        ) else {
            continue;
        };
        let cut = name
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map(|(i, _)| i)
            .unwrap_or(name.len());
        let (base, suffix) = name.split_at(cut);
        let Some(bp) = m.profile(base) else { continue };
        let mut info = profile_info(bp);
        info.id = id;
        match suffix {
            "-me" => {
                (info.decoderCount, info.encoderCount) = (0, 0);
                (info.jpegCount, info.ofaCount) = (0, 0);
            }
            "+me.all" => {
                info.decoderCount = u32::from(m.engines.dec);
                info.encoderCount = u32::from(m.engines.enc);
                info.jpegCount = u32::from(m.engines.jpg);
                info.ofaCount = u32::from(m.engines.ofa);
                info.instanceCount = 1;
            }
            _ => {}
        }
        v.push(Served {
            index,
            name: name.to_string(),
            info,
            starts: offered_starts(bp),
            size: u32::from(bp.memory_slices),
            extra: true,
        });
    }
    v.sort_by_key(|p| p.index);
    Ok(v)
}

/// Rewrites the fake proc tree from the node (when `FAKE_NVML_PROC_ROOT` is set).
pub fn write_proc_tree(n: &SimNode) {
    let Some(root) = std::env::var_os(PROC_ROOT_ENV).filter(|v| !v.is_empty()) else {
        return;
    };
    let root = PathBuf::from(root);
    let _ = std::fs::create_dir_all(&root);
    let uvm = if std::env::var(NO_UVM_ENV).is_ok_and(|v| v == "1") {
        String::new()
    } else {
        format!("{UVM_MAJOR} nvidia-uvm\n")
    };
    let devices = format!(
        "Character devices:\n  1 mem\n  4 tty\n{NVIDIA_MAJOR} nvidia-frontend\n\
         {CAPS_MAJOR} nvidia-caps\n{uvm}\nBlock devices:\n  8 sd\n"
    );
    let _ = std::fs::write(root.join("devices"), devices);
    let caps = root.join("driver/nvidia/capabilities");
    let _ = std::fs::remove_dir_all(&caps);
    for g in &n.gpus {
        let mig = caps.join(format!("gpu{}/mig", g.minor));
        let _ = std::fs::create_dir_all(&mig);
        for i in &g.instances {
            let gi_dir = mig.join(format!("gi{}", i.gi));
            let _ = write_access(&gi_dir, cap_minor(g.minor, i.gi, None));
            if let Some(c) = i.ci {
                let _ = write_access(
                    &gi_dir.join(format!("ci{c}")),
                    cap_minor(g.minor, i.gi, Some(c)),
                );
            }
        }
    }
}

fn write_access(dir: &Path, minor: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::File::create(dir.join("access"))?;
    write!(
        f,
        "DeviceFileMinor: {minor}\nDeviceFileMode: 292\nDeviceFileModify: 1\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Plumbing for the exported functions.

/// Runs an entry point: checks initialisation, never lets a panic cross the C boundary.
fn entry(f: impl FnOnce() -> Result<(), Ret>) -> Ret {
    if INIT_COUNT.load(Ordering::SeqCst) == 0 {
        return UNINITIALIZED;
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => SUCCESS,
        Ok(Err(code)) => code,
        Err(_) => UNKNOWN,
    }
}

unsafe fn put<T>(p: *mut T, v: T) -> Result<(), Ret> {
    if p.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    p.write(v);
    Ok(())
}

unsafe fn put_str(buf: *mut c_char, len: c_uint, s: &str) -> Result<(), Ret> {
    if buf.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    let b = s.as_bytes();
    if (len as usize) < b.len() + 1 {
        return Err(INSUFFICIENT_SIZE);
    }
    for (i, c) in b.iter().enumerate() {
        buf.add(i).write(*c as c_char);
    }
    buf.add(b.len()).write(0);
    Ok(())
}

/// Writes a list into a caller buffer with NVML's count protocol: `*count` in = capacity
/// (0 with a null buffer = just ask), out = the number of items.
unsafe fn put_list<T: Copy>(buf: *mut T, count: *mut c_uint, items: &[T]) -> Result<(), Ret> {
    if count.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    let cap = *count as usize;
    *count = c_uint::try_from(items.len()).unwrap_or(c_uint::MAX);
    if cap < items.len() {
        return Err(INSUFFICIENT_SIZE);
    }
    if items.is_empty() {
        return Ok(());
    }
    if buf.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    for (i, it) in items.iter().enumerate() {
        buf.add(i).write(*it);
    }
    Ok(())
}

fn device_gpu(d: sys::nvmlDevice_t) -> Result<u32, Ret> {
    match unpack(d) {
        (TAG_DEVICE, gpu, _, _) => Ok(gpu),
        _ => Err(INVALID_ARGUMENT),
    }
}

fn gi_ref(gi: sys::nvmlGpuInstance_t) -> Result<(u32, u32), Ret> {
    match unpack(gi) {
        (TAG_GI, gpu, gi, _) => Ok((gpu, gi)),
        _ => Err(INVALID_ARGUMENT),
    }
}

fn ci_ref(ci: sys::nvmlComputeInstance_t) -> Result<(u32, u32, u32), Ret> {
    match unpack(ci) {
        (TAG_CI, gpu, gi, ci) => Ok((gpu, gi, ci)),
        _ => Err(INVALID_ARGUMENT),
    }
}

// ---------------------------------------------------------------------------------------------
// Library and system.

#[no_mangle]
pub extern "C" fn nvmlInit_v2() -> Ret {
    match load() {
        Ok(n) => {
            write_proc_tree(&n);
            INIT_COUNT.fetch_add(1, Ordering::SeqCst);
            SUCCESS
        }
        Err(e) => e,
    }
}

#[no_mangle]
pub extern "C" fn nvmlInitWithFlags(_flags: c_uint) -> Ret {
    nvmlInit_v2()
}

#[no_mangle]
pub extern "C" fn nvmlShutdown() -> Ret {
    let prev = INIT_COUNT.load(Ordering::SeqCst);
    if prev == 0 {
        return UNINITIALIZED;
    }
    INIT_COUNT.fetch_sub(1, Ordering::SeqCst);
    SUCCESS
}

#[no_mangle]
pub extern "C" fn nvmlErrorString(result: Ret) -> *const c_char {
    let s: &'static [u8] = match result {
        SUCCESS => b"Success\0",
        UNINITIALIZED => b"Uninitialized\0",
        INVALID_ARGUMENT => b"Invalid Argument\0",
        NOT_SUPPORTED => b"Not Supported\0",
        NOT_FOUND => b"Not Found\0",
        INSUFFICIENT_SIZE => b"Insufficient Size\0",
        DRIVER_NOT_LOADED => b"Driver Not Loaded\0",
        IN_USE => b"In use by another client\0",
        INSUFFICIENT_RESOURCES => b"Insufficient Resources\0",
        _ => b"Unknown Error\0",
    };
    s.as_ptr() as *const c_char
}

#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetDriverVersion(version: *mut c_char, length: c_uint) -> Ret {
    entry(|| {
        let v = std::env::var(DRIVER_ENV).unwrap_or_else(|_| "580.126.09".into());
        put_str(version, length, &v)
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetNVMLVersion(version: *mut c_char, length: c_uint) -> Ret {
    entry(|| {
        let v = std::env::var(DRIVER_ENV).unwrap_or_else(|_| "580.126.09".into());
        put_str(version, length, &format!("13.{v}"))
    })
}

// ---------------------------------------------------------------------------------------------
// Devices.

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(count: *mut c_uint) -> Ret {
    entry(|| put(count, c_uint::try_from(load()?.gpus.len()).unwrap_or(0)))
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut sys::nvmlDevice_t,
) -> Ret {
    entry(|| {
        gpu_of(&load()?, index)?;
        put(device, handle(TAG_DEVICE, index, 0, 0))
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetName(
    device: sys::nvmlDevice_t,
    name: *mut c_char,
    length: c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (tag, gpu, gi, _) = unpack(device);
        let g = gpu_of(&n, gpu)?;
        let gname = gpu_name(g)?;
        match tag {
            TAG_DEVICE => put_str(name, length, &gname),
            TAG_MIG => {
                let p = profile_of(g, instance_of(g, gi)?.profile_id)?;
                put_str(name, length, &format!("{gname} MIG {}", p.name))
            }
            _ => Err(INVALID_ARGUMENT),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetUUID(
    device: sys::nvmlDevice_t,
    uuid: *mut c_char,
    length: c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (tag, gpu, gi, ci) = unpack(device);
        let g = gpu_of(&n, gpu)?;
        match tag {
            TAG_DEVICE => put_str(uuid, length, &g.uuid),
            TAG_MIG => {
                let i = instance_of(g, gi)?;
                if i.ci != Some(CiId(ci)) {
                    return Err(INVALID_ARGUMENT);
                }
                put_str(uuid, length, &i.uuid)
            }
            _ => Err(INVALID_ARGUMENT),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMinorNumber(
    device: sys::nvmlDevice_t,
    minor: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        put(minor, gpu_of(&n, device_gpu(device)?)?.minor)
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMigMode(
    device: sys::nvmlDevice_t,
    current: *mut c_uint,
    pending: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let g = gpu_of(&n, device_gpu(device)?)?;
        put(current, c_uint::from(g.mig.current))?;
        put(pending, c_uint::from(g.mig.pending))
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPersistenceMode(
    device: sys::nvmlDevice_t,
    mode: *mut sys::nvmlEnableState_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let gpu = device_gpu(device)?;
        gpu_of(&n, gpu)?;
        put(mode, c_uint::from(persistence(gpu)))
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeRunningProcesses_v3(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (tag, gpu, only_gi, only_ci) = unpack(device);
        if tag != TAG_DEVICE && tag != TAG_MIG {
            return Err(INVALID_ARGUMENT);
        }
        let g = gpu_of(&n, gpu)?;
        let mut items = Vec::new();
        for i in &g.instances {
            // A MIG device handle: that MIG device's processes only.
            if tag == TAG_MIG && (i.gi != GiId(only_gi) || i.ci != Some(CiId(only_ci))) {
                continue;
            }
            // The parent: the aggregate, not attributed to instances.
            let (gi, ci) = if tag == TAG_MIG {
                (i.gi.get(), i.ci.map_or(0, CiId::get))
            } else {
                (NO_INSTANCE, NO_INSTANCE)
            };
            for pid in i.pids.iter().copied().filter(|p| alive(*p)) {
                items.push(sys::nvmlProcessInfo_t {
                    pid,
                    usedGpuMemory: 256 << 20,
                    gpuInstanceId: gi,
                    computeInstanceId: ci,
                });
            }
        }
        put_list(infos, info_count, &items)
    })
}

// ---------------------------------------------------------------------------------------------
// GPU instances.

/// The profile at `NVML_GPU_INSTANCE_PROFILE_*` index `profile` of a device: `NOT_SUPPORTED`
/// for a hole, `INVALID_ARGUMENT` past the indices this driver knows.
fn profile_at(device: sys::nvmlDevice_t, profile: c_uint) -> Result<Served, Ret> {
    let n = load()?;
    let g = gpu_of(&n, device_gpu(device)?)?;
    let served = served_profiles(g)?;
    let count = served
        .iter()
        .map(|p| p.index + 1)
        .max()
        .unwrap_or(0)
        .max(GI_PROFILE_COUNT);
    if profile >= count {
        return Err(INVALID_ARGUMENT);
    }
    if !g.mig.current {
        return Err(NOT_SUPPORTED);
    }
    served
        .into_iter()
        .find(|p| p.index == profile)
        .ok_or(NOT_SUPPORTED)
}

/// The served profile with id `id`, or `INVALID_ARGUMENT`.
fn served_by_id(g: &SimGpu, id: u32) -> Result<Served, Ret> {
    served_profiles(g)?
        .into_iter()
        .find(|p| p.info.id == id)
        .ok_or(INVALID_ARGUMENT)
}

fn profile_info(p: &Profile) -> sys::nvmlGpuInstanceProfileInfo_t {
    sys::nvmlGpuInstanceProfileInfo_t {
        id: p.id.get(),
        isP2pSupported: 0,
        sliceCount: u32::from(p.compute_slices),
        instanceCount: u32::from(p.max_count),
        multiprocessorCount: u32::from(p.sms),
        copyEngineCount: u32::from(p.engines.ce),
        decoderCount: u32::from(p.engines.dec),
        encoderCount: u32::from(p.engines.enc),
        jpegCount: u32::from(p.engines.jpg),
        ofaCount: u32::from(p.engines.ofa),
        memorySizeMB: profile_memory(p),
    }
}

/// `nvmlGpuInstanceProfileInfo_v2`: the v2 struct's size with version 2 in the top byte.
// The struct is a few hundred bytes: far below 2^24.
#[allow(clippy::cast_possible_truncation)]
const GI_PROFILE_INFO_V2: c_uint =
    std::mem::size_of::<sys::nvmlGpuInstanceProfileInfo_v2_t>() as c_uint | (2 << 24);

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfo(
    device: sys::nvmlDevice_t,
    profile: c_uint,
    info: *mut sys::nvmlGpuInstanceProfileInfo_t,
) -> Ret {
    entry(|| put(info, profile_at(device, profile)?.info))
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfoV(
    device: sys::nvmlDevice_t,
    profile: c_uint,
    info: *mut sys::nvmlGpuInstanceProfileInfo_v2_t,
) -> Ret {
    entry(|| {
        if info.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        if (*info).version != GI_PROFILE_INFO_V2 {
            return Err(ARGUMENT_VERSION_MISMATCH);
        }
        let p = profile_at(device, profile)?;
        let v1 = p.info;
        let mut name = [0 as c_char; 96];
        for (i, b) in format!("MIG {}", p.name).bytes().take(95).enumerate() {
            name[i] = b as c_char;
        }
        put(
            info,
            sys::nvmlGpuInstanceProfileInfo_v2_t {
                version: GI_PROFILE_INFO_V2,
                id: v1.id,
                isP2pSupported: v1.isP2pSupported,
                sliceCount: v1.sliceCount,
                instanceCount: v1.instanceCount,
                multiprocessorCount: v1.multiprocessorCount,
                copyEngineCount: v1.copyEngineCount,
                decoderCount: v1.decoderCount,
                encoderCount: v1.encoderCount,
                jpegCount: v1.jpegCount,
                ofaCount: v1.ofaCount,
                memorySizeMB: v1.memorySizeMB,
                name,
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstancePossiblePlacements_v2(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placements: *mut sys::nvmlGpuInstancePlacement_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let g = gpu_of(&n, device_gpu(device)?)?;
        let p = served_by_id(g, profile_id)?;
        let items: Vec<sys::nvmlGpuInstancePlacement_t> = p
            .starts
            .iter()
            .map(|s| sys::nvmlGpuInstancePlacement_t {
                start: u32::from(*s),
                size: p.size,
            })
            .collect();
        if placements.is_null() && !count.is_null() {
            *count = c_uint::try_from(items.len()).unwrap_or(c_uint::MAX);
            return Ok(());
        }
        put_list(placements, count, &items)
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceCreateGpuInstanceWithPlacement(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placement: *const sys::nvmlGpuInstancePlacement_t,
    gpu_instance: *mut sys::nvmlGpuInstance_t,
) -> Ret {
    entry(|| {
        let gpu = device_gpu(device)?;
        if placement.is_null() || gpu_instance.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        let pl = *placement;
        let gi = modify(|n| {
            let g = gpu_of(n, gpu)?;
            if !g.mig.usable() {
                return Err(NOT_SUPPORTED);
            }
            if served_by_id(g, profile_id)?.extra {
                // Listed only: the model has no such profile to place.
                return Err(NOT_SUPPORTED);
            }
            let p = profile_of(g, ProfileId(profile_id))?;
            if pl.size != u32::from(p.memory_slices) {
                return Err(INVALID_ARGUMENT);
            }
            let start = u8::try_from(pl.start).map_err(|_| INVALID_ARGUMENT)?;
            if !offered_starts(p).contains(&start) {
                return Err(INVALID_ARGUMENT);
            }
            n.create_gi(GpuIndex(gpu), ProfileId(profile_id), start)
                .map_err(|e| code_of(&e))
        })?;
        put(gpu_instance, handle(TAG_GI, gpu, gi.get(), 0))
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstances(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    gpu_instances: *mut sys::nvmlGpuInstance_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let gpu = device_gpu(device)?;
        let g = gpu_of(&n, gpu)?;
        if !g.mig.current {
            return Err(NOT_SUPPORTED);
        }
        served_by_id(g, profile_id)?;
        let items: Vec<sys::nvmlGpuInstance_t> = g
            .instances
            .iter()
            .filter(|i| i.profile_id == ProfileId(profile_id))
            .map(|i| handle(TAG_GI, gpu, i.gi.get(), 0))
            .collect();
        put_list(gpu_instances, count, &items)
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceById(
    device: sys::nvmlDevice_t,
    id: c_uint,
    gpu_instance: *mut sys::nvmlGpuInstance_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let gpu = device_gpu(device)?;
        let g = gpu_of(&n, gpu)?;
        if !g.mig.current {
            return Err(NOT_SUPPORTED);
        }
        if !g.instances.iter().any(|i| i.gi == GiId(id)) {
            return Err(NOT_FOUND);
        }
        put(gpu_instance, handle(TAG_GI, gpu, id, 0))
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetInfo(
    gpu_instance: sys::nvmlGpuInstance_t,
    info: *mut sys::nvmlGpuInstanceInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi) = gi_ref(gpu_instance)?;
        let g = gpu_of(&n, gpu)?;
        let i = instance_of(g, gi)?;
        let p = profile_of(g, i.profile_id)?;
        put(
            info,
            sys::nvmlGpuInstanceInfo_t {
                device: handle(TAG_DEVICE, gpu, 0, 0),
                id: gi,
                profileId: i.profile_id.get(),
                placement: sys::nvmlGpuInstancePlacement_t {
                    start: u32::from(i.start),
                    size: u32::from(p.memory_slices),
                },
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceDestroy(gpu_instance: sys::nvmlGpuInstance_t) -> Ret {
    entry(|| {
        let (gpu, gi) = gi_ref(gpu_instance)?;
        modify(|n| {
            let i = instance_of(gpu_of(n, gpu)?, gi)?;
            if i.ci.is_some() || held(gpu, gi) {
                return Err(IN_USE);
            }
            if take_busy() {
                return Err(IN_USE);
            }
            n.destroy(GpuIndex(gpu), GiId(gi)).map_err(|e| code_of(&e))
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Compute instances.

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceProfileInfo(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile: c_uint,
    eng_profile: c_uint,
    info: *mut sys::nvmlComputeInstanceProfileInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi) = gi_ref(gpu_instance)?;
        let g = gpu_of(&n, gpu)?;
        let p = profile_of(g, instance_of(g, gi)?.profile_id)?;
        if profile >= CI_PROFILE_COUNT {
            return Err(INVALID_ARGUMENT);
        }
        if eng_profile != 0 {
            return Err(NOT_SUPPORTED);
        }
        let slices = ci_slices(profile).ok_or(NOT_SUPPORTED)?;
        let gi_slices = u32::from(p.compute_slices);
        if slices > gi_slices {
            return Err(NOT_SUPPORTED);
        }
        put(
            info,
            sys::nvmlComputeInstanceProfileInfo_t {
                id: profile,
                sliceCount: slices,
                instanceCount: gi_slices / slices,
                multiprocessorCount: u32::from(p.sms) * slices / gi_slices,
                sharedCopyEngineCount: u32::from(p.engines.ce),
                sharedDecoderCount: u32::from(p.engines.dec),
                sharedEncoderCount: u32::from(p.engines.enc),
                sharedJpegCount: u32::from(p.engines.jpg),
                sharedOfaCount: u32::from(p.engines.ofa),
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceCreateComputeInstance(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    compute_instance: *mut sys::nvmlComputeInstance_t,
) -> Ret {
    entry(|| {
        let (gpu, gi) = gi_ref(gpu_instance)?;
        if compute_instance.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        let ci = modify(|n| {
            let g = gpu_of(n, gpu)?;
            let p = profile_of(g, instance_of(g, gi)?.profile_id)?;
            let slices = ci_slices(profile_id).ok_or(INVALID_ARGUMENT)?;
            if slices > u32::from(p.compute_slices) {
                return Err(INVALID_ARGUMENT);
            }
            if profile_id != full_ci_profile(p) {
                // Only compute instances spanning the GPU instance are modelled.
                return Err(NOT_SUPPORTED);
            }
            n.create_ci(GpuIndex(gpu), GiId(gi))
                .map_err(|e| code_of(&e))
        })?;
        put(compute_instance, handle(TAG_CI, gpu, gi, ci.get()))
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstances(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    compute_instances: *mut sys::nvmlComputeInstance_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi) = gi_ref(gpu_instance)?;
        let g = gpu_of(&n, gpu)?;
        let i = instance_of(g, gi)?;
        let p = profile_of(g, i.profile_id)?;
        let items: Vec<sys::nvmlComputeInstance_t> = match i.ci {
            Some(c) if profile_id == full_ci_profile(p) => vec![handle(TAG_CI, gpu, gi, c.get())],
            _ => Vec::new(),
        };
        put_list(compute_instances, count, &items)
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlComputeInstanceGetInfo_v2(
    compute_instance: sys::nvmlComputeInstance_t,
    info: *mut sys::nvmlComputeInstanceInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi, ci) = ci_ref(compute_instance)?;
        let g = gpu_of(&n, gpu)?;
        let i = instance_of(g, gi)?;
        if i.ci != Some(CiId(ci)) {
            return Err(INVALID_ARGUMENT);
        }
        let p = profile_of(g, i.profile_id)?;
        put(
            info,
            sys::nvmlComputeInstanceInfo_t {
                device: if std::env::var(CI_DEVICE_ENV).is_ok_and(|v| v == "mig") {
                    handle(TAG_MIG, gpu, gi, ci)
                } else {
                    handle(TAG_DEVICE, gpu, 0, 0)
                },
                gpuInstance: handle(TAG_GI, gpu, gi, 0),
                id: ci,
                profileId: full_ci_profile(p),
                placement: sys::nvmlComputeInstancePlacement_t {
                    start: 0,
                    size: u32::from(p.compute_slices),
                },
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlComputeInstanceDestroy(
    compute_instance: sys::nvmlComputeInstance_t,
) -> Ret {
    entry(|| {
        let (gpu, gi, ci) = ci_ref(compute_instance)?;
        modify(|n| {
            let g = n.gpus.get_mut(gpu as usize).ok_or(INVALID_ARGUMENT)?;
            let i = g
                .instances
                .iter_mut()
                .find(|i| i.gi == GiId(gi) && i.ci == Some(CiId(ci)))
                .ok_or(INVALID_ARGUMENT)?;
            if i.pids.iter().any(|p| alive(*p)) || held(gpu, gi) {
                return Err(IN_USE);
            }
            i.ci = None;
            i.uuid.clear();
            Ok(())
        })
    })
}

// ---------------------------------------------------------------------------------------------
// MIG device handles.

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMaxMigDeviceCount(
    device: sys::nvmlDevice_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let g = gpu_of(&n, device_gpu(device)?)?;
        let m = g.model().map_err(|_| UNKNOWN)?;
        put(
            count,
            if g.mig.current {
                u32::from(m.compute_slices)
            } else {
                0
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMigDeviceHandleByIndex(
    device: sys::nvmlDevice_t,
    index: c_uint,
    mig_device: *mut sys::nvmlDevice_t,
) -> Ret {
    log_call("nvmlDeviceGetMigDeviceHandleByIndex");
    entry(|| {
        let n = load()?;
        let gpu = device_gpu(device)?;
        let g = gpu_of(&n, gpu)?;
        if !g.mig.current {
            return Err(NOT_SUPPORTED);
        }
        let devs = mig_devices(g);
        let i = devs.get(index as usize).ok_or(NOT_FOUND)?;
        put(
            mig_device,
            handle(TAG_MIG, gpu, i.gi.get(), i.ci.map_or(0, CiId::get)),
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceId(
    device: sys::nvmlDevice_t,
    id: *mut c_uint,
) -> Ret {
    entry(|| match unpack(device) {
        (TAG_MIG, _, gi, _) => put(id, gi),
        (TAG_DEVICE, ..) => Err(NOT_SUPPORTED),
        _ => Err(INVALID_ARGUMENT),
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeInstanceId(
    device: sys::nvmlDevice_t,
    id: *mut c_uint,
) -> Ret {
    entry(|| match unpack(device) {
        (TAG_MIG, _, _, ci) => put(id, ci),
        (TAG_DEVICE, ..) => Err(NOT_SUPPORTED),
        _ => Err(INVALID_ARGUMENT),
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceIsMigDeviceHandle(
    device: sys::nvmlDevice_t,
    is_mig: *mut c_uint,
) -> Ret {
    entry(|| put(is_mig, c_uint::from(unpack(device).0 == TAG_MIG)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        let h: sys::nvmlGpuInstance_t = handle(TAG_GI, 3, 14, 0);
        assert_eq!(gi_ref(h), Ok((3, 14)));
        let c: sys::nvmlComputeInstance_t = handle(TAG_CI, 1, 5, 2);
        assert_eq!(ci_ref(c), Ok((1, 5, 2)));
        assert!(gi_ref(c as sys::nvmlGpuInstance_t).is_err());
        assert!(!h.is_null());
    }

    #[test]
    fn full_span_compute_profiles() {
        let m = dynamig_core::catalog::model_by_key("a100-40gb").unwrap();
        let ids: Vec<u32> = m.profiles.iter().map(full_ci_profile).collect();
        assert!(ids.iter().all(|i| ci_slices(*i).is_some()));
        let p7 = m.profiles.iter().find(|p| p.compute_slices == 7).unwrap();
        assert_eq!(full_ci_profile(p7), 4);
    }
}
