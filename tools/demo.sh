#!/usr/bin/env bash
# The main job on its embedded defaults: builds SwiftRay (release), runs the
# examples on an embedded local cluster (a GCS, a raylet and worker processes
# started by the program itself), then a scenario in the simulator: a chain
# whose node dies and is rebuilt from lineage.
# Usage: tools/demo.sh [Scenarios/FILE.yaml] [--seed N] [--record TRACE]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build-raysim.sh
echo "building swiftray-examples (release) ..."
swift build -c release --product swiftray-examples > .build/examples-build.log 2>&1 \
    || { tail -30 .build/examples-build.log; exit 1; }
echo "== a real local cluster: .build/release/swiftray-examples"
.build/release/swiftray-examples
scenario="${1:-Scenarios/chain-node-loss.yaml}"
shift || true
echo "== the simulator: raysim run $scenario $*"
exec .build/release/raysim run "$scenario" "$@"
