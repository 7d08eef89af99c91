// `swiftray up` from the test suite: scenarios on real local clusters (a
// raylet process per node, real workers, real SIGKILLs), judged by the same
// expectations and exit codes as raysim. The full sweep over Scenarios/ is
// tools/up-scenarios.sh (release build).

import Foundation
import Testing

/// The swiftray binary next to the test bundle.
let swiftrayPath = URL(fileURLWithPath: testbedPath).deletingLastPathComponent().appendingPathComponent("swiftray").path

/// The package root (Scenarios/ lives there).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Runs swiftray with `arguments`; returns its exit code and output.
func runSwiftray(_ arguments: [String]) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: swiftrayPath)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension RuntimeTests {
@Suite struct UpTests {
    @Test(arguments: ["chain-node-loss", "worker-killed-retry", "gcs-restart", "owner-death", "retries-exhausted"])
    func scenarioPassesOnARealCluster(_ name: String) throws {
        let (code, output) = try runSwiftray(["up", "Scenarios/\(name).yaml", "--quiet"])
        #expect(code == 0, "\(output)")
        #expect(output.contains("PASS"))
    }

    @Test func whatTheRealRunnerCannotDoIsRefusedWithTheReason() throws {
        let (code, output) = try runSwiftray(["up", "Scenarios/partition-heals.yaml", "--quiet"])
        #expect(code == 2)
        #expect(output.contains("network namespaces") && output.contains("raysim run"), "\(output)")
        let (missing, text) = try runSwiftray(["up", "Scenarios/no-such-file.yaml"])
        #expect(missing == 2 && text.contains("no-such-file.yaml"), "\(text)")
    }
}
}
