#!/usr/bin/env bash
# tests/e2e/lib/debs.sh refuses what Debian did not sign (issue #12, part 4). The e2e scripts run
# what those .debs contain as root, so each link of the chain is checked by tampering with it:
# a local mirror (file://) serves Debian's genuine trixie InRelease, non-free Packages.xz and
# libnvidia-ml1 .deb, then altered copies of each, and a re-signed and a replayed InRelease.
#
#   1. the genuine mirror: the .deb is fetched (the control: the test can pass)
#   2. an altered .deb                                     -> refused, nothing cached
#   3. an altered Packages.xz (the .deb's hash rewritten)  -> refused against the signed Release
#   4. an altered InRelease (the Packages.xz hash in it)   -> refused: bad signature
#   5. an InRelease signed by a key outside the keyring    -> refused (after trying the newer
#      keyring of bookworm's debian-archive-keyring, which does not have it either)
#   6. bookworm's genuine InRelease served as trixie's     -> refused: wrong suite
#   7. a keyring that lacks trixie's keys: the newer keyring comes from bookworm's
#      debian-archive-keyring, itself verified; with a keyring Debian never used, refused
#
# Gated: runs only with DYNAMIG_E2E=1; then anything that cannot run is a failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${DYNAMIG_E2E:-0} != 1 ]]; then
    echo "e2e debs-verify skipped: DYNAMIG_E2E is not 1"
    exit 0
fi
PASS=0
fail() { printf '\nE2E DEBS-VERIFY FAILED: %s\n' "$*" >&2; exit 1; }
ok() { PASS=$((PASS + 1)); printf '[debs-verify ok %d] %s\n' "$PASS" "$*"; }
bash "$HERE/lib/install-deps.sh" >/dev/null || fail "tests/e2e/lib/install-deps.sh failed"
for t in gpg gpgv curl xz sha256sum dpkg-deb; do command -v "$t" >/dev/null || fail "$t missing"; done

# shellcheck source-path=SCRIPTDIR source=lib/debs.sh
source "$HERE/lib/debs.sh"
REAL_CACHE=$E2E_DEB_CACHE
W=$(mktemp -d /tmp/dyn-debs.XXXXXX)
trap 'rm -rf "$W"' EXIT

SUITE=trixie PKG=libnvidia-ml1
mkdir -p "$REAL_CACHE"
exec 9>"$REAL_CACHE/.lock"
flock -w 900 9 || fail "another run holds $REAL_CACHE/.lock for over 15 minutes"
real_deb=$(deb_fetch "$SUITE/non-free" "$PKG") || fail "cannot fetch $PKG from Debian $SUITE (the real mirror)"
keyring_deb=$(deb_fetch bookworm/main debian-archive-keyring) || fail "cannot fetch debian-archive-keyring from bookworm (the real mirror)"
real_dir=$(_deb_dir "$SUITE") bookworm_dir=$(_deb_dir bookworm)
exec 9>&-
read -r _ver file _sum _comp <<<"$(deb_info "$SUITE/non-free" "$PKG")"
read -r _ver kfile _sum _comp <<<"$(deb_info bookworm/main debian-archive-keyring)"

# A mirror of one suite, one component, one package.
M=$W/mirror
xzpath=dists/$SUITE/non-free/binary-amd64/Packages.xz
mkdir -p "$M/${xzpath%/*}" "$M/${file%/*}"
cp "$real_dir/InRelease" "$M/dists/$SUITE/InRelease"
cp "$real_dir"/non-free/Packages-*.xz "$M/$xzpath"
cp "$real_deb" "$M/$file"
# and bookworm's genuine InRelease, main index and keyring package, for the keyring bootstrap
mkdir -p "$M/dists/bookworm/main/binary-amd64" "$M/${kfile%/*}"
cp "$bookworm_dir/InRelease" "$M/dists/bookworm/InRelease"
cp "$bookworm_dir"/main/Packages-*.xz "$M/dists/bookworm/main/binary-amd64/Packages.xz"
cp "$keyring_deb" "$M/$kfile"

