//! Publishes the node's ResourceSlices: lists what the API server has for this node and driver,
//! and makes the writes [`plan`](crate::plan) orders (new generation first, old slices deleted
//! last).

use crate::dropped::dropped_fields;
use crate::error::KubeError;
use crate::plan::{plan, Write};
use dynamig_dra_api::DRIVER_NAME;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::resource::v1::ResourceSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::Client;
use std::sync::Mutex;

/// What one [`Publisher::sync`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The pool generation now published.
    pub generation: i64,
    pub created: usize,
    pub replaced: usize,
    pub deleted: usize,
}

impl Published {
    /// True when nothing was written (the slices were already published).
    pub fn unchanged(&self) -> bool {
        self.created + self.replaced + self.deleted == 0
    }
}

/// This node's publisher of ResourceSlices.
pub struct Publisher {
    slices: Api<ResourceSlice>,
    nodes: Api<Node>,
    node: String,
    /// The Node as the slices' owner, read once: slices of a deleted Node are garbage
    /// collected by the API server.
    owner: Mutex<Option<OwnerReference>>,
}

impl Publisher {
    pub fn new(client: Client, node: impl Into<String>) -> Publisher {
        Publisher {
            slices: Api::all(client.clone()),
            nodes: Api::all(client),
            node: node.into(),
            owner: Mutex::new(None),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The field selector of this node's slices of this driver.
    pub fn field_selector(&self) -> String {
        format!("spec.nodeName={},spec.driver={DRIVER_NAME}", self.node)
    }

    /// The slices the API server has for this node and driver.
    pub async fn published(&self) -> Result<Vec<ResourceSlice>, KubeError> {
        let lp = ListParams::default().fields(&self.field_selector());
        let list = self
            .slices
            .list(&lp)
            .await
            .map_err(|e| KubeError::from_kube("listing this node's ResourceSlices", e))?;
        Ok(list.items)
    }

    /// Publishes `build(generation)` if it differs from what is published, under the next
    /// generation above the published one; does nothing when it is already published. `build`
    /// is `|generation| dynamig_dra_slices::build(node, generation, &inventory)` in the plugin.
    ///
    /// A write that races with another writer fails (409) and is returned as a retryable error:
    /// call `sync` again, it lists afresh.
    pub async fn sync<F>(&self, build: F) -> Result<Published, KubeError>
    where
        F: FnOnce(i64) -> Vec<ResourceSlice>,
    {
        let published = self.published().await?;
        let plan = plan(&self.node, &published, build).map_err(KubeError::Invalid)?;
        let mut done = Published {
            generation: plan.generation,
            created: 0,
            replaced: 0,
            deleted: 0,
        };
        if plan.writes.is_empty() {
            tracing::debug!(
                generation = plan.generation,
                "ResourceSlices already published"
            );
            return Ok(done);
        }
        let owner = self.owner().await?;
        for write in plan.writes {
            match write {
                Write::Create(mut s) => {
                    s.metadata.owner_references = Some(vec![owner.clone()]);
                    let name = s.metadata.name.clone().unwrap_or_default();
                    let kept = self
                        .slices
                        .create(&PostParams::default(), &s)
                        .await
                        .map_err(|e| {
                            KubeError::from_kube(format!("creating ResourceSlice {name}"), e)
                        })?;
                    self.check_kept(&name, &s, &kept).await?;
                    done.created += 1;
                }
                Write::Replace(mut s) => {
                    s.metadata.owner_references = Some(vec![owner.clone()]);
                    let name = s.metadata.name.clone().unwrap_or_default();
                    let kept = self
                        .slices
                        .replace(&name, &PostParams::default(), &s)
                        .await
                        .map_err(|e| {
                            KubeError::from_kube(format!("replacing ResourceSlice {name}"), e)
                        })?;
                    self.check_kept(&name, &s, &kept).await?;
                    done.replaced += 1;
                }
                Write::Delete { name } => {
                    self.delete(&name).await?;
                    done.deleted += 1;
                }
            }
        }
        tracing::info!(
            generation = done.generation,
            created = done.created,
            replaced = done.replaced,
            deleted = done.deleted,
            "published ResourceSlices"
        );
        Ok(done)
    }

    /// Deletes every slice of this node and driver (the node leaves DRA management).
    pub async fn withdraw(&self) -> Result<usize, KubeError> {
        let published = self.published().await?;
        for s in &published {
            if let Some(name) = &s.metadata.name {
                self.delete(name).await?;
            }
        }
        Ok(published.len())
    }

    /// Fails, after withdrawing every slice of this node, when the API server did not keep a
    /// field of `sent` (a feature gate is off): published without its counters, the pool would
    /// let the scheduler allocate overlapping placements.
    async fn check_kept(
        &self,
        name: &str,
        sent: &ResourceSlice,
        kept: &ResourceSlice,
    ) -> Result<(), KubeError> {
        let dropped = dropped_fields(sent, kept);
        if dropped.is_empty() {
            return Ok(());
        }
        let fields = dropped
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        tracing::error!(slice = name, %fields, "the API server dropped fields; withdrawing this node's ResourceSlices");
        if let Err(e) = self.withdraw().await {
            tracing::error!(error = %e, "withdrawing this node's ResourceSlices failed");
        }
        Err(KubeError::FieldsDropped {
            slice: name.to_string(),
            fields,
        })
    }

    /// Deletes one slice; one already gone is fine.
    async fn delete(&self, name: &str) -> Result<(), KubeError> {
        match self.slices.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            Err(e) => Err(KubeError::from_kube(
                format!("deleting ResourceSlice {name}"),
                e,
            )),
        }
    }

    async fn owner(&self) -> Result<OwnerReference, KubeError> {
        if let Some(o) = self.cached_owner() {
            return Ok(o);
        }
        let node = self
            .nodes
            .get(&self.node)
            .await
            .map_err(|e| KubeError::from_kube(format!("reading Node {}", self.node), e))?;
        let uid = node.metadata.uid.ok_or_else(|| KubeError::Transport {
            what: format!("reading Node {}", self.node),
            message: "the Node has no metadata.uid".into(),
        })?;
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: self.node.clone(),
            uid,
            controller: Some(true),
            block_owner_deletion: None,
        };
        if let Ok(mut cached) = self.owner.lock() {
            *cached = Some(owner.clone());
        }
        Ok(owner)
    }

    fn cached_owner(&self) -> Option<OwnerReference> {
        self.owner.lock().ok().and_then(|o| o.clone())
    }
}
