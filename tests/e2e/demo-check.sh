#!/usr/bin/env bash
# Checks README's demo command: runs `bash demo.sh` as CI would (root, DYNAMIG_E2E=1) and asserts
# on what it showed the user: it ran through real containerd (not the dynamigctl-only fallback),
# each container saw its own MIG device, the interactive container got a 3g.20gb, exactly one
# training container was preempted, and nothing was left allocated. Gated by DYNAMIG_E2E=1;
# with it set, a demo that cannot run through containerd is a failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "demo check skipped: DYNAMIG_E2E is not 1 (needs root and containerd)"
    exit 0
fi
fail() { printf '\nDEMO CHECK FAILED: %s\n' "$*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "must run as root"

log=$(mktemp /tmp/dynamig-demo-check.XXXXXX)
trap 'rm -f "$log"' EXIT
rc=0
bash "$ROOT/demo.sh" >"$log" 2>&1 || rc=$?
cat "$log"
((rc == 0)) || fail "bash demo.sh exited $rc"
! grep -q $'\x1b' "$log" || fail "the demo's log (not a terminal) has $(grep -c $'\x1b' "$log") line(s) with ANSI escapes"
grep -q '^(10GB gets the smallest profile that fits: 1g\.10gb' "$log" || fail "the demo does not say why 10GB got a 1g.10gb"
! grep -q 'containerd demo not possible here' "$log" || fail "demo.sh fell back to the dynamigctl-only demo: $(grep -m1 'not possible here' "$log")"
[[ $(grep -c '^\$ ctr run -d --runtime io.containerd.dynamig.v2 ' "$log") -eq 4 ]] || fail "demo did not show four ctr run commands through io.containerd.dynamig.v2"
[[ $(grep -cE '^    NVIDIA_VISIBLE_DEVICES=MIG-' "$log") -eq 4 ]] || fail "not every container showed NVIDIA_VISIBLE_DEVICES=MIG-<uuid>"
[[ $(grep -cE '^    nvidia-cap[0-9]+ nvidia-cap[0-9]+ $' "$log") -eq 4 ]] || fail "not every container showed its two /dev/nvidia-caps nodes"
# the status table after the interactive request (section 3)
after=$(sed -n '/^3\. An interactive container/,/^demo OK/p' "$log")
# (status's 80-column form: a device's ids, profile, memory, holder and state on its first line,
# its placement, SMs, priority and pid on the second)
grep -A1 -E '^\| +0 +[0-9]+ +[0-9]+ +[0-9]+ \| 3g\.20gb +[0-9]+MiB \| ([a-z0-9._-]+/)?mig1-int +active +\|$' <<<"$after" |
    grep -qE '^\| +\| [0-9]+:4 +42 \| interactive ' || fail "status after step 3 does not show mig1-int on a 3g.20gb"
[[ $(grep -cE '^\|.* preempted ' <<<"$after") -eq 1 ]] || fail "status after step 3 does not show exactly one preempted container"
[[ $(grep -cE '^\|.* active +\|$' <<<"$after") -eq 3 ]] || fail "status after step 3 does not show three active devices"
awk 'length > 80 { bad = 1 } END { exit bad }' <(grep -E '^[|+]' "$log") || fail "a status line is wider than 80 columns"
[[ $(grep -cE '^[0-9][0-9T:.Z-]+ +preempted ' <<<"$after") -eq 1 ]] || fail "events do not show exactly one preemption"
grep -q '^demo OK (containerd): mig1-int got a 3g.20gb' "$log" || fail "demo did not report success"
grep -q 'No MIG devices found' <<<"$(sed -n '/^4\. Clean up/,$p' "$log")" || fail "MIG devices left after the demo's clean-up"
echo "demo check OK: demo.sh ran through containerd, mig1-int got a 3g.20gb, exactly one container preempted, all released"
