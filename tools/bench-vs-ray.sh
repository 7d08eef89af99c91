#!/usr/bin/env bash
# SwiftRay's runtime microbenchmarks next to Ray 2.60's, measured in the same run
# on this machine, with the ratio of each (higher is better for SwiftRay; for
# times and memory the ratio is Ray / SwiftRay). Ray runs from a virtual
# environment outside the repo (tools/ray-bench/run-ray.sh installs it).
# Usage: tools/bench-vs-ray.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
swift_out=$(mktemp) ray_out=$(mktemp)
trap 'rm -f "$swift_out" "$ray_out"' EXIT
echo "== SwiftRay (every input logged) ==" >&2
tools/bench-runtime.sh "${quick[@]}" | tee "$swift_out" >&2
echo "== Ray 2.60 ==" >&2
tools/ray-bench/run-ray.sh "${quick[@]}" 2>/dev/null | tee "$ray_out" >&2
python3 - "$swift_out" "$ray_out" <<'PY'
import sys
def load(path):
    figures = {}
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 3:
            try:
                figures[parts[0]] = (float(parts[1]), parts[2])
            except ValueError:
                pass
    return figures
swift, ray = load(sys.argv[1]), load(sys.argv[2])
lower_is_better = {"s", "us", "MiB", "ms"}
print(f"{'benchmark':36} {'SwiftRay':>14} {'Ray 2.60':>14}  {'ratio':>7}")
for name in swift:
    value, unit = swift[name]
    if name in ray:
        other = ray[name][0]
        if unit in lower_is_better:
            ratio = other / value if value else float("inf")
        else:
            ratio = value / other if other else float("inf")
        print(f"{name:36} {value:>10.3f} {unit:<3} {other:>10.3f} {ray[name][1]:<3}  {ratio:>6.1f}x")
    else:
        print(f"{name:36} {value:>10.3f} {unit:<3} {'-':>14}")
PY