N=0
attempt() { # -> stderr of deb_fetch in $ERR, its status in $RC, a fresh cache each time
    N=$((N + 1))
    local cache=$W/cache-$N
    RC=0
    ERR=$(E2E_DEB_MIRROR=file://$M E2E_DEB_CACHE=$cache deb_fetch "$SUITE/non-free" "$PKG" 2>&1 >/dev/null) || RC=$?
    LEFT=$(find "$cache" -name "${PKG}_*.deb" 2>/dev/null | wc -l)
}
refused() { # LABEL PATTERN
    attempt
    ((RC != 0)) || fail "$1: deb_fetch accepted it"
    grep -q "$2" <<<"$ERR" || fail "$1: refused, but not with '$2': $ERR"
    ((LEFT == 0)) || fail "$1: refused, but a .deb was left in the cache"
    ok "$1: refused ($(grep ERROR <<<"$ERR" | head -1 | sed 's/^\[debs\] //'))"
}

attempt
((RC == 0 && LEFT == 1)) || fail "the genuine mirror: deb_fetch failed: $ERR"
ok "the genuine mirror: $PKG fetched, InRelease, Packages.xz and .deb verified"

# 2. the .deb altered
cp "$real_deb" "$W/evil.deb"
printf 'x' >>"$W/evil.deb"
cp "$W/evil.deb" "$M/$file"
refused "an altered .deb" "does not match its Packages entry"

# 3. Packages.xz altered to vouch for the altered .deb
evil_sum=$(sha256sum "$W/evil.deb" | cut -d' ' -f1)
evil_size=$(stat -c %s "$W/evil.deb")
xz -dc "$M/$xzpath" | awk -v p="$PKG" -v s="$evil_sum" -v z="$evil_size" '
    /^Package: / { cur = $2 } cur == p && /^SHA256: / { $0 = "SHA256: " s } cur == p && /^Size: / { $0 = "Size: " z } { print }' |
    xz -c >"$W/Packages.xz"
cp "$W/Packages.xz" "$M/$xzpath"
refused "an altered Packages.xz" "does not match the signed Release"

# 4. the InRelease altered to vouch for the altered Packages.xz (its signature no longer holds)
real_xz_sum=$(sha256sum "$real_dir"/non-free/Packages-*.xz | cut -d' ' -f1)
real_xz_size=$(stat -c %s "$real_dir"/non-free/Packages-*.xz)
evil_xz_sum=$(sha256sum "$W/Packages.xz" | cut -d' ' -f1)
evil_xz_size=$(stat -c %s "$W/Packages.xz")
grep -q "$real_xz_sum" "$M/dists/$SUITE/InRelease" || fail "the genuine InRelease does not list non-free's Packages.xz"
sed "s/$real_xz_sum *$real_xz_size/$evil_xz_sum $evil_xz_size/" "$real_dir/InRelease" >"$M/dists/$SUITE/InRelease"
refused "an altered InRelease" "BAD signature"

# 5. the altered Release, signed by a key that is not Debian's
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --passphrase '' --quick-gen-key 'Not Debian <evil@example.invalid>' ed25519 sign never 2>/dev/null ||
    fail "gpg cannot make a test key"
gpgv --keyring "$E2E_DEB_KEYRING" --output "$W/Release" "$real_dir/InRelease" 2>/dev/null || fail "gpgv cannot read the genuine InRelease"
sed "s/$real_xz_sum *$real_xz_size/$evil_xz_sum $evil_xz_size/" "$W/Release" >"$W/Release.evil"
gpg -q --batch --yes --clearsign -o "$M/dists/$SUITE/InRelease" "$W/Release.evil" || fail "gpg --clearsign failed"
refused "an InRelease signed by a key outside Debian's keyring" "not signed by a key of.*keyring-bookworm"

# 6. bookworm's genuine InRelease replayed as trixie's (every hash in it is Debian-signed)
cp "$bookworm_dir/InRelease" "$M/dists/$SUITE/InRelease"
refused "bookworm's InRelease served as $SUITE's" "is for suite 'oldstable'\|is for suite 'stable'\|is for suite 'bookworm'"

# 7. a keyring without trixie's keys; then one with no Debian key at all (the mirror genuine again)
cp "$real_dir/InRelease" "$M/dists/$SUITE/InRelease"
cp "$real_dir"/non-free/Packages-*.xz "$M/$xzpath"
cp "$real_deb" "$M/$file"
gpg -q --export >"$W/evil-keyring.gpg"
cache=$W/cache-boot
out=$(E2E_DEB_MIRROR=file://$M E2E_DEB_CACHE=$cache E2E_DEB_KEYRING=/usr/share/keyrings/debian-archive-bookworm-stable.gpg \
    deb_info "$SUITE/non-free" "$PKG" 2>"$W/boot.err") || fail "bootstrap from bookworm's keyring failed: $(cat "$W/boot.err")"
[[ -n $out && -s $cache/keyring-bookworm/usr/share/keyrings/debian-archive-keyring.gpg ]] ||
    fail "bootstrap: no $PKG, or no keyring from bookworm's debian-archive-keyring"
grep -q "cannot verify $SUITE" "$W/boot.err" || fail "bootstrap: the installed keyring was not the one that failed: $(cat "$W/boot.err")"
ok "a keyring lacking $SUITE's keys: bookworm's debian-archive-keyring (verified) verifies $SUITE"
RC=0
E2E_DEB_MIRROR=file://$M E2E_DEB_CACHE=$W/cache-evil E2E_DEB_KEYRING=$W/evil-keyring.gpg \
    deb_info "$SUITE/non-free" "$PKG" >/dev/null 2>"$W/evil.err" || RC=$?
((RC != 0)) || fail "a keyring with no Debian key verified $SUITE"
grep -q "not signed by a key of" "$W/evil.err" || fail "no-Debian-key keyring: wrong refusal: $(cat "$W/evil.err")"
ok "a keyring with no Debian key: $SUITE refused, and no keyring bootstrapped from an unverified bookworm"

echo "debs-verify: $PASS checks passed"
