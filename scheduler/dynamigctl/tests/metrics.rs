//! The Prometheus metrics file after the seed walkthrough, read back with a Prometheus
//! text-format parser (`prometheus-parse`), and its values checked against the node.

mod common;
use common::*;
use prometheus_parse::{LineInfo, Scrape, Value};
use std::collections::BTreeMap;

fn metrics_file(c: &Ctl) -> std::path::PathBuf {
    c.state_dir().join("metrics").join("dynamig.prom")
}

/// Parses the file; every line must be a comment, a type, a help or a sample.
fn scrape(c: &Ctl) -> Scrape {
    let text = std::fs::read_to_string(metrics_file(c)).expect("metrics file");
    for line in text.lines() {
        assert!(
            !matches!(LineInfo::parse(line), LineInfo::Ignored),
            "not Prometheus text format: {line:?}"
        );
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// The single value of a gauge or counter with these labels.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => panic!("{name} is not a single value"),
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

fn kind(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> &'static str {
    let x = s
        .samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {name}"));
    match x.value {
        Value::Counter(_) => "counter",
        Value::Gauge(_) => "gauge",
        Value::Histogram(_) => "histogram",
        Value::Summary(_) => "summary",
        Value::Untyped(_) => "untyped",
    }
}

/// Instances per profile on GPU 0, as `status --json` reports them.
fn status_profiles(c: &Ctl) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for i in c.status()["gpus"][0]["instances"].as_array().unwrap() {
        *m.entry(i["profile"].as_str().unwrap().to_string())
            .or_insert(0.0) += 1.0;
    }
    m
}

#[test]
fn metrics_after_the_seed_walkthrough() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "mig1", "--gpu-memory", "10GB"]);
    c.ok(&["allocate", "mig2", "--mig-profile", "2g.10gb"]);
    c.ok(&["allocate", "mig3", "--mig-profile", "2g.10gb"]);

    let s = scrape(&c);
    assert_eq!(kind(&s, "dynamig_instances", &[("gpu", "0")]), "gauge");
    assert_eq!(value(&s, "dynamig_holders", &[("state", "active")]), 3.0);
    assert_eq!(value(&s, "dynamig_preemptions_total", &[]), 0.0);
    let st = c.status();
    let free_mem = st["gpus"][0]["memory_slices"]["total"].as_f64().unwrap()
        - st["gpus"][0]["memory_slices"]["used"].as_f64().unwrap();
    assert_eq!(
        value(&s, "dynamig_free_memory_slices", &[("gpu", "0")]),
        free_mem
    );

    // The interactive 20 GB request preempts exactly one holder.
    c.ok(&[
        "allocate",
        "mig1-int",
        "--gpu-memory",
        "20G",
        "--priority",
        "interactive",
    ]);
    // A request that cannot be met now, and one that no GPU could ever meet.
    assert_eq!(
        c.run(&["allocate", "big", "--mig-profile", "7g.40gb"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        c.run(&["allocate", "huge", "--gpu-memory", "80GB"])
            .status
            .code(),
        Some(2)
    );

    let s = scrape(&c);
    assert_eq!(kind(&s, "dynamig_preemptions_total", &[]), "counter");
    assert_eq!(value(&s, "dynamig_preemptions_total", &[]), 1.0);
    assert_eq!(value(&s, "dynamig_holders", &[("state", "active")]), 3.0);
    assert_eq!(value(&s, "dynamig_holders", &[("state", "preempted")]), 1.0);
    assert_eq!(value(&s, "dynamig_holders", &[("state", "lost")]), 0.0);
    assert_eq!(
        value(&s, "dynamig_refusals_total", &[("reason", "no_room")]),
        1.0
    );
    assert_eq!(
        value(&s, "dynamig_refusals_total", &[("reason", "too_large")]),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "dynamig_refusals_total",
            &[("reason", "unknown_profile")]
        ),
        0.0
    );
    assert_eq!(value(&s, "dynamig_waiting_requests", &[]), 0.0);

    // Instances per profile: what status reports, zero for the model's other profiles.
    let want = status_profiles(&c);
    assert_eq!(want.get("3g.20gb"), Some(&1.0));
    assert_eq!(want.values().sum::<f64>(), 3.0);
    for p in [
        "1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb",
    ] {
        assert_eq!(
            value(&s, "dynamig_instances", &[("gpu", "0"), ("profile", p)]),
            want.get(p).copied().unwrap_or(0.0),
            "{p}"
        );
    }
    let st = c.status();
    let g = &st["gpus"][0];
    assert_eq!(
        value(&s, "dynamig_free_compute_slices", &[("gpu", "0")]),
        g["compute_slices"]["total"].as_f64().unwrap()
            - g["compute_slices"]["used"].as_f64().unwrap()
    );
    assert_eq!(
        value(
            &s,
            "dynamig_gpu_info",
            &[("gpu", "0"), ("uuid", g["uuid"].as_str().unwrap())]
        ),
        1.0
    );

    // Six planner decisions, each in one process: counted across processes, cumulative buckets.
    let h = s
        .samples
        .iter()
        .find(|x| x.metric == "dynamig_decision_seconds")
        .expect("histogram");
    let Value::Histogram(buckets) = &h.value else {
        panic!("dynamig_decision_seconds is not a histogram")
    };
    assert_eq!(buckets.first().map(|b| b.less_than), Some(0.00001));
    assert_eq!(buckets.last().map(|b| b.less_than), Some(f64::INFINITY));
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
    assert_eq!(buckets.last().map(|b| b.count), Some(6.0));
    assert_eq!(value(&s, "dynamig_decision_seconds_count", &[]), 6.0);
    assert!(value(&s, "dynamig_decision_seconds_sum", &[]) > 0.0);

    // Releasing is a state change: the file follows it.
    c.ok(&["release", "mig1-int"]);
    let s = scrape(&c);
    assert_eq!(value(&s, "dynamig_holders", &[("state", "active")]), 2.0);
    assert_eq!(
        value(
            &s,
            "dynamig_instances",
            &[("gpu", "0"), ("profile", "3g.20gb")]
        ),
        0.0
    );
    assert_eq!(value(&s, "dynamig_preemptions_total", &[]), 1.0);
}

#[test]
fn metrics_file_can_be_moved_or_turned_off() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a30-24gb"]);
    let elsewhere = c.dir.path().join("textfile").join("dynamig.prom");
    let o = c
        .cmd()
        .env("DYNAMIG_METRICS_FILE", &elsewhere)
        .args(["allocate", "a", "--gpu-memory", "5GB"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = std::fs::read_to_string(&elsewhere).unwrap();
    let s = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(value(&s, "dynamig_holders", &[("state", "active")]), 1.0);
    assert!(!metrics_file(&c).exists(), "only where it was told");

    let o = c
        .cmd()
        .env("DYNAMIG_METRICS_FILE", "off")
        .args(["release", "a"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!metrics_file(&c).exists());
    assert_eq!(
        std::fs::read_to_string(&elsewhere).unwrap(),
        text,
        "untouched"
    );
}
