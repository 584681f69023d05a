#!/usr/bin/env bash
# dynamig e2e: the Prometheus metrics file, checked by Prometheus's own parser and linter
# (`promtool check metrics`), after the seed walkthrough on a simulated A100-SXM4-40GB.
#
# Gated: runs only with DYNAMIG_E2E=1. Needs E2E_BIN_DIR (with dynamigctl) and promtool: from
# PATH, else extracted (not installed: no Prometheus server is set up) from Debian's
# `prometheus` package with `apt-get download` into a cache directory. With DYNAMIG_E2E=1
# anything that cannot run is a failure.
#   cargo build --workspace && DYNAMIG_E2E=1 E2E_BIN_DIR=$PWD/target/debug bash tests/e2e/metrics.sh
set -euo pipefail

if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "e2e metrics skipped: DYNAMIG_E2E is not 1"
    exit 0
fi

fail() { printf '\nE2E METRICS FAILED: %s\n' "$*" >&2; exit 1; }
ok() { printf '[e2e metrics ok] %s\n' "$*"; }

[[ -n ${E2E_BIN_DIR:-} ]] || fail "E2E_BIN_DIR is not set (the directory with dynamigctl, e.g. target/debug)"
CTL=$E2E_BIN_DIR/dynamigctl
[[ -x $CTL ]] || fail "$CTL is missing; cargo build --workspace first"

WORK=$(mktemp -d /tmp/dynamig-e2e-metrics.XXXXXX)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# promtool: PATH, the cache, or Debian's package (extracted, never installed).
CACHE=${DYNAMIG_E2E_CACHE:-/var/cache/dynamig-e2e}
PROMTOOL=$(command -v promtool || true)
if [[ -z $PROMTOOL && -x $CACHE/promtool ]]; then
    PROMTOOL=$CACHE/promtool
fi
if [[ -z $PROMTOOL ]]; then
    mkdir -p "$WORK/deb" "$CACHE"
    chmod 0777 "$WORK/deb" # apt-get download drops privileges to _apt where it can
    (cd "$WORK/deb" && { apt-get download prometheus >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 || true; apt-get download prometheus; }; }) ||
        fail "cannot get promtool: not on PATH, and apt-get download prometheus failed"
    dpkg-deb -x "$WORK"/deb/prometheus_*.deb "$WORK/deb/x" || fail "cannot unpack the prometheus package"
    install -m 0755 "$WORK/deb/x/usr/bin/promtool" "$CACHE/promtool" || fail "no promtool in the prometheus package"
    PROMTOOL=$CACHE/promtool
fi
"$PROMTOOL" --version >/dev/null 2>&1 || fail "$PROMTOOL does not run"
ok "promtool: $PROMTOOL ($("$PROMTOOL" --version 2>&1 | head -1))"

export DYNAMIG_STATE_DIR=$WORK/state DYNAMIG_BACKEND=sim
unset DYNAMIG_METRICS_FILE
M=$DYNAMIG_STATE_DIR/metrics/dynamig.prom

"$CTL" sim init a100-40gb >/dev/null
"$CTL" allocate mig1 --gpu-memory 10GB >/dev/null
"$CTL" allocate mig2 --mig-profile 2g.10gb >/dev/null
"$CTL" allocate mig3 --mig-profile 2g.10gb >/dev/null
"$CTL" allocate mig1-int --gpu-memory 20G --priority interactive >/dev/null
set +e
"$CTL" allocate big --mig-profile 7g.40gb >/dev/null 2>&1
rc=$?
set -e
[[ $rc == 1 ]] || fail "a request with no room should exit 1, got $rc"

[[ -f $M ]] || fail "no metrics file at $M"
# promtool parses the text format and lints it (names, units, HELP/TYPE); any problem fails.
out=$("$PROMTOOL" check metrics <"$M" 2>&1) || fail "promtool check metrics: $out"
[[ -z $out ]] || fail "promtool check metrics reported: $out"
ok "promtool check metrics: the file parses and lints clean"

value() { awk -v k="$1" '$1 == k { print $2 }' "$M"; }
expect() {
    local got
    got=$(value "$1")
    [[ $got == "$2" ]] || fail "$1 is ${got:-missing}, expected $2"
}
expect 'dynamig_preemptions_total' 1
expect 'dynamig_holders{state="active"}' 3
expect 'dynamig_holders{state="preempted"}' 1
expect 'dynamig_instances{gpu="0",profile="3g.20gb"}' 1
expect 'dynamig_free_memory_slices{gpu="0"}' 0
expect 'dynamig_refusals_total{reason="no_room"}' 1
expect 'dynamig_decision_seconds_count' 5
expect 'dynamig_decision_seconds_bucket{le="+Inf"}' 5
ok "values after the seed walkthrough: 1 preemption, 3 active holders, 1 refusal, 5 decisions"

# Per-phase times (issue #17): four allocations (the refusal has none), one of them evicting one
# victim; dynamigctl edits no spec.
for pc in lock_wait:4 decision:4 gi_create:4 ci_create:4 eviction_wait:1 destroy:1 spec_edit:0; do
    expect "dynamig_phase_seconds_count{phase=\"${pc%%:*}\"}" "${pc##*:}"
    expect "dynamig_phase_seconds_bucket{phase=\"${pc%%:*}\",le=\"+Inf\"}" "${pc##*:}"
done
ev=$("$CTL" events --json)
n=$(grep -c '"gi_create_us"' <<<"$ev" || true)
[[ $n == 4 ]] || fail "events --json: $n events with a gi_create_us phase, expected 4"
n=$(grep -c '"eviction_wait_us"' <<<"$ev" || true)
[[ $n == 1 ]] || fail "events --json: $n events with an eviction_wait_us phase, expected 1"
ok "phases: in the metrics (dynamig_phase_seconds) and in events --json"

"$CTL" release mig1-int >/dev/null
out=$("$PROMTOOL" check metrics <"$M" 2>&1) || fail "promtool check metrics after release: $out"
expect 'dynamig_holders{state="active"}' 2
expect 'dynamig_instances{gpu="0",profile="3g.20gb"}' 0
expect 'dynamig_phase_seconds_count{phase="destroy"}' 2
ok "a release rewrites the file"
echo "e2e metrics: all checks passed"
