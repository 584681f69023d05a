#!/usr/bin/env bash
# dynamig end-to-end test of warm instances (docs/warm-instances.md) on real containerd 1.6 / runc
# through containerd-shim-dynamig-v2, on the fake libnvidia-ml.so.1 (an A100-SXM4-40GB) loaded
# through the normal NVML path, with DYNAMIG_WARM_MAX=4 in containerd's environment (so in every
# shim's):
#   1. a container asking for 2g.10gb gets a MIG device; removing it keeps the instance warm:
#      `dynamigctl status` shows it `warm`, the fake library's node still holds it
#   2. a second container of the same profile gets the same MIG UUID, GI and CI, with no create
#      in the fake library (its create counter unchanged) and a `warm-hit` in the event log; it
#      sees exactly that instance's capability nodes and NVIDIA_VISIBLE_DEVICES=MIG-<uuid>
#   3. a container of another profile that needs the warm room has it destroyed for it (one
#      destroy, `warm-expired`), and nothing is left behind once everything is removed and
#      `DYNAMIG_WARM_MAX=0 dynamigctl gc` has run
#
# Gated: runs only with DYNAMIG_E2E=1 (root); it builds nothing (E2E_BIN_DIR, as tests/e2e/nvml.sh):
#   cargo build --workspace && sudo DYNAMIG_E2E=1 E2E_BIN_DIR=$PWD/target/debug bash tests/e2e/warm.sh
# With DYNAMIG_E2E=1 anything that cannot run is a failure. E2E_KEEP_WORKDIR=1 keeps the workdir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="warm"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

FAKE_LIB=$E2E_BIN_DIR/libnvidia_ml.so
[[ -f $FAKE_LIB ]] || fail "$FAKE_LIB (the fake NVML library) missing; run: cargo build --workspace (or -p fake-nvml)"

WORKDIR=$(mktemp -d /tmp/dynamig-warm.XXXXXX)
export E2E_WORKDIR_OWNED=1
export E2E_NS=dynamig-warm-$$
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
mkdir -p "$WORKDIR/lib" "$WORKDIR/proc"
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# Exported before containerd starts: containerd, its shims and dynamig-runc inherit it.
ln -s "$FAKE_LIB" "$WORKDIR/lib/libnvidia-ml.so.1"
export LD_LIBRARY_PATH=$WORKDIR/lib
export FAKE_NVML_STATE=$WORKDIR/fake/sim.json
export FAKE_NVML_PROC_ROOT=$WORKDIR/proc
export DYNAMIG_PROC_ROOT=$WORKDIR/proc
export DYNAMIG_STATE_DIR=$WORKDIR/state
export DYNAMIG_BACKEND=nvml
export DYNAMIG_HOOK_ENV=FAKE_NVML_STATE,FAKE_NVML_PROC_ROOT
export DYNAMIG_LOG_FILE=$WORKDIR/dynamig.log
export DYNAMIG_DRIVER_STACK=none
export DYNAMIG_WARM_MAX=4
export DYNAMIG_WARM_TTL=10m

fake_node() { tail -n +2 "$FAKE_NVML_STATE"; } # the fake's node file: header line, then JSON
fake_instances() { fake_node | jq '.gpus[0].instances | length'; }
fake_creates() { fake_node | jq '.counter'; } # bumped by every compute instance the fake creates
# instance of holder ID: "uuid profile gi ci" (empty when none)
inst_of() {
    status_json | jq -r --arg id "$1" \
        '.gpus[].instances[] | select(.holder.id == $id) | "\(.uuid) \(.profile) \(.gi) \(.ci)"'
}
warm_uuids() { status_json | jq -r '.gpus[].instances[] | select(.state == "warm") | .uuid'; }
events_of() { dctl events --json | jq -r --arg k "$1" '.[] | select(.kind == $k) | "\(.holder) \(.uuid)"'; }
cap_minor() { # PATH-UNDER-gpu0/mig
    local f=$FAKE_NVML_PROC_ROOT/driver/nvidia/capabilities/gpu0/mig/$1/access
    [[ -f $f ]] || return 1
    awk '/^DeviceFileMinor:/ {print $2}' "$f"
}
# shellcheck disable=SC2086 # DYN is several flags
run_d() { # ID ANNOTATION
    e2e_ctr run -d --annotation "$2" $DYN "$E2E_IMAGE" "$1" sh -c 'while true; do sleep 1; done'
}
# Container ID sees exactly its instance's capability nodes and its MIG UUID.
check_device() { # ID
    local id=$1 uuid gi ci want got env
    read -r uuid _ gi ci <<<"$(inst_of "$id")"
    [[ -n $uuid ]] || fail "$id holds no instance in dynamigctl status"
    want=$(printf 'nvidia-cap%s\n' "$(cap_minor "gi$gi")" "$(cap_minor "gi$gi/ci$ci")" | sort | tr '\n' ' ')
    got=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$id" ls /dev/nvidia-caps | sort | tr '\n' ' ')
    [[ $got == "$want" ]] || fail "$id sees /dev/nvidia-caps = [$got], the fake driver's proc tree says [$want]"
    env=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$id" sh -c "tr '\\0' '\\n' </proc/1/environ")
    grep -qx "NVIDIA_VISIBLE_DEVICES=$uuid" <<<"$env" || fail "$id: NVIDIA_VISIBLE_DEVICES is not $uuid"
}

