#!/usr/bin/env bash
# dynamig end-to-end test: real containerd 1.6 / runc / Docker 20.10 (Debian packages), a
# simulated A100-SXM4-40GB, and dynamig's container path:
#   a. the seed walkthrough through io.containerd.dynamig.v2 (10GB, 2g.10gb, 2g.10gb, then an
#      interactive 20G request preempts exactly one of them)
#   b. Docker (--runtime dynamig, request by env) and containerd with runc BinaryName=dynamig-runc
#   c. release on task/container removal and docker rm -f
#   d. a malformed annotation fails `ctr run` with one clear line, nothing allocated; a container
#      without a request runs with config.json exactly as containerd wrote it
#   e. SIGKILL of a dynamig container's shim + containerd restart: nothing lost, released once
#
# Gated: runs only with DYNAMIG_E2E=1 (root). It builds nothing: E2E_BIN_DIR must hold
# dynamigctl, dynamig-runc, dynamig-hook and containerd-shim-dynamig-v2, e.g.
#   cargo build --workspace && sudo DYNAMIG_E2E=1 E2E_BIN_DIR=$PWD/target/debug bash tests/e2e/run.sh
# With DYNAMIG_E2E=1 anything that cannot run is a failure. E2E_KEEP_WORKDIR=1 keeps the workdir.
#
# How the state directory reaches every entry point: this script exports DYNAMIG_STATE_DIR before
# starting containerd/dockerd; containerd passes its environment to the shims it starts, the runc
# v2 shim passes its environment to runc (here: dynamig-runc), and dynamig-runc writes it into the
# hooks' `env` (runc runs OCI hooks with that env only). dockerd's managed containerd inherits it
# from dockerd the same way.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="main"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

WORKDIR=$(mktemp -d /tmp/dynamig-e2e.XXXXXX)
export E2E_WORKDIR_OWNED=1
export DYNAMIG_STATE_DIR=$WORKDIR/state
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
MARKS=$WORKDIR/marks
mkdir -p "$MARKS"
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# instance of holder ID: "uuid profile start size" (empty when none)
inst_of() {
    status_json | jq -r --arg id "$1" \
        '.gpus[].instances[] | select(.holder.id == $id) | "\(.uuid) \(.profile) \(.placement.start) \(.placement.size)"'
}

# A long-running container that exits 0 on SIGTERM and leaves a marker.
# shellcheck disable=SC2016 # $ID expands inside the container
LOOP='trap "echo term > /marks/$ID; exit 0" TERM; while true; do sleep 1; done'
ctr_run_d() { # ID RUNTIME-FLAGS... -- CTR-RUN-FLAGS...
    local id=$1
    shift
    # shellcheck disable=SC2068
    e2e_ctr run -d --env "ID=$id" \
        --mount "type=bind,src=$MARKS,dst=/marks,options=rbind:rw" \
        $@ "$E2E_IMAGE" "$id" sh -c "$LOOP"
}

# Checks that container ID sees exactly its MIG device: the two caps of its instance, and
# NVIDIA_VISIBLE_DEVICES=MIG-<uuid> as status --json reports it.
check_device() { # ID
    local id=$1 inst uuid caps env want_caps
    inst=$(inst_of "$id")
    [[ -n $inst ]] || fail "$id holds no instance in dynamigctl status"
    uuid=${inst%% *}
    caps=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$id" ls /dev/nvidia-caps | sort | tr '\n' ' ')
    want_caps=$(jq -r '.annotations["dynamig.io/injected"] | fromjson | .devices[] | select(startswith("/dev/nvidia-caps/")) | ltrimstr("/dev/nvidia-caps/")' \
        "$(bundle_of "$id")/config.json" | sort | tr '\n' ' ')
    [[ $(wc -w <<<"$caps") -eq 2 ]] || fail "$id sees /dev/nvidia-caps = [$caps], want 2 nodes"
    [[ $caps == "$want_caps" ]] || fail "$id sees caps [$caps], its allocation has [$want_caps]"
    env=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$id" sh -c "tr '\\0' '\\n' </proc/1/environ")
    grep -qx "NVIDIA_VISIBLE_DEVICES=$uuid" <<<"$env" || fail "$id: NVIDIA_VISIBLE_DEVICES is not $uuid (env: $(grep VISIBLE <<<"$env" | tr '\n' ' '))"
    grep -qx "CUDA_VISIBLE_DEVICES=$uuid" <<<"$env" || fail "$id: CUDA_VISIBLE_DEVICES is not $uuid"
    [[ $(grep -c '^NVIDIA_VISIBLE_DEVICES=' <<<"$env") -eq 1 ]] || fail "$id has more than one NVIDIA_VISIBLE_DEVICES"
    ok "$id: $inst; sees caps [$caps] and NVIDIA_VISIBLE_DEVICES=$uuid"
}


