#!/usr/bin/env bash
# Encoding cost of wire messages and log records, value to bytes and back:
# protobuf through RayWire (frames and event logs; swiftray.proto) against
# BinaryCoder (effects journals, trace files). A separate package so the
# release build of the benchmark does not slow the main build.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release > /dev/null
exec .build/release/wire-bench
