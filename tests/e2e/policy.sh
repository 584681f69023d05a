#!/usr/bin/env bash
# dynamig end-to-end: the node policy (docs/policy.md) on real containerd 1.6 with
# io.containerd.dynamig.v2, on a simulated A100-SXM4-40GB. Three training containers hold
# 10 GB each; then, with a policy that limits Kubernetes namespace team-a to training:
#   - a team-a pod that claims `interactive` to evict one fails `ctr run` with one line, and
#     nobody is evicted;
#   - a team-c pod (interactive allowed, may not evict) fails too, nobody evicted;
#   - a team-b pod (interactive, may evict) preempts exactly one, as in the seed walkthrough.
#
# Gated like tests/e2e/run.sh: DYNAMIG_E2E=1, root, E2E_BIN_DIR with the built binaries; with
# DYNAMIG_E2E=1 anything that cannot run is a failure. Its own containerd namespace
# (E2E_NS, default dynamig-policy-e2e), state directory and workdir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="policy"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"


WORKDIR=$(mktemp -d /tmp/dynamig-e2e-policy.XXXXXX)
export E2E_WORKDIR_OWNED=1
export DYNAMIG_STATE_DIR=$WORKDIR/state
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
# containerd hands its environment to the shims, and they to dynamig-runc.
export DYNAMIG_POLICY=$WORKDIR/policy.toml
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

cat >"$DYNAMIG_POLICY" <<TOML
[namespace."$E2E_NS"]
max_priority = "interactive"
may_evict = true

[kubernetes."team-a"]
max_priority = "training"
may_evict = false

[kubernetes."team-b"]
max_priority = "interactive"
may_evict = true

[kubernetes."team-c"]
max_priority = "interactive"
may_evict = false
TOML
chmod 0644 "$DYNAMIG_POLICY"

holders() { dctl status --json | jq -r '[.gpus[].instances[] | select(.holder != null) | "\(.holder.id)=\(.uuid)"] | sort | join(" ")'; }
K8S=io.kubernetes.cri.sandbox-namespace

e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)

for spec in p1:dynamig.io/gpu-memory=10GB p2:dynamig.io/mig-profile=2g.10gb p3:dynamig.io/mig-profile=2g.10gb; do
    id=${spec%%:*}
    # shellcheck disable=SC2086 # runtime flags are words
    e2e_ctr run -d $DYN --annotation "${spec#*:}" --annotation "$K8S=team-a" "$E2E_IMAGE" "$id" sleep 600 ||
        fail "ctr run $id"
    [[ $(task_status "$id") == RUNNING ]] || fail "$id is not running"
done
before=$(holders)
[[ $(wc -w <<<"$before") -eq 3 ]] || fail "want three holders, have: $before"
ok "three training pods of team-a hold 10 GB each: $before"

refused() { # ID K8S-NAMESPACE NEEDLE...
    local id=$1 ns=$2 out rc=0
    shift 2
    # shellcheck disable=SC2086 # runtime flags are words
    out=$(e2e_ctr run --rm $DYN --annotation dynamig.io/gpu-memory=20G \
        --annotation dynamig.io/priority=interactive --annotation "$K8S=$ns" \
        "$E2E_IMAGE" "$id" true 2>&1) || rc=$?
    ((rc != 0)) || fail "$id ($ns) claiming interactive was admitted"
    [[ $(wc -l <<<"$out") -eq 1 ]] || fail "$id: error is not one line: $out"
    local n
    for n in "$@"; do [[ $out == *"$n"* ]] || fail "$id: error lacks [$n]: $out"; done
    e2e_ctr container rm "$id" >/dev/null 2>&1 || true
    [[ $(holders) == "$before" ]] || fail "$id changed the holders: $before -> $(holders)"
    for p in p1 p2 p3; do [[ $(task_status $p) == RUNNING ]] || fail "$p stopped after $id"; done
    ok "$id ($ns): $out; nobody evicted"
}
refused intruder team-a "Kubernetes namespace \"team-a\" may claim priority at most training" "$DYNAMIG_POLICY"
refused no-evict team-c "may not evict" "Kubernetes namespace \"team-c\""

# shellcheck disable=SC2086 # runtime flags are words
e2e_ctr run -d $DYN --annotation dynamig.io/gpu-memory=20G --annotation dynamig.io/priority=interactive \
    --annotation "$K8S=team-b" "$E2E_IMAGE" allowed sleep 600 || fail "ctr run allowed (team-b)"
[[ $(task_status allowed) == RUNNING ]] || fail "allowed is not running"
after=$(holders)
kept=0
for h in $before; do [[ " $after " == *" $h "* ]] && kept=$((kept + 1)); done
[[ $kept -eq 2 && $after == *allowed=* ]] || fail "team-b should preempt exactly one: $before -> $after"
ok "team-b (interactive, may evict) preempted exactly one: $after"

for id in p1 p2 p3 allowed; do
    e2e_ctr task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    e2e_ctr task rm -f "$id" >/dev/null 2>&1 || true
    e2e_ctr container rm "$id" >/dev/null 2>&1 || true
done
printf '\nE2E POLICY OK: %d checks passed\n' "$PASS"
