//! The fragmentation score: how many placements of each size a GPU could still take.

use crate::catalog::GpuModel;
use crate::layout::Usage;
use serde::Serialize;

/// Placement sizes in memory slices, largest first; the order in which losses compare.
pub const SIZE_CLASSES: [u8; 4] = [8, 4, 2, 1];

/// Possible placements per size class (index i is `SIZE_CLASSES[i]`).
pub type Capacity = [u16; 4];

/// Placements destroyed per size class, largest first. Compares lexicographically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Loss(pub [u16; 4]);

fn class_of(size: u8) -> usize {
    SIZE_CLASSES.iter().position(|&c| c == size).unwrap_or(3)
}

/// Every individually possible placement of every profile on a GPU with this usage.
pub fn capacity(model: &GpuModel, usage: &Usage) -> Capacity {
    let mut c = [0u16; 4];
    for p in model.profiles {
        let k = class_of(p.memory_slices);
        for &s in p.starts {
            if usage.fits(model, p, s) {
                c[k] += 1;
            }
        }
    }
    c
}

pub fn loss(before: &Capacity, after: &Capacity) -> Loss {
    let mut l = [0u16; 4];
    for i in 0..4 {
        l[i] = before[i].saturating_sub(after[i]);
    }
    Loss(l)
}
