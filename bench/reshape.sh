#!/usr/bin/env bash
# Reshape latency (issue #17): dynamig's own time on the reshape path, apart from the driver's.
# The fake libnvidia-ml.so.1 (tests/fake-nvml, an A100-SXM4-40GB) emulates the driver's time per
# call kind (FAKE_NVML_LATENCY_MS, by default the issue's init=20,gi_create=90,gi_destroy=140,
# ci_create=30,ci_destroy=20) and logs the time it actually slept (FAKE_NVML_LATENCY_LOG). For
# each path, per run: the total, the emulated NVML time spent inside it (from the fake's log,
# measured, not assumed), the fake library's own file work (its `fake_work` lines: reading and
# rewriting its node file on every call, which a real driver does not do), dynamig's own time =
# total - NVML - fake work, and own / NVML (also with the fake's work counted as dynamig's, the
# issue's strict "total minus NVML"). Paths:
#   fresh    a 3g.20gb on a free GPU
#   evict    a 7g.40gb that evicts one preemptible 7g.40gb holder (a live process) with zero grace
#   release  the release of the fresh path's 3g.20gb
#   warm     a warm-instance hit: a 3g.20gb request taking a warm 3g.20gb (docs/warm-instances.md)
# through two entry points:
#   dynamigctl  `dynamigctl allocate|release`: total = the process's wall time (exec, NVML
#               init and shutdown, lock, decision, reshape, state and event writes)
#   shim        containerd-shim-dynamig-v2 on a private containerd (Debian's), `ctr run --rm`:
#               total = the runtime log's `total_us` of the `injected` line (request to edited
#               spec) or of the `released` line; NVML = the fake's sleeps in that shim process
#               inside that window. The containers share one shim (one group, as a pod's do),
#               kept alive by a holder container, so its NVML session is reused.
# Runs alternate fresh/release and evict rounds; medians are printed, with the per-phase medians
# of the `allocated`/`released` events (docs/observability.md).
#
# Usage (root): bash bench/reshape.sh [RUNS]   (default 10 runs per path, BENCH_WARMUP=2 more)
#   BENCH_BIN_DIR=target/release (default: target/release if built, else target/debug); it
#                 must hold dynamigctl, dynamig-runc, dynamig-hook, containerd-shim-dynamig-v2
#                 and libnvidia_ml.so (`cargo build --release --workspace`)
#   BENCH_LATENCY=<FAKE_NVML_LATENCY_MS value>
#   BENCH_VIA="dynamigctl shim" (default both)
#   BENCH_STATE_FS=tmpfs (default, as /run/dynamig) or disk: where the state directory is
# Needs tests/e2e/lib/install-deps.sh (run here) for containerd, runc, jq.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-10}
WARMUP=${BENCH_WARMUP:-2}
VIA=${BENCH_VIA:-dynamigctl shim}
LATENCY=${BENCH_LATENCY:-init=20,gi_create=90,gi_destroy=140,ci_create=30,ci_destroy=20}
if [[ -z ${BENCH_BIN_DIR:-} ]]; then
    if [[ -x $ROOT/target/release/containerd-shim-dynamig-v2 ]]; then BENCH_BIN_DIR=$ROOT/target/release; else BENCH_BIN_DIR=$ROOT/target/debug; fi
fi
BENCH_BIN_DIR=$(cd "$BENCH_BIN_DIR" && pwd -P)
for b in dynamigctl dynamig-runc dynamig-hook containerd-shim-dynamig-v2 libnvidia_ml.so; do
    [[ -e $BENCH_BIN_DIR/$b ]] || { echo "bench: $BENCH_BIN_DIR/$b missing; cargo build --release --workspace" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "bench: must run as root" >&2; exit 1; }
bash "$ROOT/tests/e2e/lib/install-deps.sh" >/dev/null
CTL=$BENCH_BIN_DIR/dynamigctl

