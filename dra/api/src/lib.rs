//! The interfaces that the crates of `dynamig-dra` (docs/kubernetes.md) share, and nothing else:
//!
//! - [`DRIVER_NAME`], the DRA driver name under `dynamig.io`;
//! - [`device_name`]: how a (GPU, profile, placement) is named as a ResourceSlice device, and
//!   back;
//! - [`inventory`]: what the node reports of its GPUs, from which the slices are built;
//! - [`claim`]: a claim as the kubelet names it, what the API server says it was allocated, and
//!   the two traits that join the gRPC service, the node and the API server.
//!
//! No I/O: the gRPC service (`dra/grpc`), the slices (`dra/slices`), the node side
//! (`dra/claims`) and the API client (`dra/kube`) each implement or call these.

pub mod claim;
pub mod device_name;
pub mod inventory;

/// The DRA driver name: ResourceSlices' `spec.driver`, DeviceClasses' selector
/// (`device.driver == "mig.dynamig.io"`), the kubelet plugin's registration name, and the CDI
/// vendor of the per-claim specs. A DNS subdomain under `dynamig.io`, as DRA requires.
pub const DRIVER_NAME: &str = "mig.dynamig.io";
