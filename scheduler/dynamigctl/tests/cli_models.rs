//! The models added after the first six, through `dynamigctl` on a simulated node: `sim init`
//! and `profiles` know each, and the seed walkthrough (three small training requests, then an
//! interactive one that evicts exactly one) runs on each.

mod common;
use common::*;

/// Model key; the small requests (`--gpu-memory` or `--mig-profile`, value); the interactive
/// request's memory and the profile it must get.
struct Walk {
    key: &'static str,
    small: [(&'static str, &'static str); 3],
    big: &'static str,
    big_profile: &'static str,
}

const WALKS: [Walk; 8] = [
    Walk {
        key: "rtx-pro-6000-bse",
        small: [
            ("--gpu-memory", "20GB"),
            ("--mig-profile", "1g.24gb"),
            ("--mig-profile", "1g.24gb"),
        ],
        big: "40GB",
        big_profile: "2g.48gb",
    },
    Walk {
        key: "b200-180gb",
        small: [
            ("--gpu-memory", "40GB"),
            ("--mig-profile", "2g.45gb"),
            ("--mig-profile", "2g.45gb"),
        ],
        big: "80GB",
        big_profile: "3g.90gb",
    },
    Walk {
        key: "gb200-186gb",
        small: [
            ("--gpu-memory", "40GB"),
            ("--mig-profile", "2g.47gb"),
            ("--mig-profile", "2g.47gb"),
        ],
        big: "80GB",
        big_profile: "3g.93gb",
    },
    Walk {
        key: "gh200-96gb",
        small: [
            ("--gpu-memory", "20GB"),
            ("--mig-profile", "2g.24gb"),
            ("--mig-profile", "2g.24gb"),
        ],
        big: "40GB",
        big_profile: "3g.48gb",
    },
    Walk {
        key: "gh200-144gb",
        small: [
            ("--gpu-memory", "30GB"),
            ("--mig-profile", "2g.36gb"),
            ("--mig-profile", "2g.36gb"),
        ],
        big: "60GB",
        big_profile: "3g.72gb",
    },
    Walk {
        key: "h20-96gb",
        small: [
            ("--gpu-memory", "20GB"),
            ("--mig-profile", "2g.24gb"),
            ("--mig-profile", "2g.24gb"),
        ],
        big: "40GB",
        big_profile: "3g.48gb",
    },
    Walk {
        key: "b300",
        small: [
            ("--gpu-memory", "60GB"),
            ("--mig-profile", "2g.67gb"),
            ("--mig-profile", "2g.67gb"),
        ],
        big: "120GB",
        big_profile: "3g.135gb",
    },
    Walk {
        key: "gb300",
        small: [
            ("--gpu-memory", "60GB"),
            ("--mig-profile", "2g.70gb"),
            ("--mig-profile", "2g.70gb"),
        ],
        big: "120GB",
        big_profile: "3g.139gb",
    },
];

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn seed_walkthrough_on_every_new_model() {
    for w in &WALKS {
        let c = Ctl::new();
        c.ok(&["sim", "init", w.key]);
        for (i, (flag, value)) in w.small.iter().enumerate() {
            let id = format!("train{i}");
            let a = c.json(&["allocate", &id, flag, value, "--json"]);
            assert!(a["uuid"].as_str().unwrap().starts_with("MIG-"), "{}", w.key);
            assert_eq!(a["evict"].as_array().unwrap().len(), 0, "{} {id}", w.key);
        }
        let before = instances(&c.status());
        assert_eq!(before.len(), 3, "{}", w.key);

        let plan = c.json(&[
            "plan",
            "--gpu-memory",
            w.big,
            "--priority",
            "interactive",
            "--json",
        ]);
        assert_eq!(plan["profile"], w.big_profile, "{}", w.key);
        assert_eq!(instances(&c.status()), before, "{}: a dry run", w.key);

        let a = c.json(&[
            "allocate",
            "interactive",
            "--gpu-memory",
            w.big,
            "--priority",
            "interactive",
            "--json",
        ]);
        assert_eq!(a["profile"], w.big_profile, "{}", w.key);
        let evicted = names(&a["evict"]);
        assert_eq!(evicted.len(), 1, "{}: {evicted:?}", w.key);
        assert_eq!(evicted, names(&plan["evict"]), "{}", w.key);

        let st = c.status();
        assert_no_overlap(&st);
        let after = instances(&st);
        assert_eq!(after.len(), 3, "{}", w.key);
        for kept in before
            .iter()
            .filter(|i| i.4.as_deref() != Some(evicted[0].as_str()))
        {
            assert!(after.contains(kept), "{}: {kept:?} changed", w.key);
        }
        let ended = st["ended"].as_array().unwrap();
        assert_eq!(ended.len(), 1, "{}", w.key);
        assert_eq!(ended[0]["state"], "preempted", "{}", w.key);
    }
}

#[test]
fn profiles_and_sim_init_know_every_new_model() {
    let c = Ctl::new();
    let all = c.json(&["profiles", "--json"]);
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    for w in &WALKS {
        assert!(keys.contains(&w.key), "{} missing from {keys:?}", w.key);
    }
    // The RTX PRO 6000's placements are on the driver's 12-unit grid.
    let rtx = c.ok(&["profiles", "rtx-pro-6000-bse"]);
    assert!(rtx.contains("{0,3,6,9}:3"), "{rtx}");
    assert!(rtx.contains("{0,6}:6"), "{rtx}");
    assert!(rtx.contains("1g.24gb+me.all"), "{rtx}");
    // One node of every new model at once.
    let keys: Vec<&str> = WALKS.iter().map(|w| w.key).collect();
    let mut args = vec!["sim", "init"];
    args.extend(&keys);
    c.ok(&args);
    let st = c.status();
    assert_eq!(st["gpus"].as_array().unwrap().len(), keys.len());
    // On an RTX PRO 6000, a `+gfx` profile is given by name; a plain memory request of the
    // same size gets the plain profile.
    let c = Ctl::new();
    c.ok(&["sim", "init", "rtx-pro-6000-bse"]);
    let g = c.json(&["allocate", "gfx", "--mig-profile", "1g.24gb+gfx", "--json"]);
    assert_eq!(g["profile"], "1g.24gb+gfx");
    assert_eq!(g["gpu"], 0);
    let m = c.json(&["allocate", "plain", "--gpu-memory", "20GB", "--json"]);
    assert_eq!((&m["profile"], &m["gpu"]), (&"1g.24gb".into(), &0.into()));
}
