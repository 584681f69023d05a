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

/// The size class of a placement of `size` memory slices on `model`. On a model with more than
/// eight memory slices (the RTX PRO 6000 Blackwell's 12-unit grid) a size is first scaled to
/// eighths of the GPU, so a whole GPU is class 8 and a quarter class 2 as on an 8-slice model;
/// models of at most eight slices use their sizes as they are.
pub fn size_class(model: &GpuModel, size: u8) -> usize {
    let size = if model.memory_slices > 8 {
        let scaled = u16::from(size) * 8 / u16::from(model.memory_slices);
        u8::try_from(scaled).unwrap_or(u8::MAX)
    } else {
        size
    };
    SIZE_CLASSES.iter().position(|&c| c == size).unwrap_or(3)
}

/// Every individually possible placement of every profile on a GPU with this usage.
pub fn capacity(model: &GpuModel, usage: &Usage) -> Capacity {
    let mut c = [0u16; 4];
    for p in model.profiles {
        let k = size_class(model, p.memory_slices);
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
