//! `dynamigctl profiles`: the MIG profile catalog, like `nvidia-smi mig -lgip`, with placements.

use crate::{bad_input, print_json, render, Failure};
use dynamig_core::catalog::{self, GpuModel};

pub fn run(model: Option<&str>, json: bool) -> Result<(), Failure> {
    let models: Vec<&GpuModel> = match model {
        Some(k) => vec![catalog::model_by_key(k).ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "unknown GPU model {k:?}; known: {}",
                catalog::model_keys().join(" ")
            ))
        })?],
        None => catalog::models().iter().collect(),
    };
    if json {
        return print_json(&models);
    }
    println!("{}", render::profiles(&models));
    Ok(())
}
