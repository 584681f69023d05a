//! Fake libnvidia-ml.so (filled by the NVML backend work).
