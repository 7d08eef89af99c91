#!/usr/bin/env bash
# Encoding cost of wire messages: SwiftRay's BinaryCoder `Message` (what frames and
# logs use today) against swift-protobuf 1.39 on an equivalent schema (Proto/bench.proto;
# bench.pb.swift is generated and committed: regenerate with
#   swift build -c release --product protoc-gen-swift   # in this folder, ≈ 1–10 min
#   protoc --plugin=protoc-gen-swift=.build/release/protoc-gen-swift --swift_out=Sources/wire-bench -IProto Proto/bench.proto
# ). A separate package so the main build does not depend on swift-protobuf.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release > /dev/null
exec .build/release/wire-bench
