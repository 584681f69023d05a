#!/usr/bin/env bash
# Prints a directory holding the kubelet's gRPC .proto files (k8s.io/kubelet/pkg/apis/...), which
# dynamig-dra-grpc's build.rs compiles: Debian's golang-github-kubernetes-kubelet-dev, pinned by
# version and SHA256, downloaded once into ${XDG_CACHE_HOME:-$HOME/.cache}/dynamig/ and only its
# .proto files extracted. Use it as
#     export DYNAMIG_KUBELET_PROTOS=$(bash tests/e2e/lib/kubelet-protos.sh)
# Needs curl (installed with apt-get when missing and run as root), dpkg-deb and sha256sum. Fails
# loudly when the package cannot be had or does not match.
set -euo pipefail

VERSION=1.32.7-1
SHA256=b42f092802a9427c982e7bc1b88c98242586b37f698a8070ad48829cff55dfd3
DEB=golang-github-kubernetes-kubelet-dev_${VERSION}_all.deb
URL=${KUBELET_PROTOS_MIRROR:-http://deb.debian.org/debian}/pool/main/g/golang-github-kubernetes-kubelet/$DEB
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/dynamig
OUT=$CACHE/kubelet-protos-$VERSION
APIS=$OUT/usr/share/gocode/src/k8s.io/kubelet/pkg/apis

log() { printf '[kubelet-protos] %s\n' "$*" >&2; }

if [[ -f $OUT/.complete ]]; then
    printf '%s\n' "$APIS"
    exit 0
fi
mkdir -p "$CACHE"
if ! [[ -f $CACHE/$DEB ]] || ! sha256sum --status -c <<<"$SHA256  $CACHE/$DEB"; then
    if ! command -v curl >/dev/null 2>&1; then
        if [[ $(id -u) -ne 0 ]]; then log "ERROR: curl is needed to download $URL"; exit 1; fi
        apt-get update -qq >&2 || log "warning: apt-get update reported errors (continuing)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >&2
    fi
    tmp=$CACHE/$DEB.tmp.$$
    trap 'rm -f "$tmp"' EXIT
    curl -fsS --retry 3 -o "$tmp" "$URL" || { log "ERROR: cannot download $URL"; exit 1; }
    if ! sha256sum --status -c <<<"$SHA256  $tmp"; then
        log "ERROR: $URL does not have SHA256 $SHA256 (got $(sha256sum "$tmp" | cut -d' ' -f1))"
        exit 1
    fi
    mv "$tmp" "$CACHE/$DEB"
    trap - EXIT
fi
# Only the .proto files, into a fresh directory, marked complete last.
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
dpkg-deb --fsys-tarfile "$CACHE/$DEB" | tar -x -C "$OUT.tmp" --wildcards '*.proto'
for f in pluginregistration/v1/api.proto dra/v1beta1/api.proto; do
    [[ -f $OUT.tmp/usr/share/gocode/src/k8s.io/kubelet/pkg/apis/$f ]] || { log "ERROR: $DEB has no $f"; exit 1; }
done
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT" && touch "$OUT/.complete"
printf '%s\n' "$APIS"
