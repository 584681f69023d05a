//! The limits the API server enforces on a `resource.k8s.io/v1` ResourceSlice, as Kubernetes
//! 1.35 and 1.36 define them (`staging/src/k8s.io/api/resource/v1/types.go` and
//! `pkg/apis/resource/validation/validation.go`; the same numbers are in k8s-openapi's `v1_35` and
//! `v1_36` field docs). Since 1.35 (KEP-4815 as revised) a slice holds either `sharedCounters` or
//! `devices`, never both, and devices consume counter sets published anywhere in their pool.

/// `ResourceSliceMaxDevices`: devices in a slice that uses no taints, counters or list
/// attributes.
pub const MAX_DEVICES: usize = 128;
/// `ResourceSliceMaxDevicesWithTaintsOrConsumesCounters` (named
/// `ResourceSliceMaxDevicesWithAdvancedFeatures` once list attributes joined the rule): devices
/// in a slice where any device has taints or consumes counters, which every dynamig device does.
pub const MAX_DEVICES_WITH_COUNTERS_OR_TAINTS: usize = 64;
/// `ResourceSliceMaxCounterSets`: counter sets in one slice.
pub const MAX_COUNTER_SETS: usize = 8;
/// `ResourceSliceMaxCountersPerCounterSet`.
pub const MAX_COUNTERS_PER_SET: usize = 32;
/// `ResourceSliceMaxDeviceCounterConsumptionsPerDevice`: `consumesCounters` entries of a device.
pub const MAX_CONSUMPTIONS_PER_DEVICE: usize = 2;
/// `ResourceSliceMaxCountersPerDeviceCounterConsumption`.
pub const MAX_COUNTERS_PER_CONSUMPTION: usize = 32;
/// `ResourceSliceMaxAttributesAndCapacitiesPerDevice`.
pub const MAX_ATTRIBUTES_AND_CAPACITIES: usize = 32;
/// `DeviceTaintsMaxLength` (16 since 1.35; 4 in 1.34).
pub const MAX_TAINTS_PER_DEVICE: usize = 16;
/// `DeviceAttributeMaxValueLength`: a string or version attribute's bytes.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 64;
/// `DeviceMaxIDLength`: the identifier of an attribute or capacity name (after any domain).
pub const MAX_ID_LEN: usize = 32;
/// `DriverNameMaxLength`: the driver name, and the domain of a qualified attribute name.
pub const MAX_DRIVER_NAME_LEN: usize = 63;
/// `PoolNameMaxLength`, a DNS subdomain's length: pool names, slice and node names.
pub const MAX_SUBDOMAIN_LEN: usize = 253;
/// A DNS label's length: device, counter set and counter names.
pub const MAX_LABEL_LEN: usize = 63;
/// The taint effects a device taint may have.
pub const TAINT_EFFECTS: [&str; 3] = ["None", "NoSchedule", "NoExecute"];
