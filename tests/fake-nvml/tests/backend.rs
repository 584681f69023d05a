//! The `nvml` backend against the fake libnvidia-ml.so.1, loaded through the normal NVML path.

mod common;

use common::{child_state, edit, run, Fake};
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use dynamig_node::backend::nvml::{catalog_differences, NvmlBackend, OpenError};
use dynamig_node::backend::sim::cap_minor;
use dynamig_node::backend::{self, Backend, BackendChoice, BackendError, MigMode, SelectError};
use dynamig_node::config::NodeConfig;
use dynamig_node::state::StateDir;
use std::time::Duration;

const TWO_G: ProfileId = ProfileId(14); // 2g.10gb on A100-40GB
const THREE_G: ProfileId = ProfileId(9); // 3g.20gb
const ONE_G: ProfileId = ProfileId(19); // 1g.5gb
const ONE_G_ME: ProfileId = ProfileId(20); // 1g.5gb+me, one per GPU

fn open() -> NvmlBackend {
    match NvmlBackend::open(NodeConfig::from_env().proc_tree()) {
        Ok(b) => b,
        Err(e) => panic!("the fake NVML did not open: {e}"),
    }
}

fn state_dir() -> StateDir {
    NodeConfig::from_env().open_state_dir().expect("state dir")
}

#[test]
fn discovers_gpus_and_the_drivers_profiles() {
    run(
        "discovers_gpus_and_the_drivers_profiles",
        || Fake::new(&["a100-40gb", "h100-80gb"], true),
        || {
            let mut b = open();
            assert_eq!(b.kind(), "nvml");
            assert_eq!(b.driver_version().unwrap(), "580.126.09");
            assert!(b.nvml_version().unwrap().ends_with("580.126.09"));
            let gpus = b.gpus().unwrap();
            assert_eq!(gpus.len(), 2);
            assert_eq!(gpus[0].name, "NVIDIA A100-SXM4-40GB");
            assert_eq!(gpus[0].model.map(|m| m.key), Some("a100-40gb"));
            assert_eq!(gpus[1].model.map(|m| m.key), Some("h100-80gb"));
            assert!(gpus[0].uuid.starts_with("GPU-"));
            assert_eq!((gpus[0].minor, gpus[1].minor), (0, 1));
            assert!(gpus.iter().all(|g| g.mig.usable()));
            for g in &gpus {
                let model = g.model.unwrap();
                let prof = b.driver_profiles(g.index).unwrap();
                assert_eq!(prof.len(), model.profiles.len());
                assert_eq!(catalog_differences(model, &prof), Vec::<String>::new());
            }
            assert_eq!(b.placements(GpuIndex(0), THREE_G).unwrap(), vec![0, 4]);
            assert_eq!(b.placements(GpuIndex(0), TWO_G).unwrap(), vec![0, 2, 4]);
            assert!(matches!(
                b.placements(GpuIndex(0), ProfileId(777)),
                Err(BackendError::UnknownProfile {
                    gpu: GpuIndex(0),
                    profile_id: ProfileId(777)
                })
            ));
            assert!(matches!(
                b.instances(GpuIndex(5)),
                Err(BackendError::NoSuchGpu(GpuIndex(5)))
            ));
            // The library loads, so `auto` picks nvml even with a simulated node present.
            let dir = state_dir();
            dynamig_node::backend::sim::SimNode::new(&["a30-24gb"])
                .unwrap()
                .save(&dir.sim_file())
                .unwrap();
            let auto = backend::open(
                &dir,
                BackendChoice::Auto,
                NodeConfig::from_env().proc_tree(),
            )
            .unwrap();
            assert_eq!(auto.kind(), "nvml");
        },
    );
}

#[test]
fn the_driver_differing_from_the_catalog_is_seen() {
    run(
        "the_driver_differing_from_the_catalog_is_seen",
        || {
            let mut f = Fake::new(&["a100-40gb"], true);
            f.set_env("FAKE_NVML_PROFILE_MEMORY", "14:9856");
            f
        },
        || {
            let mut b = open();
            let prof = b.driver_profiles(GpuIndex(0)).unwrap();
            let gpus = b.gpus().unwrap();
            let catalog = dynamig_core::catalog::model_by_name(&gpus[0].name).unwrap();
            let d = catalog_differences(catalog, &prof);
            assert_eq!(d.len(), 1, "{d:?}");
            assert!(d[0].contains("2g.10gb") && d[0].contains("9856"), "{d:?}");
            // The model the node plans with is the driver's.
            let planned = gpus[0].model.unwrap();
            assert_eq!(planned.key, "a100-40gb");
            assert_eq!(planned.profile("2g.10gb").unwrap().memory_mib, 9856);
            assert_eq!(catalog.profile("2g.10gb").unwrap().memory_mib, 9984);
            // The V call names the profiles as the driver does.
            assert!(prof
                .iter()
                .any(|p| p.name.as_deref() == Some("MIG 2g.10gb")));
        },
    );
}

