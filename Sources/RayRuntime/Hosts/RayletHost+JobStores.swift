// A store per job. With a user ID per job (`--worker-uids`: WorkerUser), one job's code must
// not read another job's objects, so each job's processes keep their objects in a store of the
// job's own inside the node's: `<node store>/job-J` with its own region, and `<spill>/job-J`
// (the job's user's alone, 02700; what the raylet or a root driver writes there takes the
// workers' group, which reads it through that directory only). The node's own store (copies
// pulled from other nodes) becomes the raylet's alone. Objects still cross jobs as in Ray (a
// reference passed to another job's actor, an actor call's result read by the caller's job):
// when a fetch of a process of job J is answered with an object held in another store, the
// raylet copies it into J's store first, and frees every copy when the machine releases the
// object. The machines see none of this: it is where the bytes of one node's copy live.
// Without a user ID per job (one worker user, or none) every job uses the node's store.

import Foundation
import Glibc
import RayCore

/// Where a copy lives on a node: its own store or a job's.
enum StoreOwner: Hashable {
    case node
    case job(JobID)
}

/// The raylet's stores per job and which of them hold each object (RayletHost+JobStores).
struct JobStores {
    /// Each job's store and the user ID it is granted to (nil: taken back, the ID given to another job).
    var stores: [JobID: (store: SharedObjects, uid: UInt32?)] = [:]
    /// The stores holding a copy of each object, in the order they got it.
    var holders: [ObjectID: [StoreOwner]] = [:]
    /// The store each spilled object was spilled from (its spill file is in that store's directory).
    var spilledFrom: [ObjectID: StoreOwner] = [:]
    /// What each local process's pending fetches asked for (answered in request order).
    var fetches: [FetchKey: [ObjectID]] = [:]
    /// How many objects each job's store holds (in memory or spilled).
    var counts: [JobID: Int] = [:]
    /// The store each local process was given (its job's, or the node's if its job's could not be
    /// made when it started): what it writes is recorded there.
    var assigned: [WorkerID: StoreOwner] = [:]
    /// Stores given up since the raylet started (a region found damaged, or its lock held), and
    /// ended jobs' stores removed.
    var givenUp = 0, dropped = 0
    /// Jobs whose driver here runs as another user than the raylet, not root: their workers on
    /// this node run as that user (RayletHost+WorkerUser, `driverUser`).
    var driverUsers: [JobID: WorkerUser] = [:]
    /// Copies into a reader's job's store being made off the loop (RayletHost+CrossJobCopies), each
    /// with the local processes whose messages wait for it (once per wait).
    var copying: [CopyKey: [WorkerID]] = [:]
    /// Messages from the machine to a local process held, in order, until the copies the first
    /// of them waits for are made.
    var held: [WorkerID: (copies: Int, messages: [Message])] = [:]

    /// The copies made into readers' stores (RayletHost+CrossJobCopies): each one's size and
    /// whether it was kept on disk (in the reader's spill directory) because the copies in memory
    /// had reached the node's store capacity.
    var copies: [CopyKey: (bytes: Int, onDisk: Bool)] = [:]
    /// Bytes of the copies kept in memory (or being made there), at most the node's store capacity.
    var copyBytesInMemory = 0
    /// Copies kept on disk since the raylet started.
    var copiesOnDisk = 0

    struct CopyKey: Hashable {
        var object: ObjectID
        var reader: StoreOwner
    }

    struct FetchKey: Hashable {
        var process: WorkerID
        var request: UInt64
    }
}

extension RayletHost {
    /// SWIFTRAY_STORE_LOCK_PATIENCE_MS (RayletOptions.storeLockPatience): milliseconds, a positive
    /// whole number; anything else is refused by name.
    public static func storeLockPatienceSetting() throws(RuntimeError) -> Duration {
        guard let text = environment("SWIFTRAY_STORE_LOCK_PATIENCE_MS") else { return .seconds(1) }
        guard let millis = Int(text), millis > 0, millis <= 3_600_000 else {
            throw RuntimeError("SWIFTRAY_STORE_LOCK_PATIENCE_MS=\(text) is not a whole number of milliseconds from 1 to "
                + "3600000 (how long a raylet waits for a store's lock before it gives the store up; default 1000)")
        }
        return .milliseconds(millis)
    }

