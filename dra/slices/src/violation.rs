//! What [`crate::validate`] finds wrong with a pool's slices: one variant per rule, naming the
//! slice (its `metadata.name`, or `#i` for the i-th slice when it has none) and what broke it.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    // --- one slice ---
    #[error("slice {slice}: {field} {value:?} is not a DNS subdomain of at most 253 characters")]
    NotSubdomain {
        slice: String,
        field: &'static str,
        value: String,
    },
    #[error("slice {slice}: {field} {value:?} is not a DNS label")]
    NotLabel {
        slice: String,
        field: &'static str,
        value: String,
    },
    #[error("slice {slice}: driver name {value:?} is longer than {max} characters")]
    DriverNameTooLong {
        slice: String,
        value: String,
        max: usize,
    },
    #[error(
        "slice {slice}: pool name {value:?} is not DNS subdomains joined by '/' within 253 characters"
    )]
    BadPoolName { slice: String, value: String },
    #[error("slice {slice}: pool generation {generation} is negative")]
    NegativeGeneration { slice: String, generation: i64 },
    #[error("slice {slice}: exactly one of nodeName, nodeSelector, allNodes and perDeviceNodeSelection must be set; {set} are")]
    NodeSelection { slice: String, set: usize },
    #[error("slice {slice}: only one of sharedCounters and devices may be set")]
    CountersAndDevices { slice: String },
    #[error("slice {slice}: {count} devices, at most {max}")]
    TooManyDevices {
        slice: String,
        count: usize,
        max: usize,
    },
    #[error("slice {slice}: {count} counter sets, at most {max}")]
    TooManyCounterSets {
        slice: String,
        count: usize,
        max: usize,
    },
    #[error("slice {slice}: counter set {set} has no counters")]
    EmptyCounterSet { slice: String, set: String },
    #[error("slice {slice}: counter set {set} has {count} counters, at most {max}")]
    TooManyCounters {
        slice: String,
        set: String,
        count: usize,
        max: usize,
    },
    #[error("slice {slice}: {at}: {value:?} is not an integer quantity")]
    BadQuantity {
        slice: String,
        at: String,
        value: String,
    },

    // --- one device ---
    #[error("slice {slice}: device {device} consumes {count} counter sets, at most {max}")]
    TooManyConsumptions {
        slice: String,
        device: String,
        count: usize,
        max: usize,
    },
    #[error("slice {slice}: device {device} consumes counter set {set} in more than one entry")]
    RepeatedConsumption {
        slice: String,
        device: String,
        set: String,
    },
    #[error("slice {slice}: device {device} consumes no counters of counter set {set}")]
    NoConsumedCounters {
        slice: String,
        device: String,
        set: String,
    },
    #[error(
        "slice {slice}: device {device} consumes {count} counters of counter set {set}, at most {max}"
    )]
    TooManyConsumedCounters {
        slice: String,
        device: String,
        set: String,
        count: usize,
        max: usize,
    },
    #[error("slice {slice}: device {device} has {count} attributes and capacities, at most {max}")]
    TooManyAttributesAndCapacities {
        slice: String,
        device: String,
        count: usize,
        max: usize,
    },
    #[error(
        "slice {slice}: device {device}: {name:?} is not a qualified attribute or capacity name"
    )]
    BadQualifiedName {
        slice: String,
        device: String,
        name: String,
    },
    #[error("slice {slice}: device {device}: attribute {name} must have exactly one value")]
    AttributeValueCount {
        slice: String,
        device: String,
        name: String,
    },
    #[error(
        "slice {slice}: device {device}: attribute {name} is {len} characters long, at most {max}"
    )]
    AttributeTooLong {
        slice: String,
        device: String,
        name: String,
        len: usize,
        max: usize,
    },
    #[error("slice {slice}: device {device} has {count} taints, at most {max}")]
    TooManyTaints {
        slice: String,
        device: String,
        count: usize,
        max: usize,
    },
    #[error("slice {slice}: device {device}: taint {key:?}: {why}")]
    BadTaint {
        slice: String,
        device: String,
        key: String,
        why: &'static str,
    },
    #[error("slice {slice}: device {device} selects nodes itself, but the slice does not set perDeviceNodeSelection")]
    DeviceNodeSelection { slice: String, device: String },

    // --- the pool ---
    #[error("slice {slice}: {field} is {value:?} where the pool's first slice has {expected:?}")]
    PoolMismatch {
        slice: String,
        field: &'static str,
        value: String,
        expected: String,
    },
    #[error("the pool says it has {declared} slices (resourceSliceCount) but {actual} were given")]
    SliceCount { declared: i64, actual: usize },
    #[error("slice name {name} is used by more than one slice")]
    DuplicateSliceName { name: String },
    #[error("device {device} is in slice {first} and again in slice {again}")]
    DuplicateDevice {
        device: String,
        first: String,
        again: String,
    },
    #[error("counter set {set} is in slice {first} and again in slice {again}")]
    DuplicateCounterSet {
        set: String,
        first: String,
        again: String,
    },
    #[error(
        "slice {slice}: device {device} consumes counter set {set}, which the pool does not have"
    )]
    UnknownCounterSet {
        slice: String,
        device: String,
        set: String,
    },
    #[error("slice {slice}: device {device} consumes counter {counter} of counter set {set}, which has no such counter")]
    UnknownCounter {
        slice: String,
        device: String,
        set: String,
        counter: String,
    },
    #[error("slice {slice}: device {device} consumes {consumed} of counter {set}/{counter}, which has {available}")]
    ConsumptionExceeds {
        slice: String,
        device: String,
        set: String,
        counter: String,
        consumed: u128,
        available: u128,
    },
}
