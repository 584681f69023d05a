#!/usr/bin/env bash
# dynamig e2e: every ResourceSlice dynamig-dra publishes, for every catalog model on nodes of 1
# and 8 GPUs with MIG on, off and pending (and mixed, and a 253-character node name), checked
# against Kubernetes' own OpenAPI schema, strictly, with PyPI's kubernetes-validate
# (tests/lib/k8s-validate.sh: the newest Kubernetes version the package has schemas for, and 1.36,
# the API dynamig is built against). The files come from
# `cargo run -p dynamig-dra-slices --example write-slices`, which first checks each pool with the
# crate's own limits validator.
#
# Gated: runs only with DYNAMIG_E2E=1; then anything that cannot run (cargo, python3, PyPI) is a
# failure.
#   DYNAMIG_E2E=1 bash tests/e2e/dra-slices.sh
set -euo pipefail

if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "e2e dra-slices skipped: DYNAMIG_E2E is not 1"
    exit 0
fi

cd "$(dirname "$0")/../.."
fail() { printf '\nE2E DRA-SLICES FAILED: %s\n' "$*" >&2; exit 1; }
ok() { printf '[e2e dra-slices ok] %s\n' "$*"; }

VALIDATE=tests/lib/k8s-validate.sh
WORK=$(mktemp -d /tmp/dynamig-e2e-dra-slices.XXXXXX)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

command -v cargo >/dev/null || fail "cargo is not on PATH"
cargo run -q -p dynamig-dra-slices --example write-slices -- "$WORK/slices" ||
    fail "write-slices failed (a pool broke the limits validator?)"
models=$(cargo run -q -p dynamig-dra-slices --example write-slices -- --models 2>/dev/null || true)
files=("$WORK"/slices/*.yaml)
# 8 files per model: 1 and 8 GPUs x on/off/pending, 8 mixed, 8 with a long node name.
want=$((8 * $(wc -w <<<"$models")))
[[ $want -gt 0 ]] || fail "write-slices --models listed no models"
[[ ${#files[@]} -eq $want ]] || fail "expected $want slice files, got ${#files[@]}"
slices=$(grep -c '^---$' "${files[@]}" | awk -F: '{n += $2} END {print n}')
ok "write-slices: ${#files[@]} pools, $slices ResourceSlices, each within the limits validator"

version=$(bash "$VALIDATE" --version) || fail "tests/lib/k8s-validate.sh cannot run"
ok "validator: $version"

bash "$VALIDATE" "${files[@]}" || fail "a ResourceSlice does not match the schema (above)"
ok "all $slices slices match the newest schema, strictly"

a100=("$WORK"/slices/a100-40gb-*.yaml)
K8S_VALIDATE_VERSION=1.36 bash "$VALIDATE" "${a100[@]}" ||
    fail "an A100-40GB slice does not match the Kubernetes 1.36 schema (above)"
ok "the A100-40GB pools match the Kubernetes 1.36 schema, strictly"

# Controls: the validator does refuse what the API server would: an unknown field, and a
# string where an integer belongs.
one=$WORK/slices/a100-40gb-1gpu-on.yaml
sed 's/"nodeName":/"nodeNmae":"x","nodeName":/' "$one" >"$WORK/unknown-field.yaml"
sed 's/"resourceSliceCount":2/"resourceSliceCount":"2"/' "$one" >"$WORK/wrong-type.yaml"
for bad in unknown-field wrong-type; do
    cmp -s "$one" "$WORK/$bad.yaml" && fail "the $bad control did not change the file"
    if bash "$VALIDATE" "$WORK/$bad.yaml" 2>"$WORK/$bad.err"; then
        fail "kubernetes-validate accepted the $bad control"
    fi
    grep -q 'did not validate' "$WORK/$bad.err" || fail "the $bad control failed for another reason: $(cat "$WORK/$bad.err")"
done
ok "controls: an unknown field and a mistyped one are refused"

# And when it cannot install, it says so and fails (a fresh cache, an index that does not answer).
if XDG_CACHE_HOME=$WORK/cache PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_RETRIES=0 PIP_TIMEOUT=2 \
    bash "$VALIDATE" "$one" 2>"$WORK/install.err"; then
    fail "k8s-validate.sh passed without being able to install kubernetes-validate"
fi
grep -q 'cannot install kubernetes-validate' "$WORK/install.err" ||
    fail "no clear message when the install fails: $(cat "$WORK/install.err")"
ok "an install that cannot reach PyPI fails loudly"
