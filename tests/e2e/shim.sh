#!/usr/bin/env bash
# containerd-shim-dynamig-v2 as a task shim (issue #3): the task API behaves as with the stock
# io.containerd.runc.v2, on real containerd 1.6 and runc. Each check runs through both runtimes
# and compares what a user sees:
#   exit status; stdout and stderr; stdin; a terminal (-t, under script(1)); an OOM kill (exit
#   status, and the /tasks/oom event Kubernetes turns into OOMKilled);
#   on a running task: exec (output, exit status, stdin), ps, pause/resume, metrics, kill;
#   removal; and that every shim process is gone once its containers are.
#
# Gated like tests/e2e/run.sh: DYNAMIG_E2E=1, root, E2E_BIN_DIR with the built binaries; with
# DYNAMIG_E2E=1 anything that cannot run is a failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="shim"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

command -v script >/dev/null || fail "script(1) (util-linux) is missing"
WORKDIR=$(mktemp -d /tmp/dynamig-e2e-shim.XXXXXX)
export E2E_WORKDIR_OWNED=1
export DYNAMIG_STATE_DIR=$WORKDIR/state
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"

CTR=(env "CONTAINERD_SNAPSHOTTER=$E2E_SNAPSHOTTER" "$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" -n "$E2E_NS")
LOOP='trap "exit 0" TERM; while true; do sleep 1; done'
shims() { _e2e_pids_with_arg "$E2E_CONTAINERD_SOCK" | while read -r p; do
    if [[ $(readlink "/proc/$p/exe" 2>/dev/null) == */containerd-shim-dynamig-v2 ]]; then echo "$p"; fi
done; }

# Runs the user-visible checks on runtime $1 (short name $2); prints one "name: result" line
# per check.
checks() {
    local rt=$1 n=$2 out rc evpid
    "${CTR[@]}" events >"$WORKDIR/events-$n.txt" 2>&1 &
    evpid=$!
    rc=0; "${CTR[@]}" run --rm --runtime "$rt" "$E2E_IMAGE" "$n-exit" sh -c 'exit 7' >/dev/null 2>&1 || rc=$?
    echo "exit status: $rc"
    out=$("${CTR[@]}" run --rm --runtime "$rt" "$E2E_IMAGE" "$n-out" sh -c 'echo to-stdout; echo to-stderr >&2' 2>&1)
    echo "stdout+stderr: $(sort <<<"$out" | tr '\n' ' ')"
    # (ctr does not close a task's stdin at EOF of its own: read one line, then exit)
    out=$(printf 'line-one\nline-two\n' | "${CTR[@]}" run --rm --runtime "$rt" "$E2E_IMAGE" "$n-in" head -n 1)
    echo "stdin: $out"
    out=$(script -qec "${CTR[*]} run --rm -t --runtime $rt $E2E_IMAGE $n-tty sh -c 'tty; echo tty-ok'" /dev/null | tr -d '\r')
    echo "terminal: $(grep -o '/dev/pts/[0-9]*\|tty-ok' <<<"$out" | sed 's#/dev/pts/[0-9]*#/dev/pts/N#' | tr '\n' ' ')"

    # a container killed for memory: exit status, and containerd told of the OOM
    rc=0; "${CTR[@]}" run --rm --runtime "$rt" --memory-limit 33554432 "$E2E_IMAGE" "$n-oom" tail /dev/zero >/dev/null 2>&1 || rc=$?
    sleep 0.5
    echo "oom: status $rc, /tasks/oom told: $(grep -c "/tasks/oom.*\"$n-oom\"" "$WORKDIR/events-$n.txt" || true)"
    kill "$evpid" 2>/dev/null || true
    wait "$evpid" 2>/dev/null || true

    "${CTR[@]}" run -d --runtime "$rt" "$E2E_IMAGE" "$n-d" sh -c "$LOOP" >/dev/null
    rc=0; out=$("${CTR[@]}" task exec --exec-id e1 "$n-d" sh -c 'echo from-exec; exit 3' 2>&1) || rc=$?
    echo "exec: $out, status $rc"
    out=$(echo piped | "${CTR[@]}" task exec --exec-id e2 "$n-d" head -n 1)
    echo "exec stdin: $out"
    out=$(script -qec "${CTR[*]} task exec -t --exec-id e3 $n-d sh -c 'tty >/dev/null && echo exec-tty-ok'" /dev/null | tr -d '\r')
    echo "exec terminal: $(grep -o 'exec-tty-ok' <<<"$out")"
    echo "ps: $("${CTR[@]}" task ps "$n-d" | awk 'NR > 1' | wc -l) process(es)"
    "${CTR[@]}" task pause "$n-d"
    echo "paused: $(task_status "$n-d")"
    "${CTR[@]}" task resume "$n-d"
    echo "resumed: $(task_status "$n-d")"
    out=$("${CTR[@]}" task metrics "$n-d" 2>&1) || out="metrics failed: $out"
    echo "metrics: $(grep -c 'memory\|pids' <<<"$out" | awk '{print ($1 > 0) ? "reported" : "missing"}')"
    "${CTR[@]}" task kill -s TERM "$n-d"
    wait_for 15 bash -c "[[ \$(${CTR[*]} task ls | awk '\$1 == \"$n-d\" {print \$3}') == STOPPED ]]" || echo "kill: still $(task_status "$n-d")"
    echo "after kill: $(task_status "$n-d")"
    "${CTR[@]}" task rm "$n-d" >/dev/null
    "${CTR[@]}" container rm "$n-d"
    echo "removed: $("${CTR[@]}" container ls -q | grep -c "^$n-d\$" || true) left"
}

