#!/usr/bin/env bash
# Runs every test of dynamig: formatting, lints, unit / property / crash / concurrency tests,
# and (when DYNAMIG_E2E=1) the end-to-end tests against real containerd, runc and Docker.
# CI runs exactly this, through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# Each step says how long the one before it took, and the run its total: what each part costs.
last_step='' last_start=$SECONDS
step() {
    [[ -z $last_step ]] || printf '(%s: %ds)\n' "$last_step" $((SECONDS - last_start))
    last_step=${*%% (*} last_start=$SECONDS
    printf '\n==> %s\n' "$*"
}

step "toolchain: $(cargo --version)"
if ! command -v cc >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential
fi

# dynamig-dra-grpc's build.rs compiles the kubelet's own .proto files: Debian's package of them,
# pinned and checked, fetched once into ~/.cache/dynamig (curl, dpkg-deb), before anything builds.
step "kubelet .proto files for dynamig-dra-grpc (tests/e2e/lib/kubelet-protos.sh)"
if [[ -z ${DYNAMIG_KUBELET_PROTOS:-} ]]; then
    DYNAMIG_KUBELET_PROTOS=$(bash tests/e2e/lib/kubelet-protos.sh)
    export DYNAMIG_KUBELET_PROTOS
fi
echo "DYNAMIG_KUBELET_PROTOS=$DYNAMIG_KUBELET_PROTOS"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "crate boundaries: no CLI crates in the shim or the wrapper, no I/O crates in the core (tests/crate-boundaries.sh)"
bash tests/crate-boundaries.sh

step "cargo build (workspace, debug)"
cargo build --workspace --bins

step "cargo test (workspace)"
TEST_LOG=$(mktemp /tmp/dynamig-cargo-test.XXXXXX)
trap 'rm -f "$TEST_LOG"' EXIT
cargo test --workspace 2>&1 | tee "$TEST_LOG"
grep -E '^test result:' "$TEST_LOG" | awk '{p+=$4; f+=$6} END {printf "cargo tests: %d passed, %d failed\n", p, f}'
cat target/tmp/stress-figures.txt 2>/dev/null || true

if [ "${DYNAMIG_E2E:-0}" = "1" ]; then
    # Each script fails loudly when a piece it needs cannot run; each stops what it started.
    export E2E_BIN_DIR="$PWD/target/debug"
    step "end-to-end: containerd 1.6 / runc / Docker 20.10 on a simulated A100 (tests/e2e/run.sh)"
    bash tests/e2e/run.sh
    step "end-to-end: holders are (namespace, id): another namespace's c1 never frees this one's slice (tests/e2e/holders.sh)"
    bash tests/e2e/holders.sh
    step "end-to-end: containerd-shim-dynamig-v2 answers the task API as io.containerd.runc.v2 does (tests/e2e/shim.sh)"
    bash tests/e2e/shim.sh
    step "end-to-end: README's demo command through real containerd (tests/e2e/demo-check.sh)"
    bash tests/e2e/demo-check.sh
    step "end-to-end: containerd 1.7 / 2.x, CRI pods, Docker 26 / 28, podman (tests/e2e/versions.sh)"
    bash tests/e2e/versions.sh
    step "end-to-end: seed walkthrough on the fake libnvidia-ml through containerd (tests/e2e/nvml.sh)"
    cargo build -q -p fake-nvml
    bash tests/e2e/nvml.sh
    step "end-to-end: warm instances through the shim on the fake NVML: a second container of the profile gets the same MIG UUID with no create (tests/e2e/warm.sh)"
    bash tests/e2e/warm.sh
    step "end-to-end: the driver stack from a CDI spec or the legacy hook, containerd, Docker and the fake NVML (tests/e2e/cdi.sh)"
    bash tests/e2e/cdi.sh
    step "end-to-end: Debian packages are refused unless Debian signed them (tests/e2e/debs-verify.sh)"
    bash tests/e2e/debs-verify.sh
    step "end-to-end: NVIDIA's real libnvidia-ml 535/550 and nvml.h 12/13: symbols, struct layouts, no driver is never the simulator (tests/e2e/nvidia-real.sh)"
    bash tests/e2e/nvidia-real.sh
    step "end-to-end: dynamig.io/wait through containerd and Docker (tests/e2e/wait.sh)"
    bash tests/e2e/wait.sh
    step "end-to-end: eviction outside the node lock, 28 concurrent creates through the shim (tests/e2e/evict.sh)"
    bash tests/e2e/evict.sh
    step "end-to-end: node policy on real containerd (tests/e2e/policy.sh)"
    bash tests/e2e/policy.sh
    step "end-to-end: per-namespace GPU quotas on real containerd, one namespace over its quota, the other taking it back (tests/e2e/quota.sh)"
    bash tests/e2e/quota.sh
    step "end-to-end: metrics file checked by promtool (tests/e2e/metrics.sh)"
    bash tests/e2e/metrics.sh
    step "end-to-end: every DRA ResourceSlice of every catalog model against Kubernetes' schema, strictly (tests/e2e/dra-slices.sh)"
    bash tests/e2e/dra-slices.sh
    step "end-to-end: Kubernetes manifests (DRA and shim path) against Kubernetes' OpenAPI schemas, strict (tests/e2e/dra-manifests.sh)"
    bash tests/e2e/dra-manifests.sh
    step "install: .deb, runtime configure on real containerd 1.6 / 2.1.9 and dockerd, install.sh (tests/e2e/install.sh)"
    bash tests/e2e/install.sh
else
    step "end-to-end tests skipped: set DYNAMIG_E2E=1 (as root, on Debian) to run them against real containerd and Docker"
fi
# cargo-fuzz targets, a minute each: with DYNAMIG_FUZZ=1, or with DYNAMIG_E2E=1 unless DYNAMIG_FUZZ=0.
if [ "${DYNAMIG_FUZZ:-${DYNAMIG_E2E:-0}}" = "1" ]; then
    step "fuzzing: quantity, annotations, state_loader (${FUZZ_SECONDS:-60} s each)"
    bash tests/fuzz/run.sh
fi
step "all tests passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
