#!/usr/bin/env bash
# Fuzzes the decoders that read what other processes and files hand SwiftRay
# (RayFuzz's targets: frames, records, scenario, trace) with libFuzzer and
# AddressSanitizer, SECONDS per target (default 15).
#
# Usage: tools/fuzz.sh [--seconds N] [TARGET...]
# Corpora grow in tools/fuzz/.build/corpus/TARGET (kept between runs). A crash
# stops the run (exit 1) and leaves its input as tools/fuzz/.build/crash-*;
# copy it to Tests/RayRuntimeTests/FuzzRegressions/TARGET/ so the suite replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
seconds=15
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(frames records scenario trace)
tools/ensure-deps.sh
cd tools/fuzz
echo "fuzz: building the libFuzzer binary (debug, -sanitize=fuzzer,address; a few minutes the first time)" >&2
mkdir -p .build
# A changed manifest of the main package (a new target) can leave SwiftPM's view of it stale: resolve again.
# New source files of the main package can stay unseen by an old build of this one ("cannot find
# 'X' in scope"): last, build from scratch.
if ! swift build --product swiftray-fuzz -Xswiftc -sanitize=fuzzer,address > .build/fuzz-build.log 2>&1 \
    && ! { rm -f .build/workspace-state.json && swift package resolve > /dev/null 2>&1 \
           && swift build --product swiftray-fuzz -Xswiftc -sanitize=fuzzer,address > .build/fuzz-build.log 2>&1; } \
    && ! { echo "fuzz: rebuilding from scratch" >&2 && rm -rf .build && mkdir -p .build \
           && swift build --product swiftray-fuzz -Xswiftc -sanitize=fuzzer,address > .build/fuzz-build.log 2>&1; }; then
    grep -v 'Cannot export local symbol' .build/fuzz-build.log | tail -30 >&2
    echo "fuzz: the build failed (log: tools/fuzz/.build/fuzz-build.log)" >&2
    exit 1
fi
binary="$(swift build --product swiftray-fuzz -Xswiftc -sanitize=fuzzer,address --show-bin-path)/swiftray-fuzz"
for target in "${targets[@]}"; do
    corpus=".build/corpus/$target"
    seeds=".build/seeds/$target"
    mkdir -p "$corpus"
    rm -rf "$seeds"
    regressions="$root/Tests/RayRuntimeTests/FuzzRegressions/$target"
    extra=()
    [ -d "$regressions" ] && extra+=("$regressions")
    echo "fuzz: $target for ${seconds}s" >&2
    if ! SWIFTRAY_FUZZ_TARGET="$target" SWIFTRAY_FUZZ_SEEDS="$seeds" SWIFTRAY_FUZZ_ROOT="$root" \
        "$binary" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix=".build/crash-$target-" -print_final_stats=1 "$corpus" "$seeds" "${extra[@]}" \
        > ".build/fuzz-$target.log" 2>&1; then
        tail -40 ".build/fuzz-$target.log" >&2
        echo "fuzz: $target FAILED; input: $(ls -t .build/crash-$target-* 2>/dev/null | head -1)" >&2
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' ".build/fuzz-$target.log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $target ok, $runs inputs in ${seconds}s, corpus $(ls "$corpus" | wc -l) files" >&2
done
