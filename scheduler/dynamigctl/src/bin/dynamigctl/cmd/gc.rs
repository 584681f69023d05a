//! `dynamigctl gc`: reconcile now (opening the node does it) and say what it did.

use crate::{open_node, print_json, Failure};

pub fn run(json: bool) -> Result<(), Failure> {
    let node = open_node()?;
    let r = &node.reconciled;
    if json {
        return print_json(r);
    }
    let temps = match r.temp_files.len() {
        0 => String::new(),
        n => format!(", {n} stale temp files removed"),
    };
    println!(
        "reconciled: {} released, {} reclaimed, {} lost, {} forgotten{temps}",
        r.released.len(),
        r.reclaimed.len(),
        r.lost.len(),
        r.forgotten.len()
    );
    Ok(())
}
