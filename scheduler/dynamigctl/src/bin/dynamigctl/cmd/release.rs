//! `dynamigctl release`: frees the instance of the holder of that id in that namespace only; when
//! it holds nothing, says which other namespaces hold that id.

use crate::{open_node, Failure};
use dynamig_node::state::HolderKey;

pub fn run(id: String, namespace: String) -> Result<(), Failure> {
    let mut node = open_node()?;
    let key = HolderKey::new(namespace, id);
    if node.release(&key)? {
        println!("released {key}");
        return Ok(());
    }
    let elsewhere = node.state.namespaces_holding(&key.id);
    if elsewhere.is_empty() {
        println!("{key} holds nothing; nothing to release");
    } else {
        println!(
            "{key} holds nothing; nothing to release (namespace {} has a holder {}: give --namespace)",
            elsewhere.join(", "),
            key.id
        );
    }
    Ok(())
}