#[test]
fn creates_lists_and_destroys_with_device_nodes() {
    run(
        "creates_lists_and_destroys_with_device_nodes",
        || Fake::new(&["a100-40gb"], true),
        || {
            let mut b = open();
            let mut made = Vec::new();
            for start in [0, 2, 4] {
                let i = b.create(GpuIndex(0), TWO_G, start).unwrap();
                assert_eq!(
                    (i.gpu, i.ci, i.start, i.size),
                    (GpuIndex(0), Some(CiId(0)), start, 2)
                );
                assert!(i.uuid.starts_with("MIG-"), "{i:?}");
                made.push(i);
            }
            assert_eq!(
                made.iter().map(|i| i.gi).collect::<Vec<_>>(),
                vec![GiId(3), GiId(4), GiId(5)]
            );
            assert_eq!(b.instances(GpuIndex(0)).unwrap(), made);
            // Another process (a new backend) sees the same instances.
            let mut b2 = open();
            assert_eq!(b2.instances(GpuIndex(0)).unwrap(), made);

            let nodes = b.device_nodes(GpuIndex(0), GiId(4), CiId(0)).unwrap();
            let gi_minor = cap_minor(0, GiId(4), None);
            let ci_minor = cap_minor(0, GiId(4), Some(CiId(0)));
            assert_eq!(
                nodes[0].path,
                format!("/dev/nvidia-caps/nvidia-cap{gi_minor}")
            );
            assert_eq!((nodes[0].major, nodes[0].minor), (237, gi_minor));
            assert_eq!(
                nodes[1].path,
                format!("/dev/nvidia-caps/nvidia-cap{ci_minor}")
            );
            assert_eq!((nodes[1].major, nodes[1].minor), (237, ci_minor));
            let paths: Vec<&str> = nodes.iter().map(|n| n.path.as_str()).collect();
            assert_eq!(
                &paths[2..],
                &[
                    "/dev/nvidia0",
                    "/dev/nvidiactl",
                    "/dev/nvidia-uvm",
                    "/dev/nvidia-uvm-tools"
                ]
            );
            assert_eq!(nodes[4].major, 508);
            assert!(b.device_nodes(GpuIndex(0), GiId(6), CiId(0)).is_err());

            b.destroy(GpuIndex(0), GiId(4)).unwrap();
            assert!(matches!(
                b.destroy(GpuIndex(0), GiId(4)),
                Err(BackendError::NoSuchInstance {
                    gpu: GpuIndex(0),
                    gi: GiId(4)
                })
            ));
            let proc_tree = NodeConfig::from_env().proc_tree();
            assert!(!proc_tree.access_path(0, GiId(4), None).exists());
            assert_eq!(b.instances(GpuIndex(0)).unwrap().len(), 2);
            // The freed slots (GI 4 was the 2g.10gb at 2) take a 1g.5gb now.
            let one = b.create(GpuIndex(0), ONE_G, 2).unwrap();
            assert_eq!(one.gi, GiId(9));
            for gi in [3, 5, 9] {
                b.destroy(GpuIndex(0), GiId(gi)).unwrap();
            }
            assert!(b.instances(GpuIndex(0)).unwrap().is_empty());
            // And the whole GPU.
            let full = b.create(GpuIndex(0), ProfileId(0), 0).unwrap();
            assert_eq!((full.gi, full.size), (GiId(0), 8));
        },
    );
}

#[test]
fn refuses_what_the_driver_refuses() {
    run(
        "refuses_what_the_driver_refuses",
        || Fake::new(&["a100-40gb"], true),
        || {
            let mut b = open();
            assert!(matches!(
                b.create(GpuIndex(0), THREE_G, 2),
                Err(BackendError::InvalidPlacement {
                    profile_id: THREE_G,
                    start: 2,
                    size: 4,
                    ..
                })
            ));
            b.create(GpuIndex(0), THREE_G, 4).unwrap();
            assert!(matches!(
                b.create(GpuIndex(0), TWO_G, 4),
                Err(BackendError::InsufficientResources { start: 4, .. })
            ));
            assert!(matches!(
                b.create(GpuIndex(0), ProfileId(777), 0),
                Err(BackendError::UnknownProfile {
                    profile_id: ProfileId(777),
                    ..
                })
            ));
            b.create(GpuIndex(0), ONE_G_ME, 0).unwrap();
            // One +me instance per GPU.
            assert!(matches!(
                b.create(GpuIndex(0), ONE_G_ME, 1),
                Err(BackendError::InsufficientResources { .. })
            ));
            assert!(matches!(
                b.create(GpuIndex(3), ONE_G, 1),
                Err(BackendError::NoSuchGpu(GpuIndex(3)))
            ));
            // Nothing half-made was left behind by the refusals.
            let inst = b.instances(GpuIndex(0)).unwrap();
            assert_eq!(inst.len(), 2);
            assert!(inst.iter().all(|i| i.ci == Some(CiId(0))));
        },
    );
}

