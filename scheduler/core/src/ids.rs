//! The numbers that name hardware: a GPU's index, a GPU instance's id, a compute instance's id,
//! a GPU-instance profile's id. Each its own type, so one is never passed for another.
//!
//! Invariants: each is the bare `u32` NVML uses, on the wire too (`#[serde(transparent)]`), and
//! prints as that number (`Display` and `Debug` alike), so every file and every printed line
//! reads as it did when they were plain numbers. Only the NVML calls turn them back into a
//! `c_uint`, with [`GpuIndex::get`] and its kin.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            pub const fn new(n: u32) -> Self {
                $name(n)
            }

            /// The bare number, for an NVML call.
            pub const fn get(self) -> u32 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<u32> for $name {
            fn from(n: u32) -> Self {
                $name(n)
            }
        }

        impl From<$name> for u32 {
            fn from(id: $name) -> u32 {
                id.0
            }
        }
    };
}

id!(
    /// A GPU's NVML index (`nvidia-smi -i`).
    GpuIndex
);
impl GpuIndex {
    /// Its position in a list of the node's GPUs in index order.
    pub const fn slot(self) -> usize {
        self.0 as usize
    }
}

id!(
    /// A GPU instance's id on its GPU (`nvidia-smi mig -lgi`, the `GI ID` column).
    GiId
);
id!(
    /// A compute instance's id within its GPU instance (`nvidia-smi mig -lci`, `CI ID`).
    CiId
);
id!(
    /// A GPU-instance profile's NVML id (the `ID` column of `nvidia-smi mig -lgip`), which the
    /// placement and create calls take.
    ProfileId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_write_and_print_as_bare_numbers() {
        let gpu: GpuIndex = serde_json::from_str("3").unwrap();
        assert_eq!(gpu, GpuIndex(3));
        assert_eq!(serde_json::to_string(&GiId(7)).unwrap(), "7");
        assert_eq!(
            format!("{} {:?} {:>3}", CiId(0), ProfileId(19), GpuIndex(1)),
            "0 19   1"
        );
        assert_eq!(format!("{:?}", Some(GpuIndex(2))), "Some(2)");
    }
}
