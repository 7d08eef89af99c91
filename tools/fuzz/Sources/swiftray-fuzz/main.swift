// libFuzzer entry points: SWIFTRAY_FUZZ_TARGET picks the target; with
// SWIFTRAY_FUZZ_SEEDS=DIR the seeds of that target are written to DIR first
// (from the repository at SWIFTRAY_FUZZ_ROOT).

import Foundation
import RayFuzz

nonisolated(unsafe) var target = "frames"

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let environment = ProcessInfo.processInfo.environment
    target = environment["SWIFTRAY_FUZZ_TARGET"] ?? "frames"
    guard FuzzTargets.names.contains(target) else {
        FileHandle.standardError.write(Data("swiftray-fuzz: unknown target \(target) (one of \(FuzzTargets.names.joined(separator: ", ")))\n".utf8))
        exit(2)
    }
    if let directory = environment["SWIFTRAY_FUZZ_SEEDS"] {
        let root = environment["SWIFTRAY_FUZZ_ROOT"] ?? FileManager.default.currentDirectoryPath
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, seed) in FuzzTargets.seeds(target, root: root).enumerated() {
            FileManager.default.createFile(atPath: "\(directory)/seed-\(index)", contents: Data(seed))
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTargets.run(target, bytes)
    return 0
}

// SwiftPM links an executable's entry point as `swiftray_fuzz_main` (and defines `main` as
// it), so libFuzzer's own main is not used: this one hands libFuzzer the arguments.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("swiftray_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in testOneInput(data, size) }
}
