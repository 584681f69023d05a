#!/usr/bin/env bash
# dynamig end-to-end test of eviction outside the node lock (docs/eviction.md) through
# containerd-shim-dynamig-v2 on real containerd 1.6 / runc, on two simulated A100-40GB:
#   7 preemptible containers that ignore SIGTERM (1 s grace) hold seven 1g.5gb; then 28
#   concurrent `ctr run -d` of non-preemptible 1g.5gb containers (room for 14: 7 free, 7 by
#   eviction). None fails on the node lock; every refusal is one line about room; no instance is
#   bound twice; every victim ends preempted; after removing everything concurrently nothing is
#   left (no instance, no holder, no eviction in flight).
# Then the victim among equals is the one with the least work since its last checkpoint
# (dynamig.io/checkpoint-interval): an older container that checkpoints every second goes before
# a younger one that declared no interval.
# Then a container still being created is never a victim (its creator, the pod's shared shim, is
# never signalled): with `runc create` slowed to 4 s (DYNAMIG_RUNC, a wrapper that sleeps before
# exec'ing runc) and a sibling container in the same shim (io.containerd.runc.v2.group), a
# request that could only be served by evicting it is refused with one line about room, the
# shim and the sibling are untouched and its create succeeds; once its process is known it is
# evicted like any other (6 s grace), the sibling still runs; during that grace another slice
# container is removed (its shim's delete releases under the node lock) while the eviction is
# still in flight.
#
# Gated like run.sh: only with DYNAMIG_E2E=1 (root); E2E_BIN_DIR must hold the built binaries.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="evict"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

WORKDIR=$(mktemp -d /tmp/dynamig-e2e-evict.XXXXXX)
export E2E_WORKDIR_OWNED=1
export DYNAMIG_STATE_DIR=$WORKDIR/state
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

N=${E2E_EVICT_CREATES:-28}
STUBBORN='trap "" TERM; while true; do sleep 1; done'

step "setup"
# The shim's runc (DYNAMIG_RUNC, inherited from containerd): creates sleep 4 s while $SLOW exists.
SLOW=$WORKDIR/slow
printf '#!/bin/sh\ncase " $* " in *" create "*) [ -e "%s" ] && sleep 4 ;; esac\nexec "%s" "$@"\n' \
    "$SLOW" "$E2E_RUNC_BIN" >"$WORKDIR/slow-runc"
chmod +x "$WORKDIR/slow-runc"
export DYNAMIG_RUNC=$WORKDIR/slow-runc
e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init a100-40gb a100-40gb >/dev/null || fail "dynamigctl sim init"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)
for i in $(seq 1 7); do
    # shellcheck disable=SC2086 # runtime flags are words
    e2e_ctr run -d $DYN --annotation dynamig.io/mig-profile=1g.5gb \
        --annotation dynamig.io/priority=training --annotation dynamig.io/grace-period=1s \
        "$E2E_IMAGE" "v$i" sh -c "$STUBBORN" >/dev/null 2>&1 || fail "ctr run v$i"
done
[[ $(n_instances) -eq 7 ]] || fail "want 7 victims' instances, have $(n_instances)"
ok "7 preemptible containers that ignore SIGTERM hold 1g.5gb each"

step "$N concurrent creates"
t0=$(date +%s%N)
pids=()
for i in $(seq 1 "$N"); do
    # shellcheck disable=SC2086
    e2e_ctr run -d $DYN --annotation dynamig.io/mig-profile=1g.5gb \
        --annotation dynamig.io/priority=inference \
        "$E2E_IMAGE" "c$i" sh -c "$STUBBORN" >"$WORKDIR/c$i.out" 2>&1 &
    pids+=("$!")
done
okn=0
refused=0
for i in $(seq 1 "$N"); do
    if wait "${pids[$((i - 1))]}"; then
        okn=$((okn + 1))
    else
        out=$(cat "$WORKDIR/c$i.out")
        [[ $out != *"node lock"* ]] || fail "c$i failed on the lock: $out"
        [[ $out == *"no room"* ]] || fail "c$i failed, not for room: $out"
        [[ $(wc -l <<<"$out") -eq 1 ]] || fail "c$i's refusal is not one line: $out"
        refused=$((refused + 1))
        e2e_ctr container rm "c$i" >/dev/null 2>&1 || true
    fi
