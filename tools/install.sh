#!/usr/bin/env bash
# Puts the `swiftray` CLI (and `raysim`) on PATH: builds them in release mode
# and copies them to PREFIX/bin (default: /usr/local when root, else ~/.local).
#   tools/install.sh [--prefix DIR]
# The binaries are self-contained apart from the Swift runtime (they run where
# `swift` runs) and liblmdb/libuv, which tools/ensure-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install: unknown argument '$1' (expected --prefix DIR)" >&2; exit 2 ;;
    esac
done
if [ -z "$prefix" ]; then
    if [ "$(id -u)" -eq 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
tools/ensure-deps.sh
swift build -c release --product swiftray
swift build -c release --product raysim
bin=$(swift build -c release --show-bin-path)
mkdir -p "$prefix/bin"
install -m 0755 "$bin/swiftray" "$bin/raysim" "$prefix/bin/"
echo "installed swiftray and raysim in $prefix/bin"
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not on PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
