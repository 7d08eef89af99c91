#!/usr/bin/env bash
# Installs missing system libraries, then builds raysim (release); shows the
# build log only if the build fails. Used by the other tools.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh
mkdir -p .build
echo "building raysim (release) ..."
swift build -c release --product raysim > .build/raysim-build.log 2>&1 || { tail -30 .build/raysim-build.log; exit 1; }
