#!/usr/bin/env bash
# The seed walkthrough through real containerd: `bash demo.sh` execs this as root.
#
# A private containerd (Debian's 1.6, its own socket and state under a temp dir), a simulated
# A100-SXM4-40GB, and four busybox containers started with
#   ctr run -d --runtime io.containerd.dynamig.v2 --annotation dynamig.io/... IMAGE ID CMD
# mig1 asks for 10GB, mig2 and mig3 for a 2g.10gb (all `training`, preemptible); then mig1-int
# asks for 20G at `interactive` priority: exactly one training container gets SIGTERM, and
# mig1-int gets a 3g.20gb. Each step shows the ctr command line, what the container sees inside
# (its /dev/nvidia-caps nodes and NVIDIA_VISIBLE_DEVICES) and `dynamigctl status`.
#
# It builds the four binaries (debug), installs the Debian packages it needs when missing
# (tests/e2e/lib/install-deps.sh), stops its daemons and removes its temp dir at the end. Where
# containerd cannot be installed or started, it says so in one line and runs the
# dynamigctl-only demo instead (demo.sh with DYNAMIG_DEMO_CTL_ONLY=1).
#
# Env: DEMO_KEEP=1 keeps the temp dir (state, logs); DEMO_BIN_DIR uses prebuilt binaries.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

# Bold on a terminal; plain text into a pipe or a log.
if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
bold() { printf '\n%s%s%s\n' "$B" "$*" "$N"; }
say() { printf '%s$ %s%s\n' "$B" "$*" "$N"; }
die() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }

# Where the containerd part cannot run: one line, then the dynamigctl-only demo.
fallback() {
    if declare -F e2e_cleanup >/dev/null; then e2e_cleanup >/dev/null 2>&1 || true; fi
    trap - EXIT
    export DYNAMIG_DEMO_CTL_ONLY=1 DYNAMIG_DEMO_NOTE="(containerd demo not possible here: $*; running the dynamigctl-only demo instead)"
    unset DYNAMIG_STATE_DIR
    exec bash "$ROOT/demo.sh"
}

[[ $(id -u) -eq 0 ]] || fallback "needs root"

if [[ -n ${DEMO_BIN_DIR:-} ]]; then
    BIN=$(cd "$DEMO_BIN_DIR" && pwd -P)
else
    echo "building dynamigctl, dynamig-runc, dynamig-hook, containerd-shim-dynamig-v2 (cargo build) ..."
    cargo build -q -p dynamigctl -p dynamig-hook -p dynamig-shim --bins || die "cargo build failed"
    BIN=$ROOT/target/debug
fi
for b in dynamigctl dynamig-runc dynamig-hook containerd-shim-dynamig-v2; do
    [[ -x $BIN/$b ]] || die "$BIN/$b missing"
done

deps_log=$(mktemp /tmp/dynamig-demo-deps.XXXXXX)
if ! bash tests/e2e/lib/install-deps.sh >"$deps_log" 2>&1; then
    reason="cannot install containerd/runc/busybox-static ($(tail -n 1 "$deps_log"))"
    rm -f "$deps_log"
    fallback "$reason"
fi
rm -f "$deps_log"

export E2E_BIN_DIR=$BIN E2E_NS=dynamig-demo E2E_RUNTIMES=dynamig=io.containerd.dynamig.v2
# shellcheck source-path=SCRIPTDIR source=lib/env.sh
source "$ROOT/tests/e2e/lib/env.sh"
WORKDIR=$(mktemp -d /tmp/dynamig-demo.XXXXXX)
if [[ ${DEMO_KEEP:-0} == 1 ]]; then export E2E_KEEP_WORKDIR=1; fi
export E2E_WORKDIR_OWNED=1
# containerd hands its environment to the shims it starts, and they to runc (dynamig-runc).
export DYNAMIG_STATE_DIR=$WORKDIR/state DYNAMIG_BACKEND=sim
# The simulated A100 claims a driver of its own: a real node's CDI spec (/var/run/cdi) names
# the real driver and would be refused as stale, so the demo reads an empty spec directory.
mkdir -p "$WORKDIR/cdi"
export DYNAMIG_CDI_SPEC_DIRS=$WORKDIR/cdi
MARKS=$WORKDIR/marks
mkdir -p "$MARKS"
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

e2e_env_init "$WORKDIR" >"$WORKDIR/setup.log" 2>&1 || fallback "containerd setup failed ($(tail -n 1 "$WORKDIR/setup.log"))"
e2e_containerd_start >>"$WORKDIR/setup.log" 2>&1 || fallback "containerd did not start ($(grep -m1 -i 'level=fatal\|error' "$E2E_CONTAINERD_LOG" 2>/dev/null || echo "see its log"))"
e2e_image_import >>"$WORKDIR/setup.log" 2>&1 || fallback "cannot import the busybox image"

