#!/usr/bin/env bash
# Re-records the traces in Traces/ (needed after a deliberate change to what
# the machines do: replay compares effects exactly).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build-raysim.sh
for scenario in chain-node-loss gcs-restart retries-exhausted put-lost actor-callers pg-strict-spread-node-loss; do
    .build/release/raysim run "Scenarios/$scenario.yaml" --record "Traces/$scenario.trace" | tail -1
done
