#!/usr/bin/env bash
# dynamig end-to-end test of dynamig.io/wait on real containerd 1.6 / runc (docs/wait-queue.md):
#   a. a container whose request finds no room waits in `create` (its ticket shows in
#      `dynamigctl status`), with no timeout from containerd, and runs once room appears
#   b. a container whose wait runs out fails `ctr run` with one line; no ticket, no instance
#   c. the runtime killed while it waits (as a caller that gives up would): the ticket is
#      dropped at the next operation, nothing allocated
#   d. Docker 20.10 (--runtime dynamig, request and wait by env): docker run waits, then runs
#
# Gated like run.sh: only with DYNAMIG_E2E=1 (root); E2E_BIN_DIR must hold the built binaries.
# With DYNAMIG_E2E=1 anything that cannot run is a failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="wait"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

WORKDIR=$(mktemp -d /tmp/dynamig-e2e-wait.XXXXXX)
export E2E_WORKDIR_OWNED=1
export DYNAMIG_STATE_DIR=$WORKDIR/state
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

inst_of() {
    status_json | jq -r --arg id "$1" \
        '.gpus[].instances[] | select(.holder.id == $id) | "\(.uuid) \(.profile) \(.placement.start) \(.placement.size)"'
}
queued() { status_json | jq -e --arg id "$1" '.queue | any(.id == $id)' >/dev/null; }
queue_len() { status_json | jq '.queue | length'; }
wait_for() { # SECONDS CMD...
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
kinds_of() { dctl events --json | jq -r --arg id "$1" '[.[] | select(.holder == $id) | .kind] | join(" ")'; }

step "setup"
e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init a100-40gb"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)
dctl allocate filler --mig-profile 7g.40gb >/dev/null || fail "allocate filler"
ok "the GPU is full (filler holds 7g.40gb)"

# ------------------------------------------------------------------ a. wait, then run
step "a. create waits for room"
HOLD=${E2E_WAIT_HOLD:-15}
# shellcheck disable=SC2086 # runtime flags are words
e2e_ctr run -d $DYN --annotation dynamig.io/mig-profile=1g.5gb --annotation dynamig.io/wait=120s \
    "$E2E_IMAGE" w1 sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' >"$WORKDIR/w1.out" 2>&1 &
w1=$!
wait_for 30 queued w1 || fail "w1 never showed in the queue: $(status_json | jq -c .queue)"
ok "w1 is queued: $(status_json | jq -c '.queue[0] | {position, id, request, priority_class, pid}')"
sleep "$HOLD"
kill -0 "$w1" 2>/dev/null || fail "ctr run returned while w1 waited: $(cat "$WORKDIR/w1.out")"
[[ $(task_status w1) != RUNNING ]] || fail "w1 runs although there is no room"
queued w1 || fail "w1 left the queue while nothing changed"
ok "after ${HOLD}s, ctr run still blocks in create and w1 still waits (no containerd timeout)"
t0=$(date +%s%N)
dctl release filler >/dev/null || fail "release filler"
wait "$w1" || fail "ctr run w1 failed: $(cat "$WORKDIR/w1.out")"
t1=$(date +%s%N)
[[ $(task_status w1) == RUNNING ]] || fail "w1 is not running"
[[ $(inst_of w1 | awk '{print $2}') == 1g.5gb ]] || fail "w1 holds $(inst_of w1), want 1g.5gb"
[[ $(queue_len) -eq 0 ]] || fail "queue not empty: $(status_json | jq -c .queue)"
[[ $(kinds_of w1) == "queued served allocated" ]] || fail "w1 events: $(kinds_of w1)"
ok "w1 runs on $(inst_of w1), $(((t1 - t0) / 1000000)) ms after the release; events: $(kinds_of w1)"
remove_task w1
[[ $(n_instances) -eq 0 ]] || fail "w1 not released"

# ------------------------------------------------------------------ b. out of time
step "b. the wait runs out"
dctl allocate filler --mig-profile 7g.40gb >/dev/null || fail "allocate filler"
before=$(status_json | jq -c '.gpus')
rc=0
# shellcheck disable=SC2086
out=$(e2e_ctr run --rm $DYN --annotation dynamig.io/mig-profile=1g.5gb --annotation dynamig.io/wait=2s \
    "$E2E_IMAGE" w2 true 2>&1) || rc=$?
((rc != 0)) || fail "ctr run w2 succeeded on a full GPU"
[[ $out == *"gave up after waiting"* ]] || fail "error does not say it gave up: $out"
[[ $(wc -l <<<"$out") -eq 1 ]] || fail "error is not one line: $out"
ok "ctr run fails with: $out"
e2e_ctr container rm w2 >/dev/null 2>&1 || true
[[ $(status_json | jq -c '.gpus') == "$before" ]] || fail "the GPUs changed"
[[ $(queue_len) -eq 0 ]] || fail "a ticket was left: $(status_json | jq -c .queue)"
[[ $(kinds_of w2) == "queued expired" ]] || fail "w2 events: $(kinds_of w2)"
ok "no ticket, no instance left; events: $(kinds_of w2)"

# ------------------------------------------------------------------ c. runtime killed
step "c. the waiting runtime is killed"
# shellcheck disable=SC2086
e2e_ctr run -d $DYN --annotation dynamig.io/mig-profile=1g.5gb --annotation dynamig.io/wait=120s \
    "$E2E_IMAGE" w3 true >"$WORKDIR/w3.out" 2>&1 &
w3=$!
wait_for 30 queued w3 || fail "w3 never queued"
wpid=$(status_json | jq -r '.queue[] | select(.id == "w3") | .pid')
# The waiter is the process that creates the task: the shim itself (io.containerd.dynamig.v2
# allocates in process at Task Create), or `dynamig-runc create` on the wrapper path.
wcmd=$(tr '\0' ' ' <"/proc/$wpid/cmdline")
[[ $wcmd == *containerd-shim-dynamig-v2* || $wcmd == *create* ]] || fail "the waiting pid $wpid is not the runtime: $wcmd"
kill -KILL "$wpid"
wait "$w3" && fail "ctr run w3 succeeded although its runtime was killed"
[[ $(queue_len) -eq 0 ]] || fail "the dead waiter's ticket is still there: $(status_json | jq -c .queue)"
[[ $(kinds_of w3) == "queued expired" ]] || fail "w3 events: $(kinds_of w3)"
[[ -z $(inst_of w3) ]] || fail "w3 holds an instance"
ok "runtime $wpid SIGKILLed: ctr run failed, the next status dropped the ticket; events: $(kinds_of w3)"
e2e_ctr task rm -f w3 >/dev/null 2>&1 || true
e2e_ctr container rm w3 >/dev/null 2>&1 || true
dctl release filler >/dev/null
[[ $(n_instances) -eq 0 ]] || fail "instances left"

# ------------------------------------------------------------------ d. Docker, request by env
step "d. Docker --runtime dynamig, DYNAMIG_WAIT"
e2e_dockerd_start || fail "dockerd start"
e2e_docker_image_import || fail "docker image import"
dctl allocate filler --mig-profile 7g.40gb >/dev/null || fail "allocate filler"
e2e_docker run -d --runtime dynamig -e DYNAMIG_MIG_PROFILE=1g.5gb -e DYNAMIG_WAIT=120s --network none \
    "$E2E_DOCKER_IMAGE" sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' >"$WORKDIR/d1.out" 2>&1 &
d1=$!
one_queued() { [[ $(queue_len) -eq 1 ]]; }
wait_for 30 one_queued ||
    fail "the docker container never queued: $(cat "$WORKDIR/d1.out")"
did=$(status_json | jq -r '.queue[0].id')
sleep 5
kill -0 "$d1" 2>/dev/null || fail "docker run returned while its container waited: $(cat "$WORKDIR/d1.out")"
ok "docker container ${did:0:12} waits in the queue (5s, docker run still blocked)"
dctl release filler >/dev/null || fail "release filler"
wait "$d1" || fail "docker run failed: $(cat "$WORKDIR/d1.out")"
[[ $(inst_of "$did" | awk '{print $2}') == 1g.5gb ]] || fail "docker container holds $(inst_of "$did")"
[[ $(queue_len) -eq 0 ]] || fail "queue not empty"
ok "docker container ${did:0:12} runs on $(inst_of "$did")"
e2e_docker rm -f "$did" >/dev/null || fail "docker rm -f"
[[ $(n_instances) -eq 0 ]] || fail "instances left after docker"
e2e_dockerd_stop

dctl events | tail -n 12
e2e_cleanup
trap - EXIT
printf '\nE2E WAIT OK: %d checks passed\n' "$PASS"
