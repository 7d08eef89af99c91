// The raylet's side of the shared-memory store (SharedObjects): object bytes
// never reach the machine or its log. Stored values that arrive with bytes
// are written to shared memory and stripped; pushes to other nodes send the
// bytes in chunks ahead of the (byteless) pushObject message; the machine's
// release, spill and restore effects act on the files.

import Glibc
import RayCore

extension RayletHost {
    /// Chunk size of object transfers between nodes (Ray's object manager uses 5 MiB).
    static let transferChunkBytes = 4 << 20

    /// `values` of a store, with the bytes they carry written into shared memory (nil: malformed).
    private func written(_ ids: [ObjectID], _ values: [ObjectData], _ objects: SharedObjects,
                         from: Address) -> [ObjectData]? {
        guard ids.count == values.count else {
            note("raylet", "dropping a malformed store from \(from): \(ids.count) objects but \(values.count) values")
            return nil
        }
        var stripped = values
        for index in values.indices where values[index].bytes != nil {
            do {
                try objects.write(ids[index], bytes: values[index].bytes!)
                stripped[index].bytes = nil
            } catch {
                note("raylet", "\(error)")
            }
        }
        return stripped
    }

    /// Writes the bytes a message carries into shared memory and returns the message without them;
    /// nil if the message must be dropped (an incomplete transfer).
    func storeIncoming(_ message: Message, from: Address) -> Message? {
        guard let objects else { return message }
        switch message {
        case .storeObjects(let requestID, let ids, let values, let owner):
            // A local process's values: in its job's store when each job has one.
            let target = processStore(from)
            guard let stripped = written(ids, values, target?.store ?? objects, from: from) else { return nil }
            if let target { for (id, value) in zip(ids, values) where value.sizeBytes > 0 { hold(id, in: target.owner) } }
            return .storeObjects(requestID: requestID, objects: ids, values: stripped, owner: owner)
        case .storeRemoteObjects(let requestID, let ids, let values, let owner, let job):
            // A put placed here by another node's process: in its job's store when each job has one
            // (the job its node's raylet checked; a local process's own store, whatever it names).
            let target: (owner: StoreOwner, store: SharedObjects)?
            if case .worker(let worker) = from, worker.node == nodeID {
                target = processStore(from)
            } else {
                target = storesPerJob ? (try? jobStore(job)).flatMap { $0 }.map { (.job(job), $0) } : nil
            }
            guard let stripped = written(ids, values, target?.store ?? objects, from: from) else { return nil }
            if let target { for (id, value) in zip(ids, values) where value.sizeBytes > 0 { hold(id, in: target.owner) } }
            return .storeRemoteObjects(requestID: requestID, objects: ids, values: stripped, owner: owner, job: job)
        case .fetchObjects:
            noteFetch(message, from: from)
            return message
        case .jobFinished(let job):
            if from == .gcs { jobEnded(job) }
            return message
        case .pushObject(let object, var data, let owner):
            if let bytes = data.bytes {
                do {
                    try objects.write(object, bytes: bytes)
                } catch {
                    note("raylet", "\(error)")
                    return nil
                }
                data.bytes = nil
                hold(object, in: .node)
                return .pushObject(object, data, owner: owner)
            }
            if data.sizeBytes == 0 {
                try? objects.write(object, bytes: [])
                return message
            }
            guard let incoming = incomingObjects.removeValue(forKey: object),
                  incoming.finish(into: objects, object: object) else {
                note("raylet", "dropping an incomplete transfer of \(object) from \(from); the pull will retry")
                return nil
            }
            hold(object, in: .node)
            return message
        default:
            return message
        }
    }

