// One mmap'd shared-memory region per node (Plasma's design): a tmpfs file
// `<store>/region` of the store's capacity (sparse: pages exist once written),
// which every process on the node maps once. It holds a header, an object
// table and the objects themselves, each at a page-aligned offset.
//
// Layout (little-endian): a 4 KiB header (magic, capacity, data offset, table
// sizes, free-extent count); the free extents (offset, length), sorted by
// offset and coalesced; the object table (open addressing, 40-byte slots:
// task, index, state, offset, size, writer pid); then the data area.
//
// Allocation needs no round trip to the raylet: a writer takes the region's
// lock (an flock on `<store>/region.lock`, released by the kernel if its
// holder dies, plus a mutex between the threads of one process), first-fit
// allocates, records the object as being written, writes its bytes with
// pwrite (one copy, no page faults in the writer) and seals it. A reader pins
// an object with a shared open-file-description lock on its byte range and
// maps nothing new: it reads the region mapping it already has. The raylet
// frees a released object only if it can take that range exclusively (no
// reader pins it); otherwise the slot waits as released and a later
// allocation sweeps it. Objects whose writer died mid-write are swept too.
// Freed pages stay resident, so the next object written there costs no page
// faults. When the region has no room (fragmentation, or an object larger than
// the store), SharedObjects falls back to a file of its own (as Plasma falls
// back to a disk-backed allocation). Every process that maps the region may
// write its header, a job's code among them: a count or span found outside the
// region's bounds, or (in the raylet) its lock kept past a patience, makes the
// process give the region up (it answers as if empty from then on) rather
// than stop or wait for ever; the raylet then gives up the store (RayletHost+JobStores).
// The raylet's loop never waits for a region's lock at all (`impatient`): what it finds the lock
// taken for is done otherwise — a release or an abandoned write later, in order, on the region's
// queue of deferred work (which waits as any other thread, up to the patience); a new object goes
// to a file of its own, as when the region is full; a read is made off the loop (the caller's);
// and the loop seals what it wrote without the lock (only a slot's writer changes it while it is
// being written, and slots never move).

import CLibUV
import Foundation
import Glibc
import RayCore
import Synchronization

final class ObjectRegion: @unchecked Sendable {
    static let magic: UInt64 = 0x3147_4552_5952_5753  // "SWRYREG1"
    static let pageBytes: Int64 = 4096
    static let slotBytes = 40

    enum Slot: UInt32 {
        case empty = 0, writing = 1, sealed = 2, released = 3, tombstone = 4
    }

    enum Allocation {
        case allocated(offset: Int64)
        /// The object is already in the region (a second copy of the same value).
        case present
        /// No room: the caller falls back to a file of its own.
        case full
    }

