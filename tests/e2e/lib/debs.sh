# shellcheck shell=bash
# Fetch Debian packages from other suites into a cache and extract them into private
# directories, never installing them over the system's packages. Everything is checked along
# Debian's own chain of trust, as apt checks it, before a byte of it is used:
#
#   InRelease  signed by a key of Debian's archive keyring (gpgv; a GOODSIG is required, a BADSIG
#              refuses), and its Suite or Codename must be the suite asked for (no replay of
#              another suite's index). Only the signed text (gpgv --output) is read after that.
#   Packages   its .xz must have the size and SHA256 that the signed Release lists for
#              COMPONENT/binary-amd64/Packages.xz, its decompressed text those of
#              COMPONENT/binary-amd64/Packages.
#   .deb       the size and SHA256 its Packages stanza gives.
#
#   deb_fetch SUITE PACKAGE         -> prints the path of the cached, verified .deb
#   deb_extract SUITE PACKAGE DIR   -> dpkg-deb -x into DIR (once; DIR/.extracted-PACKAGE marks it)
#   deb_info SUITE PACKAGE          -> "VERSION FILENAME SHA256 COMPONENT" (empty when absent)
#   deb_component SUITE PACKAGE     -> the component that has PACKAGE (main, non-free, ...)
#
# SUITE may be SUITE/COMPONENT to look in one component only; otherwise E2E_DEB_COMPONENTS
# (default "main contrib non-free non-free-firmware") are searched in order, each index fetched
# only when needed. The InRelease of a suite is re-fetched when older than a day; indexes are
# fetched by hash (dists/.../by-hash/SHA256/<sum>, as apt does), so a mirror updating between two
# downloads cannot mismatch them. A mismatch, a bad signature, a package missing from the suite
# or a failed download is an error (return 1), never a skip.
#
# Keys: E2E_DEB_KEYRING (default /usr/share/keyrings/debian-archive-keyring.gpg, from the
# debian-archive-keyring package apt itself trusts). When it cannot verify a suite (a suite signed
# by keys newer than the installed keyring), the debian-archive-keyring package of
# E2E_DEB_KEYRING_SUITE (default bookworm) is fetched, verified through the installed keyring,
# and its keyring is added; never an unverified key.
#
# A Release whose Valid-Until has passed is used with a warning (this project's mirror serves
# snapshots): such a mirror could hold back updates, but cannot alter a byte.