#[test]
fn destroy_refuses_while_processes_run_and_retries_a_brief_in_use() {
    run(
        "destroy_refuses_while_processes_run_and_retries_a_brief_in_use",
        || Fake::new(&["a100-40gb"], true),
        || {
            let state = child_state();
            let mut b = open();
            let i = b.create(GpuIndex(0), TWO_G, 2).unwrap();
            let me = std::process::id();
            edit(&state, |n| n.gpus[0].instances[0].pids = vec![me]);
            assert_eq!(b.processes(GpuIndex(0), i.gi).unwrap(), vec![me]);
            assert_eq!(
                b.processes(GpuIndex(0), GiId(5)).unwrap(),
                Vec::<u32>::new()
            );
            assert_eq!(
                b.destroy(GpuIndex(0), i.gi),
                Err(BackendError::InUse {
                    gpu: GpuIndex(0),
                    gi: i.gi,
                    pids: vec![me]
                })
            );
            // Still there: the node's eviction path waits on InUse with its own timeout.
            assert_eq!(b.instances(GpuIndex(0)).unwrap().len(), 1);
            // A process that is gone no longer counts.
            edit(&state, |n| n.gpus[0].instances[0].pids = vec![]);
            // The driver's brief "in use" after the compute instance goes: destroy retries.
            std::fs::write(format!("{}.busy", state.display()), "3\n").unwrap();
            b.destroy(GpuIndex(0), i.gi).unwrap();
            assert!(b.instances(GpuIndex(0)).unwrap().is_empty());
            // A lasting "in use" becomes InUse, leaving the GPU instance without its compute
            // instance; a later destroy finishes the job.
            let i = b.create(GpuIndex(0), TWO_G, 2).unwrap();
            std::fs::write(format!("{}.busy", state.display()), "1000\n").unwrap();
            b.set_in_use_retry(Duration::from_millis(250));
            assert!(matches!(
                b.destroy(GpuIndex(0), i.gi),
                Err(BackendError::InUse { .. })
            ));
            let left = b.instances(GpuIndex(0)).unwrap();
            assert_eq!(
                (left.len(), left[0].ci, left[0].uuid.as_str()),
                (1, None, "")
            );
            std::fs::write(format!("{}.busy", state.display()), "0\n").unwrap();
            b.destroy(GpuIndex(0), i.gi).unwrap();
            assert!(b.instances(GpuIndex(0)).unwrap().is_empty());
        },
    );
}

#[test]
fn lists_instances_someone_else_made() {
    run(
        "lists_instances_someone_else_made",
        || {
            let f = Fake::new(&["a100-40gb"], true);
            f.edit(|n| {
                let gi = n.create_gi(GpuIndex(0), ONE_G, 6).unwrap();
                n.create_ci(GpuIndex(0), gi).unwrap();
                n.create_gi(GpuIndex(0), ONE_G, 5).unwrap(); // a GPU instance with no compute instance
            });
            f
        },
        || {
            let mut b = open();
            let inst = b.instances(GpuIndex(0)).unwrap();
            assert_eq!(inst.len(), 2);
            assert_eq!((inst[0].start, inst[0].gi, inst[0].ci), (5, GiId(12), None));
            assert!(inst[0].uuid.is_empty());
            assert_eq!(
                (inst[1].start, inst[1].gi, inst[1].ci),
                (6, GiId(13), Some(CiId(0)))
            );
            assert!(inst[1].uuid.starts_with("MIG-"));
            assert!(matches!(
                b.create(GpuIndex(0), ONE_G, 6),
                Err(BackendError::InsufficientResources { .. })
            ));
            assert!(matches!(
                b.create(GpuIndex(0), TWO_G, 4),
                Err(BackendError::InsufficientResources { .. })
            ));
            b.create(GpuIndex(0), TWO_G, 2).unwrap();
        },
    );
}