CTL=$BIN/dynamigctl
IMG=$E2E_IMAGE
# shellcheck disable=SC2016 # $ID expands inside the container
LOOP='trap "echo SIGTERM > /marks/$ID; exit 0" TERM; while true; do sleep 1; done'
# shellcheck disable=SC2016
INSIDE='ls /dev/nvidia-caps | tr "\n" " "; echo; tr "\0" "\n" </proc/1/environ | grep ^NVIDIA_VISIBLE_DEVICES='

ctl() { say "dynamigctl $*"; "$CTL" "$@"; }
# ID ANNOTATION...: start a container through the dynamig runtime, show the command line.
run_ctr() {
    local id=$1 ann=() a
    shift
    for a in "$@"; do ann+=(--annotation "$a"); done
    say "ctr run -d --runtime io.containerd.dynamig.v2 ${ann[*]} $IMG $id sh -c '<wait; exit 0 on SIGTERM>'"
    e2e_ctr run -d --runtime io.containerd.dynamig.v2 "${ann[@]}" --env "ID=$id" \
        --mount "type=bind,src=$MARKS,dst=/marks,options=rbind:rw" \
        "$IMG" "$id" sh -c "$LOOP" || die "ctr run $id failed"
}
inside() { # ID: what the container sees
    say "ctr task exec --exec-id look $1 sh -c 'ls /dev/nvidia-caps; grep NVIDIA_VISIBLE_DEVICES /proc/1/environ'"
    e2e_ctr task exec --exec-id "look-$RANDOM" "$1" sh -c "$INSIDE" | sed 's/^/    /' || die "exec in $1 failed"
}
holder_profile() { "$CTL" status --json | jq -r --arg id "$1" '.gpus[].instances[] | select(.holder.id == $id) | .profile'; }

bold "dynamig demo through real containerd $(containerd --version | awk '{print $3}') + runc $(runc --version | awk 'NR==1{print $3}')"
echo "Private containerd: socket $E2E_CONTAINERD_SOCK, namespace $E2E_NS; below, \`ctr\` stands for"
echo "\`ctr --address $E2E_CONTAINERD_SOCK -n $E2E_NS\`. dynamig state: $DYNAMIG_STATE_DIR."

bold "1. A simulated A100-SXM4-40GB, MIG enabled, no MIG devices yet"
ctl sim init a100-40gb >/dev/null
ctl status

bold "2. Three training containers: 10GB, 2g.10gb, 2g.10gb"
run_ctr mig1 dynamig.io/gpu-memory=10GB
echo "(10GB gets the smallest profile that fits: 1g.10gb, 14 SMs; a 2g.10gb has 28)"
inside mig1
run_ctr mig2 dynamig.io/mig-profile=2g.10gb
inside mig2
run_ctr mig3 dynamig.io/mig-profile=2g.10gb
inside mig3
ctl status

bold "3. An interactive container asks for 20G: a training container must make room"
run_ctr mig1-int dynamig.io/gpu-memory=20G dynamig.io/priority=interactive
inside mig1-int
for _ in $(seq 1 100); do
    [[ -n $(ls "$MARKS") ]] && break
    sleep 0.1
done
say "ctr task ls"
e2e_ctr task ls
ctl status
ctl events

# What the walkthrough promises, checked on what was just shown.
victims=$(ls "$MARKS")
[[ $(wc -w <<<"$victims") -eq 1 ]] || die "want exactly one preempted container, SIGTERM went to: [${victims//$'\n'/ }]"
[[ $(holder_profile mig1-int) == 3g.20gb ]] || die "mig1-int holds '$(holder_profile mig1-int)', want 3g.20gb"
[[ $("$CTL" status --json | jq -r --arg id "$victims" '.ended[] | select(.id == $id) | .state') == preempted ]] ||
    die "$victims is not listed as preempted"
kept=()
for id in mig1 mig2 mig3; do
    [[ $id == "$victims" ]] && continue
    [[ -n $(holder_profile "$id") ]] || die "$id lost its device"
    kept+=("$id")
done
bold "demo OK (containerd): mig1-int got a 3g.20gb; $victims was preempted (SIGTERM, exited 0); ${kept[*]} kept their devices"

bold "4. Clean up: remove the containers (their MIG devices are released), stop containerd"
for id in mig1-int mig1 mig2 mig3; do
    e2e_ctr task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
done
for id in mig1-int mig1 mig2 mig3; do
    for _ in $(seq 1 50); do
        [[ $(e2e_ctr task ls | awk -v id="$id" '$1 == id {print $3}') != RUNNING ]] && break
        sleep 0.1
    done
    e2e_ctr task rm -f "$id" >/dev/null 2>&1 || true
    e2e_ctr container rm "$id" >/dev/null 2>&1 || true
done
left=$("$CTL" status --json | jq '[.gpus[].instances[]] | length')
ctl status
[[ $left -eq 0 ]] || die "$left MIG instances left after the containers were removed"
e2e_cleanup >/dev/null 2>&1
trap - EXIT
echo "containerd stopped, ${WORKDIR} $([[ ${DEMO_KEEP:-0} == 1 ]] && echo kept || echo removed)"
