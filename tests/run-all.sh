#!/usr/bin/env bash
# Runs every test of dynamig: formatting, lints, unit / property / crash / concurrency tests,
# and (when DYNAMIG_E2E=1) the end-to-end tests against real containerd, runc and Docker.
# CI runs exactly this, through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: $(cargo --version)"
if ! command -v cc >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build (workspace, debug)"
cargo build --workspace --bins

step "cargo test (workspace)"
TEST_LOG=$(mktemp /tmp/dynamig-cargo-test.XXXXXX)
cargo test --workspace 2>&1 | tee "$TEST_LOG"
grep -E '^test result:' "$TEST_LOG" | awk '{p+=$4; f+=$6} END {printf "cargo tests: %d passed, %d failed\n", p, f}'

if [ "${DYNAMIG_E2E:-0}" = "1" ]; then
    if [ -x tests/e2e/run.sh ]; then
        step "end-to-end tests on real containerd / runc / Docker (DYNAMIG_E2E=1)"
        E2E_BIN_DIR="$PWD/target/debug" bash tests/e2e/run.sh
        step "end-to-end: containerd 1.7 / 2.x, CRI pod, Docker 26 / 28, podman (tests/e2e/versions.sh)" && E2E_BIN_DIR="$PWD/target/debug" bash tests/e2e/versions.sh
        step "end-to-end: metrics file checked by promtool (DYNAMIG_E2E=1)" && E2E_BIN_DIR="$PWD/target/debug" bash tests/e2e/metrics.sh
        step "end-to-end: dynamig.io/wait through containerd and Docker" && E2E_BIN_DIR="$PWD/target/debug" bash tests/e2e/wait.sh
        step "README's demo command through real containerd (DYNAMIG_E2E=1)"; bash tests/e2e/demo-check.sh
    else
        step "end-to-end: smoke test of the container environment (DYNAMIG_E2E=1)"
        bash tests/e2e/lib/smoke.sh
    fi
    step "end-to-end: fake NVML through containerd"; cargo build -q -p fake-nvml; E2E_BIN_DIR="$PWD/target/debug" bash tests/e2e/nvml.sh
    step "install: .deb, runtime configure on real containerd 1.6 / 2.1.9 and dockerd, install.sh" && bash tests/e2e/install.sh
else
    step "end-to-end tests skipped: set DYNAMIG_E2E=1 (as root, on Debian) to run them against real containerd and Docker"
fi
step "all tests passed"
