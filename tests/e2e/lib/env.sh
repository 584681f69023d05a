# shellcheck shell=bash
# dynamig e2e environment: private containerd + dockerd for tests.
#
# Usage (source it, don't execute it):
#   source tests/e2e/lib/env.sh
#   export E2E_BIN_DIR=/path/to/target/debug      # holds containerd-shim-dynamig-v2 etc.
#   export E2E_DYNAMIG_RUNC=/path/to/runc-wrapper # runtime for docker --add-runtime dynamig=
#   e2e_env_init "$(mktemp -d)"                    # [RUNTIME_SPEC...]
#   trap e2e_cleanup EXIT
#   e2e_containerd_start
#   e2e_image_import
#   e2e_ctr run --rm $(e2e_runtime_flags dynamig) "$E2E_IMAGE" c1 echo hi
#   e2e_dockerd_start; e2e_docker_image_import
#   e2e_docker run --rm --network none --runtime dynamig "$E2E_DOCKER_IMAGE" echo hi
#
# Only Debian's binaries are used (containerd/ctr/runc/dockerd from the
# containerd, runc, docker.io packages and the matching /usr/bin/docker client),
# never /usr/local/bin/docker. Run tests/e2e/lib/install-deps.sh first.
#
# Functions:
#   e2e_env_init WORKDIR [NAME=TYPE[:BINARY]...]   set variables, write config.toml
#   e2e_runtime_flags NAME                          ctr run flags selecting runtime NAME
#   e2e_containerd_start / e2e_containerd_stop
#   e2e_ctr ARGS...                                  ctr against the private containerd, ns $E2E_NS
#   e2e_image_build                                  busybox rootfs tar + docker-archive
#   e2e_image_import                                 import into private containerd as $E2E_IMAGE
#   e2e_dockerd_start / e2e_dockerd_stop
#   e2e_docker ARGS...                               Debian docker client against private dockerd
#   e2e_docker_image_import                          `docker import` as $E2E_DOCKER_IMAGE
#   e2e_umount_under DIR                             lazily unmount everything below DIR
#   e2e_cleanup                                      stop everything, unmount; idempotent
#   e2e_time LABEL CMD...                            run CMD, print its wall time
#
# Runtime specs (args of e2e_env_init, or the space-separated $E2E_RUNTIMES):
#   NAME=io.containerd.dynamig.v2            a shim runtime type (containerd resolves
#                                            it to containerd-shim-dynamig-v2 on PATH)
#   NAME=io.containerd.runc.v2:/path/to/bin  runc shim with BinaryName=/path/to/bin
# Defaults: dynamig=io.containerd.dynamig.v2, and dynamig-runc=io.containerd.runc.v2:$E2E_DYNAMIG_RUNC
# when E2E_DYNAMIG_RUNC is set.
# NOTE: in containerd 1.6, named runtimes in config.toml are only read by the CRI
# plugin. ctr/containerd-client callers select the runtime per container; use
# `e2e_runtime_flags NAME` to get the matching `--runtime ... [--runc-binary ...]`.
# The CRI section is written anyway and becomes live with E2E_CONTAINERD_CRI=1.

E2E_CONTAINERD_BIN=${E2E_CONTAINERD_BIN:-/usr/bin/containerd}
E2E_CTR_BIN=${E2E_CTR_BIN:-/usr/bin/ctr}
E2E_RUNC_BIN=${E2E_RUNC_BIN:-/usr/sbin/runc}
E2E_DOCKERD_BIN=${E2E_DOCKERD_BIN:-/usr/sbin/dockerd}
E2E_DOCKER_BIN=${E2E_DOCKER_BIN:-/usr/bin/docker}
E2E_BUSYBOX_BIN=${E2E_BUSYBOX_BIN:-/bin/busybox}
E2E_NS=${E2E_NS:-dynamig-e2e-$$}
E2E_IMAGE=${E2E_IMAGE:-docker.io/library/busybox-e2e:latest}
E2E_DOCKER_IMAGE=${E2E_DOCKER_IMAGE:-busybox-e2e:latest}