export E2E_BIN_DIR=$BENCH_BIN_DIR
export E2E_DYNAMIG_RUNC=$BENCH_BIN_DIR/dynamig-runc
export E2E_NS=dynamig-reshape-$$
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib/env.sh
source "$ROOT/tests/e2e/lib/env.sh"
WORKDIR=$(mktemp -d /tmp/dynamig-reshape.XXXXXX)
export E2E_WORKDIR_OWNED=1
trap e2e_cleanup EXIT

# The node: the fake library's A100 with emulated latency. Exported before containerd starts, so
# containerd and its shims inherit it.
mkdir -p "$WORKDIR/lib" "$WORKDIR/proc" "$WORKDIR/state"
# The state directory on a tmpfs, as /run/dynamig is on a systemd host (BENCH_STATE_FS=disk: a
# directory on the disk under /tmp instead; its fsyncs are then part of dynamig's own time).
if [[ ${BENCH_STATE_FS:-tmpfs} == tmpfs ]]; then
    mount -t tmpfs -o mode=0700,size=64m dynamig-reshape "$WORKDIR/state"
fi
STATE_FS=$(stat -f -c %T "$WORKDIR/state")
ln -s "$BENCH_BIN_DIR/libnvidia_ml.so" "$WORKDIR/lib/libnvidia-ml.so.1"
export LD_LIBRARY_PATH=$WORKDIR/lib
export FAKE_NVML_STATE=$WORKDIR/fake/sim.json FAKE_NVML_PROC_ROOT=$WORKDIR/proc
export DYNAMIG_PROC_ROOT=$WORKDIR/proc DYNAMIG_STATE_DIR=$WORKDIR/state DYNAMIG_BACKEND=nvml
export DYNAMIG_DRIVER_STACK=none DYNAMIG_LOG_FILE=$WORKDIR/dynamig.log
export FAKE_NVML_LATENCY_MS=$LATENCY FAKE_NVML_LATENCY_LOG=$WORKDIR/latency.log
export DYNAMIG_HOOK_ENV=FAKE_NVML_STATE,FAKE_NVML_PROC_ROOT,FAKE_NVML_LATENCY_MS,FAKE_NVML_LATENCY_LOG
RECORDS=$WORKDIR/records.jsonl
: >"$RECORDS"
DYNAMIG_BACKEND=sim DYNAMIG_STATE_DIR=$WORKDIR/fake "$CTL" sim init a100-40gb >/dev/null

# The measuring helper: `ctl PATH HOLDER -- CMD...` runs CMD and records its wall time and the
# fake's sleeps logged meanwhile; `shim PATH HOLDER MESSAGE` records the runtime log's line
# MESSAGE (injected, released) for HOLDER and the shim's sleeps inside its window; `report`
# prints the tables.
cat >"$WORKDIR/measure.py" <<'PY'
import json, os, statistics, subprocess, sys, time
from datetime import datetime
W = os.environ["WORKDIR"]
LAT = os.environ["FAKE_NVML_LATENCY_LOG"]
REC = os.path.join(W, "records.jsonl")

def sleeps():
    out = []
    try:
        for l in open(LAT):
            k, us, end, pid = l.split()
            out.append((k, int(us), int(end), int(pid)))
    except FileNotFoundError:
        pass
    return out

def record(r):
    with open(REC, "a") as f:
        f.write(json.dumps(r) + "\n")

def ctl(path, holder, cmd):
    before = len(sleeps())
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    total = (time.perf_counter() - t0) * 1e6
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed: {p.stderr.decode(errors='replace').strip()}")
    new = sleeps()[before:]
    record({"path": path, "via": "dynamigctl", "holder": holder, "total_us": total, **split(new)})

def split(lines):
    """The emulated driver time and the fake's own work among log lines."""
    return {"nvml_us": sum(s[1] for s in lines if s[0] != "fake_work"),
            "fake_us": sum(s[1] for s in lines if s[0] == "fake_work"),
            "kinds": [s[0] for s in lines if s[0] != "fake_work"]}

