//! `dynamigctl dra standalone`: end a node's DRA-managed mode (docs/dra-node.md).

use crate::cli::DraCmd;
use crate::{with_node, Failure};

pub fn run(c: DraCmd) -> Result<(), Failure> {
    match c {
        DraCmd::Standalone => {
            let changed = with_node(|node| Ok(node.set_standalone()?))?;
            if changed {
                println!("the node is standalone: the shim, dynamig-runc and dynamigctl allocate allocate here again");
            } else {
                println!("the node was already standalone");
            }
            Ok(())
        }
    }
}
