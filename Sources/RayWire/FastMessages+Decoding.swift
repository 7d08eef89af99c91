// Hand-written protobuf decoding of the messages every task and actor call sends, and the
// logged inputs that carry them (FastMessages.swift has the encoding and the invariants).

public import RayCore

// MARK: decoding

extension FastMessages {
    /// The message of a canonical encoding of a hand-encoded kind, or nil (see the file's invariants).
    public static func decode(_ raw: UnsafeRawBufferPointer) -> Message? {
        var reader = ProtoReader(raw, 0, raw.count)
        guard let (field, wireType) = reader.key(), wireType == 2, let length = reader.length(),
              reader.position + length == reader.end else { return nil }
        var body = reader.sub(length)
        switch field {
        case pushTaskField: return decodePushTask(&body)
        case taskReplyField: return decodeTaskReply(&body)
        case pushActorTaskField: return decodePushActorTask(&body)
        default: return nil
        }
    }

    public static func decode(_ bytes: ArraySlice<UInt8>) -> Message? {
        bytes.withUnsafeBytes { decode($0) }
    }

    static func decodePushTask(_ r: inout ProtoReader) -> Message? {
        var spec: TaskSpec?, attempt: Int64 = 0, lease: LeaseID?, args: [ResolvedArg] = []
        var last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last || (field == 4 && last == 4) else { return nil }
            last = field
            switch (field, type) {
            case (1, 2): guard var m = r.message(), let v = decodeSpec(&m) else { return nil }; spec = v
            case (2, 0): guard let v = r.sint64() else { return nil }; attempt = v
            case (3, 2): guard var m = r.message(), let v = decodeLease(&m) else { return nil }; lease = v
            case (4, 2): guard var m = r.message(), let v = decodeResolvedArg(&m) else { return nil }; args.append(v)
            default: return nil
            }
        }
        guard let spec, let lease else { return nil }
        return .pushTask(spec, attempt: Int(truncatingIfNeeded: attempt), lease: lease, args: args)
    }

    static func decodePushActorTask(_ r: inout ProtoReader) -> Message? {
        var spec: TaskSpec?, attempt: Int64 = 0, actor: UInt64 = 0, incarnation: Int64 = 0
        var sequence: UInt64 = 0, skipBelow: UInt64 = 0, args: [ResolvedArg] = []
        var last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last || (field == 7 && last == 7) else { return nil }
            last = field
            switch (field, type) {
            case (1, 2): guard var m = r.message(), let v = decodeSpec(&m) else { return nil }; spec = v
            case (2, 0): guard let v = r.sint64() else { return nil }; attempt = v
            case (3, 1): guard let v = r.fixed64() else { return nil }; actor = v
            case (4, 0): guard let v = r.sint64() else { return nil }; incarnation = v
            case (5, 0): guard let v = r.varint() else { return nil }; sequence = v
            case (6, 0): guard let v = r.varint() else { return nil }; skipBelow = v
            case (7, 2): guard var m = r.message(), let v = decodeResolvedArg(&m) else { return nil }; args.append(v)
            default: return nil
            }
        }
        guard let spec else { return nil }
        return .pushActorTask(spec, attempt: Int(truncatingIfNeeded: attempt),
                              ActorID(creationTask: TaskID(value: actor)),
                              incarnation: Int(truncatingIfNeeded: incarnation), sequence: sequence,
                              skipBelow: skipBelow, args: args)
    }

    static func decodeTaskReply(_ r: inout ProtoReader) -> Message? {
        var task: UInt64 = 0, attempt: Int64 = 0, outcome: TaskOutcome?, borrowed: [ObjectID] = []
        var last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last || (field == 4 && last == 4) else { return nil }
            last = field
            switch (field, type) {
            case (1, 1): guard let v = r.fixed64() else { return nil }; task = v
            case (2, 0): guard let v = r.sint64() else { return nil }; attempt = v
            case (3, 2): guard var m = r.message(), let v = decodeOutcome(&m) else { return nil }; outcome = v
            case (4, 2): guard var m = r.message(), let v = decodeObject(&m) else { return nil }; borrowed.append(v)
            default: return nil
            }
        }
        guard let outcome else { return nil }
        return .taskReply(TaskID(value: task), attempt: Int(truncatingIfNeeded: attempt), outcome, borrowed: borrowed)
    }

    static func decodeWorker(_ r: inout ProtoReader) -> WorkerID? {
        var node: UInt32 = 0, index: UInt32 = 0, last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last, type == 0, let v = r.uint32() else { return nil }
            last = field
            switch field {
            case 1: node = v
            case 2: index = v
            default: return nil
            }
        }
        return WorkerID(node: NodeID(node), index: index)
    }

    static func decodeObject(_ r: inout ProtoReader) -> ObjectID? {
        var task: UInt64 = 0, index: UInt32 = 0, last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last else { return nil }
            last = field
            switch (field, type) {
            case (1, 1): guard let v = r.fixed64() else { return nil }; task = v
            case (2, 0): guard let v = r.uint32() else { return nil }; index = v
            default: return nil
            }
        }
        // As `ObjectID(proto:)`: indexes count from 1 (the general path names the problem).
        guard index & ~(UInt32(1) << 31) != 0 else { return nil }
        return ObjectID(task: TaskID(value: task), index: index)
    }

    static func decodeLease(_ r: inout ProtoReader) -> LeaseID? {
        var owner: WorkerID?, index: UInt64 = 0, last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last else { return nil }
            last = field
            switch (field, type) {
            case (1, 2): guard var m = r.message(), let v = decodeWorker(&m) else { return nil }; owner = v
            case (2, 0): guard let v = r.varint() else { return nil }; index = v
            default: return nil
            }
        }
        guard let owner else { return nil }
        return LeaseID(owner: owner, index: index)
    }

    static func decodeData(_ r: inout ProtoReader) -> ObjectData? {
        var sizeBytes: Int64 = 0, digest: UInt64 = 0, bytes: [UInt8]?, last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last else { return nil }
            last = field
            switch (field, type) {
            case (1, 0): guard let v = r.sint64() else { return nil }; sizeBytes = v
            case (2, 1): guard let v = r.fixed64() else { return nil }; digest = v
            case (3, 2): guard let v = r.bytes() else { return nil }; bytes = v
            default: return nil
            }
        }
        guard sizeBytes >= 0 else { return nil }
        return ObjectData(sizeBytes: sizeBytes, digest: digest, bytes: bytes)
    }

    /// A oneof of three message-typed members: exactly one present (its field and contents).
    static func oneMember(_ r: inout ProtoReader) -> (UInt64, ProtoReader)? {
        guard let (field, type) = r.key(), type == 2, let member = r.message(), r.atEnd else { return nil }
        return (field, member)
    }

    static func decodeResolvedArg(_ r: inout ProtoReader) -> ResolvedArg? {
        guard let (field, member) = oneMember(&r) else { return nil }
        var m = member
        switch field {
        case 1: return decodeData(&m).map { .inline($0) }
        case 2: return decodeObject(&m).map { .object($0) }
        case 3: return decodeObject(&m).map { .borrowed($0) }
        default: return nil
        }
    }

    static func decodeTaskArg(_ r: inout ProtoReader) -> TaskArg? {
        guard let (field, member) = oneMember(&r) else { return nil }
        var m = member
        switch field {
        case 1: return decodeObject(&m).map { .reference($0) }
        case 2: return decodeData(&m).map { .value($0) }
        case 3: return decodeObject(&m).map { .nestedReference($0) }
        default: return nil
        }
    }

    static func decodeResources(_ r: inout ProtoReader) -> ResourceSet? {
        var entries: [ResourceSet.Entry] = []
        while !r.atEnd {
            guard let (field, type) = r.key(), field == 1, type == 2, var m = r.message() else { return nil }
            var name = "", milli: Int64 = 0, last: UInt64 = 0
            while !m.atEnd {
                guard let (field, type) = m.key(), field > last else { return nil }
                last = field
                switch (field, type) {
                case (1, 2): guard let v = m.string() else { return nil }; name = v
                case (2, 0): guard let v = m.sint64() else { return nil }; milli = v
                default: return nil
                }
            }
            entries.append(ResourceSet.Entry(name: name, milli: milli))
        }
        // What this code encodes is sorted, each name once, without zeros; anything else takes the general path.
        return ResourceSet(sortedEntries: entries)
    }

    static func decodeStrategy(_ r: inout ProtoReader) -> SchedulingStrategy? {
        guard let (field, member) = oneMember(&r) else { return nil }
        var m = member
        switch field {
        case 1: return m.atEnd ? .default : nil
        case 2: return m.atEnd ? .spread : nil
        case 3:
            var node: UInt32 = 0, soft = false, last: UInt64 = 0
            while !m.atEnd {
                guard let (field, type) = m.key(), field > last, type == 0, let v = m.varint() else { return nil }
                last = field
                switch field {
                case 1: guard v <= UInt64(UInt32.max) else { return nil }; node = UInt32(v)
                case 2: soft = v != 0
                default: return nil
                }
            }
            return .nodeAffinity(node: NodeID(node), soft: soft)
        default: return nil
        }
    }

    static func decodeSpec(_ r: inout ProtoReader) -> TaskSpec? {
        var taskID: UInt64 = 0, job: UInt32 = 0, function = "", instance: Int64 = 0, args: [TaskArg] = []
        var returnCount: Int64 = 0, resources: ResourceSet?, strategy: SchedulingStrategy?
        var maxRetries: Int64 = 0, retryExceptions = false, body: [Int64] = [], owner: WorkerID?
        var last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last || (field == 5 && last == 5) else { return nil }
            last = field
            switch (field, type) {
            case (1, 1): guard let v = r.fixed64() else { return nil }; taskID = v
            case (2, 0): guard let v = r.uint32() else { return nil }; job = v
            case (3, 2): guard let v = r.string() else { return nil }; function = v
            case (4, 0): guard let v = r.sint64() else { return nil }; instance = v
            case (5, 2): guard var m = r.message(), let v = decodeTaskArg(&m) else { return nil }; args.append(v)
            case (6, 0): guard let v = r.sint64() else { return nil }; returnCount = v
            case (7, 2): guard var m = r.message(), let v = decodeResources(&m) else { return nil }; resources = v
            case (8, 2): guard var m = r.message(), let v = decodeStrategy(&m) else { return nil }; strategy = v
            case (9, 0): guard let v = r.sint64() else { return nil }; maxRetries = v
            case (10, 0): guard let v = r.varint() else { return nil }; retryExceptions = v != 0
            case (11, 2):
                guard var m = r.message() else { return nil }
                while !m.atEnd {
                    guard let v = m.sint64() else { return nil }
                    body.append(v)
                }
            case (12, 2): guard var m = r.message(), let v = decodeWorker(&m) else { return nil }; owner = v
            default: return nil
            }
        }
        guard let resources, let strategy, let owner else { return nil }
        return TaskSpec(taskID: TaskID(value: taskID), jobID: JobID(job), function: function,
                        instance: Int(truncatingIfNeeded: instance), args: args,
                        returnCount: Int(truncatingIfNeeded: returnCount), resources: resources, strategy: strategy,
                        maxRetries: Int(truncatingIfNeeded: maxRetries), retryExceptions: retryExceptions,
                        body: body, owner: owner)
    }

    static func decodeError(_ r: inout ProtoReader) -> RayError? {
        var kind = "", message = "", last: UInt64 = 0
        while !r.atEnd {
            guard let (field, type) = r.key(), field > last, type == 2, let v = r.string() else { return nil }
            last = field
            switch field {
            case 1: kind = v
            case 2: message = v
            default: return nil
            }
        }
        guard let known = RayErrorKind(rawValue: kind) else { return nil }
        return RayError(known, message)
    }

    static func decodeReturnValue(_ r: inout ProtoReader) -> ReturnValue? {
        guard let (field, member) = oneMember(&r) else { return nil }
        var m = member
        switch field {
        case 1: return decodeData(&m).map { .inline($0) }
        case 2:
            var node: UInt32 = 0, sizeBytes: Int64 = 0, last: UInt64 = 0
            while !m.atEnd {
                guard let (field, type) = m.key(), field > last, type == 0 else { return nil }
                last = field
                switch field {
                case 1: guard let v = m.uint32() else { return nil }; node = v
                case 2: guard let v = m.sint64() else { return nil }; sizeBytes = v
                default: return nil
                }
            }
            return .stored(node: NodeID(node), sizeBytes: sizeBytes)
        default: return nil
        }
    }

    static func decodeOutcome(_ r: inout ProtoReader) -> TaskOutcome? {
        guard let (field, type) = r.key(), type == 2 else { return nil }
        let outcome: TaskOutcome?
        switch field {
        case 1:
            guard var m = r.message() else { return nil }
            var values: [ReturnValue] = []
            while !m.atEnd {
                guard let (field, type) = m.key(), field == 1, type == 2, var v = m.message(),
                      let value = decodeReturnValue(&v) else { return nil }
                values.append(value)
            }
            outcome = .returned(values)
        case 2: outcome = r.string().map { .applicationError($0) }
        case 3:
            guard var m = r.message() else { return nil }
            outcome = decodeError(&m).map { .argumentFailed($0) }
        default: return nil
        }
        return r.atEnd ? outcome : nil
    }
}

