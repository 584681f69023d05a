#!/usr/bin/env bash
# The crate boundaries of docs/architecture.md, checked on the resolved dependency graph:
#   - the containerd shim and the runtime wrapper (dynamig-hook) link no command-line crates
#     (clap, toml_edit: only dynamigctl needs them);
#   - the core (dynamig-core) links no I/O, process or logging crates: its crate boundary is what
#     keeps it pure.
# Prints nothing and exits 0 when they hold; names the offending crates otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
deps() { cargo tree --offline -q -p "$1" -e normal --prefix none --format '{p}' 2>/dev/null | awk '{print $1}' | sort -u; }
for pkg in dynamig-shim dynamig-hook; do
    bad=$(deps "$pkg" | grep -xE 'clap|clap_builder|toml_edit' || true)
    if [[ -n $bad ]]; then echo "crate-boundaries: $pkg links $(echo $bad)" >&2; fail=1; fi
done
bad=$(deps dynamig-core | grep -xE 'nix|libc|tracing|tracing-subscriber|nvml-wrapper|nvml-wrapper-sys|crc32fast|dynamig-node' || true)
if [[ -n $bad ]]; then echo "crate-boundaries: dynamig-core links $(echo $bad)" >&2; fail=1; fi
[[ $(deps dynamig-core | wc -l) -gt 1 ]] || { echo "crate-boundaries: cargo tree listed nothing for dynamig-core" >&2; fail=1; }
exit $fail
