// The shared-memory object store of a node. Objects over the inline limit
// (100 KiB) live in tmpfs (/dev/shm), one file per object in the node's
// directory: the creator (a driver's put, a worker's return value, a raylet
// receiving a pushed copy) writes it once and renames it into place, so a
// reader never sees a partial object; readers on the node map it read-only
// and get the bytes without a copy. The raylet owns the files' lifetime: it
// deletes a file when its machine releases the copy, moves it to disk when it
// spills and back when it restores. Unlinking never invalidates a mapping, so
// a reader's view stays valid for as long as it holds it.
//
// The machines see these objects as ObjectData without bytes: event logs and
// messages never carry the contents of large objects.

import Foundation
import Glibc
public import RayCore

/// A read-only mapping of one object's bytes, unmapped when released.
public final class SharedMapping: @unchecked Sendable {
    let base: UnsafeMutableRawPointer?
    public let count: Int
    /// The open file, holding a shared lock while the mapping lives: the raylet recycles a
    /// released object's file (keeps its memory resident for the next object) only when it
    /// can take the lock exclusively, so a reader's view is never overwritten.
    let lockedFD: Int32

    init(base: UnsafeMutableRawPointer?, count: Int, lockedFD: Int32 = -1) {
        self.base = base
        self.count = count
        self.lockedFD = lockedFD
    }

    /// The mapped bytes (valid while this mapping is alive).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    deinit {
        if let base, count > 0 { munmap(base, count) }
        if lockedFD >= 0 { close(lockedFD) }
    }
}

/// The shared-memory objects of one node.
public struct SharedObjects: Sendable {
    public let directory: String
    let spillDirectory: String
    /// Files of released objects, kept for reuse: their pages stay resident, so writing the
    /// next object into one costs no page faults (fresh memory costs ≈ 3 µs per page on a VM).
    var poolDirectory: String { directory + "/pool" }
    /// The most bytes the pool keeps (beyond it, released files are deleted).
    static var poolBytesMax: Int64 { Int64(environment("SWIFTRAY_SHM_POOL_BYTES") ?? "") ?? (2 << 30) }

    /// The tmpfs root (SWIFTRAY_SHM_DIR, default /dev/shm).
    static var root: String { environment("SWIFTRAY_SHM_DIR") ?? "/dev/shm" }

    /// The object directory of `node` in the session at `session`.
    public init(session: String, node: NodeID) {
        let name = session.split(separator: "/").last.map(String.init) ?? "session"
        directory = "\(Self.root)/swiftray-\(name)-n\(node.value)"
        spillDirectory = session + "/spill/node-\(node.value)"
    }

    /// Removes every node directory of a session (after its raylets are gone).
    public static func removeAll(session: String) {
        let name = session.split(separator: "/").last.map(String.init) ?? "session"
        let prefix = "swiftray-\(name)-n"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where entry.hasPrefix(prefix) {
            try? FileManager.default.removeItem(atPath: root + "/" + entry)
        }
    }

