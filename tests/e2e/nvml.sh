#!/usr/bin/env bash
# dynamig end-to-end test on the `nvml` backend: real containerd 1.6 / runc (Debian packages) with
# the fake libnvidia-ml.so.1 (tests/fake-nvml, an A100-SXM4-40GB) loaded through the normal NVML
# loading path (LD_LIBRARY_PATH in containerd's environment, inherited by the shim, runc =
# dynamig-runc, and handed to the hooks through the spec's hook env).
#   1. the environment reaches containerd, the shim, dynamig-runc and the hooks
#   2. the seed walkthrough with `ctr run --runtime io.containerd.dynamig.v2 --annotation ...`:
#      10GB, 2g.10gb, 2g.10gb, then an interactive 20G request preempts exactly one
#   3. inside each container: exactly its instance's capability nodes in /dev/nvidia-caps, with
#      the major and minors of the fake driver's proc tree, and NVIDIA_VISIBLE_DEVICES=MIG-<uuid>
#      as the fake library reports it
#   4. `dynamigctl status` (nvml backend) shows the 3g.20gb
#   5. removal releases everything: the fake's node shows no instance, its proc tree no caps
#   6. one NVML session per shim: a shim serving a group of containers (a pod) initialises NVML
#      once for all their creates and deletes; dynamigctl, one-shot, once per command
#
# Gated: runs only with DYNAMIG_E2E=1 (root). It builds nothing: E2E_BIN_DIR must hold
# dynamigctl, dynamig-runc, dynamig-hook, containerd-shim-dynamig-v2 and the fake library
# libnvidia_ml.so (`cargo build --workspace` builds it), e.g.
#   cargo build --workspace && sudo DYNAMIG_E2E=1 E2E_BIN_DIR=$PWD/target/debug bash tests/e2e/nvml.sh
# With DYNAMIG_E2E=1 anything that cannot run is a failure. E2E_KEEP_WORKDIR=1 keeps the workdir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="nvml"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

FAKE_LIB=$E2E_BIN_DIR/libnvidia_ml.so
[[ -f $FAKE_LIB ]] || fail "$FAKE_LIB (the fake NVML library) missing; run: cargo build --workspace (or -p fake-nvml)"

WORKDIR=$(mktemp -d /tmp/dynamig-nvml.XXXXXX)
export E2E_WORKDIR_OWNED=1
# A namespace of our own: runc.v2 keeps its state under /run/containerd/runc/<namespace>, which
# every containerd on this machine shares.
export E2E_NS=dynamig-nvml-$$
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
MARKS=$WORKDIR/marks
mkdir -p "$MARKS" "$WORKDIR/lib" "$WORKDIR/proc"
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# The node: the fake library's simulated A100 and its proc tree. Everything below is exported
# before containerd starts, so containerd, its shims and runc (dynamig-runc) inherit it.
ln -s "$FAKE_LIB" "$WORKDIR/lib/libnvidia-ml.so.1"
export LD_LIBRARY_PATH=$WORKDIR/lib
export FAKE_NVML_STATE=$WORKDIR/fake/sim.json
export FAKE_NVML_PROC_ROOT=$WORKDIR/proc
export DYNAMIG_PROC_ROOT=$WORKDIR/proc
export DYNAMIG_STATE_DIR=$WORKDIR/state
export DYNAMIG_BACKEND=nvml
# The fake's own variables, handed to the hooks by dynamig-runc (LD_LIBRARY_PATH and
# DYNAMIG_PROC_ROOT always are).
export DYNAMIG_HOOK_ENV=FAKE_NVML_STATE,FAKE_NVML_PROC_ROOT
export DYNAMIG_LOG_FILE=$WORKDIR/dynamig.log
# No NVIDIA toolkit here (no CDI spec, no legacy hook): the documented opt-out, device nodes
# only (tests/e2e/cdi.sh covers the driver stack).
export DYNAMIG_DRIVER_STACK=none
# The fake's emulated driver time (1 ms per nvmlInit) and its log: how many times each process
# initialised NVML (the shim's one session, step 6).
export FAKE_NVML_LATENCY_MS=init=1 FAKE_NVML_LATENCY_LOG=$WORKDIR/latency.log
ENV_VARS=(LD_LIBRARY_PATH FAKE_NVML_STATE FAKE_NVML_PROC_ROOT DYNAMIG_PROC_ROOT DYNAMIG_BACKEND DYNAMIG_STATE_DIR)

