#!/usr/bin/env bash
# Smoke test of the e2e environment (no dynamig binaries needed):
#  - private containerd, busybox image import, `ctr run` with plain runc
#  - `ctr run` through a runc wrapper (--runc-binary == runc options BinaryName)
#  - private dockerd with --add-runtime dynamig=<wrapper>, `docker run --runtime dynamig`
#  - error text surfaced by ctr/docker when the runtime binary fails `create`
#    (stderr only vs. JSON line in runc's --log file)
# Usage: bash tests/e2e/lib/smoke.sh   (root; E2E_KEEP_WORKDIR=1 keeps the temp dir)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$HERE/env.sh"

fail() { printf '\nSMOKE FAILED: %s\n' "$*" >&2; exit 1; }
step() { # step LABEL CMD... ; dies on failure
    local label=$1; shift
    e2e_time "$label" "$@" || fail "$label (command: $*)"
}

[[ $(id -u) -eq 0 ]] || fail "must run as root"
for b in "$E2E_CONTAINERD_BIN" "$E2E_CTR_BIN" "$E2E_RUNC_BIN" "$E2E_DOCKERD_BIN" "$E2E_DOCKER_BIN" "$E2E_BUSYBOX_BIN"; do
    [[ -x $b ]] || fail "$b missing; run: bash $HERE/install-deps.sh"
done

WORKDIR=$(mktemp -d /tmp/dynamig-e2e-smoke.XXXXXX)
export E2E_WORKDIR_OWNED=1
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# --- runtime wrappers -------------------------------------------------------
WRAP_DIR=$WORKDIR/wrappers
mkdir -p "$WRAP_DIR"
WRAP_LOG=$WORKDIR/wrapper-argv.log
WRAP_OK=$WRAP_DIR/runc-logging
WRAP_FAIL_STDERR=$WRAP_DIR/runc-fail-stderr
WRAP_FAIL_LOGJSON=$WRAP_DIR/runc-fail-logjson

cat >"$WRAP_OK" <<EOF
#!/bin/sh
# logs argv, then behaves exactly like runc
echo "\$*" >> "$WRAP_LOG"
exec $E2E_RUNC_BIN "\$@"
EOF
cat >"$WRAP_FAIL_STDERR" <<EOF
#!/bin/sh
# on create: message on stderr only, exit 1
for a in "\$@"; do
  if [ "\$a" = create ]; then echo "dynamig: failure printed on stderr" >&2; exit 1; fi
done
exec $E2E_RUNC_BIN "\$@"
EOF
cat >"$WRAP_FAIL_LOGJSON" <<EOF
#!/bin/sh
# on create: runc-style JSON error line into the --log file, exit 1
log=; prev=
for a in "\$@"; do [ "\$prev" = --log ] && log=\$a; prev=\$a; done
for a in "\$@"; do
  if [ "\$a" = create ]; then
    [ -n "\$log" ] && printf '{"level":"error","msg":"dynamig: bad annotation X","time":"%s"}\n' "\$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "\$log"
    exit 1
  fi
done
exec $E2E_RUNC_BIN "\$@"
EOF
chmod 0755 "$WRAP_OK" "$WRAP_FAIL_STDERR" "$WRAP_FAIL_LOGJSON"

# stand-in for the real shim: the runc v2 shim under the dynamig name, proving
# that runtime type io.containerd.dynamig.v2 resolves to
# containerd-shim-dynamig-v2 on the PATH built from $E2E_BIN_DIR
export E2E_BIN_DIR=$WORKDIR/bin
mkdir -p "$E2E_BIN_DIR"
ln -s /usr/bin/containerd-shim-runc-v2 "$E2E_BIN_DIR/containerd-shim-dynamig-v2"

export E2E_DYNAMIG_RUNC=$WRAP_OK
step "env init" e2e_env_init "$WORKDIR" \
    "dynamig=io.containerd.dynamig.v2" \
    "dynamig-runc=io.containerd.runc.v2:$WRAP_OK" \
    "fail-stderr=io.containerd.runc.v2:$WRAP_FAIL_STDERR" \
    "fail-logjson=io.containerd.runc.v2:$WRAP_FAIL_LOGJSON"

# --- containerd ---------------------------------------------------------------
step "containerd start" e2e_containerd_start
step "image import (containerd)" e2e_image_import

out=$(e2e_time "ctr run (io.containerd.runc.v2)" \
    e2e_ctr run --rm --runtime io.containerd.runc.v2 "$E2E_IMAGE" smoke-plain echo hello) ||
    fail "ctr run with plain runc failed: $out"
[[ $out == hello ]] || fail "ctr run printed '$out', expected 'hello'"

