//! Whether the driver's tables are sound enough to plan with.

use super::DriverProfile;

/// Most profiles one GPU's tables may hold (the layout tracks instance counts per profile in a
/// fixed array of this size).
pub const MAX_PROFILES: usize = 12;
/// Most memory slices a GPU may have (slice sets are 16-bit masks; the RTX PRO 6000 Blackwell
/// reports placements on a 12-unit grid).
pub const MAX_MEMORY_SLICES: u32 = dynamig_core::catalog::MAX_MEMORY_SLICES as u32;

/// Whether the driver's tables can be planned with. The planner needs: every profile with at
/// least one compute slice, some memory and an instance count; placements of one size each,
/// inside at most [`MAX_MEMORY_SLICES`] memory slices and inside the span of the widest placement
/// (the whole GPU: no placement reaches past the full-GPU profile's), none repeated; distinct profile ids; at
/// most [`MAX_PROFILES`] profiles; and at least one profile that can be placed.
pub fn check(driver: &[DriverProfile]) -> Result<(), String> {
    if driver.is_empty() {
        return Err("the driver reports no GPU-instance profiles".into());
    }
    if driver.len() > MAX_PROFILES {
        return Err(format!(
            "the driver reports {} GPU-instance profiles; dynamig handles at most {MAX_PROFILES}",
            driver.len()
        ));
    }
    let span = whole_gpu_span(driver).min(MAX_MEMORY_SLICES);
    for (i, d) in driver.iter().enumerate() {
        let what = format!("profile id {} (index {})", d.id, d.index);
        if driver[..i].iter().any(|e| e.id == d.id) {
            return Err(format!("{what} is reported twice"));
        }
        if d.compute_slices == 0 || d.compute_slices > u32::from(u8::MAX) {
            return Err(format!("{what} has {} compute slices", d.compute_slices));
        }
        if d.memory_mib == 0 {
            return Err(format!("{what} has no memory"));
        }
        if d.instance_count == 0 || d.instance_count > u32::from(u8::MAX) {
            return Err(format!(
                "{what} has an instance count of {}",
                d.instance_count
            ));
        }
        if d.sms > u32::from(u16::MAX) || d.engines.iter().any(|e| *e > u32::from(u8::MAX)) {
            return Err(format!("{what} has out-of-range SM or engine counts"));
        }
        let mut starts = Vec::new();
        for &(start, size) in &d.placements {
            if size == 0 || size != d.placements[0].1 {
                return Err(format!(
                    "{what} has placements of different or zero sizes: {:?}",
                    d.placements
                ));
            }
            if start.checked_add(size).is_none_or(|end| end > span) {
                return Err(format!(
                    "{what} has placement {start}:{size} beyond {span} memory slices"
                ));
            }
            if starts.contains(&start) {
                return Err(format!("{what} lists placement start {start} twice"));
            }
            starts.push(start);
        }
    }
    if driver.iter().all(|d| d.placements.is_empty()) {
        return Err("the driver reports no placement for any GPU-instance profile".into());
    }
    Ok(())
}

/// Where the widest placement the driver reports ends: the GPU's memory slices (on every model
/// the full-GPU profile spans them all from start 0; without it, the widest profile's last
/// placement ends at the last slice).
fn whole_gpu_span(driver: &[DriverProfile]) -> u32 {
    let widest = driver
        .iter()
        .flat_map(|d| d.placements.iter())
        .map(|&(_, size)| size)
        .max()
        .unwrap_or(0);
    driver
        .iter()
        .flat_map(|d| d.placements.iter())
        .filter(|&&(_, size)| size == widest)
        .map(|&(start, size)| start.saturating_add(size))
        .max()
        .unwrap_or(0)
}
