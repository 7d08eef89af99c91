// Hand-written protobuf encoding and decoding of the messages every task and actor call
// sends (`pushTask`, `pushActorTask`, `taskReply`): the same bytes SwiftProtobuf writes for
// `message.proto` (fields in number order, defaults left out, minimal varints, packed
// repeated scalars), written in one pass without building the generated structs.
//
// Invariants:
// - `FastMessages.append(m, to:)` writes exactly what SwiftProtobuf writes for `m.proto`
//   (FastMessagesTests checks it over many drawn messages), or writes nothing and returns
//   false for every other kind of message; so do the `append`s of inputs (a program's
//   submitted tasks, calls and references; an executor's finished executions).
//   `ProtoRecord.appendRecord`, `recordBytes` and `LogRecord.encode` go through them.
// - `FastMessages.decode(bytes)` returns a message only for such canonical encodings of
//   those kinds, and then exactly what `Message(generatedDecoding:)` returns (and
//   `Message(recordBytes:)` tries it first); anything else —
//   another kind, fields out of order or repeated, unknown fields, a check that fails —
//   returns nil, and the caller takes the general path, which decodes it or names the
//   problem. It never reads past its buffer (the fuzz target `records` runs it).

public import RayCore

public enum FastMessages {
    // Field numbers in `swiftray.v1.Message` (swiftray.proto).
    static let pushTaskField: UInt64 = 18
    static let taskReplyField: UInt64 = 19
    static let pushActorTaskField: UInt64 = 52

    /// Appends the record of `message` if it is one of the hand-encoded kinds.
    public static func append(_ message: Message, to out: inout [UInt8]) -> Bool {
        switch message {
        case .pushTask(let spec, let attempt, let lease, let args):
            let specBytes = specSize(spec)
            var size = lengthDelimited(specBytes) + sint64Size(Int64(attempt))
                + lengthDelimited(leaseSize(lease))
            for arg in args { size += lengthDelimited(resolvedArgSize(arg)) }
            tag(pushTaskField, 2, &out)
            Varint.append(UInt64(size), to: &out)
            tag(1, 2, &out)
            Varint.append(UInt64(specBytes), to: &out)
            appendSpec(spec, &out)
            appendSInt64(Int64(attempt), field: 2, &out)
            tag(3, 2, &out)
            appendLease(lease, &out)
            for arg in args { tag(4, 2, &out); appendResolvedArg(arg, &out) }
            return true
        case .pushActorTask(let spec, let attempt, let actor, let incarnation, let sequence, let skipBelow, let args):
            let specBytes = specSize(spec)
            var size = lengthDelimited(specBytes) + sint64Size(Int64(attempt))
                + fixed64Size(actor.creationTask.value) + sint64Size(Int64(incarnation))
                + uint64Size(sequence) + uint64Size(skipBelow)
            for arg in args { size += lengthDelimited(resolvedArgSize(arg)) }
            tag(pushActorTaskField, 2, &out)
            Varint.append(UInt64(size), to: &out)
            tag(1, 2, &out)
            Varint.append(UInt64(specBytes), to: &out)
            appendSpec(spec, &out)
            appendSInt64(Int64(attempt), field: 2, &out)
            appendFixed64(actor.creationTask.value, field: 3, &out)
            appendSInt64(Int64(incarnation), field: 4, &out)
            appendUInt64(sequence, field: 5, &out)
            appendUInt64(skipBelow, field: 6, &out)
            for arg in args { tag(7, 2, &out); appendResolvedArg(arg, &out) }
            return true
        case .taskReply(let task, let attempt, let outcome, let borrowed):
            let outcomeBytes = outcomeSize(outcome)
            var size = fixed64Size(task.value) + sint64Size(Int64(attempt)) + lengthDelimited(outcomeBytes)
            for object in borrowed { size += lengthDelimited(objectSize(object)) }
            tag(taskReplyField, 2, &out)
            Varint.append(UInt64(size), to: &out)
            appendFixed64(task.value, field: 1, &out)
            appendSInt64(Int64(attempt), field: 2, &out)
            tag(3, 2, &out)
            Varint.append(UInt64(outcomeBytes), to: &out)
            appendOutcome(outcome, &out)
            for object in borrowed { tag(4, 2, &out); appendObject(object, &out) }
            return true
        default:
            return false
        }
    }

