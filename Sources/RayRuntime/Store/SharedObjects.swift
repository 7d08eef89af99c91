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

    init(base: UnsafeMutableRawPointer?, count: Int) {
        self.base = base
        self.count = count
    }

    /// The mapped bytes (valid while this mapping is alive).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    deinit {
        if let base, count > 0 { munmap(base, count) }
    }
}

/// The shared-memory objects of one node.
public struct SharedObjects: Sendable {
    public let directory: String
    let spillDirectory: String

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
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
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
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
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

    /// Maps an object read-only (no copy). An object too large for memory is read where it
    /// was spilled (Ray's fallback allocation).
    public func map(_ object: ObjectID) throws(RuntimeError) -> SharedMapping {
        var fd = open(path(object), O_RDONLY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT { fd = open(spillPath(object), O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            throw RuntimeError("\(object) is not in the node's shared-memory store (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        let count = Int(info.st_size)
        guard count > 0 else { return SharedMapping(base: nil, count: 0) }
        let base = mmap(nil, count, PROT_READ, MAP_SHARED, fd, 0)
        guard let base, base != MAP_FAILED else {
            throw RuntimeError("cannot map \(object): \(String(cString: strerror(errno)))")
        }
        return SharedMapping(base: base, count: count)
    }

    /// The size of a stored object, nil if it is not here.
    public func size(_ object: ObjectID) -> Int64? {
        var info = stat()
        return stat(path(object), &info) == 0 ? Int64(info.st_size) : nil
    }

    func remove(_ object: ObjectID) {
        unlink(path(object))
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