: >"$WRAP_LOG"
# shellcheck disable=SC2046
out=$(e2e_time "ctr run (runc.v2 + --runc-binary wrapper)" \
    e2e_ctr run --rm $(e2e_runtime_flags dynamig-runc) "$E2E_IMAGE" smoke-wrapped echo hello-wrapped) ||
    fail "ctr run via wrapper failed: $out"
[[ $out == hello-wrapped ]] || fail "ctr run via wrapper printed '$out'"
grep -Eq '(^| )create( |$)' "$WRAP_LOG" || fail "wrapper did not see 'create' (log: $(cat "$WRAP_LOG"))"
grep -q "io.containerd.runtime.v2.task/$E2E_NS/smoke-wrapped" "$WRAP_LOG" ||
    fail "wrapper log lacks the containerd bundle path"

# shellcheck disable=SC2046
out=$(e2e_time "ctr run (io.containerd.dynamig.v2 via E2E_BIN_DIR)" \
    e2e_ctr run --rm $(e2e_runtime_flags dynamig) "$E2E_IMAGE" smoke-shim echo hello-shim) ||
    fail "ctr run --runtime io.containerd.dynamig.v2 failed: $out"
[[ $out == hello-shim ]] || fail "ctr run via dynamig shim name printed '$out'"

# error text when the runtime binary fails `create`
ctr_err() { # NAME ID EXPECTED_SUBSTRING
    local o rc=0
    # shellcheck disable=SC2046
    o=$(e2e_ctr run --rm $(e2e_runtime_flags "$1") "$E2E_IMAGE" "$2" echo x 2>&1) || rc=$?
    ((rc != 0)) || fail "ctr run with runtime $1 unexpectedly succeeded"
    printf '  ctr run via %-13s rc=%d: %s\n' "$1" "$rc" "$o" >&2
    [[ $o == *"$3"* ]] || fail "ctr error for $1 lacks '$3'"
}
step "ctr run, create fails (stderr)" ctr_err fail-stderr smoke-fail-stderr "did not terminate successfully: exit status 1"
step "ctr run, create fails (log json)" ctr_err fail-logjson smoke-fail-logjson "OCI runtime create failed: dynamig: bad annotation X"

# --- docker -------------------------------------------------------------------
export E2E_DOCKERD_ARGS="--add-runtime fail-stderr=$WRAP_FAIL_STDERR --add-runtime fail-logjson=$WRAP_FAIL_LOGJSON"
step "dockerd start" e2e_dockerd_start
e2e_docker info --format '{{json .Runtimes}}' | grep -q "\"path\":\"$WRAP_OK\"" ||
    fail "dockerd does not list runtime dynamig=$WRAP_OK"
step "image import (docker import)" e2e_docker_image_import

: >"$WRAP_LOG"
out=$(e2e_time "docker run --runtime dynamig" \
    e2e_docker run --rm --network none --runtime dynamig "$E2E_DOCKER_IMAGE" echo hi) ||
    fail "docker run --runtime dynamig failed: $out"
[[ $out == hi ]] || fail "docker run printed '$out', expected 'hi'"
grep -Eq '(^| )create( |$)' "$WRAP_LOG" || fail "wrapper did not see 'create' from docker (log: $(cat "$WRAP_LOG"))"
grep -q -- "--root $E2E_DOCKER_EXEC/runtime-" "$WRAP_LOG" || fail "wrapper argv does not come from our dockerd"

docker_err() { # RUNTIME EXPECTED_SUBSTRING
    local o rc=0
    o=$(e2e_docker run --rm --network none --runtime "$1" "$E2E_DOCKER_IMAGE" echo x 2>&1) || rc=$?
    ((rc != 0)) || fail "docker run with runtime $1 unexpectedly succeeded"
    printf '  docker run via %-13s rc=%d: %s\n' "$1" "$rc" "$o" >&2
    [[ $o == *"$2"* ]] || fail "docker error for $1 lacks '$2'"
}
step "docker run, create fails (stderr)" docker_err fail-stderr "did not terminate successfully: exit status 1"
step "docker run, create fails (log json)" docker_err fail-logjson "OCI runtime create failed: dynamig: bad annotation X"

# --- teardown -----------------------------------------------------------------
step "cleanup" e2e_cleanup
leftover=
for d in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    [[ $cmd == *"$WORKDIR"* ]] && leftover+=" ${d#/proc/}($cmd)"
done
[[ -z $leftover ]] || fail "processes left behind: $leftover"
! grep -qF -- "$WORKDIR" /proc/self/mountinfo || fail "mounts left behind under $WORKDIR"

echo "SMOKE OK"