    // MARK: sizes (without the field's own tag and length, unless said)

    @inline(__always) static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }
    @inline(__always) static func lengthDelimited(_ size: Int) -> Int { 1 + Varint.size(UInt64(size)) + size }
    @inline(__always) static func sint64Size(_ value: Int64) -> Int {
        value == 0 ? 0 : 1 + Varint.size(zigzag(value))
    }
    @inline(__always) static func uint64Size(_ value: UInt64) -> Int { value == 0 ? 0 : 1 + Varint.size(value) }
    @inline(__always) static func fixed64Size(_ value: UInt64) -> Int { value == 0 ? 0 : 9 }
    @inline(__always) static func stringSize(_ value: String) -> Int {
        let count = value.utf8.count
        return count == 0 ? 0 : lengthDelimited(count)
    }

    static func workerSize(_ worker: WorkerID) -> Int {
        uint64Size(UInt64(worker.node.value)) + uint64Size(UInt64(worker.index))
    }
    static func objectSize(_ object: ObjectID) -> Int {
        fixed64Size(object.task.value) + uint64Size(UInt64(object.index))
    }
    static func leaseSize(_ lease: LeaseID) -> Int {
        lengthDelimited(workerSize(lease.owner)) + uint64Size(lease.index)
    }
    static func dataSize(_ data: ObjectData) -> Int {
        var size = sint64Size(data.sizeBytes) + fixed64Size(data.digest)
        if let bytes = data.bytes { size += lengthDelimited(bytes.count) }
        return size
    }
    static func entrySize(_ entry: ResourceSet.Entry) -> Int {
        stringSize(entry.name) + sint64Size(entry.milli)
    }
    static func resourcesSize(_ resources: ResourceSet) -> Int {
        var size = 0
        for entry in resources.entries { size += lengthDelimited(entrySize(entry)) }
        return size
    }
    static func affinitySize(_ node: NodeID, _ soft: Bool) -> Int {
        uint64Size(UInt64(node.value)) + (soft ? 2 : 0)
    }
    static func strategySize(_ strategy: SchedulingStrategy) -> Int {
        switch strategy {
        case .default, .spread: return 2
        case .nodeAffinity(let node, let soft): return lengthDelimited(affinitySize(node, soft))
        }
    }
    static func taskArgSize(_ arg: TaskArg) -> Int {
        switch arg {
        case .reference(let object), .nestedReference(let object): return lengthDelimited(objectSize(object))
        case .value(let data): return lengthDelimited(dataSize(data))
        }
    }
    static func resolvedArgSize(_ arg: ResolvedArg) -> Int {
        switch arg {
        case .object(let object), .borrowed(let object): return lengthDelimited(objectSize(object))
        case .inline(let data): return lengthDelimited(dataSize(data))
        }
    }
    static func bodySize(_ body: [Int64]) -> Int {
        var size = 0
        for value in body { size += Varint.size(zigzag(value)) }
        return size
    }
    static func specSize(_ spec: TaskSpec) -> Int {
        var size = fixed64Size(spec.taskID.value) + uint64Size(UInt64(spec.jobID.value)) + stringSize(spec.function)
            + sint64Size(Int64(spec.instance))
        for arg in spec.args { size += lengthDelimited(taskArgSize(arg)) }
        size += sint64Size(Int64(spec.returnCount))
        size += lengthDelimited(resourcesSize(spec.resources))
        size += lengthDelimited(strategySize(spec.strategy))
        size += sint64Size(Int64(spec.maxRetries))
        size += spec.retryExceptions ? 2 : 0
        if !spec.body.isEmpty { size += lengthDelimited(bodySize(spec.body)) }
        size += lengthDelimited(workerSize(spec.owner))
        return size
    }
    static func errorSize(_ error: RayError) -> Int {
        stringSize(error.kind.rawValue) + stringSize(error.message)
    }
    static func returnValueSize(_ value: ReturnValue) -> Int {
        switch value {
        case .inline(let data): return lengthDelimited(dataSize(data))
        case .stored(let node, let sizeBytes):
            return lengthDelimited(uint64Size(UInt64(node.value)) + sint64Size(sizeBytes))
        }
    }
    static func outcomeSize(_ outcome: TaskOutcome) -> Int {
        switch outcome {
        case .returned(let values):
            var inner = 0
            for value in values { inner += lengthDelimited(returnValueSize(value)) }
            return lengthDelimited(inner)
        case .applicationError(let text): return lengthDelimited(text.utf8.count)
        case .argumentFailed(let error): return lengthDelimited(errorSize(error))
        }
    }

    // MARK: writing

    @inline(__always) static func tag(_ field: UInt64, _ wireType: UInt64, _ out: inout [UInt8]) {
        Varint.append(field << 3 | wireType, to: &out)
    }
    @inline(__always) static func appendUInt64(_ value: UInt64, field: UInt64, _ out: inout [UInt8]) {
        guard value != 0 else { return }
        tag(field, 0, &out)
        Varint.append(value, to: &out)
    }
    @inline(__always) static func appendSInt64(_ value: Int64, field: UInt64, _ out: inout [UInt8]) {
        guard value != 0 else { return }
        tag(field, 0, &out)
        Varint.append(zigzag(value), to: &out)
    }
    @inline(__always) static func appendFixed64(_ value: UInt64, field: UInt64, _ out: inout [UInt8]) {
        guard value != 0 else { return }
        tag(field, 1, &out)
        for shift in stride(from: UInt64(0), to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
    @inline(__always) static func appendString(_ value: String, field: UInt64, _ out: inout [UInt8]) {
        let count = value.utf8.count
        guard count != 0 else { return }
        tag(field, 2, &out)
        Varint.append(UInt64(count), to: &out)
        out.append(contentsOf: value.utf8)
    }

    /// A repeated sint64 field, packed (none: nothing written).
    static func appendPacked(_ values: [Int64], field: UInt64, _ out: inout [UInt8]) {
        guard !values.isEmpty else { return }
        tag(field, 2, &out)
        Varint.append(UInt64(bodySize(values)), to: &out)
        for value in values { Varint.append(zigzag(value), to: &out) }
    }

    /// A string that is a oneof member: written even when empty.
    @inline(__always) static func appendMemberString(_ value: String, field: UInt64, _ out: inout [UInt8]) {
        tag(field, 2, &out)
        Varint.append(UInt64(value.utf8.count), to: &out)
        out.append(contentsOf: value.utf8)
    }

    // Each `append…` below writes a message's length, then its fields.

    static func appendWorker(_ worker: WorkerID, _ out: inout [UInt8]) {
        Varint.append(UInt64(workerSize(worker)), to: &out)
        appendUInt64(UInt64(worker.node.value), field: 1, &out)
        appendUInt64(UInt64(worker.index), field: 2, &out)
    }
    static func appendObject(_ object: ObjectID, _ out: inout [UInt8]) {
        Varint.append(UInt64(objectSize(object)), to: &out)
        appendFixed64(object.task.value, field: 1, &out)
        appendUInt64(UInt64(object.index), field: 2, &out)
    }
    static func appendLease(_ lease: LeaseID, _ out: inout [UInt8]) {
        Varint.append(UInt64(leaseSize(lease)), to: &out)
        tag(1, 2, &out)
        appendWorker(lease.owner, &out)
        appendUInt64(lease.index, field: 2, &out)
    }
    static func appendData(_ data: ObjectData, _ out: inout [UInt8]) {
        Varint.append(UInt64(dataSize(data)), to: &out)
        appendSInt64(data.sizeBytes, field: 1, &out)
        appendFixed64(data.digest, field: 2, &out)
        if let bytes = data.bytes {
            tag(3, 2, &out)
            Varint.append(UInt64(bytes.count), to: &out)
            out.append(contentsOf: bytes)
        }
    }
    static func appendResolvedArg(_ arg: ResolvedArg, _ out: inout [UInt8]) {
        Varint.append(UInt64(resolvedArgSize(arg)), to: &out)
        switch arg {
        case .inline(let data): tag(1, 2, &out); appendData(data, &out)
        case .object(let object): tag(2, 2, &out); appendObject(object, &out)
        case .borrowed(let object): tag(3, 2, &out); appendObject(object, &out)
        }
    }
    static func appendTaskArg(_ arg: TaskArg, _ out: inout [UInt8]) {
        Varint.append(UInt64(taskArgSize(arg)), to: &out)
        switch arg {
        case .reference(let object): tag(1, 2, &out); appendObject(object, &out)
        case .value(let data): tag(2, 2, &out); appendData(data, &out)
        case .nestedReference(let object): tag(3, 2, &out); appendObject(object, &out)
        }
    }
    static func appendResources(_ resources: ResourceSet, _ out: inout [UInt8]) {
        Varint.append(UInt64(resourcesSize(resources)), to: &out)
        for entry in resources.entries {
            tag(1, 2, &out)
            Varint.append(UInt64(entrySize(entry)), to: &out)
            appendString(entry.name, field: 1, &out)
            appendSInt64(entry.milli, field: 2, &out)
        }
    }
    static func appendStrategy(_ strategy: SchedulingStrategy, _ out: inout [UInt8]) {
        Varint.append(UInt64(strategySize(strategy)), to: &out)
        switch strategy {
        case .default: tag(1, 2, &out); out.append(0)
        case .spread: tag(2, 2, &out); out.append(0)
        case .nodeAffinity(let node, let soft):
            tag(3, 2, &out)
            Varint.append(UInt64(affinitySize(node, soft)), to: &out)
            appendUInt64(UInt64(node.value), field: 1, &out)
            if soft { tag(2, 0, &out); out.append(1) }
        }
    }
    /// The spec's fields (its length is written by the caller, which knows it).
    static func appendSpec(_ spec: TaskSpec, _ out: inout [UInt8]) {
        appendFixed64(spec.taskID.value, field: 1, &out)
        appendUInt64(UInt64(spec.jobID.value), field: 2, &out)
        appendString(spec.function, field: 3, &out)
        appendSInt64(Int64(spec.instance), field: 4, &out)
        for arg in spec.args { tag(5, 2, &out); appendTaskArg(arg, &out) }
        appendSInt64(Int64(spec.returnCount), field: 6, &out)
        tag(7, 2, &out)
        appendResources(spec.resources, &out)
        tag(8, 2, &out)
        appendStrategy(spec.strategy, &out)
        appendSInt64(Int64(spec.maxRetries), field: 9, &out)
        if spec.retryExceptions { tag(10, 0, &out); out.append(1) }
        appendPacked(spec.body, field: 11, &out)
        tag(12, 2, &out)
        appendWorker(spec.owner, &out)
    }
    static func appendError(_ error: RayError, _ out: inout [UInt8]) {
        Varint.append(UInt64(errorSize(error)), to: &out)
        appendString(error.kind.rawValue, field: 1, &out)
        appendString(error.message, field: 2, &out)
    }
    static func appendReturnValue(_ value: ReturnValue, _ out: inout [UInt8]) {
        Varint.append(UInt64(returnValueSize(value)), to: &out)
        switch value {
        case .inline(let data): tag(1, 2, &out); appendData(data, &out)
        case .stored(let node, let sizeBytes):
            tag(2, 2, &out)
            Varint.append(UInt64(uint64Size(UInt64(node.value)) + sint64Size(sizeBytes)), to: &out)
            appendUInt64(UInt64(node.value), field: 1, &out)
            appendSInt64(sizeBytes, field: 2, &out)
        }
    }
    /// The outcome's fields (its length is written by the caller).
    static func appendOutcome(_ outcome: TaskOutcome, _ out: inout [UInt8]) {
        switch outcome {
        case .returned(let values):
            tag(1, 2, &out)
            var inner = 0
            for value in values { inner += lengthDelimited(returnValueSize(value)) }
            Varint.append(UInt64(inner), to: &out)
            for value in values { tag(1, 2, &out); appendReturnValue(value, &out) }
        case .applicationError(let text):
            appendMemberString(text, field: 2, &out)
        case .argumentFailed(let error):
            tag(3, 2, &out)
            appendError(error, &out)
        }
    }
}

