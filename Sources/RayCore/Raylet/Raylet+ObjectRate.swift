// Per-job admission of object requests at a raylet (issue 12: rate limits per operation at the
// raylets — besides lease requests, the fetches and stores a job's processes send). Each fetch
// (`fetchObjects`: a get, a wait, a task's arguments) and each store (`storeObjects`: a put, a
// task's stored return values) of a local process costs one credit of its job's token bucket at
// this node (`RayConfig.objectRequestsPerSecondPerJob`, one second's worth; RateBucket). Past it
// a request is delayed: held here in its job's FIFO, before anything is fetched, pinned or
// stored, and taken up as the bucket refills (timer `RayletTimer.objectRequests(job)`). Past
// `objectRequestsDelayedPerJob` delayed ones — the hard limit — it is refused at once: a fetch
// is answered with QuotaExceeded for each object (its get raises it), a store is refused as a
// store past the job's store quota is (`objectsRefused`). Another job's requests are counted
// apart, so a flooding job delays only itself. Delays and refusals are counted (`swiftray
// status`). A store an owner on another node places here (`storeRemoteObjects`) names its
// job, which its raylet checked; other requests of a process whose job this raylet does not
// know yet pass unmetered.
// While a job holds more than its soft quota of bytes in this store
// (`RayConfig.storeBytesPerJobSoft`), each of its stores costs ten credits: it is slowed down to
// a tenth of its rate (as a job past its soft quota of actors is at the GCS), warned of in the
// refusal's message, before its hard quota refuses its stores outright.
//
// Invariants: a delayed request is in `delayedObjectRequests` until it is taken up, released (a
// fetch its process released first), or its process or job is gone; it is taken up at most once,
// in its job's order; a job's FIFO has its timer armed while not empty. What a delayed store
// wrote (shared memory, in real processes) is released if the store never happens.

/// A fetch or a store a local process sent, as held at its job's rate.
struct ObjectRequest: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case fetch(objects: [ObjectID], owner: WorkerID)
        case store(objects: [ObjectID], values: [ObjectData], owner: WorkerID)
    }
    var worker: WorkerID
    var requestID: UInt64
    var kind: Kind
    /// The job a process on another node names for its store (`storeRemoteObjects`; its raylet
    /// checked it): charged when this raylet does not know the process's own.
    var named: JobID? = nil

    var key: ObjectRequestKey {
        let store = if case .store = kind { true } else { false }
        return ObjectRequestKey(worker: worker, requestID: requestID, store: store)
    }
}

/// Names a delayed object request (fetches and stores are numbered apart by some processes).
struct ObjectRequestKey: Hashable, Comparable, Sendable {
    var worker: WorkerID
    var requestID: UInt64
    var store: Bool

    static func < (a: Self, b: Self) -> Bool {
        (a.worker, a.requestID, a.store ? 1 : 0) < (b.worker, b.requestID, b.store ? 1 : 0)
    }
}

extension Raylet {
    /// The object-request bucket of `job`, refilled to `now` and taken out of `objectRates` (the
    /// caller puts it back): a copy left there would make each delayed request copy its FIFO.
    private mutating func takeObjectRate(of job: JobID, now: Int64) -> RateBucket<ObjectRequest> {
        .refilled(objectRates.removeValue(forKey: job), perSecond: config.objectRequestsPerSecondPerJob, now: now)
    }

    /// Admits `request` at its job's rate: served now, delayed (held, in order), or refused.
    mutating func admitObjectRequest(_ request: ObjectRequest, now: Int64, into effects: inout [RayletEffect]) {
        guard let job = job(of: request.worker) ?? request.named else {
            serve(request, into: &effects)
            return
        }
        // A late store naming an ended job is not kept (nothing would free it), unless a worker of
        // the job still runs here: a detached actor outlives its job, and the owners of what it
        // returns (its callers, of other jobs) free it. Its bucket, dropped at the job's end, is
        // not made again.
        if finishedJobs.contains(job) {
            if case .store(let objects, _, _) = request.kind, workers[request.worker] == nil {
                releaseWritten(objects, into: &effects)
            } else {
                serve(request, into: &effects)
            }
            return
        }
        let perSecond = config.objectRequestsPerSecondPerJob
        var rate = takeObjectRate(of: job, now: now)
        defer { objectRates[job] = rate }
        let softBytes = softStoreQuotaPassed(by: request, job: job)
        let cost = softBytes == nil ? 1 : GCS.softLimitCost
        if rate.take(cost: cost, perSecond: perSecond) {
            serve(request, into: &effects)
            return
        }
        guard rate.waitingCount < config.objectRequestsDelayedPerJob else {
            metrics.objectRequestsRefused += 1
            let what = if case .store = request.kind { "store" } else { "fetch" }
            let slowed = softBytes.map { ", slowed down to a tenth of it while it holds more than its soft quota of \($0) "
                + "bytes in the store (SWIFTRAY_STORE_BYTES_PER_JOB_SOFT)" } ?? ""
            let error = RayError(.quotaExceeded, "\(job)'s \(what) at \(nodeID) was refused: its processes sent "
                + "\(nodeID) fetches and stores of objects faster than its rate limit of \(perSecond) per second "
                + "(RayConfig.objectRequestsPerSecondPerJobMax; SWIFTRAY_OBJECT_REQUESTS_PER_SECOND)\(slowed), and "
                + "\(rate.waitingCount) of them already wait there, its hard limit (RayConfig.objectRequestsDelayedPerJobMax; "
                + "SWIFTRAY_OBJECT_REQUESTS_DELAYED) — these are settings for a cluster's raylets; get or put fewer "
                + "objects at once, or raise the limits")
            refuse(request, error, into: &effects)
            return
        }
        metrics.objectRequestsDelayed += 1
        delayedObjectRequests.insert(request.key)
        rate.wait(request, cost: cost)
        if rate.waitingCount == 1 {
            effects.append(.startTimer(.objectRequests(job), afterMicros: rate.microsUntilCredit(perSecond: perSecond)))
        }
    }