    /// One chunk of an object pushed by another raylet (its CRC-32C checked unless it came
    /// over TLS, whose records' authentication tags check every byte).
    func receiveChunk(_ frame: Frame, overTLS: Bool) throws(WireError) {
        guard let objects else { return }
        let header = try Wire.chunkHeader(frame, verify: !overTLS)
        let (object, total, offset) = (header.object, header.total, header.offset)
        guard header.intact else {
            note("raylet", "a chunk of \(object) (offset \(offset)) arrived damaged (its CRC-32C does not match); "
                + "dropping the transfer, the pull will retry")
            corruptedChunks += 1
            incomingObjects.removeValue(forKey: object)?.discard()
            return
        }
        frame.bytes.withUnsafeBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[header.bodyStart...])
            if offset == 0 {
                incomingObjects.removeValue(forKey: object)?.discard()
                guard let incoming = IncomingObject(store: objects, object: object, total: total) else {
                    note("raylet", "cannot receive \(object) into the shared-memory store")
                    return
                }
                incomingObjects[object] = incoming
            }
            guard let incoming = incomingObjects[object] else { return }
            if !incoming.write(body, at: offset) {
                note("raylet", "cannot write \(object) (offset \(offset), \(body.count) bytes of \(incoming.total)) "
                    + "into the shared-memory store; dropping the transfer")
                incomingObjects.removeValue(forKey: object)?.discard()
            }
        }
    }

    /// Sends a copy to another raylet: the bytes in chunks, then the message. Over a live
    /// connection the chunks are streamed as the socket drains (the object is never copied
    /// whole into a send buffer); otherwise they wait, queued, for the connection. An object the
    /// loop cannot map without waiting (its store's lock taken by a job's code, or spilled) is
    /// mapped off the loop and sent from there.
    func sendObject(_ object: ObjectID, _ data: ObjectData, owner: WorkerID, to node: NodeID) {
        guard let (_, objects) = holdingStore(object), data.bytes == nil, data.sizeBytes > 0 else {
            return send(object, data, owner: owner, to: node, from: nil)
        }
        let mapped: SharedMapping?
        do {
            mapped = try objects.mapIfFree(object)
        } catch {
            return send(object, data, owner: owner, to: node, from: nil, missing: "\(error)")
        }
        if let mapped { return send(object, data, owner: owner, to: node, from: mapped) }
        let loop = self.loop
        // Used on the loop's thread only (posted back there); the host lives as long as its loop.
        nonisolated(unsafe) let host = self
        let region = objects.region
        objects.later {
            let mapping = Result { () throws(RuntimeError) in try objects.map(object, in: region) }
            loop.post {
                switch mapping {
                case .success(let mapping): host.send(object, data, owner: owner, to: node, from: mapping)
                case .failure(let error): host.send(object, data, owner: owner, to: node, from: nil, missing: "\(error)")
                }
            }
        }
    }

    /// `sendObject` once its bytes are mapped (nil: none to send; `missing` says why the store
    /// had none to send).
    private func send(_ object: ObjectID, _ data: ObjectData, owner: WorkerID, to node: NodeID, from mapping: SharedMapping?,
                      missing: String? = nil) {
        if let missing {
            note("raylet", "\(object) vanished from the shared-memory store (\(missing)); telling \(node) it is missing")
            sendFromMachine(.objectMissing(object), to: .raylet(node))
            return
        }
        var frame: [UInt8] = []
        if let mapping {
            if mapping.count > Self.transferChunkBytes, let connection = peers[node], !connection.isClosed {
                streamChunks(of: object, mapping, offset: 0, over: connection) { [unowned self] in
                    sendFromMachine(.pushObject(object, data, owner: owner), to: .raylet(node))
                }
                return
            }
            Wire.appendChunks(of: object, mapping.bytes, chunkBytes: Self.transferChunkBytes, into: &frame)
        }
        do {
            try Wire.appendMessage(.pushObject(object, data, owner: owner), from: .raylet(nodeID), to: .raylet(node),
                                   into: &frame)
        } catch {
            note("raylet", "cannot encode a push of \(object): \(error)")
            return
        }
        route(frame, from: .raylet(nodeID), to: .raylet(node))
    }

    /// Sends chunks from `offset` while the connection's backlog is small, then waits for it
    /// to drain; `finished` runs after the last chunk (not if the connection closes: the
    /// receiver drops the partial copy and its pull retries).
    private func streamChunks(of object: ObjectID, _ mapping: SharedMapping, offset: Int, over connection: Connection,
                              finished: @escaping () -> Void) {
        var offset = offset
        while offset < mapping.count && connection.backlogBytes < Connection.drainedBytes {
            guard !connection.isClosed else { return }
            let count = min(Self.transferChunkBytes, mapping.count - offset)
            var frame: [UInt8] = []
            frame.reserveCapacity(count + 64)
            Wire.appendChunk(of: object, mapping.bytes, offset: offset, count: count, checksum: !connection.isEncrypted,
                             into: &frame)
            connection.send(frame)
            offset += count
        }
        guard !connection.isClosed else { return }
        if offset >= mapping.count {
            finished()
            return
        }
        connection.whenDrained { [unowned self] in  // A raylet's host lives as long as its loop.
            streamChunks(of: object, mapping, offset: offset, over: connection, finished: finished)
        }
    }

    func sendFromMachine(_ message: Message, to: Address) {
        var frame: [UInt8] = []
        do {
            try Wire.appendMessage(message, from: .raylet(nodeID), to: to, into: &frame)
        } catch {
            note("raylet", "cannot encode a message to \(to): \(error)")
            return
        }
        route(frame, from: .raylet(nodeID), to: to)
    }
}

extension RayletHost {
    /// Disk work runs on the node's disk thread, in the order the machine asked for it (a
    /// restore or a delete after the spill of the same object), never on the loop: a job
    /// filling the store with large objects makes the node spill continuously, and copying
    /// them on the loop would stall every other job's leases and messages (swiftray-attack's
    /// object-huge vector measured a p99 of 27 s). Readers meanwhile find the object where
    /// it was (pinned in the region, or its own file until the copy is whole).
    func performOnDisk(_ effect: RayletEffect) {
        switch effect {
        case .spillObject(let object, _):
            guard let objects = spillSource(object) else { break }
            disk.async {
                do { try objects.spill(object) } catch { note("raylet", "\(error)") }
            }
        case .restoreObject(let object, _):
            guard let objects = spillStore(object) else {
                raylet.submit(.objectRestored(object))  // No store: nothing to copy (values travel in messages).
                break
            }
            let loop = self.loop
            // Used on the loop's thread only (posted back there); the host lives as long as its loop.
            nonisolated(unsafe) let host = self
            disk.async {
                let failure: String?
                do {
                    try objects.restore(object)
                    failure = nil
                } catch {
                    note("raylet", "\(error)")
                    failure = "\(error)"
                }
                loop.post {
                    host.raylet.submit(failure.map { .objectRestoreFailed(object, reason: $0) } ?? .objectRestored(object))
                }
            }
        case .deleteSpilledObject(let object):
            guard let objects = spillStore(object, forgetting: true) else { break }
            // The object is gone (freed, or lost): a copy only on disk is no store's any more.
            if perJob.holders[object] != nil { recycle(object) }
            disk.async { objects.deleteSpilled(object) }
        default:
            break
        }
    }
}
