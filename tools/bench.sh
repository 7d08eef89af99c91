#!/usr/bin/env bash
# Benchmarks: simulator events/s (log off, in memory, in LMDB), LMDB durable
# appends/s with group commit, memory per 100k tasks of lineage. Prints
# figures; never fails on time. Usage: tools/bench.sh [--tasks N] [--only sim|actors|groups|log|memory]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build-raysim.sh
.build/release/raysim bench "$@"
# Memory figures need a fresh process (RSS growth would reuse memory freed by the runs above).
case " $* " in *" --only "*) ;; *) .build/release/raysim bench --only memory ;; esac
