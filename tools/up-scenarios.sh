#!/usr/bin/env bash
# Every scenario in Scenarios/ on a real local cluster (`swiftray up`, release
# build): one raylet process per node, real workers, real SIGKILLs. As root, in
# network namespaces (`--netns`), so partitions cut real links (one partition
# scenario waits out Ray's health checks: ≈ 100 s); otherwise on loopback, where
# partition scenarios are reported as skipped, with the reason (as are actors
# and placement groups until their issue).
# With --compare (what tools/compare.sh runs): each scenario also runs in the
# simulator, side by side, and fails when what a user would see differs (a get's
# result or error kind, the faults that fired, leaks; counts are printed, not
# compared; timing never).
# Usage: tools/up-scenarios.sh [--compare] [Scenarios/FILE.yaml ...]
set -uo pipefail
cd "$(dirname "$0")/.."
compare=()
if [ "${1:-}" = "--compare" ]; then compare=(--compare); shift; fi
tools/ensure-deps.sh || exit 1
echo "building swiftray (release) ..."
swift build -c release --product swiftray > .build/swiftray-build.log 2>&1 || { tail -30 .build/swiftray-build.log; exit 1; }
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(Scenarios/*.yaml)
passed=0; failed=0; skipped=0
for file in "${files[@]}"; do
    name=$(basename "$file" .yaml)
    netns=()
    [ "$(id -u)" -eq 0 ] && netns=(--netns)
    output=$(.build/release/swiftray up "$file" --quiet "${netns[@]}" "${compare[@]}" 2>&1)
    code=$?
    case $code in
        0) passed=$((passed + 1)); echo "PASS  $name  $(echo "$output" | grep -o 'wall time [0-9.]* s' | head -1)" ;;
        2) skipped=$((skipped + 1)); echo "SKIP  $name  $(echo "$output" | grep -m1 'cannot run' | sed 's/^ *cannot run: //' | cut -c1-110)" ;;
        *) failed=$((failed + 1)); echo "FAIL  $name  (exit $code)"; echo "$output" | sed 's/^/      /' ;;
    esac
done
echo "swiftray up${compare[*]:+ --compare}: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
