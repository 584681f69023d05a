#!/usr/bin/env bash
# dynamig container path on newer engines than Debian 12 ships (issue #3): containerd 1.7
# (Debian trixie) and 2.x (sid), Docker 26 (trixie) and 28 (sid), a Kubernetes-style pod through
# CRI, and podman (Debian 12). tests/e2e/run.sh covers containerd 1.6 / Docker 20.10.
#
# The newer engines come from Debian's archive as .debs: downloaded once into a cache
# (E2E_DEB_CACHE, default /var/cache/dynamig-e2e), checked along Debian's signatures (the suite's
# InRelease by gpgv and the archive keyring, its Packages index, the .deb: tests/e2e/lib/debs.sh),
# extracted with dpkg-deb -x into the cache, never installed. Each runs as a
# private daemon (own socket, root, state) with our binaries first on its PATH.
#
# Per containerd version (1.6 = Debian 12's, 1.7, 2.x):
#   a. ctr run --runtime io.containerd.dynamig.v2 --annotation dynamig.io/gpu-memory=10GB:
#      the MIG device and NVIDIA_VISIBLE_DEVICES are inside; runc BinaryName=dynamig-runc too
#   b. a malformed annotation fails ctr run with one clear line, nothing allocated
#   c. removal releases the instance; the task API through the shim answers as through that
#      containerd's own runc.v2 shim (tests/e2e/lib/task_checks.sh)
#   d. CRI (what the kubelet does, through a small CRI client, tests/e2e/lib/cri.py, as Debian has
#      no crictl): runtime handler "dynamig" (runtime_type io.containerd.dynamig.v2,
#      pod_annotations ["dynamig.io/*"]), a host-network pod whose annotation asks for 10GB, a
#      locally imported sandbox image, TWO app containers: each gets its own MIG device, the
#      sandbox none (on 2.x both are created through the pod's one shim, never `shim start`);
#      removing the pod releases both
# Docker 26 and 28 (their dockerd managing containerd 1.7 / 2.x): --runtime dynamig with the
#   request as env and as --annotation; a bad request fails; docker rm -f releases; and
#   --runtime io.containerd.dynamig.v2 (Docker 23+ runs a containerd shim by its runtime type)
# podman (Debian 12's): --runtime dynamig-runc with a request; the hooks.d guard
#   (packaging/hooks.d/dynamig.json) refuses a request that bypasses the wrapper
#
# runc: Debian 12's 1.1.5 throughout (trixie's and sid's runc need glibc 2.38).
# CRI runs with restrict_oom_score_adj = true: CRI gives sandboxes oom_score_adj -998, and
# lowering it needs CAP_SYS_RESOURCE, which a containerized CI runner (like this project's)
# lacks; runc then fails with "can't get final child's PID from pipe". Unrelated to dynamig.
#
# Gated: runs only with DYNAMIG_E2E=1 (root); then anything that cannot run is a failure.
#   sudo DYNAMIG_E2E=1 E2E_BIN_DIR=$PWD/target/debug bash tests/e2e/versions.sh
# E2E_VERSIONS_ONLY="containerd-1.6 containerd-1.7 containerd-2 docker-26 docker-28 podman" picks
# pieces (containerd-1.6 is Debian 12's installed one, for its CRI path; run.sh covers the rest).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "e2e versions skipped: DYNAMIG_E2E is not 1"
    exit 0
fi

PASS=0
T0=$(date +%s)
fail() { printf '\nE2E VERSIONS FAILED: %s\n' "$*" >&2; exit 1; }
ok() { PASS=$((PASS + 1)); printf '[versions ok %2d] %s\n' "$PASS" "$*"; }
step() { printf '\n== %s (%ds)\n' "$*" $(($(date +%s) - T0)); }
want() { [[ -z ${E2E_VERSIONS_ONLY:-} || " $E2E_VERSIONS_ONLY " == *" $1 "* ]]; }

[[ $(id -u) -eq 0 ]] || fail "must run as root"
[[ -n ${E2E_BIN_DIR:-} ]] || fail "E2E_BIN_DIR is not set (the directory with the built binaries, e.g. target/debug)"
E2E_BIN_DIR=$(cd "$E2E_BIN_DIR" && pwd -P) || fail "E2E_BIN_DIR does not exist"
export E2E_BIN_DIR
for b in dynamigctl dynamig-runc dynamig-hook containerd-shim-dynamig-v2; do
    [[ -x $E2E_BIN_DIR/$b ]] || fail "$E2E_BIN_DIR/$b missing; run: cargo build --workspace"
done
bash "$HERE/lib/install-deps.sh" >/dev/null || fail "tests/e2e/lib/install-deps.sh failed"
for t in jq curl xz dpkg-deb python3; do command -v "$t" >/dev/null || fail "$t missing"; done

# A namespace of our own: runc.v2 shims keep runc's state in /run/containerd/runc/<namespace>,
# shared by every containerd on the host, so a fixed one collides with concurrent runs.
export E2E_NS=${E2E_NS:-dynamig-ver-$$}
# shellcheck source-path=SCRIPTDIR source=lib/env.sh
source "$HERE/lib/env.sh"
# shellcheck source-path=SCRIPTDIR source=lib/debs.sh
source "$HERE/lib/debs.sh"

