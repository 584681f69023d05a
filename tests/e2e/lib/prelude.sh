# shellcheck shell=bash
# The common start of an end-to-end script. Set E2E_NAME (e.g. "wait") before sourcing, from a
# script that has HERE set to tests/e2e. It:
#   - exits 0 with a note unless DYNAMIG_E2E=1 (the one gate CI sets);
#   - defines fail (message, exit 1), ok (numbered check) and step (section header);
#   - checks root, E2E_BIN_DIR and the four binaries in it (all failures, never skips);
#   - installs the Debian packages (lib/install-deps.sh) and sources lib/env.sh.
if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "e2e $E2E_NAME skipped: DYNAMIG_E2E is not 1 (needs root; installs Debian containerd/runc/docker.io; set DYNAMIG_E2E=1 E2E_BIN_DIR=target/debug)"
    exit 0
fi

PASS=0
fail() { printf '\nE2E %s FAILED: %s\n' "$E2E_NAME" "$*" >&2; exit 1; }
ok() { PASS=$((PASS + 1)); printf '[e2e %s ok %2d] %s\n' "$E2E_NAME" "$PASS" "$*"; }
step() { printf '\n== %s\n' "$*"; }

[[ $(id -u) -eq 0 ]] || fail "must run as root"
[[ -n ${E2E_BIN_DIR:-} ]] || fail "E2E_BIN_DIR is not set (the directory with the built binaries, e.g. target/debug)"
E2E_BIN_DIR=$(cd "$E2E_BIN_DIR" && pwd -P) || fail "E2E_BIN_DIR does not exist"
export E2E_BIN_DIR
for b in dynamigctl dynamig-runc dynamig-hook containerd-shim-dynamig-v2; do
    [[ -x $E2E_BIN_DIR/$b ]] || fail "$E2E_BIN_DIR/$b missing; run: cargo build --workspace"
done

bash "$HERE/lib/install-deps.sh" >/dev/null || fail "tests/e2e/lib/install-deps.sh failed"
command -v jq >/dev/null || fail "jq missing (install-deps.sh installs it)"

# shellcheck source-path=SCRIPTDIR source=env.sh
source "$HERE/lib/env.sh"

# Helpers the scripts share.
dctl() { "$E2E_BIN_DIR/dynamigctl" "$@"; }
status_json() { dctl status --json; }
n_instances() { status_json | jq '[.gpus[].instances[]] | length'; }
ended_state() { status_json | jq -r --arg id "$1" '.ended[] | select(.id == $id) | .state'; }
bundle_of() { printf '%s/io.containerd.runtime.v2.task/%s/%s' "$E2E_CONTAINERD_STATE" "$E2E_NS" "$1"; }
task_status() { e2e_ctr task ls | awk -v id="$1" '$1 == id {print $3}'; }
wait_for() { # SECONDS CMD... : poll until CMD succeeds
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
remove_task() { # ID: SIGKILL, wait until it is not running, remove task and container
    local i
    e2e_ctr task kill -s SIGKILL "$1" >/dev/null 2>&1 || true
    for ((i = 0; i < 100; i++)); do
        [[ $(task_status "$1") == RUNNING ]] || break
        sleep 0.1
    done
    e2e_ctr task rm -f "$1" >/dev/null 2>&1 || true
    e2e_ctr container rm "$1" >/dev/null 2>&1 || true
}
# After a preempting request, with containers that leave a marker in $MARKS on SIGTERM: exactly one
# container got SIGTERM, its task is STOPPED, status shows it `preempted` and holding no
# instance. Sets VICTIM. Needs the script's inst_of.
expect_one_victim() {
    local found
    : "${MARKS:?the script sets MARKS}"
    wait_for 15 bash -c "[[ \$(ls '$MARKS' | wc -l) -ge 1 ]]" || fail "no victim received SIGTERM"
    sleep 1
    found=$(ls "$MARKS")
    [[ $(wc -w <<<"$found") -eq 1 ]] || fail "victims: [$found], want exactly one"
    VICTIM=$found
    wait_for 10 bash -c "[[ \$(ctr --address '$E2E_CONTAINERD_SOCK' -n '$E2E_NS' task ls | awk '\$1 == \"$VICTIM\" {print \$3}') == STOPPED ]]" ||
        fail "victim $VICTIM is not stopped"
    [[ $(ended_state "$VICTIM") == preempted ]] || fail "status does not show $VICTIM preempted: $(status_json | jq -c .ended)"
    [[ -z $(inst_of "$VICTIM") ]] || fail "$VICTIM still holds an instance"
}
