//! Writes the ResourceSlices of every catalog model, on nodes of 1 and 8 GPUs with MIG enabled,
//! disabled and pending (and 8 GPUs in mixed modes, and one node with a 253-character name), as
//! `<OUTDIR>/<model>-<gpus>gpu-<mig>.yaml` (a YAML stream of JSON documents), plus
//! `<OUTDIR>/summary.tsv` (devices and slices per file). Each pool is checked with
//! `dynamig_dra_slices::validate` first; tests/e2e/dra-slices.sh then validates the files against
//! Kubernetes' own schema.
//!
//!     cargo run -p dynamig-dra-slices --example write-slices -- OUTDIR
//!     cargo run -p dynamig-dra-slices --example write-slices -- --models   (the model keys)

use dynamig_core::catalog::{models, GpuModel};
use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::inventory::{GpuInventory, Inventory, MigState};
use dynamig_dra_slices::{build, to_yaml_stream, validate};
use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

fn uuid(model: &GpuModel, i: u32) -> String {
    let a = crc32fast::hash(format!("{}/{i}", model.key).as_bytes());
    let b = crc32fast::hash(format!("{i}/{}", model.key).as_bytes());
    format!(
        "GPU-{a:08x}-{:04x}-{:04x}-{:04x}-{:04x}{b:08x}",
        b >> 16,
        b & 0xffff,
        a >> 16,
        a & 0xffff
    )
}

fn inventory(model: &'static GpuModel, gpus: u32, mig: impl Fn(u32) -> MigState) -> Inventory {
    Inventory {
        gpus: (0..gpus)
            .map(|i| GpuInventory {
                index: GpuIndex::new(i),
                uuid: uuid(model, i),
                model,
                mig: mig(i),
            })
            .collect(),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: write-slices OUTDIR | --models")?
        .into();
    if out.as_os_str() == "--models" {
        let keys: Vec<&str> = models().iter().map(|m| m.key).collect();
        println!("{}", keys.join(" "));
        return Ok(());
    }
    std::fs::create_dir_all(&out)?;
    let states = [
        ("on", MigState::Enabled),
        ("off", MigState::Disabled),
        ("pending", MigState::Pending),
    ];
    let mut summary = String::from("file\tgpus\tdevices\tslices\tcounter_slices\tdevice_slices\n");
    let long_node = format!("{}.example.com", "n".repeat(241));
    for model in models() {
        let mut cases: Vec<(String, String, Inventory)> = Vec::new();
        for gpus in [1, 8] {
            for (tag, state) in states {
                cases.push((
                    format!("{}-{gpus}gpu-{tag}", model.key),
                    format!("node-{}", model.key),
                    inventory(model, gpus, |_| state),
                ));
            }
        }
        cases.push((
            format!("{}-8gpu-mixed", model.key),
            format!("node-{}", model.key),
            inventory(model, 8, |i| states[(i % 3) as usize].1),
        ));
        cases.push((
            format!("{}-8gpu-long-node-name", model.key),
            long_node.clone(),
            inventory(model, 8, |_| MigState::Enabled),
        ));
        for (file, node, inv) in cases {
            let slices = build(&node, 1, &inv);
            if let Err(violations) = validate(&slices) {
                let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
                return Err(format!("{file}: {}", list.join("; ")).into());
            }
            let devices: usize = slices
                .iter()
                .map(|s| s.spec.devices.as_ref().map_or(0, Vec::len))
                .sum();
            let counter_slices = slices
                .iter()
                .filter(|s| s.spec.shared_counters.is_some())
                .count();
            writeln!(
                summary,
                "{file}\t{}\t{devices}\t{}\t{counter_slices}\t{}",
                inv.gpus.len(),
                slices.len(),
                slices.len() - counter_slices
            )?;
            std::fs::write(out.join(format!("{file}.yaml")), to_yaml_stream(&slices)?)?;
        }
    }
    std::fs::write(out.join("summary.tsv"), summary)?;
    Ok(())
}
