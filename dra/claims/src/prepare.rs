//! Prepare one claim: read its allocation, check it, then under the node lock create every
//! device at exactly its placement and write the claim's CDI spec, all or nothing.
//!
//! The claim record is written (phase `preparing`, forced to disk) before the first instance is
//! created and marked `prepared` after the CDI spec is in place: a crash in between leaves a
//! `preparing` record that the next start rolls back (`reconcile.rs`).

use crate::cdi::{self, DeviceEdits};
use crate::fault;
use crate::preparer::{node_err, ClaimsPreparer};
use crate::resolve::{resolve, Target};
use dynamig_dra_api::claim::{ClaimError, ClaimRef, PreparedDevice};
use dynamig_dra_api::DRIVER_NAME;
use dynamig_node::driver_stack::{self, Stack};
use dynamig_node::node::{valid_id, Node};
use dynamig_node::state::dra::{holder_id, holder_namespace, ClaimDevice, ClaimPhase, ClaimRecord};
use dynamig_node::state::HolderKey;

pub(crate) fn prepare(
    p: &ClaimsPreparer,
    claim: &ClaimRef,
) -> Result<Vec<PreparedDevice>, ClaimError> {
    if !cdi::valid_uid(&claim.uid) {
        return Err(ClaimError::Invalid(format!(
            "claim uid {:?} is not a Kubernetes UID",
            claim.uid
        )));
    }
    if !valid_id(&claim.namespace) {
        return Err(ClaimError::Invalid(format!(
            "claim namespace {:?} is not a Kubernetes namespace",
            claim.namespace
        )));
    }
    let alloc = p.source.allocation(claim)?.ok_or_else(|| {
        ClaimError::Invalid(format!(
            "no such claim {}/{} in the API server",
            claim.namespace, claim.name
        ))
    })?;
    if alloc.uid != claim.uid {
        return Err(ClaimError::Invalid(format!(
            "claim {}/{} has uid {}, not {}: the claim the kubelet names was deleted (and maybe recreated)",
            claim.namespace, claim.name, alloc.uid, claim.uid
        )));
    }
    let mut devices: Vec<ClaimDevice> = Vec::new();
    for d in alloc.devices.iter().filter(|d| d.driver == DRIVER_NAME) {
        match devices.iter_mut().find(|x| x.device == d.device) {
            Some(x) => x.requests.push(d.request.clone()),
            None => devices.push(ClaimDevice {
                device: d.device.clone(),
                pool: d.pool.clone(),
                requests: vec![d.request.clone()],
                // Filled in under the lock, from the node's GPUs.
                gpu: dynamig_core::ids::GpuIndex::new(0),
                profile: None,
                start: 0,
                size: 0,
                holder: None,
                uuid: String::new(),
            }),
        }
    }
    p.with_node(|node| prepare_locked(p, node, claim, devices))
}

