// Objects crossing jobs, off the raylet's loop. With a store per job (RayletHost+JobStores) a
// fetch of a process of job J answered with an object another store holds is preceded by a copy
// into J's store. A copy of a large object (a detached actor's 1 GiB result read by another job)
// takes as long as writing that many fresh pages (≈ 1 s per GiB here): made on the loop, it would
// hold up every process of every job on the node meanwhile. So the loop maps the source (pinning
// it) and hands the copy to a queue of its own (copies run side by side); the answer, and every
// later message from the machine to that process, waits in order until it is made. Small copies
// (up to 1 MiB) are made at once, as before. A source the loop cannot map without waiting (its
// store's lock taken by its job's code, or spilled) is mapped and copied off the loop too. Copies in memory are counted: past the node's store
// capacity of them, a copy is kept on disk instead, in the reader's job's spill directory (with its
// checksum), where the reader maps it as it maps a spilled object — so jobs reading each other's
// objects cannot fill the machine's memory beyond twice the store. What the machine does is
// unchanged: it is where one node's bytes live.

import Foundation
import RayCore

extension RayletHost {
    /// Copies up to this size are made on the loop (a memcpy of at most ≈ 0.3 ms).
    static let copyOnLoopBytesMax = 1 << 20

    /// Holds `message` to a local process when it must wait: behind the process's messages already
    /// held, or — a fetch's answer naming objects its job's store lacks — until they are copied
    /// there. Returns false when it may go now (any small copies it needed are made).
    func heldForCopies(_ message: Message, to: Address) -> Bool {
        guard storesPerJob, case .worker(let worker) = to, worker.node == nodeID else { return false }
        if perJob.held[worker] != nil {
            perJob.held[worker]!.messages.append(message)
            return true
        }
        let copies = startCopies(for: message, to: to, process: worker)
        guard copies > 0 else { return false }
        perJob.held[worker] = (copies, [message])
        return true
    }

    /// Copies each stored object a fetch's answer to local process `process` names that its job's
    /// store does not hold: small ones now, large ones on the copy thread. Returns how many copies
    /// the answer waits for.
    private func startCopies(for message: Message, to: Address, process: WorkerID) -> Int {
        guard case .objectsReady(let request, let values) = message,
              let asked = perJob.fetches.removeValue(forKey: JobStores.FetchKey(process: process, request: request)),
              let (reader, readerStore) = processStore(to) else { return 0 }
        var waits = 0
        for (object, value) in zip(asked, values) {
            // No holder recorded: the node's store holds it.
            guard case .data(let data) = value, data.bytes == nil, data.sizeBytes > 0,
                  !(perJob.holders[object] ?? [.node]).contains(reader) else { continue }
            let key = JobStores.CopyKey(object: object, reader: reader)
            if perJob.copying[key] != nil {
                // Being made for another fetch: this answer waits for it too.
                perJob.copying[key]!.append(process)
                waits += 1
                continue
            }
            guard let (_, source) = holdingStore(object) else { continue }
            // A copy no store recorded is the node's (so the reader's own copy never becomes the source).
            if perJob.holders[object] == nil { perJob.holders[object] = [.node] }
            // Mapped (pinned until the copy is made) here, unless that would wait — the source's
            // lock taken by its job's code, or the object spilled — then off the loop, after the
            // source store's deferred work.
            let mapped: SharedMapping?
            do {
                mapped = try source.mapIfFree(object)
            } catch {
                note("raylet", "cannot copy \(object) into \(reader)'s store for \(process): \(error)")
                continue
            }
            let size = mapped?.count ?? Int(data.sizeBytes)
            // Past the node's store capacity of copies in memory, it is kept on disk.
            let onDisk = perJob.copyBytesInMemory + size > options.objectStoreBytes
            perJob.copies[key] = (size, onDisk)
            if onDisk { perJob.copiesOnDisk += 1 } else { perJob.copyBytesInMemory += size }
            // Resolved here, on the loop: the copy writes through it (another thread must not look a
            // region up by path), and one made off the loop is kept only if it is still the reader's
            // store's region then (not a store given up or dropped, nor one made again meanwhile).
            let readerRegion = readerStore.region, sourceRegion = source.region
            let copy: @Sendable () throws(RuntimeError) -> Void = {
                let mapping = if let mapped { mapped } else { try source.map(object, in: sourceRegion) }
                try withExtendedLifetime(mapping) { () throws(RuntimeError) in
                    if onDisk {
                        try readerStore.writeSpilled(object, mapping.bytes)
                    } else {
                        // On the loop, a reader's lock taken sends it to a file of its own.
                        try readerStore.write(object, [mapping.bytes], in: readerRegion)
                    }
                }
            }
            if mapped != nil && !onDisk && size <= Self.copyOnLoopBytesMax {
                do {
                    try copy()
                    hold(object, in: reader)
                } catch {
                    forgetCopy(key)
                    note("raylet", "cannot copy \(object) into \(reader)'s store for \(process): \(error)")
                }
                continue
            }
            perJob.copying[key] = [process]
            waits += 1
            let loop = self.loop
            // Used on the loop's thread only (posted back there); the host lives as long as its loop.
            nonisolated(unsafe) let host = self
            let work: @Sendable () -> Void = {
                let failure: String?
                do {
                    try copy()
                    failure = nil
                } catch {
                    failure = "\(error)"
                }
                loop.post { host.copyMade(key, into: readerStore, region: readerRegion, failure: failure) }
            }
            if mapped == nil { source.later(work) } else { self.copies.async(execute: work) }
        }
        return waits
    }

