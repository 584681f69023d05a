#!/usr/bin/env bash
# dynamig install / configure end-to-end test (issue #7):
#   a. builds the .deb with cargo-deb (release build) and checks its metadata and contents
#   b. `dpkg -i`: files, modes, conffile, `dynamigctl --version` / `profiles`
#   c. `dynamigctl runtime configure --runtime containerd` on containerd 1.6's own
#      `config default` (version = 2), then a private real containerd 1.6 with that file: the CRI
#      plugin loads the `dynamig` runtime; the seed walkthrough through the *installed* shim
#   d. `dynamigctl runtime configure --runtime docker` on a daemon.json with other keys, then a
#      private real dockerd with that file: `docker info` lists `dynamig`; the seed walkthrough
#   e. containerd 2.1.9 (Debian sid .deb, extracted): `configure` on its `config default`
#      (version = 3), a private containerd 2.1.9 loads it, a container runs through the shim;
#      and 2.1.9 reads a `version = 2` file written by `configure` the same way
#   f. `dpkg -r` (conffile kept) and `dpkg --purge` (all gone)
#   g. packaging/install.sh into a --destdir: files, modes, paths, idempotence, --uninstall/--purge
#
# Gated: runs only with DYNAMIG_E2E=1 (root, Debian); anything that cannot run is a failure.
# Refuses to run when a dynamig package or /usr/bin/dynamigctl is already on the machine.
#   sudo DYNAMIG_E2E=1 bash tests/e2e/install.sh
# E2E_KEEP_WORKDIR=1 keeps the workdir; CONTAINERD2_DEB=/path/to/containerd_2.1.9+ds1-5_amd64.deb
# avoids the download.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "install e2e skipped: DYNAMIG_E2E is not 1 (needs root; builds and installs the .deb, starts private containerd/dockerd)"
    exit 0
fi

PASS=0
fail() { printf '\nINSTALL E2E FAILED: %s\n' "$*" >&2; exit 1; }
ok() { PASS=$((PASS + 1)); printf '[install ok %2d] %s\n' "$PASS" "$*"; }
step() { printf '\n== %s\n' "$*"; }

[[ $(id -u) -eq 0 ]] || fail "must run as root"
cd "$ROOT"
BINARIES=(dynamigctl dynamig-runc dynamig-hook containerd-shim-dynamig-v2)
VERSION=$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name == "dynamigctl") | .version')
[[ -n $VERSION ]] || fail "cannot read the workspace version"
if dpkg-query -W -f='${Status}' dynamig 2>/dev/null | grep -q installed; then
    fail "a dynamig package is installed on this machine; this test installs and removes its own (dpkg --purge dynamig first)"
fi
for b in "${BINARIES[@]}"; do
    [[ ! -e /usr/bin/$b ]] || fail "/usr/bin/$b exists but no dynamig package does; remove it first"
done

bash "$HERE/lib/install-deps.sh" >/dev/null || fail "tests/e2e/lib/install-deps.sh failed"
# our own containerd namespace: runc's state of runc.v2 shims lives in /run/containerd/runc/<ns>,
# shared with other tests' containerds on this machine
export E2E_NS=dynamig-inst-$$
# shellcheck source-path=SCRIPTDIR source=lib/env.sh
source "$HERE/lib/env.sh"