fn prepare_locked(
    p: &ClaimsPreparer,
    node: &mut Node,
    claim: &ClaimRef,
    mut devices: Vec<ClaimDevice>,
) -> Result<Vec<PreparedDevice>, ClaimError> {
    let Some(dra) = node.state.dra.as_ref() else {
        return Err(ClaimError::Internal(
            "this node was made standalone while the DRA plugin runs; restart the plugin".into(),
        ));
    };
    if let Some(rec) = dra.claim(&claim.uid).cloned() {
        match rec.phase {
            ClaimPhase::Prepared => {
                if !cdi::spec_path(&p.opts.cdi_dir, &rec.uid).exists() {
                    write_spec(p, node, &rec)?;
                }
                return Ok(prepared_devices(&rec));
            }
            ClaimPhase::Unpreparing => {
                return Err(ClaimError::Retryable(format!(
                    "claim {}/{} is being unprepared",
                    claim.namespace, claim.name
                )))
            }
            // A prepare that failed half way and could not roll back: do it now, then afresh.
            ClaimPhase::Preparing => teardown(p, node, &rec, "retried prepare")?,
        }
    }
    // What each device is on this node, and that they fit together.
    let mut targets: Vec<Target> = Vec::new();
    for d in &mut devices {
        let t = resolve(
            &dynamig_dra_api::claim::AllocatedDevice {
                request: String::new(),
                driver: DRIVER_NAME.to_string(),
                pool: d.pool.clone(),
                device: d.device.clone(),
            },
            &p.opts.node_name,
            node.gpus(),
        )?;
        let (start, size) = t.slices();
        d.gpu = t.gpu();
        d.profile = t.profile().map(|p| p.name.to_string());
        d.start = start;
        d.size = size;
        d.holder = t.profile().map(|_| holder_id(&claim.uid, &d.device));
        targets.push(t);
    }
    for (i, a) in devices.iter().enumerate() {
        if let Some(b) = devices[..i].iter().find(|b| b.overlaps(a)) {
            return Err(ClaimError::Invalid(format!(
                "devices {} and {} of claim {}/{} overlap on GPU {}",
                b.device, a.device, claim.namespace, claim.name, a.gpu
            )));
        }
    }
    if let Some(dra) = &node.state.dra {
        for other in dra.claims.iter().filter(|c| c.uid != claim.uid) {
            for a in &devices {
                if let Some(b) = other.devices.iter().find(|b| b.overlaps(a)) {
                    let text = format!(
                        "device {} of claim {}/{} ({}) overlaps device {} of claim {}/{} ({}), {} on this node",
                        a.device, claim.namespace, claim.name, claim.uid,
                        b.device, other.namespace, other.name, other.uid,
                        if other.phase == ClaimPhase::Unpreparing { "being unprepared" } else { "prepared" }
                    );
                    // A claim being unprepared frees its room once its instance is destroyed.
                    return Err(if other.phase == ClaimPhase::Unpreparing {
                        ClaimError::Retryable(text)
                    } else {
                        ClaimError::Invalid(text)
                    });
                }
            }
        }
    }
    // The driver stack, checked before anything is created (as the shim does).
    let stack = driver_stack(p, node)?;
    let mut rec = ClaimRecord {
        namespace: claim.namespace.clone(),
        name: claim.name.clone(),
        uid: claim.uid.clone(),
        phase: ClaimPhase::Preparing,
        devices,
    };
    put_record(node, rec.clone())?;
    fault::point("dra-after-claim-record");
    let ns = holder_namespace(&claim.namespace);
    for (d, t) in rec.devices.iter_mut().zip(&targets) {
        let created = match (*t, &d.holder) {
            (
                Target::Mig {
                    gpu,
                    profile,
                    start,
                },
                Some(id),
            ) => node
                .create_exact(&HolderKey::new(&ns, id), gpu, profile, start)
                .map(|a| a.uuid)
                .map_err(|e| crate::error::exact(&d.device, e)),
            (Target::WholeGpu { gpu, .. }, _) => Ok(node
                .gpus()
                .iter()
                .find(|g| g.index == gpu)
                .map(|g| g.uuid.clone())
                .unwrap_or_default()),
            (Target::Mig { .. }, None) => Err(ClaimError::Internal(format!(
                "device {}: no holder id",
                d.device
            ))),
        };
        match created {
            Ok(uuid) => d.uuid = uuid,
            Err(e) => {
                roll_back(p, node, &rec, &e);
                return Err(e);
            }
        }
        fault::point("dra-after-device-create");
    }
    if let Err(e) = write_spec_with(p, node, &rec, &stack) {
        roll_back(p, node, &rec, &e);
        return Err(e);
    }
    fault::point("dra-after-cdi-write");
    rec.phase = ClaimPhase::Prepared;
    put_record(node, rec.clone())?;
    fault::point("dra-after-prepared");
    node.note(
        "claim-prepared",
        format!(
            "claim {}/{} ({}): {}",
            rec.namespace,
            rec.name,
            rec.uid,
            rec.devices
                .iter()
                .map(|d| d.device.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None,
    );
    Ok(prepared_devices(&rec))
}

/// Undoes a failed prepare; a failure to undo is logged (the `preparing` record stays, and the
/// next prepare of the claim or the next start rolls it back).
fn roll_back(p: &ClaimsPreparer, node: &mut Node, rec: &ClaimRecord, why: &ClaimError) {
    if let Err(e) = teardown(p, node, rec, "rolled back a failed prepare") {
        tracing::error!(claim = %rec.uid, error = %e, cause = %why, "cannot roll back a failed prepare; will retry");
    }
}

/// The devices as the kubelet gets them.
pub(crate) fn prepared_devices(rec: &ClaimRecord) -> Vec<PreparedDevice> {
    rec.devices
        .iter()
        .map(|d| PreparedDevice {
            requests: d.requests.clone(),
            pool: d.pool.clone(),
            device: d.device.clone(),
            cdi_device_ids: vec![cdi::device_id(&rec.uid, &d.device)],
        })
        .collect()
}

/// Adds or replaces claim `rec` in the node state, forced to disk.
pub(crate) fn put_record(node: &mut Node, rec: ClaimRecord) -> Result<(), ClaimError> {
    let dra = node
        .state
        .dra
        .as_mut()
        .ok_or_else(|| ClaimError::Internal("the node is not DRA-managed".into()))?;
    match dra.claim_mut(&rec.uid) {
        Some(r) => *r = rec,
        None => dra.claims.push(rec),
    }
    node.write_claims().map_err(node_err)
}

/// Destroys a claim's instances, removes its CDI spec and forgets it: an unprepare, a rollback,
/// a stale claim. Marks it `unpreparing` first (forced to disk) unless it is `preparing`.
pub(crate) fn teardown(
    p: &ClaimsPreparer,
    node: &mut Node,
    rec: &ClaimRecord,
    why: &str,
) -> Result<(), ClaimError> {
    if rec.phase == ClaimPhase::Prepared {
        let mut r = rec.clone();
        r.phase = ClaimPhase::Unpreparing;
        put_record(node, r)?;
        fault::point("dra-after-unprepare-record");
    }
    let ns = holder_namespace(&rec.namespace);
    for d in &rec.devices {
        if let Some(id) = &d.holder {
            node.release_claim_holder(&HolderKey::new(&ns, id), why)
                .map_err(|e| match node_err(e) {
                    ClaimError::Retryable(m) | ClaimError::Invalid(m) => ClaimError::Retryable(
                        format!("device {}: {m} (the unprepare is retried)", d.device),
                    ),
                    ClaimError::Internal(m) => {
                        ClaimError::Internal(format!("device {}: {m}", d.device))
                    }
                })?;
        }
    }
    cdi::remove(&p.opts.cdi_dir, &rec.uid).map_err(|e| {
        ClaimError::Internal(format!(
            "cannot remove {}: {e}",
            cdi::spec_path(&p.opts.cdi_dir, &rec.uid).display()
        ))
    })?;
    fault::point("dra-after-cdi-remove");
    if let Some(dra) = node.state.dra.as_mut() {
        dra.claims.retain(|c| c.uid != rec.uid);
    }
    node.write_claims().map_err(node_err)?;
    node.note(
        "claim-unprepared",
        format!("claim {}/{} ({}): {why}", rec.namespace, rec.name, rec.uid),
        None,
    );
    Ok(())
}

/// The node's driver stack, checked against its driver.
fn driver_stack(p: &ClaimsPreparer, node: &Node) -> Result<Stack, ClaimError> {
    let internal = |e: driver_stack::DriverStackError| ClaimError::Internal(e.to_string());
    let settings = p.cfg.driver_stack().map_err(internal)?;
    let mut stack = driver_stack::discover(settings).map_err(internal)?;
    stack
        .check(node.backend_kind(), node.driver_version().as_deref())
        .map_err(internal)?;
    Ok(stack)
}

/// Writes claim `rec`'s CDI spec (the driver stack found afresh).
pub(crate) fn write_spec(
    p: &ClaimsPreparer,
    node: &mut Node,
    rec: &ClaimRecord,
) -> Result<(), ClaimError> {
    let stack = driver_stack(p, node)?;
    write_spec_with(p, node, rec, &stack)
}

fn write_spec_with(
    p: &ClaimsPreparer,
    node: &mut Node,
    rec: &ClaimRecord,
    stack: &Stack,
) -> Result<(), ClaimError> {
    let ns = holder_namespace(&rec.namespace);
    let mut edits = Vec::new();
    for d in &rec.devices {
        let (nodes, visible) = match &d.holder {
            Some(id) => node
                .holder_device(&HolderKey::new(&ns, id))
                .map_err(node_err)?,
            None => (
                node.whole_gpu_device_nodes(d.gpu).map_err(node_err)?,
                node.gpus()
                    .iter()
                    .find(|g| g.index == d.gpu)
                    .map(|g| g.uuid.clone())
                    .unwrap_or_default(),
            ),
        };
        edits.push(DeviceEdits {
            name: cdi::device_name(&rec.uid, &d.device),
            visible: if visible.starts_with("MIG-") || visible.starts_with("GPU-") {
                visible
            } else {
                format!("MIG-{visible}")
            },
            nodes,
        });
    }
    cdi::write(&p.opts.cdi_dir, &rec.uid, &cdi::spec(&edits, stack)).map_err(|e| {
        ClaimError::Internal(format!(
            "cannot write {}: {e}",
            cdi::spec_path(&p.opts.cdi_dir, &rec.uid).display()
        ))
    })
}
