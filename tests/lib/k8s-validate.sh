#!/usr/bin/env bash
# Validates Kubernetes manifests against Kubernetes' own OpenAPI schemas, strictly (unknown
# fields are errors): tests/lib/k8s-validate.sh FILE...
#
# Uses PyPI's kubernetes-validate in a cached virtualenv under
# ${XDG_CACHE_HOME:-$HOME/.cache}/dynamig/, and the newest Kubernetes version the package has
# schemas for (at least 1.34: resource.k8s.io/v1). Prints nothing when every file is valid;
# fails loudly when it cannot install or when a file is not valid.
#
# (Written by dra-kube to the same contract as dra-slices' script of this name; the lead keeps
# one at merge.)
set -euo pipefail

if (($# == 0)); then
    echo "usage: $0 FILE..." >&2
    exit 2
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/dynamig
venv=$cache/k8s-validate-venv
kv=$venv/bin/kubernetes-validate

if [[ ! -x $kv ]]; then
    mkdir -p "$cache"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian splits venv out of python3.
        if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            rm -rf "$venv"
            python3 -m venv "$venv" >/dev/null
        else
            echo "k8s-validate: cannot create a Python virtualenv (python3-venv missing)" >&2
            exit 1
        fi
    fi
    if ! "$venv/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate>=1.34' >"$cache/k8s-validate-install.log" 2>&1; then
        echo "k8s-validate: pip could not install kubernetes-validate (log: $cache/k8s-validate-install.log):" >&2
        tail -5 "$cache/k8s-validate-install.log" >&2
        rm -rf "$venv"
        exit 1
    fi
fi

version=$("$venv/bin/python" -c 'import kubernetes_validate.utils as u; print(u.latest_version())')
case $version in
    1.3[4-9]* | 1.[4-9][0-9]* | [2-9].*) ;;
    *)
        echo "k8s-validate: kubernetes-validate's newest schemas are for $version; need >= 1.34" >&2
        exit 1
        ;;
esac

out=$("$kv" --strict --quiet -k "$version" "$@" 2>&1) && rc=0 || rc=$?
if ((rc != 0)) || [[ -n $out ]]; then
    echo "k8s-validate (Kubernetes $version, strict):" >&2
    printf '%s\n' "$out" >&2
    exit 1
fi
