// The node's shared-memory region: allocation, sealing, pinning against
// reuse, coalescing, sweeping what dead writers left, and the fallback to a
// file of its own when the region has no room.

import Foundation
import Glibc
import Synchronization
import Testing

import RayCore
@testable import RayRuntime
import RayStorage

private func object(_ n: Int) -> ObjectID { ObjectID.put(by: TaskID(value: 77), index: UInt32(n)) }

/// A fresh store in a temporary directory.
private func freshStore(capacity: Int64) throws -> SharedObjects {
    let root = NSTemporaryDirectory() + "swiftray-region-test-\(getpid())-\(UInt64.random(in: 0..<(1 << 40)))"
    let store = SharedObjects(directory: root + "/store", spillDirectory: root + "/spill")
    try store.create(capacity: capacity)
    return store
}

/// Removes a store `freshStore` made, its spill directory too.
private func discard(_ store: SharedObjects) {
    store.remove()
    try? FileManager.default.removeItem(atPath: (store.directory as NSString).deletingLastPathComponent)
}

/// An object's bytes, copied while its mapping is held.
private func contents(_ store: SharedObjects, _ object: ObjectID) throws -> [UInt8] {
    let mapping = try store.map(object)
    return withExtendedLifetime(mapping) { Array(mapping.bytes) }
}

private func bytes(_ seed: UInt8, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0) &+ seed } }

@Suite struct ObjectRegionTests {
    /// A job's store's region gives freed pages back (one region per job must not keep each
    /// job's high-water mark); the node's keeps them resident for the next writer.
    @Test func aRegionThatReturnsFreedPagesShrinksWhenAnObjectIsFreed() throws {
        func blocks(_ store: SharedObjects) -> Int64 {
            var info = stat()
            _ = stat(store.regionPath, &info)
            return Int64(info.st_blocks) * 512
        }
        for returns in [false, true] {
            let store = try freshStore(capacity: 8 << 20)
            defer { discard(store) }
            let region = try #require(store.region)
            region.returnsFreedPages = returns
            let before = blocks(store)
            try store.write(object(1), bytes: bytes(3, 2 << 20))
            #expect(blocks(store) - before >= 2 << 20)
            #expect(store.region?.release(object(1)) == true)
            let kept = blocks(store) - before
            #expect(returns ? kept < 64 << 10 : kept >= 2 << 20, "returns \(returns): \(kept) bytes still resident")
        }
    }

    @Test func objectsAreWrittenOnceSealedAndReadInPlace() throws {
        let store = try freshStore(capacity: 1 << 20)
        defer { discard(store) }
        let region = try #require(store.region)
        try store.write(object(1), bytes: bytes(1, 200_000))
        let view = try store.map(object(1))
        #expect(view.region === region, "the object lives in the region, not a file")
        #expect(Array(view.bytes) == bytes(1, 200_000))
        #expect(!FileManager.default.fileExists(atPath: store.path(object(1))))
        // A second write of the same object is a no-op.
        if case .present = region.allocate(object(1), size: 200_000) {} else { Issue.record("not present") }
        // Not sealed yet: not readable.
        guard case .allocated = region.allocate(object(2), size: 10) else { throw RuntimeError("no room") }
        #expect(region.pin(object(2)) == nil)
    }

    @Test func aPinnedObjectsRoomIsNotReusedUntilItsReaderIsDone() throws {
        let store = try freshStore(capacity: 256 << 10)
        defer { discard(store) }
        let region = try #require(store.region)
        try store.write(object(1), bytes: bytes(1, 200_000))
        var view: SharedMapping? = try store.map(object(1))
        store.recycle(object(1))
        // The only room is held by a reader: the next object goes to a file of its own.
        try store.write(object(2), bytes: bytes(2, 200_000))
        #expect(FileManager.default.fileExists(atPath: store.path(object(2))))
        #expect(Array(view!.bytes) == bytes(1, 200_000), "the reader's view is intact")
        view = nil
        // Unpinned: a sweep frees the room and the next object takes it.
        try store.write(object(3), bytes: bytes(3, 200_000))
        let third = try store.map(object(3))
        #expect(third.region === region && Array(third.bytes) == bytes(3, 200_000))
        #expect(try contents(store, object(2)) == bytes(2, 200_000))
    }