    /// A copy made on the copy thread (or not: `failure` says why; the reader's get then fails
    /// naming its store): recorded if the object is still the machine's, then the messages that
    /// waited for it go on.
    private func copyMade(_ key: JobStores.CopyKey, into readerStore: SharedObjects, region: ObjectRegion?,
                          failure: String?) {
        let waiting = perJob.copying.removeValue(forKey: key) ?? []
        let sameStore = store(key.reader).map { $0.directory == readerStore.directory && $0.region === region } ?? false
        if let failure {
            forgetCopy(key)
            note("raylet", "cannot copy \(key.object) into \(key.reader)'s store: \(failure)")
        } else if perJob.holders[key.object] != nil, sameStore, region?.damage == nil {
            hold(key.object, in: key.reader)
        } else {
            // The object was released meanwhile, or the reader's store given up: its copy goes too.
            if forgetCopy(key)?.onDisk == true {
                disk.async { readerStore.deleteSpilled(key.object) }
            } else {
                readerStore.recycle(key.object)
            }
        }
        for process in waiting { copyDone(for: process) }
    }

    /// A copy gone (freed, failed, or its store given up): no longer counted.
    @discardableResult
    func forgetCopy(_ key: JobStores.CopyKey) -> (bytes: Int, onDisk: Bool)? {
        guard let copy = perJob.copies.removeValue(forKey: key) else { return nil }
        if !copy.onDisk { perJob.copyBytesInMemory -= copy.bytes }
        return copy
    }

    /// One copy `process`'s first held message waited for is made: once all are, its held messages
    /// go in order (a later one may wait for copies of its own, and the rest behind it).
    private func copyDone(for process: WorkerID) {
        guard var entry = perJob.held[process] else { return }
        entry.copies -= 1
        guard entry.copies <= 0 else {
            perJob.held[process] = entry
            return
        }
        perJob.held[process] = nil
        var messages = entry.messages[...]
        while let message = messages.popFirst() {
            if heldForCopies(message, to: .worker(process)) {
                perJob.held[process]!.messages.append(contentsOf: messages)
                return
            }
            sendFromMachine(message, to: .worker(process))
        }
    }
}
