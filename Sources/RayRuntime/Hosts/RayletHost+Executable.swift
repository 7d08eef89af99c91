// How a raylet starts the program a job's workers run. As in Ray, a worker
// belongs to one job: the raylet machine decides which job a worker is for and
// which program that job runs (`programPublished`, or its entry in the GCS's
// KV, "swiftray/job/<job>/executable" = "<digest> <path>", looked up by the
// machine), and spawns it once known (`spawnWorker(worker, job:)`). This host
// does the I/O: it publishes the bytes of a local driver's program
// content-addressed ("swiftray/executable/<digest>"), as Ray ships a job's
// working_dir; before every spawn it checks that the file it would run has the
// job's digest (SHA-256), and if it has no such file (another machine, or the program was
// rebuilt since the job started) it fetches the bytes into the session's bin/
// directory. So several jobs with different programs run side by side, a
// rebuilt program never runs in an older job's workers, and a multi-host
// cluster needs no shared filesystem.

import Crypto
import Foundation
import Glibc
import RayCore

extension RayletHost {
    static let executableKey = "swiftray/executable"

    /// Why a driver may not have `path` run as its job's program, or nil: the raylet reads the file
    /// with its own rights and hands it to workers (and, with a worker user, to their group), so a
    /// driver of another user than the raylet's (or root) may name only the program its own process
    /// runs; one of the raylet's user or root may name any file it could read itself (a program of its workers'
    /// own, as `Ray.connect(workerExecutable:)` does). Over TCP, where the kernel cannot say who
    /// the peer is, a driver may not name one. The driver is refused, saying why, and counted.
    func executableRefusal(_ path: String, namedBy connection: Connection) -> String? {
        guard let peer = connection.peerProcess else {
            return "a driver names its program (\(path)) over its node's Unix socket, not over TCP, where this "
                + "raylet cannot tell which process it is"
        }
        // Root reads any file anyway; one of this raylet's user could read it itself.
        if peer.uid == geteuid() || peer.uid == 0 { return nil }
        if peer.pid > 0, let own = fileDigest("/proc/\(peer.pid)/exe"), fileDigest(path) == own { return nil }
        return "the driver (pid \(peer.pid), uid \(peer.uid)) named \(path) as its workers' program, which is not the "
            + "program it runs, and it runs as another user than this raylet (uid \(geteuid())): such a driver may "
            + "name only its own program"
    }

    /// A driver on this node named its executable: the machine records and publishes it for its
    /// job; its bytes go to the GCS once per digest.
    func publishExecutable(_ path: String, job: JobID) {
        guard let digest = fileDigest(path) else {
            note("raylet", "cannot read the driver's executable \(path); the job's workers cannot start")
            return
        }
        localExecutables[digest] = path
        if !publishedDigests.contains(digest), let bytes = FileManager.default.contents(atPath: path) {
            publishedDigests.insert(digest)
            sendToGCSFromMachine(.kvPut(key: Self.executableKey + "/\(digest)", value: Array(bytes)))
        }
        handle(.programPublished(job, program: "\(digest) \(path)"))
    }

    /// Starts pending workers with their job's program (the machine's), fetching the bytes this
    /// node lacks from the GCS.
    func resolveExecutables() {
        guard !pendingSpawns.isEmpty else { return }
        var waiting: [(WorkerID, JobID)] = []
        for (worker, job) in pendingSpawns {
            let program = raylet.programs[job] ?? ""
            guard let space = program.firstIndex(of: " "), let digest = UInt64(program[..<space]) else {
                // No driver published one (a job started by a test harness, say): the configured program.
                if let path = options.workerExecutable {
                    launch(worker, job: job, executable: path)
                } else {
                    note("raylet", "the GCS knows no executable for \(job); its workers cannot start")
                    workerFailedToStart(worker)
                }
                continue
            }
            let path = String(program[program.index(after: space)...])
            if let local = localCopy(digest: digest, named: path) {
                launch(worker, job: job, executable: local)
                continue
            }
            waiting.append((worker, job))
            if fetchingExecutables.insert(digest).inserted {
                note("raylet", "fetching the executable of \(job) (\(digest)) from the GCS")
                sendToGCSFromMachine(.kvGet(key: Self.executableKey + "/\(digest)"))
            }
        }
        pendingSpawns = waiting
    }

    /// Asks again for the bytes the GCS had not sent when its connection broke (a request
    /// written to a dying connection is lost with it).
    func repeatExecutableLookups() {
        for digest in fetchingExecutables.sorted() { sendToGCSFromMachine(.kvGet(key: Self.executableKey + "/\(digest)")) }
    }

    /// A file on this machine with `digest`: the path the driver named, a copy fetched earlier, or none.
    private func localCopy(digest: UInt64, named path: String) -> String? {
        if let known = localExecutables[digest], fileDigest(known) == digest { return known }
        for candidate in [path, cachedExecutablePath(digest)].compactMap({ $0 }) where fileDigest(candidate) == digest {
            localExecutables[digest] = candidate
            return candidate
        }
        return nil
    }

    /// The GCS's answer to one of the host's own fetches of an executable's bytes (I/O: the
    /// bytes go into a file); true if it was one.
    func executableAnswered(key: String, value: [UInt8]?) -> Bool {
        guard key.hasPrefix(Self.executableKey + "/"), let digest = UInt64(key.dropFirst(Self.executableKey.count + 1))
        else { return false }
        fetchingExecutables.remove(digest)
        guard let value, let path = cachedExecutablePath(digest) else {
            failPendingWorkers(digest: digest, "the GCS has no copy of the executable \(digest)")
            return true
        }
        let temporary = path + ".partial-\(getpid())"
        guard writeNewFile(temporary, value, mode: 0o755),
              rename(temporary, path) == 0 else {
            failPendingWorkers(digest: digest, "cannot write the executable \(digest) to \(path)")
            return true
        }
        localExecutables[digest] = path
        resolveExecutables()
        return true
    }

    private func cachedExecutablePath(_ digest: UInt64) -> String? {
        guard let session = options.session else { return nil }
        let directory = session + "/bin"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/worker-\(digest)"
    }

    private func failPendingWorkers(digest: UInt64, _ reason: String) {
        note("raylet", "\(reason); workers cannot start")
        let failing = pendingSpawns.filter { (raylet.programs[$0.1] ?? "").hasPrefix("\(digest) ") }.map(\.0)
        pendingSpawns.removeAll { (raylet.programs[$0.1] ?? "").hasPrefix("\(digest) ") }
        for worker in failing { workerFailedToStart(worker) }
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

    /// A 64-bit content digest of a file: the first 8 bytes of its SHA-256 (so no one can make
    /// another program with a job's digest: a second preimage of 64 bits of SHA-256), cached by path,
    /// size and mtime.
    func fileDigest(_ path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let stamp = "\(path)|\(info.st_size)|\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        if let known = digestCache[stamp] { return known }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let hash = Self.digest(data)
        digestCache[stamp] = hash
        return hash
    }

    /// The 64-bit content digest of a program's bytes (the first 8 bytes of their SHA-256).
    static func digest(_ data: Data) -> UInt64 {
        var hash: UInt64 = 0
        for byte in SHA256.hash(data: data).prefix(8) { hash = hash << 8 | UInt64(byte) }
        return hash
    }
}