    @Test func freedNeighboursMergeIntoOneExtent() throws {
        let store = try freshStore(capacity: 3 * 4096)
        defer { discard(store) }
        let region = try #require(store.region)
        for n in 1...3 { try store.write(object(n), bytes: bytes(UInt8(n), 4096)) }
        // Freed out of order: the middle last, so both merges happen.
        store.recycle(object(1))
        store.recycle(object(3))
        store.recycle(object(2))
        guard case .allocated(let offset) = region.allocate(object(4), size: 3 * 4096) else {
            Issue.record("three freed neighbours did not merge")
            return
        }
        #expect(offset == region.dataOffset)
    }

    @Test func whatADeadWriterLeftIsSwept() throws {
        let store = try freshStore(capacity: 8192)
        defer { discard(store) }
        let region = try #require(store.region)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        guard case .allocated = region.allocate(object(1), size: 8192, writer: child.processIdentifier) else {
            throw RuntimeError("no room")
        }
        // Full, until the allocation finds its writer gone.
        guard case .allocated = region.allocate(object(2), size: 8192) else {
            Issue.record("the dead writer's room was not reclaimed")
            return
        }
    }

    @Test func spillAndRestoreGoThroughTheRegion() throws {
        let store = try freshStore(capacity: 1 << 20)
        defer { discard(store) }
        let region = try #require(store.region)
        try store.write(object(1), bytes: bytes(9, 300_000))
        try store.spill(object(1))
        #expect(!region.contains(object(1)))
        #expect(try contents(store, object(1)) == bytes(9, 300_000), "read where it was spilled")
        try store.restore(object(1))
        #expect(region.contains(object(1)))
        #expect(try contents(store, object(1)) == bytes(9, 300_000))
    }

    @Test func aDamagedSpillFileIsRefusedWhenReadBack() throws {
        let store = try freshStore(capacity: 1 << 20)
        defer { discard(store) }
        try store.write(object(1), bytes: bytes(9, 300_000))
        try store.spill(object(1))
        // One flipped byte in the middle of the file.
        let fd = open(store.spillPath(object(1)), O_RDWR)
        var byte: UInt8 = 0
        pread(fd, &byte, 1, 150_000)
        byte ^= 0x40
        pwrite(fd, &byte, 1, 150_000)
        close(fd)
        #expect { try store.restore(object(1)) } throws: { "\($0)".contains("damaged") && "\($0)".contains("CRC-32C") }
        #expect { _ = try store.map(object(1)) } throws: { "\($0)".contains("damaged") }
        // A spill file without its checksum is not trusted either.
        try store.write(object(2), bytes: bytes(3, 1_000))
        try store.spill(object(2))
        unlink(store.spillChecksumPath(object(2)))
        #expect { try store.restore(object(2)) } throws: { "\($0)".contains("no checksum") }
        // An intact one still comes back.
        try store.write(object(3), bytes: bytes(5, 2_000))
        try store.spill(object(3))
        try store.restore(object(3))
        #expect(try contents(store, object(3)) == bytes(5, 2_000))
    }

    @Test func theFastChecksumEqualsTheReference() {
        for size in [0, 1, 7, 8, 9, 63, 64, 1000, 4099] {
            let data = bytes(UInt8(size % 250), size)
            data.withUnsafeBytes { raw in
                #expect(FastCRC32C.update(0, raw) == FastCRC32C.reference(raw), "size \(size)")
                // In two pieces, continued.
                let half = raw.count / 2
                let first = FastCRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[..<half]))
                #expect(FastCRC32C.update(first, UnsafeRawBufferPointer(rebasing: raw[half...])) == FastCRC32C.reference(raw))
            }
        }
    }

    @Test func anObjectOverTheCapacityGetsAFileOfItsOwn() throws {
        let store = try freshStore(capacity: 64 << 10)
        defer { discard(store) }
        try store.write(object(1), bytes: bytes(4, 100_000))
        #expect(FileManager.default.fileExists(atPath: store.path(object(1))))
        #expect(try contents(store, object(1)) == bytes(4, 100_000))
    }

    @Test func aDamagedRegionIsNotOpened() throws {
        let store = try freshStore(capacity: 1 << 20)
        defer { discard(store) }
        ObjectRegion.forget(store.regionPath)
        let fd = open(store.regionPath, O_WRONLY)
        var zero: UInt64 = 0
        _ = pwrite(fd, &zero, 8, 0)
        close(fd)
        #expect(ObjectRegion(path: store.regionPath) == nil)
        // Objects still work, in files of their own.
        try store.write(object(1), bytes: bytes(5, 150_000))
        #expect(try contents(store, object(1)) == bytes(5, 150_000))
    }
}

