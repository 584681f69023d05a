# Task API checks a user sees, for one runtime on the private containerd of tests/e2e/lib/env.sh
# (E2E_CTR_BIN, E2E_CONTAINERD_SOCK, E2E_NS, E2E_SNAPSHOTTER, E2E_IMAGE). Sourced by
# tests/e2e/shim.sh (containerd 1.6) and tests/e2e/versions.sh (1.7, 2.x), which run it through
# io.containerd.runc.v2 and io.containerd.dynamig.v2 and require the same answers.
#
#   task_checks RUNTIME PREFIX WORKDIR   prints one "name: result" line per check
#   task_checks_reference FILE           fails (returns 1, names the check) unless FILE holds the
#                                        expected answers, so that "the same" means "right"
# Needs script(1) (util-linux).

_tc_ctr() { env "CONTAINERD_SNAPSHOTTER=$E2E_SNAPSHOTTER" "$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" -n "$E2E_NS" "$@"; }
_tc_status() { _tc_ctr task ls | awk -v id="$1" '$1 == id {print $3}'; }
_tc_ctr_line() { printf 'env CONTAINERD_SNAPSHOTTER=%s %s --address %s -n %s' "$E2E_SNAPSHOTTER" "$E2E_CTR_BIN" "$E2E_CONTAINERD_SOCK" "$E2E_NS"; }

task_checks() { # RUNTIME PREFIX WORKDIR
    local rt=$1 n=$2 w=$3 out rc evpid i ctr
    ctr=$(_tc_ctr_line)
    local loop='trap "exit 0" TERM; while true; do sleep 1; done'
    _tc_ctr events >"$w/events-$n.txt" 2>&1 &
    evpid=$!
    rc=0; _tc_ctr run --rm --runtime "$rt" "$E2E_IMAGE" "$n-exit" sh -c 'exit 7' >/dev/null 2>&1 || rc=$?
    echo "exit status: $rc"
    out=$(_tc_ctr run --rm --runtime "$rt" "$E2E_IMAGE" "$n-out" sh -c 'echo to-stdout; echo to-stderr >&2' 2>&1)
    echo "stdout+stderr: $(sort <<<"$out" | tr '\n' ' ')"
    out=$(_tc_ctr run --rm --runtime "$rt" "$E2E_IMAGE" "$n-nocmd" /no-such-command 2>&1) && rc=0 || rc=$?
    _tc_ctr container rm "$n-nocmd" >/dev/null 2>&1 || true
    echo "missing command: status $rc, one line: $(wc -l <<<"$out"), names it: $(grep -c 'no-such-command.*no such file' <<<"$out" || true)"
    # (ctr does not close a task's stdin at EOF of its own: read one line, then exit)
    out=$(printf 'line-one\nline-two\n' | _tc_ctr run --rm --runtime "$rt" "$E2E_IMAGE" "$n-in" head -n 1)
    echo "stdin: $out"
    out=$(script -qec "$ctr run --rm -t --runtime $rt $E2E_IMAGE $n-tty sh -c 'tty; echo tty-ok'" /dev/null | tr -d '\r')
    echo "terminal: $(grep -o '/dev/pts/[0-9]*\|tty-ok' <<<"$out" | sed 's#/dev/pts/[0-9]*#/dev/pts/N#' | tr '\n' ' ')"
    # a container killed for memory: exit status, and containerd told of the OOM
    rc=0; _tc_ctr run --rm --runtime "$rt" --memory-limit 33554432 "$E2E_IMAGE" "$n-oom" tail /dev/zero >/dev/null 2>&1 || rc=$?
    sleep 0.5
    echo "oom: status $rc, /tasks/oom told: $(grep -c "/tasks/oom.*\"$n-oom\"" "$w/events-$n.txt" || true)"
    kill "$evpid" 2>/dev/null || true
    wait "$evpid" 2>/dev/null || true

    _tc_ctr run -d --runtime "$rt" "$E2E_IMAGE" "$n-d" sh -c "$loop" >/dev/null
    rc=0; out=$(_tc_ctr task exec --exec-id e1 "$n-d" sh -c 'echo from-exec; exit 3' 2>&1) || rc=$?
    echo "exec: $out, status $rc"
    out=$(echo piped | _tc_ctr task exec --exec-id e2 "$n-d" head -n 1)
    echo "exec stdin: $out"
    out=$(script -qec "$ctr task exec -t --exec-id e3 $n-d sh -c 'tty >/dev/null && echo exec-tty-ok'" /dev/null | tr -d '\r')
    echo "exec terminal: $(grep -o 'exec-tty-ok' <<<"$out")"
    echo "ps: $(_tc_ctr task ps "$n-d" | awk 'NR > 1' | wc -l) process(es)"
    _tc_ctr task pause "$n-d"
    echo "paused: $(_tc_status "$n-d")"
    _tc_ctr task resume "$n-d"
    echo "resumed: $(_tc_status "$n-d")"
    out=$(_tc_ctr task metrics "$n-d" 2>&1) || out="metrics failed: $out"
    echo "metrics: $(grep -c 'memory\|pids' <<<"$out" | awk '{print ($1 > 0) ? "reported" : "missing"}')"
    _tc_ctr task kill -s TERM "$n-d"
    for ((i = 0; i < 150; i++)); do
        [[ $(_tc_status "$n-d") == STOPPED ]] && break
        sleep 0.1
    done
    echo "after kill: $(_tc_status "$n-d")"
    _tc_ctr task rm "$n-d" >/dev/null
    _tc_ctr container rm "$n-d"
    echo "removed: $(_tc_ctr container ls -q | grep -c "^$n-d\$" || true) left"
}

task_checks_reference() { # FILE
    local f=$1 want
    for want in 'exit status: 7' 'missing command: status 1, one line: 1, names it: 1' 'stdin: line-one' 'terminal: /dev/pts/N tty-ok ' \
        'oom: status 137, /tasks/oom told: 1' 'exec: from-exec, status 3' 'exec stdin: piped' \
        'exec terminal: exec-tty-ok' 'paused: PAUSED' 'resumed: RUNNING' 'metrics: reported' \
        'after kill: STOPPED' 'removed: 0 left'; do
        grep -qxF "$want" "$f" || { echo "reference answer missing: '$want'; got: $(tr '\n' '|' <"$f")"; return 1; }
    done
}
