#!/usr/bin/env bash
# Eviction latency on the sim backend (no containerd needed); victims are processes that ignore
# SIGTERM (`sh -c 'trap "" TERM; exec sleep 600'`), so every eviction spends its whole grace.
#   1. While one eviction spends a GRACE1 grace on GPU 0 (a 7g.40gb at inference over a 7g.40gb
#      victim), at once and each timed on its own: on GPU 1 (an inference 4g.20gb and a 1g.5gb
#      `pre` there, room left) an allocation that needs no eviction, the release of `pre`, and
#      `dynamigctl status`.
#   2. Three victims of one decision (three 2g.10gb, GRACE2 grace each; a 7g.40gb at inference
#      needs all three gone): the time of that allocation.
# Prints each figure in seconds and in grace periods (issue #13 targets: case 1 under 0.1, case
# 2 under 1.6).
#
# Usage: bash bench/eviction.sh   (GRACE1=12 GRACE2=4 seconds by default)
#   DYNAMIGCTL=path/to/dynamigctl (default: target/release, else target/debug, of this tree;
#   give another tree's binary to measure it the same way)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GRACE1=${GRACE1:-12}
GRACE2=${GRACE2:-4}
if [[ -z ${DYNAMIGCTL:-} ]]; then
    if [[ -x $ROOT/target/release/dynamigctl ]]; then DYNAMIGCTL=$ROOT/target/release/dynamigctl; else DYNAMIGCTL=$ROOT/target/debug/dynamigctl; fi
fi
[[ -x $DYNAMIGCTL ]] || { echo "bench: $DYNAMIGCTL missing; cargo build -p dynamigctl" >&2; exit 1; }

WORKDIR=$(mktemp -d /tmp/dynamig-bench-evict.XXXXXX)
export DYNAMIG_STATE_DIR=$WORKDIR/state DYNAMIG_BACKEND=sim DYNAMIG_LOCK_TIMEOUT_MS=120000
VICTIMS=()
cleanup() {
    local p
    for p in "${VICTIMS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORKDIR"
}
trap cleanup EXIT

ctl() { "$DYNAMIGCTL" "$@"; }
now() { date +%s.%N; }
# secs START END, and the same in grace periods of G seconds
figure() { awk -v a="$1" -v b="$2" -v g="$3" 'BEGIN { printf "%.3f s (%.2f grace periods)", b - a, (b - a) / g }'; }
victim() {
    setsid sh -c 'trap "" TERM; exec sleep 600' </dev/null >/dev/null 2>&1 &
    VICTIMS+=("$!")
    LAST=$!
    disown "$LAST"
}
# Runs "$@" quietly, failing the bench loudly when it fails.
quiet() { "$@" >/dev/null || { echo "bench: $* failed" >&2; exit 1; }; }

echo "dynamigctl: $DYNAMIGCTL"

# --- 1. a request, a release and status on a free GPU while a grace runs elsewhere ---------
rm -rf "$DYNAMIG_STATE_DIR"
quiet ctl sim init a100-40gb a100-40gb
victim
quiet ctl allocate v0 --mig-profile 7g.40gb --pid "$LAST" --grace-period "${GRACE1}s"
quiet ctl allocate keep --mig-profile 4g.20gb --priority inference
quiet ctl allocate pre --mig-profile 1g.5gb
t0=$(now)
ctl allocate boss --mig-profile 7g.40gb --priority inference >"$WORKDIR/boss.out" 2>&1 &
boss=$!
# let the eviction start: its decision takes milliseconds (a fixed pause rather than polling
# `status`, which a build that evicts under the lock would block)
sleep 0.5
# the three at once, each timed on its own (a build that holds the lock delays all three)
timed() {
    local name=$1
    shift
    local a b
    a=$(now)
    "$@" >/dev/null 2>"$WORKDIR/$name.err" || { echo "bench: $* failed: $(cat "$WORKDIR/$name.err")" >&2; exit 1; }
    b=$(now)
    echo "$a $b" >"$WORKDIR/$name.t"
}
timed alloc ctl allocate free --mig-profile 1g.5gb &
t_alloc=$!
timed release ctl release pre &
t_release=$!
timed status ctl status &
t_status=$!
wait "$t_alloc" "$t_release" "$t_status"
read -r a b <"$WORKDIR/alloc.t"
echo "1. allocate on the free GPU during a ${GRACE1} s grace: $(figure "$a" "$b" "$GRACE1")"
read -r a b <"$WORKDIR/release.t"
echo "1. release on the free GPU during a ${GRACE1} s grace:  $(figure "$a" "$b" "$GRACE1")"
read -r a b <"$WORKDIR/status.t"
echo "1. status during a ${GRACE1} s grace:                   $(figure "$a" "$b" "$GRACE1")"
wait "$boss" || { cat "$WORKDIR/boss.out" >&2; echo "bench: the evicting request failed" >&2; exit 1; }
t1=$(now)
echo "1. the evicting request itself:                      $(figure "$t0" "$t1" "$GRACE1")"

# --- 2. three victims of one decision ----------------------------------------------------------
rm -rf "$DYNAMIG_STATE_DIR"
quiet ctl sim init a100-40gb
for i in 0 1 2; do
    victim
    quiet ctl allocate "v$i" --mig-profile 2g.10gb --pid "$LAST" --grace-period "${GRACE2}s"
done
a=$(now)
out=$(ctl allocate boss --mig-profile 7g.40gb --priority inference 2>"$WORKDIR/boss.err")
b=$(now)
[[ $out == *"evicted "*"v0"*"v1"*"v2"* ]] || { echo "bench: expected three victims: $out" >&2; exit 1; }
echo "2. one decision, three victims, ${GRACE2} s grace each:  $(figure "$a" "$b" "$GRACE2")"
