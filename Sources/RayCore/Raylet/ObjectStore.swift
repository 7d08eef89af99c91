// The bookkeeping of a node's object store (Ray's plasma store plus the
// local object manager's pinning and spilling). Pure data: the raylet turns
// the actions it returns into effects and messages.
//
// Invariants: `usedBytes` is the sum of sizes of in-memory (or restoring)
// entries and never exceeds `capacityBytes`; a pinned entry (in use by a task
// or a pending transfer) is never evicted or spilled; a primary copy is
// never evicted, only spilled; an object too large for memory is created
// directly on disk (Ray's fallback allocation) rather than overfilling memory;
// `bytesByJob` is the sum of sizes of the entries charged to each job.

/// What the store did to make room, for the raylet to act on.
public enum StoreAction: Hashable, Sendable {
    /// A primary copy moved to disk.
    case spilled(ObjectID, sizeBytes: Int64)
    /// A secondary copy was dropped.
    case evicted(ObjectID, owner: WorkerID)
}

/// A node's object store.
public struct ObjectStore: Sendable {
    /// One stored copy.
    public struct Entry: Hashable, Sendable {
        public var data: ObjectData
        public var owner: WorkerID
        /// The primary copy, pinned for its owner until freed.
        public var primary: Bool
        /// In memory (false: spilled to local disk).
        public var inMemory: Bool
        /// Being read back from disk; memory is reserved.
        public var restoring: Bool
        /// A spill file exists on local disk (kept after a restore, as Ray keeps spilled URLs).
        public var spillFile: Bool
        /// Users holding it in memory (running tasks, gets, outgoing transfers).
        public var pins: Int
        /// The worker that sealed this primary copy, until its owner confirms it
        /// with `pinObject`; a copy whose worker dies unconfirmed is dropped.
        public var sealedBy: WorkerID?
        /// Unique per stored copy: a pin taken on a copy that was freed and
        /// stored again must not be released on the new copy.
        public var generation: UInt64
        var residentSequence: UInt64
        /// The job whose quota this copy counts against (a primary copy its process stored
        /// here); nil for copies pulled from elsewhere, which can be dropped and fetched again.
        public var job: JobID?
    }

    public let capacityBytes: Int64
    public private(set) var usedBytes: Int64 = 0
    public private(set) var spilledBytes: Int64 = 0
    public private(set) var entries: [ObjectID: Entry] = [:]
    /// Bytes of the copies charged to each job, in memory or spilled (RayConfig.storeBytesPerJob*).
    public private(set) var bytesByJob: [JobID: Int64] = [:]
    private var residentOrder: [(sequence: UInt64, id: ObjectID)] = []
    private var residentSequence: UInt64 = 0

    public init(capacityBytes: Int64) {
        precondition(capacityBytes >= 0)
        self.capacityBytes = capacityBytes
    }

    public var objectCount: Int { entries.count }
    public subscript(id: ObjectID) -> Entry? { entries[id] }

    /// Stores a copy. Makes room by evicting secondary copies, then spilling
    /// primaries; if it still does not fit, the copy goes straight to disk.
    /// Returns what was done to make room, and whether the copy is in memory.
    public mutating func insert(_ id: ObjectID, data: ObjectData, owner: WorkerID, primary: Bool,
                                pins: Int, sealedBy: WorkerID? = nil, job: JobID? = nil)
        -> (actions: [StoreAction], inMemory: Bool) {
        if let existing = entries[id] {
            // A second copy of the same object (a retry's result, or a pull
            // racing a local seal): keep one entry, primary wins.
            entries[id]?.primary = existing.primary || primary
            entries[id]?.pins += pins
            return ([], existing.inMemory)
        }
        var actions: [StoreAction] = []
        let fits = makeRoom(data.sizeBytes, actions: &actions)
        residentSequence += 1
        entries[id] = Entry(data: data, owner: owner, primary: primary, inMemory: fits, restoring: false,
                            spillFile: !fits, pins: pins, sealedBy: sealedBy, generation: residentSequence,
                            residentSequence: residentSequence, job: job)
        if let job { bytesByJob[job, default: 0] += data.sizeBytes }
        if fits {
            usedBytes += data.sizeBytes
            residentOrder.append((residentSequence, id))
        } else {
            spilledBytes += data.sizeBytes
            actions.append(.spilled(id, sizeBytes: data.sizeBytes))
        }
        assert(usedBytes <= capacityBytes)
        return (actions, fits)
    }

