#!/usr/bin/env bash
# Benchmarks: simulator events/s (log off, in memory, in LMDB), LMDB durable
# appends/s with group commit, memory per 100k tasks of lineage. Prints
# figures; never fails on time. Usage: tools/bench.sh [--tasks N] [--only sim|log|memory]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/ensure-deps.sh
mkdir -p .build
echo "building raysim (release) ..."
swift build -c release --product raysim > .build/raysim-build.log 2>&1 || { tail -30 .build/raysim-build.log; exit 1; }
.build/release/raysim bench "$@"
# Memory figures need a fresh process (RSS growth would reuse memory freed by the runs above).
case " $* " in *" --only "*) ;; *) .build/release/raysim bench --only memory ;; esac