/// Reads protobuf's wire format from a buffer; every read checks its bounds and returns nil
/// when the bytes run out or are malformed.
struct ProtoReader {
    let base: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ base: UnsafeRawBufferPointer, _ position: Int, _ end: Int) {
        self.base = base
        self.position = position
        self.end = end
    }

    var atEnd: Bool { position >= end }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = base[position]
            position += 1
            if shift == 63 && byte > 1 { return nil }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    mutating func key() -> (UInt64, UInt64)? {
        guard let key = varint(), key >> 3 != 0, key >> 3 <= UInt64(UInt32.max) else { return nil }
        return (key >> 3, key & 7)
    }

    mutating func uint32() -> UInt32? {
        guard let value = varint(), value <= UInt64(UInt32.max) else { return nil }
        return UInt32(value)
    }

    mutating func sint64() -> Int64? {
        guard let value = varint() else { return nil }
        return Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    mutating func fixed64() -> UInt64? {
        guard end - position >= 8 else { return nil }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(base[position + index]) << UInt64(index * 8) }
        position += 8
        return value
    }

    mutating func length() -> Int? {
        guard let length = varint(), length <= UInt64(end - position) else { return nil }
        return Int(length)
    }

    /// A reader over the next `length` bytes (checked by `length()`), which this one skips.
    mutating func sub(_ length: Int) -> ProtoReader {
        let reader = ProtoReader(base, position, position + length)
        position += length
        return reader
    }

    mutating func message() -> ProtoReader? {
        guard let length = length() else { return nil }
        return sub(length)
    }

    mutating func bytes() -> [UInt8]? {
        guard let length = length() else { return nil }
        let bytes = [UInt8](UnsafeRawBufferPointer(rebasing: base[position..<(position + length)]))
        position += length
        return bytes
    }

    mutating func string() -> String? {
        guard let length = length() else { return nil }
        let text = String(validating: UnsafeRawBufferPointer(rebasing: base[position..<(position + length)]),
                          as: UTF8.self)
        position += length
        return text
    }
}