    let path: String
    /// Reads, writes and the readers' range locks.
    let fd: Int32
    /// A second open file description: the raylet's probes for readers conflict with the
    /// range locks taken through `fd` (locks of one description never conflict with each other).
    let probeFD: Int32
    let lockFD: Int32
    let base: UnsafeMutableRawPointer
    let mappedBytes: Int
    let capacity: Int64
    let dataOffset: Int64
    let slotCount: Int
    let extentCapacity: Int
    /// Between the threads of this process, held while one of them takes the region's lock.
    private let threads = Mutex<Void>(())
    /// Why this process stopped using the region (nil while it uses it): its header was found
    /// damaged, or its lock held past `lockPatience`. From then on every operation answers as if
    /// the region held nothing and had no room (new objects go to files of their own). A mutex of
    /// its own, never held while waiting: the raylet's loop reads it.
    private let givenUp = Mutex<String?>(nil)
    /// Room this process frees gives its pages back to the system (a job's store: a region per
    /// job would otherwise keep every job's high-water mark of pages; the node's one keeps them,
    /// so the next object written there costs no page faults). Set once, before the region is used.
    nonisolated(unsafe) var returnsFreedPages = false
    /// Readers in this process per pinned offset (one range lock per offset).
    private let pins = Mutex<[Int64: Int]>([:])
    /// Operations the raylet's loop found the lock taken for (`impatient`), done here in order,
    /// waiting for the lock as any other thread does; how many are queued (while any are, the loop
    /// takes none itself, so a later operation never passes an earlier one).
    private let deferred = DispatchQueue(label: "swiftray.region.deferred")
    private let deferredCount = Atomic<Int>(0)
    /// Objects whose release waits there: until it is done, no thread of this process takes the
    /// region's old copy of one for a new one (an allocation answers no room, so the new copy goes
    /// to a file of its own), or the release would free the new one.
    private let releasing = Mutex<Set<ObjectID>>([])
    /// Called once, on the thread that found the damage, when this process gives the region up.
    /// Set once, before the region is used.
    nonisolated(unsafe) var onGivenUp: (@Sendable (String) -> Void)?
    /// How long this process waits for the region's lock before it gives the region up (nil: as
    /// long as it takes). A writer holds it for a table update (microseconds); a process holding
    /// it longer is a job's code keeping it, and the raylet must not wait on that.
    nonisolated(unsafe) var lockPatience: Duration?
    /// `lockPatience` of the regions this process opens from now on (the raylet's: one second).
    nonisolated(unsafe) static var defaultLockPatience: Duration?

    private var extentsOffset: Int { 4096 }
    private var slotsOffset: Int { 4096 + extentCapacity * 16 }

