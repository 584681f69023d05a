//! OCI glue (filled by the container-path work).