step "setup"
e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
DYNAMIG_BACKEND=sim DYNAMIG_STATE_DIR=$WORKDIR/fake dctl sim init a100-40gb >/dev/null ||
    fail "creating the fake library's node"
[[ $(status_json | jq -r .backend) == nvml ]] || fail "dynamigctl does not use the nvml backend"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)
tr '\0' '\n' <"/proc/$E2E_CONTAINERD_PID/environ" | grep -qx 'DYNAMIG_WARM_MAX=4' ||
    fail "containerd's environment lacks DYNAMIG_WARM_MAX=4"
ok "containerd $(containerd --version | awk '{print $3}') with DYNAMIG_WARM_MAX=4, the fake $(status_json | jq -r '.gpus[0].name') through NVML"

step "a removed container's instance is kept warm"
run_d first dynamig.io/mig-profile=2g.10gb || fail "ctr run first"
[[ $(task_status first) == RUNNING ]] || fail "first is not running"
check_device first
read -r U1 _ GI1 CI1 <<<"$(inst_of first)"
ok "first: 2g.10gb $U1 (GI $GI1 CI $CI1)"
remove_task first
[[ -z $(inst_of first) ]] || fail "first still holds an instance after task/container rm"
[[ $(warm_uuids) == "$U1" ]] || fail "status does not show $U1 warm: $(status_json | jq -c '[.gpus[].instances[]]')"
[[ $(fake_instances) -eq 1 ]] || fail "the fake's node does not keep the instance: $(fake_node | jq -c '.gpus[0].instances')"
grep -q "first $U1" <<<"$(events_of warm)" || fail "no warm event for first: $(dctl events --json | tail -n 3)"
ok "removed: $U1 is warm (status, the fake's node, the event log)"

step "a second container of the same profile takes it: same MIG UUID, no create"
creates=$(fake_creates)
run_d second dynamig.io/mig-profile=2g.10gb || fail "ctr run second"
[[ $(task_status second) == RUNNING ]] || fail "second is not running"
read -r U2 _ GI2 CI2 <<<"$(inst_of second)"
[[ $U2 == "$U1" && $GI2 == "$GI1" && $CI2 == "$CI1" ]] ||
    fail "second got $U2 (GI $GI2 CI $CI2), the warm one was $U1 (GI $GI1 CI $CI1)"
[[ $(fake_creates) -eq $creates ]] || fail "the fake library created an instance ($creates -> $(fake_creates))"
[[ $(fake_instances) -eq 1 ]] || fail "the fake's node holds $(fake_instances) instances, want 1"
[[ -z $(warm_uuids) ]] || fail "still shown warm while held: $(warm_uuids)"
grep -q "second $U1" <<<"$(events_of warm-hit)" || fail "no warm-hit event for second"
check_device second
ok "second: $U2 (GI $GI2 CI $CI2), no GI or CI created, warm-hit logged, it sees its caps and UUID"

step "a request whose room is warm destroys it (one destroy, no eviction)"
remove_task second
[[ $(warm_uuids) == "$U1" ]] || fail "second's instance is not warm after its removal"
run_d whole dynamig.io/mig-profile=7g.40gb || fail "ctr run whole"
[[ $(task_status whole) == RUNNING ]] || fail "whole is not running"
read -r U3 P3 _ _ <<<"$(inst_of whole)"
[[ $P3 == 7g.40gb && $U3 != "$U1" ]] || fail "whole got $P3 $U3"
[[ $(fake_instances) -eq 1 ]] || fail "the fake's node holds $(fake_instances) instances, want 1"
grep -q "second $U1" <<<"$(events_of warm-expired)" || fail "no warm-expired event for $U1"
check_device whole
ok "whole: 7g.40gb $U3; the warm $U1 was destroyed for its room"

step "nothing is left behind"
remove_task whole
[[ $(warm_uuids) == "$U3" ]] || fail "whole's instance is not warm after its removal"
gc=$(DYNAMIG_WARM_MAX=0 dctl gc --json) || fail "DYNAMIG_WARM_MAX=0 dynamigctl gc"
[[ $(jq -r '.warm_expired | join(" ")' <<<"$gc") == "$U3" ]] || fail "gc --json does not list $U3 in warm_expired: $gc"
[[ $(n_instances) -eq 0 ]] || fail "instances left: $(status_json | jq -c '[.gpus[].instances[]]')"
[[ $(fake_instances) -eq 0 ]] || fail "the fake's node still holds instances"
left=$(find "$FAKE_NVML_PROC_ROOT/driver/nvidia/capabilities/gpu0/mig" -name access | wc -l)
[[ $left -eq 0 ]] || fail "the fake proc tree still has $left capability files"
if [[ -f $DYNAMIG_LOG_FILE ]] && grep -q '"level":"ERROR"' "$DYNAMIG_LOG_FILE"; then
    fail "the runtime entry points logged errors: $(grep '"level":"ERROR"' "$DYNAMIG_LOG_FILE" | head -n 5)"
fi
ok "DYNAMIG_WARM_MAX=0 gc destroyed the last warm instance: no instance, no capability file, no error logged"

e2e_cleanup
trap - EXIT
printf '\nE2E (warm) OK: %d checks passed\n' "$PASS"
