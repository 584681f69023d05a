#!/usr/bin/env bash
# dynamig e2e: every Kubernetes manifest in packaging/kubernetes/ (the DRA plugin's in dra/ and
# the shim path's) validated against Kubernetes' own OpenAPI schemas, strictly (unknown fields
# are errors), by PyPI's kubernetes-validate through tests/lib/k8s-validate.sh. A copy with one
# misspelt field must be refused, so the check is known to bite. What the CEL selectors select
# is checked by dra/kube/tests/cel_selectors.rs; no API server runs here (docs/kubernetes.md).
#
# Gated: runs only with DYNAMIG_E2E=1, and then fails when kubernetes-validate cannot be
# installed (it needs python3-venv and PyPI).
#   DYNAMIG_E2E=1 bash tests/e2e/dra-manifests.sh
set -euo pipefail

if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "e2e dra-manifests skipped: DYNAMIG_E2E is not 1"
    exit 0
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
VALIDATE=$ROOT/tests/lib/k8s-validate.sh
fail() { printf '\nE2E DRA-MANIFESTS FAILED: %s\n' "$*" >&2; exit 1; }
ok() { printf '[e2e dra-manifests ok] %s\n' "$*"; }

WORK=$(mktemp -d /tmp/dynamig-e2e-dra-manifests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

shopt -s nullglob
dra=("$ROOT"/packaging/kubernetes/dra/*.yaml)
shim=("$ROOT"/packaging/kubernetes/*.yaml)
((${#dra[@]} >= 5)) || fail "expected the DRA manifests in packaging/kubernetes/dra/, found ${#dra[@]}"

# Each kind the DRA plugin ships is there.
for kind in DeviceClass ResourceClaimTemplate DaemonSet ServiceAccount ClusterRole ClusterRoleBinding Pod; do
    grep -qx "kind: $kind" "${dra[@]}" || fail "no $kind in packaging/kubernetes/dra/"
done
ok "packaging/kubernetes/dra has DeviceClasses, ResourceClaimTemplates, Pods, the DaemonSet and RBAC"

bash "$VALIDATE" "${dra[@]}" || fail "packaging/kubernetes/dra/ does not validate"
ok "${#dra[@]} DRA manifests validate (strict)"
bash "$VALIDATE" "${shim[@]}" || fail "packaging/kubernetes/*.yaml does not validate"
ok "${#shim[@]} shim-path manifests validate (strict)"

sed 's/^\(\s*\)firstAvailable:/\1firstAvailabel:/' "$ROOT/packaging/kubernetes/dra/claim-templates.yaml" >"$WORK/misspelt.yaml"
cmp -s "$WORK/misspelt.yaml" "$ROOT/packaging/kubernetes/dra/claim-templates.yaml" && fail "the misspelling did not apply"
if bash "$VALIDATE" "$WORK/misspelt.yaml" 2>"$WORK/err"; then
    fail "a misspelt field (firstAvailabel) was accepted: the validation is not strict"
fi
grep -q firstAvailabel "$WORK/err" || fail "the refusal does not name the misspelt field: $(cat "$WORK/err")"
ok "a misspelt field is refused"
