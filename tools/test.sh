#!/usr/bin/env bash
# The test suite: unit, property, scenario, determinism, trace-replay and a
# short swarm, then a short fuzz of every decoder target (tools/fuzz.sh, 12 s each).
# Installs what it needs first. Long sweeps: tools/swarm.sh, tools/fuzz.sh --seconds N.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh
swift build --build-tests
swift test --skip-build "$@"
tools/fuzz.sh --seconds "${SWIFTRAY_FUZZ_SECONDS:-12}"