fake_node() { tail -n +2 "$FAKE_NVML_STATE"; } # the fake's node file: header line, then JSON
# instance of holder ID: "uuid profile start size gi ci" (empty when none)
inst_of() {
    status_json | jq -r --arg id "$1" \
        '.gpus[].instances[] | select(.holder.id == $id) | "\(.uuid) \(.profile) \(.placement.start) \(.placement.size) \(.gi) \(.ci)"'
}
# The DeviceFileMinor of a capability file of the fake driver's proc tree.
cap_minor() { # PATH-UNDER-gpu0/mig
    local f=$FAKE_NVML_PROC_ROOT/driver/nvidia/capabilities/gpu0/mig/$1/access
    [[ -f $f ]] || return 1
    awk '/^DeviceFileMinor:/ {print $2}' "$f"
}
# PID of the shim process of container ID (containerd-shim-dynamig-v2).
shim_pid() {
    local d cmd
    for d in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
        if [[ $cmd == *containerd-shim* && $cmd == *"$E2E_CONTAINERD_SOCK"* && $cmd == *"-id $1 "* ]]; then
            printf '%s\n' "${d#/proc/}"
            return 0
        fi
    done
    return 1
}
# Whether env lines (VAR=value, one a line, on stdin) give VAR this shell's value, or, for a
# search path, hold it as one element (containerd's opt plugin puts <root>/opt/lib in front of
# the shims' LD_LIBRARY_PATH).
env_has() { # VAR
    local line val
    line=$(grep -m1 "^$1=") || return 1
    val=${line#*=}
    [[ $val == "${!1}" || :$val: == *":${!1}:"* ]]
}
has_env() { # PID VAR: /proc/PID/environ gives VAR this shell's value
    tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | env_has "$2"
}

# shellcheck disable=SC2016 # $ID expands inside the container
LOOP='trap "echo term > /marks/$ID; exit 0" TERM; while true; do sleep 1; done'
ctr_run_d() { # ID CTR-RUN-FLAGS...
    local id=$1
    shift
    # shellcheck disable=SC2068
    e2e_ctr run -d --env "ID=$id" \
        --mount "type=bind,src=$MARKS,dst=/marks,options=rbind:rw" \
        $@ "$E2E_IMAGE" "$id" sh -c "$LOOP"
}

# Container ID sees exactly its instance's capability nodes, with the fake driver's major and
# minors, and NVIDIA_VISIBLE_DEVICES=MIG-<uuid> as the fake library reports it.
check_device() { # ID
    local id=$1 inst uuid gi ci gmin cmin want got fake_uuid env majors
    inst=$(inst_of "$id")
    [[ -n $inst ]] || fail "$id holds no instance in dynamigctl status"
    read -r uuid _ _ _ gi ci <<<"$inst"
    fake_uuid=$(fake_node | jq -r --argjson gi "$gi" '.gpus[0].instances[] | select(.gi == $gi) | .uuid')
    [[ $fake_uuid == MIG-* && $fake_uuid == "$uuid" ]] ||
        fail "$id: status says $uuid, the fake library's node has [$fake_uuid] for GI $gi"
    gmin=$(cap_minor "gi$gi") || fail "$id: the fake proc tree has no gi$gi access file"
    cmin=$(cap_minor "gi$gi/ci$ci") || fail "$id: the fake proc tree has no gi$gi/ci$ci access file"
    want=$(printf 'nvidia-cap%s\n' "$gmin" "$cmin" | sort | tr '\n' ' ')
    got=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$id" ls /dev/nvidia-caps | sort | tr '\n' ' ')
    [[ $got == "$want" ]] || fail "$id sees /dev/nvidia-caps = [$got], the fake driver's proc tree says [$want]"
    # Character devices with the nvidia-caps major of the fake's /proc/devices (237 = 0xed).
    majors=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$id" sh -c \
        "for f in /dev/nvidia-caps/*; do [ -c \$f ] && stat -c '%t:%T' \$f; done" | sort | tr '\n' ' ')
    want=$(printf 'ed:%x\n' "$gmin" "$cmin" | sort | tr '\n' ' ')
    [[ $majors == "$want" ]] || fail "$id: caps are [$majors] (hex major:minor), want [$want]"
    env=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$id" sh -c "tr '\\0' '\\n' </proc/1/environ")
    grep -qx "NVIDIA_VISIBLE_DEVICES=$uuid" <<<"$env" ||
        fail "$id: NVIDIA_VISIBLE_DEVICES is not $uuid (env: $(grep VISIBLE <<<"$env" | tr '\n' ' '))"
    [[ $(grep -c '^NVIDIA_VISIBLE_DEVICES=' <<<"$env") -eq 1 ]] || fail "$id has more than one NVIDIA_VISIBLE_DEVICES"
    ok "$id: ${inst% * *} (GI $gi CI $ci); sees [$got] (major:minor $majors) and NVIDIA_VISIBLE_DEVICES=$uuid"
}


step "setup"
e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
DYNAMIG_BACKEND=sim DYNAMIG_STATE_DIR=$WORKDIR/fake dctl sim init a100-40gb >/dev/null ||
    fail "creating the fake library's node (dynamigctl sim init a100-40gb in $WORKDIR/fake)"
[[ $(status_json | jq -r .backend) == nvml ]] || fail "dynamigctl does not use the nvml backend: $(status_json | jq -c .)"
[[ $(status_json | jq -r '.gpus[0].name') == "NVIDIA A100-SXM4-40GB" ]] || fail "the fake GPU is not visible"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)
ok "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'); dynamigctl sees the fake $(status_json | jq -r '.gpus[0].name') through NVML"
for v in "${ENV_VARS[@]}"; do
    has_env "$E2E_CONTAINERD_PID" "$v" || fail "containerd (pid $E2E_CONTAINERD_PID) lacks $v=${!v}"
done
ok "containerd's environment carries ${ENV_VARS[*]}"

step "seed walkthrough on the fake NVML (io.containerd.dynamig.v2)"
ctr_run_d mig1 "$DYN" --annotation dynamig.io/gpu-memory=10GB || fail "ctr run mig1"
ctr_run_d mig2 "$DYN" --annotation dynamig.io/mig-profile=2g.10gb || fail "ctr run mig2"
ctr_run_d mig3 "$DYN" --annotation dynamig.io/mig-profile=2g.10gb || fail "ctr run mig3"

# The environment reached the shim, dynamig-runc (it allocated on the fake library: the fake's
# node holds the instances) and the hooks (their env in the spec). The container's pid is recorded
# under the lock in the state file alone (scheduler/node/src/record.rs), without NVML.
shim=$(shim_pid mig1) || fail "cannot find mig1's shim"
for v in "${ENV_VARS[@]}" DYNAMIG_HOOK_ENV; do
    has_env "$shim" "$v" || fail "mig1's shim (pid $shim: $(tr '\0' ' ' <"/proc/$shim/cmdline")) lacks $v=${!v}; its environment: $(tr '\0' '\n' <"/proc/$shim/environ" | grep -E '^(LD_|FAKE|DYNAMIG)' | tr '\n' ' ')"
done
ok "the shim (pid $shim) inherited ${ENV_VARS[*]} DYNAMIG_HOOK_ENV"
[[ $(fake_node | jq '.gpus[0].instances | length') -eq 3 ]] ||
    fail "the fake library's node does not hold 3 instances: $(fake_node | jq -c '.gpus[0].instances')"
ok "dynamig-runc allocated on the fake library: its node holds 3 instances"
# The shim allocates in process and records the container's pid itself: no dynamig-hook in the
# spec (the hooks are the runc wrapper's, for Docker/podman/CRI-O; docs/container-path.md).
[[ $(jq '[.hooks // {} | .[][]? | select(.path | endswith("dynamig-hook"))] | length' "$(bundle_of mig1)/config.json") -eq 0 ]] ||
    fail "mig1's spec has a dynamig-hook hook; the shim records the pid itself"
[[ -n $(jq -r '.annotations["dynamig.io/injected"] // empty' "$(bundle_of mig1)/config.json") ]] ||
    fail "mig1's spec has no dynamig.io/injected annotation"
ok "the shim edited mig1's spec in process (dynamig.io/injected, no hooks)"
for id in mig1 mig2 mig3; do
    [[ $(task_status "$id") == RUNNING ]] || fail "$id is not running"
    pid=$(status_json | jq -r --arg id "$id" '.gpus[].instances[] | select(.holder.id == $id) | .holder.pid')
    tpid=$(e2e_ctr task ls | awk -v id="$id" '$1 == id {print $2}')
    [[ $pid == "$tpid" ]] || fail "$id: the shim recorded pid [$pid], the task's pid is $tpid"
    check_device "$id"
done
ok "each container's pid was recorded on its holder (the nvml backend's state)"
declare -A BEFORE
for id in mig1 mig2 mig3; do BEFORE[$id]=$(inst_of "$id"); done
[[ $(printf '%s\n' "${BEFORE[@]}" | awk '{print $1}' | sort -u | wc -l) -eq 3 ]] || fail "the three devices are not distinct"
[[ $(printf '%s\n' "${BEFORE[@]}" | awk '$4 == 2' | wc -l) -eq 3 ]] || fail "not three 2-slice (10 GB) devices: ${BEFORE[*]}"
ok "three distinct 10 GB devices"

ctr_run_d mig1-int "$DYN" --annotation dynamig.io/gpu-memory=20G --annotation dynamig.io/priority=interactive ||
    fail "ctr run mig1-int"
[[ $(task_status mig1-int) == RUNNING ]] || fail "mig1-int is not running"
[[ $(inst_of mig1-int | awk '{print $2}') == 3g.20gb ]] || fail "mig1-int got $(inst_of mig1-int), want 3g.20gb"
check_device mig1-int
expect_one_victim
victim=$VICTIM
ok "exactly one victim ($victim): SIGTERM, exited, shows as preempted"
for id in mig1 mig2 mig3; do
    [[ $id == "$victim" ]] && continue
    [[ $(task_status "$id") == RUNNING ]] || fail "$id stopped, but only $victim was to be preempted"
    [[ $(inst_of "$id") == "${BEFORE[$id]}" ]] || fail "$id changed: ${BEFORE[$id]} -> $(inst_of "$id")"
    check_device "$id"
done
ok "the other two keep their placement and MIG device"
[[ $(fake_node | jq '.gpus[0].instances | length') -eq 3 ]] || fail "the fake's node does not hold 3 instances after the preemption"
table=$(dctl status) || fail "dynamigctl status"
printf '%s\n' "$table"
grep -q '3g\.20gb' <<<"$table" || fail "dynamigctl status (nvml) does not show the 3g.20gb"
[[ $(status_json | jq -r .backend) == nvml ]] || fail "status is not from the nvml backend"
ok "dynamigctl status (nvml backend) shows the 3g.20gb"

step "removal releases everything"
for id in mig1 mig2 mig3 mig1-int; do
    remove_task "$id"
    [[ -z $(inst_of "$id") ]] || fail "$id still holds an instance after task/container rm"
done
[[ $(n_instances) -eq 0 ]] || fail "instances left: $(status_json | jq -c '[.gpus[].instances[]]')"
[[ $(fake_node | jq '.gpus[0].instances | length') -eq 0 ]] ||
    fail "the fake library's node still holds instances: $(fake_node | jq -c '.gpus[0].instances')"
left=$(find "$FAKE_NVML_PROC_ROOT/driver/nvidia/capabilities/gpu0/mig" -name access | wc -l)
[[ $left -eq 0 ]] || fail "the fake proc tree still has $left capability files"
ok "all released: the fake's node has no instance, its proc tree no capability file"
if [[ -f $DYNAMIG_LOG_FILE ]] && grep -q '"level":"ERROR"' "$DYNAMIG_LOG_FILE"; then
    fail "dynamig-runc / dynamig-hook logged errors: $(grep '"level":"ERROR"' "$DYNAMIG_LOG_FILE" | head -n 5)"
fi
ok "no error in the runtime entry points' log"

step "one NVML session per shim"
GROUP=io.containerd.runc.v2.group=nvml-session
# shellcheck disable=SC2086 # $DYN is a list of flags
e2e_ctr run -d $DYN --annotation "$GROUP" "$E2E_IMAGE" pod sleep 600 >/dev/null || fail "ctr run pod"
for id in s1 s2 s3; do
    # shellcheck disable=SC2086
    e2e_ctr run --rm $DYN --annotation "$GROUP" --annotation dynamig.io/mig-profile=1g.5gb \
        "$E2E_IMAGE" "$id" true || fail "ctr run --rm $id"
done
spid=$(shim_pid pod) || fail "cannot find the group's shim"
logged() { awk -v k="$1" -v p="$2" '$1 == k && $4 == p' "$FAKE_NVML_LATENCY_LOG" | wc -l; } # KIND PID
[[ $(logged fake_work "$spid") -gt 0 ]] ||
    fail "the group's shim (pid $spid) made no NVML calls: the containers did not share it"
[[ $(grep -c '"message":"injected".*"pid":'"$spid"'[,}]' "$DYNAMIG_LOG_FILE") -eq 3 ]] ||
    fail "the group's shim (pid $spid) did not create s1, s2 and s3"
inits=$(logged init "$spid")
[[ $inits -eq 1 ]] || fail "the group's shim initialised NVML $inits times for 3 creates and 3 deletes, expected once"
before=$(grep -c '^init ' "$FAKE_NVML_LATENCY_LOG")
dctl allocate one-shot --mig-profile 1g.5gb >/dev/null || fail "dynamigctl allocate one-shot"
dctl release one-shot >/dev/null || fail "dynamigctl release one-shot"
after=$(grep -c '^init ' "$FAKE_NVML_LATENCY_LOG")
[[ $((after - before)) -eq 2 ]] || fail "dynamigctl allocate + release initialised NVML $((after - before)) times, expected 2"
remove_task pod
[[ $(n_instances) -eq 0 ]] || fail "instances left: $(status_json | jq -c '[.gpus[].instances[]]')"
ok "the group's shim (pid $spid) initialised NVML once for 3 creates and 3 deletes; dynamigctl once per command"

e2e_cleanup
trap - EXIT
printf '\nE2E (nvml) OK: %d checks passed\n' "$PASS"