#[test]
fn a_gpu_with_mig_off_or_pending_is_reported_not_used() {
    run(
        "a_gpu_with_mig_off_or_pending_is_reported_not_used",
        || {
            let f = Fake::new(&["a100-40gb", "a100-40gb", "a100-40gb"], true);
            f.edit(|n| {
                n.gpus[0].mig = MigMode {
                    current: false,
                    pending: false,
                };
                n.gpus[1].mig = MigMode {
                    current: true,
                    pending: false,
                };
                n.gpus[2].mig = MigMode {
                    current: false,
                    pending: true,
                };
            });
            f
        },
        || {
            let mut b = open();
            let gpus = b.gpus().unwrap();
            assert_eq!(gpus.len(), 3);
            assert_eq!(
                gpus[0].mig,
                MigMode {
                    current: false,
                    pending: false
                }
            );
            assert_eq!(
                gpus[1].mig,
                MigMode {
                    current: true,
                    pending: false
                }
            );
            assert_eq!(
                gpus[2].mig,
                MigMode {
                    current: false,
                    pending: true
                }
            );
            for g in 0..3 {
                assert_eq!(
                    b.create(GpuIndex(g), TWO_G, 0),
                    Err(BackendError::MigDisabled { gpu: GpuIndex(g) })
                );
            }
            assert!(b.instances(GpuIndex(0)).unwrap().is_empty());
            assert!(b.instances(GpuIndex(1)).unwrap().is_empty());
        },
    );
}

#[test]
fn a_missing_library_is_a_clear_error_never_a_silent_simulator() {
    run(
        "a_missing_library_is_a_clear_error_never_a_silent_simulator",
        || Fake::new(&["a100-40gb"], false),
        || {
            match NvmlBackend::open(NodeConfig::from_env().proc_tree()) {
                Err(OpenError::Load(msg)) => assert!(msg.contains("libnvidia-ml.so.1"), "{msg}"),
                Err(other) => panic!("wanted a load error, got {other}"),
                Ok(_) => {
                    eprintln!("skipped: a real libnvidia-ml.so.1 is installed on this machine");
                    return;
                }
            }
            let dir = state_dir();
            let e = backend::open(
                &dir,
                BackendChoice::Auto,
                NodeConfig::from_env().proc_tree(),
            )
            .err()
            .expect("no backend");
            let msg = e.to_string();
            assert!(matches!(e, SelectError::Nothing { .. }), "{msg}");
            assert!(
                msg.contains("libnvidia-ml.so.1") && msg.contains("sim init"),
                "{msg}"
            );
            let e = backend::open(
                &dir,
                BackendChoice::Nvml,
                NodeConfig::from_env().proc_tree(),
            )
            .err()
            .expect("no nvml");
            assert!(e.to_string().contains("libnvidia-ml.so.1"), "{e}");
            // Only an explicitly created simulated node makes `auto` use the simulator.
            dynamig_node::backend::sim::SimNode::new(&["a100-40gb"])
                .unwrap()
                .save(&dir.sim_file())
                .unwrap();
            assert_eq!(
                backend::open(
                    &dir,
                    BackendChoice::Auto,
                    NodeConfig::from_env().proc_tree()
                )
                .unwrap()
                .kind(),
                "sim"
            );
        },
    );
}

#[test]
fn a_driver_that_fails_to_initialise_is_a_typed_error() {
    run(
        "a_driver_that_fails_to_initialise_is_a_typed_error",
        || Fake::new(&[], true), // the library loads, but there is no node: DRIVER_NOT_LOADED
        || {
            match NvmlBackend::open(NodeConfig::from_env().proc_tree()) {
                Err(OpenError::Init(msg)) => {
                    assert!(msg.to_lowercase().contains("driver"), "{msg}")
                }
                Err(other) => panic!("wanted an init error, got {other}"),
                Ok(_) => panic!("NVML opened without a node"),
            }
            // The library loads, so this is a GPU node: a simulated node left in the state
            // directory is not used unless asked for.
            let dir = state_dir();
            dynamig_node::backend::sim::SimNode::new(&["a100-40gb"])
                .unwrap()
                .save(&dir.sim_file())
                .unwrap();
            let e = backend::open(
                &dir,
                BackendChoice::Auto,
                NodeConfig::from_env().proc_tree(),
            )
            .err()
            .expect("auto must not open the simulator on a GPU node");
            let msg = e.to_string();
            assert!(matches!(e, SelectError::NvmlInit { .. }), "{msg}");
            assert!(
                msg.contains("libnvidia-ml.so.1") && msg.contains("DYNAMIG_BACKEND=sim"),
                "{msg}"
            );
            assert_eq!(
                backend::open(&dir, BackendChoice::Sim, NodeConfig::from_env().proc_tree())
                    .unwrap()
                    .kind(),
                "sim"
            );
        },
    );
}
