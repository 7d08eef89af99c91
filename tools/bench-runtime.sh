#!/usr/bin/env bash
# SwiftRay's runtime microbenchmarks (Ray's names, every input logged) on an
# embedded local cluster: builds release and prints name<TAB>value<TAB>unit.
# Usage: tools/bench-runtime.sh [--quick] [--no-log] [--only NAME[,NAME...]]
# Side by side with Ray 2.60: tools/bench-vs-ray.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh
echo "building swiftray-bench (release) ..." >&2
swift build -c release --product swiftray-bench >/dev/null
exec .build/release/swiftray-bench "$@"