TOP=$(mktemp -d /tmp/dyn-ver.XXXXXX)
export DYNAMIG_STATE_DIR=$TOP/state
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
export E2E_WORKDIR_OWNED=1
cleanup_all() {
    local rc=$?
    e2e_cleanup || true
    podman_cleanup || true
    # runc v2 shims default to runc --root /run/containerd/runc/<ns>; drop the CRI one if empty
    rmdir /run/containerd/runc/k8s.io 2>/dev/null || true
    if [[ ${E2E_KEEP_WORKDIR:-0} != 1 ]]; then rm -rf --one-file-system "$TOP" 2>/dev/null || true; fi
    return "$rc"
}
# shellcheck disable=SC2317 # defined for real in the podman section
podman_cleanup() { :; }
trap cleanup_all EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ the engines
step "fetch engines from Debian's archive (cache $E2E_DEB_CACHE)"
X=$E2E_DEB_CACHE/x
mkdir -p "$E2E_DEB_CACHE" || fail "cannot create $E2E_DEB_CACHE"
# one run at a time fills the shared cache (other worktrees / CI jobs may run this too)
exec 9>"$E2E_DEB_CACHE/.lock"
flock -w 900 9 || fail "another run holds $E2E_DEB_CACHE/.lock for over 15 minutes"
declare -A ROOTS=()
fetch() { # KEY SUITE PACKAGE
    local info
    info=$(deb_info "$2" "$3") || fail "no Packages index for $2"
    [[ -n $info ]] || fail "package $3 is not in Debian $2"
    local dir=$X/$3_${info%% *}
    deb_extract "$2" "$3" "$dir" || fail "cannot fetch/extract $3 from $2"
    ROOTS[$1]=$dir
    ok "$3 ${info%% *} ($2): signature and SHA256 checked, extracted to $dir"
}
want containerd-1.7 || want docker-26 && fetch containerd17 trixie containerd
want containerd-2 || want docker-28 && fetch containerd2 sid containerd
want docker-26 && { fetch dockerd26 trixie docker.io; fetch docker26 trixie docker-cli; }
want docker-28 && { fetch dockerd28 sid docker.io; fetch docker28 sid docker-cli; }

# the CRI client: grpcio in a venv in the cache, Python code generated from Debian's cri-api
CRI_GEN=
cri_setup() {
    [[ -n $CRI_GEN ]] && return 0
    fetch criapi sid golang-k8s-cri-api-dev
    local proto=${ROOTS[criapi]}/usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto
    [[ -f $proto ]] || fail "api.proto missing in golang-k8s-cri-api-dev"
    local venv=$E2E_DEB_CACHE/venv-cri
    if ! "$venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv" || fail "python3 -m venv failed (python3-venv missing?)"
        "$venv/bin/pip" install -q 'grpcio==1.85.*' 'grpcio-tools==1.85.*' || fail "pip install grpcio grpcio-tools failed"
    fi
    CRI_GEN=$E2E_DEB_CACHE/cri-gen-$(sha256sum "$proto" | cut -c1-12)
    if [[ ! -f $CRI_GEN/api_pb2_grpc.py ]]; then
        mkdir -p "$CRI_GEN.tmp"
        cp "$proto" "$CRI_GEN.tmp/api.proto"
        (cd "$CRI_GEN.tmp" && "$venv/bin/python" -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. api.proto) ||
            fail "protoc on api.proto failed"
        rm -rf "$CRI_GEN"; mv "$CRI_GEN.tmp" "$CRI_GEN"
    fi
    CRI_PY=$venv/bin/python
}
cri() { "$CRI_PY" "$HERE/lib/cri.py" --sock "$E2E_CONTAINERD_SOCK" --gen "$CRI_GEN" "$@"; }
if want containerd-1.6 || want containerd-1.7 || want containerd-2; then cri_setup; fi
exec 9>&- # the cache is filled; let other runs go

# ------------------------------------------------------------------ helpers
# shellcheck source-path=SCRIPTDIR source=lib/task_checks.sh
source "$HERE/lib/task_checks.sh"
command -v script >/dev/null || fail "script(1) (util-linux) is missing"
dctl() { "$E2E_BIN_DIR/dynamigctl" "$@"; }
status_json() { dctl status --json; }
inst_of() {
    status_json | jq -r --arg id "$1" \
        '.gpus[].instances[] | select(.holder.id == $id) | "\(.uuid) \(.profile) \(.placement.start) \(.placement.size)"'
}
n_instances() { status_json | jq '[.gpus[].instances[]] | length'; }
holders() { status_json | jq -r '[.gpus[].instances[].holder.id] | sort | join(" ")'; }
wait_for() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}
# $1: a label; stdin: the container's `ls /dev/nvidia-caps` then its environment, one per line
check_inside() { # LABEL HOLDER CAPS ENV
    local label=$1 id=$2 caps=$3 env=$4 inst uuid
    inst=$(inst_of "$id")
    [[ -n $inst ]] || fail "$label: holder $id has no instance in dynamigctl status"
    uuid=${inst%% *}
    [[ $(wc -w <<<"$caps") -eq 2 ]] || fail "$label sees /dev/nvidia-caps = [$caps], want 2 nodes"
    grep -qx "NVIDIA_VISIBLE_DEVICES=$uuid" <<<"$env" || fail "$label: NVIDIA_VISIBLE_DEVICES is not $uuid; env: $(tr "\n" " " <<<"$env")"
    grep -qx "CUDA_VISIBLE_DEVICES=$uuid" <<<"$env" || fail "$label: CUDA_VISIBLE_DEVICES is not $uuid"
    ok "$label: $inst; sees caps [$(tr '\n' ' ' <<<"$caps")] and NVIDIA_VISIBLE_DEVICES=$uuid"
}

