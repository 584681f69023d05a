//! containerd shim (filled by the container-path work).
