// A digest of the owner's whole state, for replay checks: an owner rebuilt
// from its input log must reach the same digest. Tables are folded in ID
// order, so the digest does not depend on hash-seeded iteration order.

extension Owner {
    /// The digest of every table and counter.
    public var digest: UInt64 {
        var digest = Digest()
        digest.add(ids.tasks)
        digest.add(UInt64(ids.puts))
        digest.add(leaseCounter)
        digest.add(requestCounter)
        for id in tasks.keys.sorted() {
            guard let entry = tasks[id] else { continue }
            digest.add(id.value)
            digest.add("\(entry.state)")
            digest.add(UInt64(bitPattern: Int64(entry.attempts)))
            digest.add(UInt64(bitPattern: Int64(entry.retriesLeft)))
        }
        for id in objects.keys.sorted() {
            guard let entry = objects[id] else { continue }
            digest.add(id.task.value)
            digest.add(UInt64(id.index))
            digest.add("\(entry.state)")
            digest.add(UInt64(bitPattern: Int64(entry.localRefs)))
            digest.add(UInt64(bitPattern: Int64(entry.submittedRefs)))
            digest.add(UInt64(bitPattern: Int64(entry.lineageRefs)))
            digest.add(entry.freed ? 1 : 0)
            for node in entry.locations { digest.add(UInt64(node.value)) }
            for borrower in entry.borrowers.sorted() { digest.add(borrower.packed) }
        }
        for lease in leaseTasks.keys.sorted() { digest.add(lease.index) }
        for lease in parkedLeases.sorted(by: { $0.index < $1.index }) { digest.add(lease.index) }
        for lease in inFlightShape.keys.sorted(by: { $0.index < $1.index }) { digest.add(lease.index) }
        for lease in leaseRequestsOut.sorted(by: { $0.index < $1.index }) { digest.add(lease.index) }
        for lease in rebuildRequestsOut.sorted(by: { $0.index < $1.index }) { digest.add(lease.index) }
        for lease in heldLeaseOrder.elements where heldLeaseRequests[lease] != nil { digest.add(lease.index) }
        for node in deadNodes.sorted() { digest.add(UInt64(node.value)) }
        digest.add(UInt64(metrics.retries))
        digest.add(UInt64(metrics.reconstructions))
        digest.add(UInt64(bitPattern: lineageBytes))
        return digest.finalized
    }
}
