// The shared-memory object store of a node. Objects over the inline limit
// (100 KiB) live in the node's region (ObjectRegion: one mmap'd tmpfs file in
// /dev/shm, sized to the store's capacity): the creator (a driver's put, a
// worker's return value, a raylet receiving a pushed copy) allocates room,
// writes the bytes once and seals them, so a reader never sees a partial
// object; readers on the node get the bytes in the region mapping, without a
// copy, pinned while they hold them. The raylet owns the objects' lifetime:
// it frees an object's room when its machine releases the copy (once no
// reader pins it), copies it to disk when it spills and back when it restores.
// When the region has no room for an object (fragmentation, or an object over
// the store's capacity), the object gets a file of its own in the node's
// directory, written once and renamed into place, with the same guarantees
// (released files are pooled for reuse).
//
// The machines see these objects as ObjectData without bytes: event logs and
// messages never carry the contents of large objects.

import Foundation
import Glibc
public import RayCore
import RayStorage

/// A read-only view of one object's bytes, released (unpinned or unmapped) when it goes.
public final class SharedMapping: @unchecked Sendable {
    let base: UnsafeMutableRawPointer?
    public let count: Int
    /// A file of its own: the open file, holding a shared lock while the mapping lives: the
    /// raylet recycles a released object's file only when it can take the lock exclusively,
    /// so a reader's view is never overwritten.
    let lockedFD: Int32
    /// In the region: the pin to drop (the object's range stays locked until then).
    let region: ObjectRegion?
    let regionOffset: Int64

    init(base: UnsafeMutableRawPointer?, count: Int, lockedFD: Int32 = -1) {
        self.base = base
        self.count = count
        self.lockedFD = lockedFD
        region = nil
        regionOffset = 0
    }

    init(region: ObjectRegion, offset: Int64, count: Int) {
        base = region.base + Int(offset)
        self.count = count
        lockedFD = -1
        self.region = region
        regionOffset = offset
    }

    /// The mapped bytes (valid while this mapping is alive).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    deinit {
        if let region {
            region.unpin(offset: regionOffset, size: Int64(count))
            return
        }
        if let base, count > 0 { munmap(base, count) }
        if lockedFD >= 0 { close(lockedFD) }
    }
}

/// The shared-memory objects of one node.
public struct SharedObjects: Sendable {
    public let directory: String
    let spillDirectory: String
    /// Released files are kept for reuse in `pool` (not in a job's store: its directory is the
    /// job's, so root must not follow what the job may put there).
    var pooled = true
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

    /// A store at explicit paths (tests).
    init(directory: String, spillDirectory: String, pooled: Bool = true) {
        self.directory = directory
        self.spillDirectory = spillDirectory
        self.pooled = pooled
    }

    /// Job `job`'s store inside this node's (a store per job: RayletHost+JobStores).
    func forJob(_ job: JobID) -> SharedObjects {
        SharedObjects(directory: directory + "/job-\(job.value)", spillDirectory: spillDirectory + "/job-\(job.value)",
                      pooled: false)
    }

    /// The store a process of `job` on `node` uses: its job's own when the raylet made one (a
    /// store per job), else the node's.
    public static func forProcess(session: String, node: NodeID, job: JobID) -> SharedObjects {
        let nodeStore = SharedObjects(session: session, node: node)
        let own = nodeStore.forJob(job)
        return access(own.directory, F_OK) == 0 ? own : nodeStore
    }

    /// Removes every node directory of a session (after its raylets are gone).
    public static func removeAll(session: String) {
        let name = session.split(separator: "/").last.map(String.init) ?? "session"
        let prefix = "swiftray-\(name)-n"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where entry.hasPrefix(prefix) {
            try? FileManager.default.removeItem(atPath: root + "/" + entry)
        }
    }

