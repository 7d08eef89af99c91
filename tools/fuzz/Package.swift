// swift-tools-version:6.0
// The libFuzzer binary of tools/fuzz.sh: one executable whose LLVMFuzzerTestOneInput runs
// the target SWIFTRAY_FUZZ_TARGET names (RayFuzz's FuzzTargets). Built by tools/fuzz.sh
// with -sanitize=fuzzer,address; a package of its own so the main build stays plain.
import PackageDescription

let package = Package(
    name: "SwiftRayFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "SwiftRay", path: "../..")],
    targets: [
        .executableTarget(
            name: "swiftray-fuzz",
            dependencies: [.product(name: "RayFuzz", package: "SwiftRay")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
)