/// Writes `value` at `offset` of `store`'s region file, as a job's code could.
private func forge<T>(_ store: SharedObjects, _ value: T, at offset: Int) {
    let fd = open(store.regionPath, O_RDWR)
    var value = value
    _ = pwrite(fd, &value, MemoryLayout<T>.size, off_t(offset))
    close(fd)
}

/// The region's header is written by every process that maps it (workers too, whose code is a
/// job's): a span or count there outside the region's bounds, or its lock kept past the
/// process's patience, makes the process give the region up — never read or write outside the
/// mapping, never stop, never wait for ever. Its objects then go to files of their own.
@Suite struct DamagedRegionTests {
    /// A free list claiming more ranges than it has room for.
    @Test func aFreeListCountPastItsRoomGivesTheRegionUp() throws {
        let store = try freshStore(capacity: 1 << 20)
        defer { discard(store) }
        let region = try #require(store.region)
        let heard = Mutex<[String]>([])
        region.onGivenUp = { detail in heard.withLock { $0.append(detail) } }
        try store.write(object(1), bytes: bytes(1, 150_000))
        #expect(region.contains(object(1)))
        forge(store, UInt64.max / 2, at: 32)
        guard case .full = region.allocate(object(2), size: 4096) else {
            Issue.record("allocated in a damaged region")
            return
        }
        #expect(region.damage?.contains("free list claims") == true, "\(region.damage ?? "not given up")")
        #expect(region.pin(object(1)) == nil && !region.contains(object(1)) && !region.release(object(1)))
        // Objects still work, in files of their own.
        try store.write(object(3), bytes: bytes(5, 150_000))
        #expect(FileManager.default.fileExists(atPath: store.path(object(3))))
        #expect(try contents(store, object(3)) == bytes(5, 150_000))
        #expect(heard.withLock { $0 }.count == 1, "heard once")
    }

