#!/usr/bin/env bash
# dynamig end-to-end test of the driver stack (docs/driver-stack.md): the NVIDIA driver's user
# space in every container that gets a MIG slice, through real containerd 1.6 with
# io.containerd.dynamig.v2, through containerd's runc shim with BinaryName=dynamig-runc, and through
# Docker 20.10 with dynamig-runc, on a simulated A100:
#   a. a CDI spec in the toolkit's layout (fake libcuda.so.<ver>, libnvidia-ml.so.<ver>,
#      firmware, nvidia-smi, a device node, createContainer hooks of a stand-in nvidia-cdi-hook
#      that records its argv, env): the container sees the files and the node, the hooks ran
#      with the spec's args, NVIDIA_VISIBLE_DEVICES is dynamig's MIG-<uuid> (not the spec's
#      `void`), nothing is doubled; a stale spec in the lower-priority directory is overridden
#   b. a container without a request: config.json byte-identical to containerd's spec
#   c. bad specs (malformed YAML, unknown cdiVersion, a missing host path) and a spec for
#      another driver version fail `ctr run` with one line, and nothing is allocated
#   d. no spec, NVIDIA's legacy hook installed: on nvml (the fake libnvidia-ml, dynamig-runc
#      called as containerd's runc shim calls it) a stand-in nvidia-container-runtime-hook runs
#      as `prestart` and sees NVIDIA_VISIBLE_DEVICES=MIG-<uuid>; on sim it is never added
#   e. neither, on sim: device nodes only
#   f. neither, on nvml (the fake libnvidia-ml, dynamig-runc called as containerd would): the
#      creation fails with one line naming both fixes and the opt-out, nothing allocated
#
# Gated: runs only with DYNAMIG_E2E=1 (root). It builds nothing: E2E_BIN_DIR must hold the
# binaries, e.g. cargo build --workspace && sudo DYNAMIG_E2E=1 E2E_BIN_DIR=$PWD/target/debug bash
# tests/e2e/cdi.sh. With DYNAMIG_E2E=1 anything that cannot run is a failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_NAME="cdi"
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"

WORKDIR=$(mktemp -d /tmp/dynamig-cdi.XXXXXX)
export E2E_WORKDIR_OWNED=1
export E2E_NS=dynamig-cdi-$$
export DYNAMIG_STATE_DIR=$WORKDIR/state
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc
# Both are read by every entry point from the daemons' environment.
CDI_ETC=$WORKDIR/cdi-etc
CDI_RUN=$WORKDIR/cdi-run
export DYNAMIG_CDI_SPEC_DIRS=$CDI_ETC:$CDI_RUN
LEGACY_BIN=$WORKDIR/legacy-bin
export E2E_EXTRA_PATH=$LEGACY_BIN
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

DRV=575.57.08 # what the simulated node claims (dynamigctl sim init --driver-version)
LIBDIR=/usr/lib/x86_64-linux-gnu
HOST=$WORKDIR/host
HOOK_LOG=$WORKDIR/cdi-hook.log
LEGACY_LOG=$WORKDIR/legacy-hook.log
JQ=$(command -v jq)
mkdir -p "$CDI_ETC" "$CDI_RUN" "$LEGACY_BIN" "$HOST/lib" "$HOST/bin" "$HOST/dev" "$HOST/firmware/nvidia/$DRV" \
    "$HOST/firmware/nvidia/535.183.01"

# ---------------------------------------------------------------- the host's driver files
for v in "$DRV" 535.183.01; do
    echo "fake libcuda $v" >"$HOST/lib/libcuda.so.$v"
    echo "fake libnvidia-ml $v" >"$HOST/lib/libnvidia-ml.so.$v"
    echo "gsp $v" >"$HOST/firmware/nvidia/$v/gsp_ga10x.bin"
done
cat >"$HOST/bin/nvidia-smi" <<EOF
#!/bin/sh
echo "NVIDIA-SMI $DRV (fake)"
EOF
# The stand-in nvidia-cdi-hook: one line per call, "<container id>|<args after argv[0]>|<env>".
# createContainer hooks run with the spec's hook env only (no PATH): absolute paths.
cat >"$HOST/bin/nvidia-cdi-hook" <<EOF
#!/bin/sh
id=\$(/bin/cat | $JQ -r .id)
echo "\$id|\$*|NVIDIA_CTK_DEBUG=\$NVIDIA_CTK_DEBUG" >>"$HOOK_LOG"
EOF
chmod 755 "$HOST/bin/nvidia-smi" "$HOST/bin/nvidia-cdi-hook"
mknod "$HOST/dev/nvidia-modeset" c 195 254

