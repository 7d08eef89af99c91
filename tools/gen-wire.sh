#!/usr/bin/env bash
# Regenerates the record schema: the tables in tools/gen-records.py become
# Sources/RayWire/swiftray.proto, Records+Proto.swift and the Codable forms in
# RayCore; protoc and swift-protobuf's plugin (1.39, built from this package's
# dependency: a first build takes minutes) turn the .proto into swiftray.pb.swift.
# Commit all of them. Needs protoc (apt-get install -y protobuf-compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc > /dev/null || { echo "gen-wire: protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }
python3 tools/gen-records.py
swift build -c release --product protoc-gen-swift > /dev/null
bin=$(swift build -c release --show-bin-path)
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --swift_opt=Visibility=Public \
    --swift_out=Sources/RayWire -ISources/RayWire Sources/RayWire/swiftray.proto
echo "gen-wire: regenerated Sources/RayWire (swiftray.proto, swiftray.pb.swift, Records+Proto.swift)"
