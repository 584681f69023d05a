#!/usr/bin/env bash
# dynamig against NVIDIA's real files (issue #12, part 3), without a GPU: Debian's non-free
# libnvidia-ml.so.1 of the 535 and 550 drivers, its nvidia-smi, nvml.h of CUDA 12.x
# (libnvidia-ml-dev) and of NVML 13 (PyPI's nvidia-nvml-dev wheel, pinned by version and hash).
# The .debs come through tests/e2e/lib/debs.sh (signature-checked), all into E2E_DEB_CACHE.
#
#   1. symbols: every NVML function the backend resolves (the `sym!` calls of
#      scheduler/node/src/backend/nvml/ffi/*.rs, mapped through the nvml-wrapper-sys bindings to the
#      symbol each loads, plus nvml-wrapper's nvmlInit_v2 / nvmlShutdown) is exported, with that
#      versioned name, by both libraries (nm -D --defined-only), and declared by both headers
#      with the prototype the bindings call it with (gcc __builtin_types_compatible_p)
#   2. layouts: every struct the backend passes across the ABI has, in Rust
#      (scheduler/node/tests/nvml_abi_layout.rs), the size, alignment and field offsets that gcc gives
#      for nvml.h 12.x and 13.x; its field list is the bindings' own; the buffer sizes agree
#   3. dynamigctl doctor, status and allocate with the real library and no kernel driver, and a
#      simulated node in the state directory: each exits non-zero with one clear line, nothing
#      is allocated, the simulator is never used
#   4. the real nvmlInit (as root) creates /dev/nvidiactl when missing: the script removes every
#      /dev/nvidia* node that was not there before it started
#
# Gated: runs only with DYNAMIG_E2E=1 (root); then anything that cannot run is a failure.
#   sudo DYNAMIG_E2E=1 E2E_BIN_DIR=$PWD/target/debug bash tests/e2e/nvidia-real.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
E2E_NAME="nvidia-real"
export E2E_NS=dynamig-nvreal-$$
# shellcheck source-path=SCRIPTDIR source=lib/prelude.sh
source "$HERE/lib/prelude.sh"
info() { printf '[e2e nvidia-real info] %s\n' "$*"; }
for t in nm gcc python3 jq curl xz gpgv dpkg-deb sha256sum cargo; do command -v "$t" >/dev/null || fail "$t missing"; done

# shellcheck source-path=SCRIPTDIR source=lib/debs.sh
source "$HERE/lib/debs.sh"
W=$(mktemp -d /tmp/dyn-nvreal.XXXXXX)