    /// The job's soft quota of bytes in this store when `request` is a store and the job holds more
    /// than it (such a store costs ten of the job's rate: the job is slowed down), else nil.
    private func softStoreQuotaPassed(by request: ObjectRequest, job: JobID) -> Int64? {
        guard case .store = request.kind else { return nil }
        let soft = config.storeBytesPerJobSoft(capacity: store.capacityBytes)
        return (store.bytesByJob[job] ?? 0) > soft ? soft : nil
    }

    /// `job`'s next object requests are due at its rate: the ones its credit covers are served, in order.
    mutating func objectRequestsDue(_ job: JobID, now: Int64, into effects: inout [RayletEffect]) {
        guard objectRates[job] != nil else { return }  // The job ended meanwhile.
        let perSecond = config.objectRequestsPerSecondPerJob
        var rate = takeObjectRate(of: job, now: now)
        // One released, or whose process ended, while it waited needs no credit.
        let admitted = rate.admit(perSecond: perSecond) { self.delayedObjectRequests.contains($0.key) }
        objectRates[job] = rate
        for request in admitted {
            delayedObjectRequests.remove(request.key)
            serve(request, into: &effects)
        }
        if rate.waitingCount > 0 {
            effects.append(.startTimer(.objectRequests(job), afterMicros: rate.microsUntilCredit(perSecond: perSecond)))
        }
    }

    /// Serves a fetch or a store (what arrived, or what its job's rate let through).
    private mutating func serve(_ request: ObjectRequest, into effects: inout [RayletEffect]) {
        switch request.kind {
        case .fetch(let objects, let owner):
            fetch(FetchKey(worker: request.worker, requestID: request.requestID), objects: objects, owner: owner,
                  into: &effects)
        case .store(let objects, let values, let owner):
            // A worker's return values wait for their owner's pin; an owner's own put is confirmed.
            let sealer = request.worker != owner ? request.worker : nil
            let job = self.job(of: request.worker) ?? request.named
            if let job, let refusal = storeRefusal(job, objects, values) {
                refuseStore(request.requestID, objects, refusal, to: .worker(request.worker), into: &effects)
                return
            }
            storeReturns(objects, values, owner: owner, sealedBy: sealer, job: job, into: &effects)
            effects.append(.send(to: .worker(request.worker), .objectsStored(requestID: request.requestID)))
        }
    }

    private mutating func refuse(_ request: ObjectRequest, _ error: RayError, into effects: inout [RayletEffect]) {
        switch request.kind {
        case .fetch(let objects, _):
            effects.append(.send(to: .worker(request.worker), .objectsReady(requestID: request.requestID,
                                                                            values: objects.map { _ in .error(error) })))
        case .store(let objects, _, _):
            refuseStore(request.requestID, objects, error, to: .worker(request.worker), into: &effects)
        }
    }

    /// A fetch released before its turn came: it is never served; true if it was delayed.
    mutating func releaseDelayedFetch(_ key: FetchKey) -> Bool {
        delayedObjectRequests.remove(ObjectRequestKey(worker: key.worker, requestID: key.requestID, store: false)) != nil
    }

    /// `worker` is gone: its delayed requests go, and what its delayed stores wrote is released.
    mutating func dropDelayedObjectRequests(of worker: WorkerID, into effects: inout [RayletEffect]) {
        guard delayedObjectRequests.contains(where: { $0.worker == worker }) else { return }
        for job in objectRates.keys.sorted() {
            for request in objectRates[job]?.waitingElements ?? [] where request.worker == worker {
                drop(request, into: &effects)
            }
        }
    }

    /// The job ended: its bucket and its delayed requests go.
    mutating func dropObjectRate(of job: JobID, into effects: inout [RayletEffect]) {
        for request in objectRates.removeValue(forKey: job)?.waitingElements ?? [] { drop(request, into: &effects) }
    }

    private mutating func drop(_ request: ObjectRequest, into effects: inout [RayletEffect]) {
        guard delayedObjectRequests.remove(request.key) != nil else { return }
        if case .store(let objects, _, _) = request.kind { releaseWritten(objects, into: &effects) }
    }

    /// Object requests delayed at their job's rate now.
    public var delayedObjectRequestCount: Int { delayedObjectRequests.count }
}
