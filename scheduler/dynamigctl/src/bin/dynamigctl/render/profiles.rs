//! `dynamigctl profiles` for people: one table per GPU model, like `nvidia-smi mig -lgip`, with
//! the placements of each profile.

use crate::table::Table;
use dynamig_core::catalog::{GpuModel, Profile};

/// The tables of `models`, a blank line apart.
pub fn profiles(models: &[&GpuModel]) -> String {
    models
        .iter()
        .map(|m| model_table(m))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn model_table(m: &GpuModel) -> String {
    Table {
        title: Some(format!(
            "{} ({}): {} MiB, {} compute / {} memory slices; memory as driver {}",
            m.name, m.key, m.memory_mib, m.compute_slices, m.memory_slices, m.driver
        )),
        header: [
            "Profile",
            "ID",
            "Max",
            "GiB",
            "MiB",
            "SMs",
            "CS/MS",
            "CE DEC ENC JPG OFA",
            "Placements",
        ]
        .map(String::from)
        .to_vec(),
        rows: m.profiles.iter().map(profile_row).collect(),
        right: vec![1, 2, 3, 4, 5],
        bars: vec![],
        empty: String::new(),
        ..Table::default()
    }
    .render()
}

fn profile_row(p: &Profile) -> Vec<String> {
    vec![
        p.name.to_string(),
        p.id.to_string(),
        format!("{}", p.max_count),
        gib(p.memory_mib),
        p.memory_mib.to_string(),
        p.sms.to_string(),
        format!("{}/{}", p.compute_slices, p.memory_slices),
        format!(
            "{} {} {} {} {}",
            p.engines.ce, p.engines.dec, p.engines.enc, p.engines.jpg, p.engines.ofa
        ),
        placements(p.starts, p.memory_slices),
    ]
}

/// `{0,2,4}:2`: the start slices of a profile and its size.
fn placements(starts: &[u8], size: u8) -> String {
    let s: Vec<String> = starts.iter().map(u8::to_string).collect();
    format!("{{{}}}:{size}", s.join(","))
}

fn gib(mib: u64) -> String {
    format!("{:.2}", mib as f64 / 1024.0)
}
