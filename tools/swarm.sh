#!/usr/bin/env bash
# A long seed sweep: random clusters, workloads and fault plans.
# Usage: tools/swarm.sh [SEEDS] [FIRST_SEED]   (default 2000 seeds from 1)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build-raysim.sh
exec .build/release/raysim swarm --seeds "${1:-2000}" --start "${2:-1}"