# A spec as `nvidia-ctk cdi generate` writes it (trimmed), for driver $1.
toolkit_spec() { # VERSION
    local v=$1
    cat <<EOF
---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
    - name: "0"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
containerEdits:
    env:
        - NVIDIA_CTK_LIBCUDA_DIR=$LIBDIR
        - NVIDIA_VISIBLE_DEVICES=void
    deviceNodes:
        - path: /dev/nvidia-modeset
          hostPath: $HOST/dev/nvidia-modeset
        - path: /dev/nvidiactl
          type: c
          major: 195
          minor: 255
    hooks:
        - hookName: createContainer
          path: $HOST/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - create-symlinks
            - --link
            - libcuda.so.1::$LIBDIR/libcuda.so
          env:
            - NVIDIA_CTK_DEBUG=false
        - hookName: createContainer
          path: $HOST/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - enable-cuda-compat
            - --host-driver-version=$v
          env:
            - NVIDIA_CTK_DEBUG=false
        - hookName: createContainer
          path: $HOST/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - update-ldcache
            - --folder
            - $LIBDIR
          env:
            - NVIDIA_CTK_DEBUG=false
    mounts:
        - hostPath: $HOST/lib/libcuda.so.$v
          containerPath: $LIBDIR/libcuda.so.$v
          options:
            - ro
            - nosuid
            - nodev
            - rbind
            - rprivate
        - hostPath: $HOST/lib/libnvidia-ml.so.$v
          containerPath: $LIBDIR/libnvidia-ml.so.$v
          options: [ro, nosuid, nodev, rbind, rprivate]
        - hostPath: $HOST/firmware/nvidia/$v/gsp_ga10x.bin
          containerPath: /lib/firmware/nvidia/$v/gsp_ga10x.bin
          options: [ro, nosuid, nodev, rbind, rprivate]
        - hostPath: $HOST/bin/nvidia-smi
          containerPath: /usr/bin/nvidia-smi
          options: [ro, nosuid, nodev, rbind, rprivate]
EOF
}

inst_of() { # ID -> "uuid profile" (empty when none)
    status_json | jq -r --arg id "$1" '.gpus[].instances[] | select(.holder.id == $id) | "\(.uuid) \(.profile)"'
}
# What a container sees: its libraries, nvidia-smi, the device node, its init's env.
# shellcheck disable=SC2016 # expands inside the container
PROBE='cat '$LIBDIR/libcuda.so.$DRV' '$LIBDIR/libnvidia-ml.so.$DRV' /lib/firmware/nvidia/'$DRV'/gsp_ga10x.bin; /usr/bin/nvidia-smi; ls -l /dev/nvidia-modeset; tr "\\0" "\\n" </proc/1/environ; echo'
check_probe() { # WHAT OUTPUT UUID
    local what=$1 out=$2 uuid=$3
    for want in "fake libcuda $DRV" "fake libnvidia-ml $DRV" "gsp $DRV" "NVIDIA-SMI $DRV (fake)" \
        "NVIDIA_VISIBLE_DEVICES=$uuid" "CUDA_VISIBLE_DEVICES=$uuid" "NVIDIA_CTK_LIBCUDA_DIR=$LIBDIR"; do
        grep -qF -- "$want" <<<"$out" || fail "$what: the container does not see '$want'; it saw: $out"
    done
    grep -Eq '^c.* 195, +254 .*/dev/nvidia-modeset$' <<<"$out" || fail "$what: /dev/nvidia-modeset is not char 195:254: $out"
    [[ $(grep -c '^NVIDIA_VISIBLE_DEVICES=' <<<"$out") -eq 1 ]] || fail "$what: NVIDIA_VISIBLE_DEVICES more than once"
}
check_hooks() { # WHAT ID: the three createContainer hooks ran, in the spec's order, with its args
    local what=$1 id=$2 got want
    got=$(awk -F'|' -v id="$id" '$1 == id {print $2 "|" $3}' "$HOOK_LOG")
    want="create-symlinks --link libcuda.so.1::$LIBDIR/libcuda.so|NVIDIA_CTK_DEBUG=false
enable-cuda-compat --host-driver-version=$DRV|NVIDIA_CTK_DEBUG=false
update-ldcache --folder $LIBDIR|NVIDIA_CTK_DEBUG=false"
    [[ $got == "$want" ]] || fail "$what: stand-in nvidia-cdi-hook calls for $id: [$got], want [$want]"
}
expect_refused() { # WHAT WANT-SUBSTRING...: a GPU container fails with one line, nothing allocated
    local what=$1 out rc=0 w
    shift
    # shellcheck disable=SC2086 # runtime flags are words
    out=$(e2e_ctr run --rm $DYN --annotation dynamig.io/gpu-memory=10GB "$E2E_IMAGE" bad true 2>&1) || rc=$?
    ((rc != 0)) || fail "$what: ctr run succeeded"
    [[ $(wc -l <<<"$out") -eq 1 ]] || fail "$what: the error is not one line: $out"
    for w in "$@"; do [[ $out == *"$w"* ]] || fail "$what: the error lacks '$w': $out"; done
    [[ $(n_instances) -eq 0 ]] || fail "$what: allocated $(status_json | jq -c '[.gpus[].instances[]]')"
    e2e_ctr container rm bad >/dev/null 2>&1 || true
    ok "$what: $out"
}