// MARK: logged inputs

extension FastMessages {
    // Field numbers in `OwnerInput` and `ExecutorInput` (swiftray.proto).
    static let submitTaskField: UInt64 = 2
    static let getField: UInt64 = 4
    static let releaseField: UInt64 = 5
    static let addReferenceField: UInt64 = 8
    static let callActorField: UInt64 = 15
    static let executionFinishedField: UInt64 = 3

    /// Appends the record of an owner's input if it is one a program hands its owner per task,
    /// call or reference (the same bytes as the generated encoder); false otherwise.
    public static func append(_ input: OwnerInput, to out: inout [UInt8]) -> Bool {
        switch input {
        case .submitTask(let request):
            tag(submitTaskField, 2, &out)
            Varint.append(UInt64(requestSize(request)), to: &out)
            appendRequest(request, &out)
            return true
        case .callActor(let actor, let request):
            let requestBytes = requestSize(request)
            tag(callActorField, 2, &out)
            Varint.append(UInt64(fixed64Size(actor.creationTask.value) + lengthDelimited(requestBytes)), to: &out)
            appendFixed64(actor.creationTask.value, field: 1, &out)
            tag(2, 2, &out)
            Varint.append(UInt64(requestBytes), to: &out)
            appendRequest(request, &out)
            return true
        case .get(let object):
            tag(getField, 2, &out); appendObject(object, &out); return true
        case .release(let object):
            tag(releaseField, 2, &out); appendObject(object, &out); return true
        case .addReference(let object):
            tag(addReferenceField, 2, &out); appendObject(object, &out); return true
        default:
            return false
        }
    }

