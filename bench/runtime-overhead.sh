#!/usr/bin/env bash
# What the runc wrapper path (dynamig-runc as runc: Docker, podman, CRI-O, containerd's
# BinaryName) adds to one container's life, without containerd and runc's own (noisy,
# 150-250 ms here) work: the runc calls the stock runc v2 shim makes for `ctr run --rm`, in
# order (bench/overhead/cycle.sh), with a stand-in runc (bench/overhead/fake-runc, which only
# runs the spec's dynamig hooks where runc would):
#   runc create, runc start, runc delete, runc delete --force (the shim's cleanup), and the OCI
#   hooks the spec then holds, where runc would run them (createRuntime after create)
# (io.containerd.dynamig.v2 runs none of these: it drives runc itself, in process; its cost is
# measured end to end by bench/container-start.sh)
# once through the stand-ins alone (no dynamig),
# once through dynamig for a container without a request, and once with dynamig.io/mig-profile
# 1g.5gb on a simulated A100-40GB (allocate, record the process, release: every state write).
# Prints a markdown table; "added" is the median minus the stand-ins' median; the CPU columns
# (mean user+sys time of the whole cycle) are steadier than wall time on a busy machine.
#
# Usage: bash bench/runtime-overhead.sh [RUNS]     (default 200 runs, 20 warm-ups)
#   BENCH_BIN_DIR=target/release (default: target/release if built, else target/debug)
#   BENCH_STATE_FS=tmpfs   state directory on a private tmpfs (root; as /run/dynamig on systemd)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-200}
if [[ -z ${BENCH_BIN_DIR:-} ]]; then
    if [[ -x $ROOT/target/release/dynamig-runc ]]; then BENCH_BIN_DIR=$ROOT/target/release; else BENCH_BIN_DIR=$ROOT/target/debug; fi
fi
BIN=$(cd "$BENCH_BIN_DIR" && pwd -P)
for b in dynamigctl dynamig-runc dynamig-hook; do
    [[ -x $BIN/$b ]] || { echo "bench: $BIN/$b missing; cargo build --release --workspace" >&2; exit 1; }
done
command -v hyperfine >/dev/null || { echo "bench: hyperfine missing (apt-get install hyperfine)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 1; }

W=$(mktemp -d /tmp/dynamig-overhead.XXXXXX)
cleanup() {
    if mountpoint -q "$W/state" 2>/dev/null; then umount "$W/state"; fi
    rm -rf "$W"
}
trap cleanup EXIT
[[ ${BENCH_DEBUG:-0} == 1 ]] && trap - EXIT
mkdir -p "$W/state" "$W/runc-root" "$W/plain" "$W/none" "$W/req"
chmod 0700 "$W/state"
if [[ ${BENCH_STATE_FS:-disk} == tmpfs ]]; then
    mount -t tmpfs -o mode=0700,size=64m dynamig-overhead "$W/state"
fi
export DYNAMIG_STATE_DIR=$W/state DYNAMIG_BACKEND=sim
"$BIN/dynamigctl" sim init a100-40gb >/dev/null
spec='{"ociVersion":"1.0.2-dev","process":{"args":["true"],"env":["PATH=/bin"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]}}}'
printf '%s' "$spec" >"$W/plain.json"
jq -c '.annotations = {"dynamig.io/mig-profile": "1g.5gb"}' <<<"$spec" >"$W/req.json"

cp "$ROOT/bench/overhead/fake-runc" "$W/fake-runc"
chmod 0755 "$W/fake-runc"
export W BIN DYNAMIG_RUNC=$W/fake-runc HOOK=$BIN/dynamig-hook
cycle=$ROOT/bench/overhead/cycle.sh

hyperfine -N --style basic --warmup 20 --runs "$RUNS" --export-json "$W/o.json" \
    -n "stand-ins only (no dynamig)" "bash $cycle plain" \
    -n "dynamig, no request" "bash $cycle none" \
    -n "dynamig, request 1g.5gb" "bash $cycle req" >&2

left=$("$BIN/dynamigctl" status --json | jq '[.gpus[].instances[]] | length')
[[ $left -eq 0 ]] || { echo "bench: $left instances left after the runs" >&2; exit 1; }

echo
echo "dynamig-runc's own work per container (runc create/start/delete/delete --force, createRuntime hook), $(nproc) CPUs, $RUNS runs + 20 warm-ups, binaries: ${BIN#"$ROOT"/}, state dir on $(stat -f -c %T "$W/state")"
echo
jq -r '
  .results as $r | ($r[0].median) as $b |
  ($r[0].user + $r[0].system) as $bc |
  "| calls | median (ms) | mean ± sd (ms) | added (ms) | CPU user+sys (ms) | added CPU (ms) |",
  "|---|---:|---:|---:|---:|---:|",
  ($r[] | "| \(.command) | \(.median * 1000 | . * 100 | round / 100) | \(.mean * 1000 | . * 100 | round / 100) ± \(.stddev * 1000 | . * 100 | round / 100) | \((.median - $b) * 1000 | . * 100 | round / 100) | \((.user + .system) * 1000 | . * 100 | round / 100) | \((.user + .system - $bc) * 1000 | . * 100 | round / 100) |")
' "$W/o.json"