    /// True when each job keeps its objects in a store of its own.
    var storesPerJob: Bool { options.workerUser?.uidRange != nil && objects != nil }

    /// Job `job`'s store, made at its first process on this node (or granted again to the job's
    /// user ID, if the ID it had went to another job meanwhile).
    @discardableResult
    func jobStore(_ job: JobID) throws(RuntimeError) -> SharedObjects? {
        guard storesPerJob, let objects, let user = try workerUser(for: job) else { return nil }
        if let (store, uid) = perJob.stores[job], uid == user.uid { return store }
        let store = perJob.stores[job]?.store ?? objects.forJob(job)
        do {
            if perJob.stores[job] == nil {
                try store.create(capacity: options.objectStoreBytes)
                store.region?.returnsFreedPages = true  // The raylet frees a job's objects: pages go back.
                watchRegion(of: store, as: .job(job))
            }
            try user.grantJobStore(store)
        } catch {
            // Half made: gone, so that no process of the job takes it for its store.
            if perJob.stores[job] == nil { remove(store) }
            throw error
        }
        perJob.stores[job] = (store, user.uid)
        return store
    }

    /// Gives local process `worker` of `job` its store: its job's (made now if need be), else —
    /// if that cannot be made — the node's, noted. Returns the error for a worker (which does
    /// not start without its job's store).
    @discardableResult
    func assignStore(_ worker: WorkerID, job: JobID) -> RuntimeError? {
        guard storesPerJob else { return nil }
        if perJob.assigned.count >= 4096 {
            perJob.assigned = perJob.assigned.filter { locals[$0.key] != nil || processes[$0.key] != nil }
        }
        do {
            try jobStore(job)
            perJob.assigned[worker] = perJob.stores[job] != nil ? .job(job) : .node
            return nil
        } catch {
            perJob.assigned[worker] = .node
            return error
        }
    }

    /// Removes a store's files (first made the raylet's alone, so that no process of the job can
    /// change the tree while it goes).
    private func remove(_ store: SharedObjects) {
        // On the disk thread, after the spills and restores already asked of it.
        disk.async {
            for path in [store.directory, store.spillDirectory] {
                _ = lchown(path, geteuid(), getegid())
                _ = chmod(path, 0o700)
            }
            store.remove()
            try? FileManager.default.removeItem(atPath: store.spillDirectory)
        }
    }

    /// Has the raylet hear, on its loop, when its mapping of `owner`'s region is given up
    /// (ObjectRegion: its header found damaged, or its lock held past the patience).
    func watchRegion(of store: SharedObjects, as owner: StoreOwner) {
        let loop = self.loop
        // Used on the loop's thread only (posted there); the host lives as long as its loop.
        nonisolated(unsafe) let host = self
        guard let region = store.region else { return }
        let identity = ObjectIdentifier(region)
        region.onGivenUp = { detail in
            loop.post { host.storeGivenUp(owner, region: identity, because: detail) }
        }
    }