    /// Appends the record of an executor's input if it is a finished execution; false otherwise.
    public static func append(_ input: ExecutorInput, to out: inout [UInt8]) -> Bool {
        guard case .executionFinished(let task, let attempt, let result) = input else { return false }
        // ExecutionResult { Returned returned = 1 { repeated ObjectData values = 1; }; string application_error = 2; }
        var returnedBytes = 0
        let resultBytes: Int
        switch result {
        case .returned(let values):
            for value in values { returnedBytes += lengthDelimited(dataSize(value)) }
            resultBytes = lengthDelimited(returnedBytes)
        case .applicationError(let text):
            resultBytes = lengthDelimited(text.utf8.count)
        }
        tag(executionFinishedField, 2, &out)
        Varint.append(UInt64(fixed64Size(task.value) + sint64Size(Int64(attempt))
                             + lengthDelimited(resultBytes)), to: &out)
        appendFixed64(task.value, field: 1, &out)
        appendSInt64(Int64(attempt), field: 2, &out)
        tag(3, 2, &out)
        Varint.append(UInt64(resultBytes), to: &out)
        switch result {
        case .returned(let values):
            tag(1, 2, &out)
            Varint.append(UInt64(returnedBytes), to: &out)
            for value in values { tag(1, 2, &out); appendData(value, &out) }
        case .applicationError(let text):
            appendMemberString(text, field: 2, &out)
        }
        return true
    }

