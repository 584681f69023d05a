//! `dynamigctl sim`: a simulated node, made and changed as an administrator would change a real
//! one (MIG modes, foreign instances, busy processes). Every subcommand holds the node lock.

use crate::cli::SimCmd;
use crate::{bad_input, config, refused, state_dir, Failure};
use dynamig_core::ids::{GiId, GpuIndex};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::backend::MigMode;
use dynamig_node::state::{NodeLock, StateDir};

pub fn run(cmd: SimCmd) -> Result<(), Failure> {
    let dir = state_dir()?;
    let _lock = NodeLock::acquire_for(&dir.lock_file(), config()).map_err(anyhow::Error::from)?;
    if let SimCmd::Init {
        models,
        driver_version,
    } = &cmd
    {
        return init(&dir, models, driver_version);
    }
    let path = dir.sim_file();
    let mut node = load(&dir)?;
    match cmd {
        SimCmd::Init { .. } => {}
        SimCmd::Mig { gpu, mode } => set_mig(&mut node, GpuIndex(gpu), &mode)?,
        SimCmd::Create {
            gpu,
            profile,
            start,
        } => create(&mut node, GpuIndex(gpu), &profile, start)?,
        SimCmd::Destroy { gpu, gi } => node.destroy(GpuIndex(gpu), GiId(gi)).map_err(refused)?,
        SimCmd::Busy { gpu, gi, pids } => busy(&mut node, GpuIndex(gpu), GiId(gi), pids)?,
    }
    node.save(&path).map_err(anyhow::Error::from)?;
    Ok(())
}

/// A new node of one GPU per model, with no holders.
fn init(dir: &StateDir, models: &[String], driver_version: &str) -> Result<(), Failure> {
    let keys: Vec<&str> = models.iter().map(String::as_str).collect();
    let mut node = SimNode::new(&keys).map_err(bad_input)?;
    node.driver_version = driver_version.to_string();
    node.save(&dir.sim_file()).map_err(anyhow::Error::from)?;
    // A new node starts with no holders.
    let _ = std::fs::remove_file(dir.state_file());
    println!(
        "simulated node in {}: {}",
        dir.path().display(),
        keys.join(", ")
    );
    Ok(())
}

fn load(dir: &StateDir) -> Result<SimNode, Failure> {
    let node = SimNode::load(&dir.sim_file())
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no simulated node in {}; run `dynamigctl sim init MODEL`",
                dir.path().display()
            )
        })?;
    Ok(node)
}

/// `on`, `off`, `pending-on` (on after a reset) or `pending-off`; turning MIG off is refused
/// while the GPU has instances, as the driver refuses it.
fn set_mig(node: &mut SimNode, gpu: GpuIndex, mode: &str) -> Result<(), Failure> {
    node.gpu(gpu).map_err(bad_input)?;
    let (current, pending) = match mode {
        "on" => (true, true),
        "off" => (false, false),
        "pending-on" => (false, true),
        "pending-off" => (true, false),
        _ => {
            return Err(bad_input(anyhow::anyhow!(
                "mode {mode:?}: use on, off, pending-on or pending-off"
            )))
        }
    };
    node.set_mig_mode(gpu, MigMode { current, pending })
        .map_err(refused)
}

/// A foreign GPU instance (and its compute instance), as an administrator would create it.
fn create(node: &mut SimNode, gpu: GpuIndex, profile: &str, start: u8) -> Result<(), Failure> {
    let m = node.gpu(gpu).and_then(|g| g.model()).map_err(bad_input)?;
    let p = m
        .profile(profile)
        .ok_or_else(|| bad_input(anyhow::anyhow!("{} has no profile {profile:?}", m.key)))?;
    let gi = node.create_gi(gpu, p.id, start).map_err(refused)?;
    node.create_ci(gpu, gi).map_err(anyhow::Error::from)?;
    println!("created GPU instance {gi} ({profile}) at {start} on GPU {gpu}");
    Ok(())
}

/// Processes running on a GPU instance (destroying it is refused while they live).
fn busy(node: &mut SimNode, gpu: GpuIndex, gi: GiId, pids: Vec<u32>) -> Result<(), Failure> {
    let inst = node
        .gpu_mut(gpu)
        .map_err(bad_input)?
        .instances
        .iter_mut()
        .find(|i| i.gi == gi)
        .ok_or_else(|| bad_input(anyhow::anyhow!("GPU {gpu} has no GPU instance {gi}")))?;
    inst.pids = pids;
    Ok(())
}