    /// Creates the region file of `capacity` data bytes (the raylet, before any worker starts).
    static func create(path: String, capacity: Int64) throws(RuntimeError) {
        let expected = max(1024, Int(min(capacity / (100 << 10) * 2, 1 << 20)))
        var slots = 1
        while slots < expected { slots <<= 1 }
        let extents = slots + 16
        let header = roundUp(Int64(4096 + extents * 16 + slots * slotBytes), pageBytes)
        let dataBytes = roundUp(max(capacity, pageBytes), pageBytes)
        let temporary = path + ".creating"
        unlink(temporary)
        let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RuntimeError("cannot create the object region \(path): \(errnoText())") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(header + dataBytes)) == 0 else {
            unlink(temporary)
            throw RuntimeError("cannot size the object region \(path) to \(header + dataBytes) bytes: \(errnoText())")
        }
        var fields: [UInt64] = [0, UInt64(dataBytes), UInt64(header), UInt64(slots), 1, UInt64(extents)]
        let extent: [Int64] = [header, dataBytes]
        let wrote = fields.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == 48
            && extent.withUnsafeBytes { pwrite(fd, $0.baseAddress, 16, 4096) } == 16
        fields[0] = magic
        // The magic last: a reader never sees a half-written header.
        guard wrote, fields.withUnsafeBytes({ pwrite(fd, $0.baseAddress, 8, 0) }) == 8,
              rename(temporary, path) == 0 else {
            unlink(temporary)
            throw RuntimeError("cannot write the object region \(path): \(errnoText())")
        }
        unlink(path + ".lock")
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if lock >= 0 { close(lock) }
    }

    /// Opens an existing region; nil if there is none (or it is not one).
    init?(path: String) {
        self.path = path
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        probeFD = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        lockFD = open(path + ".lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        var info = stat()
        guard probeFD >= 0, lockFD >= 0, fstat(fd, &info) == 0, info.st_size > 4096,
              let mapped = mmap(nil, Int(info.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
              mapped != MAP_FAILED else {
            Self.closeAll([fd, probeFD, lockFD])
            return nil
        }
        base = mapped
        mappedBytes = Int(info.st_size)
        lockPatience = Self.defaultLockPatience
        capacity = Int64(bitPattern: mapped.load(fromByteOffset: 8, as: UInt64.self))
        dataOffset = Int64(bitPattern: mapped.load(fromByteOffset: 16, as: UInt64.self))
        slotCount = Int(mapped.load(fromByteOffset: 24, as: UInt64.self))
        extentCapacity = Int(mapped.load(fromByteOffset: 40, as: UInt64.self))
        guard mapped.load(fromByteOffset: 0, as: UInt64.self) == Self.magic, slotCount > 0,
              slotCount & (slotCount - 1) == 0, dataOffset + capacity == Int64(mappedBytes) else {
            munmap(mapped, mappedBytes)
            Self.closeAll([fd, probeFD, lockFD])
            return nil
        }
    }

    deinit {
        munmap(base, mappedBytes)
        Self.closeAll([fd, probeFD, lockFD])
    }

    private static func closeAll(_ fds: [Int32]) {
        for fd in fds where fd >= 0 { close(fd) }
    }

    // MARK: - Operations

    /// Reserves room for `object`, recorded as being written by this process.
    /// On the raylet's loop, a lock taken is as no room: the caller writes a file of its own.
    func allocate(_ object: ObjectID, size: Int64, writer: Int32 = getpid()) -> Allocation {
        attempt(else: .full) { () throws(RegionDamage) in
            // (Only while deferred work waits: the set is empty otherwise, and the check stays off
            // every other allocation's path.)
            if deferredCount.load(ordering: .acquiring) > 0 && releasing.withLock({ $0.contains(object) }) { return .full }
            if let slot = find(object) {
                switch state(slot) {
                case .writing, .sealed: return .present
                // Released and written again: a reader still pinning the old copy sends this one to a file.
                default: if try !freeIfUnpinned(slot) { return .full }
                }
            }
            let length = Self.roundUp(size, Self.pageBytes)
            var offset = try takeFirstFit(length)
            if offset == nil {
                try sweep()
                offset = try takeFirstFit(length)
            }
            guard let offset else { return .full }
            guard insertSlot(object, offset: offset, size: size, writer: writer) else {
                try freeExtent(offset, length)
                return .full
            }
            return .allocated(offset: offset)
        }.or(.full)
    }

    /// Marks a written object readable. The raylet's loop does so without the lock: a slot being
    /// written is changed only by its writer (sealed or abandoned; another process's sweep frees it
    /// only once its writer is dead), and slots never move, so the loop's own slot is found and
    /// set with one store whoever holds the lock meanwhile.
    func seal(_ object: ObjectID) {
        guard Self.impatient else {
            return locked(else: ()) {
                if let slot = find(object), state(slot) == .writing { setState(slot, .sealed) }
            }
        }
        // Not if this process gave the region up.
        guard damage == nil, let slot = find(object), state(slot) == .writing,
              slotBase(slot).load(fromByteOffset: 32, as: Int32.self) == getpid() else { return }
        setState(slot, .sealed)
    }

    /// Gives back the room of an object whose write failed.
    func abandon(_ object: ObjectID) {
        let done = attempt(else: ()) { () throws(RegionDamage) in
            guard let slot = find(object), state(slot) == .writing else { return }
            try freeExtent(offset(slot), Self.roundUp(size(slot), Self.pageBytes))
            removeSlot(slot)
        }
        if case .busy = done { later { self.abandon(object) } }
    }

    /// Finds a sealed object and pins it against reuse; `unpin` with the same offset and size.
    func pin(_ object: ObjectID) -> (offset: Int64, size: Int64)? {
        locked(else: nil) { () throws(RegionDamage) in try pinLocked(object) }
    }

    /// `pin`, or `.busy` on the raylet's loop when the lock is taken (the caller reads it off the loop).
    func pinIfFree(_ object: ObjectID) -> Attempt<(offset: Int64, size: Int64)?> {
        attempt(else: nil) { () throws(RegionDamage) in try pinLocked(object) }
    }

    private func pinLocked(_ object: ObjectID) throws(RegionDamage) -> (offset: Int64, size: Int64)? {
        guard let slot = find(object), state(slot) == .sealed else { return nil }
        let (offset, size) = try span(slot)
        let acquired = pins.withLock { pins -> Bool in
            if pins[offset, default: 0] == 0 {
                guard swiftray_range_lock(fd, Int16(F_RDLCK), offset, Self.roundUp(size, Self.pageBytes)) == 0
                else { return false }
            }
            pins[offset, default: 0] += 1
            return true
        }
        return acquired ? (offset, size) : nil
    }

    func unpin(offset: Int64, size: Int64) {
        pins.withLock { pins in
            guard let count = pins[offset] else { return }
            if count > 1 {
                pins[offset] = count - 1
            } else {
                pins[offset] = nil
                _ = swiftray_range_lock(fd, Int16(F_UNLCK), offset, Self.roundUp(size, Self.pageBytes))
            }
        }
    }

    /// The raylet released `object`: its room is freed now if no reader pins it, else by the
    /// sweep of an allocation that finds no room. False if the region does not hold it. On the
    /// raylet's loop with the lock taken, it is released later (true: the region may hold it).
    func release(_ object: ObjectID) -> Bool {
        let done = attempt(else: false) { () throws(RegionDamage) in
            guard let slot = find(object) else { return false }
            if state(slot) == .sealed { setState(slot, .released) }
            if state(slot) == .released { _ = try freeIfUnpinned(slot) }
            return true
        }
        guard case .done(let held) = done else {
            releasing.withLock { _ = $0.insert(object) }
            later {
                _ = self.release(object)
                self.releasing.withLock { _ = $0.remove(object) }
            }
            return true
        }
        return held
    }

    func contains(_ object: ObjectID) -> Bool {
        locked(else: false) {
            guard let slot = find(object) else { return false }
            return state(slot) == .sealed
        }
    }

    /// Writes `parts` at `offset` (pwrite: the kernel copies into the shared pages).
    func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) -> Bool {
        writeAll(fd, parts, at: offset)
    }

    // MARK: - Under the lock

    /// Why this process gave the region up; nil while it uses it.
    var damage: String? { givenUp.withLock { $0 } }

    /// Gives the region up for `detail`; true if it was in use until now (`onGivenUp` is then told).
    private func giveUp(_ detail: String) -> Bool {
        givenUp.withLock { reason in
            guard reason == nil else { return false }
            reason = detail
            return true
        }
    }

    /// Runs `body` under the region's lock; `fallback` once the region is given up (now, if
    /// `body` finds the header damaged or the lock is held past `lockPatience`: `onGivenUp`
    /// hears it, once).
    private func locked<T>(else fallback: T, _ body: () throws(RegionDamage) -> T) -> T {
        var newlyGivenUp: String?
        let value: T? = threads.withLock { _ in
            guard damage == nil else { return nil }
            do throws(RegionDamage) {
                if let why = flockPatiently(lockFD, LOCK_EX, within: lockPatience) { throw RegionDamage(detail: why) }
                defer { flock(lockFD, LOCK_UN) }
                return try body()
            } catch {
                if giveUp(error.detail) { newlyGivenUp = error.detail }
                return nil
            }
        }
        if let newlyGivenUp { onGivenUp?(newlyGivenUp) }
        return value ?? fallback
    }

    /// What an operation on the raylet's loop found: done, or the lock taken (by another process,
    /// or by a thread of this one waiting for it), or work deferred before it still queued.
    enum Attempt<T> {
        case done(T)
        case busy

        func or(_ value: T) -> T {
            if case .done(let done) = self { return done }
            return value
        }
    }

    /// How long the raylet's loop tries the lock before it finds it taken: a writer holds it for a
    /// table update (microseconds), so a try that finds it held usually succeeds a moment later.
    static let attemptMicros: Int64 = 50

    /// `locked`, except on the raylet's loop (`impatient`): there it never waits for the lock
    /// beyond `attemptMicros`.
    private func attempt<T>(else fallback: T, _ body: () throws(RegionDamage) -> T) -> Attempt<T> {
        guard Self.impatient else { return .done(locked(else: fallback, body)) }
        var newlyGivenUp: String?
        // nil: the mutex taken; .done(nil): the fallback (the region given up).
        var outcome: Attempt<T?>?
        var start = timespec(), now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while deferredCount.load(ordering: .acquiring) == 0 {
            outcome = threads.withLockIfAvailable { _ -> Attempt<T?> in
                guard damage == nil else { return .done(nil) }
                guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else { return .busy }
                defer { flock(lockFD, LOCK_UN) }
                do throws(RegionDamage) {
                    return .done(try body())
                } catch {
                    if giveUp(error.detail) { newlyGivenUp = error.detail }
                    return .done(nil)
                }
            }
            if case .done? = outcome { break }
            clock_gettime(CLOCK_MONOTONIC, &now)
            guard (now.tv_sec - start.tv_sec) * 1_000_000 + (now.tv_nsec - start.tv_nsec) / 1000 < Self.attemptMicros
            else { break }
            sched_yield()
        }
        if let newlyGivenUp { onGivenUp?(newlyGivenUp) }
        guard case .done(let value)? = outcome else { return .busy }
        return .done(value ?? fallback)
    }

    /// Runs `work` on the region's queue of deferred work, after what is queued there.
    func later(_ work: @escaping @Sendable () -> Void) {
        deferredCount.add(1, ordering: .relaxed)
        deferred.async {
            work()
            self.deferredCount.subtract(1, ordering: .releasing)
        }
    }

    /// Returns once the work deferred so far is done.
    func waitForDeferred() { deferred.sync {} }

    private static let impatientKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True on a thread whose region operations never wait for a region's lock: the raylet's loop
    /// (a job's code keeping its store's lock must not hold up every other job's messages).
    static var impatient: Bool {
        get { pthread_getspecific(impatientKey) != nil }
        set { pthread_setspecific(impatientKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }

    /// Frees released objects no reader pins and objects whose writer died.
    private func sweep() throws(RegionDamage) {
        for slot in 0..<slotCount {
            switch state(slot) {
            case .released:
                _ = try freeIfUnpinned(slot)
            case .writing:
                let writer = slotBase(slot).load(fromByteOffset: 32, as: Int32.self)
                guard kill(writer, 0) != 0 && errno == ESRCH else { continue }
                try freeExtent(offset(slot), Self.roundUp(size(slot), Self.pageBytes))
                removeSlot(slot)
            default:
                continue
            }
        }
    }

    private func freeIfUnpinned(_ slot: Int) throws(RegionDamage) -> Bool {
        let (offset, size) = try span(slot)
        let length = Self.roundUp(size, Self.pageBytes)
        guard swiftray_range_lock(probeFD, Int16(F_WRLCK), offset, length) == 0 else { return false }
        _ = swiftray_range_lock(probeFD, Int16(F_UNLCK), offset, length)
        try freeExtent(offset, length)
        removeSlot(slot)
        return true
    }

    // What the header says is written by every process that maps the region (workers too, which
    // may run as another user, and whose code is a job's): each count and span read from it is
    // checked against the region's own bounds (read once, at open, and checked then). One outside
    // them is damage: this process gives the region up (`locked`) — a damaged or forged header
    // must neither make it read or write outside the region nor stop it (the raylet serves every
    // job of its node).

    struct RegionDamage: Error {
        let detail: String
    }

    private func extentCount() throws(RegionDamage) -> Int {
        let count = base.load(fromByteOffset: 32, as: UInt64.self)
        guard count <= UInt64(extentCapacity) else {
            throw RegionDamage(detail: "its free list claims \(count) ranges, more than the \(extentCapacity) it has room for")
        }
        return Int(count)
    }

    private func setExtentCount(_ count: Int) { base.storeBytes(of: UInt64(count), toByteOffset: 32, as: UInt64.self) }

    private func extent(_ index: Int) throws(RegionDamage) -> (offset: Int64, length: Int64) {
        let at = extentsOffset + index * 16
        return try checked(base.load(fromByteOffset: at, as: Int64.self), base.load(fromByteOffset: at + 8, as: Int64.self),
                           "free range \(index)")
    }

    /// `offset` and `length` when they lie in the data area; else the region is damaged.
    private func checked(_ offset: Int64, _ length: Int64, _ what: @autoclosure () -> String) throws(RegionDamage) -> (Int64, Int64) {
        guard length >= 0, length <= capacity, offset >= dataOffset, offset - dataOffset <= capacity - length else {
            throw RegionDamage(detail: "\(what()) spans \(length) bytes at \(offset), outside its data area of "
                + "\(capacity) bytes at \(dataOffset)")
        }
        return (offset, length)
    }

    private func setExtent(_ index: Int, _ offset: Int64, _ length: Int64) {
        let at = extentsOffset + index * 16
        base.storeBytes(of: offset, toByteOffset: at, as: Int64.self)
        base.storeBytes(of: length, toByteOffset: at + 8, as: Int64.self)
    }

    private func removeExtent(_ index: Int, of count: Int) {
        let at = base + extentsOffset + index * 16
        (at).copyMemory(from: at + 16, byteCount: (count - index - 1) * 16)
        setExtentCount(count - 1)
    }

    private func takeFirstFit(_ length: Int64) throws(RegionDamage) -> Int64? {
        let count = try extentCount()
        for index in 0..<count {
            let (offset, available) = try extent(index)
            guard available >= length else { continue }
            if available == length { removeExtent(index, of: count) } else { setExtent(index, offset + length, available - length) }
            return offset
        }
        return nil
    }

    /// Returns a range to the free list, merging it with its neighbours.
    private func freeExtent(_ offset: Int64, _ length: Int64) throws(RegionDamage) {
        let count = try extentCount()
        // Under the region's lock, for room nobody pins or writes: its pages may go.
        if returnsFreedPages { _ = swiftray_punch_hole(fd, offset, length) }
        var index = 0
        while index < count, try extent(index).offset < offset { index += 1 }
        let before = index > 0 ? try extent(index - 1) : nil
        let after = index < count ? try extent(index) : nil
        let mergesBefore = before.map { $0.offset + $0.length == offset } ?? false
        let mergesAfter = after.map { offset + length == $0.offset } ?? false
        switch (before, after) {
        case (let before?, let after?) where mergesBefore && mergesAfter:
            setExtent(index - 1, before.offset, before.length + length + after.length)
            removeExtent(index, of: count)
        case (let before?, _) where mergesBefore:
            setExtent(index - 1, before.offset, before.length + length)
        case (_, let after?) where mergesAfter:
            setExtent(index, offset, length + after.length)
        default:
            guard count < extentCapacity else { return }  // Cannot happen: extents ≤ objects + 1.
            let at = base + extentsOffset + index * 16
            (at + 16).copyMemory(from: at, byteCount: (count - index) * 16)
            setExtentCount(count + 1)
            setExtent(index, offset, length)
        }
    }

    private func slotBase(_ slot: Int) -> UnsafeMutableRawPointer { base + slotsOffset + slot * Self.slotBytes }
    private func state(_ slot: Int) -> Slot { Slot(rawValue: slotBase(slot).load(fromByteOffset: 12, as: UInt32.self)) ?? .empty }
    private func setState(_ slot: Int, _ state: Slot) { slotBase(slot).storeBytes(of: state.rawValue, toByteOffset: 12, as: UInt32.self) }
    private func offset(_ slot: Int) throws(RegionDamage) -> Int64 { try span(slot).offset }
    private func size(_ slot: Int) throws(RegionDamage) -> Int64 { try span(slot).size }
    /// Where a slot's object lies, checked: its room (its size rounded up to pages) in the data area.
    private func span(_ slot: Int) throws(RegionDamage) -> (offset: Int64, size: Int64) {
        let offset = slotBase(slot).load(fromByteOffset: 16, as: Int64.self)
        let size = slotBase(slot).load(fromByteOffset: 24, as: Int64.self)
        _ = try checked(offset, size >= 0 && size <= capacity ? Self.roundUp(size, Self.pageBytes) : -1, "object slot \(slot)")
        return (offset, size)
    }

    private func home(_ object: ObjectID) -> Int {
        Int(truncatingIfNeeded: mix(object.task.value ^ UInt64(object.index) &* 0x9E37_79B9_7F4A_7C15)) & (slotCount - 1)
    }

    private func find(_ object: ObjectID) -> Int? {
        var slot = home(object)
        for _ in 0..<slotCount {
            let at = slotBase(slot)
            switch state(slot) {
            case .empty: return nil
            case .tombstone: break
            default:
                if at.load(fromByteOffset: 0, as: UInt64.self) == object.task.value
                    && at.load(fromByteOffset: 8, as: UInt32.self) == object.index { return slot }
            }
            slot = (slot + 1) & (slotCount - 1)
        }
        return nil
    }

    private func insertSlot(_ object: ObjectID, offset: Int64, size: Int64, writer: Int32) -> Bool {
        var slot = home(object)
        for _ in 0..<slotCount {
            if state(slot) == .empty || state(slot) == .tombstone {
                let at = slotBase(slot)
                at.storeBytes(of: object.task.value, toByteOffset: 0, as: UInt64.self)
                at.storeBytes(of: object.index, toByteOffset: 8, as: UInt32.self)
                at.storeBytes(of: offset, toByteOffset: 16, as: Int64.self)
                at.storeBytes(of: size, toByteOffset: 24, as: Int64.self)
                at.storeBytes(of: writer, toByteOffset: 32, as: Int32.self)
                setState(slot, .writing)
                return true
            }
            slot = (slot + 1) & (slotCount - 1)
        }
        return false
    }

    /// Empties a slot; a tombstone only where a probe sequence continues past it.
    private func removeSlot(_ slot: Int) {
        let mask = slotCount - 1
        guard state((slot + 1) & mask) == .empty else {
            setState(slot, .tombstone)
            return
        }
        setState(slot, .empty)
        var previous = (slot - 1) & mask
        while state(previous) == .tombstone {
            setState(previous, .empty)
            previous = (previous - 1) & mask
        }
    }

    static func roundUp(_ value: Int64, _ unit: Int64) -> Int64 { (value + unit - 1) / unit * unit }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// `flock(fd, operation)`, waiting at most `patience` for another holder to let go (nil: as long
/// as it takes). Returns nil once taken, else why not: a job's code holding a lock on its store must
/// not hold up the raylet. A holder that is idle holding it — every thread of its process asleep or
/// stopped, seen so three times 10 ms apart (`LockHolder`) — is not waited for to the end of the patience: the
/// code under a store's lock only computes, so no writer sleeps in it; a holder that runs (or waits
/// for the CPU) is waited for.
func flockPatiently(_ fd: Int32, _ operation: Int32, within patience: Duration?) -> String? {
    guard let patience else {
        while flock(fd, operation) != 0 {
            guard errno == EINTR else { return "flock failed: \(errnoText())" }
        }
        return nil
    }
    let start = ContinuousClock.now
    let deadline = start + patience
    var nextLook = start + .milliseconds(10)
    var idle: (pid: Int32, looks: Int)?
    while true {
        if flock(fd, operation | LOCK_NB) == 0 { return nil }
        let now = ContinuousClock.now
        guard errno == EWOULDBLOCK || errno == EINTR, now < deadline else {
            return "its lock was held by another process for more than \(patience)"
        }
        if now >= nextLook {
            nextLook = now + .milliseconds(10)
            // Seen idle three times, 10 ms apart or more (an idle process's timers wake a thread now
            // and then; a writer under the lock is never seen so: it runs, or waits for the CPU).
            if let holder = LockHolder(of: fd), let how = holder.idle {
                idle = idle?.pid == holder.pid ? (holder.pid, idle!.looks + 1) : (holder.pid, 1)
                if idle!.looks >= 3 { return "its lock is held by process \(holder.pid), \(how) holding it" }
            }
        }
        usleep(200)
    }
}

/// The process holding the `flock` on the file `fd` is open on, as /proc/locks says, and whether it is
/// idle: every one of its threads asleep (S) or stopped (T, t) — never running, waiting for the CPU
/// or in the kernel uninterruptibly (R, D), as a writer under the lock is.
struct LockHolder {
    let pid: Int32
    /// "which sleeps", "which is stopped", or nil: some thread of it runs (or waits for the CPU).
    let idle: String?

    init?(of fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else {
            return nil
        }
        // "1: FLOCK  ADVISORY  WRITE 3068 00:1b:1974 0 EOF" (waiters: "1: -> FLOCK ...").
        let device = UInt64(info.st_dev)
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        let file = String(format: "%02x:%02x:%lu", major, minor, UInt64(info.st_ino))
        var holder: Int32?
        for line in locks.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 6, fields[1] == "FLOCK", fields[5] == file, let pid = Int32(fields[4]) {
                holder = pid
                break
            }
        }
        // Not this process (its own threads take the region's lock one at a time, behind its mutex).
        guard let holder, holder != getpid(),
              let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(holder)/task"), !threads.isEmpty
        else { return nil }
        pid = holder
        var states: Set<Character> = []
        for thread in threads {
            guard let stat = try? String(contentsOfFile: "/proc/\(holder)/task/\(thread)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let rest = stat[stat.index(after: close)...].drop { $0 == " " }
            guard let state = rest.first else { return nil }
            states.insert(state)
        }
        if states.isSubset(of: ["S"]) {
            idle = "which sleeps"
        } else if states.isSubset(of: ["S", "T", "t"]) {
            idle = "which is stopped"
        } else {
            idle = nil
        }
    }
}

/// Writes every byte of `parts` to `fd` from `offset` on (pwrite, retried on EINTR); false on an error (errno says which).
func writeAll(_ fd: Int32, _ parts: [UnsafeRawBufferPointer], at offset: Int64) -> Bool {
    var position = offset
    for part in parts where part.count > 0 {
        var done = 0
        while done < part.count {
            let written = pwrite(fd, part.baseAddress! + done, part.count - done, off_t(position) + off_t(done))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            done += written
        }
        position += Int64(part.count)
    }
    return true
}

/// Creates (or truncates) the file at `path` with `mode` and writes `bytes`; false on an error.
/// (Foundation's `createFile` writes atomically through a `/tmp/TemporaryDirectory.*` it never
/// removes, one per call on Linux.)
public func writeNewFile(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o644) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
    guard fd >= 0 else { return false }
    let written = bytes.withUnsafeBytes { writeAll(fd, [$0], at: 0) }
    return close(fd) == 0 && written
}

/// The regions this process has opened, by path (each mapped once per process).
let openRegions = Mutex<[String: ObjectRegion]>([:])

extension ObjectRegion {
    /// The region at `path`, opened on first use; nil while it does not exist.
    static func shared(_ path: String, returnsFreedPages: Bool = false) -> ObjectRegion? {
        openRegions.withLock { regions in
            if let region = regions[path] { return region }
            guard let region = ObjectRegion(path: path) else { return nil }
            region.returnsFreedPages = returnsFreedPages
            regions[path] = region
            return region
        }
    }

    /// Forgets a region (its node's store was removed).
    static func forget(_ path: String) {
        _ = openRegions.withLock { $0.removeValue(forKey: path) }
    }
}
