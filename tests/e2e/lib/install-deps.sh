#!/usr/bin/env bash
# Idempotently install the Debian packages the dynamig e2e tests need:
#   containerd, runc, docker.io, busybox-static, hyperfine, jq (+ tini, a docker.io dependency used as subreaper),
#   gpgv, gnupg and debian-archive-keyring (lib/debs.sh verifies what it downloads; debs-verify.sh
#   signs a forged index), binutils (nm, for nvidia-real.sh)
# Only missing packages are installed; `apt-get update` runs once, and only
# when something is missing. Package maintainer scripts are prevented from
# starting system daemons (a temporary policy-rc.d that denies everything);
# our tests always run their own private containerd/dockerd (see env.sh).
set -euo pipefail

PKGS=(containerd runc docker.io busybox-static hyperfine tini jq gpgv gnupg debian-archive-keyring binutils)

log() { printf '[install-deps] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root"; exit 1
fi

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for p in "${PKGS[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
    log "missing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep postinst scripts from starting containerd/docker (invoke-rc.d honours
    # policy-rc.d exit code 101 = "action forbidden").
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    cleanup_policy() { if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup_policy EXIT
    # Some configured third-party repos may be unreachable; that's not fatal as
    # long as the Debian mirrors answer.
    apt-get update -q || log "warning: apt-get update reported errors (continuing)"
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
    cleanup_policy
    trap - EXIT
else
    log "all packages already installed: ${PKGS[*]}"
fi

# A package postinst (or an earlier run) may have left system daemons behind.
# They would not use our sockets, but stop them anyway so they can't hold
# /run/containerd, /var/run/docker.sock or cgroups/mounts that confuse tests.
for svc in docker containerd; do
    if [[ -x /etc/init.d/$svc ]] && /etc/init.d/$svc status >/dev/null 2>&1; then
        log "stopping system $svc service started by package install"
        /etc/init.d/$svc stop >/dev/null 2>&1 || true
    fi
done

# Debian binaries (never /usr/local/bin/docker, which may be a different
# standalone client version).
for b in /usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/sbin/dockerd /usr/bin/docker /bin/busybox /usr/bin/hyperfine /usr/bin/tini /usr/bin/jq; do
    [[ -x $b ]] || { log "expected binary $b not found"; exit 1; }
done

echo "containerd: $(/usr/bin/containerd --version)"
echo "ctr:        $(/usr/bin/ctr --version)"
echo "runc:       $(/usr/sbin/runc --version | tr '\n' ' ')"
echo "dockerd:    $(/usr/sbin/dockerd --version)"
echo "docker cli: $(/usr/bin/docker --version)"
echo "busybox:    $(/bin/busybox | head -1)"
echo "hyperfine:  $(/usr/bin/hyperfine --version)"
if [[ -x /usr/local/bin/docker ]]; then
    echo "note: /usr/local/bin/docker is $(/usr/local/bin/docker --version 2>/dev/null || echo '?'); e2e scripts use /usr/bin/docker"
fi