    /// A store whose region this raylet gave up. The region's writers are suspect (with a store per
    /// job, its own job's code wrote over it or kept its lock), so the node serves on without it:
    /// what the machine kept there only is lost (its owners hear so, and rebuild what lineage
    /// can), the raylet writes to files of its own there from now on, and — for a job's store —
    /// the job's processes on this node are stopped (its workers killed, its local driver refused
    /// naming why) and its next process here gets a new store.
    func storeGivenUp(_ owner: StoreOwner, region: ObjectIdentifier, because detail: String) {
        // Not if that store was replaced meanwhile.
        guard let store = store(owner), let current = store.region, ObjectIdentifier(current) == region else { return }
        perJob.givenUp += 1
        let what: String
        switch owner {
        case .node: what = "\(nodeID)'s object store"
        case .job(let job): what = "the object store of \(job) on \(nodeID)"
        }
        let cause = "\(what) was given up (\(store.regionPath): \(detail); a job's code may have written over "
            + "its region or kept its lock)"
        note("raylet", cause + "; what only it held is lost")
        // What only that store held.
        var lost: [ObjectID] = []
        if storesPerJob {
            for (object, holders) in perJob.holders where holders.contains(owner) {
                let rest = holders.filter { $0 != owner }
                if rest.isEmpty { lost.append(object) } else { perJob.holders[object] = rest }
            }
        }
        if owner == .node {
            // A copy no store recorded is the node's.
            for (object, entry) in raylet.store.entries where entry.inMemory && perJob.holders[object] == nil {
                lost.append(object)
            }
        }
        for object in lost { perJob.holders[object] = nil }
        // Copies made there (one still being made is discarded when it is: copyMade).
        for key in perJob.copies.keys where key.reader == owner && perJob.copying[key] == nil { forgetCopy(key) }
        if case .job(let job) = owner {
            perJob.counts[job] = nil
            for (worker, of) in workerJobs where of == job { processes[worker]?.kill() }
            for (process, local) in locals where local.isDriver && Self.job(ofDriver: process) == job {
                local.connection.refuse(cause)
            }
            perJob.stores[job] = nil
            removeAside(store, as: ".given-up-\(perJob.givenUp)")
        }
        for object in lost.sorted() { raylet.submit(.objectRestoreFailed(object, reason: cause)) }
    }

    /// Jobs whose user ID goes to another job: their stores become the raylet's alone until they
    /// are granted again (`jobStore`).
    func revokeJobStores(of jobs: some Sequence<JobID>) {
        for job in jobs {
            guard let (store, _) = perJob.stores[job] else { continue }
            for path in [store.directory, store.spillDirectory] {
                // The workers' group stays (files the raylet writes meanwhile take it); the directory
                // is root's until the job is given a user ID again.
                _ = lchown(path, geteuid(), options.workerUser?.gid ?? getegid())
                _ = chmod(path, 0o2700)
            }
            perJob.stores[job]?.uid = nil
        }
    }

    /// The store of `owner`.
    func store(_ owner: StoreOwner) -> SharedObjects? {
        switch owner {
        case .node: objects
        case .job(let job): perJob.stores[job]?.store
        }
    }

    /// The store a local process writes to and reads from (nil: not a local process, or one store).
    func processStore(_ address: Address) -> (owner: StoreOwner, store: SharedObjects)? {
        guard storesPerJob, case .worker(let worker) = address, worker.node == nodeID,
              let owner = perJob.assigned[worker], let store = store(owner) else { return nil }
        return (owner, store)
    }

    /// Records that `owner`'s store holds `object`.
    func hold(_ object: ObjectID, in owner: StoreOwner) {
        guard storesPerJob, perJob.holders[object]?.contains(owner) != true else { return }
        perJob.holders[object, default: []].append(owner)
        if case .job(let job) = owner { perJob.counts[job, default: 0] += 1 }
    }

    /// `owner`'s store no longer holds `object` (its copy was freed).
    private func released(_ object: ObjectID, from owner: StoreOwner) {
        if forgetCopy(JobStores.CopyKey(object: object, reader: owner))?.onDisk == true, let store = store(owner) {
            disk.async { store.deleteSpilled(object) }
        }
        store(owner)?.recycle(object)
        guard case .job(let job) = owner, let count = perJob.counts[job] else { return }
        perJob.counts[job] = count > 1 ? count - 1 : nil
        if count == 1 { dropJobStoreIfUnused(job) }
    }

    /// A local process is gone (its connection closed): its socket for direct links goes (one per
    /// process would pile up in a long-lived session), and its job's store may go now.
    func localProcessGone(_ process: WorkerID) {
        if let session = options.session { unlink(DirectLinks.socketPath(directory: session + "/sockets", worker: process)) }
        if case .job(let job)? = perJob.assigned[process] { dropJobStoreIfUnused(job) }
    }

