// Where the package's files are, from this test file's own path.

import Foundation

enum TestPaths {
    /// The package root (two levels above Tests/RaySimTests).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func files(in folder: String, ending suffix: String) -> [String] {
        let directory = root + "/" + folder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { directory + "/" + $0 }
    }

    /// This test process's temporary files, all removed when it exits.
    private static let temporaryRoot: String = {
        let path = NSTemporaryDirectory() + "swiftray-test-\(getpid())"
        atexit {
            try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "swiftray-test-\(getpid())")
        }
        return path
    }()

    /// A fresh temporary directory (removed when the test process exits).
    static func temporaryDirectory() -> String {
        let path = temporaryRoot + "/\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
