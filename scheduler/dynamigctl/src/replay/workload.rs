//! Workloads: a list of jobs, each an arrival time, a duration, a request and a priority.
//!
//! Times are in arbitrary units for the synthetic mixes (mean job duration 1) and in seconds for
//! the trace. Arrival rates are set from an offered load: `load` = (arrival rate × mean duration ×
//! mean memory slices asked) / memory slices of the node, so `1.0` offers exactly the node's
//! capacity and anything above it forces refusals or evictions.

use super::rng::SplitMix64;
use super::ReplayError;
use dynamig_core::catalog::GpuModel;
use dynamig_core::priority::{Priority, INTERACTIVE, TRAINING};
use dynamig_core::request::Size;

/// One request and its life.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: u64,
    pub arrival: f64,
    pub duration: f64,
    pub size: Size,
    pub priority: Priority,
    pub preemptible: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub name: String,
    /// Sorted by arrival.
    pub jobs: Vec<Job>,
}

/// The synthetic mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Memory sizes uniform over the model's four placement sizes (1, 2, 4, 8 memory slices).
    Uniform,
    /// Mostly 1- and 2-slice requests: 55 / 30 / 12 / 3 % for 1 / 2 / 4 / 8 slices.
    SmallHeavy,
    /// The seed walkthrough's pattern, repeated: a burst of `10GB` training jobs that fills the
    /// node, then a burst of short `interactive` `20GB` requests that must preempt some of them.
    Seed,
}

impl Mix {
    pub fn by_name(name: &str) -> Option<Mix> {
        match name {
            "uniform" => Some(Mix::Uniform),
            "small-heavy" => Some(Mix::SmallHeavy),
            "seed" => Some(Mix::Seed),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mix::Uniform => "uniform",
            Mix::SmallHeavy => "small-heavy",
            Mix::Seed => "seed",
        }
    }
}

/// The share of interactive (non-preemptible, priority 100) requests in the random mixes; the
/// rest are preemptible training (priority 50).
const INTERACTIVE_SHARE: f64 = 0.3;

/// Memory (MiB) of the smallest profile of each placement size 1, 2, 4, 8 on `model`.
fn size_classes(model: &GpuModel) -> [(u8, u64); 4] {
    [1u8, 2, 4, 8].map(|slices| {
        let mib = model
            .profiles
            .iter()
            .filter(|p| p.memory_slices == slices)
            .map(|p| p.memory_mib)
            .min()
            .unwrap_or(model.memory_mib);
        (slices, mib)
    })
}

fn memory_size(mib: u64) -> Size {
    Size::Memory {
        bytes: mib * 1024 * 1024,
        text: format!("{mib}MiB"),
    }
}

fn priority_of(interactive: bool) -> (Priority, bool) {
    let p = Priority(if interactive { INTERACTIVE } else { TRAINING });
    (p, p.default_preemptible())
}

