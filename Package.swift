// swift-tools-version:6.0
// SwiftRay: Ray's distributed core as deterministic, event-sourced state machines.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "SwiftRay",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RayCore", targets: ["RayCore"]),
        .library(name: "RayStorage", targets: ["RayStorage"]),
        .library(name: "RayWire", targets: ["RayWire"]),
        .library(name: "RaySim", targets: ["RaySim"]),
        .library(name: "RayRuntime", targets: ["RayRuntime"]),
        .library(name: "Ray", targets: ["Ray"]),
        .library(name: "RayFuzz", targets: ["RayFuzz"]),
        .executable(name: "raysim", targets: ["raysim"]),
        .executable(name: "swiftray", targets: ["swiftray"]),
        .executable(name: "swiftray-examples", targets: ["swiftray-examples"]),
        .executable(name: "swiftray-attack", targets: ["swiftray-attack"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C libraries, found through pkg-config. Only RayStorage touches LMDB;
        // only the runtime (next issue) touches libuv.
        .systemLibrary(
            name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(
            name: "CLibUV", path: "Sources/CLibUV", pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]),

        // CRC-32C with the CPU's crc32 instruction (object chunks and spill files).
        .target(name: "CChecksum", path: "Sources/CChecksum"),
        // TLS 1.3 on OpenSSL (memory BIOs: the event loop moves the bytes) and the cluster's certificates.
        .target(
            name: "CTLS", path: "Sources/CTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // Starts GCS and raylet roles from a constructor, before the program's own code.
        .target(name: "CRoleHook", path: "Sources/CRoleHook"),

        // The pure state machines: no I/O, clocks, threads or system randomness.
        .target(
            name: "RayCore", dependencies: [.product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strict),
        // The record schema (swiftray.proto): wire messages and logged inputs as protobuf.
        .target(
            name: "RayWire",
            dependencies: ["RayCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["swiftray.proto"]),
        // The event log: protocol, in-memory and LMDB implementations, replay.
        .target(name: "RayStorage", dependencies: ["RayCore", "CLMDB", "CChecksum"], swiftSettings: strict),
        // The real runtime: the same machines on libuv loops, processes, sockets, LMDB logs.
        .target(
            name: "RayRuntime",
            dependencies: [
                "RayCore", "RayWire", "RayStorage", "CLibUV", "CRoleHook", "CTLS",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // The Swift API: Ray.start(), remote functions, ObjectRef, get/put/wait.
        .target(name: "Ray", dependencies: ["RayRuntime", "RayCore"], swiftSettings: strict),
        // The discrete-event simulator, scenarios, fault plans, checkers, traces.
        .target(
            name: "RaySim",
            dependencies: [
                "RayCore", "RayWire", "RayStorage",
                .product(name: "Yams", package: "Yams"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "raysim",
            dependencies: [
                "RaySim", "RayCore", "RayStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "swiftray",
            dependencies: [
                "Ray", "RayRuntime", "RayCore", "RayWire", "RaySim", "RayStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // What the fuzzers run (tools/fuzz.sh; the libFuzzer binary is the package in tools/fuzz).
        .target(name: "RayFuzz", dependencies: ["RayRuntime", "RayWire", "RaySim", "RayCore"]),
        // Remote functions shared by the loopback tests (driver side) and their worker binary.
        .target(name: "RayTestbed", dependencies: ["Ray", "RayRuntime"], path: "Sources/RayTestbed"),
        .executableTarget(name: "swiftray-testbed", dependencies: ["RayTestbed", "RayRuntime", "Ray"]),
        // The runtime microbenchmarks (tools/bench-runtime.sh).
        .executableTarget(name: "swiftray-bench", dependencies: ["Ray", "RayRuntime", "RayStorage"], swiftSettings: strict),
        // Examples a newcomer runs from the README.
        .executableTarget(name: "swiftray-examples", dependencies: ["Ray"], swiftSettings: strict),
        // Resource-exhaustion vectors against a real local cluster, beside a well-behaved job.
        .executableTarget(name: "swiftray-attack", dependencies: ["Ray", "RayCore", "RayRuntime"], swiftSettings: strict),

        .testTarget(
            name: "RayCoreTests",
            dependencies: [
                "RayCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(name: "RayStorageTests", dependencies: ["RayStorage", "RayCore"]),
        .testTarget(
            name: "RayWireTests",
            dependencies: ["RayWire", "RayCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(
            name: "RayRuntimeTests",
            dependencies: ["Ray", "RayRuntime", "RayTestbed", "RayCore", "RayStorage", "RaySim", "RayFuzz"]),
        .testTarget(
            name: "RaySimTests",
            dependencies: ["RaySim", "RayCore", "RayWire", "RayStorage"],
            resources: []),
    ]
)
