// How a raylet finds the executable its workers run. A driver names its own
// executable when it connects; its raylet publishes it in the GCS's KV,
// content-addressed ("swiftray/executable" = "<digest> <path>", and
// "swiftray/executable/<digest>" = the bytes), as Ray ships a job's
// working_dir. Before spawning workers, a raylet checks the executable the
// GCS named current; if it lacks that file (same path and digest), it
// fetches the bytes into the session's bin/ directory. The GCS names the
// current executable in the directory it sends every raylet. So a multi-host
// cluster needs no shared filesystem. One executable per cluster at a time:
// the last driver's.

import Foundation
import Glibc
import RayCore

extension RayletHost {
    static let executableKey = "swiftray/executable"

    /// A driver on this node named its executable: it is current; publish it.
    func publishExecutable(_ path: String) {
        guard let digest = fileDigest(path) else {
            note("raylet", "cannot read the driver's executable \(path); workers on other nodes cannot start")
            return
        }
        localExecutables[digest] = path
        clusterExecutable = (digest, path)
        prestartIfFirst()
        sendToGCSFromMachine(.kvPut(key: Self.executableKey, value: Array("\(digest) \(path)".utf8)))
        if !publishedDigests.contains(digest), let bytes = FileManager.default.contents(atPath: path) {
            publishedDigests.insert(digest)
            sendToGCSFromMachine(.kvPut(key: Self.executableKey + "/\(digest)", value: Array(bytes)))
        }
        resolveExecutable()
    }

    /// The GCS's directory names the current executable ("<digest> <path>").
    func directoryNamesExecutable(_ text: String?) {
        guard let text, let space = text.firstIndex(of: " "), let digest = UInt64(text[..<space]) else { return }
        clusterExecutable = (digest, String(text[text.index(after: space)...]))
        prestartIfFirst()
        resolveExecutable()
    }

    /// Once workers can be started, start one per CPU ahead of the first lease (as Ray does).
    func prestartIfFirst() {
        guard !prestarted, started else { return }
        prestarted = true
        let cpus = Int(options.resources["CPU"] / 1000)
        if cpus > 0 { handle(.prestartWorkers(count: cpus)) }
    }

    /// Starts pending workers with the current executable, fetching it from the GCS if this node lacks it.
    /// Without a GCS the last known executable serves (the GCS is not needed to run tasks).
    func resolveExecutable() {
        guard !pendingSpawns.isEmpty else { return }
        guard let (digest, path) = clusterExecutable else {
            // No driver has connected anywhere yet: the configured one, or wait for the directory to name one.
            if let path = options.workerExecutable { startPendingWorkers(with: path) }
            return
        }
        if let local = localExecutables[digest] {
            startPendingWorkers(with: local)
        } else if fileDigest(path) == digest {
            localExecutables[digest] = path
            startPendingWorkers(with: path)
        } else if let cached = cachedExecutablePath(digest), fileDigest(cached) == digest {
            localExecutables[digest] = cached
            startPendingWorkers(with: cached)
        } else if fetchingExecutable != digest {
            fetchingExecutable = digest
            note("raylet", "fetching the job's executable (\(digest)) from the GCS")
            sendToGCSFromMachine(.kvGet(key: Self.executableKey + "/\(digest)"))
        }
    }

    /// A KV answer to an executable fetch; true if it was one.
    func executableAnswered(key: String, value: [UInt8]?) -> Bool {
        guard key.hasPrefix(Self.executableKey + "/"), let digest = UInt64(key.dropFirst(Self.executableKey.count + 1))
        else { return false }
        if fetchingExecutable == digest { fetchingExecutable = nil }
        guard let value, let path = cachedExecutablePath(digest) else {
            failPendingWorkers("the GCS has no copy of the job's executable \(digest)")
            return true
        }
        let temporary = path + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(value),
                                             attributes: [.posixPermissions: 0o755]),
              rename(temporary, path) == 0 else {
            failPendingWorkers("cannot write the job's executable to \(path)")
            return true
        }
        localExecutables[digest] = path
        resolveExecutable()
        return true
    }

    private func cachedExecutablePath(_ digest: UInt64) -> String? {
        guard let session = options.session else { return nil }
        let directory = session + "/bin"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/worker-\(digest)"
    }

    private func startPendingWorkers(with path: String) {
        let workers = pendingSpawns
        pendingSpawns = []
        for worker in workers { launch(worker, executable: path) }
    }

    private func failPendingWorkers(_ reason: String) {
        note("raylet", "\(reason); workers cannot start")
        let workers = pendingSpawns
        pendingSpawns = []
        for worker in workers { workerFailedToStart(worker) }
    }

    func sendToGCSFromMachine(_ message: Message) {
        var frame: [UInt8] = []
        do {
            try Wire.appendMessage(message, from: .raylet(nodeID), to: .gcs, into: &frame)
        } catch {
            note("raylet", "cannot encode a message to the GCS: \(error)")
            return
        }
        route(frame, from: .raylet(nodeID), to: .gcs)
    }

    /// A 64-bit content digest of a file (FNV-1a over 8-byte words), cached by path, size and mtime.
    func fileDigest(_ path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let stamp = "\(path)|\(info.st_size)|\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        if let known = digestCache[stamp] { return known }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(data.count)
        data.withUnsafeBytes { raw in
            let words = raw.count / 8
            for index in 0..<words {
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x100_0000_01b3
            }
            for index in (words * 8)..<raw.count { hash = (hash ^ UInt64(raw[index])) &* 0x100_0000_01b3 }
        }
        hash = mix(hash)
        digestCache[stamp] = hash
        return hash
    }
}
