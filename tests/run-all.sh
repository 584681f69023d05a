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
cargo test --workspace 2>&1 | tee /tmp/dynamig-cargo-test.log
grep -E '^test result:' /tmp/dynamig-cargo-test.log | awk '{p+=$4; f+=$6} END {printf "cargo tests: %d passed, %d failed\n", p, f}'
cat target/tmp/stress-figures.txt 2>/dev/null || true

if [ "${DYNAMIG_E2E:-0}" = "1" ]; then
    if [ -x tests/e2e/run.sh ]; then
        step "end-to-end tests on real containerd / runc / Docker (DYNAMIG_E2E=1)"
        E2E_BIN_DIR="$PWD/target/debug" bash tests/e2e/run.sh
        E2E_BIN_DIR="$PWD/target/debug" bash tests/e2e/policy.sh
    else
        step "end-to-end: smoke test of the container environment (DYNAMIG_E2E=1)"
        bash tests/e2e/lib/smoke.sh
    fi
else
    step "end-to-end tests skipped: set DYNAMIG_E2E=1 (as root, on Debian) to run them against real containerd and Docker"
fi
# cargo-fuzz targets, a minute each: with DYNAMIG_FUZZ=1, or with DYNAMIG_E2E=1 unless DYNAMIG_FUZZ=0.
if [ "${DYNAMIG_FUZZ:-${DYNAMIG_E2E:-0}}" = "1" ]; then
    step "fuzzing: quantity, annotations, state_loader (${FUZZ_SECONDS:-60} s each)"
    bash tests/fuzz/run.sh
fi
step "all tests passed"
