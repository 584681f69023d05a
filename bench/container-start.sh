#!/usr/bin/env bash
# Container start overhead of dynamig on real containerd (Debian containerd 1.6 + runc), on a
# simulated A100-40GB: wall time of `ctr run --rm IMAGE ID true` (create, start, wait, delete)
#   1. io.containerd.runc.v2                         (baseline)
#   2. io.containerd.runc.v2 + BinaryName=dynamig-runc, no request
#   3. io.containerd.dynamig.v2, no request
#   4. io.containerd.dynamig.v2 with dynamig.io/mig-profile=1g.5gb (allocate + release each run)
# The cases run in interleaved rounds (every case once per round, rotating order). Prints a
# markdown table: median, mean ± stddev, ratio to the baseline, and the added ms as the median
# (and interquartile range) of the per-round differences to the baseline.
#
# Usage (root): bash bench/container-start.sh [RUNS]  (default 20 rounds; BENCH_WARMUP=3 more)
#   BENCH_BIN_DIR=target/release (default: target/release if built, else target/debug)
#   BENCH_STATE_FS=tmpfs   the state directory on a private tmpfs, as /run/dynamig is on a
#                          systemd host (default: a directory under /tmp, i.e. the disk here)
#   BENCH_COMPARE_BIN_DIR=DIR  another build's binaries (e.g. of the previous commit): adds
#                          its shim and its dynamig-runc with a request as further cases in the
#                          same interleaved rounds, so one table compares the two builds
#                          side by side (the shim by absolute path: `ctr run --runtime PATH`)
# Needs tests/e2e/lib/install-deps.sh (run here) for containerd, runc, jq.
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
if [[ -n ${BENCH_COMPARE_BIN_DIR:-} ]]; then
    CMP=$(cd "$BENCH_COMPARE_BIN_DIR" && pwd -P)
    for b in dynamig-runc dynamig-hook containerd-shim-dynamig-v2; do
        [[ -x $CMP/$b ]] || { echo "bench: $CMP/$b missing" >&2; exit 1; }
    done
    names+=(
        "runc.v2 + dynamig-runc, request 1g.5gb"
        "runc.v2 + dynamig-runc, request 1g.5gb [${CMP#"$ROOT"/}]"
        "dynamig.v2, request 1g.5gb [${CMP#"$ROOT"/}]"
    )
    # dynamig-runc finds dynamig-hook next to itself, so each build uses its own hook.
    cmds+=(
        "$ctr --runtime io.containerd.runc.v2 --runc-binary $E2E_DYNAMIG_RUNC --annotation dynamig.io/mig-profile=1g.5gb $E2E_IMAGE b5 true"
        "$ctr --runtime io.containerd.runc.v2 --runc-binary $CMP/dynamig-runc --annotation dynamig.io/mig-profile=1g.5gb $E2E_IMAGE b6 true"
        "$ctr --runtime $CMP/containerd-shim-dynamig-v2 --annotation dynamig.io/mig-profile=1g.5gb $E2E_IMAGE b7 true"
    )
fi
# Interleaved rounds (each round runs every case once, in a rotating order), so that a slow
# phase of this shared machine hits every case alike; "added" is the median of the per-round
# differences to the baseline of the same round.
WARMUP=${BENCH_WARMUP:-3}
python3 - "$RUNS" "$WARMUP" "$WORKDIR/bench.json" "${names[@]}" -- "${cmds[@]}" <<'PY'
import json, statistics, subprocess, sys, time
runs, warm, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rest = sys.argv[4:]
sep = rest.index("--")
names, cmds = rest[:sep], rest[sep + 1:]
times = [[] for _ in cmds]
for r in range(warm + runs):
    order = list(range(len(cmds)))
    k = r % len(cmds)
    order = order[k:] + order[:k]
    for i in order:
        t0 = time.perf_counter()
        p = subprocess.run(cmds[i], shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"bench: {names[i]} failed: {p.stderr.decode(errors='replace').strip()}")
        if r >= warm:
            times[i].append(dt * 1000)
json.dump({"names": names, "ms": times}, open(out, "w"))
PY
# every request run must have been released again
left=$("$BENCH_BIN_DIR/dynamigctl" status --json | jq '[.gpus[].instances[]] | length')
[[ $left -eq 0 ]] || { echo "bench: $left instances left after the runs" >&2; exit 1; }
allocs=$(jq -s 'map(select(.kind == "allocated")) | length' "$DYNAMIG_STATE_DIR/events.jsonl")

echo
echo "container start, \`ctr run --rm IMAGE ID true\`, containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), $(nproc) CPUs, $RUNS interleaved rounds + $WARMUP warm-up rounds, binaries: ${BENCH_BIN_DIR#"$ROOT"/}, state dir on $STATE_FS"
echo
python3 - "$WORKDIR/bench.json" <<'PY'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
names, ms = d["names"], d["ms"]
base = ms[0]
bm = statistics.median(base)
print("| runtime | median (ms) | mean ± sd (ms) | ratio | added (ms), median of paired differences [IQR] |")
print("|---|---:|---:|---:|---:|")
for n, t in zip(names, ms):
    diffs = sorted(a - b for a, b in zip(t, base))
    q = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else [diffs[0]] * 3
    med = statistics.median(t)
    print(f"| {n} | {med:.1f} | {statistics.mean(t):.1f} ± {statistics.stdev(t) if len(t) > 1 else 0:.1f} "
          f"| {med / bm:.2f} | {statistics.median(diffs):+.1f} [{q[0]:+.1f}, {q[2]:+.1f}] |")
PY
echo
echo "request runs: $allocs allocations, all released (0 instances left)"