    func create() throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: poolDirectory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: spillDirectory, withIntermediateDirectories: true)
        } catch {
            throw RuntimeError("cannot create the shared-memory object store \(directory): \(error.localizedDescription)")
        }
    }

    public func path(_ object: ObjectID) -> String { "\(directory)/\(object)" }
    func spillPath(_ object: ObjectID) -> String { "\(spillDirectory)/\(object)" }

    /// Writes an object from `parts` (one copy into shared memory) and renames it into place.
    public func write(_ object: ObjectID, _ parts: [UnsafeRawBufferPointer]) throws(RuntimeError) {
        let final = path(object)
        let temporary = final + ".partial-\(getpid())"
        let size = parts.reduce(0) { $0 + $1.count }
        var fd: Int32 = -1
        if claimPooledFile(size: size, as: temporary) {
            fd = open(temporary, O_WRONLY | O_CLOEXEC)
            if fd >= 0 { _ = ftruncate(fd, off_t(size)) }
        }
        if fd < 0 { fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        guard fd >= 0 else {
            throw RuntimeError("cannot create \(temporary) in the shared-memory store: \(String(cString: strerror(errno)))")
        }
        for part in parts where part.count > 0 {
            var offset = 0
            while offset < part.count {
                let written = Glibc.write(fd, part.baseAddress! + offset, part.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    let reason = String(cString: strerror(errno))
                    close(fd)
                    unlink(temporary)
                    throw RuntimeError("cannot write \(object) to the shared-memory store (\(reason)); "
                        + "/dev/shm may be full: lower the object store size or free objects")
                }
                offset += written
            }
        }
        close(fd)
        guard rename(temporary, final) == 0 else {
            unlink(temporary)
            throw RuntimeError("cannot publish \(object) in the shared-memory store: \(String(cString: strerror(errno)))")
        }
    }

    public func write(_ object: ObjectID, bytes: [UInt8]) throws(RuntimeError) {
        let result: Result<Void, RuntimeError> = bytes.withUnsafeBytes { raw in
            do throws(RuntimeError) {
                try write(object, [raw])
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Renames a pooled file (the largest up to 2× `size`, else any) to `target`; false if none.
    func claimPooledFile(size: Int, as target: String) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: poolDirectory), !names.isEmpty else {
            return false
        }
        var candidates: [(Int, String)] = []
        for name in names {
            var info = stat()
            guard stat(poolDirectory + "/" + name, &info) == 0 else { continue }
            candidates.append((Int(info.st_size), name))
        }
        // Prefer a file at least as large (all its pages reused), the smallest such; else the largest.
        let fitting = candidates.filter { $0.0 >= size }.sorted { $0.0 < $1.0 }
        let rest = candidates.filter { $0.0 < size }.sorted { $0.0 > $1.0 }
        for (_, name) in fitting + rest where rename(poolDirectory + "/" + name, target) == 0 {
            return true  // Another process may have claimed a candidate first: try the next.
        }
        return false
    }

    /// A released object's file: kept in the pool for reuse when no reader maps it and the
    /// pool has room, deleted otherwise.
    func recycle(_ object: ObjectID) {
        let file = path(object)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, poolBytes() + Int64(info.st_size) <= Self.poolBytesMax,
              rename(file, poolDirectory + "/\(object)-\(info.st_ino)") == 0 else {
            unlink(file)
            return
        }
    }

    private func poolBytes() -> Int64 {
        var total: Int64 = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: poolDirectory)) ?? [] {
            var info = stat()
            if stat(poolDirectory + "/" + name, &info) == 0 { total += Int64(info.st_size) }
        }
        return total
    }

    /// Maps an object read-only (no copy). An object too large for memory is read where it
    /// was spilled (Ray's fallback allocation).
    public func map(_ object: ObjectID) throws(RuntimeError) -> SharedMapping {
        var fd = open(path(object), O_RDONLY | O_CLOEXEC)
        var spilled = false
        if fd < 0 && errno == ENOENT {
            fd = open(spillPath(object), O_RDONLY | O_CLOEXEC)
            spilled = true
        }
        guard fd >= 0 else {
            throw RuntimeError("\(object) is not in the node's shared-memory store (\(String(cString: strerror(errno))))")
        }
        // The shared lock keeps the file from being recycled under this mapping.
        if !spilled { flock(fd, LOCK_SH) }
        var info = stat()
        fstat(fd, &info)
        let count = Int(info.st_size)
        guard count > 0 else {
            close(fd)
            return SharedMapping(base: nil, count: 0)
        }
        let base = mmap(nil, count, PROT_READ, MAP_SHARED, fd, 0)
        guard let base, base != MAP_FAILED else {
            close(fd)
            throw RuntimeError("cannot map \(object): \(String(cString: strerror(errno)))")
        }
        if spilled {
            close(fd)
            return SharedMapping(base: base, count: count)
        }
        return SharedMapping(base: base, count: count, lockedFD: fd)
    }

    /// Moves an object to local disk (its memory is released).
    func spill(_ object: ObjectID) throws(RuntimeError) {
        do {
            try? FileManager.default.removeItem(atPath: spillPath(object))
            try FileManager.default.moveItem(atPath: path(object), toPath: spillPath(object))
        } catch {
            throw RuntimeError("cannot spill \(object) to \(spillDirectory): \(error.localizedDescription)")
        }
    }

    /// Copies a spilled object back into shared memory (the spill file stays, as Ray keeps spilled URLs).
    func restore(_ object: ObjectID) throws(RuntimeError) {
        do {
            let temporary = path(object) + ".restoring"
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.copyItem(atPath: spillPath(object), toPath: temporary)
            guard rename(temporary, path(object)) == 0 else { throw RuntimeError("rename failed") }
        } catch {
            throw RuntimeError("cannot restore \(object) from \(spillDirectory): \(error)")
        }
    }

    func deleteSpilled(_ object: ObjectID) {
        unlink(spillPath(object))
    }
}

/// A copy of an object arriving from another node in chunks.
final class IncomingObject {
    let fd: Int32
    let temporary: String
    let total: Int64
    var received: Int64 = 0

    init?(store: SharedObjects, object: ObjectID, total: Int64) {
        temporary = store.path(object) + ".incoming-\(getpid())"
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        self.total = total
        guard fd >= 0 else { return nil }
    }

    func write(_ chunk: UnsafeRawBufferPointer, at offset: Int64) -> Bool {
        var done = 0
        while done < chunk.count {
            let written = pwrite(fd, chunk.baseAddress! + done, chunk.count - done, off_t(offset) + off_t(done))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            done += written
        }
        received += Int64(chunk.count)
        return true
    }

    /// Publishes the object if every byte arrived; discards it otherwise.
    func finish(into store: SharedObjects, object: ObjectID) -> Bool {
        close(fd)
        guard received == total, rename(temporary, store.path(object)) == 0 else {
            unlink(temporary)
            return false
        }
        return true
    }

    func discard() {
        close(fd)
        unlink(temporary)
    }
}
