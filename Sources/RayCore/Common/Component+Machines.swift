// The four machines as `Component`s: their timers, digests and the
// invariants checked after every step where checks are on (always in the
// simulator; in real processes in debug builds or with
// SWIFTRAY_CHECK_INVARIANTS=1). The O(state) scans (every reference count of
// an owner, leased + available = total on a raylet) run every few thousand
// steps there (`fullInvariantViolation`).

extension GCS: Component {
    public static func timerStarted(by effect: GCSEffect) -> (timer: GCSTimer, afterMicros: Int64)? {
        guard case .startTimer(let timer, let after) = effect else { return nil }
        return (timer, after)
    }

    public static func input(firing timer: GCSTimer) -> GCSInput { .timerFired(timer) }

    public var stateDigest: UInt64 { digest }

    public func invariantViolation() -> String? {
        for (node, marks) in deathMarks where marks > 1 {
            return "the GCS marked \(node) dead \(marks) times"
        }
        return nil
    }
}

extension Raylet: Component {
    public static func timerStarted(by effect: RayletEffect) -> (timer: RayletTimer, afterMicros: Int64)? {
        guard case .startTimer(let timer, let after) = effect else { return nil }
        return (timer, after)
    }

    public static func input(firing timer: RayletTimer) -> RayletInput { .timerFired(timer) }

    public var stateDigest: UInt64 { digest }

    public func invariantViolation() -> String? {
        guard running else { return nil }
        // Below zero only in CPUs, and only while leases hold CPUs (a worker that resumed from a
        // get took its CPUs back and oversubscribes the node until leases return).
        let belowZero = available.entries.filter { $0.milli < 0 }
        let oversubscribed = belowZero.allSatisfy { $0.name == "CPU" }
            && leases.values.contains { $0.held["CPU"] > 0 }
        if (!belowZero.isEmpty && !oversubscribed) || !available.fits(in: info.resources) {
            return "\(info.name) (\(nodeID)) resources out of bounds: available \(available), total \(info.resources)"
        }
        if store.usedBytes < 0 || store.usedBytes > store.capacityBytes {
            return "\(info.name) (\(nodeID)) object store holds \(store.usedBytes) B in memory, capacity "
                + "\(store.capacityBytes) B"
        }
        return nil
    }

    public func fullInvariantViolation() -> String? {
        guard running else { return nil }
        let leased = leases.values.reduce(ResourceSet()) { $0 + $1.held } + actorHeld
        // Bundles prepared or committed here hold their resources out of what is free (a committed
        // one's group resources are in the total, and free or leased like any others).
        let reserved = heldBundles.values.reduce(ResourceSet()) { $0 + $1.resources }
        if leased + available + reserved != info.resources {
            return "\(info.name) (\(nodeID)): leased \(leased) + available \(available) + bundles \(reserved) "
                + "≠ total \(info.resources)"
        }
        // Delayed lease requests are held (a duplicate is ignored), and none waits for room its
        // shape's queue has (Raylet+RequestRate.swift).
        if let lease = delayedLeases.first(where: { !heldLeaseIDs.contains($0) }) {
            return "\(info.name) (\(nodeID)) delays \(lease) without holding it"
        }
        if let key = roomWaitWithRoom {
            return "\(info.name) (\(nodeID)) keeps \(key.job)'s requests of \(key.shape) waiting for room its queue has"
        }
        // A delayed fetch or store waits in its job's FIFO (Raylet+ObjectRate.swift).
        if !delayedObjectRequests.isEmpty,
           delayedObjectRequests.count > objectRates.values.reduce(0, { $0 + $1.waitingCount }) {
            return "\(info.name) (\(nodeID)) delays \(delayedObjectRequests.count) object requests but holds fewer"
        }
        return nil
    }
}

extension Owner: Component {
    public typealias Timer = Never

    public static func timerStarted(by effect: OwnerEffect) -> (timer: Never, afterMicros: Int64)? { nil }

    public static func input(firing timer: Never) -> OwnerInput {}

    public var stateDigest: UInt64 { digest }

    public func invariantViolation() -> String? {
        if lineageBytes < 0 { return "the owner's lineage holds \(lineageBytes) B" }
        if runningOn.count > tasks.count {
            return "the owner runs \(runningOn.count) tasks on workers but holds \(tasks.count)"
        }
        for (shape, count) in inFlight where count > config.leaseRequestCap || count < 0 {
            return "the owner has \(count) lease requests in flight for the shape \(shape.resources) \(shape.strategy) "
                + "(at most \(config.leaseRequestCap))"
        }
        if leaseRequestsOut.count > config.leaseRequestsPerOwner {
            return "the owner has \(leaseRequestsOut.count) lease requests out (at most \(config.leaseRequestsPerOwner))"
        }
        if !leaseRequestsOut.isDisjoint(with: rebuildRequestsOut) {
            return "the owner counts a rebuild's lease request among its bounded requests out"
        }
        if !heldLeaseRequests.isEmpty && leaseRequestsOut.count < config.leaseRequestsPerOwner {
            return "the owner holds \(heldLeaseRequests.count) lease requests with only \(leaseRequestsOut.count) out"
        }
        return nil
    }

    public func fullInvariantViolation() -> String? {
        for object in objects.keys.sorted() {
            let entry = objects[object]!
            if entry.localRefs < 0 || entry.submittedRefs < 0 || entry.lineageRefs < 0 {
                return "negative reference count for \(object) (local \(entry.localRefs), submitted "
                    + "\(entry.submittedRefs), lineage \(entry.lineageRefs))"
            }
        }
        return nil
    }
}

extension Executor: Component {
    public static func timerStarted(by effect: ExecutorEffect) -> (timer: ExecutorTimer, afterMicros: Int64)? {
        guard case .startTimer(let timer, let after) = effect else { return nil }
        return (timer, after)
    }

    public static func input(firing timer: ExecutorTimer) -> ExecutorInput { .timerFired(timer) }

    public var stateDigest: UInt64 {
        var digest = Digest()
        digest.add(UInt64(workerID.node.value))
        digest.add(UInt64(workerID.index))
        digest.add(requestCounter)
        digest.add(UInt64(tasksRun))
        digest.add(UInt64(queued.count))
        if let current {
            digest.add(current.spec.taskID.description)
            digest.add(UInt64(current.attempt))
            digest.add(current.fetchRequest ?? 0)
            digest.add(current.storeRequest ?? 0)
            digest.add(UInt64(current.returns.count))
        }
        return digest.finalized
    }

    public func invariantViolation() -> String? {
        if current == nil && !queued.isEmpty {
            return "\(workerID) is idle with \(queued.count) task(s) queued"
        }
        return nil
    }
}