    static func requestSize(_ request: TaskRequest) -> Int {
        var size = stringSize(request.function) + sint64Size(Int64(request.instance))
        for arg in request.args { size += lengthDelimited(taskArgSize(arg)) }
        size += lengthDelimited(resourcesSize(request.resources))
        size += lengthDelimited(strategySize(request.strategy))
        size += sint64Size(Int64(request.maxRetries))
        size += request.retryExceptions ? 2 : 0
        if !request.body.isEmpty { size += lengthDelimited(bodySize(request.body)) }
        size += sint64Size(Int64(request.returnCount))
        return size
    }

    /// The request's fields (its length is written by the caller).
    static func appendRequest(_ request: TaskRequest, _ out: inout [UInt8]) {
        appendString(request.function, field: 1, &out)
        appendSInt64(Int64(request.instance), field: 2, &out)
        for arg in request.args { tag(3, 2, &out); appendTaskArg(arg, &out) }
        tag(4, 2, &out)
        appendResources(request.resources, &out)
        tag(5, 2, &out)
        appendStrategy(request.strategy, &out)
        appendSInt64(Int64(request.maxRetries), field: 6, &out)
        if request.retryExceptions { tag(7, 0, &out); out.append(1) }
        appendPacked(request.body, field: 8, &out)
        appendSInt64(Int64(request.returnCount), field: 9, &out)
    }
}
