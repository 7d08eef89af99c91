#!/usr/bin/env bash
# Differential runs: every scenario in Scenarios/ (or the files given) in the
# simulator and on real processes, side by side (`swiftray up FILE --compare`).
# Usage: tools/compare.sh [Scenarios/FILE.yaml ...]
exec "$(dirname "$0")/up-scenarios.sh" --compare "$@"
