#!/usr/bin/env bash
# Container start overhead of dynamig on real containerd (Debian containerd 1.6 + runc), on a
# simulated A100-40GB: wall time of `ctr run --rm IMAGE ID true` (create, start, wait, delete)
#   1. io.containerd.runc.v2                         (baseline)
#   2. io.containerd.runc.v2 + BinaryName=dynamig-runc, no request
#   3. io.containerd.dynamig.v2, no request
#   4. io.containerd.dynamig.v2 with dynamig.io/mig-profile=1g.5gb (allocate + release each run)
# Prints a markdown table: median, mean ± stddev, ratio to the baseline and the added ms.
#
# Usage (root): bash bench/container-start.sh [RUNS]      (default 20 runs, 3 warm-ups)
#   BENCH_BIN_DIR=target/release (default: target/release if built, else target/debug)
#   BENCH_STATE_FS=tmpfs   the state directory on a private tmpfs, as /run/dynamig is on a
#                          systemd host (default: a directory under /tmp, i.e. the disk here)
# Needs tests/e2e/lib/install-deps.sh (run here) for containerd, runc, hyperfine, jq.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-20}
if [[ -z ${BENCH_BIN_DIR:-} ]]; then
    if [[ -x $ROOT/target/release/containerd-shim-dynamig-v2 ]]; then BENCH_BIN_DIR=$ROOT/target/release; else BENCH_BIN_DIR=$ROOT/target/debug; fi
fi
BENCH_BIN_DIR=$(cd "$BENCH_BIN_DIR" && pwd -P)
for b in dynamigctl dynamig-runc dynamig-hook containerd-shim-dynamig-v2; do
    [[ -x $BENCH_BIN_DIR/$b ]] || { echo "bench: $BENCH_BIN_DIR/$b missing; cargo build --release --workspace" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "bench: must run as root" >&2; exit 1; }
bash "$ROOT/tests/e2e/lib/install-deps.sh" >/dev/null

export E2E_BIN_DIR=$BENCH_BIN_DIR
export E2E_DYNAMIG_RUNC=$BENCH_BIN_DIR/dynamig-runc
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib/env.sh
source "$ROOT/tests/e2e/lib/env.sh"
WORKDIR=$(mktemp -d /tmp/dynamig-bench.XXXXXX)
export E2E_WORKDIR_OWNED=1
export DYNAMIG_STATE_DIR=$WORKDIR/state
trap e2e_cleanup EXIT
e2e_env_init "$WORKDIR" >/dev/null 2>&1
mkdir -p "$DYNAMIG_STATE_DIR"
if [[ ${BENCH_STATE_FS:-disk} == tmpfs ]]; then
    mount -t tmpfs -o mode=0700,size=64m dynamig-bench "$DYNAMIG_STATE_DIR"
fi
STATE_FS=$(stat -f -c %T "$DYNAMIG_STATE_DIR")
"$BENCH_BIN_DIR/dynamigctl" sim init a100-40gb >/dev/null
e2e_containerd_start 2>/dev/null
e2e_image_import

ctr="CONTAINERD_SNAPSHOTTER=$E2E_SNAPSHOTTER $E2E_CTR_BIN --address $E2E_CONTAINERD_SOCK -n $E2E_NS run --rm"
names=(
    "runc.v2 (baseline)"
    "runc.v2 + dynamig-runc, no request"
    "dynamig.v2, no request"
    "dynamig.v2, request 1g.5gb"
)
cmds=(
    "$ctr --runtime io.containerd.runc.v2 $E2E_IMAGE b1 true"
    "$ctr --runtime io.containerd.runc.v2 --runc-binary $E2E_DYNAMIG_RUNC $E2E_IMAGE b2 true"
    "$ctr --runtime io.containerd.dynamig.v2 $E2E_IMAGE b3 true"
    "$ctr --runtime io.containerd.dynamig.v2 --annotation dynamig.io/mig-profile=1g.5gb $E2E_IMAGE b4 true"
)
hf_args=()
for i in "${!cmds[@]}"; do hf_args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine --style basic --warmup 3 --runs "$RUNS" --export-json "$WORKDIR/bench.json" "${hf_args[@]}" >&2

# every request run must have been released again
left=$("$BENCH_BIN_DIR/dynamigctl" status --json | jq '[.gpus[].instances[]] | length')
[[ $left -eq 0 ]] || { echo "bench: $left instances left after the runs" >&2; exit 1; }
allocs=$(jq -s 'map(select(.kind == "allocated")) | length' "$DYNAMIG_STATE_DIR/events.jsonl")

echo
echo "container start, \`ctr run --rm IMAGE ID true\`, containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), $(nproc) CPUs, $RUNS runs + 3 warm-ups each, binaries: ${BENCH_BIN_DIR#"$ROOT"/}, state dir on $STATE_FS"
echo
jq -r '
  .results as $r | ($r[0].median) as $b |
  "| runtime | median (ms) | mean ± sd (ms) | ratio | added (ms) |",
  "|---|---:|---:|---:|---:|",
  ($r[] | "| \(.command) | \(.median * 1000 | . * 10 | round / 10) | \(.mean * 1000 | . * 10 | round / 10) ± \(.stddev * 1000 | . * 10 | round / 10) | \(.median / $b | . * 100 | round / 100) | \((.median - $b) * 1000 | . * 10 | round / 10) |")
' "$WORKDIR/bench.json"
echo
echo "request runs: $allocs allocations, all released (0 instances left)"
