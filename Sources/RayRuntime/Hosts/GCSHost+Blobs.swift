// Large KV values (the executables raylets publish, tens of MB each) are kept
// out of the GCS's event log: the host writes the bytes once to a
// content-named file beside the log (<log>/blobs/<digest>) and the machine
// sees — and the log records — a short reference instead; a kvValue carrying
// a reference gets the file's bytes back on its way out. A restarted GCS then
// replays kilobytes, not the binaries, and is serving again in milliseconds.
// Without a log directory (an embedded in-memory GCS) values stay inline.

import Foundation
import Glibc
import RayCore

extension GCSHost {
    static let blobPrefix = "swiftray-blob:"
    /// Values at least this large under `swiftray/executable/` become blobs.
    static let blobBytesMin = 64 * 1024

    /// The message the machine sees: a large executable put becomes a reference to its file.
    func externalizingBlobs(_ message: Message) -> Message {
        guard let blobDirectory, case .kvPut(let key, let value) = message,
              key.hasPrefix(RayletHost.executableKey + "/"), value.count >= Self.blobBytesMin else { return message }
        let name = String(key.dropFirst(RayletHost.executableKey.count + 1))
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return message }
        let path = blobDirectory + "/" + name
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(atPath: blobDirectory, withIntermediateDirectories: true)
                let partial = path + ".partial"
                try Data(value).write(to: URL(fileURLWithPath: partial))
                guard rename(partial, path) == 0 else { throw RuntimeError("rename failed: errno \(errno)") }
            } catch {
                note("gcs", "cannot store \(key) beside the log (\(error)); keeping it in the log")
                return message
            }
        }
        return .kvPut(key: key, value: Array((Self.blobPrefix + name).utf8))
    }

    /// The message a peer gets: a reference is replaced by the bytes of its file.
    func internalizingBlobs(_ message: Message) -> Message {
        guard let blobDirectory, case .kvValue(let key, let value?) = message,
              value.count < 128, value.starts(with: Self.blobPrefix.utf8) else { return message }
        let name = String(decoding: value.dropFirst(Self.blobPrefix.utf8.count), as: UTF8.self)
        guard let bytes = FileManager.default.contents(atPath: blobDirectory + "/" + name) else {
            note("gcs", "the stored value of \(key) is missing from \(blobDirectory); answering that there is none")
            return .kvValue(key: key, value: nil)
        }
        return .kvValue(key: key, value: Array(bytes))
    }
}