done
t1=$(date +%s%N)
ok "$okn created, $refused refused for room, in $(((t1 - t0) / 1000000)) ms; no failure on the lock"
((okn == 14)) || fail "want 14 created (7 free slots + 7 by eviction), got $okn"
st=$(status_json)
[[ $(jq '[.gpus[].instances[]] | length' <<<"$st") -eq 14 ]] || fail "want 14 instances: $(jq -c '.gpus[].instances' <<<"$st")"
[[ $(jq '[.gpus[].instances[].uuid] | unique | length' <<<"$st") -eq 14 ]] || fail "an instance twice"
[[ $(jq '[.gpus[].instances[].holder.id] | unique | length' <<<"$st") -eq 14 ]] || fail "a holder bound twice"
[[ $(jq '[.gpus[].instances[] | select(.holder.id | startswith("c"))] | length' <<<"$st") -eq 14 ]] ||
    fail "a victim still holds an instance: $(jq -c '[.gpus[].instances[].holder.id]' <<<"$st")"
[[ $(jq '[.ended[] | select(.state == "preempted")] | length' <<<"$st") -eq 7 ]] ||
    fail "want 7 preempted: $(jq -c .ended <<<"$st")"
[[ $(jq '.evictions | length' <<<"$st") -eq 0 ]] || fail "an eviction left in flight"
ok "14 instances, each bound once, all to the new containers; the 7 victims are preempted"

step "concurrent removal"
ids=$(e2e_ctr container ls -q)
rm_pids=()
for id in $ids; do
    remove_task "$id" &
    rm_pids+=("$!")
done
wait "${rm_pids[@]}"
st=$(status_json)
[[ $(jq '[.gpus[].instances[]] | length' <<<"$st") -eq 0 ]] || fail "instances left: $(jq -c '.gpus[].instances' <<<"$st")"
[[ $(jq '[.ended[] | select(.state != "preempted")] | length' <<<"$st") -eq 0 ]] || fail "holders left: $(jq -c .ended <<<"$st")"
[[ -z $(e2e_ctr container ls -q) ]] || fail "containers left"
ok "after removing all $(wc -w <<<"$ids") containers at once: no instance, no holder left"

step "the victim is the one with the least work since its checkpoint"
# pin (a whole GPU, not preemptible) leaves old and young, two training 3g.20gb, one GPU; old is
# older and checkpoints every 1 s (under 1 s at risk), young declares no interval: after 2 s
# its whole run (over 2 s) is at risk. youngest-first would evict young; dynamig evicts old.
dctl allocate pin --mig-profile 7g.40gb --priority inference >/dev/null || fail "allocate pin"
for c in old young; do
    ci=()
    [[ $c == old ]] && ci=(--annotation dynamig.io/checkpoint-interval=1s)
    # shellcheck disable=SC2086
    e2e_ctr run -d $DYN --annotation dynamig.io/mig-profile=3g.20gb "${ci[@]}" \
        --annotation dynamig.io/priority=training --annotation dynamig.io/grace-period=1s \
        "$E2E_IMAGE" "$c" sh -c "$STUBBORN" >/dev/null 2>&1 || fail "ctr run $c"
done
st=$(status_json)
[[ $(jq '[.gpus[].instances[] | select(.holder.id == "old") | .holder.checkpoint_interval_ms][0]' <<<"$st") == 1000 ]] ||
    fail "old's interval is not in status: $(jq -c '[.gpus[].instances[].holder]' <<<"$st")"
[[ $(jq '[.gpus[].instances[] | select(.holder.id == "young") | .holder | has("checkpoint_interval_ms")][0]' <<<"$st") == false ]] ||
    fail "young shows an interval it never declared"
sleep 2
out=$(dctl plan --mig-profile 3g.20gb --priority interactive --json) || fail "plan: $out"
[[ $(jq -c .evict <<<"$out") == '["old"]' ]] || fail "the planner would evict $(jq -c .evict <<<"$out"), not old"
dctl allocate boss --mig-profile 3g.20gb --priority interactive >/dev/null 2>"$WORKDIR/boss.err" ||
    fail "allocate boss: $(cat "$WORKDIR/boss.err")"