def log_line(holder, message):
    found = None
    for l in open(os.path.join(W, "dynamig.log")):
        try:
            j = json.loads(l)
        except ValueError:
            continue
        f = j.get("fields", {})
        if f.get("message") == message and f.get("holder") == holder:
            found = j
    if found is None:
        sys.exit(f"bench: no {message!r} line for {holder} in the runtime log")
    return found

def shim(path, holder, message):
    j = log_line(holder, message)
    ts = j["timestamp"].rstrip("Z")
    frac = ts.split(".")[1] if "." in ts else "0"
    end = int(datetime.fromisoformat(ts.split(".")[0] + "+00:00").timestamp()) * 1_000_000 \
        + int((frac + "000000")[:6])
    total = j["fields"]["total_us"]
    pid = j["span"]["pid"]
    start = end - total - 1000  # the log's clock read comes a little after total_us's
    new = [s for s in sleeps() if s[3] == pid and start <= s[2] <= end]
    record({"path": path, "via": "shim", "holder": holder, "total_us": total, "pid": pid,
            **split(new)})

def report(warmup):
    recs = [json.loads(l) for l in open(REC)]
    events = {}
    for l in open(os.path.join(os.environ["DYNAMIG_STATE_DIR"], "events.jsonl")):
        e = json.loads(l)
        if e.get("phases") and e["kind"] in ("allocated", "released"):
            events[(e["holder"], e["kind"])] = e["phases"]
    groups = {}
    for r in recs:
        groups.setdefault((r["via"], r["path"]), []).append(r)
    order = ["fresh", "evict", "release", "warm"]
    names = {"fresh": "fresh instance, free GPU (3g.20gb)",
             "evict": "one victim evicted, zero grace (7g.40gb)",
             "release": "release (3g.20gb)", "warm": "warm-instance hit"}
    med = statistics.median
    print("| path | via | runs | total (ms) | emulated NVML (ms) | fake's file work (ms) | dynamig's own (ms) | own / NVML | own + fake work / NVML | emulated calls per run |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for via in ["dynamigctl", "shim"]:
        for path in order:
            rs = groups.get((via, path), [])[warmup:]
            if not rs:
                continue
            own = [r["total_us"] - r["nvml_us"] - r["fake_us"] for r in rs]
            ratio = [(r["total_us"] - r["nvml_us"] - r["fake_us"]) / r["nvml_us"] for r in rs if r["nvml_us"] > 0]
            strict = [(r["total_us"] - r["nvml_us"]) / r["nvml_us"] for r in rs if r["nvml_us"] > 0]
            kinds = {}
            for k in rs[-1]["kinds"]:
                kinds[k] = kinds.get(k, 0) + 1
            calls = ", ".join(f"{k}×{n}" for k, n in sorted(kinds.items()))
            pct = lambda v: f"{med(v) * 100:.1f}%" if v else "n/a"
            print(f"| {names[path]} | {via} | {len(rs)} | {med([r['total_us'] for r in rs]) / 1000:.1f} "
                  f"| {med([r['nvml_us'] for r in rs]) / 1000:.1f} | {med([r['fake_us'] for r in rs]) / 1000:.1f} "
                  f"| {med(own) / 1000:.1f} | {pct(ratio)} | {pct(strict)} | {calls} |")
    print()
    print("Per-phase medians (ms) of the same runs, from the events' `phases` (a blank: the phase did not happen):")
    print()
    cols = ["lock_wait", "decision", "eviction_wait", "destroy", "gi_create", "ci_create", "spec_edit"]
    print("| path | via | " + " | ".join(cols) + " |")
    print("|---|---|" + "---:|" * len(cols))
    for via in ["dynamigctl", "shim"]:
        for path in order:
            rs = groups.get((via, path), [])[warmup:]
            if not rs:
                continue
            kind = "released" if path == "release" else "allocated"
            ph = [events.get((r["holder"], kind)) for r in rs]
            ph = [p for p in ph if p]
            cells = []
            for c in cols:
                v = [p[c + "_us"] for p in ph if c + "_us" in p]
                cells.append(f"{med(v)/1000:.2f}" if v else "")
            print(f"| {names[path]} | {via} | " + " | ".join(cells) + " |")
    shims = sorted({r["pid"] for r in recs if r["via"] == "shim"})
    if shims:
        inits = sum(1 for s in sleeps() if s[0] == "init" and s[3] in shims)
        print()
        print(f"shim processes: {len(shims)}; nvmlInit calls in them over all shim runs: {inits}")

cmd = sys.argv[1]
if cmd == "ctl":
    sep = sys.argv.index("--")
    ctl(sys.argv[2], sys.argv[3], sys.argv[sep + 1:])
elif cmd == "shim":
    shim(sys.argv[2], sys.argv[3], sys.argv[4])
elif cmd == "report":
    report(int(sys.argv[2]))
PY
export WORKDIR
measure() { python3 "$WORKDIR/measure.py" "$@"; }

# ---------------------------------------------------------------- dynamigctl
ctl_fresh_and_release() { # N
    measure ctl fresh "f$1" -- "$CTL" allocate "f$1" --mig-profile 3g.20gb
    measure ctl release "f$1" -- "$CTL" release "f$1"
}
ctl_evict() { # N
    sleep 600 &
    local victim=$!
    "$CTL" allocate "v$1" --mig-profile 7g.40gb --priority training --grace-period 0s --pid "$victim" >/dev/null
    measure ctl evict "h$1" -- "$CTL" allocate "h$1" --mig-profile 7g.40gb --priority interactive
    wait "$victim" 2>/dev/null || true
    "$CTL" release "h$1" >/dev/null
    "$CTL" release "v$1" >/dev/null
}

# ---------------------------------------------------------------- shim
GROUP=io.containerd.runc.v2.group=reshape-bench
shim_run() { # ID ANNOTATIONS...
    local id=$1
    shift
    local a=()
    for x in "$@"; do a+=(--annotation "$x"); done
    e2e_ctr run --rm --runtime io.containerd.dynamig.v2 --annotation "$GROUP" "${a[@]}" "$E2E_IMAGE" "$id" true >/dev/null
}
shim_fresh_and_release() { # N
    shim_run "sf$1" dynamig.io/mig-profile=3g.20gb
    measure shim fresh "sf$1" injected
    measure shim release "sf$1" released
}
shim_evict() { # N
    e2e_ctr run -d --runtime io.containerd.dynamig.v2 --annotation "$GROUP" \
        --annotation dynamig.io/mig-profile=7g.40gb --annotation dynamig.io/priority=training \
        --annotation dynamig.io/grace-period=0s "$E2E_IMAGE" "sv$1" sleep 600 >/dev/null
    shim_run "sh$1" dynamig.io/mig-profile=7g.40gb dynamig.io/priority=interactive
    measure shim evict "sh$1" injected
    e2e_ctr task rm -f "sv$1" >/dev/null 2>&1 || true
    e2e_ctr container rm "sv$1" >/dev/null
}

# ---------------------------------------------------------------- warm hit
# A 3g.20gb is allocated and released with warm instances on (DYNAMIG_WARM_MAX=1), so it stays
# warm; the measured request for a 3g.20gb then takes it as it is (no destroy, no create). The
# measured holder is released with warm instances off, so every run starts from an empty GPU.
# Through the shim this needs a shim started with the setting: a second containerd (and so a
# second group shim) runs the warm path after the other shim paths.
WARM_ON=(env DYNAMIG_WARM_MAX=1 DYNAMIG_WARM_TTL=10m)
WARM_OFF=(env DYNAMIG_WARM_MAX=0)
ctl_warm_hit() { # N
    "${WARM_ON[@]}" "$CTL" allocate "wp$1" --mig-profile 3g.20gb >/dev/null
    "${WARM_ON[@]}" "$CTL" release "wp$1" >/dev/null
    [[ $("${WARM_ON[@]}" "$CTL" status --json | jq '[.gpus[].instances[] | select(.state == "warm")] | length') -eq 1 ]] ||
        { echo "bench: no warm instance after the priming release" >&2; exit 1; }
    measure ctl warm "wh$1" -- "${WARM_ON[@]}" "$CTL" allocate "wh$1" --mig-profile 3g.20gb
    "${WARM_OFF[@]}" "$CTL" release "wh$1" >/dev/null
}
shim_warm_hit() { # N
    shim_run "swp$1" dynamig.io/mig-profile=3g.20gb
    [[ $("${WARM_ON[@]}" "$CTL" status --json | jq '[.gpus[].instances[] | select(.state == "warm")] | length') -eq 1 ]] ||
        { echo "bench: no warm instance after the priming container" >&2; exit 1; }
    e2e_ctr run -d --runtime io.containerd.dynamig.v2 --annotation "$GROUP" \
        --annotation dynamig.io/mig-profile=3g.20gb "$E2E_IMAGE" "swh$1" sleep 600 >/dev/null
    measure shim warm "swh$1" injected
    e2e_ctr task rm -f "swh$1" >/dev/null 2>&1 || true
    e2e_ctr container rm "swh$1" >/dev/null
    # Released into warm by the warm shim: destroy it from outside, warm instances off.
    "${WARM_OFF[@]}" "$CTL" gc >/dev/null
}
shim_group_start() {
    e2e_ctr run -d --runtime io.containerd.dynamig.v2 --annotation "$GROUP" "$E2E_IMAGE" holder sleep 3600 >/dev/null
}
shim_group_stop() {
    e2e_ctr task rm -f holder >/dev/null 2>&1 || true
    e2e_ctr container rm holder >/dev/null 2>&1 || true
}

for via in $VIA; do
    case $via in
    dynamigctl)
        for ((i = 0; i < WARMUP + RUNS; i++)); do
            ctl_fresh_and_release "$i"
            ctl_evict "$i"
            ctl_warm_hit "$i"
        done
        ;;
    shim)
        e2e_env_init "$WORKDIR" >/dev/null 2>&1
        e2e_containerd_start 2>/dev/null
        e2e_image_import
        # The group's holder (a pod's pause container): keeps the shared shim alive.
        shim_group_start
        for ((i = 0; i < WARMUP + RUNS; i++)); do
            shim_fresh_and_release "$i"
            shim_evict "$i"
        done
        shim_group_stop
        e2e_containerd_stop 2>/dev/null
        # The warm path: containerd (and so its shims) with warm instances on.
        DYNAMIG_WARM_MAX=1 DYNAMIG_WARM_TTL=10m e2e_containerd_start 2>/dev/null
        shim_group_start
        for ((i = 0; i < WARMUP + RUNS; i++)); do
            shim_warm_hit "$i"
        done
        shim_group_stop
        ;;
    *) echo "bench: BENCH_VIA: $via is not dynamigctl or shim" >&2; exit 1 ;;
    esac
done
left=$("$CTL" status --json | jq '[.gpus[].instances[]] | length')
[[ $left -eq 0 ]] || { echo "bench: $left instances left after the runs" >&2; exit 1; }

echo
echo "reshape latency, fake NVML with FAKE_NVML_LATENCY_MS=$LATENCY, $RUNS runs per path + $WARMUP warm-up, $(nproc) CPUs, binaries: ${BENCH_BIN_DIR#"$ROOT"/}, state dir on $STATE_FS$( [[ $VIA == *shim* ]] && echo ", containerd $(containerd --version | awk '{print $3}')")"
echo
measure report "$WARMUP"
