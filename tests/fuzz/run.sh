#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 60), on the stable
# toolchain (no sanitizer: `-s none`; RUSTC_BOOTSTRAP=1 lets stable accept the -Z flags
# cargo-fuzz passes). Installs cargo-fuzz from crates.io when missing. Fails loudly when a target
# cannot be built or run, and when a target finds a crash (the input is left in
# fuzz/artifacts/<target>/; add it to the regression tests once fixed).
#
# fuzz/Cargo.lock is tracked: a run never rewrites it. `cargo fuzz` has no `--locked`, so the
# lock is checked first (`cargo metadata --locked`: a stale lock fails here, with the fix) and
# compared after. Each target's libFuzzer log is kept only when the target fails.
#
#   bash tests/fuzz/run.sh                 # 60 s per target
#   FUZZ_SECONDS=600 bash tests/fuzz/run.sh quantity
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(quantity annotations state_loader)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it from crates.io (cargo install --locked cargo-fuzz)"
    cargo install --locked cargo-fuzz || { echo "FAIL: cannot install cargo-fuzz" >&2; exit 1; }
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
if ! cargo metadata --locked --format-version 1 >/dev/null 2>/dev/null; then
    echo "FAIL: fuzz/Cargo.lock is stale (a dependency of the fuzzed crates changed): run \`cargo metadata --format-version 1 >/dev/null\` in fuzz/ and commit fuzz/Cargo.lock" >&2
    exit 1
fi
lock_before=$(sha256sum Cargo.lock)
LOG_DIR=$(mktemp -d /tmp/dynamig-fuzz.XXXXXX)
trap 'rm -rf "$LOG_DIR"' EXIT
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    dict=()
    [ "$t" = annotations ] && dict=(-dict=dict/request.dict)
    echo "==> cargo fuzz run $t for ${SECONDS_EACH}s"
    start=$(date +%s)
    if ! cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" \
        -max_len=4096 -timeout=10 -print_final_stats=1 "${dict[@]}" 2>"$LOG_DIR/$t.log"; then
        kept=/tmp/dynamig-fuzz-$t.log
        cp "$LOG_DIR/$t.log" "$kept"
        tail -40 "$kept" >&2
        echo "(the whole log: $kept)" >&2
        echo "FAIL: fuzz target $t failed (crash, or could not build or run); see fuzz/artifacts/$t/" >&2
        exit 1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$LOG_DIR/$t.log" | awk '{print $2}')
    echo "fuzz $t: $((  $(date +%s) - start ))s wall (incl. build), ${runs:-?} executions, no crash, corpus $(find "corpus/$t" -type f | wc -l) inputs"
done
[[ $(sha256sum Cargo.lock) == "$lock_before" ]] || { echo "FAIL: the fuzz run changed fuzz/Cargo.lock" >&2; exit 1; }
