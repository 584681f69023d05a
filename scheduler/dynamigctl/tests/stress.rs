//! Stress: 16 processes at a time run 1000 mixed allocate / release / evict operations (`evict`:
//! an allocation at a higher priority that has to preempt) through `dynamigctl` on an 8-GPU
//! simulated node of mixed models, with two administrator (foreign) instances that must never
//! be touched. Every holder lives as long as a process that ignores SIGTERM, with a 50 ms grace
//! period: every eviction waits for its victims (outside the node lock) and SIGKILLs them, so
//! evictions from several processes are in flight at once (the test fails if they never are). After every operation a checker, written independently of the code under test
//! (it reads `state.json` and `sim.json` itself, as JSON, under the node lock, and uses only
//! the catalog's tables), checks the node. The lock's hold and wait times (from
//! `DYNAMIG_LOCK_STATS`) and the throughput are written to
//! `target/tmp/stress-figures.txt` (and printed, which shows under `--nocapture`; run-all.sh
//! shows the file).
// The test's own arithmetic on small counts, indices and JSON numbers it wrote itself.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod common;
use common::*;
use dynamig_core::catalog;
use dynamig_core::ids::ProfileId;
use dynamig_node::state::NodeLock;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: usize = 16;
const OPS: usize = 1000;
const MODELS: [&str; 8] = [
    "a100-40gb",
    "a100-80gb",
    "a30-24gb",
    "h100-80gb",
    "h100-94gb",
    "h200-141gb",
    "a100-40gb",
    "h100-80gb",
];

/// xorshift64*, seeded per worker: the mix is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A state file's JSON body, after checking its header (version, CRC32, length) by hand.
fn read_checked(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let nl = bytes.iter().position(|&b| b == b'\n').expect("header line");
    let header = std::str::from_utf8(&bytes[..nl]).expect("header text");
    let body = &bytes[nl + 1..];
    let f: Vec<&str> = header.split(' ').collect();
    assert_eq!(f[0], "dynamig-state", "{header}");
    // state.json is in version 2 (holders by namespace and id), sim.json still in 1
    let version = if path.ends_with("sim.json") {
        "v1"
    } else {
        "v2"
    };
    assert_eq!(f[1], version, "{}: {header}", path.display());
    let crc = u32::from_str_radix(f[2].trim_start_matches("crc32="), 16).expect("crc");
    let len: usize = f[3].trim_start_matches("len=").parse().expect("len");
    assert_eq!(body.len(), len, "{}: length", path.display());
    assert_eq!(crc32fast::hash(body), crc, "{}: checksum", path.display());
    serde_json::from_slice(body).expect("JSON body")
}

/// What the workers know (recorded right after each successful call).
#[derive(Default)]
struct Known {
    /// holder id -> (priority, preemptible), as requested.
    requested: HashMap<String, (i64, bool)>,
    /// Ids whose release returned 0: they must never come back.
    released: HashSet<String>,
}

