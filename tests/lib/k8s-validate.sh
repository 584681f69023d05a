#!/usr/bin/env bash
# Validates Kubernetes objects (YAML or JSON files, multi-document streams included) against
# Kubernetes' own OpenAPI schema with PyPI's kubernetes-validate, strictly (unknown fields are
# errors), for the newest Kubernetes version the package ships schemas for (at least 1.34, the
# first with resource.k8s.io/v1).
#
#   tests/lib/k8s-validate.sh FILE...        nothing on success; the problems and exit 1 otherwise
#   tests/lib/k8s-validate.sh --version      which package and Kubernetes version it validates with
#
# The package is pinned (KUBERNETES_VALIDATE_VERSION below) and installed once into a venv under
# ${XDG_CACHE_HOME:-$HOME/.cache}/dynamig/. K8S_VALIDATE_VERSION=1.36 picks another Kubernetes
# version. When the venv cannot be made (no python3, no venv module and no apt-get as root, PyPI
# unreachable) it fails loudly: never a silent pass.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0
MIN_KUBERNETES=1.34

fail() { printf 'k8s-validate: %s\n' "$*" >&2; exit 1; }

(($#)) || fail "usage: $0 FILE... | --version"

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/dynamig
VENV=$CACHE/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION
mkdir -p "$CACHE" || fail "cannot create $CACHE"

apt_install() {
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null ||
        fail "$* missing, and not root with apt-get to install it"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        fail "apt-get install $* failed"
}

install_venv() {
    command -v python3 >/dev/null || apt_install python3
    # Debian's python3 makes venvs only with python3-venv (ensurepip).
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    rm -rf "$VENV"
    local log=$CACHE/kubernetes-validate-install.log
    if ! { python3 -m venv "$VENV" &&
        "$VENV/bin/pip" install --quiet --disable-pip-version-check \
            "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -rf "$VENV"
        fail "cannot install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION from PyPI into $VENV"
    fi
    touch "$VENV/.installed"
}

# One installer at a time; the marker says the venv is whole.
exec 9>"$CACHE/kubernetes-validate.lock"
flock 9 || fail "cannot lock $CACHE/kubernetes-validate.lock"
[[ -f $VENV/.installed && -x $VENV/bin/kubernetes-validate ]] || install_venv
flock -u 9

# The newest Kubernetes version with schemas in the package, unless one is asked for; never
# older than MIN_KUBERNETES.
version=$("$VENV/bin/python" - "${K8S_VALIDATE_VERSION:-}" "$MIN_KUBERNETES" <<'PY'
import sys
from packaging.version import Version
from kubernetes_validate.utils import all_versions
wanted, minimum = sys.argv[1], Version(sys.argv[2])
have = sorted(all_versions(), key=Version)
pick = wanted or str(have[-1])
if Version(pick) < minimum:
    sys.exit(f"Kubernetes {pick} is older than {minimum}, the first with resource.k8s.io/v1")
if not any(Version(v).release[:2] == Version(pick).release[:2] for v in have):
    sys.exit(f"kubernetes-validate has no schemas for Kubernetes {pick} (it has {have[0]}..{have[-1]})")
print(pick)
PY
) || fail "no usable Kubernetes version"

if [[ $1 == --version ]]; then
    echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION, Kubernetes $version schemas, strict"
    exit 0
fi

for f in "$@"; do
    [[ -f $f ]] || fail "no such file: $f"
done
# --quiet prints only warnings and failures: anything printed is a problem.
if ! out=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "$# file(s) checked against Kubernetes $version: invalid"
fi
if [[ -n $out ]]; then
    printf '%s\n' "$out" >&2
    fail "kubernetes-validate warned (Kubernetes $version)"
fi
