#!/usr/bin/env bash
# The main job on its embedded default: builds raysim and runs a scenario in
# the simulator (default: a chain whose node dies and is rebuilt from lineage).
# Usage: tools/demo.sh [Scenarios/FILE.yaml] [--seed N] [--record TRACE]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build-raysim.sh
scenario="${1:-Scenarios/chain-node-loss.yaml}"
shift || true
exec .build/release/raysim run "$scenario" "$@"