    /// Drops a copy wherever it is. Returns the entry it had.
    @discardableResult
    public mutating func remove(_ id: ObjectID) -> Entry? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        uncharge(entry)
        if entry.inMemory {
            usedBytes -= entry.data.sizeBytes
        } else {
            spilledBytes -= entry.data.sizeBytes
            if entry.restoring { usedBytes -= entry.data.sizeBytes }
        }
        compactIfNeeded()
        return entry
    }

    /// Pins the copy of `id`; returns its generation, which `unpin` needs.
    @discardableResult
    /// The owner confirmed this copy as its object's primary copy.
    public mutating func confirm(_ id: ObjectID) -> Bool {
        guard entries[id] != nil else { return false }
        entries[id]!.sealedBy = nil
        entries[id]!.primary = true
        return true
    }

    /// Copies sealed by `worker` that no owner confirmed.
    public func unconfirmed(sealedBy worker: WorkerID) -> [ObjectID] {
        entries.filter { $0.value.sealedBy == worker }.keys.sorted()
    }

    public mutating func pin(_ id: ObjectID) -> UInt64? {
        guard entries[id] != nil else { return nil }
        entries[id]!.pins += 1
        return entries[id]!.generation
    }

    /// Releases a pin taken on copy `generation` of `id` (a no-op if that copy is gone).
    public mutating func unpin(_ id: ObjectID, generation: UInt64) {
        guard let entry = entries[id], entry.generation == generation else { return }
        precondition(entry.pins > 0, "unpin of an unpinned object")
        entries[id]!.pins = entry.pins - 1
    }

    /// Reserves memory to read a spilled copy back. Returns what was done to
    /// make room (always — even when it did not make enough, the evictions and
    /// spills happened), and whether the restore may start.
    public mutating func beginRestore(_ id: ObjectID) -> (actions: [StoreAction], started: Bool) {
        guard let entry = entries[id], !entry.inMemory, !entry.restoring else { return ([], false) }
        var actions: [StoreAction] = []
        guard makeRoom(entry.data.sizeBytes, actions: &actions) else { return (actions, false) }
        entries[id]?.restoring = true
        usedBytes += entry.data.sizeBytes
        return (actions, true)
    }

    /// A restore finished: the copy is in memory again (its spill file stays until freed).
    public mutating func finishRestore(_ id: ObjectID) {
        guard let entry = entries[id], entry.restoring else { return }
        residentSequence += 1
        entries[id]?.restoring = false
        entries[id]?.inMemory = true
        entries[id]?.residentSequence = residentSequence
        spilledBytes -= entry.data.sizeBytes
        residentOrder.append((residentSequence, id))
    }

    /// Spills unpinned primary copies, oldest first, while memory use is above the threshold.
    public mutating func spillAboveThreshold(permille: Int64) -> [StoreAction] {
        var actions: [StoreAction] = []
        let limit = capacityBytes * permille / 1000
        guard usedBytes > limit else { return actions }
        for (sequence, id) in residentOrder where usedBytes > limit {
            guard let entry = entries[id], entry.residentSequence == sequence, entry.inMemory,
                  entry.primary, entry.pins == 0 else { continue }
            spill(id, entry, actions: &actions)
        }
        compactIfNeeded()
        return actions
    }

    private mutating func makeRoom(_ sizeBytes: Int64, actions: inout [StoreAction]) -> Bool {
        if usedBytes + sizeBytes <= capacityBytes { return true }
        if sizeBytes > capacityBytes { return false }
        // Evict or spill nothing unless that makes enough room: a copy dropped in
        // vain would only have to be fetched again.
        var reclaimableBytes: Int64 = 0
        for (sequence, id) in residentOrder {
            guard let entry = entries[id], entry.residentSequence == sequence, entry.inMemory, entry.pins == 0
            else { continue }
            reclaimableBytes += entry.data.sizeBytes
        }
        if usedBytes - reclaimableBytes + sizeBytes > capacityBytes { return false }
        // Secondary copies first: they can be fetched again.
        for (sequence, id) in residentOrder where usedBytes + sizeBytes > capacityBytes {
            guard let entry = entries[id], entry.residentSequence == sequence, entry.inMemory,
                  !entry.primary, entry.pins == 0 else { continue }
            entries[id] = nil
            uncharge(entry)
            usedBytes -= entry.data.sizeBytes
            actions.append(.evicted(id, owner: entry.owner))
        }
        for (sequence, id) in residentOrder where usedBytes + sizeBytes > capacityBytes {
            guard let entry = entries[id], entry.residentSequence == sequence, entry.inMemory,
                  entry.primary, entry.pins == 0 else { continue }
            spill(id, entry, actions: &actions)
        }
        compactIfNeeded()
        return usedBytes + sizeBytes <= capacityBytes
    }

    private mutating func uncharge(_ entry: Entry) {
        guard let job = entry.job, let bytes = bytesByJob[job] else { return }
        let left = bytes - entry.data.sizeBytes
        bytesByJob[job] = left > 0 ? left : nil
    }

    private mutating func spill(_ id: ObjectID, _ entry: Entry, actions: inout [StoreAction]) {
        entries[id]?.inMemory = false
        usedBytes -= entry.data.sizeBytes
        spilledBytes += entry.data.sizeBytes
        // A copy restored earlier still has its file: dropping the memory copy is enough.
        if !entry.spillFile {
            entries[id]?.spillFile = true
            actions.append(.spilled(id, sizeBytes: entry.data.sizeBytes))
        }
    }

    private mutating func compactIfNeeded() {
        guard residentOrder.count > 64 && residentOrder.count > 2 * entries.count else { return }
        residentOrder.removeAll { pair in
            guard let entry = entries[pair.id] else { return true }
            return entry.residentSequence != pair.sequence || !entry.inMemory
        }
    }
}
