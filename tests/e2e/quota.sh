#!/usr/bin/env bash
# dynamig end-to-end: per-namespace GPU quotas (docs/policy.md) on real containerd with
# io.containerd.dynamig.v2, on a simulated A100-SXM4-40GB. Kubernetes namespaces team-a and
# team-b each have a quota of half the GPU (0.5), over quota allowed:
#   - team-a runs a 20 GB training pod within its quota;
#   - a team-a interactive (not preemptible) pod beyond the quota fails `ctr run` with one line
#     that gives the quota, what is used and what is asked; nothing changes;
#   - two more team-a training pods run beyond the quota, marked over quota in status;
#   - team-b, within its quota and at the same priority (training may not evict training), asks
#     for 20 GB: the two over-quota pods are taken back (stopped, `preempted`), team-a's pod
#     within quota keeps running.
#
# Gated like tests/e2e/policy.sh: DYNAMIG_E2E=1, root, E2E_BIN_DIR with the built binaries; with
# DYNAMIG_E2E=1 anything that cannot run is a failure. Its own containerd namespace, state
# directory and workdir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="quota"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

WORKDIR=$(mktemp -d /tmp/dynamig-e2e-quota.XXXXXX)
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
over_quota = true

[kubernetes."team-a"]
max_priority = "interactive"
may_evict = true
gpu_quota = 0.5
over_quota = true

[kubernetes."team-b"]
max_priority = "interactive"
may_evict = true
gpu_quota = 0.5
over_quota = true
TOML
chmod 0644 "$DYNAMIG_POLICY"

# "id" for each holder with an instance, "id*" when over quota, sorted.
holders() { dctl status --json | jq -r '[.gpus[].instances[] | select(.holder != null) | .holder | "\(.id)\(if .over_quota then "*" else "" end)"] | sort | join(" ")'; }
K8S=io.kubernetes.cri.sandbox-namespace

e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)

pod() { # ID K8S-NAMESPACE ANNOTATION...: a detached pod container
    local id=$1 ns=$2 a=()
    shift 2
    for x in "$@"; do a+=(--annotation "$x"); done
    # shellcheck disable=SC2086 # runtime flags are words
    e2e_ctr run -d $DYN "${a[@]}" --annotation dynamig.io/grace-period=1s --annotation "$K8S=$ns" \
        "$E2E_IMAGE" "$id" sleep 600
}

pod a1 team-a dynamig.io/gpu-memory=20G || fail "ctr run a1"
[[ $(task_status a1) == RUNNING ]] || fail "a1 is not running"
[[ $(holders) == "a1" ]] || fail "a1 should hold within quota: $(holders)"
ok "team-a's 20 GB training pod runs within its quota of 0.5 GPU: $(holders)"

before=$(dctl status --json | jq -c '[.gpus[].instances[] | .uuid]')
rc=0
# shellcheck disable=SC2086 # runtime flags are words
out=$(e2e_ctr run --rm $DYN --annotation dynamig.io/mig-profile=2g.10gb \
    --annotation dynamig.io/priority=interactive --annotation "$K8S=team-a" \
    "$E2E_IMAGE" a-int true 2>&1) || rc=$?
((rc != 0)) || fail "an interactive pod beyond team-a's quota was admitted"
[[ $(wc -l <<<"$out") -eq 1 ]] || fail "the refusal is not one line: $out"
for n in 'Kubernetes namespace "team-a" has a quota of 0.5 GPU' "uses 0.5 GPU" \
    "asks for 0.25 GPU (2g.10gb" "preemptible" "$DYNAMIG_POLICY"; do
    [[ $out == *"$n"* ]] || fail "the refusal lacks [$n]: $out"
done
e2e_ctr container rm a-int >/dev/null 2>&1 || true
[[ $(dctl status --json | jq -c '[.gpus[].instances[] | .uuid]') == "$before" ]] ||
    fail "the refused pod changed the instances"
ok "team-a's interactive pod beyond its quota is refused: $out"

pod a2 team-a dynamig.io/mig-profile=2g.10gb || fail "ctr run a2"
pod a3 team-a dynamig.io/mig-profile=2g.10gb || fail "ctr run a3"
for id in a2 a3; do [[ $(task_status $id) == RUNNING ]] || fail "$id is not running"; done
[[ $(holders) == "a1 a2* a3*" ]] || fail "a2 and a3 should run over quota: $(holders)"
table=$(dctl status)
[[ $(grep -c "over quota" <<<"$table") -eq 2 ]] || fail "the status table should mark two over quota: $table"
ok "two more team-a training pods run beyond the quota, marked over quota: $(holders)"

pod b1 team-b dynamig.io/gpu-memory=20G || fail "ctr run b1 (team-b, within its quota)"
[[ $(task_status b1) == RUNNING ]] || fail "b1 is not running"
# b1's create returns once its victims are gone.
for id in a2 a3; do [[ $(task_status $id) != RUNNING ]] || fail "$id still runs after team-b took its room"; done
[[ $(task_status a1) == RUNNING ]] || fail "a1 (team-a within quota) stopped"
[[ $(holders) == "a1 b1" ]] || fail "team-b should hold beside a1: $(holders)"
for id in a2 a3; do
    [[ $(ended_state $id) == preempted ]] || fail "$id is not preempted: $(ended_state $id)"
done
events=$(dctl events)
[[ $(grep -c "taken back: over quota" <<<"$events") -eq 2 ]] || fail "the events should say twice that over-quota room was taken back: $events"
ok "team-b, within its quota at the same priority, took back the two over-quota pods; a1 runs: $(holders)"

for id in a1 a2 a3 b1; do remove_task "$id"; done
printf '\nE2E QUOTA OK: %d checks passed\n' "$PASS"
