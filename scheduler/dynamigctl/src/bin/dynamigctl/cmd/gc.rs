//! `dynamigctl gc`: reconcile now (opening the node does it) and say what it did.

use crate::{print_json, with_node, Failure};

pub fn run(json: bool) -> Result<(), Failure> {
    let r = with_node(|node| Ok(node.reconciled.clone()))?;
    let r = &r;
    if json {
        return print_json(r);
    }
    let temps = match r.temp_files.len() {
        0 => String::new(),
        n => format!(", {n} stale temp files removed"),
    };
    let warm = match r.warm_expired.len() {
        0 => String::new(),
        n => format!(", {n} warm instances destroyed or forgotten"),
    };
    println!(
        "reconciled: {} released, {} reclaimed, {} lost, {} forgotten{temps}{warm}",
        r.released.len(),
        r.reclaimed.len(),
        r.lost.len(),
        r.forgotten.len()
    );
    Ok(())
}
