#!/usr/bin/env bash
# dynamig end-to-end: holder identity (issue #13) on real containerd 1.6 with two simulated
# A100-SXM4-40GB (room for four 3g.20gb). A holder is (containerd namespace, container id):
#   1. <ns>/c1 runs with a 3g.20gb (and a `ctr task exec` in it sees its MIG device);
#   2. <ns>-tenant/c1 without a request is created, run and removed, through the dynamig shim
#      and through runc BinaryName=dynamig-runc;
#   3. a <ns>-tenant/c1 create with a bad annotation is refused, through both;
#   after each, <ns>/c1 still holds the same instance (same MIG UUID in status);
#   3b. runc's record of a dynamig-runc container carries the record naming its holder, and a
#       `ctr task exec` in it sees its MIG device;
#   4. three more 3g.20gb fit, and a fifth is refused: four held, each its own instance.
#
# Gated like tests/e2e/run.sh: DYNAMIG_E2E=1, root, E2E_BIN_DIR with the built binaries; with
# DYNAMIG_E2E=1 anything that cannot run is a failure. Its own namespaces, state directory and
# workdir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="holders"
E2E_NS=${E2E_NS:-dynamig-holders-$$}
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

WORKDIR=$(mktemp -d /tmp/dynamig-e2e-holders.XXXXXX)
export E2E_WORKDIR_OWNED=1
export DYNAMIG_STATE_DIR=$WORKDIR/state
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
MAIN_NS=$E2E_NS
TENANT_NS=$E2E_NS-tenant
cleanup() {
    local rc=$?
    rmdir "/run/containerd/runc/$TENANT_NS" 2>/dev/null || true
    e2e_cleanup
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { # NS CMD...: run CMD with e2e_ctr in containerd namespace NS
    local ns=$1
    shift
    E2E_NS=$ns "$@"
}
# "uuid profile" of holder NS/ID (empty when none)
inst_of() { # NS ID
    status_json | jq -r --arg ns "$1" --arg id "$2" \
        '.gpus[].instances[] | select(.holder.namespace == $ns and .holder.id == $id) | "\(.uuid) \(.profile)"'
}
LOOP='trap "exit 0" TERM; while true; do sleep 1; done'
run_d() { # NS ID RUNTIME-FLAGS [CTR-RUN-FLAGS...]
    local ns=$1 id=$2 rt=$3
    shift 3
    # shellcheck disable=SC2086 # runtime flags are words
    in_ns "$ns" e2e_ctr run -d $rt "$@" "$E2E_IMAGE" "$id" sh -c "$LOOP"
}
still_holds() { # WHAT: <ns>/c1 holds the instance it got in step 1
    [[ $(inst_of "$MAIN_NS" c1) == "$C1" ]] || fail "after $1: $MAIN_NS/c1 holds [$(inst_of "$MAIN_NS" c1)], had [$C1]; events: $(dctl events | tail -n 5)"
    [[ $(task_status c1) == RUNNING ]] || fail "after $1: $MAIN_NS/c1 is not running"
    ok "after $1: $MAIN_NS/c1 still holds ${C1%% *}"
}

step "setup"
e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init a100-40gb a100-40gb >/dev/null || fail "dynamigctl sim init a100-40gb a100-40gb"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import ($MAIN_NS)"
in_ns "$TENANT_NS" e2e_image_import || fail "image import ($TENANT_NS)"
DYN=$(e2e_runtime_flags dynamig)
WRAP=$(e2e_runtime_flags dynamig-runc)
ok "containerd $(containerd --version | awk '{print $3}'), namespaces $MAIN_NS and $TENANT_NS"

step "1. $MAIN_NS/c1 with a 3g.20gb"
run_d "$MAIN_NS" c1 "$DYN" --annotation dynamig.io/mig-profile=3g.20gb || fail "ctr run $MAIN_NS/c1"
C1=$(inst_of "$MAIN_NS" c1)
[[ $C1 == *" 3g.20gb" ]] || fail "$MAIN_NS/c1 holds [$C1], want a 3g.20gb"
ok "$MAIN_NS/c1 holds $C1"
# `ctr task exec` (and `kubectl exec`) processes see the container's device too
# shellcheck disable=SC2016 # expands inside the container
seen=$(e2e_ctr task exec --exec-id "env-$RANDOM" c1 sh -c 'echo "$NVIDIA_VISIBLE_DEVICES $CUDA_VISIBLE_DEVICES"') || fail "ctr task exec c1"
[[ $seen == "${C1%% *} ${C1%% *}" ]] || fail "an exec process of $MAIN_NS/c1 sees [$seen], want ${C1%% *} twice"
ok "ctr task exec in $MAIN_NS/c1 sees NVIDIA_VISIBLE_DEVICES=CUDA_VISIBLE_DEVICES=${C1%% *}"

step "2. $TENANT_NS/c1 without a request: created, run, removed"
for rt in "$DYN" "$WRAP"; do
    name=${rt%% *}
    [[ $rt == "$WRAP" ]] && name="runc BinaryName=dynamig-runc"
    run_d "$TENANT_NS" c1 "$rt" || fail "ctr run $TENANT_NS/c1 ($name)"
    in_ns "$TENANT_NS" remove_task c1
    in_ns "$TENANT_NS" e2e_ctr container info c1 >/dev/null 2>&1 && fail "$TENANT_NS/c1 not removed"
    still_holds "$TENANT_NS/c1 (no request, $name) ran and was removed"
    # shellcheck disable=SC2086 # runtime flags are words
    out=$(in_ns "$TENANT_NS" e2e_ctr run --rm $rt "$E2E_IMAGE" c1 true 2>&1) || fail "ctr run --rm $TENANT_NS/c1 ($name): $out"
    still_holds "ctr run --rm $TENANT_NS/c1 (no request, $name)"
done

step "3. a refused $TENANT_NS/c1 create"
for rt in "$DYN" "$WRAP"; do
    rc=0
    # shellcheck disable=SC2086 # runtime flags are words
    out=$(in_ns "$TENANT_NS" e2e_ctr run --rm $rt --annotation dynamig.io/gpu-memory=10XB "$E2E_IMAGE" c1 true 2>&1) || rc=$?
    ((rc != 0)) || fail "ctr run $TENANT_NS/c1 with dynamig.io/gpu-memory=10XB succeeded"
    [[ $out == *10XB* ]] || fail "the refusal does not name the value: $out"
    in_ns "$TENANT_NS" e2e_ctr task rm -f c1 >/dev/null 2>&1 || true
    in_ns "$TENANT_NS" e2e_ctr container rm c1 >/dev/null 2>&1 || true
    still_holds "a refused $TENANT_NS/c1 create ($(head -c 120 <<<"$out"))"
done

step "3b. runc's record of a dynamig-runc container names its holder (what dynamig-runc delete reads)"
run_d "$MAIN_NS" w1 "$WRAP" --annotation dynamig.io/mig-profile=1g.5gb || fail "ctr run $MAIN_NS/w1 (dynamig-runc)"
rec=$(jq -r '.config.labels[] | select(startswith("dynamig.io/injected=")) | ltrimstr("dynamig.io/injected=") | fromjson | "\(.namespace)/\(.holder)"' \
    "/run/containerd/runc/$MAIN_NS/w1/state.json") || fail "cannot read runc's record of $MAIN_NS/w1"
[[ $rec == "$MAIN_NS/w1" ]] || fail "runc's record of $MAIN_NS/w1 names [$rec]"
W1=$(inst_of "$MAIN_NS" w1)
# shellcheck disable=SC2016 # expands inside the container
seen=$(e2e_ctr task exec --exec-id "env-$RANDOM" w1 sh -c 'echo "$NVIDIA_VISIBLE_DEVICES $CUDA_VISIBLE_DEVICES"') || fail "ctr task exec w1"
[[ $seen == "${W1%% *} ${W1%% *}" ]] || fail "an exec process of $MAIN_NS/w1 (dynamig-runc) sees [$seen], want ${W1%% *} twice"
ok "ctr task exec in $MAIN_NS/w1 (runc BinaryName=dynamig-runc) sees ${W1%% *}"
remove_task w1
[[ -z $(inst_of "$MAIN_NS" w1) ]] || fail "$MAIN_NS/w1 not released on removal"
still_holds "$MAIN_NS/w1 (dynamig-runc, record names $rec) was removed"

step "4. four 3g.20gb fit on two A100-40GB; a fifth does not"
for id in c2 c3 c4; do
    run_d "$MAIN_NS" "$id" "$DYN" --annotation dynamig.io/mig-profile=3g.20gb || fail "ctr run $MAIN_NS/$id"
done
[[ $(n_instances) -eq 4 ]] || fail "$(n_instances) instances, want 4: $(status_json | jq -c '[.gpus[].instances[] | [.holder.namespace, .holder.id, .uuid]]')"
[[ $(status_json | jq -r '.gpus[].instances[].uuid' | sort -u | wc -l) -eq 4 ]] || fail "the four instances are not distinct"
rc=0
# shellcheck disable=SC2086 # runtime flags are words
out=$(in_ns "$TENANT_NS" e2e_ctr run --rm $DYN --annotation dynamig.io/mig-profile=3g.20gb "$E2E_IMAGE" c1 true 2>&1) || rc=$?
((rc != 0)) || fail "a fifth 3g.20gb ($TENANT_NS/c1) ran where four fit"
in_ns "$TENANT_NS" e2e_ctr container rm c1 >/dev/null 2>&1 || true
[[ $(n_instances) -eq 4 ]] || fail "$(n_instances) instances after the fifth, want 4"
still_holds "a refused fifth 3g.20gb"
ok "a fifth 3g.20gb is refused: $(head -c 160 <<<"$out")"

step "cleanup"
for id in c1 c2 c3 c4; do remove_task "$id"; done
[[ $(n_instances) -eq 0 ]] || fail "instances left: $(status_json | jq -c '[.gpus[].instances[] | .holder]')"
nrel=$(dctl events --json | jq -r --arg ns "$MAIN_NS" '[.[] | select(.kind == "released" and .holder == "c1" and .namespace == $ns)] | length')
[[ $nrel -eq 1 ]] || fail "$MAIN_NS/c1 released $nrel times, want once"
ok "all released; $MAIN_NS/c1 exactly once"

cleanup
trap - EXIT
printf '\nE2E OK: %d checks passed\n' "$PASS"
