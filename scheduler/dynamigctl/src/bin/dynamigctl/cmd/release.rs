//! `dynamigctl release`: frees the instance of the holder of that id in that namespace only; when
//! it holds nothing, says which other namespaces hold that id.

use crate::{with_node, Failure};
use dynamig_node::node::Node;
use dynamig_node::state::HolderKey;

pub fn run(id: String, namespace: String) -> Result<(), Failure> {
    with_node(|node| release(node, HolderKey::new(namespace, id)))
}

fn release(node: &mut Node, key: HolderKey) -> Result<(), Failure> {
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
