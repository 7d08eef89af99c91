#!/usr/bin/env bash
# A long seed sweep: random clusters, workloads and fault plans.
# Usage: tools/swarm.sh [SEEDS] [FIRST_SEED]   (default 2000 seeds from 1)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh
mkdir -p .build
echo "building raysim (release) ..."
swift build -c release --product raysim > .build/raysim-build.log 2>&1 || { tail -30 .build/raysim-build.log; exit 1; }
exec .build/release/raysim swarm --seeds "${1:-2000}" --start "${2:-1}"
