//! Keeping the node's ResourceSlices true: the inventory is read from the node (under its lock,
//! on a blocking thread), built into slices and synced with the API server, which writes only
//! when something changed (a new pool generation then). Run once before serving and then every
//! resync interval: a GPU whose MIG mode changed, or a slice someone deleted, is repaired then.

use anyhow::{Context, Result};
use dynamig_dra_kube::Publisher;
use dynamig_node::config::NodeConfig;
use dynamig_node::state::StateDir;
use std::sync::Arc;

/// What one sync needs, shared by the first sync and the resync loop.
pub struct Slices {
    pub cfg: NodeConfig,
    pub dir: StateDir,
    pub publisher: Publisher,
}

impl Slices {
    /// Reads the inventory and publishes it; a node without GPUs withdraws its slices.
    pub async fn sync(self: &Arc<Self>) -> Result<()> {
        let me = Arc::clone(self);
        let inventory =
            tokio::task::spawn_blocking(move || dynamig_dra_claims::inventory(&me.cfg, &me.dir))
                .await
                .context("the inventory thread")?
                .map_err(|e| anyhow::anyhow!("reading the node's GPUs: {e}"))?;
        let node = self.publisher.node().to_string();
        if inventory.gpus.is_empty() {
            let n = self.publisher.withdraw().await?;
            tracing::warn!(
                withdrawn = n,
                "no MIG-capable GPU on this node: no ResourceSlices published"
            );
            return Ok(());
        }
        let done = self
            .publisher
            .sync(|generation| dynamig_dra_slices::build(&node, generation, &inventory))
            .await?;
        if !done.unchanged() {
            tracing::info!(
                generation = done.generation,
                gpus = inventory.gpus.len(),
                "ResourceSlices republished"
            );
        }
        Ok(())
    }
}