# An image whose entrypoint sleeps until SIGTERM: the pod sandbox ("pause") and app image.
# shellcheck disable=SC2016
SLEEPER='trap "exit 0" TERM INT; while :; do sleep 3600 & wait; done'
PAUSE_IMAGE=localhost/dynamig-e2e/pause:1
build_pause_image() { # -> $E2E_IMAGE_DIR/pause.tar (docker-archive)
    [[ -f $E2E_IMAGE_DIR/pause.tar ]] && return 0
    e2e_image_build || return 1
    local d=$E2E_IMAGE_DIR/pause diff_id cfg cfg_id
    rm -rf "$d"; mkdir -p "$d" || return 1
    diff_id=$(sha256sum "$E2E_IMAGE_DIR/rootfs.tar" | cut -d' ' -f1)
    cfg=$(jq -cn --arg d "sha256:$diff_id" --arg s "$SLEEPER" \
        '{architecture:"amd64",os:"linux",created:"1970-01-01T00:00:00Z",
          config:{Env:["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],Entrypoint:["/bin/sh","-c",$s],WorkingDir:"/"},
          rootfs:{type:"layers",diff_ids:[$d]}}')
    cfg_id=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
    printf '%s' "$cfg" >"$d/$cfg_id.json"
    mkdir -p "$d/$diff_id"
    cp "$E2E_IMAGE_DIR/rootfs.tar" "$d/$diff_id/layer.tar"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg_id" "$PAUSE_IMAGE" "$diff_id" >"$d/manifest.json"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d" -cf "$E2E_IMAGE_DIR/pause.tar" . || return 1
    rm -rf "$d"
}

_toml() { _e2e_toml_str "$1"; }
DISABLED='"io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"'

# containerd 1.6 / 1.7: config version 2, CRI plugin io.containerd.grpc.v1.cri
write_config_v2() {
    cat >"$E2E_CONTAINERD_CONFIG" <<EOF
version = 2
root = $(_toml "$E2E_CONTAINERD_ROOT")
state = $(_toml "$E2E_CONTAINERD_STATE")
disabled_plugins = [$DISABLED]
[grpc]
  address = $(_toml "$E2E_CONTAINERD_SOCK")
[ttrpc]
  address = $(_toml "$E2E_CONTAINERD_SOCK.ttrpc")
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = $(_toml "$E2E_CONTAINERD_ROOT/opt")
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    restrict_oom_score_adj = true
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = $(_toml "$E2E_WORKDIR/cni/bin")
      conf_dir = $(_toml "$E2E_WORKDIR/cni/conf")
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "$E2E_SNAPSHOTTER"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.dynamig]
        runtime_type = "io.containerd.dynamig.v2"
        pod_annotations = ["dynamig.io/*"]
EOF
}

# containerd 2.x: config version 3, CRI split into io.containerd.cri.v1.images / .runtime
write_config_v3() {
    cat >"$E2E_CONTAINERD_CONFIG" <<EOF
version = 3
root = $(_toml "$E2E_CONTAINERD_ROOT")
state = $(_toml "$E2E_CONTAINERD_STATE")
disabled_plugins = [$DISABLED]
[grpc]
  address = $(_toml "$E2E_CONTAINERD_SOCK")
[ttrpc]
  address = $(_toml "$E2E_CONTAINERD_SOCK.ttrpc")
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "$E2E_SNAPSHOTTER"
    [plugins."io.containerd.cri.v1.images".pinned_images]
      sandbox = "$PAUSE_IMAGE"
  [plugins."io.containerd.cri.v1.runtime"]
    restrict_oom_score_adj = true
    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = [$(_toml "$E2E_WORKDIR/cni/bin")]
      conf_dir = $(_toml "$E2E_WORKDIR/cni/conf")
    [plugins."io.containerd.cri.v1.runtime".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.dynamig]
        runtime_type = "io.containerd.dynamig.v2"
        pod_annotations = ["dynamig.io/*"]
EOF
}

new_workdir() { # NAME
    e2e_cleanup || true
    E2E_CONTAINERD_PID='' E2E_DOCKERD_PID=''
    local wd=$TOP/$1
    e2e_env_init "$wd" >/dev/null 2>&1 || fail "e2e_env_init $wd"
    export DYNAMIG_STATE_DIR=$E2E_WORKDIR/state
    mkdir -p "$E2E_WORKDIR/cni/bin" "$E2E_WORKDIR/cni/conf" "$E2E_WORKDIR/logs"
}

# ------------------------------------------------------------------ containerd
bundle_of() { printf '%s/io.containerd.runtime.v2.task/%s/%s' "$E2E_CONTAINERD_STATE" "$E2E_NS" "$1"; }
ctr_check() { # LABEL ID
    local caps env
    caps=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$2" ls /dev/nvidia-caps) || fail "$1: exec ls failed"
    env=$(e2e_ctr task exec --exec-id "chk-$RANDOM" "$2" sh -c "tr '\\0' '\\n' </proc/1/environ") || fail "$1: exec env failed"
    check_inside "$1" "$2" "$caps" "$env"
    jq -e '.annotations["dynamig.io/injected"]' "$(bundle_of "$2")/config.json" >/dev/null ||
        fail "$1: the bundle's config.json lacks dynamig.io/injected"
}
ctr_remove() { # ID
    e2e_ctr task kill -s SIGKILL "$1" >/dev/null 2>&1 || true
    wait_for 10 bash -c "! $E2E_CTR_BIN --address '$E2E_CONTAINERD_SOCK' -n '$E2E_NS' task ls | awk '\$1 == \"$1\" {print \$3}' | grep -q RUNNING" || true
    e2e_ctr task rm -f "$1" >/dev/null 2>&1 || true
    e2e_ctr container rm "$1" >/dev/null 2>&1 || fail "ctr container rm $1"
}

test_containerd() { # LABEL ROOTKEY CONFIG-WRITER
    local label=$1 root=${ROOTS[$2]} writer=$3
    step "$label: ctr"
    new_workdir "$label"
    export E2E_CONTAINERD_BIN=$root/usr/bin/containerd E2E_CTR_BIN=$root/usr/bin/ctr
    export E2E_EXTRA_PATH=$root/usr/bin
    export E2E_CONTAINERD_LOG_LEVEL=info
    "$writer"
    dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init a100-40gb"
    e2e_containerd_start || fail "$label: containerd start"
    local ver
    ver=$("$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" version | awk '/Server:/ {s=1} s && /Version:/ {print $2; exit}')
    ok "$label: containerd $ver up (config $(head -1 "$E2E_CONTAINERD_CONFIG")), runc $(runc --version | awk 'NR==1{print $3}')"
    e2e_image_import || fail "$label: image import"

    local DYN="--runtime io.containerd.dynamig.v2" WRAP="--runtime io.containerd.runc.v2 --runc-binary $E2E_DYNAMIG_RUNC"
    # shellcheck disable=SC2086
    e2e_ctr run -d $DYN --annotation dynamig.io/gpu-memory=10GB "$E2E_IMAGE" v-shim sh -c "$SLEEPER" ||
        fail "$label: ctr run --runtime io.containerd.dynamig.v2"
    ctr_check "$label ctr shim v-shim" v-shim
    [[ $(inst_of v-shim | awk '{print $2}') == 1g.10gb ]] || fail "$label: 10GB gave $(inst_of v-shim), want 1g.10gb"
    # shellcheck disable=SC2086
    e2e_ctr run -d $WRAP --annotation dynamig.io/mig-profile=2g.10gb "$E2E_IMAGE" v-wrap sh -c "$SLEEPER" ||
        fail "$label: ctr run --runc-binary dynamig-runc"
    ctr_check "$label ctr runc-binary v-wrap" v-wrap

    local rc=0 out
    # shellcheck disable=SC2086
    out=$(e2e_ctr run --rm $DYN --annotation dynamig.io/gpu-memory=10XB "$E2E_IMAGE" v-bad true 2>&1) || rc=$?
    ((rc != 0)) || fail "$label: ctr run with dynamig.io/gpu-memory=10XB succeeded"
    [[ $(wc -l <<<"$out") -eq 1 ]] || fail "$label: error is not one line: $out"
    [[ $out == *dynamig.io/gpu-memory* && $out == *10XB* && $out == *accepted* ]] || fail "$label: error lacks key/value/accepted: $out"
    # ctr 1.x prints the error class after the message; 2.x prints the message alone (the CRI
    # check below reads the code there)
    [[ $label != containerd-1.* || $out == *": invalid argument" ]] || fail "$label: the refusal did not reach containerd as InvalidArgument: $out"
    [[ $(n_instances) -eq 2 ]] || fail "$label: a refused request allocated something"
    ok "$label: bad annotation refused: $out"
    e2e_ctr container rm v-bad >/dev/null 2>&1 || true

    ctr_remove v-shim
    ctr_remove v-wrap
    [[ $(n_instances) -eq 0 ]] || fail "$label: instances left after removal: $(holders)"
    ok "$label: removal released both"

    # the task API through the shim answers as through this containerd's own runc.v2 shim
    task_checks io.containerd.runc.v2 r "$E2E_WORKDIR" >"$E2E_WORKDIR/runc.txt" 2>&1 ||
        fail "$label: task checks on runc.v2: $(cat "$E2E_WORKDIR/runc.txt")"
    task_checks io.containerd.dynamig.v2 d "$E2E_WORKDIR" >"$E2E_WORKDIR/dynamig.txt" 2>&1 ||
        fail "$label: task checks on dynamig.v2: $(cat "$E2E_WORKDIR/dynamig.txt")"
    why=$(task_checks_reference "$E2E_WORKDIR/runc.txt") || fail "$label: runc.v2: $why"
    diff -u "$E2E_WORKDIR/runc.txt" "$E2E_WORKDIR/dynamig.txt" >"$E2E_WORKDIR/diff.txt" ||
        fail "$label: io.containerd.dynamig.v2 differs from io.containerd.runc.v2: $(cat "$E2E_WORKDIR/diff.txt")"
    ok "$label: the shim answers as runc.v2 ($(wc -l <"$E2E_WORKDIR/dynamig.txt") checks: exit status, stdio, stdin, terminal, OOM, exec, ps, pause, metrics, kill, removal)"
    test_cri "$label"
}

# ------------------------------------------------------------------ CRI (Kubernetes-style pod)
# (an `if`, not `&&`: the loop's status must not be that of the last process looked at, or a
# pipeline under pipefail fails whenever the newest process is not a shim)
shim_pids() { _e2e_pids_with_arg "$E2E_CONTAINERD_SOCK" | while read -r p; do
    if [[ $(cat "/proc/$p/comm" 2>/dev/null) == containerd-shim* ]]; then echo "$p"; fi; done; }

test_cri() { # LABEL
    local label=$1 cfg=$E2E_WORKDIR/cri
    step "$label: CRI pod with two app containers"
    mkdir -p "$cfg"
    build_pause_image || fail "cannot build the pause image"
    "$E2E_CTR_BIN" --address "$E2E_CONTAINERD_SOCK" -n k8s.io images import --snapshotter "$E2E_SNAPSHOTTER" \
        "$E2E_IMAGE_DIR/pause.tar" >/dev/null || fail "$label: import of the pause image into k8s.io failed"
    cri version >/dev/null || fail "$label: the CRI plugin does not answer"
    local uid
    uid=$(cat /proc/sys/kernel/random/uuid)
    jq -n --arg uid "$uid" --arg logs "$E2E_WORKDIR/logs" '{
        metadata: {name: "gpu-pod", namespace: "default", uid: $uid, attempt: 0},
        log_directory: $logs,
        annotations: {"dynamig.io/gpu-memory": "10GB"},
        linux: {security_context: {namespace_options: {network: "NODE", pid: "CONTAINER"}}}
    }' >"$cfg/pod.json"
    local n
    for n in app1 app2; do
        jq -n --arg n "$n" --arg img "$PAUSE_IMAGE" '{
            metadata: {name: $n, attempt: 0}, image: {image: $img}, log_path: ($n + ".log"),
            linux: {security_context: {namespace_options: {network: "NODE", pid: "CONTAINER"}}}
        }' >"$cfg/$n.json"
    done

    local shims_before pod c1 c2
    shims_before=$(shim_pids | wc -l)
    pod=$(cri runp --runtime-handler "${E2E_CRI_HANDLER:-dynamig}" "$cfg/pod.json") || fail "$label: RunPodSandbox failed"
    [[ -n $pod ]] || fail "$label: RunPodSandbox gave no id"
    [[ $(n_instances) -eq 0 ]] || fail "$label: the pod's sandbox got an instance: $(holders)"
    ok "$label: pod ${pod:0:12} (handler dynamig, host network, sandbox $PAUSE_IMAGE) runs; its sandbox holds no instance"
    local shims_pod
    shims_pod=$(shim_pids | wc -l)
    c1=$(cri create "$pod" "$cfg/app1.json" "$cfg/pod.json") || fail "$label: CreateContainer app1 failed"
    cri start "$c1" || fail "$label: StartContainer app1 failed"
    c2=$(cri create "$pod" "$cfg/app2.json" "$cfg/pod.json") || fail "$label: CreateContainer app2 failed"
    cri start "$c2" || fail "$label: StartContainer app2 failed"
    local shims_after
    shims_after=$(shim_pids | wc -l)
    ((shims_pod == shims_before + 1 && shims_after == shims_pod)) ||
        fail "$label: shim processes: $shims_before before the pod, $shims_pod with the sandbox, $shims_after with both app containers; want one shim for the pod"
    ok "$label: one shim for the whole pod (the app containers went to the sandbox's shim: $shims_before -> $shims_pod -> $shims_after shim processes)"
    for c in "$c1" "$c2"; do
        local caps env
        caps=$(cri exec "$c" ls /dev/nvidia-caps) || fail "$label: ExecSync ls in ${c:0:12} failed"
        env=$(cri exec "$c" sh -c "tr '\\0' '\\n' </proc/1/environ") || fail "$label: ExecSync env in ${c:0:12} failed"
        check_inside "$label CRI container ${c:0:12}" "$c" "$caps" "$env"
    done
    [[ $(inst_of "$c1" | awk '{print $1}') != "$(inst_of "$c2" | awk '{print $1}')" ]] || fail "$label: both app containers got the same instance"
    [[ $(holders) == "$(printf '%s\n' "$c1" "$c2" | sort | tr '\n' ' ' | sed 's/ $//')" ]] ||
        fail "$label: holders are [$(holders)], want exactly the two app containers"
    ok "$label: two app containers, two distinct MIG devices, no instance for the sandbox"

    cri stopp "$pod" || fail "$label: StopPodSandbox failed"
    cri rmp "$pod" || fail "$label: RemovePodSandbox failed"
    wait_for 10 bash -c "[[ \$('$E2E_BIN_DIR/dynamigctl' status --json | jq '[.gpus[].instances[]] | length') -eq 0 ]]" ||
        fail "$label: instances left after the pod was removed: $(holders)"
    ok "$label: stopping and removing the pod released both"

    # a malformed pod annotation: the sandbox runs (it makes no request), the app container's
    # start fails with the one clear line, nothing is allocated
    jq '.metadata.name = "bad-pod" | .metadata.uid = "bad-\(.metadata.uid)" | .annotations["dynamig.io/gpu-memory"] = "10XB"' \
        "$cfg/pod.json" >"$cfg/bad-pod.json"
    pod=$(cri runp --runtime-handler dynamig "$cfg/bad-pod.json") || fail "$label: RunPodSandbox of bad-pod failed"
    c1=$(cri create "$pod" "$cfg/app1.json" "$cfg/bad-pod.json") || fail "$label: CreateContainer in bad-pod failed"
    local rc=0 out
    out=$(cri start "$c1" 2>&1) || rc=$?
    ((rc != 0)) || fail "$label: an app container with pod annotation dynamig.io/gpu-memory=10XB started"
    [[ $out == *dynamig.io/gpu-memory* && $out == *10XB* && $out == *accepted* ]] || fail "$label: StartContainer error lacks key/value/accepted: $out"
    [[ $out == "cri start: INVALID_ARGUMENT: "* ]] || fail "$label: the kubelet is not told InvalidArgument for a bad annotation: $out"
    [[ $(n_instances) -eq 0 ]] || fail "$label: a refused pod request allocated something: $(holders)"
    ok "$label: malformed pod annotation: StartContainer fails with: $(grep -o 'dynamig: annotation[^;]*' <<<"$out")"
    cri stopp "$pod" || fail "$label: StopPodSandbox of bad-pod failed"
    cri rmp "$pod" || fail "$label: RemovePodSandbox of bad-pod failed"

    # no room: a pod whose first app container holds the whole GPU; the second's start fails with
    # ResourceExhausted, which the kubelet sees where containerd knows that class (2.x; 1.x's
    # errdefs turn it into Unknown)
    jq '.metadata.name = "full-pod" | .metadata.uid = "full-\(.metadata.uid)" | .annotations = {"dynamig.io/mig-profile": "7g.40gb"}' \
        "$cfg/pod.json" >"$cfg/full-pod.json"
    pod=$(cri runp --runtime-handler dynamig "$cfg/full-pod.json") || fail "$label: RunPodSandbox of full-pod failed"
    c1=$(cri create "$pod" "$cfg/app1.json" "$cfg/full-pod.json") || fail "$label: CreateContainer app1 in full-pod failed"
    cri start "$c1" || fail "$label: StartContainer app1 in full-pod failed"
    c2=$(cri create "$pod" "$cfg/app2.json" "$cfg/full-pod.json") || fail "$label: CreateContainer app2 in full-pod failed"
    rc=0
    out=$(cri start "$c2" 2>&1) || rc=$?
    ((rc != 0)) || fail "$label: a second 7g.40gb container started on a full GPU"
    local want=RESOURCE_EXHAUSTED
    [[ $label == containerd-1.* ]] && want=UNKNOWN
    [[ $out == "cri start: $want: "*"dynamig: no room for 7g.40gb"* ]] || fail "$label: no room is not $want to the kubelet: $out"
    ok "$label: no room: StartContainer fails with $want: $(grep -o 'dynamig: no room[^:]*' <<<"$out")"
    cri stopp "$pod" || fail "$label: StopPodSandbox of full-pod failed"
    cri rmp "$pod" || fail "$label: RemovePodSandbox of full-pod failed"
    wait_for 10 bash -c "[[ \$('$E2E_BIN_DIR/dynamigctl' status --json | jq '[.gpus[].instances[]] | length') -eq 0 ]]" ||
        fail "$label: instances left after full-pod was removed: $(holders)"
}