step "setup"
e2e_env_init "$WORKDIR" >/dev/null 2>&1 || fail "e2e_env_init"
dctl sim init --driver-version "$DRV" a100-40gb >/dev/null || fail "dynamigctl sim init --driver-version $DRV"
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
e2e_dockerd_start || fail "dockerd start"
e2e_docker_image_import || fail "docker image import"
DYN=$(e2e_runtime_flags dynamig)
WRAP=$(e2e_runtime_flags dynamig-runc)
ok "containerd and dockerd up; simulated A100 claiming driver $DRV; CDI dirs $DYNAMIG_CDI_SPEC_DIRS"

# ------------------------------------------------------------------ a. CDI spec
step "a. the toolkit's CDI spec (/etc/cdi-like dir holds a stale one, the later dir wins)"
toolkit_spec 535.183.01 >"$CDI_ETC/nvidia.yaml"
toolkit_spec "$DRV" >"$CDI_RUN/nvidia.yaml"
: >"$HOOK_LOG"
# shellcheck disable=SC2086,SC2016
e2e_ctr run -d $DYN --annotation dynamig.io/gpu-memory=10GB "$E2E_IMAGE" cdi1 \
    sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' || fail "ctr run cdi1 (shim) with a CDI spec"
uuid=$(inst_of cdi1 | awk '{print $1}')
[[ -n $uuid ]] || fail "cdi1 holds no instance"
out=$(e2e_ctr task exec --exec-id probe "cdi1" sh -c "$PROBE") || fail "probe in cdi1"
check_probe "shim" "$out" "$uuid"
check_hooks "shim" cdi1
cfg=$(bundle_of cdi1)/config.json
[[ $(jq '[.linux.devices[] | select(.path == "/dev/nvidiactl")] | length' "$cfg") -eq 1 ]] || fail "/dev/nvidiactl twice in config.json"
[[ $(jq '[.linux.resources.devices[] | select(.major == 195 and .minor == 255)] | length' "$cfg") -eq 1 ]] ||
    fail "the nvidiactl cgroup rule twice in config.json"
[[ $(jq -r '.annotations["dynamig.io/driver-stack"]' "$cfg") == "cdi $CDI_RUN/nvidia.yaml" ]] ||
    fail "driver-stack annotation: $(jq -c .annotations "$cfg")"
ok "shim: cdi1 ($uuid) sees libcuda/libnvidia-ml/firmware $DRV, nvidia-smi, /dev/nvidia-modeset, its MIG env; 3 hooks ran with the spec's args"
remove_task cdi1
[[ $(n_instances) -eq 0 ]] || fail "cdi1 not released"

# containerd's runc shim with BinaryName=dynamig-runc: the wrapper's createRuntime hook and the
# spec's createContainer hooks together.
: >"$HOOK_LOG"
# shellcheck disable=SC2086,SC2016
e2e_ctr run -d $WRAP --annotation dynamig.io/gpu-memory=10GB "$E2E_IMAGE" cdi2 \
    sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' || fail "ctr run cdi2 (runc BinaryName=dynamig-runc)"