step "setup"
e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init a100-40gb"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)
WRAP=$(e2e_runtime_flags dynamig-runc)
ok "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), state dir $DYNAMIG_STATE_DIR"

# ------------------------------------------------------------------ a. seed walkthrough
step "a. seed walkthrough (io.containerd.dynamig.v2)"
ctr_run_d mig1 "$DYN" --annotation dynamig.io/gpu-memory=10GB || fail "ctr run mig1"
ctr_run_d mig2 "$DYN" --annotation dynamig.io/mig-profile=2g.10gb || fail "ctr run mig2"
ctr_run_d mig3 "$DYN" --annotation dynamig.io/mig-profile=2g.10gb || fail "ctr run mig3"
for id in mig1 mig2 mig3; do
    [[ $(task_status "$id") == RUNNING ]] || fail "$id is not running"
    check_device "$id"
done
declare -A BEFORE
for id in mig1 mig2 mig3; do BEFORE[$id]=$(inst_of "$id"); done
[[ $(printf '%s\n' "${BEFORE[@]}" | awk '{print $1}' | sort -u | wc -l) -eq 3 ]] || fail "the three devices are not distinct"
ok "three distinct 10 GB devices"

ctr_run_d mig1-int "$DYN" --annotation dynamig.io/gpu-memory=20G --annotation dynamig.io/priority=interactive ||
    fail "ctr run mig1-int"
[[ $(task_status mig1-int) == RUNNING ]] || fail "mig1-int is not running"
check_device mig1-int
[[ $(inst_of mig1-int | awk '{print $2}') == 3g.20gb ]] || fail "mig1-int got $(inst_of mig1-int), want 3g.20gb"
expect_one_victim
victim=$VICTIM
ok "victim $victim got SIGTERM, exited 0, shows as preempted"
for id in mig1 mig2 mig3; do
    [[ $id == "$victim" ]] && continue
    [[ $(task_status "$id") == RUNNING ]] || fail "$id stopped, but only $victim was to be preempted"
    [[ $(inst_of "$id") == "${BEFORE[$id]}" ]] || fail "$id changed: ${BEFORE[$id]} -> $(inst_of "$id")"
    [[ ! -e $MARKS/$id ]] || fail "$id got SIGTERM"
    ok "$id untouched (${BEFORE[$id]})"
done
dctl status

# ------------------------------------------------------------------ c. release (containerd)
step "c. release on removal (containerd)"
for id in mig1 mig2 mig3 mig1-int; do
    remove_task "$id"
    [[ -z $(inst_of "$id") ]] || fail "$id still holds an instance after task/container rm"
    [[ -z $(ended_state "$id") ]] || fail "$id still listed after removal"
done
[[ $(n_instances) -eq 0 ]] || fail "instances left: $(status_json | jq -c '[.gpus[].instances[]]')"
ok "all four released; no instance left"

# ------------------------------------------------------------------ d. bad request / no request
step "d. malformed annotation; container without a request"
rc=0
# shellcheck disable=SC2086 # runtime flags are words
out=$(e2e_ctr run --rm $DYN --annotation dynamig.io/gpu-memory=10XB "$E2E_IMAGE" bad1 true 2>&1) || rc=$?
((rc != 0)) || fail "ctr run with dynamig.io/gpu-memory=10XB succeeded"
[[ $(wc -l <<<"$out") -eq 1 ]] || fail "error is not one line: $out"
[[ $out == *dynamig.io/gpu-memory* && $out == *10XB* && $out == *accepted* ]] || fail "error lacks key/value/accepted: $out"
ok "ctr run fails with: $out"
[[ $(n_instances) -eq 0 ]] || fail "a failed request allocated something"
e2e_ctr container rm bad1 >/dev/null 2>&1 || true
rc=0
# shellcheck disable=SC2086 # runtime flags are words
out=$(e2e_ctr run --rm $WRAP --annotation dynamig.io/mig-profile=9g.99gb "$E2E_IMAGE" bad2 true 2>&1) || rc=$?
((rc != 0)) || fail "ctr run with an unknown profile succeeded"
[[ $out == *9g.99gb* ]] || fail "error lacks the profile: $out"
ok "unknown profile (runc BinaryName path): $out"
e2e_ctr container rm bad2 >/dev/null 2>&1 || true
[[ $(n_instances) -eq 0 ]] || fail "a failed request allocated something"

