// RayCore stays pure: no I/O, clocks, threads, global state or system
// randomness. Checked by reading its sources.

import Foundation
import Testing

@Suite struct PurityTests {
    static let forbidden = [
        "import Foundation", "import FoundationEssentials", "import Glibc", "import Darwin", "import Dispatch",
        "import CLMDB", "import CLibUV", "Date()", "ContinuousClock", "SuspendingClock", "DispatchQueue",
        "UUID()", "SystemRandomNumberGenerator", "Thread.", "Task {", "Task.detached", "nonisolated(unsafe)",
        ".random(in:", ".random()", "print(",
    ]

    @Test func rayCoreSourcesUseNoIOClocksThreadsOrSystemRandomness() throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let root = url.appendingPathComponent("Sources/RayCore").path
        let enumerator = try #require(FileManager.default.enumerator(atPath: root))
        var files = 0
        while let name = enumerator.nextObject() as? String {
            guard name.hasSuffix(".swift") else { continue }
            files += 1
            let text = try String(contentsOfFile: root + "/" + name, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.components(separatedBy: "//").first ?? ""
                for word in Self.forbidden where code.contains(word) {
                    Issue.record("Sources/RayCore/\(name):\(number + 1) uses \(word)")
                }
                if code.contains("static var ") && code.contains("=") {
                    Issue.record("Sources/RayCore/\(name):\(number + 1) declares global mutable state")
                }
            }
        }
        #expect(files > 10)
    }
}