WORK=$(mktemp -d /tmp/dynamig-inst.XXXXXX)
INSTALLED=0
cleanup() {
    local rc=$?
    e2e_dockerd_stop
    e2e_containerd_stop
    e2e_umount_under "$WORK"
    if ((INSTALLED)); then dpkg --purge dynamig >/dev/null 2>&1 || true; fi
    if [[ ${E2E_KEEP_WORKDIR:-0} != 1 ]]; then rm -rf --one-file-system "$WORK" 2>/dev/null || true; fi
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ a. build the .deb
step "a. build the .deb (cargo-deb, release build)"
if ! command -v cargo-deb >/dev/null 2>&1; then
    cargo install --locked cargo-deb || fail "cargo install --locked cargo-deb failed"
fi
e2e_time "cargo build --release (3 packages)" \
    cargo build --release -p dynamigctl -p dynamig-hook -p dynamig-shim --bins ||
    fail "cargo build --release"
e2e_time "cargo deb" cargo deb -p dynamigctl --no-build --strip --output "$WORK/deb/" >/dev/null ||
    fail "cargo deb"
DEB=$(echo "$WORK"/deb/*.deb)
[[ -f $DEB ]] || fail "no .deb in $WORK/deb"
[[ $(dpkg-deb -f "$DEB" Package) == dynamig ]] || fail "package name: $(dpkg-deb -f "$DEB" Package)"
[[ $(dpkg-deb -f "$DEB" Version) == "$VERSION"* ]] || fail "version $(dpkg-deb -f "$DEB" Version), want $VERSION"
[[ $(dpkg-deb -f "$DEB" Depends) == *runc* ]] || fail "Depends lacks runc: $(dpkg-deb -f "$DEB" Depends)"
listing=$(dpkg-deb -c "$DEB")
for f in "${BINARIES[@]/#/./usr/bin/}" ./usr/share/containers/oci/hooks.d/dynamig.json \
    ./etc/dynamig/policy.toml ./usr/share/dynamig/kubernetes/runtimeclass.yaml \
    ./usr/share/dynamig/containerd/dynamig-v3.toml ./usr/share/doc/dynamig/install.md \
    ./usr/share/doc/dynamig/troubleshooting.md ./usr/share/dynamig/traces/alibaba-openb-gpu-requests.csv; do
    grep -q " $f\$" <<<"$listing" || fail "$f is not in the package"
done
ok "$(basename "$DEB"): $(du -h "$DEB" | cut -f1), $(wc -l <<<"$listing") entries, Depends: $(dpkg-deb -f "$DEB" Depends)"

# ------------------------------------------------------------------ b. install
step "b. dpkg -i"
dpkg -i "$DEB" >/dev/null || fail "dpkg -i $DEB"
INSTALLED=1
for b in "${BINARIES[@]}"; do
    [[ $(stat -c '%a %U:%G' "/usr/bin/$b") == "755 root:root" ]] || fail "/usr/bin/$b: $(stat -c '%a %U:%G' "/usr/bin/$b")"
done
HOOK_JSON=/usr/share/containers/oci/hooks.d/dynamig.json
[[ $(stat -c %a $HOOK_JSON) == 644 ]] || fail "$HOOK_JSON mode"
[[ $(jq -r .hook.path $HOOK_JSON) == /usr/bin/dynamig-hook ]] || fail "$HOOK_JSON hook path"
grep -qx /etc/dynamig/policy.toml /var/lib/dpkg/info/dynamig.conffiles || fail "policy.toml is not a conffile"
[[ $(dynamigctl --version) == "dynamigctl $VERSION" ]] || fail "dynamigctl --version: $(dynamigctl --version)"
profiles=$(dynamigctl profiles a100-40gb) || fail "dynamigctl profiles a100-40gb"
[[ $profiles == *3g.20gb* ]] || fail "dynamigctl profiles a100-40gb lacks 3g.20gb"
# the installed dynamigctl replays the packaged trace from any working directory
(cd / && dynamigctl replay --workload alibaba --requests 50 --policies dynamig >/dev/null) ||
    fail "dynamigctl replay --workload alibaba cannot find the packaged trace"
ok "installed: $(dpkg-query -W -f='${Package} ${Version}' dynamig); 4 binaries 0755 in /usr/bin; hooks.d and conffile; $(dynamigctl --version)"
# the installed dynamigctl points Docker at the installed wrapper by default
dynamigctl runtime configure --runtime docker --config "$WORK/none.json" --dry-run 2>/dev/null |
    jq -e '.runtimes.dynamig.path == "/usr/bin/dynamig-runc"' >/dev/null || fail "default --runc-wrapper is not /usr/bin/dynamig-runc"
[[ ! -e $WORK/none.json ]] || fail "--dry-run created a file"

export DYNAMIG_STATE_DIR=$WORK/state
dctl() { dynamigctl "$@"; }
n_instances() { dctl status --json | jq '[.gpus[].instances[] | select(.holder != null)] | length'; }
profile_of() { dctl status --json | jq -r --arg id "$1" '.gpus[].instances[] | select(.holder.id == $id) | .profile'; }
preempted() { dctl status --json | jq -r '[.ended[] | select(.state == "preempted") | .id] | join(" ")'; }
wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
someone_preempted() { [[ -n $(preempted) ]]; }
none_held() { [[ $(n_instances) -eq 0 ]]; }
task_not_running() { ! e2e_ctr task ls | awk -v id="$1" '$1 == id {print $3}' | grep -q RUNNING; }
ctr_remove() { # ID
    e2e_ctr task kill -s SIGKILL "$1" >/dev/null 2>&1 || true
    wait_for 10 task_not_running "$1" || true
    e2e_ctr task rm -f "$1" >/dev/null 2>&1 || true
    e2e_ctr container rm "$1" >/dev/null 2>&1 || true
}
# shellcheck disable=SC2016 # expands in the container
LOOP='trap "exit 0" TERM; while true; do sleep 1; done'

# ------------------------------------------------------------------ c. containerd 1.6
step "c. containerd $(containerd --version | awk '{print $3}') with a config.toml from runtime configure"
unset E2E_BIN_DIR E2E_DYNAMIG_RUNC
e2e_env_init "$WORK/c1" >/dev/null 2>&1 || fail "e2e_env_init"
# the distribution's `config default`, moved to private paths
containerd config default | sed \
    -e "s|^root = .*|root = \"$E2E_CONTAINERD_ROOT\"|" \
    -e "s|^state = .*|state = \"$E2E_CONTAINERD_STATE\"|" \
    -e "s|^  address = \"/run/containerd/containerd.sock\"|  address = \"$E2E_CONTAINERD_SOCK\"|" \
    -e "s|path = \"/opt/containerd\"|path = \"$E2E_CONTAINERD_ROOT/opt\"|" \
    -e "s|snapshotter = \"overlayfs\"|snapshotter = \"$E2E_SNAPSHOTTER\"|" \
    >"$E2E_CONTAINERD_CONFIG"
grep -q "$E2E_CONTAINERD_SOCK" "$E2E_CONTAINERD_CONFIG" || fail "could not move containerd's default config to private paths"
cp "$E2E_CONTAINERD_CONFIG" "$WORK/c1-default.toml"
out=$(dynamigctl runtime configure --runtime containerd --config "$E2E_CONTAINERD_CONFIG") || fail "runtime configure: $out"
[[ $out == *"updated"* ]] || fail "runtime configure said: $out"
cmp -s "$E2E_CONTAINERD_CONFIG.bak" "$WORK/c1-default.toml" || fail "the backup is not the old file"
out=$(dynamigctl runtime configure --runtime containerd --config "$E2E_CONTAINERD_CONFIG") || fail "second configure"
[[ $out == *"nothing changed"* ]] || fail "second configure changed something: $out"
[[ ! -e $E2E_CONTAINERD_CONFIG.bak.1 ]] || fail "second configure made another backup"
ok "configure: $(diff "$WORK/c1-default.toml" "$E2E_CONTAINERD_CONFIG" | grep -c '^>') lines added, backup kept, second run: nothing changed"
e2e_containerd_start || fail "containerd 1.6 refused the configured config.toml"
cri=$(e2e_ctr plugins ls | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" {print $NF}')
[[ $cri == ok ]] || fail "the CRI plugin is '$cri' (log: $E2E_CONTAINERD_LOG)"
grep -q 'dynamig:{Type:io.containerd.dynamig.v2' "$E2E_CONTAINERD_LOG" ||
    fail "containerd's CRI config has no dynamig runtime: $(grep -o 'Runtimes:map\[[^]]*' "$E2E_CONTAINERD_LOG" | head -1)"
grep -q 'PodAnnotations:\[dynamig.io/\*\]' "$E2E_CONTAINERD_LOG" || fail "the dynamig runtime lacks PodAnnotations [dynamig.io/*]"
ok "containerd 1.6 loaded it: CRI plugin ok, runtime dynamig {Type:io.containerd.dynamig.v2, PodAnnotations:[dynamig.io/*]}"

dctl sim init a100-40gb >/dev/null || fail "sim init"
e2e_image_import || fail "image import"
ctr_run() { # ID ANNOTATIONS...
    local id=$1 a args=()
    shift
    for a in "$@"; do args+=(--annotation "$a"); done
    e2e_ctr run -d --runtime io.containerd.dynamig.v2 "${args[@]}" "$E2E_IMAGE" "$id" sh -c "$LOOP" >/dev/null
}
ctr_run mig1 dynamig.io/gpu-memory=10GB || fail "ctr run mig1"
ctr_run mig2 dynamig.io/mig-profile=2g.10gb || fail "ctr run mig2"
ctr_run mig3 dynamig.io/mig-profile=2g.10gb || fail "ctr run mig3"
[[ $(n_instances) -eq 3 ]] || fail "want 3 held instances: $(dctl status)"
spid=$(_e2e_pids_with_arg "$E2E_CONTAINERD_SOCK" | while read -r p; do
    if [[ $(tr '\0' ' ' <"/proc/$p/cmdline") == *"-id mig1 "* ]]; then echo "$p"; fi; done | head -1)
[[ -n $spid && $(readlink "/proc/$spid/exe") == /usr/bin/containerd-shim-dynamig-v2 ]] ||
    fail "mig1's shim is not the installed /usr/bin/containerd-shim-dynamig-v2: pid [$spid] $(readlink "/proc/$spid/exe" 2>/dev/null)"
[[ -n $(jq -r '.annotations["dynamig.io/injected"] // empty' "$E2E_CONTAINERD_STATE/io.containerd.runtime.v2.task/$E2E_NS/mig1/config.json") ]] ||
    fail "mig1's spec was not edited by the installed shim"
ctr_run mig1-int dynamig.io/gpu-memory=20G dynamig.io/priority=interactive || fail "ctr run mig1-int"
[[ $(profile_of mig1-int) == 3g.20gb ]] || fail "mig1-int got '$(profile_of mig1-int)'"
wait_for 15 someone_preempted || fail "nobody preempted"
victims=$(preempted)
[[ $(wc -w <<<"$victims") -eq 1 ]] || fail "preempted: [$victims], want one"
[[ $(n_instances) -eq 3 ]] || fail "want 3 held instances after the preemption"
ok "seed walkthrough through /usr/bin/containerd-shim-dynamig-v2: three 10 GB devices, then mig1-int got 3g.20gb, preempted [$victims]"
dctl status
for id in mig1 mig2 mig3 mig1-int; do ctr_remove "$id"; done
[[ $(n_instances) -eq 0 ]] || fail "instances left after removing the containers"
ok "all released"
e2e_containerd_stop

# ------------------------------------------------------------------ d. dockerd
step "d. dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) with a daemon.json from runtime configure"
cat >"$WORK/daemon.json" <<'JSON'
{
    "log-driver": "json-file",
    "log-opts": { "max-size": "10m", "max-file": "2" },
    "live-restore": false
}
JSON
cp "$WORK/daemon.json" "$WORK/daemon.json.orig"
out=$(dynamigctl runtime configure --runtime docker --config "$WORK/daemon.json") || fail "configure docker: $out"
cmp -s "$WORK/daemon.json.bak" "$WORK/daemon.json.orig" || fail "daemon.json backup"
[[ $(jq -c 'keys_unsorted' "$WORK/daemon.json") == '["log-driver","log-opts","live-restore","runtimes"]' ]] ||
    fail "daemon.json keys: $(jq -c 'keys_unsorted' "$WORK/daemon.json")"
[[ $(dynamigctl runtime configure --runtime docker --config "$WORK/daemon.json") == *"nothing changed"* ]] || fail "second configure changed daemon.json"
E2E_DOCKER_DAEMON_JSON=$WORK/daemon.json e2e_dockerd_start || fail "dockerd refused the configured daemon.json"
e2e_docker info --format '{{json .Runtimes}}' | jq -e '.dynamig.path == "/usr/bin/dynamig-runc"' >/dev/null ||
    fail "docker info runtimes: $(e2e_docker info --format '{{json .Runtimes}}')"
[[ $(e2e_docker info --format '{{.LoggingDriver}}') == json-file ]] || fail "the other daemon.json settings were lost"
ok "dockerd loaded it: docker info lists runtime dynamig -> /usr/bin/dynamig-runc; log-driver kept"
e2e_docker_image_import || fail "docker import"
drun() { # NAME ENV...
    local n=$1 e args=()
    shift
    for e in "$@"; do args+=(-e "$e"); done
    e2e_docker run -d --name "$n" --network none --runtime dynamig "${args[@]}" "$E2E_DOCKER_IMAGE" sh -c "$LOOP" >/dev/null
}
drun dmig1 DYNAMIG_GPU_MEMORY=10GB || fail "docker run dmig1"
drun dmig2 DYNAMIG_MIG_PROFILE=2g.10gb || fail "docker run dmig2"
drun dmig3 DYNAMIG_MIG_PROFILE=2g.10gb || fail "docker run dmig3"
[[ $(n_instances) -eq 3 ]] || fail "docker: want 3 held instances: $(dctl status)"
drun dmig1-int DYNAMIG_GPU_MEMORY=20G DYNAMIG_PRIORITY=interactive || fail "docker run dmig1-int"
int_id=$(e2e_docker inspect -f '{{.Id}}' dmig1-int)
[[ $(profile_of "$int_id") == 3g.20gb ]] || fail "dmig1-int got '$(profile_of "$int_id")'"
# Docker deletes a task as soon as it exits, so the victim is released at once; the event log
# keeps the preemption.
# (the message names the evicting holder as namespace/id: moby/<id> for Docker)
victims_of() { dctl events --json | jq -r --arg by "$1" '[.[] | select(.kind == "preempted" and (.message | endswith("evicted for moby/" + $by))) | .holder] | join(" ")'; }
dvictims=$(victims_of "$int_id")
[[ $(wc -w <<<"$dvictims") -eq 1 ]] || fail "docker: preempted for dmig1-int: [$dvictims], want one"
running=0
for c in dmig1 dmig2 dmig3; do [[ $(e2e_docker inspect -f '{{.State.Running}}' "$c") == true ]] && running=$((running + 1)); done
[[ $running -eq 2 ]] || fail "docker: $running of dmig1..3 still running, want 2"
victim_name=$(e2e_docker ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.Status}}' | awk -v id="$dvictims" '$1 == id {print $2, $3, $4}')
# the injected env is in the container's init process (docker exec has Docker's own env)
vis=$(e2e_docker exec dmig1-int sh -c "tr '\\0' '\\n' </proc/1/environ" | sed -n 's/^NVIDIA_VISIBLE_DEVICES=//p')
[[ $vis == MIG-* ]] || fail "dmig1-int sees NVIDIA_VISIBLE_DEVICES=$vis"
ok "seed walkthrough through Docker --runtime dynamig: dmig1-int got 3g.20gb ($vis), preempted: $victim_name"
e2e_docker rm -f dmig1 dmig2 dmig3 dmig1-int >/dev/null || fail "docker rm -f"
wait_for 10 none_held || fail "docker: instances left after rm -f"
ok "all released"
e2e_dockerd_stop

# ------------------------------------------------------------------ e. containerd 2.1.9
step "e. containerd 2.1.9 (version = 3)"
C2DEB=${CONTAINERD2_DEB:-/var/cache/dynamig-e2e/containerd_2.1.9+ds1-5_amd64.deb}
if [[ ! -s $C2DEB ]]; then
    mkdir -p "$(dirname "$C2DEB")"
    curl -fsSL --retry 2 -o "$C2DEB.part" \
        http://deb.debian.org/debian/pool/main/c/containerd/containerd_2.1.9+ds1-5_amd64.deb ||
        fail "cannot download containerd 2.1.9 from deb.debian.org (set CONTAINERD2_DEB to a local copy)"
    mv "$C2DEB.part" "$C2DEB"
fi
dpkg-deb -x "$C2DEB" "$WORK/c2bin" || fail "dpkg-deb -x $C2DEB"
C2=$WORK/c2bin/usr/bin
c2v=$("$C2/containerd" --version) || fail "$C2/containerd --version"
[[ $c2v == *" 2.1."* ]] || fail "not containerd 2.1: $c2v"
# the 2.x runc shim first on the daemon's PATH; our shim comes from /usr/bin
export E2E_BIN_DIR=$C2 E2E_CONTAINERD_BIN=$C2/containerd E2E_CTR_BIN=$C2/ctr
e2e_env_init "$WORK/c2" >/dev/null 2>&1 || fail "e2e_env_init (2.1.9)"
"$C2/containerd" config default | sed \
    -e "s|^root = .*|root = '$E2E_CONTAINERD_ROOT'|" \
    -e "s|^state = .*|state = '$E2E_CONTAINERD_STATE'|" \
    -e "s|^  address = '/run/containerd/containerd.sock'|  address = '$E2E_CONTAINERD_SOCK'|" \
    -e "s|path = '/opt/containerd'|path = '$E2E_CONTAINERD_ROOT/opt'|" \
    -e "s|snapshotter = 'overlayfs'|snapshotter = '$E2E_SNAPSHOTTER'|" \
    >"$E2E_CONTAINERD_CONFIG"
grep -q "$E2E_CONTAINERD_SOCK" "$E2E_CONTAINERD_CONFIG" || fail "could not move 2.1.9's default config to private paths"
dynamigctl runtime configure --runtime containerd --config "$E2E_CONTAINERD_CONFIG" >/dev/null || fail "configure (version 3)"
grep -qF "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.dynamig]" "$E2E_CONTAINERD_CONFIG" ||
    fail "no version 3 runtime table in $(grep -n dynamig "$E2E_CONTAINERD_CONFIG")"
dump=$("$C2/containerd" --config "$E2E_CONTAINERD_CONFIG" config dump) || fail "containerd 2.1.9 config dump"
sect=$(grep -A12 "runtimes.dynamig\]" <<<"$dump") || fail "2.1.9 config dump has no dynamig runtime"
[[ $sect == *"runtime_type = 'io.containerd.dynamig.v2'"* ]] || fail "2.1.9 config dump: dynamig runtime_type: $sect"
[[ $sect == *"pod_annotations = ['dynamig.io/*']"* ]] || fail "2.1.9 config dump lacks pod_annotations: $sect"
e2e_containerd_start || fail "containerd 2.1.9 refused the configured config.toml"
cri=$(e2e_ctr plugins ls | awk '$1 == "io.containerd.cri.v1" && $2 == "runtime" {print $NF}')
[[ $cri == ok ]] || fail "2.1.9 CRI runtime plugin is '$cri'"
ok "containerd 2.1.9 loaded the version 3 config: cri.v1.runtime ok, runtime dynamig with pod_annotations"
e2e_image_import || fail "image import (2.1.9)"
e2e_ctr run -d --runtime io.containerd.dynamig.v2 --annotation dynamig.io/mig-profile=2g.10gb \
    "$E2E_IMAGE" c2mig sh -c "$LOOP" >/dev/null || fail "ctr run through the shim on 2.1.9"
[[ $(profile_of c2mig) == 2g.10gb ]] || fail "c2mig holds '$(profile_of c2mig)'"
ctr_remove c2mig
[[ $(n_instances) -eq 0 ]] || fail "2.1.9: instance left after removal"
ok "a container ran through the installed shim on containerd 2.1.9 (2g.10gb), released on removal"
e2e_containerd_stop
# a file `configure` creates from nothing is version 2; 2.1.9 migrates it and keeps the runtime
dynamigctl runtime configure --runtime containerd --config "$WORK/new/config.toml" >/dev/null || fail "configure a new file"
dump=$("$C2/containerd" --config "$WORK/new/config.toml" config dump) || fail "2.1.9 config dump of a version 2 file"
sect=$(grep -A12 "io.containerd.cri.v1.runtime'.containerd.runtimes.dynamig\]" <<<"$dump") || fail "2.1.9 did not migrate the version 2 runtime"
[[ $sect == *"pod_annotations = ['dynamig.io/*']"* ]] || fail "2.1.9 did not migrate the version 2 runtime"
ok "containerd 2.1.9 migrates a version 2 file from configure to cri.v1.runtime with the dynamig runtime"
unset E2E_BIN_DIR E2E_CONTAINERD_BIN E2E_CTR_BIN

# ------------------------------------------------------------------ f. removal
step "f. dpkg -r, dpkg --purge"
dpkg -r dynamig >/dev/null || fail "dpkg -r dynamig"
for b in "${BINARIES[@]}"; do [[ ! -e /usr/bin/$b ]] || fail "/usr/bin/$b left after dpkg -r"; done
[[ ! -e $HOOK_JSON ]] || fail "$HOOK_JSON left after dpkg -r"
[[ -f /etc/dynamig/policy.toml ]] || fail "dpkg -r removed the conffile"
dpkg --purge dynamig >/dev/null || fail "dpkg --purge dynamig"
INSTALLED=0
[[ ! -e /etc/dynamig/policy.toml ]] || fail "/etc/dynamig/policy.toml left after purge"
! dpkg-query -W -f='${Status}' dynamig 2>/dev/null | grep -q 'ok installed' || fail "still installed"
[[ -z $(dpkg -S dynamig 2>/dev/null | grep -v '^diversion' || true) ]] || fail "dpkg still knows dynamig files"
ok "dpkg -r removed the binaries and kept policy.toml; --purge removed everything"

# ------------------------------------------------------------------ g. install.sh
step "g. packaging/install.sh --destdir"
S=$WORK/stage
bash packaging/install.sh --bin-dir target/release --destdir "$S" >/dev/null || fail "install.sh"
for b in "${BINARIES[@]}"; do
    [[ $(stat -c %a "$S/usr/local/bin/$b") == 755 ]] || fail "install.sh: $b mode"
    cmp -s "$S/usr/local/bin/$b" "target/release/$b" || fail "install.sh: $b differs from the build"
done
[[ $(jq -r .hook.path "$S/etc/containers/oci/hooks.d/dynamig.json") == /usr/local/bin/dynamig-hook ]] || fail "install.sh: hook path"
[[ $(jq -r .runtimes.dynamig.path "$S/usr/local/share/dynamig/docker/daemon.json") == /usr/local/bin/dynamig-runc ]] || fail "install.sh: daemon.json example"
[[ -f $S/etc/dynamig/policy.toml && -f $S/usr/local/share/doc/dynamig/install.md ]] || fail "install.sh: policy or docs"
"$S/usr/local/bin/dynamigctl" runtime configure --runtime docker --config "$WORK/x.json" --dry-run 2>/dev/null |
    jq -e --arg w "$S/usr/local/bin/dynamig-runc" '.runtimes.dynamig.path == $w' >/dev/null || fail "dynamigctl from install.sh does not default to its own dynamig-runc"
echo "# mine" >>"$S/etc/dynamig/policy.toml"
bash packaging/install.sh --bin-dir target/release --destdir "$S" >/dev/null || fail "install.sh, second run"
grep -q '^# mine' "$S/etc/dynamig/policy.toml" || fail "a second install.sh overwrote policy.toml"
n=$(find "$S" -type f | wc -l)
bash packaging/install.sh --destdir "$S" --uninstall >/dev/null || fail "install.sh --uninstall"
left=$(find "$S" -type f)
[[ $left == "$S/etc/dynamig/policy.toml" ]] || fail "after --uninstall: $left"
bash packaging/install.sh --bin-dir target/release --destdir "$S" >/dev/null || fail "install.sh, third run"
bash packaging/install.sh --destdir "$S" --uninstall --purge >/dev/null || fail "install.sh --uninstall --purge"
[[ -z $(find "$S" -type f) ]] || fail "after --purge: $(find "$S" -type f)"
ok "install.sh: $n files into a DESTDIR (binaries 0755, hook and Docker paths under /usr/local), keeps an edited policy.toml, --uninstall / --purge leave nothing"

printf '\ninstall e2e: %d checks passed\n' "$PASS"