# byte-identical config.json: the bundle's config.json must equal containerd's own spec for the
# container, serialized compactly the way Go's encoding/json does (what containerd writes: no
# newline, <, > and & escaped). Checked for plain runc first (the method), then through the
# dynamig shim and the wrapper.
spec_matches_bundle() { # ID
    local a b
    a=$(e2e_ctr containers info --spec "$1" | jq -cj . |
        sed 's/</\\u003c/g; s/>/\\u003e/g; s/&/\\u0026/g' | sha256sum | cut -d' ' -f1)
    b=$(sha256sum <"$(bundle_of "$1")/config.json" | cut -d' ' -f1)
    [[ $a == "$b" ]]
}
ctr_run_d plain-runc --runtime io.containerd.runc.v2 || fail "ctr run plain-runc"
spec_matches_bundle plain-runc || fail "method check: plain runc bundle config.json != compact containerd spec"
ctr_run_d plain-dyn "$DYN" || fail "ctr run plain-dyn (no request, dynamig shim)"
[[ $(task_status plain-dyn) == RUNNING ]] || fail "plain-dyn is not running"
spec_matches_bundle plain-dyn || fail "dynamig rewrote config.json of a container without a request"
ctr_run_d plain-wrap "$WRAP" || fail "ctr run plain-wrap (no request, runc wrapper)"
spec_matches_bundle plain-wrap || fail "dynamig-runc rewrote config.json of a container without a request"
[[ $(n_instances) -eq 0 ]] || fail "a container without a request got an instance"
ctr_run_d req-dyn "$DYN" --annotation dynamig.io/gpu-memory=5GB || fail "ctr run req-dyn"
! spec_matches_bundle req-dyn || fail "method check: an injected config.json should differ from containerd's spec"
ok "no request: bundle config.json byte-identical to containerd's spec (shim and wrapper); injected one differs"
for id in plain-runc plain-dyn plain-wrap req-dyn; do remove_task "$id"; done
[[ $(n_instances) -eq 0 ]] || fail "instances left after d"

# ------------------------------------------------------------------ b. docker + BinaryName
step "b. containerd runc.v2 with BinaryName=dynamig-runc"
ctr_run_d wrap1 "$WRAP" --annotation dynamig.io/gpu-memory=10GB || fail "ctr run wrap1 via --runc-binary dynamig-runc"
check_device wrap1
remove_task wrap1
[[ -z $(inst_of wrap1) ]] || fail "wrap1 not released"
ok "wrap1 released on removal"

step "b. Docker --runtime dynamig"
e2e_dockerd_start || fail "dockerd start"
e2e_docker_image_import || fail "docker image import"
did=$(e2e_docker run -d --runtime dynamig -e DYNAMIG_GPU_MEMORY=10GB --network none "$E2E_DOCKER_IMAGE" \
    sh -c 'trap "exit 0" TERM; while true; do sleep 1; done') || fail "docker run --runtime dynamig"