/// A seeded synthetic workload of `n` jobs for a node of `gpus`, at offered `load`.
pub fn synthetic(mix: Mix, gpus: &[&'static GpuModel], n: usize, seed: u64, load: f64) -> Workload {
    let mut rng = SplitMix64::new(seed);
    let total: f64 = gpus.iter().map(|m| f64::from(m.memory_slices)).sum();
    let classes = size_classes(gpus[0]);
    let mut jobs = match mix {
        Mix::Uniform | Mix::SmallHeavy => {
            let w: [f64; 4] = if mix == Mix::Uniform {
                [1.0; 4]
            } else {
                [0.55, 0.30, 0.12, 0.03]
            };
            poisson_mix(&mut rng, &w, &classes, total, n, load)
        }
        Mix::Seed => seed_cycles(&mut rng, &classes, total, gpus.len(), n, load),
    };
    sort_jobs(&mut jobs);
    Workload {
        name: mix.name().into(),
        jobs,
    }
}

/// `n` jobs arriving as a Poisson stream at offered `load`, each of a size class drawn with
/// weights `w`, interactive with probability [`INTERACTIVE_SHARE`], of mean life 1.
fn poisson_mix(
    rng: &mut SplitMix64,
    w: &[f64; 4],
    classes: &[(u8, u64); 4],
    total: f64,
    n: usize,
    load: f64,
) -> Vec<Job> {
    let mean_slices: f64 = w
        .iter()
        .zip(classes)
        .map(|(w, (s, _))| w * f64::from(*s))
        .sum::<f64>()
        / w.iter().sum::<f64>();
    let rate = load * total / mean_slices;
    let mut t = 0.0;
    let mut jobs = Vec::with_capacity(n);
    for id in 0..n as u64 {
        t += rng.exp(1.0 / rate);
        let (_, mib) = classes[rng.weighted(w)];
        let (priority, preemptible) = priority_of(rng.unit() < INTERACTIVE_SHARE);
        jobs.push(Job {
            id,
            arrival: t,
            duration: rng.exp(1.0),
            size: memory_size(mib),
            priority,
            preemptible,
        });
    }
    jobs
}

/// The seed mix: each cycle of length 2 / load, training 10GB-class jobs for every 2-slice
/// placement of the node (mean life 3), then one interactive 20GB-class request per GPU half
/// (mean life 0.5) halfway through.
fn seed_cycles(
    rng: &mut SplitMix64,
    classes: &[(u8, u64); 4],
    total: f64,
    n_gpus: usize,
    n: usize,
    load: f64,
) -> Vec<Job> {
    let cycle = 2.0 / load.max(0.01);
    // `total` is a small non-negative count of placements.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n_train = (total / 2.0).ceil() as usize;
    let n_int = n_gpus.max(1);
    let mut jobs = Vec::with_capacity(n);
    let mut c = 0.0;
    let mut id = 0u64;
    while jobs.len() < n {
        for k in 0..(n_train + n_int) {
            let interactive = k >= n_train;
            let (_, mib) = classes[if interactive { 2 } else { 1 }];
            let (priority, preemptible) = priority_of(interactive);
            let base = if interactive { c + cycle / 2.0 } else { c };
            jobs.push(Job {
                id,
                arrival: base + rng.unit() * cycle * 0.05,
                duration: rng.exp(if interactive { 0.5 } else { 3.0 }),
                size: memory_size(mib),
                priority,
                preemptible,
            });
            id += 1;
        }
        c += cycle;
    }
    jobs.truncate(n);
    jobs
}

fn sort_jobs(jobs: &mut [Job]) {
    jobs.sort_by(|a, b| a.arrival.total_cmp(&b.arrival).then(a.id.cmp(&b.id)));
}

/// One pod of the trace file (`tests/data/alibaba-openb-gpu-requests.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracePod {
    pub creation: u64,
    pub deletion: u64,
    pub num_gpu: u32,
    pub gpu_milli: u32,
    /// `LS` and `Guaranteed` are latency-sensitive.
    pub latency_sensitive: bool,
}

/// Reads the trace file. Columns: creation_time, deletion_time, num_gpu, gpu_milli, qos, and
/// optionally more (ignored).
pub fn load_trace(path: &std::path::Path) -> Result<Vec<TracePod>, ReplayError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReplayError::TraceIo {
        path: p.clone(),
        source,
    })?;
    parse_trace(&p, &text)
}

pub fn parse_trace(path: &str, text: &str) -> Result<Vec<TracePod>, ReplayError> {
    let bad = |line: usize, what: String| ReplayError::TraceFormat {
        path: path.into(),
        line,
        what,
    };
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = match lines.next() {
        Some((_, h)) => h.split(',').map(str::trim).collect(),
        None => return Err(bad(1, "empty file".into())),
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad(1, format!("no column {name:?}")))
    };
    let (ci, di, ni, mi, qi) = (
        col("creation_time")?,
        col("deletion_time")?,
        col("num_gpu")?,
        col("gpu_milli")?,
        col("qos")?,
    );
    let mut pods = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |k: usize| {
            f.get(k)
                .copied()
                .ok_or_else(|| bad(i + 1, format!("only {} fields", f.len())))
        };
        let num = |k: usize| -> Result<u64, ReplayError> {
            let v = field(k)?;
            v.parse::<u64>()
                .map_err(|_| bad(i + 1, format!("{:?} is not a number", v)))
        };
        let pod = TracePod {
            creation: num(ci)?,
            deletion: num(di)?,
            num_gpu: u32::try_from(num(ni)?)
                .map_err(|_| bad(i + 1, "num_gpu is out of range".to_string()))?,
            gpu_milli: u32::try_from(num(mi)?.min(1000)).unwrap_or(1000),
            latency_sensitive: matches!(field(qi)?, "LS" | "Guaranteed"),
        };
        pods.push(pod);
    }
    Ok(pods)
}