[[ $(ended_state old) == preempted ]] || fail "old is not preempted: $(status_json | jq -c .ended)"
[[ $(task_status young) == RUNNING ]] || fail "young is $(task_status young)"
ok "old (1 s checkpoints) is evicted, not the younger young (no interval): status shows old's checkpoint_interval_ms"
remove_task old
remove_task young
dctl release pin >/dev/null || fail "release pin"
dctl release boss >/dev/null || fail "release boss"
[[ $(n_instances) -eq 0 ]] || fail "instances left: $(status_json | jq -c '.gpus[].instances')"

step "a container still being created is not a victim"
dctl allocate keep --mig-profile 4g.20gb --priority inference >/dev/null || fail "allocate keep"
# rel: a slice container next to keep, removed later while an eviction's grace runs elsewhere
# shellcheck disable=SC2086
e2e_ctr run -d $DYN --annotation dynamig.io/mig-profile=3g.20gb --annotation dynamig.io/priority=inference \
    "$E2E_IMAGE" rel sh -c "$STUBBORN" >/dev/null 2>&1 || fail "ctr run rel"
GROUP=(--annotation io.containerd.runc.v2.group=pod1)
# shellcheck disable=SC2086
e2e_ctr run -d $DYN "${GROUP[@]}" "$E2E_IMAGE" sib sh -c "$STUBBORN" >/dev/null 2>&1 || fail "ctr run sib"
touch "$SLOW"
# shellcheck disable=SC2086
e2e_ctr run -d $DYN "${GROUP[@]}" --annotation dynamig.io/mig-profile=7g.40gb \
    --annotation dynamig.io/priority=training --annotation dynamig.io/grace-period=6s \
    "$E2E_IMAGE" slow sh -c "$STUBBORN" >"$WORKDIR/slow.out" 2>&1 &
slow=$!
holds() { status_json | jq -e --arg id "$1" 'any(.gpus[].instances[]; .holder.id == $id)' >/dev/null; }
wait_for 20 holds slow || fail "slow never got its instance"
[[ $(status_json | jq -r '.gpus[].instances[] | select(.holder.id == "slow") | .holder.pid') == null ]] ||
    fail "slow's process is already recorded: runc create was not slowed"
out=$(dctl allocate boss --mig-profile 7g.40gb --priority inference 2>&1) && fail "boss evicted a container being created: $out"
[[ $out == *"no room"* && $(wc -l <<<"$out") -eq 1 ]] || fail "boss's refusal: $out"
ok "while slow's runc create runs, a request that needs its room is refused: $out"
wait "$slow" || fail "slow's create failed: $(cat "$WORKDIR/slow.out")"
rm -f "$SLOW"
[[ $(task_status slow) == RUNNING && $(task_status sib) == RUNNING ]] || fail "slow $(task_status slow), sib $(task_status sib)"
ok "slow's create succeeded, the shared shim was not signalled, sib runs"
dctl allocate boss --mig-profile 7g.40gb --priority inference >/dev/null 2>"$WORKDIR/boss.err" &
boss=$!
evicting() { [[ $(status_json | jq '.evictions | length') -eq 1 ]]; }
wait_for 10 evicting || fail "no eviction in flight for boss: $(cat "$WORKDIR/boss.err")"
t0=$(date +%s%N)
remove_task rel
t1=$(date +%s%N)
[[ -z $(e2e_ctr container ls -q | grep -x rel) ]] || fail "rel was not removed"
evicting || fail "the eviction was over before rel's removal: the removal did not run during the grace"
ok "during slow's 6 s grace, removing the slice container rel (ctr task kill/rm, container rm) took $(((t1 - t0) / 1000000)) ms"
wait "$boss" || fail "boss after slow's process is known: $(cat "$WORKDIR/boss.err")"
stopped() { [[ $(task_status "$1") == STOPPED ]]; }
wait_for 15 stopped slow || fail "slow is not stopped after its eviction: $(task_status slow)"
[[ $(task_status sib) == RUNNING ]] || fail "sib died with the eviction of slow"
[[ $(ended_state slow) == preempted ]] || fail "slow is not preempted: $(status_json | jq -c .ended)"
ok "once its process is known, slow is evicted (SIGKILL after its 6 s grace); sib still runs"
remove_task slow
remove_task sib

echo
echo "e2e $E2E_NAME: $PASS checks passed"
