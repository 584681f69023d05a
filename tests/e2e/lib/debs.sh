# shellcheck shell=bash
# Fetch Debian packages from other suites into a cache and extract them into private
# directories, never installing them over the system's packages.
#
#   deb_fetch SUITE PACKAGE        -> prints the path of the cached .deb, SHA256 verified
#   deb_extract SUITE PACKAGE DIR  -> dpkg-deb -x into DIR (once; DIR/.extracted marks it)
#
# The Packages index of each suite is fetched once per run (E2E_DEB_CACHE/Packages-SUITE.xz,
# refreshed when older than a day) from $E2E_DEB_MIRROR. Every .deb is checked against the
# SHA256 that index gives; a mismatch, a package missing from the suite, or a failed download is
# an error (return 1), never a skip.

E2E_DEB_MIRROR=${E2E_DEB_MIRROR:-http://deb.debian.org/debian}
E2E_DEB_CACHE=${E2E_DEB_CACHE:-/var/cache/dynamig-e2e}

_deb_log() { printf '[debs] %s\n' "$*" >&2; }

_deb_index() { # SUITE -> path of the decompressed Packages file
    local suite=$1 xz=$E2E_DEB_CACHE/Packages-$1.xz txt=$E2E_DEB_CACHE/Packages-$1
    local tmp=.tmp.$BASHPID # expanded here: in a redirect, $BASHPID is the forked child's
    mkdir -p "$E2E_DEB_CACHE" || return 1
    if [[ ! -s $xz ]] || [[ -n $(find "$xz" -mmin +1440 2>/dev/null) ]]; then
        _deb_log "fetching $E2E_DEB_MIRROR/dists/$suite/main/binary-amd64/Packages.xz"
        curl -fsS --retry 3 -o "$xz$tmp" "$E2E_DEB_MIRROR/dists/$suite/main/binary-amd64/Packages.xz" || {
            _deb_log "ERROR: cannot download the Packages index of $suite"; rm -f "$xz$tmp"; return 1; }
        mv "$xz$tmp" "$xz" || return 1
        rm -f "$txt"
    fi
    if [[ ! -s $txt || $txt -ot $xz ]]; then
        xz -dc "$xz" >"$txt$tmp" || { _deb_log "ERROR: bad Packages.xz for $suite"; return 1; }
        mv "$txt$tmp" "$txt" || return 1
    fi
    printf '%s\n' "$txt"
}

# "VERSION FILENAME SHA256" of PACKAGE (amd64 or all) in SUITE
deb_info() { # SUITE PACKAGE
    local idx
    idx=$(_deb_index "$1") || return 1
    awk -v want="$2" '
        /^Package: / { p = $2 } /^Version: / { v = $2 } /^Filename: / { f = $2 } /^SHA256: / { s = $2 }
        /^$/ { if (p == want && f != "") { print v, f, s; found = 1; exit } p = v = f = s = "" }
        END { if (!found && p == want && f != "") print v, f, s }' "$idx"
}

deb_fetch() { # SUITE PACKAGE
    local info ver file sum out tmp=.tmp.$BASHPID
    info=$(deb_info "$1" "$2") || return 1
    [[ -n $info ]] || { _deb_log "ERROR: package $2 not found in Debian $1"; return 1; }
    read -r ver file sum <<<"$info"
    out=$E2E_DEB_CACHE/${file##*/}
    if [[ -s $out ]] && sha256sum "$out" | grep -q "^$sum "; then
        printf '%s\n' "$out"; return 0
    fi
    _deb_log "downloading $2 $ver ($1)"
    curl -fsS --retry 3 -o "$out$tmp" "$E2E_DEB_MIRROR/$file" || {
        _deb_log "ERROR: download of $E2E_DEB_MIRROR/$file failed"; rm -f "$out$tmp"; return 1; }
    if ! sha256sum "$out$tmp" | grep -q "^$sum "; then
        _deb_log "ERROR: SHA256 mismatch for $file (want $sum)"; rm -f "$out$tmp"; return 1
    fi
    mv "$out$tmp" "$out" || return 1
    printf '%s\n' "$out"
}

deb_extract() { # SUITE PACKAGE DIR
    local deb dir=$3
    deb=$(deb_fetch "$1" "$2") || return 1
    [[ -f $dir/.extracted-$2 ]] && return 0
    mkdir -p "$dir" || return 1
    dpkg-deb -x "$deb" "$dir" || { _deb_log "ERROR: dpkg-deb -x $deb failed"; return 1; }
    : >"$dir/.extracted-$2"
}
