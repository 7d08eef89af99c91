// A digest of the raylet's whole state, for replay checks: a raylet rebuilt
// from its input log must reach the same digest. Folded in ID order.

extension Raylet {
    /// The digest of resources, queues, leases, workers and the object store.
    public var digest: UInt64 {
        var digest = Digest()
        digest.add(running ? 1 : 0)
        for entry in available.entries {
            digest.add(entry.name)
            digest.add(UInt64(bitPattern: entry.milli))
        }
        for shape in classOrder {
            for queued in classQueues[shape]?.elements ?? [] { digest.add(queued.request.leaseID.index) }
        }
        for lease in leases.keys.sorted() {
            digest.add(lease.index)
            digest.add(leases[lease]?.worker.packed ?? 0)
        }
        for worker in workers.keys.sorted() {
            digest.add(worker.packed)
            digest.add("\(workers[worker].map { "\($0)" } ?? "")")
        }
        for worker in workerJobs.keys.sorted() { digest.add(UInt64(workerJobs[worker]?.value ?? 0)) }
        for worker in driverJobs.keys.sorted() {
            digest.add(worker.packed)
            digest.add(UInt64(driverJobs[worker]?.value ?? 0))
        }
        for job in finishedJobs.sorted() { digest.add(UInt64(job.value)) }
        for job in programs.keys.sorted() {
            digest.add(UInt64(job.value))
            digest.add(programs[job] ?? "")
        }
        for job in programLookups.keys.sorted() { digest.add(UInt64(programLookups[job]?.count ?? 0)) }
        for lease in waitingForArguments.keys.sorted() { digest.add(lease.index) }
        for key in leaseRoomWaitOrder {
            digest.add(UInt64(key.job.value))
            for request in leaseRoomWaits[key]?.elements ?? [] where delayedLeases.contains(request.leaseID) {
                digest.add(request.leaseID.index)
            }
        }
        for job in leaseRates.keys.sorted() {
            digest.add(UInt64(job.value))
            for request in leaseRates[job]?.waitingElements ?? [] where delayedLeases.contains(request.leaseID) {
                digest.add(request.leaseID.index)
            }
        }
        for job in objectRates.keys.sorted() {
            for request in objectRates[job]?.waitingElements ?? [] where delayedObjectRequests.contains(request.key) {
                digest.add(request.worker.packed)
                digest.add(request.requestID)
            }
        }
        digest.add(UInt64(bitPattern: store.usedBytes))
        digest.add(UInt64(bitPattern: store.spilledBytes))
        for object in store.entries.keys.sorted() {
            guard let entry = store[object] else { continue }
            digest.add(object.task.value)
            digest.add(UInt64(object.index))
            digest.add(entry.primary ? 1 : 0)
            digest.add(entry.inMemory ? 1 : 0)
            digest.add(UInt64(bitPattern: Int64(entry.pins)))
        }
        for key in fetches.keys.sorted() {
            digest.add(key.worker.packed)
            digest.add(key.requestID)
            digest.add(UInt64(bitPattern: Int64(fetches[key]?.waiting ?? 0)))
        }
        for object in pulls.keys.sorted() { digest.add(object.task.value ^ UInt64(object.index)) }
        for node in deadNodes.sorted() { digest.add(UInt64(node.value)) }
        digest.add(UInt64(metrics.leasesGranted))
        digest.add(UInt64(metrics.spillbacks))
        return digest.finalized
    }
}
