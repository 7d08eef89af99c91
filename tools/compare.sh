#!/usr/bin/env bash
# Differential runs: every scenario in Scenarios/ in the simulator and on real
# processes (`swiftray up FILE --compare`, release build), side by side. Fails
# when what a user would see differs: a get's result or error kind, the faults
# that fired, leaks (counts such as retries are printed, not compared; timing
# never). As root, in network namespaces (`--netns`) so partitions cut real
# links (one partition scenario waits out Ray's health checks: ≈ 100 s);
# otherwise partition scenarios are reported as skipped, with the reason.
# Usage: tools/compare.sh [Scenarios/FILE.yaml ...]
set -uo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh || exit 1
echo "building swiftray (release) ..."
swift build -c release --product swiftray > .build/swiftray-build.log 2>&1 || { tail -30 .build/swiftray-build.log; exit 1; }
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(Scenarios/*.yaml)
same=0; different=0; skipped=0
for file in "${files[@]}"; do
    name=$(basename "$file" .yaml)
    netns=()
    [ "$(id -u)" -eq 0 ] && netns=(--netns)
    output=$(.build/release/swiftray up "$file" --compare --quiet "${netns[@]}" 2>&1)
    code=$?
    case $code in
        0) same=$((same + 1)); echo "SAME       $name" ;;
        2) skipped=$((skipped + 1)); echo "SKIP       $name  $(echo "$output" | grep -m1 'cannot run' | sed 's/^ *cannot run: //' | cut -c1-100)" ;;
        *) different=$((different + 1)); echo "DIFFERENT  $name"; echo "$output" | sed -n '/^compare/,$p' | sed 's/^/      /' ;;
    esac
done
echo "compare: $same the same, $different different, $skipped skipped"
[ $different -eq 0 ]