dinst=$(inst_of "$did")
[[ -n $dinst ]] || fail "docker container $did holds no instance: $(status_json | jq -c '[.gpus[].instances[].holder.id]')"
duuid=${dinst%% *}
denv=$(e2e_docker exec "$did" sh -c "tr '\\0' '\\n' </proc/1/environ")
grep -qx "NVIDIA_VISIBLE_DEVICES=$duuid" <<<"$denv" || fail "docker container lacks NVIDIA_VISIBLE_DEVICES=$duuid"
[[ $(e2e_docker exec "$did" ls /dev/nvidia-caps | wc -l) -eq 2 ]] || fail "docker container does not see 2 caps"
ok "docker ${did:0:12}: $dinst, NVIDIA_VISIBLE_DEVICES=$duuid"
rc=0
out=$(e2e_docker run --rm --runtime dynamig -e DYNAMIG_GPU_MEMORY=10XB --network none "$E2E_DOCKER_IMAGE" true 2>&1) || rc=$?
((rc != 0)) || fail "docker run with DYNAMIG_GPU_MEMORY=10XB succeeded"
[[ $out == *DYNAMIG_GPU_MEMORY* && $out == *10XB* ]] || fail "docker error lacks key/value: $out"
ok "docker run fails with: $(head -c 300 <<<"$out")"
e2e_docker rm -f "$did" >/dev/null || fail "docker rm -f"
[[ -z $(inst_of "$did") ]] || fail "docker container not released after docker rm -f"
[[ $(n_instances) -eq 0 ]] || fail "instances left after docker"
ok "docker rm -f released it"
e2e_dockerd_stop

# ------------------------------------------------------------------ e. shim crash
step "e. SIGKILL the shim, restart containerd"
ctr_run_d crash1 "$DYN" --annotation dynamig.io/mig-profile=1g.5gb || fail "ctr run crash1"
cinst=$(inst_of crash1)
[[ -n $cinst ]] || fail "crash1 holds nothing"
cpid=$(status_json | jq -r '.gpus[].instances[] | select(.holder.id == "crash1") | .holder.pid')
[[ -n $cpid && $cpid != null ]] || fail "crash1 has no recorded pid"
shim=
for d in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    [[ $cmd == *containerd-shim* && $cmd == *"$E2E_CONTAINERD_SOCK"* && $cmd == *"-id crash1 "* ]] && shim=${d#/proc/}
done
[[ -n $shim ]] || fail "cannot find crash1's shim"
alive() { [[ -d /proc/$1 && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
# containerd 1.6 reacts to a shim's death at once (it runs `shim delete`, which kills the
# container), so stop containerd first (its shims survive), then kill the shim: the container's
# process runs on with nobody managing it.
_e2e_stop_pid "$E2E_CONTAINERD_PID" 15
E2E_CONTAINERD_PID=
kill -KILL "$shim"
sleep 1
alive "$cpid" || fail "crash1's process $cpid died with its shim"
dctl gc >/dev/null || fail "dynamigctl gc"
[[ $(inst_of crash1) == "$cinst" ]] || fail "crash1's process runs, but gc changed its holder: $(inst_of crash1)"
ok "containerd stopped, shim $shim SIGKILLed: container process $cpid runs on, holder kept through gc"
e2e_containerd_start >/dev/null 2>&1 || fail "containerd restart"
if wait_for 15 bash -c "! [[ -d /proc/$cpid && \$(awk '{print \$3}' /proc/$cpid/stat 2>/dev/null) != Z ]]"; then
    ok "containerd restart: it cleaned up the dead shim's task (containerd-shim-dynamig-v2 delete: runc delete --force, release)"
else
    [[ $(inst_of crash1) == "$cinst" ]] || fail "crash1's process runs, but its holder changed after the restart"
    ok "containerd restart: the container process still runs, holder kept; killing it"
    kill -KILL "$cpid" 2>/dev/null || true
    wait_for 10 bash -c "! [[ -d /proc/$cpid ]]" || true
fi
dctl gc >/dev/null || fail "dynamigctl gc"
[[ -z $(inst_of crash1) ]] || fail "crash1 still holds its instance after its process is gone and gc"
dctl gc >/dev/null
remove_task crash1
nrel=$(dctl events --json | jq -s -r 'flatten | map(select(.holder == "crash1" and (.kind == "released"))) | length')
[[ $nrel -eq 1 ]] || fail "crash1 released $nrel times, want exactly once: $(dctl events --json | jq -c -s 'flatten | map(select(.holder == "crash1"))')"
[[ $(n_instances) -eq 0 ]] || fail "instances left after e"
ok "crash1 released exactly once"

step "events"
dctl events | tail -n 25

e2e_cleanup
trap - EXIT
printf '\nE2E OK: %d checks passed\n' "$PASS"