/// Longest job life taken from the trace; longer pods (many are still running when the trace
/// ends) are cut to this.
const TRACE_MAX_DURATION_S: f64 = 86_400.0;

/// A workload of `n` single-GPU pods from the trace, mapped onto a node of `gpus`.
///
/// The mapping (see `tests/data/README.md`): only pods with `num_gpu == 1` (one MIG instance
/// cannot span GPUs; pods without GPU need none); the pod's share of the GPU becomes memory
/// slices, `ceil(gpu_milli × memory_slices / 1000)`, and the request is the memory of the
/// smallest profile with at least that many slices on the first GPU's model (on an A100-40GB:
/// 230 → 2 slices → 9984 MiB; 500 → 4 → 20096 MiB; 1000 → the full GPU); `LS` and
/// `Guaranteed` pods are interactive (priority 100, non-preemptible), `BE` and `Burstable`
/// preemptible training (priority 50); life = deletion − creation, from 1 s to one day. The pods
/// are taken in creation order from a seeded offset (wrapping around); arrivals are a Poisson
/// stream at the offered `load`, because the trace's timestamps describe a 1,213-node cluster.
/// With `fractional_only`, whole-GPU pods are left out too (the trace's GPU-sharing pods).
#[allow(clippy::too_many_arguments)]
pub fn from_trace(
    pods: &[TracePod],
    fractional_only: bool,
    gpus: &[&'static GpuModel],
    n: usize,
    seed: u64,
    load: f64,
    name: &str,
) -> Result<Workload, ReplayError> {
    let single: Vec<&TracePod> = pods
        .iter()
        .filter(|p| p.num_gpu == 1 && (!fractional_only || p.gpu_milli < 1000))
        .collect();
    if single.is_empty() {
        return Err(ReplayError::TraceEmpty(name.into()));
    }
    let model = gpus[0];
    let classes = size_classes(model);
    let mut rng = SplitMix64::new(seed);
    let offset = rng.below(single.len());
    let picked: Vec<(u64, f64, bool)> = (0..n)
        .map(|k| trace_job(single[(offset + k) % single.len()], model, &classes))
        .collect();
    let total: f64 = gpus.iter().map(|m| f64::from(m.memory_slices)).sum();
    let jobs = trace_arrivals(&mut rng, picked, &classes, total, load);
    Ok(Workload {
        name: name.into(),
        jobs,
    })
}

/// A trace pod as (memory MiB, life s, latency-sensitive) on `model`.
fn trace_job(p: &TracePod, model: &GpuModel, classes: &[(u8, u64); 4]) -> (u64, f64, bool) {
    let want = (u64::from(p.gpu_milli.max(1)) * u64::from(model.memory_slices)).div_ceil(1000);
    let mib = classes
        .iter()
        .find(|(s, _)| u64::from(*s) >= want)
        .map_or(classes[3].1, |(_, m)| *m);
    let life = (p.deletion.saturating_sub(p.creation) as f64).clamp(1.0, TRACE_MAX_DURATION_S);
    (mib, life, p.latency_sensitive)
}

/// The picked pods as jobs arriving as a Poisson stream at offered `load`, from the mean slices
/// and mean life of the picked pods.
fn trace_arrivals(
    rng: &mut SplitMix64,
    picked: Vec<(u64, f64, bool)>,
    classes: &[(u8, u64); 4],
    total: f64,
    load: f64,
) -> Vec<Job> {
    let slices_of = |mib: u64| {
        classes
            .iter()
            .find(|(_, m)| *m >= mib)
            .map_or(8.0, |(s, _)| f64::from(*s))
    };
    let work: f64 = picked
        .iter()
        .map(|(m, l, _)| slices_of(*m) * l)
        .sum::<f64>();
    let mean_work = work / picked.len().max(1) as f64;
    let rate = load * total / mean_work.max(f64::MIN_POSITIVE);
    let mut t = 0.0;
    picked
        .into_iter()
        .enumerate()
        .map(|(id, (mib, life, ls))| {
            t += rng.exp(1.0 / rate);
            let (priority, preemptible) = priority_of(ls);
            Job {
                id: id as u64,
                arrival: t,
                duration: life,
                size: memory_size(mib),
                priority,
                preemptible,
            }
        })
        .collect()
}