# 4. what nvmlInit may create in /dev
DEV_BEFORE=$(cd /dev && find . -maxdepth 2 -name 'nvidia*' | sort)
restore_dev() {
    local now p
    now=$(cd /dev && find . -maxdepth 2 -name 'nvidia*' | sort)
    for p in $(comm -13 <(printf '%s\n' "$DEV_BEFORE") <(printf '%s\n' "$now") | sort -r); do
        [[ -n $p ]] || continue
        rm -f "/dev/${p#./}" 2>/dev/null || rmdir "/dev/${p#./}" 2>/dev/null || true
    done
}
PODMAN_ROOT=
cleanup() {
    local rc=$?
    if [[ -n $PODMAN_ROOT ]]; then pdm rm -af -t 0 >/dev/null 2>&1 || true; e2e_umount_under "$PODMAN_ROOT"; fi
    if declare -F e2e_cleanup >/dev/null; then e2e_cleanup || true; fi
    restore_dev
    [[ ${E2E_KEEP_WORKDIR:-0} == 1 ]] || rm -rf --one-file-system "$W" 2>/dev/null || true
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ NVIDIA's files
SUITE=trixie
NVML_DEV_WHEEL=nvidia-nvml-dev==13.0.87
NVML_DEV_WHEEL_SHA256=082871368275cf6620fc900f55d8eaf2563b263a38a00a5168e9650bce963ba1
X=$E2E_DEB_CACHE/x
mkdir -p "$X" || fail "cannot create $E2E_DEB_CACHE"
exec 9>"$E2E_DEB_CACHE/.lock"
flock -w 900 9 || fail "another run holds $E2E_DEB_CACHE/.lock for over 15 minutes"
declare -A ROOT=() VER=()
fetch() { # KEY PACKAGE
    local info
    info=$(deb_info "$SUITE/non-free" "$2") || fail "no verified non-free index for Debian $SUITE"
    [[ -n $info ]] || fail "package $2 is not in Debian $SUITE non-free"
    ROOT[$1]=$X/$2_${info%% *}
    VER[$1]=${info%% *}
    deb_extract "$SUITE/non-free" "$2" "${ROOT[$1]}" || fail "cannot fetch/extract $2 from $SUITE"
}
fetch lib535 libnvidia-tesla-535-ml1
fetch lib550 libnvidia-ml1
fetch smi nvidia-smi
fetch dev12 libnvidia-ml-dev
# NVML 13's header: a wheel (a zip) from PyPI, pinned by version and SHA256
WHEEL_DIR=$E2E_DEB_CACHE/pypi-${NVML_DEV_WHEEL/==/-}
if [[ ! -f $WHEEL_DIR/include/nvml.h ]]; then
    rm -rf "$WHEEL_DIR.tmp"; mkdir -p "$WHEEL_DIR.tmp"
    printf '%s --hash=sha256:%s\n' "$NVML_DEV_WHEEL" "$NVML_DEV_WHEEL_SHA256" >"$WHEEL_DIR.tmp/req.txt"
    pip=(python3 -m pip)
    if ! python3 -m pip --version >/dev/null 2>&1; then # Debian's python3 without python3-pip
        [[ -x $E2E_DEB_CACHE/venv-pip/bin/pip ]] || /usr/bin/python3 -m venv "$E2E_DEB_CACHE/venv-pip" ||
            fail "no pip: python3 -m venv failed (python3-venv missing?)"
        pip=("$E2E_DEB_CACHE/venv-pip/bin/pip")
    fi
    "${pip[@]}" download -q --no-deps --only-binary :all: --require-hashes -r "$WHEEL_DIR.tmp/req.txt" -d "$WHEEL_DIR.tmp" ||
        fail "pip download $NVML_DEV_WHEEL (hash-pinned) failed"
    python3 - "$WHEEL_DIR.tmp" <<'EOF' || fail "no nvml.h in the $NVML_DEV_WHEEL wheel"
import glob, os, sys, zipfile
d = sys.argv[1]
(whl,) = glob.glob(os.path.join(d, "*.whl"))
with zipfile.ZipFile(whl) as z:
    (name,) = [n for n in z.namelist() if n.endswith("/include/nvml.h")]
    os.makedirs(os.path.join(d, "include"))
    with open(os.path.join(d, "include", "nvml.h"), "wb") as f:
        f.write(z.read(name))
EOF
    rm -rf "$WHEEL_DIR"; mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
fi
exec 9>&-

lib_dir() { dirname "$(find "${ROOT[$1]}" -name 'libnvidia-ml.so.1' | head -1)"; }
LIB535=$(lib_dir lib535) LIB550=$(lib_dir lib550)
SMI=$(find "${ROOT[smi]}" -type f -name nvidia-smi -path '*/lib/*' | head -1) # not /usr/share/bug/nvidia-smi
H12=${ROOT[dev12]}/usr/include H13=$WHEEL_DIR/include
for f in "$LIB535/libnvidia-ml.so.1" "$LIB550/libnvidia-ml.so.1" "$SMI" "$H12/nvml.h" "$H13/nvml.h"; do
    [[ -e $f ]] || fail "$f missing from the extracted packages"
done
real() { readlink -f "$1"; }
for k in lib535 lib550; do
    d=$(lib_dir $k)
    ok "$k: Debian $SUITE ${ROOT[$k]##*/}: $(basename "$(real "$d/libnvidia-ml.so.1")") sha256 $(sha256sum "$(real "$d/libnvidia-ml.so.1")" | cut -c1-16)"
done
ok "nvidia-smi ${VER[smi]} sha256 $(sha256sum "$SMI" | cut -c1-16); nvml.h $(grep -m1 -o 'NVML_API_VERSION_STR *"[0-9]*"' "$H12/nvml.h" | tr -s ' ') (libnvidia-ml-dev ${VER[dev12]}), $(grep -m1 -o 'NVML_API_VERSION_STR *"[0-9]*"' "$H13/nvml.h" | tr -s ' ') ($NVML_DEV_WHEEL)"

# ------------------------------------------------------------------ 1. symbols
# The bindings' source, of the version Cargo.lock pins.
crate_src() { # CRATE -> its source directory in the cargo registry
    local v
    v=$(awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$REPO/Cargo.lock")
    [[ -n $v ]] || fail "$1 is not in Cargo.lock"
    find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 1 -mindepth 1 -type d -exec test -d "{}/$1-$v" \; -print -quit | sed "s|\$|/$1-$v|"
}
SYS_SRC=$(crate_src nvml-wrapper-sys) WRAP_SRC=$(crate_src nvml-wrapper)
BINDINGS=$SYS_SRC/src/bindings.rs
[[ -f $BINDINGS && -f $WRAP_SRC/src/lib.rs ]] || fail "nvml-wrapper(-sys) sources not found in the cargo registry (run cargo fetch)"
# The raw calls: every file of the backend's ffi module (the macros in mod.rs, the calls beside).
FFI=$REPO/scheduler/node/src/backend/nvml/ffi
FFI_SRC=$(cat "$FFI"/*.rs) || fail "cannot read $FFI/*.rs"
# sym!(self.lib, NAME), and string_call!/list_call!(self, NAME, ...), which call sym! on NAME
fields=$(perl -0ne 'while (/\b(?:sym!\(\s*self\.lib|string_call!\(\s*self|list_call!\(\s*self)\s*,\s*(\w+)/g) { print "$1\n" }' <<<"$FFI_SRC" | sort -u)
n_all=$(grep -o 'sym!(' <<<"$FFI_SRC" | wc -l) n_direct=$(grep -o 'sym!(self\.lib' <<<"$FFI_SRC" | wc -l)
((n_all - n_direct == 2)) || fail "ffi/ resolves symbols in $((n_all - n_direct)) places inside macros (this test knows string_call! and list_call!)"
[[ $(wc -w <<<"$fields") -ge 10 ]] || fail "found only $(wc -w <<<"$fields") symbol uses in $FFI"
# nvml-wrapper's builder without flags initialises with nvmlInit_v2 and drops with nvmlShutdown.
grep -rq '\.flags(' "$REPO/scheduler/node/src/backend/nvml" && fail "the backend now sets init flags: check nvmlInitWithFlags instead"
if ! grep -q 'lib\.nvmlInit_v2' "$WRAP_SRC/src/lib.rs" || ! grep -q 'self\.lib\.nvmlShutdown()' "$WRAP_SRC/src/lib.rs"; then
    fail "nvml-wrapper no longer initialises through nvmlInit_v2 / nvmlShutdown: update this test"
fi
# Nothing else calls into the library: no safe nvml-wrapper call on the loaded Nvml.
safe=$(grep -rn 'self\.nvml\.\|nvml\.device\|Device::' "$REPO/scheduler/node/src/backend" || true)
[[ -z $safe ]] || fail "the backend calls nvml-wrapper's safe API (its symbols are not in this test): $safe"
fields="nvmlInit_v2 nvmlShutdown $fields"
SYMS=()
for f in $fields; do
    s=$(F=$f perl -0ne 'print "$1\n" if /\blet \Q$ENV{F}\E = __library\s*\.get\(b"(\w+)\\0"\)/' "$BINDINGS")
    [[ -n $s ]] || fail "the bindings do not load a symbol for the field $f"
    SYMS+=("$s")
done
printf '%s\n' "${SYMS[@]}" >"$W/symbols.txt"
for k in lib535 lib550; do
    lib=$(real "$(lib_dir $k)/libnvidia-ml.so.1")
    nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "W" || $2 == "i" { print $3 }' | sed 's/@.*//' | sort -u >"$W/$k.exports"
    missing=$(comm -23 <(sort -u "$W/symbols.txt") "$W/$k.exports")
    [[ -z $missing ]] || fail "$k (${lib##*/}) lacks symbols the backend resolves: $(tr '\n' ' ' <<<"$missing")"
    ok "$k: all ${#SYMS[@]} symbols the backend resolves are exported by ${lib##*/} ($(wc -l <"$W/$k.exports") exported)"
done
for h in 12 13; do
    hd=H$h
    { echo '#include <nvml.h>'; echo 'int main(void) {'; for s in "${SYMS[@]}"; do echo "  (void)&$s;"; done; echo '  return 0; }'; } >"$W/decl$h.c"
    gcc -std=c11 -Werror=implicit-function-declaration -I"${!hd}" -c -o /dev/null "$W/decl$h.c" 2>"$W/decl$h.err" ||
        fail "nvml.h $h.x does not declare every symbol the backend resolves: $(grep -m3 error "$W/decl$h.err")"
    ok "nvml.h $h.x declares all ${#SYMS[@]} of them"
done
# The prototypes the bindings call them with (Rust's fn types, in C) are the headers' own.
SYMS_LIST="${SYMS[*]}" perl -0ne '
    my %want = map { $_ => 1 } split / /, $ENV{SYMS_LIST};
    sub ct { my $t = shift; $t =~ s/^\s+|\s+$//g;
        return ct($1) . " *" if $t =~ /^\*mut (.*)$/s;
        return "const " . ct($1) . " *" if $t =~ /^\*const (.*)$/s;
        my %m = ("raw::c_uint" => "unsigned int", "raw::c_int" => "int", "raw::c_char" => "char",
                 "raw::c_ulonglong" => "unsigned long long", "raw::c_ulong" => "unsigned long", "raw::c_void" => "void");
        return $m{$t} // $t }
    print "#include <nvml.h>\n";
    while (/pub (\w+): Result<\s*unsafe extern "C" fn\(([^()]*)\)\s*->\s*([^,]+?),\s*::libloading::Error/gs) {
        my ($n, $args, $ret) = ($1, $2, ct($3));
        next unless $want{$n}; delete $want{$n};
        my @p = map { my ($x) = /:\s*(.*)$/s; ct($x) } grep { /\S/ } split /,/, $args;
        my $ps = @p ? join(", ", @p) : "void";
        print "_Static_assert(__builtin_types_compatible_p(__typeof__(&$n), $ret (*)($ps)), \"$n: nvml.h has another prototype than the bindings ($ret $n($ps))\");\n" }
    die "no prototype in the bindings for: " . join(" ", sort keys %want) . "\n" if %want;
' "$BINDINGS" >"$W/proto.c" || fail "cannot read the prototypes from the bindings"
# the check itself can fail: a GI info call taking the CI info struct is refused
printf '#include <nvml.h>\n_Static_assert(__builtin_types_compatible_p(__typeof__(&nvmlGpuInstanceGetInfo), nvmlReturn_t (*)(nvmlGpuInstance_t, nvmlComputeInstanceInfo_t *)), "x");\n' >"$W/proto-neg.c"
! gcc -std=gnu11 -I"$H12" -c -o /dev/null "$W/proto-neg.c" 2>/dev/null || fail "gcc accepts a wrong prototype: the prototype check cannot fail"
for h in 12 13; do
    hd=H$h
    gcc -std=gnu11 -I"${!hd}" -c -o /dev/null "$W/proto.c" 2>"$W/proto$h.err" ||
        fail "nvml.h $h.x: $(grep -o 'nvml[A-Za-z0-9_]*: nvml.h has another prototype.*' "$W/proto$h.err" | head -3; grep -m3 error "$W/proto$h.err")"
    ok "nvml.h $h.x declares all ${#SYMS[@]} with the prototypes the bindings call (return and parameter types)"
done
info "symbols: $(tr '\n' ' ' <"$W/symbols.txt")"

# ------------------------------------------------------------------ 2. layouts
(cd "$REPO" && DYNAMIG_ABI_LAYOUT_OUT=$W/rust.txt cargo test -q -p dynamig-node --test nvml_abi_layout >"$W/cargo.log" 2>&1) ||
    fail "cargo test --test nvml_abi_layout failed: $(tail -5 "$W/cargo.log")"
[[ -s $W/rust.txt ]] || fail "the layout test wrote nothing"
# Every nvml*_t the backend names is in the Rust list, except opaque handles and the return code.
used=$(grep -o 'nvml[A-Za-z0-9_]*_t\b' <<<"$FFI_SRC" | sort -u | grep -vx 'nvmlDevice_t\|nvmlGpuInstance_t\|nvmlComputeInstance_t\|nvmlReturn_t')
listed=$(awk '$1 == "struct" { print $2 }' "$W/rust.txt" | sort -u)
typed=$(awk '$1 == "struct" || $1 == "scalar" { print $2 }' "$W/rust.txt" | sort -u)
[[ -z $(comm -23 <(printf '%s\n' "$used") <(printf '%s\n' "$typed")) ]] ||
    fail "types used by ffi/ but not in nvml_abi_layout.rs: $(comm -23 <(printf '%s\n' "$used") <(printf '%s\n' "$typed") | tr '\n' ' ')"
# Each struct's fields are exactly the bindings' fields.
for t in $listed; do
    st=$(sed -n "s/^pub type $t = \([A-Za-z0-9_]*\);/\1/p" "$BINDINGS" | head -1)
    [[ -n $st ]] || fail "no 'pub type $t' in the bindings"
    want=$(awk -v h="pub struct $st {" 'index($0, h) == 1 { p = 1; next } p && /^}/ { exit } p { sub(/^ *pub /, ""); sub(/:.*/, ""); print }' "$BINDINGS")
    have=$(awk -v t="$t" '$1 == "field" && $2 == t { print $3 }' "$W/rust.txt")
    [[ $want == "$have" ]] || fail "$t: the layout test lists [$(tr '\n' ' ' <<<"$have")], the bindings have [$(tr '\n' ' ' <<<"$want")]"
done
ok "layout test: $(wc -w <<<"$listed") structs and $(($(wc -w <<<"$typed") - $(wc -w <<<"$listed"))) enum typedefs, every field of each as the bindings declare them, and every struct ffi/ names"
{
    cat <<'EOF_C'
#include <stdio.h>
#include <stddef.h>
#include <nvml.h>
#define S(t) printf("struct %s size %zu align %zu\n", #t, sizeof(t), _Alignof(t))
#define F(t, f) printf("field %s %s offset %zu size %zu\n", #t, #f, offsetof(t, f), sizeof(((t *)0)->f))
#define K(t) printf("scalar %s size %zu align %zu\n", #t, sizeof(t), _Alignof(t))
#define C(c) printf("const %s %llu\n", #c, (unsigned long long)(c))
int main(void) {
EOF_C
    awk '$1 == "struct" { print "  S(" $2 ");" } $1 == "field" { print "  F(" $2 ", " $3 ");" } $1 == "scalar" { print "  K(" $2 ");" } $1 == "const" { print "  C(" $2 ");" }' "$W/rust.txt"
    echo '  return 0; }'
} >"$W/layout.c"
for h in 12 13; do
    hd=H$h
    gcc -std=c11 -I"${!hd}" -o "$W/layout$h" "$W/layout.c" 2>"$W/layout$h.err" || fail "layout.c against nvml.h $h.x: $(grep -m3 error "$W/layout$h.err")"
    "$W/layout$h" >"$W/c$h.txt" || fail "layout$h did not run"
    d=$(diff <(grep -v '^const' "$W/rust.txt") <(grep -v '^const' "$W/c$h.txt")) ||
        fail "struct layouts differ between nvml-wrapper-sys and nvml.h $h.x (< Rust, > C):"$'\n'"$d"
    ok "nvml.h $h.x: $(grep -c '^struct' "$W/c$h.txt") structs, $(grep -c '^field' "$W/c$h.txt") fields: sizes, alignments and offsets as in Rust"
    # Buffer sizes must agree (NVML writes up to the length passed); the profile counts only bound
    # a loop in which an index the driver lacks answers INVALID_ARGUMENT, so they are reported.
    for c in NVML_DEVICE_NAME_V2_BUFFER_SIZE NVML_DEVICE_UUID_V2_BUFFER_SIZE NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE; do
        [[ $(grep "^const $c " "$W/rust.txt") == "$(grep "^const $c " "$W/c$h.txt")" ]] ||
            fail "$c: Rust $(grep "^const $c " "$W/rust.txt"), nvml.h $h.x $(grep "^const $c " "$W/c$h.txt")"
    done
    ok "nvml.h $h.x: the four string buffer sizes as in Rust"
    info "nvml.h $h.x: $(grep '_PROFILE_COUNT' "$W/c$h.txt" | tr '\n' ' ')(Rust: $(grep '_PROFILE_COUNT' "$W/rust.txt" | awk '{print $3}' | tr '\n' ' '))"
done
[[ -n ${E2E_NVREAL_LAYOUT_OUT:-} ]] && cp "$W/c12.txt" "$E2E_NVREAL_LAYOUT_OUT.12" && cp "$W/c13.txt" "$E2E_NVREAL_LAYOUT_OUT.13" && cp "$W/rust.txt" "$E2E_NVREAL_LAYOUT_OUT.rust"

# ------------------------------------------------------------------ 3. no driver: never the simulator
export DYNAMIG_STATE_DIR=$W/state
unset DYNAMIG_BACKEND
mkdir -m 700 "$DYNAMIG_STATE_DIR"
DYNAMIG_BACKEND=sim "$E2E_BIN_DIR/dynamigctl" sim init a100-40gb >/dev/null || fail "dynamigctl sim init failed"
sim_instances() { DYNAMIG_BACKEND=sim "$E2E_BIN_DIR/dynamigctl" status --json | jq '[.gpus[].instances[]] | length'; }
sim_before=$(cat "$DYNAMIG_STATE_DIR"/sim.json 2>/dev/null | sha256sum)
for k in lib535 lib550; do
    libdir=$(lib_dir $k)
    for cmd in "status" "status --json" "allocate nvreal-1 --gpu-memory 10GB" "allocate nvreal-2 --mig-profile 2g.10gb --json"; do
        rc=0
        # shellcheck disable=SC2086 # the command's words
        LD_LIBRARY_PATH=$libdir "$E2E_BIN_DIR/dynamigctl" $cmd >"$W/out" 2>"$W/err" || rc=$?
        ((rc != 0)) || fail "$k: dynamigctl $cmd exited 0 with no driver: $(cat "$W/out")"
        [[ ! -s $W/out ]] || fail "$k: dynamigctl $cmd wrote to stdout with no driver: $(head -3 "$W/out")"
        [[ $(wc -l <"$W/err") -eq 1 ]] || fail "$k: dynamigctl $cmd: want one line on stderr, got: $(cat "$W/err")"
        if ! grep -q 'NVML failed to initialise' "$W/err" || ! grep -q 'does not fall back to the simulated node' "$W/err"; then
            fail "$k: dynamigctl $cmd: unclear error: $(cat "$W/err")"
        fi
    done
    line=$(cat "$W/err")
    rc=0
    LD_LIBRARY_PATH=$libdir "$E2E_BIN_DIR/dynamigctl" doctor >"$W/out" 2>"$W/err" || rc=$?
    ((rc != 0)) || fail "$k: dynamigctl doctor exited 0 with no driver"
    [[ $(grep -c '^\[FAIL\] NVML: NVML failed to initialise' "$W/out") -eq 1 ]] || fail "$k: doctor: no one-line NVML failure: $(cat "$W/out")"
    grep -q '^node: NOT ready' "$W/out" || fail "$k: doctor did not say NOT ready"
    ! grep -q 'sim init' "$W/out" || fail "$k: doctor suggests a simulated node on a GPU node: $(grep 'sim init' "$W/out")"
    ok "$k: status, status --json and allocate (memory, profile) exit non-zero with one line, doctor with [FAIL] NVML and NOT ready: $line"
done
n=$(sim_instances)
[[ $n == 0 ]] || fail "the simulated node got $n instance(s) while the real library was loaded"
[[ $(cat "$DYNAMIG_STATE_DIR"/sim.json 2>/dev/null | sha256sum) == "$sim_before" ]] || fail "the simulated node's file changed"
ok "the simulated node in the state directory was never used (0 instances, file unchanged)"

# ------------------------------------------------------------------ 4. /dev put back
now=$(cd /dev && find . -maxdepth 2 -name 'nvidia*' | sort)
appeared=$(comm -13 <(printf '%s\n' "$DEV_BEFORE") <(printf '%s\n' "$now") | tr '\n' ' ')
restore_dev
after=$(cd /dev && find . -maxdepth 2 -name 'nvidia*' | sort)
[[ $after == "$DEV_BEFORE" ]] || fail "/dev/nvidia* not put back: before [$DEV_BEFORE], after [$after]"
ok "/dev: nvmlInit created [${appeared:-nothing}]; removed, /dev/nvidia* as before ([$(tr '\n' ' ' <<<"$DEV_BEFORE")])"

# ------------------------------------------------------------------ 5. in containers
# dynamig itself on the simulator (DYNAMIG_BACKEND=sim; the sim node claims the 550 driver, as the
# CDI spec does); inside the containers, NVIDIA's own library and nvidia-smi, mounted from a CDI
# spec in the layout `nvidia-ctk cdi generate` writes, with its createContainer hook making the
# libnvidia-ml.so.1 link (as nvidia-cdi-hook create-symlinks does).
#   a. containerd 1.6 through the shim (ctr run --runtime io.containerd.dynamig.v2)
#   b. Docker 20.10 through dynamig-runc (docker run --runtime dynamig)
#   c. podman through dynamig-runc (podman --runtime)
# In each, a container with a slice runs nvidia-smi: it loads the real library and fails only for
# want of a kernel driver; a container without a request has neither the library nor nvidia-smi.
export E2E_DYNAMIG_RUNC=$E2E_BIN_DIR/dynamig-runc E2E_WORKDIR_OWNED=1
e2e_env_init "$W/e2e" dynamig=io.containerd.dynamig.v2 >/dev/null 2>&1 || fail "e2e_env_init"
export DYNAMIG_STATE_DIR=$W/cstate DYNAMIG_BACKEND=sim DYNAMIG_CDI_SPEC_DIRS=$W/cdi
V550=$(basename "$(real "$LIB550/libnvidia-ml.so.1")") V550=${V550#libnvidia-ml.so.}
"$E2E_BIN_DIR/dynamigctl" sim init a100-40gb --driver-version "$V550" >/dev/null || fail "dynamigctl sim init --driver-version $V550"
ML_HOST=$(real "$LIB550/libnvidia-ml.so.1") ML_SUM=$(sha256sum "$(real "$LIB550/libnvidia-ml.so.1")" | cut -d' ' -f1)
LIBDIR=/usr/lib/x86_64-linux-gnu
# the toolkit's createContainer hook, for create-symlinks (and update-ldcache: nothing to do in a
# rootfs without ldconfig, where the loader searches $LIBDIR anyway)
HOOK=$W/nvidia-cdi-hook
cat >"$HOOK" <<'EOF_HOOK'
#!/bin/sh
# nvidia-cdi-hook create-symlinks --link TARGET::LINK ... (an OCI hook: the state on stdin,
# the environment only what the spec gives)
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
state=$(cat)
[ "${1:-}" = create-symlinks ] || exit 0
bundle=$(printf '%s' "$state" | jq -r .bundle)
root=$(jq -r .root.path "$bundle/config.json")
case $root in /*) ;; *) root=$bundle/$root ;; esac
shift
while [ $# -ge 2 ]; do
    [ "$1" = --link ] || { shift; continue; }
    target=${2%%::*} link=${2#*::}
    mkdir -p "$root$(dirname "$link")"
    ln -sfn "$target" "$root$link"
    shift 2
done
EOF_HOOK
chmod 755 "$HOOK"
mkdir -p "$DYNAMIG_CDI_SPEC_DIRS"
cat >"$DYNAMIG_CDI_SPEC_DIRS/nvidia.yaml" <<EOF_SPEC
---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
containerEdits:
    env:
        - NVIDIA_VISIBLE_DEVICES=void
    hooks:
        - hookName: createContainer
          path: $HOOK
          args:
            - nvidia-cdi-hook
            - create-symlinks
            - --link
            - libnvidia-ml.so.$V550::$LIBDIR/libnvidia-ml.so.1
          env:
            - NVIDIA_CTK_DEBUG=false
        - hookName: createContainer
          path: $HOOK
          args:
            - nvidia-cdi-hook
            - update-ldcache
            - --folder
            - $LIBDIR
    mounts:
        - hostPath: $ML_HOST
          containerPath: $LIBDIR/libnvidia-ml.so.$V550
          options:
            - ro
            - nosuid
            - nodev
            - bind
        - hostPath: $SMI
          containerPath: /usr/bin/nvidia-smi
          options:
            - ro
            - nosuid
            - nodev
            - bind
EOF_SPEC
# A glibc in the busybox image: what `ldd nvidia-smi` names, from the host
glibc_rootfs() { # ROOTFS
    local lib
    mkdir -p "$1/lib64" "$1$LIBDIR" "$1/lib/x86_64-linux-gnu" || return 1
    for lib in $(ldd "$SMI" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        case $lib in
            */ld-linux*) cp -L "$lib" "$1/lib64/${lib##*/}" ;;
            *) cp -L "$lib" "$1/lib/x86_64-linux-gnu/${lib##*/}" ;;
        esac || return 1
    done
}
E2E_IMAGE_EXTRA=glibc_rootfs e2e_image_build || fail "building the glibc busybox image"
ok "CDI spec $DYNAMIG_CDI_SPEC_DIRS/nvidia.yaml (nvidia-ctk layout: libnvidia-ml.so.$V550, nvidia-smi, createContainer hooks); image: busybox + $(ldd "$SMI" | grep -c '/') glibc files from the host"

# The script every container runs: what nvidia-smi says, then what it sees.
# shellcheck disable=SC2016 # expands inside the container
PROBE='nvidia-smi >/tmp/smi 2>&1; echo "smi-rc=$?"; echo "smi: $(head -3 /tmp/smi | tr "\n" " ")"; sha256sum '$LIBDIR'/libnvidia-ml.so.1 2>&1 | sed "s/^/ml: /"; tr "\0" "\n" </proc/1/environ | grep ^NVIDIA_VISIBLE_DEVICES=; exit 0'
# Checks a probe's output: $1 label, $2 output, $3 yes (a slice: the real library) or no
check_probe() {
    local label=$1 out=$2 smi
    smi=$(sed -n 's/^smi: //p' <<<"$out")
    if [[ $3 == yes ]]; then
        grep -q "^ml: $ML_SUM " <<<"$out" || fail "$label: $LIBDIR/libnvidia-ml.so.1 in the container is not NVIDIA's $V550 library: $out"
        ! grep -qi "couldn't find libnvidia-ml\|not found\|no such file" <<<"$smi" || fail "$label: nvidia-smi did not load the library: $smi"
        grep -q "Failed to initialize NVML\|couldn't communicate with the NVIDIA driver" <<<"$smi" ||
            fail "$label: nvidia-smi did not fail for want of a driver: $out"
        grep -q '^smi-rc=0$' <<<"$out" && fail "$label: nvidia-smi succeeded without a driver?"
        grep -q '^NVIDIA_VISIBLE_DEVICES=MIG-' <<<"$out" || fail "$label: NVIDIA_VISIBLE_DEVICES is not the slice's MIG device: $out"
        ok "$label: NVIDIA's libnvidia-ml.so.1 ($V550, sha256 ${ML_SUM:0:16}) inside; nvidia-smi: $(head -c 200 <<<"$smi")"
    else
        grep -q '^smi-rc=127$' <<<"$out" || fail "$label: a container without a request can run nvidia-smi: $out"
        grep -q '^ml: .*No such file' <<<"$out" || fail "$label: a container without a request has $LIBDIR/libnvidia-ml.so.1: $out"
        ok "$label without a request: no nvidia-smi, no libnvidia-ml.so.1"
    fi
}
n_instances() { "$E2E_BIN_DIR/dynamigctl" status --json | jq '[.gpus[].instances[]] | length'; }

# a. containerd through the shim
e2e_containerd_start || fail "containerd start"
e2e_image_import || fail "image import"
DYN=$(e2e_runtime_flags dynamig)
# shellcheck disable=SC2086
out=$(e2e_ctr run --rm $DYN --annotation dynamig.io/gpu-memory=10GB "$E2E_IMAGE" nvreal-c1 sh -c "$PROBE" 2>&1) ||
    fail "ctr run --runtime io.containerd.dynamig.v2 with a request: $out"
check_probe "containerd $(containerd --version | awk '{print $3}') shim" "$out" yes
[[ $(n_instances) == 0 ]] || fail "containerd: the instance was not released"
# shellcheck disable=SC2086
out=$(e2e_ctr run --rm $DYN "$E2E_IMAGE" nvreal-c2 sh -c "$PROBE" 2>&1) || fail "ctr run without a request: $out"
check_probe "containerd shim" "$out" no
e2e_containerd_stop

# b. Docker through dynamig-runc
e2e_dockerd_start || fail "dockerd start"
e2e_docker_image_import || fail "docker image import"
out=$(e2e_docker run --rm --network none --runtime dynamig -e DYNAMIG_GPU_MEMORY=10GB "$E2E_DOCKER_IMAGE" sh -c "$PROBE" 2>&1) ||
    fail "docker run --runtime dynamig with a request: $out"
check_probe "Docker $(e2e_docker version -f '{{.Server.Version}}' 2>/dev/null) dynamig-runc" "$out" yes
[[ $(n_instances) == 0 ]] || fail "Docker: the instance was not released"
out=$(e2e_docker run --rm --network none --runtime dynamig "$E2E_DOCKER_IMAGE" sh -c "$PROBE" 2>&1) || fail "docker run without a request: $out"
check_probe "Docker dynamig-runc" "$out" no
e2e_dockerd_stop

# c. podman through dynamig-runc
command -v podman >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >"$W/apt.log" 2>&1 ||
        fail "apt-get install podman failed: $(tail -3 "$W/apt.log")"
}
PODMAN_ROOT=$E2E_WORKDIR/podman
mkdir -p "$PODMAN_ROOT"/{root,run,tmp}
pdm() {
    podman --root "$PODMAN_ROOT/root" --runroot "$PODMAN_ROOT/run" --tmpdir "$PODMAN_ROOT/tmp" \
        --cgroup-manager cgroupfs --events-backend file --storage-driver "$E2E_DOCKER_STORAGE_DRIVER" "$@"
}
# conmon does not hand its environment to the OCI runtime: a wrapper sets dynamig's
PODMAN_RUNTIME=$PODMAN_ROOT/dynamig-runc
printf '#!/bin/sh\nDYNAMIG_STATE_DIR=%s DYNAMIG_BACKEND=sim DYNAMIG_CDI_SPEC_DIRS=%s exec %s "$@"\n' \
    "$DYNAMIG_STATE_DIR" "$DYNAMIG_CDI_SPEC_DIRS" "$E2E_DYNAMIG_RUNC" >"$PODMAN_RUNTIME"
chmod +x "$PODMAN_RUNTIME"
PDM_LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024) # see versions.sh
pdm import "$E2E_IMAGE_DIR/rootfs.tar" localhost/glibc-e2e:1 >"$W/podman-import.log" 2>&1 || fail "podman import: $(tail -3 "$W/podman-import.log")"
out=$(pdm run "${PDM_LIMITS[@]}" --rm --runtime "$PODMAN_RUNTIME" --network none -e DYNAMIG_GPU_MEMORY=10GB localhost/glibc-e2e:1 sh -c "$PROBE" 2>&1) ||
    fail "podman --runtime dynamig-runc with a request: $out"
check_probe "podman $(podman --version | awk '{print $3}') dynamig-runc" "$out" yes
[[ $(n_instances) == 0 ]] || fail "podman: the instance was not released"
out=$(pdm run "${PDM_LIMITS[@]}" --rm --runtime "$PODMAN_RUNTIME" --network none localhost/glibc-e2e:1 sh -c "$PROBE" 2>&1) || fail "podman run without a request: $out"
check_probe "podman dynamig-runc" "$out" no

echo "nvidia-real: $PASS checks passed"