_e2e_log() { printf '[e2e %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
_e2e_die() { _e2e_log "ERROR: $*"; return 1; }

# PATH handed to the daemons (and so to shims and runc): our binaries first,
# then Debian's. /usr/local/* is deliberately left out.
_e2e_daemon_path() {
    local p=/usr/sbin:/usr/bin:/sbin:/bin
    # E2E_EXTRA_PATH: directories searched before Debian's (e.g. an extracted newer containerd,
    # whose containerd-shim-runc-v2 the wrapper rows must use), after our binaries
    if [[ -n ${E2E_EXTRA_PATH:-} ]]; then p="$E2E_EXTRA_PATH:$p"; fi
    if [[ -n ${E2E_BIN_DIR:-} ]]; then p="$E2E_BIN_DIR:$p"; fi
    printf '%s' "$p"
}

e2e_time() {
    local label=$1; shift
    local t0 t1 rc=0
    t0=$(date +%s%N)
    "$@" || rc=$?
    t1=$(date +%s%N)
    printf '[e2e time] %-45s %6d ms (rc=%d)\n' "$label" $(((t1 - t0) / 1000000)) "$rc" >&2
    return "$rc"
}

# ---------------------------------------------------------------- init

e2e_env_init() {
    local wd=${1:?usage: e2e_env_init WORKDIR [NAME=TYPE[:BINARY]...]}
    shift
    mkdir -p "$wd" || return 1
    E2E_WORKDIR=$(cd "$wd" && pwd -P) || return 1

    local b
    for b in "$E2E_CONTAINERD_BIN" "$E2E_CTR_BIN" "$E2E_RUNC_BIN"; do
        [[ -x $b ]] || { _e2e_die "$b missing; run tests/e2e/lib/install-deps.sh"; return 1; }
    done

    E2E_CONTAINERD_ROOT=$E2E_WORKDIR/containerd/root
    E2E_CONTAINERD_STATE=$E2E_WORKDIR/containerd/state
    E2E_CONTAINERD_CONFIG=$E2E_WORKDIR/containerd/config.toml
    E2E_CONTAINERD_LOG=$E2E_WORKDIR/containerd/containerd.log
    E2E_CONTAINERD_PIDFILE=$E2E_WORKDIR/containerd/containerd.pid
    E2E_CONTAINERD_SOCK=$E2E_WORKDIR/containerd.sock
    E2E_DOCKER_ROOT=$E2E_WORKDIR/docker/root
    E2E_DOCKER_EXEC=$E2E_WORKDIR/docker/exec
    E2E_DOCKER_PIDFILE=$E2E_WORKDIR/docker/dockerd.pid
    E2E_DOCKER_LOG=$E2E_WORKDIR/docker/dockerd.log
    E2E_DOCKER_CONFIG_FILE=$E2E_WORKDIR/docker/daemon.json
    E2E_DOCKER_CLIENT_CONFIG=$E2E_WORKDIR/docker/client
    E2E_DOCKER_SOCK=$E2E_WORKDIR/docker.sock
    E2E_IMAGE_DIR=$E2E_WORKDIR/image
    export E2E_WORKDIR E2E_NS E2E_IMAGE E2E_DOCKER_IMAGE \
        E2E_CONTAINERD_ROOT E2E_CONTAINERD_STATE E2E_CONTAINERD_CONFIG \
        E2E_CONTAINERD_LOG E2E_CONTAINERD_SOCK E2E_DOCKER_ROOT E2E_DOCKER_EXEC \
        E2E_DOCKER_LOG E2E_DOCKER_SOCK

    # unix socket paths are limited to 108 bytes; containerd adds ".ttrpc",
    # dockerd's managed containerd lives in exec-root/containerd/containerd.sock.ttrpc
    if (( ${#E2E_DOCKER_EXEC} + 34 > 107 || ${#E2E_CONTAINERD_SOCK} + 6 > 107 )); then
        _e2e_die "WORKDIR path too long for unix sockets: $E2E_WORKDIR"; return 1
    fi
    mkdir -p "$E2E_CONTAINERD_ROOT" "$E2E_CONTAINERD_STATE" "$E2E_DOCKER_ROOT" \
        "$E2E_DOCKER_EXEC" "$E2E_DOCKER_CLIENT_CONFIG" "$E2E_IMAGE_DIR" || return 1

    _e2e_pick_snapshotter || return 1
    export E2E_SNAPSHOTTER E2E_DOCKER_STORAGE_DRIVER

    # runtime registry: name -> "type[:binary]"
    declare -gA E2E_RUNTIME_MAP=()
    local specs=("$@")
    if ((${#specs[@]} == 0)); then
        if [[ -n ${E2E_RUNTIMES:-} ]]; then
            read -r -a specs <<<"$E2E_RUNTIMES"
        else
            specs=(dynamig=io.containerd.dynamig.v2)
            if [[ -n ${E2E_DYNAMIG_RUNC:-} ]]; then
                specs+=("dynamig-runc=io.containerd.runc.v2:$E2E_DYNAMIG_RUNC")
            fi
        fi
    fi
    local s
    for s in "${specs[@]}"; do
        [[ $s == *=io.containerd.*.v* ]] || { _e2e_die "bad runtime spec '$s' (want NAME=TYPE[:BINARY])"; return 1; }
        E2E_RUNTIME_MAP[${s%%=*}]=${s#*=}
    done

    _e2e_write_containerd_config || return 1
    _e2e_log "workdir=$E2E_WORKDIR snapshotter=$E2E_SNAPSHOTTER docker-storage=$E2E_DOCKER_STORAGE_DRIVER runtimes=[${specs[*]}]"
}

# overlayfs if the kernel can mount it on this filesystem, else native
# (e.g. WORKDIR on overlayfs/unsupported fs). Override with E2E_SNAPSHOTTER.
_e2e_pick_snapshotter() {
    if [[ -n ${E2E_SNAPSHOTTER:-} ]]; then
        E2E_DOCKER_STORAGE_DRIVER=${E2E_DOCKER_STORAGE_DRIVER:-$([[ $E2E_SNAPSHOTTER == overlayfs ]] && echo overlay2 || echo vfs)}
        return 0
    fi
    local t=$E2E_WORKDIR/.ovl-probe ok=0
    mkdir -p "$t"/{l1,l2,u,w,m} || return 1
    if mount -t overlay overlay -o "lowerdir=$t/l1:$t/l2,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
        touch "$t/m/x" 2>/dev/null && ok=1
        umount "$t/m"
    fi
    rm -rf "$t"
    if ((ok)); then
        E2E_SNAPSHOTTER=overlayfs; E2E_DOCKER_STORAGE_DRIVER=${E2E_DOCKER_STORAGE_DRIVER:-overlay2}
    else
        E2E_SNAPSHOTTER=native; E2E_DOCKER_STORAGE_DRIVER=${E2E_DOCKER_STORAGE_DRIVER:-vfs}
    fi
}

_e2e_toml_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

_e2e_write_containerd_config() {
    local disabled=(
        '"io.containerd.snapshotter.v1.aufs"'
        '"io.containerd.snapshotter.v1.btrfs"'
        '"io.containerd.snapshotter.v1.zfs"'
        '"io.containerd.snapshotter.v1.devmapper"'
        '"io.containerd.tracing.processor.v1.otlp"'
        '"io.containerd.internal.v1.tracing"'
    )
    [[ ${E2E_CONTAINERD_CRI:-0} == 1 ]] || disabled+=('"io.containerd.grpc.v1.cri"')
    local IFS=,
    {
        cat <<EOF
# generated by tests/e2e/lib/env.sh -- private containerd for dynamig e2e tests
version = 2
root = $(_e2e_toml_str "$E2E_CONTAINERD_ROOT")
state = $(_e2e_toml_str "$E2E_CONTAINERD_STATE")
disabled_plugins = [${disabled[*]}]

[grpc]
  address = $(_e2e_toml_str "$E2E_CONTAINERD_SOCK")

[ttrpc]
  address = $(_e2e_toml_str "$E2E_CONTAINERD_SOCK.ttrpc")

[debug]
  level = $(_e2e_toml_str "${E2E_CONTAINERD_LOG_LEVEL:-info}")

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = $(_e2e_toml_str "$E2E_CONTAINERD_ROOT/opt")

  # Only the CRI plugin reads named runtimes (enable with E2E_CONTAINERD_CRI=1);
  # ctr selects runtimes per container, see e2e_runtime_flags.
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = $(_e2e_toml_str "$E2E_SNAPSHOTTER")
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
EOF
        local name spec
        for name in "${!E2E_RUNTIME_MAP[@]}"; do
            spec=${E2E_RUNTIME_MAP[$name]}
            printf '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s]\n' "$(_e2e_toml_str "$name")"
            printf '    runtime_type = %s\n' "$(_e2e_toml_str "${spec%%:*}")"
            if [[ $spec == *:* ]]; then
                printf '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s.options]\n' "$(_e2e_toml_str "$name")"
                printf '    BinaryName = %s\n' "$(_e2e_toml_str "${spec#*:}")"
            fi
        done
    } >"$E2E_CONTAINERD_CONFIG"
}

# Print the ctr-run flags for a runtime registered in e2e_env_init, e.g.
#   e2e_ctr run --rm $(e2e_runtime_flags dynamig-runc) "$E2E_IMAGE" id cmd
# An unknown NAME that looks like a runtime type (io.containerd.X.vN) is passed through.
e2e_runtime_flags() {
    local name=${1:?usage: e2e_runtime_flags NAME} spec
    spec=${E2E_RUNTIME_MAP[$name]:-}
    if [[ -z $spec ]]; then
        [[ $name == io.containerd.*.v* ]] || { _e2e_die "unknown runtime '$name'"; return 1; }
        spec=$name
    fi
    printf -- '--runtime %s' "${spec%%:*}"
    if [[ $spec == *:* ]]; then printf -- ' --runc-binary %s' "${spec#*:}"; fi
    if [[ -n ${E2E_RUNC_ROOT:-} && ${spec%%:*} == io.containerd.runc.v2 ]]; then
        printf -- ' --runc-root %s' "$E2E_RUNC_ROOT"
    fi
    printf '\n'
}

# ---------------------------------------------------------------- process helpers

_e2e_alive() { # PID -> 0 if running (zombies count as dead)
    local st
    [[ -n ${1:-} ]] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# _e2e_stop_pid PID [TIMEOUT_S]: SIGTERM, wait, then SIGKILL
_e2e_stop_pid() {
    local pid=$1 timeout=${2:-15} i
    _e2e_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 10; i++)); do
        _e2e_alive "$pid" || break
        sleep 0.1
    done
    if _e2e_alive "$pid"; then
        _e2e_log "pid $pid did not exit after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do _e2e_alive "$pid" || break; sleep 0.1; done
    fi
    wait "$pid" 2>/dev/null
    return 0
}

# PIDs of containerd/shim/runc processes whose command line contains STRING
# (shims started by our daemons carry our private socket path, which is unique).
_e2e_pids_with_arg() {
    local needle=$1 d cmd comm
    for d in /proc/[0-9]*; do
        read -r comm 2>/dev/null <"$d/comm" || continue
        [[ $comm == containerd* || $comm == runc || $comm == dockerd ]] || continue
        cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
        [[ $cmd == *"$needle"* ]] && printf '%s\n' "${d#/proc/}"
    done
    return 0 # none found is an empty list, not a failure (callers run under set -e / pipefail)
}

_e2e_kill_shims() { # SOCKET_PATH
    local pid pids
    pids=$(_e2e_pids_with_arg "$1") || true
    [[ -n $pids ]] || return 0
    for pid in $pids; do
        _e2e_log "killing leftover shim pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120))"
        _e2e_stop_pid "$pid" 5
    done
}

# Run a daemon under `tini -s` (child subreaper) when available: shims
# daemonize and get orphaned; without a subreaper they are re-parented to PID 1,
# which (in some sandboxes) reaps them only lazily. tini forwards SIGTERM to the
# daemon and exits with it. Disable with E2E_SUBREAPER=0.
_e2e_subreaper() {
    if [[ ${E2E_SUBREAPER:-1} == 1 ]] && command -v tini >/dev/null 2>&1; then
        exec tini -s -- "$@"
    fi
    exec "$@"
}

# ---------------------------------------------------------------- containerd

e2e_ctr() {
    CONTAINERD_SNAPSHOTTER=$E2E_SNAPSHOTTER \
        "$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" -n "$E2E_NS" "$@"
}

e2e_containerd_start() {
    [[ -n ${E2E_WORKDIR:-} ]] || { _e2e_die "call e2e_env_init first"; return 1; }
    if _e2e_alive "${E2E_CONTAINERD_PID:-}"; then
        _e2e_log "containerd already running (pid $E2E_CONTAINERD_PID)"; return 0
    fi
    : >>"$E2E_CONTAINERD_LOG"
    PATH=$(_e2e_daemon_path) _e2e_subreaper "$E2E_CONTAINERD_BIN" --config "$E2E_CONTAINERD_CONFIG" \
        >>"$E2E_CONTAINERD_LOG" 2>&1 </dev/null &
    E2E_CONTAINERD_PID=$!
    echo "$E2E_CONTAINERD_PID" >"$E2E_CONTAINERD_PIDFILE"
    local i
    for ((i = 0; i < 300; i++)); do
        if "$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" version >/dev/null 2>&1; then
            _e2e_log "containerd up (pid $E2E_CONTAINERD_PID, sock $E2E_CONTAINERD_SOCK, log $E2E_CONTAINERD_LOG)"
            return 0
        fi
        if ! _e2e_alive "$E2E_CONTAINERD_PID"; then
            wait "$E2E_CONTAINERD_PID" 2>/dev/null
            _e2e_log "containerd exited during startup; log tail:"
            tail -n 30 "$E2E_CONTAINERD_LOG" >&2
            E2E_CONTAINERD_PID=
            return 1
        fi
        sleep 0.1
    done
    _e2e_log "containerd did not answer within 30s; log tail:"
    tail -n 30 "$E2E_CONTAINERD_LOG" >&2
    e2e_containerd_stop
    return 1
}

e2e_containerd_stop() {
    [[ -n ${E2E_WORKDIR:-} ]] || return 0
    local pid=${E2E_CONTAINERD_PID:-}
    [[ -z $pid && -f ${E2E_CONTAINERD_PIDFILE:-} ]] && pid=$(<"$E2E_CONTAINERD_PIDFILE")
    if _e2e_alive "$pid" && [[ -S $E2E_CONTAINERD_SOCK ]]; then
        # kill + delete every task so the shims exit cleanly
        local ns t
        for ns in $("$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" namespaces ls -q 2>/dev/null); do
            for t in $("$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
                timeout 10 "$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" -n "$ns" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1
                timeout 10 "$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" -n "$ns" tasks delete -f "$t" >/dev/null 2>&1
            done
        done
    fi
    if [[ -n $pid ]]; then _e2e_stop_pid "$pid" 15; fi
    E2E_CONTAINERD_PID=
    rm -f "$E2E_CONTAINERD_PIDFILE"
    _e2e_kill_shims "$E2E_CONTAINERD_SOCK"
    return 0
}

# ---------------------------------------------------------------- image

# Build $E2E_IMAGE_DIR/rootfs.tar (busybox-static + applet symlinks, + what the function named
# by E2E_IMAGE_EXTRA adds to the rootfs) and $E2E_IMAGE_DIR/image.tar (docker-archive format,
# importable by ctr).
e2e_image_build() {
    [[ -n ${E2E_WORKDIR:-} ]] || { _e2e_die "call e2e_env_init first"; return 1; }
    [[ -f $E2E_IMAGE_DIR/image.tar ]] && return 0
    [[ -x $E2E_BUSYBOX_BIN ]] || { _e2e_die "$E2E_BUSYBOX_BIN missing (busybox-static)"; return 1; }
    local d=$E2E_IMAGE_DIR r=$E2E_IMAGE_DIR/rootfs a
    rm -rf "$r" "$d/archive"
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,root,var/tmp,run} "$d/archive" || return 1
    chmod 1777 "$r/tmp" "$r/var/tmp"
    cp "$E2E_BUSYBOX_BIN" "$r/bin/busybox" || return 1
    for a in $("$r/bin/busybox" --list-full); do
        [[ -e $r/$a || -L $r/$a ]] || ln -s /bin/busybox "$r/$a"
    done
    [[ -L $r/bin/sh ]] || ln -s busybox "$r/bin/sh"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    : >"$r/etc/hosts"; : >"$r/etc/resolv.conf"
    # a caller's additions (e.g. a glibc for dynamically linked tools): E2E_IMAGE_EXTRA ROOTFS
    if [[ -n ${E2E_IMAGE_EXTRA:-} ]]; then "$E2E_IMAGE_EXTRA" "$r" || return 1; fi
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        -C "$r" -cf "$d/rootfs.tar" . || return 1

    local diff_id cfg cfg_id arch
    diff_id=$(sha256sum "$d/rootfs.tar" | cut -d' ' -f1)
    case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
    cfg=$(printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"dynamig e2e busybox-static rootfs"}]}' "$arch" "$diff_id")
    cfg_id=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
    printf '%s' "$cfg" >"$d/archive/$cfg_id.json"
    mkdir -p "$d/archive/$diff_id"
    ln "$d/rootfs.tar" "$d/archive/$diff_id/layer.tar" 2>/dev/null || cp "$d/rootfs.tar" "$d/archive/$diff_id/layer.tar"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
        "$cfg_id" "$E2E_IMAGE" "$diff_id" >"$d/archive/manifest.json"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        -C "$d/archive" -cf "$d/image.tar.tmp" . || return 1
    mv "$d/image.tar.tmp" "$d/image.tar"
    rm -rf "$d/archive" "$r"
}

e2e_image_import() {
    e2e_image_build || return 1
    e2e_ctr images import --snapshotter "$E2E_SNAPSHOTTER" "$E2E_IMAGE_DIR/image.tar" >/dev/null || {
        _e2e_die "ctr images import failed"; return 1; }
    e2e_ctr images ls -q | grep -qxF "$E2E_IMAGE" || { _e2e_die "image $E2E_IMAGE not present after import"; return 1; }
}

e2e_docker_image_import() {
    e2e_image_build || return 1
    e2e_docker import \
        --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["sh"]' \
        "$E2E_IMAGE_DIR/rootfs.tar" "$E2E_DOCKER_IMAGE" >/dev/null || {
        _e2e_die "docker import failed"; return 1; }
}

# ---------------------------------------------------------------- docker

e2e_docker() {
    env -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
        DOCKER_HOST="unix://$E2E_DOCKER_SOCK" DOCKER_CONFIG="$E2E_DOCKER_CLIENT_CONFIG" \
        "$E2E_DOCKER_BIN" "$@"
}

# Starts Debian's dockerd with its own data/exec root, socket, and a managed
# containerd under exec-root (set E2E_DOCKER_CONTAINERD=private to use our
# private containerd instead, namespace "moby-e2e"). Runtime "dynamig" points
# at $E2E_DYNAMIG_RUNC when set. Extra flags: $E2E_DOCKERD_ARGS.
e2e_dockerd_start() {
    [[ -n ${E2E_WORKDIR:-} ]] || { _e2e_die "call e2e_env_init first"; return 1; }
    [[ -x $E2E_DOCKERD_BIN && -x $E2E_DOCKER_BIN ]] || { _e2e_die "docker.io not installed"; return 1; }
    if _e2e_alive "${E2E_DOCKERD_PID:-}"; then
        _e2e_log "dockerd already running (pid $E2E_DOCKERD_PID)"; return 0
    fi
    # never read /etc/docker/daemon.json; E2E_DOCKER_DAEMON_JSON: a daemon.json to use instead of {}
    if [[ -n ${E2E_DOCKER_DAEMON_JSON:-} ]]; then
        cp "$E2E_DOCKER_DAEMON_JSON" "$E2E_DOCKER_CONFIG_FILE" || return 1
    else
        echo '{}' >"$E2E_DOCKER_CONFIG_FILE"
    fi
    local args=(
        --config-file "$E2E_DOCKER_CONFIG_FILE"
        --data-root "$E2E_DOCKER_ROOT"
        --exec-root "$E2E_DOCKER_EXEC"
        --pidfile "$E2E_DOCKER_PIDFILE"
        -H "unix://$E2E_DOCKER_SOCK"
        --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
        --bridge=none --userland-proxy=false
        --storage-driver "$E2E_DOCKER_STORAGE_DRIVER"
        --exec-opt native.cgroupdriver=cgroupfs
        --log-level "${E2E_DOCKERD_LOG_LEVEL:-info}"
    )
    if [[ -n ${E2E_DYNAMIG_RUNC:-} ]]; then args+=(--add-runtime "dynamig=$E2E_DYNAMIG_RUNC"); fi
    if [[ ${E2E_DOCKER_CONTAINERD:-managed} == private ]]; then
        _e2e_alive "${E2E_CONTAINERD_PID:-}" || { _e2e_die "E2E_DOCKER_CONTAINERD=private needs e2e_containerd_start first"; return 1; }
        args+=(--containerd "$E2E_CONTAINERD_SOCK" --containerd-namespace moby-e2e --containerd-plugins-namespace plugins.moby-e2e)
    fi
    # shellcheck disable=SC2206
    args+=(${E2E_DOCKERD_ARGS:-})
    : >>"$E2E_DOCKER_LOG"
    PATH=$(_e2e_daemon_path) _e2e_subreaper "$E2E_DOCKERD_BIN" "${args[@]}" >>"$E2E_DOCKER_LOG" 2>&1 </dev/null &
    E2E_DOCKERD_PID=$!
    local i
    for ((i = 0; i < 600; i++)); do
        if e2e_docker info >/dev/null 2>&1; then
            _e2e_log "dockerd up (pid $E2E_DOCKERD_PID, sock $E2E_DOCKER_SOCK, log $E2E_DOCKER_LOG)"
            return 0
        fi
        if ! _e2e_alive "$E2E_DOCKERD_PID"; then
            wait "$E2E_DOCKERD_PID" 2>/dev/null
            _e2e_log "dockerd exited during startup; log tail:"
            tail -n 30 "$E2E_DOCKER_LOG" >&2
            E2E_DOCKERD_PID=
            _e2e_kill_shims "$E2E_DOCKER_EXEC/"
            return 1
        fi
        sleep 0.1
    done
    _e2e_log "dockerd did not answer within 60s; log tail:"
    tail -n 30 "$E2E_DOCKER_LOG" >&2
    e2e_dockerd_stop
    return 1
}

e2e_dockerd_stop() {
    [[ -n ${E2E_WORKDIR:-} ]] || return 0
    local pid=${E2E_DOCKERD_PID:-}
    [[ -z $pid && -f ${E2E_DOCKER_PIDFILE:-} ]] && pid=$(<"$E2E_DOCKER_PIDFILE")
    if _e2e_alive "$pid" && [[ -S $E2E_DOCKER_SOCK ]]; then
        local ids
        ids=$(timeout 10 env DOCKER_HOST="unix://$E2E_DOCKER_SOCK" DOCKER_CONFIG="$E2E_DOCKER_CLIENT_CONFIG" \
            "$E2E_DOCKER_BIN" ps -aq 2>/dev/null) || true
        if [[ -n $ids ]]; then
            # shellcheck disable=SC2086
            timeout 30 env DOCKER_HOST="unix://$E2E_DOCKER_SOCK" DOCKER_CONFIG="$E2E_DOCKER_CLIENT_CONFIG" \
                "$E2E_DOCKER_BIN" rm -f $ids >/dev/null 2>&1 || true
        fi
    fi
    # dockerd stops its managed containerd on SIGTERM
    if [[ -n $pid ]]; then _e2e_stop_pid "$pid" 20; fi
    E2E_DOCKERD_PID=
    # anything still referencing our exec-root: managed containerd, its shims
    local p
    for p in $(_e2e_pids_with_arg "$E2E_DOCKER_EXEC/"); do
        _e2e_log "killing leftover docker process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120))"
        _e2e_stop_pid "$p" 5
    done
    return 0
}

# ---------------------------------------------------------------- cleanup

# Lazily unmount every mount point at or below DIR, deepest first.
e2e_umount_under() {
    local dir=${1:?} mp
    dir=$(cd "$dir" 2>/dev/null && pwd -P) || return 0
    local i
    for ((i = 0; i < 5; i++)); do
        local mps=()
        while IFS= read -r mp; do
            mp=$(printf '%b' "${mp//\\/\\0}") # decode \040 etc. (%b wants \0NNN)
            [[ $mp == "$dir" || $mp == "$dir"/* ]] && mps+=("$mp")
        done < <(awk '{print $5}' /proc/self/mountinfo)
        ((${#mps[@]})) || return 0
        printf '%s\n' "${mps[@]}" | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2- |
            while IFS= read -r mp; do umount -l "$mp" 2>/dev/null || true; done
    done
    return 0
}

e2e_cleanup() {
    local rc=$?
    [[ -n ${E2E_WORKDIR:-} ]] || return "$rc"
    e2e_dockerd_stop
    e2e_containerd_stop
    e2e_umount_under "$E2E_WORKDIR"
    # runc.v2 shims default to runc --root /run/containerd/runc/<ns>; drop it if empty
    rmdir "/run/containerd/runc/$E2E_NS" 2>/dev/null || true
    if [[ ${E2E_KEEP_WORKDIR:-0} != 1 && ${E2E_WORKDIR_OWNED:-0} == 1 ]]; then
        rm -rf --one-file-system "$E2E_WORKDIR" 2>/dev/null || true
    fi
    return "$rc"
}