step "the same checks through io.containerd.runc.v2 and io.containerd.dynamig.v2"
checks io.containerd.runc.v2 r >"$WORKDIR/runc.txt" 2>&1 || fail "checks on runc.v2: $(cat "$WORKDIR/runc.txt")"
checks io.containerd.dynamig.v2 d >"$WORKDIR/dynamig.txt" 2>&1 || fail "checks on dynamig.v2: $(cat "$WORKDIR/dynamig.txt")"
sed 's/^/    runc.v2:    /' "$WORKDIR/runc.txt"
diff -u "$WORKDIR/runc.txt" "$WORKDIR/dynamig.txt" >"$WORKDIR/diff.txt" ||
    fail "io.containerd.dynamig.v2 differs from io.containerd.runc.v2:
$(cat "$WORKDIR/diff.txt")"
while read -r line; do ok "same as runc.v2: $line"; done <"$WORKDIR/dynamig.txt"
# sanity: the reference answers are the expected ones (so "same" means "right")
grep -qx 'exit status: 7' "$WORKDIR/runc.txt" || fail "reference: exit status"
grep -qx 'stdin: line-one' "$WORKDIR/runc.txt" || fail "reference: stdin"
grep -qx 'exec: from-exec, status 3' "$WORKDIR/runc.txt" || fail "reference: exec"
grep -qx 'terminal: /dev/pts/N tty-ok ' "$WORKDIR/runc.txt" || fail "reference: terminal"
grep -qx 'paused: PAUSED' "$WORKDIR/runc.txt" || fail "reference: pause"
grep -qx 'oom: status 137, /tasks/oom told: 1' "$WORKDIR/runc.txt" || fail "reference: oom: $(grep oom "$WORKDIR/runc.txt")"
grep -qx 'after kill: STOPPED' "$WORKDIR/runc.txt" || fail "reference: kill"
ok "the reference answers are the expected ones"

step "shims exit with their containers"
for _ in $(seq 50); do
    left=$(shims | wc -l)
    ((left == 0)) && break
    sleep 0.2
done
((left == 0)) || fail "$left containerd-shim-dynamig-v2 process(es) left: $(shims | tr '\n' ' ')"
ok "no containerd-shim-dynamig-v2 process left"
[[ $(n_instances) -eq 0 ]] || fail "instances left"

echo
echo "E2E SHIM OK: $PASS checks passed"
