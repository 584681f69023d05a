#!/usr/bin/env bash
# Installs dynamig on a host without Debian packages (the .deb is the other way: docs/install.md).
#
#   cargo build --release -p dynamigctl -p dynamig-hook -p dynamig-shim
#   sudo packaging/install.sh                      # into /usr/local
#   sudo packaging/install.sh --prefix /usr        # where the .deb would put the binaries
#   packaging/install.sh --destdir /tmp/stage      # staged (packagers, tests): nothing outside it
#   sudo packaging/install.sh --uninstall          # removes what it installed (keeps /etc/dynamig)
#   sudo packaging/install.sh --uninstall --purge  # ... and /etc/dynamig/policy.toml
#
# Installs: PREFIX/bin/{dynamigctl,dynamig-runc,dynamig-hook,containerd-shim-dynamig-v2}
# (side by side: the shim finds dynamig-runc next to itself, and dynamig-runc the hook),
# /etc/containers/oci/hooks.d/dynamig.json (podman/CRI-O guard hook, pointing at PREFIX/bin),
# /etc/dynamig/policy.toml (only when absent), PREFIX/share/dynamig/ (containerd, Docker and
# Kubernetes examples), PREFIX/share/doc/dynamig/, and a list of what it installed in
# PREFIX/share/dynamig/installed-files for --uninstall.
# It does not touch containerd's or Docker's configuration: run `dynamigctl runtime configure`.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN_DIR=$ROOT/target/release
PREFIX=/usr/local
DESTDIR=
UNINSTALL=0
PURGE=0
BINARIES=(dynamigctl dynamig-runc dynamig-hook containerd-shim-dynamig-v2)

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
        --bin-dir) BIN_DIR=${2:?--bin-dir needs a directory}; shift 2 ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --destdir) DESTDIR=${2:?--destdir needs a directory}; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ $PREFIX == /* ]] || die "--prefix must be absolute: $PREFIX"
if [[ -n $DESTDIR ]]; then
    mkdir -p "$DESTDIR"
    DESTDIR=$(cd "$DESTDIR" && pwd)
elif [[ $(id -u) -ne 0 ]]; then
    die "installing into $PREFIX and /etc needs root (or give --destdir DIR)"
fi

SHARE=$PREFIX/share/dynamig
MANIFEST=$SHARE/installed-files
POLICY=/etc/dynamig/policy.toml
HOOKS_D=/etc/containers/oci/hooks.d

if ((UNINSTALL)); then
    if [[ -f $DESTDIR$MANIFEST ]]; then
        while IFS= read -r f; do
            [[ -n $f && $f != "$POLICY" ]] || continue # the policy goes only with --purge
            rm -f "$DESTDIR$f"
        done <"$DESTDIR$MANIFEST"
        rm -f "$DESTDIR$MANIFEST"
    elif ((!PURGE)); then
        die "$DESTDIR$MANIFEST not found: nothing installed by install.sh with --prefix $PREFIX"
    fi
    if ((PURGE)); then
        rm -f "$DESTDIR$POLICY"
        rmdir "$DESTDIR/etc/dynamig" 2>/dev/null || true
    fi
    for d in "$SHARE/containerd" "$SHARE/docker" "$SHARE/kubernetes" "$SHARE" "$PREFIX/share/doc/dynamig" "$HOOKS_D"; do
        rmdir "$DESTDIR$d" 2>/dev/null || true
    done
    if ((PURGE)); then
        echo "dynamig removed from ${DESTDIR}$PREFIX, and $POLICY"
    else
        echo "dynamig removed from ${DESTDIR}$PREFIX ($POLICY kept; --purge removes it)"
    fi
    exit 0
fi

for b in "${BINARIES[@]}"; do
    [[ -x $BIN_DIR/$b ]] || die "$BIN_DIR/$b missing; build first: cargo build --release -p dynamigctl -p dynamig-hook -p dynamig-shim (or give --bin-dir)"
done

installed=()
put() { # MODE SRC DEST (DEST relative to /, without DESTDIR)
    install -D -m "$1" "$2" "$DESTDIR$3"
    installed+=("$3")
}

for b in "${BINARIES[@]}"; do
    # a temporary name, then a rename: a running containerd or dockerd never sees half a file
    install -D -m 0755 "$BIN_DIR/$b" "$DESTDIR$PREFIX/bin/.$b.new"
    mv -f "$DESTDIR$PREFIX/bin/.$b.new" "$DESTDIR$PREFIX/bin/$b"
    installed+=("$PREFIX/bin/$b")
done

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
sed "s|\"/usr/bin/dynamig-hook\"|\"$PREFIX/bin/dynamig-hook\"|" "$HERE/hooks.d/dynamig.json" >"$tmp"
put 0644 "$tmp" "$HOOKS_D/dynamig.json"

if [[ -e $DESTDIR$POLICY ]]; then
    echo "keeping the existing $DESTDIR$POLICY"
else
    put 0644 "$HERE/etc/policy.toml" "$POLICY"
fi
for f in "$HERE"/containerd/*.toml; do put 0644 "$f" "$SHARE/containerd/${f##*/}"; done
sed "s|\"/usr/bin/dynamig-runc\"|\"$PREFIX/bin/dynamig-runc\"|" "$HERE/docker/daemon.json" >"$tmp"
put 0644 "$tmp" "$SHARE/docker/daemon.json"
for f in "$HERE"/kubernetes/*.yaml "$HERE/kubernetes/Dockerfile"; do put 0644 "$f" "$SHARE/kubernetes/${f##*/}"; done
for f in "$ROOT/README.md" "$ROOT"/docs/*.md; do put 0644 "$f" "$PREFIX/share/doc/dynamig/${f##*/}"; done

mkdir -p "$DESTDIR$SHARE"
printf '%s\n' "${installed[@]}" "$MANIFEST" >"$DESTDIR$MANIFEST"

cat <<MSG
dynamig installed into ${DESTDIR:-}$PREFIX ($("$DESTDIR$PREFIX/bin/dynamigctl" --version)).
Next (as root):
  dynamigctl doctor                                   # read-only check of the node
  dynamigctl runtime configure --runtime containerd   # then: systemctl restart containerd
  dynamigctl runtime configure --runtime docker       # then: systemctl restart docker
MSG
if [[ $PREFIX != /usr && $PREFIX != /usr/local ]]; then
    echo "note: containerd finds containerd-shim-dynamig-v2 on its PATH; add $PREFIX/bin to containerd's PATH."
fi