# ------------------------------------------------------------------ Docker
test_docker() { # LABEL DOCKERD-KEY CLI-KEY CONTAINERD-KEY
    local label=$1
    step "$label"
    new_workdir "$label"
    export E2E_DOCKERD_BIN=${ROOTS[$2]}/usr/sbin/dockerd E2E_DOCKER_BIN=${ROOTS[$3]}/usr/bin/docker
    export E2E_EXTRA_PATH=${ROOTS[$4]}/usr/bin
    dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init a100-40gb"
    e2e_dockerd_start || fail "$label: dockerd start (log: $E2E_DOCKER_LOG)"
    e2e_docker_image_import || fail "$label: docker import"
    # the containerd dockerd started (from PATH): must be the extracted one
    local p exe=
    for p in $(_e2e_pids_with_arg "$E2E_DOCKER_EXEC/"); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == containerd ]] && exe=$(readlink "/proc/$p/exe")
    done
    [[ $exe == "$E2E_EXTRA_PATH/containerd" ]] || fail "$label: dockerd's containerd is '$exe', want $E2E_EXTRA_PATH/containerd"
    # shellcheck disable=SC2016 # a Go template
    ok "$label: dockerd $(e2e_docker version -f '{{.Server.Version}}') up, managing containerd $("$exe" --version | awk '{print $3}'), runtimes: $(e2e_docker info -f '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
    local d1 d2
    d1=$(e2e_docker run -d --runtime dynamig -e DYNAMIG_GPU_MEMORY=10GB --network none "$E2E_DOCKER_IMAGE" sh -c "$SLEEPER") ||
        fail "$label: docker run --runtime dynamig -e DYNAMIG_GPU_MEMORY=10GB"
    d2=$(e2e_docker run -d --runtime dynamig --annotation dynamig.io/mig-profile=2g.10gb --network none "$E2E_DOCKER_IMAGE" sh -c "$SLEEPER") ||
        fail "$label: docker run --runtime dynamig --annotation dynamig.io/mig-profile=2g.10gb"
    for d in "$d1" "$d2"; do
        local caps env
        caps=$(e2e_docker exec "$d" ls /dev/nvidia-caps) || fail "$label: docker exec ls"
        env=$(e2e_docker exec "$d" sh -c "tr '\\0' '\\n' </proc/1/environ") || fail "$label: docker exec env"
        check_inside "$label container ${d:0:12}" "$d" "$caps" "$env"
    done
    [[ $(inst_of "$d2" | awk '{print $2}') == 2g.10gb ]] || fail "$label: --annotation mig-profile gave $(inst_of "$d2")"
    # Docker 23+ runs containerd shims by runtime type too: the in-process shim, no wrapper
    local d3 caps env
    d3=$(e2e_docker run -d --runtime io.containerd.dynamig.v2 --annotation dynamig.io/gpu-memory=5GB --network none "$E2E_DOCKER_IMAGE" sh -c "$SLEEPER") ||
        fail "$label: docker run --runtime io.containerd.dynamig.v2"
    caps=$(e2e_docker exec "$d3" ls /dev/nvidia-caps) || fail "$label: docker exec ls (shim)"
    env=$(e2e_docker exec "$d3" sh -c "tr '\\0' '\\n' </proc/1/environ") || fail "$label: docker exec env (shim)"
    check_inside "$label container ${d3:0:12} (--runtime io.containerd.dynamig.v2)" "$d3" "$caps" "$env"
    [[ $(inst_of "$d3" | awk '{print $2}') == 1g.5gb ]] || fail "$label: 5GB through the shim gave $(inst_of "$d3")"
    e2e_docker rm -f "$d3" >/dev/null || fail "$label: docker rm -f (shim)"
    [[ -z $(inst_of "$d3") ]] || fail "$label: docker rm -f did not release the shim's container"
    ok "$label: docker rm -f released the shim's container"
    local rc=0 out
    out=$(e2e_docker run --rm --runtime dynamig -e DYNAMIG_GPU_MEMORY=10XB --network none "$E2E_DOCKER_IMAGE" true 2>&1) || rc=$?
    ((rc != 0)) || fail "$label: docker run with DYNAMIG_GPU_MEMORY=10XB succeeded"
    [[ $out == *DYNAMIG_GPU_MEMORY* && $out == *10XB* ]] || fail "$label: docker error lacks key/value: $out"
    [[ $(n_instances) -eq 2 ]] || fail "$label: a refused request allocated something"
    ok "$label: bad request refused: $(head -c 300 <<<"$out")"
    e2e_docker rm -f "$d1" "$d2" >/dev/null || fail "$label: docker rm -f"
    [[ $(n_instances) -eq 0 ]] || fail "$label: instances left after docker rm -f: $(holders)"
    ok "$label: docker rm -f released both"
    e2e_dockerd_stop
}