uuid=$(inst_of cdi2 | awk '{print $1}')
[[ -n $uuid ]] || fail "cdi2 holds no instance"
out=$(e2e_ctr task exec --exec-id probe "cdi2" sh -c "$PROBE") || fail "probe in cdi2"
check_probe "wrapper" "$out" "$uuid"
check_hooks "wrapper" cdi2
[[ $(status_json | jq -r '.gpus[].instances[] | select(.holder.id == "cdi2") | .holder.pid') =~ ^[0-9]+$ ]] ||
    fail "cdi2: dynamig-hook createRuntime did not record the container's pid"
ok "wrapper (runc BinaryName): cdi2 ($uuid) sees the same; the spec's hooks and dynamig-hook ran"
remove_task cdi2
[[ $(n_instances) -eq 0 ]] || fail "cdi2 not released"

: >"$HOOK_LOG"
out=$(e2e_docker run --rm --runtime dynamig -e DYNAMIG_GPU_MEMORY=10GB --network none "$E2E_DOCKER_IMAGE" \
    sh -c "$PROBE") || fail "docker run --runtime dynamig with a CDI spec: $out"
duuid=$(grep '^NVIDIA_VISIBLE_DEVICES=' <<<"$out" | cut -d= -f2) || true
[[ $duuid == MIG-* ]] || fail "docker: NVIDIA_VISIBLE_DEVICES is '$duuid': $out"
check_probe "docker" "$out" "$duuid"
did=$(awk -F'|' 'NR == 1 {print $1}' "$HOOK_LOG")
[[ ${#did} -eq 64 ]] || fail "docker: the stand-in hook saw container id '$did'"
check_hooks "docker" "$did"
[[ $(n_instances) -eq 0 ]] || fail "docker container not released"
ok "docker (dynamig-runc): ${did:0:12} ($duuid) sees the same; 3 hooks ran; released"

# ------------------------------------------------------------------ b. no request
step "b. a container without a request, a CDI spec present"
spec_is_containerds() { # ID: the bundle's config.json is containerd's spec, compact, as Go writes it
    local a b
    a=$(e2e_ctr containers info --spec "$1" | jq -cj . |
        sed 's/</\\u003c/g; s/>/\\u003e/g; s/&/\\u0026/g' | sha256sum | cut -d' ' -f1)
    b=$(sha256sum <"$(bundle_of "$1")/config.json" | cut -d' ' -f1)
    [[ $a == "$b" ]]
}
: >"$HOOK_LOG"
# shellcheck disable=SC2086,SC2016
e2e_ctr run -d $DYN "$E2E_IMAGE" plain sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' || fail "ctr run plain"
spec_is_containerds plain || fail "dynamig rewrote config.json of a container without a request"
[[ ! -s $HOOK_LOG ]] || fail "the spec's hooks ran for a container without a request"
remove_task plain
ok "no request: config.json byte-identical to containerd's spec; no hook ran"

# ------------------------------------------------------------------ c. bad and stale specs
step "c. bad and stale specs: one line, nothing allocated"
rm -f "$CDI_ETC/nvidia.yaml"
printf 'cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ncontainerEdits:\n  mounts: [\n' >"$CDI_RUN/nvidia.yaml"
expect_refused "malformed YAML" "$CDI_RUN/nvidia.yaml" "nvidia-ctk cdi generate"
toolkit_spec "$DRV" | sed 's/^cdiVersion: 0.5.0$/cdiVersion: 9.9.9/' >"$CDI_RUN/nvidia.yaml"
expect_refused "unknown cdiVersion" 'unknown cdiVersion "9.9.9"'
toolkit_spec "$DRV" | sed "s#hostPath: $HOST/lib/libnvidia-ml.so.$DRV#hostPath: $HOST/lib/libnvidia-ml.so.gone#" >"$CDI_RUN/nvidia.yaml"
expect_refused "missing host path" "libnvidia-ml.so.gone does not exist"
toolkit_spec 535.183.01 >"$CDI_RUN/nvidia.yaml"
expect_refused "stale spec" "535.183.01" "$DRV" "nvidia-ctk cdi generate --output=$CDI_RUN/nvidia.yaml"
rc=0
out=$(e2e_docker run --rm --runtime dynamig -e DYNAMIG_GPU_MEMORY=10GB --network none "$E2E_DOCKER_IMAGE" true 2>&1) || rc=$?
((rc != 0)) || fail "docker run with a stale spec succeeded"
[[ $out == *"nvidia-ctk cdi generate --output="* ]] || fail "docker: the error lacks the regenerate command: $out"
[[ $(n_instances) -eq 0 ]] || fail "docker: a stale spec allocated something"
ok "docker (dynamig-runc) refuses the stale spec too, nothing allocated"

# ------------------------------------------------------------------ d. legacy hook
step "d. no CDI spec, NVIDIA's legacy hook on PATH: taken on nvml, never on sim"
rm -f "$CDI_RUN/nvidia.yaml"
# The stand-in: "<id>|<args>|<NVIDIA_VISIBLE_DEVICES of the container's process>", as the real
# hook reads it (the bundle's config.json, named in the state on stdin).
cat >"$LEGACY_BIN/nvidia-container-runtime-hook" <<EOF
#!/bin/sh
state=\$(/bin/cat)
bundle=\$(echo "\$state" | $JQ -r .bundle)
id=\$(echo "\$state" | $JQ -r .id)
vis=\$($JQ -r '.process.env[] | select(startswith("NVIDIA_VISIBLE_DEVICES="))' "\$bundle/config.json")
echo "\$id|\$*|\$vis" >>"$LEGACY_LOG"
EOF
chmod 755 "$LEGACY_BIN/nvidia-container-runtime-hook"
: >"$LEGACY_LOG"
# On sim the legacy hook would look for a real device: the simulator takes a CDI spec only.
# shellcheck disable=SC2086,SC2016
e2e_ctr run -d $DYN --annotation dynamig.io/gpu-memory=10GB "$E2E_IMAGE" legacy-sim \
    sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' || fail "ctr run legacy-sim"
[[ $(jq '.hooks.prestart // [] | length' "$(bundle_of legacy-sim)/config.json") -eq 0 ]] ||
    fail "sim took the legacy hook: $(jq -c .hooks "$(bundle_of legacy-sim)/config.json")"
[[ ! -s $LEGACY_LOG ]] || fail "sim ran the legacy hook: $(cat "$LEGACY_LOG")"
remove_task legacy-sim
ok "sim with the legacy hook installed: device nodes only, the hook not added"

# On nvml (the fake libnvidia-ml and its proc tree), dynamig-runc called as containerd's runc
# shim calls it, with a busybox rootfs: runc runs the legacy hook as prestart.
FAKE_LIB=$E2E_BIN_DIR/libnvidia_ml.so
[[ -f $FAKE_LIB ]] || fail "$FAKE_LIB (the fake NVML library) missing; run: cargo build -p fake-nvml"
NV=$WORKDIR/nvml
mkdir -p "$NV/lib" "$NV/proc"
ln -s "$FAKE_LIB" "$NV/lib/libnvidia-ml.so.1"
DYNAMIG_BACKEND=sim DYNAMIG_STATE_DIR=$NV/fake dctl sim init a100-40gb >/dev/null || fail "sim init for the fake NVML"
nv=(env LD_LIBRARY_PATH="$NV/lib" FAKE_NVML_STATE="$NV/fake/sim.json" FAKE_NVML_PROC_ROOT="$NV/proc"
    DYNAMIG_PROC_ROOT="$NV/proc" DYNAMIG_STATE_DIR="$NV/state" DYNAMIG_BACKEND=nvml
    DYNAMIG_HOOK_ENV=FAKE_NVML_STATE,FAKE_NVML_PROC_ROOT)
LB=$NV/legacy-bundle
mkdir -p "$LB"
mkdir -p "$LB/rootfs" && tar -C "$LB/rootfs" -xf "$E2E_IMAGE_DIR/rootfs.tar" || fail "unpack the e2e rootfs"
"$E2E_RUNC_BIN" spec --bundle "$LB" || fail "runc spec"
jq '.process.terminal = false | .process.args = ["true"] | .annotations = {"dynamig.io/gpu-memory": "10GB"}' \
    "$LB/config.json" >"$LB/config.json.new" && mv "$LB/config.json.new" "$LB/config.json"
"${nv[@]}" PATH="$LEGACY_BIN:/usr/sbin:/usr/bin:/sbin:/bin" "$E2E_BIN_DIR/dynamig-runc" --root "$NV/runc" \
    create --bundle "$LB" legacy-nv >/dev/null || fail "nvml: dynamig-runc create with the legacy hook"
uuid=$("${nv[@]}" "$E2E_BIN_DIR/dynamigctl" status --json |
    jq -r '[.gpus[].instances[] | select(.holder.id == "legacy-nv") | .uuid][0]')
[[ $uuid == MIG-* ]] || fail "nvml: legacy-nv holds no instance"
[[ $(cat "$LEGACY_LOG") == "legacy-nv|prestart|NVIDIA_VISIBLE_DEVICES=$uuid" ]] ||
    fail "nvml: legacy hook calls: [$(cat "$LEGACY_LOG")], want legacy-nv|prestart|NVIDIA_VISIBLE_DEVICES=$uuid"
[[ $(jq -c '.hooks.prestart' "$LB/config.json") == "[{\"path\":\"$LEGACY_BIN/nvidia-container-runtime-hook\",\"args\":[\"nvidia-container-runtime-hook\",\"prestart\"]}]" ]] ||
    fail "nvml: prestart hooks: $(jq -c .hooks "$LB/config.json")"
"${nv[@]}" PATH="/usr/sbin:/usr/bin:/sbin:/bin" "$E2E_BIN_DIR/dynamig-runc" --root "$NV/runc" \
    delete --force legacy-nv || fail "nvml: dynamig-runc delete legacy-nv"
[[ $("${nv[@]}" "$E2E_BIN_DIR/dynamigctl" status --json | jq '[.gpus[].instances[]] | length') -eq 0 ]] ||
    fail "nvml: legacy-nv's instance was not released"
ok "nvml (dynamig-runc): the legacy hook ran as prestart, saw NVIDIA_VISIBLE_DEVICES=$uuid; delete released it"
rm -f "$LEGACY_BIN/nvidia-container-runtime-hook"

# ------------------------------------------------------------------ e. neither
step "e. neither, on sim: device nodes only"
# shellcheck disable=SC2086,SC2016
e2e_ctr run -d $DYN --annotation dynamig.io/gpu-memory=10GB "$E2E_IMAGE" bare1 \
    sh -c 'trap "exit 0" TERM; while true; do sleep 1; done' || fail "ctr run bare1"
cfg=$(bundle_of bare1)/config.json
[[ $(jq -r '.annotations["dynamig.io/driver-stack"] // "none"' "$cfg") == none ]] || fail "bare1 got a driver stack"
[[ $(jq '.hooks.prestart // [] | length' "$cfg") -eq 0 ]] || fail "bare1 got a prestart hook"
[[ $(e2e_ctr task exec --exec-id probe bare1 ls /dev/nvidia-caps | wc -l) -eq 2 ]] || fail "bare1 lacks its caps"
remove_task bare1
ok "sim without a spec or hook: device nodes only"

# ------------------------------------------------------------------ f. neither, on nvml
step "f. neither, on nvml (the fake libnvidia-ml): refused with both fixes, nothing allocated"
mkdir -p "$NV/bundle/rootfs"
# No CDI spec is left in $DYNAMIG_CDI_SPEC_DIRS, and no nvidia-container-runtime-hook on this PATH.
nv=(env LD_LIBRARY_PATH="$NV/lib" FAKE_NVML_STATE="$NV/fake/sim.json" FAKE_NVML_PROC_ROOT="$NV/proc"
    DYNAMIG_PROC_ROOT="$NV/proc" DYNAMIG_STATE_DIR="$NV/state" DYNAMIG_BACKEND=nvml PATH=/usr/sbin:/usr/bin:/sbin:/bin)
echo '{"ociVersion":"1.0.2","process":{"args":["true"],"env":["PATH=/bin"],"cwd":"/"},"root":{"path":"rootfs"},"annotations":{"dynamig.io/gpu-memory":"10GB"}}' \
    >"$NV/bundle/config.json"
rc=0
out=$("${nv[@]}" "$E2E_BIN_DIR/dynamig-runc" --root "$NV/runc" create --bundle "$NV/bundle" nv1 2>&1) || rc=$?
((rc != 0)) || fail "nvml without a driver stack: dynamig-runc create succeeded"
[[ $(wc -l <<<"$out") -eq 1 ]] || fail "nvml without a driver stack: not one line: $out"
for w in "nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml" nvidia-container-runtime-hook DYNAMIG_DRIVER_STACK=none; do
    [[ $out == *"$w"* ]] || fail "nvml without a driver stack: the error lacks '$w': $out"
done
[[ $("${nv[@]}" "$E2E_BIN_DIR/dynamigctl" status --json | jq '[.gpus[].instances[]] | length') -eq 0 ]] ||
    fail "nvml without a driver stack allocated something"
ok "nvml, no spec, no hook: $out"

e2e_cleanup
trap - EXIT
