//! The seed walkthrough end to end through `dynamigctl` on the `nvml` backend: the fake
//! libnvidia-ml.so.1 found through `LD_LIBRARY_PATH`, modelling an A100-SXM4-40GB, with the
//! fake proc tree for the capability files. The hardware's view (the fake's node file) must
//! match what `dynamigctl status` says at every step.

mod common;

use common::{dynamigctl, Fake};
use dynamig_core::ids::CiId;
use dynamig_node::backend::sim::{cap_minor, SimNode};

fn json(f: &Fake, ctl: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let o = f.command(ctl).args(args).output().expect("run dynamigctl");
    assert!(
        o.status.success(),
        "dynamigctl {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json")
}

/// (start, size, uuid) of the fake hardware's instances.
fn hardware(f: &Fake) -> Vec<(u8, u8, String)> {
    let n = SimNode::load(&f.state()).unwrap().unwrap();
    let m = n.gpus[0].model().unwrap();
    let mut v: Vec<_> = n.gpus[0]
        .instances
        .iter()
        .map(|i| {
            let size = m.profile_by_id(i.profile_id).unwrap().memory_slices;
            (i.start, size, i.uuid.clone())
        })
        .collect();
    v.sort();
    v
}

fn reported(st: &serde_json::Value) -> Vec<(u8, u8, String)> {
    let mut v: Vec<_> = st["gpus"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                u8::try_from(i["placement"]["start"].as_u64().unwrap()).unwrap(),
                u8::try_from(i["placement"]["size"].as_u64().unwrap()).unwrap(),
                i["uuid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn seed_walkthrough_on_the_fake_nvml() {
    let ctl = dynamigctl();
    let mut f = Fake::new(&["a100-40gb"], true);
    f.set_env("DYNAMIG_BACKEND", "nvml");
    let proc_root = f.dir.path().join("proc");

    for (id, flag, value) in [
        ("mig1", "--gpu-memory", "10GB"),
        ("mig2", "--mig-profile", "2g.10gb"),
        ("mig3", "--mig-profile", "2g.10gb"),
    ] {
        let a = json(&f, &ctl, &["allocate", id, flag, value, "--json"]);
        assert!(a["uuid"].as_str().unwrap().starts_with("MIG-"), "{a}");
        assert_eq!(a["evict"].as_array().unwrap().len(), 0);
    }
    let st = json(&f, &ctl, &["status", "--json"]);
    let hw = hardware(&f);
    assert_eq!(hw.len(), 3);
    assert!(
        hw.iter().all(|(_, size, _)| *size == 2),
        "three 2g.10gb: {hw:?}"
    );
    assert_eq!(reported(&st), hw, "status agrees with the hardware");
    // The driver published the capability files of every instance.
    let n = SimNode::load(&f.state()).unwrap().unwrap();
    for i in &n.gpus[0].instances {
        let access = proc_root.join(format!(
            "driver/nvidia/capabilities/gpu0/mig/gi{}/ci0/access",
            i.gi
        ));
        let text = std::fs::read_to_string(&access).unwrap();
        assert!(text.contains(&format!(
            "DeviceFileMinor: {}",
            cap_minor(0, i.gi, Some(CiId(0)))
        )));
    }

    let a4 = json(
        &f,
        &ctl,
        &[
            "allocate",
            "mig1-int",
            "--gpu-memory",
            "20G",
            "--priority",
            "interactive",
            "--json",
        ],
    );
    assert_eq!(a4["profile"], "3g.20gb");
    let evicted = a4["evict"].as_array().unwrap();
    assert_eq!(evicted.len(), 1, "{a4}");
    let after = hardware(&f);
    assert_eq!(after.len(), 3);
    assert_eq!(after.iter().filter(|i| i.1 == 4).count(), 1, "{after:?}");
    // The two survivors are untouched: same placement, same MIG device.
    let survivors: Vec<_> = hw.iter().filter(|i| after.contains(i)).collect();
    assert_eq!(survivors.len(), 2, "{hw:?} -> {after:?}");
    assert_eq!(reported(&json(&f, &ctl, &["status", "--json"])), after);

    let o = f
        .command(&ctl)
        .args(["release", "mig1-int"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(hardware(&f).len(), 2);
}

#[test]
fn doctor_through_dynamigctl() {
    let ctl = dynamigctl();
    let mut f = Fake::new(&["a100-40gb"], true);
    let dev = f.dir.path().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    for n in [
        "nvidiactl",
        "nvidia0",
        "nvidia-uvm",
        "nvidia-uvm-tools",
        "nvidia-caps",
    ] {
        std::fs::write(dev.join(n), "").unwrap();
    }
    f.set_env("DYNAMIG_DEV_ROOT", &dev.display().to_string());
    f.set_env(
        "DYNAMIG_ETC_ROOT",
        &f.dir.path().join("etc").display().to_string(),
    );
    common::cdi_spec(&mut f, "580.126.09");
    let o = f.command(&ctl).arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("[ok  ] GPU 0:") && text.contains("node: ready"),
        "{text}"
    );
    // MIG off on the only GPU: not ready, exit 1; and doctor changed nothing.
    f.edit(|n| {
        n.gpus[0].mig = dynamig_node::backend::MigMode {
            current: false,
            pending: false,
        }
    });
    let before = std::fs::read(f.state()).unwrap();
    let o = f.command(&ctl).arg("doctor").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("MIG disabled"));
    assert_eq!(std::fs::read(f.state()).unwrap(), before);
}