# ------------------------------------------------------------------ podman
PODMAN_ROOT=
podman_cleanup() {
    [[ -n $PODMAN_ROOT ]] || return 0
    pdm rm -af -t 0 >/dev/null 2>&1 || true
    e2e_umount_under "$PODMAN_ROOT"
}
pdm() {
    podman --root "$PODMAN_ROOT/root" --runroot "$PODMAN_ROOT/run" --tmpdir "$PODMAN_ROOT/tmp" \
        --cgroup-manager cgroupfs --events-backend file --storage-driver "$E2E_DOCKER_STORAGE_DRIVER" \
        --hooks-dir "$PODMAN_ROOT/hooks.d" "$@"
}
test_podman() {
    step "podman"
    new_workdir podman
    command -v podman >/dev/null || {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null ||
            fail "apt-get install podman failed"
    }
    PODMAN_ROOT=$E2E_WORKDIR/podman
    mkdir -p "$PODMAN_ROOT"/{root,run,tmp,hooks.d}
    # packaging/hooks.d/dynamig.json with this build's dynamig-hook and state dir
    jq --arg hook "$E2E_BIN_DIR/dynamig-hook" --arg st "DYNAMIG_STATE_DIR=$DYNAMIG_STATE_DIR" \
        '.hook.path = $hook | .hook.env = [$st]' "$REPO/packaging/hooks.d/dynamig.json" >"$PODMAN_ROOT/hooks.d/dynamig.json" ||
        fail "cannot adapt packaging/hooks.d/dynamig.json"
    dctl sim init a100-40gb >/dev/null || fail "dynamigctl sim init a100-40gb"
    # podman (conmon) does not hand its environment to the OCI runtime, so a runtime run by it
    # sees the default state dir /run/dynamig; this test's private one is set by a wrapper
    PODMAN_RUNTIME=$PODMAN_ROOT/dynamig-runc
    printf '#!/bin/sh\nDYNAMIG_STATE_DIR=%s exec %s "$@"\n' "$DYNAMIG_STATE_DIR" "$E2E_DYNAMIG_RUNC" >"$PODMAN_RUNTIME"
    chmod +x "$PODMAN_RUNTIME"
    # podman 4.3 asks for RLIMIT_NOFILE 1048576 for root (even with --ulimit host), which a CI
    # container may not grant ("error setting rlimit type 7: operation not permitted"): ask for
    # low limits, which is always allowed
    PDM_LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
    e2e_image_build || fail "image build"
    pdm import "$E2E_IMAGE_DIR/rootfs.tar" localhost/busybox-e2e:1 >/dev/null || fail "podman import"
    ok "podman $(podman --version | awk '{print $3}') with private root $PODMAN_ROOT"
    local p1 caps env
    p1=$(pdm run "${PDM_LIMITS[@]}" -d --runtime "$PODMAN_RUNTIME" --network none -e DYNAMIG_GPU_MEMORY=10GB localhost/busybox-e2e:1 sh -c "$SLEEPER") ||
        fail "podman --runtime dynamig-runc run -e DYNAMIG_GPU_MEMORY=10GB"
    caps=$(pdm exec "$p1" ls /dev/nvidia-caps) || fail "podman exec ls"
    env=$(pdm exec "$p1" sh -c "tr '\\0' '\\n' </proc/1/environ") || fail "podman exec env"
    check_inside "podman --runtime dynamig-runc ${p1:0:12} (+ hooks.d guard)" "$p1" "$caps" "$env"
    local rc=0 out
    out=$(pdm run "${PDM_LIMITS[@]}" --rm --runtime "$PODMAN_RUNTIME" --network none --annotation dynamig.io/gpu-memory=10XB localhost/busybox-e2e:1 true 2>&1) || rc=$?
    ((rc != 0)) || fail "podman run with dynamig.io/gpu-memory=10XB succeeded"
    [[ $out == *dynamig.io/gpu-memory* && $out == *10XB* ]] || fail "podman error lacks key/value: $out"
    ok "podman: bad annotation refused: $(head -c 300 <<<"$out")"
    rc=0
    out=$(pdm run "${PDM_LIMITS[@]}" --rm --network none --annotation dynamig.io/gpu-memory=10GB localhost/busybox-e2e:1 true 2>&1) || rc=$?
    ((rc != 0)) || fail "podman with plain runc and a request ran without a GPU: the hooks.d guard did not stop it"
    [[ $(n_instances) -eq 1 ]] || fail "podman: plain runc + request changed the allocations"
    ok "podman: hooks.d guard refuses a request that bypasses dynamig-runc: $(grep -m1 -i dynamig <<<"$out" | head -c 300)"
    pdm rm -f -t 0 "$p1" >/dev/null || fail "podman rm -f"
    [[ $(n_instances) -eq 0 ]] || fail "podman: instance left after podman rm -f: $(holders)"
    ok "podman rm -f released it"
    podman_cleanup
    PODMAN_ROOT=
}

# ------------------------------------------------------------------ run
ROOTS[containerd16]= # Debian 12's own /usr/bin/containerd: its CRI path (run.sh covers the rest)
want containerd-1.6 && test_containerd containerd-1.6 containerd16 write_config_v2
want containerd-1.7 && test_containerd containerd-1.7 containerd17 write_config_v2
want containerd-2 && test_containerd containerd-2 containerd2 write_config_v3
want docker-26 && test_docker docker-26 dockerd26 docker26 containerd17
want docker-28 && test_docker docker-28 dockerd28 docker28 containerd2
want podman && test_podman

e2e_cleanup || true
printf '\nE2E VERSIONS OK: %d checks passed in %ds\n' "$PASS" $(($(date +%s) - T0))
