//! Who a holder is: (containerd namespace, container id).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a holder is: a container is known by its id *within its containerd namespace*
/// (`default/c1` and `tenant/c1` are two containers), and so is every holder, ticket and
/// intent. Written `namespace/id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HolderKey {
    pub namespace: String,
    pub id: String,
}

impl HolderKey {
    pub fn new(namespace: impl Into<String>, id: impl Into<String>) -> HolderKey {
        HolderKey {
            namespace: namespace.into(),
            id: id.into(),
        }
    }

    pub fn is(&self, namespace: &str, id: &str) -> bool {
        self.namespace == namespace && self.id == id
    }
}

impl fmt::Display for HolderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.id)
    }
}