/// The invariants of the node, checked from the files alone. Returns the active holders and the
/// evictions in flight.
fn check(dir: &Path, foreign: &BTreeMap<(u64, u64), String>, known: &Known) -> (usize, usize) {
    let sim = read_checked(&dir.join("sim.json"));
    let state = match dir.join("state.json").exists() {
        true => read_checked(&dir.join("state.json")),
        false => serde_json::json!({"holders": [], "intents": []}),
    };
    let intents = state["intents"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(intents, 0, "an intent left behind with the lock free");
    let evictions = state["evictions"].as_array().cloned().unwrap_or_default();

    // Hardware: every GPU's instances are a layout NVML would accept.
    let mut hw: HashMap<(u64, u64), (String, u64, u64)> = HashMap::new();
    let mut uuids = HashSet::new();
    let gpus = sim["gpus"].as_array().expect("gpus");
    assert_eq!(gpus.len(), MODELS.len());
    for g in gpus {
        let gi_idx = g["index"].as_u64().unwrap();
        let model = catalog::model_by_key(g["model"].as_str().unwrap()).expect("model");
        assert_eq!(
            model.key, MODELS[gi_idx as usize],
            "GPU {gi_idx} changed model"
        );
        assert!(g["mig"]["current"].as_bool().unwrap(), "MIG mode changed");
        let (mut mem, mut compute) = (0u32, 0u32);
        let mut engines = catalog::Engines::ZERO;
        let mut per_profile: HashMap<u32, u8> = HashMap::new();
        for i in g["instances"].as_array().unwrap() {
            let pid = i["profile_id"].as_u64().unwrap() as u32;
            let start = i["start"].as_u64().unwrap() as u8;
            let p = model
                .profile_by_id(ProfileId(pid))
                .expect("profile in the catalog");
            assert!(
                p.starts.contains(&start),
                "{} at {start}: not a placement",
                p.name
            );
            let mask = ((1u32 << p.memory_slices) - 1) << start;
            assert_eq!(mem & mask, 0, "GPU {gi_idx}: memory slices bound twice");
            mem |= mask;
            compute += p.compute_slices as u32;
            engines = engines.plus(p.engines);
            *per_profile.entry(pid).or_default() += 1;
            assert!(
                per_profile[&pid] <= p.max_count,
                "{} over its limit",
                p.name
            );
            let uuid = i["uuid"].as_str().unwrap().to_string();
            assert!(uuids.insert(uuid.clone()), "uuid {uuid} twice");
            let gi = i["gi"].as_u64().unwrap();
            assert!(
                hw.insert((gi_idx, gi), (uuid, pid as u64, start as u64))
                    .is_none(),
                "GPU {gi_idx}: GPU instance id {gi} twice"
            );
        }
        assert!(mem < (1 << model.memory_slices), "beyond the GPU's memory");
        assert!(
            compute <= model.compute_slices as u32,
            "GPU {gi_idx}: compute over"
        );
        assert!(engines.within(model.engines), "GPU {gi_idx}: engines over");
    }
    // Administrators' instances are never touched.
    for (k, uuid) in foreign {
        assert_eq!(
            hw.get(k).map(|v| &v.0),
            Some(uuid),
            "foreign instance {k:?} touched"
        );
    }

    // State: each holder once; each active holder's instance exists, bound to it alone.
    let mut ids = HashSet::new();
    let mut bound: HashSet<(u64, u64)> = HashSet::new();
    let mut active = 0;
    let mut active_at: Vec<(String, u64, u64, u64)> = Vec::new();
    for h in state["holders"].as_array().unwrap() {
        let id = h["id"].as_str().unwrap().to_string();
        assert!(ids.insert(id.clone()), "holder {id} twice");
        assert!(
            !known.released.contains(&id),
            "released holder {id} is back"
        );
        match h["state"].as_str().unwrap() {
            "active" => {
                active += 1;
                let i = &h["instance"];
                assert!(!i.is_null(), "active holder {id} without an instance");
                let k = (i["gpu"].as_u64().unwrap(), i["gi"].as_u64().unwrap());
                let (uuid, pid, start) = hw
                    .get(&k)
                    .unwrap_or_else(|| panic!("{id}'s instance {k:?} is not in the hardware"));
                assert_eq!(i["uuid"].as_str().unwrap(), uuid, "{id}: uuid");
                assert_eq!(i["profile_id"].as_u64().unwrap(), *pid, "{id}: profile");
                assert_eq!(i["start"].as_u64().unwrap(), *start, "{id}: placement");
                assert!(
                    !foreign.contains_key(&k),
                    "{id} bound to a foreign instance"
                );
                assert!(bound.insert(k), "instance {k:?} bound twice");
                let size = i["size"].as_u64().unwrap();
                active_at.push((id.clone(), k.0, *start, size));
                if let Some((p, pre)) = known.requested.get(&id) {
                    assert_eq!(h["priority"].as_i64().unwrap(), *p, "{id}: priority");
                    assert_eq!(h["preemptible"].as_bool().unwrap(), *pre, "{id}");
                }
            }
            "preempting" => {
                // Still holds its instance until its process is gone.
                let i = &h["instance"];
                assert!(!i.is_null(), "preempting holder {id} without an instance");
                let k = (i["gpu"].as_u64().unwrap(), i["gi"].as_u64().unwrap());
                assert!(
                    hw.contains_key(&k),
                    "{id}'s instance {k:?} is not in the hardware"
                );
                assert!(bound.insert(k), "instance {k:?} bound twice");
            }
            "preempted" | "lost" => {
                assert!(h["instance"].is_null(), "{id} kept an instance it lost");
            }
            s => panic!("{id}: unknown state {s}"),
        }
    }
    // Evictions in flight: each victim preempting and in one eviction only, and nobody active
    // in the room one reserves.
    let mut victims_seen = HashSet::new();
    for e in &evictions {
        let gpu = e["gpu"].as_u64().unwrap();
        let model = catalog::model_by_key(gpus[gpu as usize]["model"].as_str().unwrap()).unwrap();
        let p = model
            .profile_by_id(ProfileId(e["profile_id"].as_u64().unwrap() as u32))
            .expect("reserved profile");
        let start = e["start"].as_u64().unwrap();
        let end = start + p.memory_slices as u64;
        for v in e["victims"].as_array().unwrap() {
            let v = v["id"].as_str().unwrap().to_string();
            assert!(
                !active_at.iter().any(|a| a.0 == v),
                "victim {v} of an eviction in flight is active"
            );
            assert!(
                victims_seen.insert(v.clone()),
                "{v} is the victim of two evictions"
            );
        }
        for (id, g, s, n) in &active_at {
            assert!(
                *g != gpu || s + n <= start || end <= *s,
                "{id} is active in room reserved for {}",
                e["holder"]
            );
        }
    }
    // No leaked dynamig instance: the hardware holds exactly the bound and the foreign ones.
    assert_eq!(
        hw.len(),
        bound.len() + foreign.len(),
        "leaked or missing instances"
    );
    (active, evictions.len())
}

fn percentile(v: &[u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct Tally {
    alloc_ok: usize,
    alloc_full: usize,
    evict_ops_ok: usize,
    victims: usize,
    released: usize,
    release_noop: usize,
    /// The most evictions the checker saw in flight at once.
    max_evictions: usize,
}

/// A process that ignores SIGTERM: a victim spends its whole grace period.
fn stubborn() -> std::process::Child {
    std::process::Command::new("sh")
        .args(["-c", "trap '' TERM; exec sleep 600"])
        .spawn()
        .expect("spawn a victim process")
}

#[test]
fn sixteen_processes_thousand_operations() {
    let c = Ctl::new();
    let mut args = vec!["sim", "init"];
    args.extend(MODELS);
    c.ok(&args);
    c.ok(&["sim", "create", "2", "1g.6gb", "3"]);
    c.ok(&["sim", "create", "5", "1g.18gb", "6"]);
    let dir = c.state_dir();
    let sim = read_checked(&dir.join("sim.json"));
    let mut foreign = BTreeMap::new();
    for g in sim["gpus"].as_array().unwrap() {
        for i in g["instances"].as_array().unwrap() {
            foreign.insert(
                (g["index"].as_u64().unwrap(), i["gi"].as_u64().unwrap()),
                i["uuid"].as_str().unwrap().to_string(),
            );
        }
    }
    assert_eq!(foreign.len(), 2);
    let stats: PathBuf = c.dir.path().join("lock-stats");
    let known = Arc::new(Mutex::new(Known::default()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let foreign = Arc::new(foreign);
    let c = Arc::new(c);
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (c, known, tally, foreign, stats) = (
                c.clone(),
                known.clone(),
                tally.clone(),
                foreign.clone(),
                stats.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1000_0001));
                let mut mine: Vec<String> = Vec::new();
                let mut procs: HashMap<String, std::process::Child> = HashMap::new();
                let n_ops = OPS / WORKERS + usize::from(w < OPS % WORKERS);
                let lock = c.state_dir().join("lock");
                for n in 0..n_ops {
                    let roll = rng.below(100);
                    let mut cmd = c.cmd();
                    cmd.env(dynamig_node::state::lock::STATS_ENV, &stats)
                        .env("DYNAMIG_LOCK_TIMEOUT_MS", "120000");
                    let id = format!("w{w}-{n}");
                    let (kind, prio, pre) = if roll < 40 && !mine.is_empty() {
                        let victim = mine.swap_remove(rng.below(mine.len()));
                        cmd.args(["release", &victim]);
                        if let Some(mut p) = procs.remove(&victim) {
                            let _ = p.kill();
                            let _ = p.wait();
                        }
                        ("release", victim, false)
                    } else if roll < 75 {
                        let sizes = ["5GB", "10GB", "20GB", "1g.10gb", "2g.20gb", "1g.5gb"];
                        let s = sizes[rng.below(sizes.len())];
                        let flag = if s.contains('.') {
                            "--mig-profile"
                        } else {
                            "--gpu-memory"
                        };
                        cmd.args(["allocate", &id, flag, s, "--json"]);
                        ("allocate", "50".into(), true)
                    } else {
                        // Higher priorities; some stay preemptible, so later evictions happen
                        // at every level.
                        let classes = [
                            ("inference", "125", "false"),
                            ("interactive", "100", "false"),
                            ("80", "80", "true"),
                            ("inference", "125", "true"),
                        ];
                        let (cl, p, pre) = classes[rng.below(classes.len())];
                        let sizes = ["10GB", "20GB", "40GB", "3g.40gb"];
                        let s = sizes[rng.below(sizes.len())];
                        let flag = if s.contains('.') {
                            "--mig-profile"
                        } else {
                            "--gpu-memory"
                        };
                        cmd.args([
                            "allocate",
                            &id,
                            flag,
                            s,
                            "--priority",
                            cl,
                            "--preemptible",
                            pre,
                            "--json",
                        ]);
                        ("evict", p.into(), pre == "true")
                    };
                    if kind != "release" {
                        let p = stubborn();
                        cmd.args(["--pid", &p.id().to_string(), "--grace-period", "50ms"]);
                        procs.insert(id.clone(), p);
                        // Recorded before the call: another process may evict the new holder
                        // before this worker gets to look.
                        let p: i64 = prio.parse().unwrap();
                        known
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .requested
                            .insert(id.clone(), (p, pre));
                    }
                    let o = cmd.output().unwrap();
                    let err = String::from_utf8_lossy(&o.stderr).to_string();
                    let code = o.status.code();
                    // Check under the node lock, right after the operation.
                    let _l = NodeLock::acquire(&lock, Duration::from_secs(120)).unwrap();
                    let mut k = known.lock().unwrap_or_else(|e| e.into_inner());
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    match (kind, code) {
                        ("release", Some(0)) => {
                            let victim = prio;
                            if String::from_utf8_lossy(&o.stdout).starts_with("released") {
                                t.released += 1;
                            } else {
                                t.release_noop += 1;
                            }
                            k.released.insert(victim);
                        }
                        ("allocate" | "evict", Some(0)) => {
                            let a: Value = serde_json::from_slice(&o.stdout).unwrap();
                            let me: i64 = prio.parse().unwrap();
                            mine.push(id.clone());
                            let victims = a["evict"].as_array().unwrap();
                            for v in victims {
                                let v = v.as_str().unwrap();
                                let (vp, vpre) = k.requested[v];
                                assert!(vpre && vp < me, "{id} ({me}) evicted {v} ({vp}, {vpre})");
                            }
                            if kind == "evict" {
                                t.evict_ops_ok += 1;
                            } else {
                                t.alloc_ok += 1;
                            }
                            t.victims += victims.len();
                            // The new holder: active on exactly that instance, or since preempted.
                            let st = read_checked(&c.state_file());
                            let h = st["holders"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .find(|h| h["id"] == id.as_str())
                                .unwrap_or_else(|| panic!("{id} vanished"))
                                .clone();
                            match h["state"].as_str().unwrap() {
                                "active" => assert_eq!(h["instance"]["uuid"], a["uuid"]),
                                "preempted" | "preempting" => {}
                                s => panic!("{id} is {s}"),
                            }
                            for v in victims {
                                let vh = st["holders"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .find(|h| h["id"] == *v);
                                if let Some(vh) = vh {
                                    assert_ne!(vh["state"], "active", "victim {v} still active");
                                }
                            }
                        }
                        ("allocate" | "evict", Some(1)) => {
                            assert!(err.contains("no room"), "{id}: unexpected refusal: {err}");
                            t.alloc_full += 1;
                        }
                        _ => panic!("{kind} {id}: exit {code:?}: {err}"),
                    }
                    let (_, evicting) = check(&c.state_dir(), &foreign, &k);
                    t.max_evictions = t.max_evictions.max(evicting);
                }
                for (_, mut p) in procs {
                    let _ = p.kill();
                    let _ = p.wait();
                }
            })
        })
        .collect();
    let mut panics = Vec::new();
    for (w, h) in workers.into_iter().enumerate() {
        if let Err(e) = h.join() {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panics.push(format!("worker {w}: {msg}"));
        }
    }
    let wall = started.elapsed();
    assert!(panics.is_empty(), "{}", panics.join("\n"));

    let t = tally.lock().unwrap();
    let total = t.alloc_ok + t.alloc_full + t.evict_ops_ok + t.released + t.release_noop;
    assert_eq!(total, OPS, "every operation accounted for");
    assert!(
        t.victims > 0,
        "the mix never had to evict: the test does not test eviction"
    );
    assert!(t.alloc_full > 0, "the node never filled up");
    assert!(
        t.max_evictions >= 2,
        "never two evictions in flight at once: the test does not test concurrent evictions"
    );

    let text = std::fs::read_to_string(&stats).unwrap();
    let mut held = Vec::new();
    let mut waited = Vec::new();
    for l in text.lines() {
        let mut f = l.split(' ');
        let num =
            |s: Option<&str>| -> u64 { s.unwrap().split('=').nth(1).unwrap().parse().unwrap() };
        held.push(num(f.next()));
        waited.push(num(f.next()));
    }
    assert!(
        held.len() >= OPS,
        "{} lock records for {OPS} operations",
        held.len()
    );
    held.sort_unstable();
    waited.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let figures = format!(
        "stress: {OPS} operations by {WORKERS} concurrent processes on 8 simulated GPUs ({}), {:.1} s wall, {:.1} operations/s (checker included)\n\
         outcomes: {} allocations, {} eviction requests granted ({} victims, up to {} evictions in flight at once), {} refused for no room, {} releases ({} no-ops)\n\
         lock held (ms, {} acquisitions): median {:.2}, p95 {:.2}, p99 {:.2}, max {:.2}\n\
         lock waited (ms): median {:.2}, p95 {:.2}, max {:.2}\n",
        MODELS.join(" "),
        wall.as_secs_f64(),
        OPS as f64 / wall.as_secs_f64(),
        t.alloc_ok,
        t.evict_ops_ok,
        t.victims,
        t.max_evictions,
        t.alloc_full,
        t.released + t.release_noop,
        t.release_noop,
        held.len(),
        ms(percentile(&held, 0.5)),
        ms(percentile(&held, 0.95)),
        ms(percentile(&held, 0.99)),
        ms(*held.last().unwrap()),
        ms(percentile(&waited, 0.5)),
        ms(percentile(&waited, 0.95)),
        ms(*waited.last().unwrap()),
    );
    println!("{figures}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stress-figures.txt");
    std::fs::write(&out, &figures).unwrap();
}