    /// A sealed object whose recorded offset lies past the region: pinning it (as a reader or a
    /// spill would) gives the region up.
    @Test func anObjectSpanOutsideTheDataAreaGivesTheRegionUp() throws {
        let store = try freshStore(capacity: 1 << 20)
        defer { discard(store) }
        let region = try #require(store.region)
        guard case .allocated(let offset) = region.allocate(object(1), size: 4096) else {
            Issue.record("no room")
            return
        }
        region.seal(object(1))
        // Find the slot by its offset field and move it far past the data area.
        let fd = open(store.regionPath, O_RDONLY)
        var header = [UInt8](repeating: 0, count: 1 << 16)
        _ = pread(fd, &header, header.count, 0)
        close(fd)
        let found = Array(stride(from: 4096, to: header.count - 8, by: 8)).last { at in
            header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int64.self) } == offset
        }
        forge(store, Int64(1) << 40, at: try #require(found))
        #expect(region.pin(object(1)) == nil)
        #expect(region.damage?.contains("object slot") == true, "\(region.damage ?? "not given up")")
    }

    /// A fresh store holding one object, its region waiting at most `patience` for its lock.
    private func storeWithOneObject(patience: Duration) throws -> (SharedObjects, ObjectRegion) {
        let store = try freshStore(capacity: 1 << 20)
        let region = try #require(store.region)
        region.lockPatience = patience
        try store.write(object(1), bytes: bytes(1, 150_000))
        return (store, region)
    }

    /// A process keeping the region's lock (a job's code may): a process with a patience waits
    /// that long, then gives the region up for good.
    @Test func aLockKeptPastThePatienceGivesTheRegionUp() throws {
        let (store, region) = try storeWithOneObject(patience: .milliseconds(50))
        defer { discard(store) }
        let keeper = open(store.regionPath + ".lock", O_RDONLY)
        defer { close(keeper) }
        #expect(flock(keeper, LOCK_EX | LOCK_NB) == 0)
        #expect(!region.release(object(1)))
        #expect(region.damage?.contains("its lock was held by another process for more than") == true,
                "\(region.damage ?? "not given up")")
        flock(keeper, LOCK_UN)
        #expect(region.pin(object(1)) == nil, "given up for good, even once the lock is free")
    }

    /// A process that keeps the lock while asleep (or stopped) is not waited for to the end of the
    /// patience: a writer under the lock only computes. One that runs would be.
    @Test func aLockKeptByASleepingProcessGivesTheRegionUpBeforeThePatience() throws {
        let (store, region) = try storeWithOneObject(patience: .seconds(60))
        defer { discard(store) }
        let keeper = Process()
        keeper.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        keeper.arguments = ["--no-fork", store.regionPath + ".lock", "sleep", "60"]  // One process: flock becomes sleep.
        try keeper.run()
        defer {
            kill(keeper.processIdentifier, SIGKILL)  // (SIGTERM may be ignored, as inherited from this process)
            keeper.waitUntilExit()
        }
        // Held once a try of this process's own fails.
        let probe = open(store.regionPath + ".lock", O_RDONLY)
        defer { close(probe) }
        var held = false
        for _ in 0..<5_000 where !held {
            if flock(probe, LOCK_EX | LOCK_NB) == 0 { flock(probe, LOCK_UN); usleep(1_000) } else { held = true }
        }
        #expect(held)
        #expect(!region.release(object(1)))
        #expect(region.damage?.contains("its lock is held by process \(keeper.processIdentifier), which sleeps holding it") == true,
                "\(region.damage ?? "not given up")")
        // The holder's state decides: a process that sleeps is idle, this one (running) is not.
        let file = open(store.regionPath + ".lock", O_RDONLY)
        defer { close(file) }
        #expect(LockHolder(of: file)?.pid == keeper.processIdentifier)
        #expect(LockHolder(of: file)?.idle == "which sleeps")
    }

    /// The raylet's loop (`impatient`) never waits for a region's lock, which a job's code may keep
    /// while it runs: it seals what it wrote without the lock, a new object goes to a file of its
    /// own (never a FIFO left in the pool), a read is left to the caller to make off the loop, and a release waits, in order, on the
    /// region's queue — done once the lock is let go, the region still in use. (Were the loop to
    /// wait, the first of these would wait out the patience and give the region up.)
    @Test func theRayletsLoopNeverWaitsForTheLock() throws {
        let (store, region) = try storeWithOneObject(patience: .seconds(10))
        defer { discard(store) }
        ObjectRegion.impatient = true  // This thread only.
        defer { ObjectRegion.impatient = false }
        // Allocated and written before the lock is taken, sealed while it is held.
        guard case .allocated(let offset) = region.allocate(object(2), size: 5_000) else {
            Issue.record("no room for a second object")
            return
        }
        let written = bytes(2, 5_000)
        #expect(written.withUnsafeBytes { region.write([$0], at: offset) })
        let keeper = open(store.regionPath + ".lock", O_RDONLY)
        defer { close(keeper) }
        #expect(flock(keeper, LOCK_EX | LOCK_NB) == 0)
        region.seal(object(2))
        #expect(region.release(object(1)), "released later: the region may hold it")
        guard case .full = region.allocate(object(3), size: 5_000) else {
            Issue.record("an allocation with the lock taken is as no room")
            return
        }
        // A FIFO a job's code left in the pool is not taken for the file (opening it would wait for ever).
        #expect(mkfifo(store.poolDirectory + "/planted", 0o660) == 0)
        try store.write(object(4), bytes: bytes(4, 5_000))
        #expect(FileManager.default.fileExists(atPath: store.path(object(4))), "written to a file of its own")
        var planted = stat()
        #expect(lstat(store.path(object(4)), &planted) == 0 && planted.st_mode & S_IFMT == S_IFREG)
        guard case .busy = region.pinIfFree(object(2)) else {
            Issue.record("a read with the lock taken is left to the caller")
            return
        }
        #expect(try store.mapIfFree(object(2)) == nil)
        #expect(try store.mapIfFree(object(4)) == nil, "the region may hold it: looked up off the loop")
        #expect(region.damage == nil)
        flock(keeper, LOCK_UN)
        // While the deferred release waits, the loop takes the lock for nothing else (order kept).
        region.waitForDeferred()
        #expect(region.damage == nil, "\(region.damage ?? "")")
        #expect(region.pinIfFree(object(1)).or(nil) == nil, "released once the lock was let go")
        let sealed = try #require(try store.mapIfFree(object(2)), "sealed while the lock was held")
        #expect(Array(sealed.bytes) == written)
        let file = try #require(try store.mapIfFree(object(4)))
        #expect(Array(file.bytes) == bytes(4, 5_000))
    }
}
