// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "wire-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(path: "../.."),
    ],
    targets: [
        .executableTarget(name: "wire-bench", dependencies: [
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "RayCore", package: "main"),
        ]),
    ]
)