    /// A job ended (the GCS said so): its store goes once nothing uses it — looked at once the
    /// machine has taken the news (its set of finished jobs says which jobs ended, so a long-lived
    /// node keeps no store, nor any entry of its own, per past job).
    func jobEnded(_ job: JobID) {
        guard storesPerJob, perJob.stores[job] != nil else { return }
        let loop = self.loop
        // Used on the loop's thread only (posted there); the host lives as long as its loop.
        nonisolated(unsafe) let host = self
        loop.post { host.dropJobStoreIfUnused(job) }
    }

    /// Removes an ended job's store (its region's pages, its spill directory) once it holds no
    /// object and no process of the job runs here (a detached actor outlives its job).
    func dropJobStoreIfUnused(_ job: JobID) {
        // Every local process of the job (each was given its store: a worker when it is launched, a
        // driver at its hello) is either a child still running or a connection still open; one
        // still here may have frames to read (its last stores): not yet.
        guard raylet.finishedJobs.contains(job), perJob.counts[job] == nil, let (store, _) = perJob.stores[job],
              !perJob.assigned.contains(where: { $0.value == .job(job) && (locals[$0.key] != nil || processes[$0.key] != nil) })
        else { return }
        perJob.stores[job] = nil
        perJob.driverUsers[job] = nil
        perJob.dropped += 1
        removeAside(store, as: ".ended-\(perJob.dropped)")
    }

    /// Removes a store: out of the way now, on the loop (the job's next process here makes its store
    /// afresh where it was, and a removal queued for the old one must not take the new one), then
    /// removed on the disk thread.
    private func removeAside(_ store: SharedObjects, as suffix: String) {
        ObjectRegion.forget(store.regionPath)
        guard rename(store.directory, store.directory + suffix) == 0 else { return remove(store) }
        _ = rename(store.spillDirectory, store.spillDirectory + suffix)
        remove(SharedObjects(directory: store.directory + suffix, spillDirectory: store.spillDirectory + suffix))
    }

    /// The store holding a copy of `object` (the node's when none is recorded).
    func holdingStore(_ object: ObjectID) -> (owner: StoreOwner, store: SharedObjects)? {
        for owner in perJob.holders[object] ?? [] {
            if let store = store(owner) { return (owner, store) }
        }
        return objects.map { (.node, $0) }
    }

    /// The machine released its copy: every store's is freed.
    func recycle(_ object: ObjectID) {
        guard storesPerJob else { return objects?.recycle(object) ?? () }
        let owners = perJob.holders.removeValue(forKey: object) ?? [.node]
        for owner in owners { released(object, from: owner) }
        if !owners.contains(.node) { objects?.recycle(object) }
    }

    /// Notes a local process's fetch (what its answer names is copied into its job's store first:
    /// `heldForCopies`, RayletHost+CrossJobCopies).
    func noteFetch(_ message: Message, from: Address) {
        guard storesPerJob, case .fetchObjects(let request, let objects, _) = message,
              case .worker(let worker) = from, worker.node == nodeID else { return }
        if perJob.fetches.count >= 4096 {
            // Fetches of processes gone before their answer: forgotten.
            perJob.fetches = perJob.fetches.filter { locals[$0.key.process] != nil }
        }
        perJob.fetches[JobStores.FetchKey(process: worker, request: request)] = objects
    }

    /// Where the machine's spill of `object` reads it: the first store holding it; the other
    /// stores' copies are freed (the machine counts its memory free).
    func spillSource(_ object: ObjectID) -> SharedObjects? {
        guard storesPerJob else { return objects }
        guard let (owner, source) = holdingStore(object) else { return nil }
        for other in perJob.holders[object] ?? [] where other != owner { released(object, from: other) }
        perJob.holders[object] = [owner]
        perJob.spilledFrom[object] = owner
        return source
    }

    /// Where a spilled object's file is (restored into, or deleted from).
    func spillStore(_ object: ObjectID, forgetting: Bool = false) -> SharedObjects? {
        guard storesPerJob else { return objects }
        let owner = (forgetting ? perJob.spilledFrom.removeValue(forKey: object) : perJob.spilledFrom[object]) ?? .node
        return store(owner) ?? objects
    }
}
