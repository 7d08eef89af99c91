#!/usr/bin/env bash
# The test suite: unit, property, scenario, determinism, trace-replay and a
# short swarm. Installs what it needs first. Long sweeps: tools/swarm.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh
swift build --build-tests
swift test --skip-build "$@"