    /// Creates the file at `path` afresh for writing, its directory group's too (the group of
    /// workers running as another user, WorkerUser, who read what the raylet and drivers write
    /// and reuse pooled files): whatever had the name goes first, and the new file is made, not
    /// opened through a link someone else put there (the store's directories are shared).
    static func createFresh(_ path: String, mode: mode_t = 0o660) -> Int32 {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return fd }
        takeDirectoryGroup(path, fd: fd)
        _ = fchmod(fd, mode)
        return fd
    }

    /// The node's region file.
    var regionPath: String { directory + "/region" }
    /// The region, once the raylet created it (opened and mapped once per process).
    var region: ObjectRegion? { ObjectRegion.shared(regionPath, returnsFreedPages: !pooled) }

    /// Creates the node's store: its directories and a region of `capacity` bytes (the raylet).
    func create(capacity: Int64) throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: pooled ? poolDirectory : directory,
                                                    withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: spillDirectory, withIntermediateDirectories: true)
        } catch {
            throw RuntimeError("cannot create the shared-memory object store \(directory): \(error.localizedDescription)")
        }
        // Made by this process's user, not one someone else put there first (its name is known).
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid() else {
            throw RuntimeError("the shared-memory object store \(directory) is not a directory of this raylet's user "
                + "(uid \(geteuid()); it is \(info.st_uid)'s): remove it, or set SWIFTRAY_SHM_DIR")
        }
        try ObjectRegion.create(path: regionPath, capacity: capacity)
        // A store made again where one was (a job's, after it was dropped or given up): not the old mapping.
        ObjectRegion.forget(regionPath)
    }

    /// Removes the node's store (the raylet, on exit).
    func remove() {
        ObjectRegion.forget(regionPath)
        try? FileManager.default.removeItem(atPath: directory)
    }

    public func path(_ object: ObjectID) -> String { "\(directory)/\(object)" }
    func spillPath(_ object: ObjectID) -> String { "\(spillDirectory)/\(object)" }
    /// Beside each spill file: its size and CRC-32C (12 bytes), checked when it is read back.
    func spillChecksumPath(_ object: ObjectID) -> String { "\(spillDirectory)/\(object).crc" }

    /// Records the size and checksum of `bytes`, the content of `object`'s spill file.
    private func writeSpillChecksum(_ object: ObjectID, _ bytes: UnsafeRawBufferPointer) throws(RuntimeError) {
        var record: [UInt8] = []
        let size = UInt64(bytes.count), crc = FastCRC32C.update(0, bytes)
        for index in 0..<8 { record.append(UInt8(truncatingIfNeeded: size >> (8 * UInt64(index)))) }
        for index in 0..<4 { record.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index)))) }
        let path = spillChecksumPath(object)
        let fd = Self.createFresh(path, mode: 0o640)
        guard fd >= 0 else { throw RuntimeError("cannot spill \(object) to \(spillDirectory): \(errnoText())") }
        defer { close(fd) }
        guard record.withUnsafeBytes({ writeAll(fd, [$0], at: 0) }) else {
            throw RuntimeError("cannot spill \(object) to \(spillDirectory): \(errnoText())")
        }
    }

    /// Checks `bytes`, read back from `object`'s spill file, against the checksum written with it.
    func verifySpilled(_ object: ObjectID, _ bytes: UnsafeRawBufferPointer) throws(RuntimeError) {
        var record = [UInt8](repeating: 0, count: 13)
        let fd = open(spillChecksumPath(object), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        let read = fd >= 0 ? record.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 13, 0) } : -1
        if fd >= 0 { close(fd) }
        guard read == 12 else {
            throw RuntimeError("the spill file of \(object) has no checksum beside it (\(spillChecksumPath(object))): "
                + "it cannot be trusted")
        }
        let bytesOfRecord = [UInt8](record)
        var size: UInt64 = 0, crc: UInt32 = 0
        for index in 0..<8 { size |= UInt64(bytesOfRecord[index]) << (8 * UInt64(index)) }
        for index in 0..<4 { crc |= UInt32(bytesOfRecord[8 + index]) << (8 * UInt32(index)) }
        guard size == UInt64(bytes.count) else {
            throw RuntimeError("the spill file of \(object) is damaged: \(bytes.count) bytes, \(size) were written")
        }
        let actual = FastCRC32C.update(0, bytes)
        guard actual == crc else {
            throw RuntimeError("the spill file of \(object) is damaged: its CRC-32C is "
                + "\(String(actual, radix: 16)), \(String(crc, radix: 16)) was written")
        }
    }

    /// Writes an object from `parts` (one copy into shared memory): into the region, or a file of its own.
    public func write(_ object: ObjectID, _ parts: [UnsafeRawBufferPointer]) throws(RuntimeError) {
        try write(object, parts, in: region)
    }

    /// `write` into `region`, the store's region as the caller found it (another thread than the
    /// raylet's loop must not look it up by path: the loop may have just forgotten it).
    func write(_ object: ObjectID, _ parts: [UnsafeRawBufferPointer], in region: ObjectRegion?) throws(RuntimeError) {
        let size = parts.reduce(0) { $0 + $1.count }
        if size > 0, let region {
            switch region.allocate(object, size: Int64(size)) {
            case .present:
                return
            case .allocated(let offset):
                guard region.write(parts, at: offset) else {
                    let reason = errnoText()
                    region.abandon(object)
                    throw RuntimeError("cannot write \(object) to the shared-memory store (\(reason)); "
                        + "/dev/shm may be full: lower the object store size or free objects")
                }
                region.seal(object)
                return
            case .full:
                break
            }
        }
        try writeFile(object, parts)
    }

    /// Writes an object to a file of its own and renames it into place.
    func writeFile(_ object: ObjectID, _ parts: [UnsafeRawBufferPointer]) throws(RuntimeError) {
        let final = path(object)
        let temporary = final + ".partial-\(getpid())"
        let size = parts.reduce(0) { $0 + $1.count }
        var fd: Int32 = -1
        if claimPooledFile(size: size, as: temporary) {
            // Non-blocking, and a regular file only: the pool is shared with the workers' group, whose
            // code could leave a FIFO there for a writer to wait on for ever.
            fd = open(temporary, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            var info = stat()
            if fd >= 0 && (fstat(fd, &info) != 0 || info.st_mode & S_IFMT != S_IFREG) {
                close(fd)
                unlink(temporary)
                fd = -1
            }
            if fd >= 0 { _ = ftruncate(fd, off_t(size)) }
        }
        if fd < 0 { fd = Self.createFresh(temporary) }
        guard fd >= 0 else {
            throw RuntimeError("cannot create \(temporary) in the shared-memory store: \(String(cString: strerror(errno)))")
        }
        guard writeAll(fd, parts, at: 0) else {
            let reason = errnoText()
            close(fd)
            unlink(temporary)
            throw RuntimeError("cannot write \(object) to the shared-memory store (\(reason)); "
                + "/dev/shm may be full: lower the object store size or free objects")
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
        guard pooled, let names = try? FileManager.default.contentsOfDirectory(atPath: poolDirectory), !names.isEmpty else {
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

    /// A released object: its room in the region is freed (once no reader pins it); a file of
    /// its own is kept in the pool for reuse when no reader maps it and the pool has room,
    /// deleted otherwise.
    func recycle(_ object: ObjectID) {
        if let region, region.release(object) {
            unlink(path(object))  // A copy that once went to a file of its own, if any.
            return
        }
        let file = path(object)
        guard pooled else {
            unlink(file)
            return
        }
        let fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)  // (A FIFO must not hold it up.)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, flock(fd, LOCK_EX | LOCK_NB) == 0, poolBytes() + Int64(info.st_size) <= Self.poolBytesMax,
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
        try map(object, waiting: true, in: region)!
    }

    /// `map` through `region`, the store's region as the raylet's loop found it (off the loop, a
    /// region is not looked up by path: the loop may have just forgotten it).
    func map(_ object: ObjectID, in region: ObjectRegion?) throws(RuntimeError) -> SharedMapping {
        try map(object, waiting: true, in: region)!
    }

    /// `map` without waiting, for the raylet's loop: nil when that would wait — the region's lock
    /// or the object file's is taken, or the object is spilled (its file read and its checksum
    /// checked) — so the caller maps it off the loop.
    func mapIfFree(_ object: ObjectID) throws(RuntimeError) -> SharedMapping? {
        try map(object, waiting: false, in: region)
    }

    /// Runs `work` off the raylet's loop, after the region's deferred work (so a read there of an
    /// object comes after the releases the loop deferred before it).
    func later(_ work: @escaping @Sendable () -> Void) {
        guard let region else { return DispatchQueue.global().async(execute: work) }
        region.later(work)
    }

    private func map(_ object: ObjectID, waiting: Bool, in region: ObjectRegion?) throws(RuntimeError) -> SharedMapping? {
        if let region {
            let pinned = waiting ? .done(region.pin(object)) : region.pinIfFree(object)
            switch pinned {
            case .busy:
                return nil
            case .done(let span?):
                return SharedMapping(region: region, offset: span.offset, count: Int(span.size))
            case .done(nil):
                break
            }
        }
        // Non-blocking: a FIFO put where an object's file goes must not hold up the reader.
        var fd = open(path(object), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        var spilled = false
        if fd < 0 && errno == ENOENT {
            guard waiting else { return nil }
            fd = open(spillPath(object), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            spilled = true
        }
        guard fd >= 0 else {
            throw RuntimeError("\(object) is not in the node's shared-memory store (\(String(cString: strerror(errno))))")
        }
        var kind = stat()
        guard fstat(fd, &kind) == 0, kind.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw RuntimeError("\(object) in the node's shared-memory store is not a file")
        }
        // The shared lock keeps the file from being recycled under this mapping.
        if !spilled && !waiting && flock(fd, LOCK_SH | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
        if !spilled && waiting, let why = flockPatiently(fd, LOCK_SH, within: ObjectRegion.defaultLockPatience) {
            close(fd)
            throw RuntimeError("\(object)'s file in the node's shared-memory store is locked: "
                + why.replacingOccurrences(of: "its lock", with: "the lock"))
        }
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
            do {
                try verifySpilled(object, UnsafeRawBufferPointer(start: base, count: count))
            } catch {
                munmap(base, count)
                throw error
            }
            return SharedMapping(base: base, count: count)
        }
        return SharedMapping(base: base, count: count, lockedFD: fd)
    }

    /// Moves an object to local disk (its memory is released).
    func spill(_ object: ObjectID) throws(RuntimeError) {
        if let region, let (offset, size) = region.pin(object) {
            let file = spillPath(object)
            let fd = Self.createFresh(file + ".partial", mode: 0o640)
            guard fd >= 0 else {
                region.unpin(offset: offset, size: size)
                throw RuntimeError("cannot spill \(object) to \(spillDirectory): \(errnoText())")
            }
            // The pin ends with the closure, before the release below frees the room.
            let wrote = {
                let mapping = SharedMapping(region: region, offset: offset, count: Int(size))
                return withExtendedLifetime(mapping) {
                    (try? writeSpillChecksum(object, mapping.bytes)) != nil && writeAll(fd, [mapping.bytes], at: 0)
                }
            }()
            guard wrote else {
                let reason = errnoText()
                close(fd)
                unlink(file + ".partial")
                throw RuntimeError("cannot spill \(object) to \(spillDirectory): \(reason)")
            }
            close(fd)
            guard rename(file + ".partial", file) == 0 else {
                throw RuntimeError("cannot spill \(object) to \(spillDirectory): \(errnoText())")
            }
            _ = region.release(object)
            return
        }
        // A file of its own: checksummed where it is, then moved.
        try withMappedFile(path(object), failing: "cannot spill \(object) to \(spillDirectory)") { bytes throws(RuntimeError) in
            try writeSpillChecksum(object, bytes)
        }
        do {
            try? FileManager.default.removeItem(atPath: spillPath(object))
            try FileManager.default.moveItem(atPath: path(object), toPath: spillPath(object))
        } catch {
            throw RuntimeError("cannot spill \(object) to \(spillDirectory): \(error.localizedDescription)")
        }
    }

    /// Copies a spilled object back into shared memory (the spill file stays, as Ray keeps spilled URLs).
    func restore(_ object: ObjectID) throws(RuntimeError) {
        let inRegion = region != nil
        try withMappedFile(spillPath(object), failing: "cannot restore \(object) from \(spillDirectory)") {
            bytes throws(RuntimeError) in
            try verifySpilled(object, bytes)
            if inRegion && bytes.count > 0 { try write(object, [bytes]) }
        }
        if inRegion { return }
        do {
            let temporary = path(object) + ".restoring"
            try? FileManager.default.removeItem(atPath: temporary)
            try FileManager.default.copyItem(atPath: spillPath(object), toPath: temporary)
            guard rename(temporary, path(object)) == 0 else { throw RuntimeError("rename failed") }
        } catch {
            throw RuntimeError("cannot restore \(object) from \(spillDirectory): \(error)")
        }
    }

    /// Runs `body` on the bytes of the file at `path`, mapped read-only (none for an empty file);
    /// `what` starts the error if it cannot be opened or mapped.
    private func withMappedFile(_ path: String, failing what: String,
                                _ body: (UnsafeRawBufferPointer) throws(RuntimeError) -> Void) throws(RuntimeError) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError("\(what): \(errnoText())") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw RuntimeError("\(what): not a file")
        }
        let count = Int(info.st_size)
        guard count > 0 else {
            close(fd)
            try body(UnsafeRawBufferPointer(start: nil, count: 0))
            return
        }
        let mapped = mmap(nil, count, PROT_READ, MAP_SHARED, fd, 0)
        close(fd)
        guard let mapped, mapped != MAP_FAILED else { throw RuntimeError("\(what): \(errnoText())") }
        defer { munmap(mapped, count) }
        try body(UnsafeRawBufferPointer(start: mapped, count: count))
    }

    /// Writes `bytes` as `object`'s spill file (with its checksum beside it), read in place by
    /// `map` (a copy kept on disk rather than in memory).
    func writeSpilled(_ object: ObjectID, _ bytes: UnsafeRawBufferPointer) throws(RuntimeError) {
        let file = spillPath(object)
        let fd = Self.createFresh(file + ".partial", mode: 0o640)
        guard fd >= 0 else { throw RuntimeError("cannot write \(object) to \(spillDirectory): \(errnoText())") }
        let wrote = (try? writeSpillChecksum(object, bytes)) != nil && writeAll(fd, [bytes], at: 0)
        let reason = errnoText()
        close(fd)
        guard wrote, rename(file + ".partial", file) == 0 else {
            unlink(file + ".partial")
            unlink(spillChecksumPath(object))
            throw RuntimeError("cannot write \(object) to \(spillDirectory): \(wrote ? errnoText() : reason)")
        }
    }

    func deleteSpilled(_ object: ObjectID) {
        unlink(spillPath(object))
        unlink(spillChecksumPath(object))
    }
}

/// A copy of an object arriving from another node in chunks: written into room reserved in
/// the region (or a file of its own when the region has none), published when complete.
final class IncomingObject {
    private enum Target {
        case region(ObjectRegion, offset: Int64)
        /// The node already holds this object: the chunks are dropped.
        case present
        case file(fd: Int32, temporary: String)
    }
    private let target: Target
    let object: ObjectID
    let total: Int64
    var received: Int64 = 0

    init?(store: SharedObjects, object: ObjectID, total: Int64) {
        self.object = object
        self.total = total
        if total > 0, let region = store.region {
            switch region.allocate(object, size: total) {
            case .allocated(let offset):
                target = .region(region, offset: offset)
                return
            case .present:
                target = .present
                return
            case .full:
                break
            }
        }
        let temporary = store.path(object) + ".incoming-\(getpid())"
        let fd = SharedObjects.createFresh(temporary)
        guard fd >= 0 else { return nil }
        target = .file(fd: fd, temporary: temporary)
    }

    func write(_ chunk: UnsafeRawBufferPointer, at offset: Int64) -> Bool {
        // Never past the object (a later chunk may claim another total): written bytes stay its own.
        guard offset >= 0, offset <= total, Int64(chunk.count) <= total - offset else { return false }
        switch target {
        case .region(let region, let start):
            guard region.write([chunk], at: start + offset) else { return false }
        case .present:
            break
        case .file(let fd, _):
            guard writeAll(fd, [chunk], at: offset) else { return false }
        }
        received += Int64(chunk.count)
        return true
    }

    /// Publishes the object if every byte arrived; discards it otherwise.
    func finish(into store: SharedObjects, object: ObjectID) -> Bool {
        guard received == total else {
            discard()
            return false
        }
        switch target {
        case .region(let region, _):
            region.seal(object)
        case .present:
            break
        case .file(let fd, let temporary):
            close(fd)
            guard rename(temporary, store.path(object)) == 0 else {
                unlink(temporary)
                return false
            }
        }
        return true
    }

    func discard() {
        switch target {
        case .region(let region, _):
            region.abandon(object)
        case .present:
            break
        case .file(let fd, let temporary):
            close(fd)
            unlink(temporary)
        }
    }
}