E2E_DEB_MIRROR=${E2E_DEB_MIRROR:-http://deb.debian.org/debian}
E2E_DEB_CACHE=${E2E_DEB_CACHE:-/var/cache/dynamig-e2e}
E2E_DEB_KEYRING=${E2E_DEB_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
E2E_DEB_KEYRING_SUITE=${E2E_DEB_KEYRING_SUITE:-bookworm}
E2E_DEB_COMPONENTS=${E2E_DEB_COMPONENTS:-main contrib non-free non-free-firmware}
E2E_DEB_ARCH=${E2E_DEB_ARCH:-amd64}

_deb_log() { printf '[debs] %s\n' "$*" >&2; }

_deb_get() { # URL OUT: download to OUT (atomically)
    local tmp=$2.tmp.$BASHPID
    if curl -fsS --retry 3 -o "$tmp" "$1" 2>/dev/null; then mv "$tmp" "$2"; return 0; fi
    rm -f "$tmp"
    return 1
}

# The mirror's cache directory for a suite (the mirror is part of the key: a test mirror never
# shares files with the real one).
_deb_dir() { # SUITE
    local m
    m=$(printf '%s' "$E2E_DEB_MIRROR" | sha256sum | cut -c1-8)
    printf '%s/dists-%s/%s\n' "$E2E_DEB_CACHE" "$m" "$1"
}

# gpgv over FILE with the keyrings given; writes the signed text to OUT. 0 only for at least one
# good signature by a key of those keyrings and no bad one.
_deb_gpgv() { # OUT FILE KEYRING...
    local out=$1 file=$2 status args=() k
    shift 2
    for k in "$@"; do args+=(--keyring "$k"); done
    rm -f "$out"
    status=$(gpgv --status-fd 1 "${args[@]}" --output "$out" "$file" 2>/dev/null) || true
    if grep -q '^\[GNUPG:\] BADSIG ' <<<"$status"; then
        _deb_log "ERROR: $file carries a BAD signature"; rm -f "$out"; return 1
    fi
    if ! grep -q '^\[GNUPG:\] GOODSIG ' <<<"$status" || ! grep -q '^\[GNUPG:\] VALIDSIG ' <<<"$status"; then
        rm -f "$out"; return 2
    fi
    [[ -s $out ]] || return 1
}

# A field of a Release text ("Suite", "Codename", "Valid-Until").
_deb_field() { sed -n "s/^$2: *//p" "$1" | head -1; }

# SUITE -> path of the verified Release text (the signed part of InRelease)
_deb_release() {
    local suite=$1 d raw rel kr=() extra vu fresh=0
    d=$(_deb_dir "$suite"); raw=$d/InRelease; rel=$d/Release.verified.$BASHPID
    mkdir -p "$d" || return 1
    if [[ ! -s $raw ]] || [[ -n $(find "$raw" -mmin +1440 2>/dev/null) ]]; then
        fresh=1
        _deb_log "fetching $E2E_DEB_MIRROR/dists/$suite/InRelease"
        _deb_get "$E2E_DEB_MIRROR/dists/$suite/InRelease" "$raw" || {
            _deb_log "ERROR: cannot download the InRelease of $suite"; return 1; }
    fi
    [[ -r $E2E_DEB_KEYRING ]] || { _deb_log "ERROR: keyring $E2E_DEB_KEYRING missing (package debian-archive-keyring)"; return 1; }
    kr=("$E2E_DEB_KEYRING")
    local rc=0
    _deb_gpgv "$rel" "$raw" "${kr[@]}" || rc=$?
    if ((rc == 2)) && [[ $suite != "$E2E_DEB_KEYRING_SUITE" && -z ${_DEB_BOOTSTRAPPING:-} ]]; then
        _deb_log "$E2E_DEB_KEYRING cannot verify $suite; adding the keyring of $E2E_DEB_KEYRING_SUITE's debian-archive-keyring"
        extra=$(_deb_newer_keyring) || return 1
        kr+=("$extra"); rc=0
        _deb_gpgv "$rel" "$raw" "${kr[@]}" || rc=$?
    fi
    if ((rc != 0)); then
        _deb_log "ERROR: the InRelease of $suite is not signed by a key of ${kr[*]}"
        rm -f "$raw"; return 1
    fi
    if [[ $(_deb_field "$rel" Suite) != "$suite" && $(_deb_field "$rel" Codename) != "$suite" ]]; then
        _deb_log "ERROR: the signed InRelease served for $suite is for suite '$(_deb_field "$rel" Suite)' ($(_deb_field "$rel" Codename))"
        rm -f "$rel" "$raw"; return 1
    fi
    vu=$(_deb_field "$rel" Valid-Until)
    if ((fresh)) && [[ -n $vu ]] && (($(date -d "$vu" +%s 2>/dev/null || echo 0) < $(date +%s))); then
        _deb_log "warning: the Release of $suite expired on $vu (a stale mirror or snapshot)"
    fi
    mv "$rel" "$d/Release" || return 1
    printf '%s\n' "$d/Release"
}

# The keyring of E2E_DEB_KEYRING_SUITE's debian-archive-keyring .deb, fetched through this same
# verified chain (with the installed keyring only).
_deb_newer_keyring() {
    local dir=$E2E_DEB_CACHE/keyring-$E2E_DEB_KEYRING_SUITE k
    _DEB_BOOTSTRAPPING=1 deb_extract "$E2E_DEB_KEYRING_SUITE/main" debian-archive-keyring "$dir" || {
        _deb_log "ERROR: cannot fetch a verified debian-archive-keyring from $E2E_DEB_KEYRING_SUITE"; return 1; }
    k=$dir/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -s $k ]] || { _deb_log "ERROR: $k missing from debian-archive-keyring"; return 1; }
    printf '%s\n' "$k"
}

# "SHA256 SIZE" of PATH in a Release text
_deb_release_sum() { # RELEASE PATH
    awk -v want="$2" '/^[^ ]/ { in256 = ($1 == "SHA256:") } in256 && NF == 3 && $3 == want { print $1, $2; exit }' "$1"
}

_deb_check() { # FILE SHA256 SIZE
    [[ -f $1 ]] && [[ $(stat -c %s "$1") == "$3" ]] && sha256sum "$1" | grep -q "^$2 "
}

