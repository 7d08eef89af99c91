#!/usr/bin/env bash
# The main job on its embedded default: builds raysim and runs a scenario in
# the simulator (default: a chain whose node dies and is rebuilt from lineage).
# Usage: tools/demo.sh [Scenarios/FILE.yaml] [--seed N] [--record TRACE]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh
mkdir -p .build
echo "building raysim (release) ..."
swift build -c release --product raysim > .build/raysim-build.log 2>&1 || { tail -30 .build/raysim-build.log; exit 1; }
scenario="${1:-Scenarios/chain-node-loss.yaml}"
shift || true
exec .build/release/raysim run "$scenario" "$@"
