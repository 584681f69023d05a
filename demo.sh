#!/usr/bin/env bash
# The seed walkthrough ("Quickstart: Launch Workloads with NVIDIA Dynamic MIG") on a simulated
# A100-SXM4-40GB: three 10 GB slices, then an interactive 20 GB request that preempts exactly one.
set -euo pipefail
cd "$(dirname "$0")"
# As root, the same walkthrough through real containerd (it falls back here, with a one-line
# note, where containerd cannot be installed or started).
if [ -x tests/e2e/demo-containerd.sh ] && [ "$(id -u)" = 0 ] && [ "${DYNAMIG_DEMO_CTL_ONLY:-0}" != 1 ]; then
    exec bash tests/e2e/demo-containerd.sh
fi
cargo build -q -p dynamigctl --bin dynamigctl
CTL="$PWD/target/debug/dynamigctl"
export DYNAMIG_STATE_DIR="${DYNAMIG_STATE_DIR:-$(mktemp -d /tmp/dynamig-demo.XXXXXX)/state}"
export DYNAMIG_BACKEND=sim
# Commands in bold on a terminal; plain text into a pipe or a log.
if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s$ %s%s\n' "$B" "$*" "$N"; }
run() { say "$*"; "$@"; }
echo "${DYNAMIG_DEMO_NOTE:-(demo through dynamigctl only; the containerd version of this demo needs root)}"

run "$CTL" sim init a100-40gb
run "$CTL" status
run "$CTL" allocate mig1 --gpu-memory 10GB
echo "(10GB gets the smallest profile that fits: 1g.10gb, 14 SMs; a 2g.10gb has 28)"
run "$CTL" allocate mig2 --mig-profile 2g.10gb
run "$CTL" allocate mig3 --mig-profile 2g.10gb
run "$CTL" status
run "$CTL" plan --gpu-memory 20G --priority interactive
run "$CTL" allocate mig1-int --gpu-memory 20G --priority interactive
run "$CTL" status
run "$CTL" events
echo
echo "state left in $DYNAMIG_STATE_DIR"
