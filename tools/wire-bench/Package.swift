// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "wire-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
    ],
    targets: [
        .executableTarget(name: "wire-bench", dependencies: [
            .product(name: "RayCore", package: "main"),
            .product(name: "RayWire", package: "main"),
        ]),
    ]
)