_deb_index() { # SUITE COMPONENT -> path of the verified, decompressed Packages file
    local suite=$1 comp=$2 rel d xz txt sum size usum usize base
    rel=$(_deb_release "$suite") || return 1
    base=$comp/binary-$E2E_DEB_ARCH
    read -r sum size <<<"$(_deb_release_sum "$rel" "$base/Packages.xz")"
    [[ -n $sum ]] || { _deb_log "ERROR: the Release of $suite lists no $base/Packages.xz"; return 1; }
    read -r usum usize <<<"$(_deb_release_sum "$rel" "$base/Packages")"
    d=$(_deb_dir "$suite")/$comp
    mkdir -p "$d" || return 1
    xz=$d/Packages-$sum.xz txt=$d/Packages-$sum
    if ! _deb_check "$xz" "$sum" "$size"; then
        _deb_log "fetching $suite $base/Packages.xz"
        _deb_get "$E2E_DEB_MIRROR/dists/$suite/$base/by-hash/SHA256/$sum" "$xz" ||
            _deb_get "$E2E_DEB_MIRROR/dists/$suite/$base/Packages.xz" "$xz" || {
            _deb_log "ERROR: cannot download $base/Packages.xz of $suite"; return 1; }
        if ! _deb_check "$xz" "$sum" "$size"; then
            _deb_log "ERROR: $suite $base/Packages.xz does not match the signed Release (want SHA256 $sum, $size bytes)"
            rm -f "$xz"; return 1
        fi
        find "$d" -maxdepth 1 -name 'Packages-*' ! -name "Packages-$sum*" -delete 2>/dev/null
    fi
    if [[ ! -s $txt ]]; then
        local tmp=$txt.tmp.$BASHPID # expanded here: in a redirect, $BASHPID is the forked child's
        xz -dc "$xz" >"$tmp" || { _deb_log "ERROR: bad Packages.xz for $suite $comp"; rm -f "$tmp"; return 1; }
        if [[ -n $usum ]] && ! _deb_check "$tmp" "$usum" "$usize"; then
            _deb_log "ERROR: $suite $base/Packages does not match the signed Release"
            rm -f "$tmp"; return 1
        fi
        mv "$tmp" "$txt" || return 1
    fi
    printf '%s\n' "$txt"
}

# "VERSION FILENAME SHA256 SIZE" of PACKAGE (this arch or all) in a Packages file
_deb_stanza() { # PACKAGES PACKAGE
    awk -v want="$2" '
        /^Package: / { p = $2 } /^Version: / { v = $2 } /^Filename: / { f = $2 } /^SHA256: / { s = $2 } /^Size: / { z = $2 }
        /^$/ { if (p == want && f != "") { print v, f, s, z; found = 1; exit } p = v = f = s = z = "" }
        END { if (!found && p == want && f != "") print v, f, s, z }' "$1"
}

# "VERSION FILENAME SHA256 COMPONENT SIZE" of PACKAGE in SUITE[/COMPONENT]; empty when absent.
_deb_find() { # SUITE[/COMPONENT] PACKAGE
    local suite=${1%%/*} comps=$E2E_DEB_COMPONENTS c idx line v f s z
    [[ $1 == */* ]] && comps=${1#*/}
    for c in $comps; do
        idx=$(_deb_index "$suite" "$c") || return 1
        line=$(_deb_stanza "$idx" "$2")
        if [[ -n $line ]]; then
            read -r v f s z <<<"$line"
            printf '%s %s %s %s %s\n' "$v" "$f" "$s" "$c" "$z"
            return 0
        fi
    done
}

deb_info() { # SUITE[/COMPONENT] PACKAGE
    local line
    line=$(_deb_find "$1" "$2") || return 1
    [[ -z $line ]] || awk '{ print $1, $2, $3, $4 }' <<<"$line"
}

deb_component() { # SUITE[/COMPONENT] PACKAGE
    local line
    line=$(_deb_find "$1" "$2") || return 1
    [[ -n $line ]] || { _deb_log "ERROR: package $2 not found in Debian $1 ($E2E_DEB_COMPONENTS)"; return 1; }
    awk '{ print $4 }' <<<"$line"
}

deb_fetch() { # SUITE[/COMPONENT] PACKAGE
    local line ver file sum comp size out
    line=$(_deb_find "$1" "$2") || return 1
    [[ -n $line ]] || { _deb_log "ERROR: package $2 not found in Debian $1"; return 1; }
    read -r ver file sum comp size <<<"$line"
    [[ $file != *..* && $sum =~ ^[0-9a-f]{64}$ ]] || { _deb_log "ERROR: bad Packages stanza for $2: $line"; return 1; }
    out=$E2E_DEB_CACHE/${file##*/}
    if _deb_check "$out" "$sum" "$size"; then
        printf '%s\n' "$out"; return 0
    fi
    _deb_log "downloading $2 $ver ($1, $comp)"
    _deb_get "$E2E_DEB_MIRROR/$file" "$out.dl" || {
        _deb_log "ERROR: download of $E2E_DEB_MIRROR/$file failed"; return 1; }
    if ! _deb_check "$out.dl" "$sum" "$size"; then
        _deb_log "ERROR: $file does not match its Packages entry (want SHA256 $sum, $size bytes)"; rm -f "$out.dl"; return 1
    fi
    mv "$out.dl" "$out" || return 1
    printf '%s\n' "$out"
}

deb_extract() { # SUITE[/COMPONENT] PACKAGE DIR
    local deb dir=$3
    deb=$(deb_fetch "$1" "$2") || return 1
    [[ -f $dir/.extracted-$2 ]] && return 0
    mkdir -p "$dir" || return 1
    dpkg-deb -x "$deb" "$dir" || { _deb_log "ERROR: dpkg-deb -x $deb failed"; return 1; }
    : >"$dir/.extracted-$2"
}
