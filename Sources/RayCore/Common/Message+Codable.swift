// Compact Codable forms for the wire messages and the components' inputs —
// the records every event log holds: a one-byte case tag, then the associated
// values in order (instead of a keyed container per case with its labels as
// strings). The tags are the record schema: append new cases at the end, never
// reorder (old logs and traces must still read); changing a case's values
// breaks old logs (re-record traces with tools/record-traces.sh).

extension Message {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .registerNode(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .healthCheck(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        case .healthCheckReply(let v0):
            try container.encode(UInt8(2))
            try container.encode(v0)
        case .resourceReport(let v0, let v1):
            try container.encode(UInt8(3))
            try container.encode(v0)
            try container.encode(v1)
        case .clusterView(let v0):
            try container.encode(UInt8(4))
            try container.encode(v0)
        case .nodeDead(let v0):
            try container.encode(UInt8(5))
            try container.encode(v0)
        case .registerJob(let v0, let v1):
            try container.encode(UInt8(6))
            try container.encode(v0)
            try container.encode(v1)
        case .jobFinished(let v0):
            try container.encode(UInt8(7))
            try container.encode(v0)
        case .workerDied(let v0):
            try container.encode(UInt8(8))
            try container.encode(v0)
        case .kvPut(let v0, let v1):
            try container.encode(UInt8(9))
            try container.encode(v0)
            try container.encode(v1)
        case .kvGet(let v0):
            try container.encode(UInt8(10))
            try container.encode(v0)
        case .kvValue(let v0, let v1):
            try container.encode(UInt8(11))
            try container.encode(v0)
            try container.encode(v1)
        case .requestWorkerLease(let v0):
            try container.encode(UInt8(12))
            try container.encode(v0)
        case .leaseGranted(let v0, let v1):
            try container.encode(UInt8(13))
            try container.encode(v0)
            try container.encode(v1)
        case .leaseSpillback(let v0, let v1):
            try container.encode(UInt8(14))
            try container.encode(v0)
            try container.encode(v1)
        case .leaseUnschedulable(let v0, let v1):
            try container.encode(UInt8(15))
            try container.encode(v0)
            try container.encode(v1)
        case .returnWorker(let v0, let v1):
            try container.encode(UInt8(16))
            try container.encode(v0)
            try container.encode(v1)
        case .pushTask(let v0, let v1, let v2, let v3):
            try container.encode(UInt8(17))
            try container.encode(v0)
            try container.encode(v1)
            try container.encode(v2)
            try container.encode(v3)
        case .taskReply(let v0, let v1, let v2, let v3):
            try container.encode(UInt8(18))
            try container.encode(v0)
            try container.encode(v1)
            try container.encode(v2)
            try container.encode(v3)
        case .borrowReleased(let v0, let v1):
            try container.encode(UInt8(19))
            try container.encode(v0)
            try container.encode(v1)
        case .fetchObjects(let v0, let v1, let v2):
            try container.encode(UInt8(20))
            try container.encode(v0)
            try container.encode(v1)
            try container.encode(v2)
        case .objectsReady(let v0, let v1):
            try container.encode(UInt8(21))
            try container.encode(v0)
            try container.encode(v1)
        case .releaseFetch(let v0):
            try container.encode(UInt8(22))
            try container.encode(v0)
        case .storeObjects(let v0, let v1, let v2, let v3):
            try container.encode(UInt8(23))
            try container.encode(v0)
            try container.encode(v1)
            try container.encode(v2)
            try container.encode(v3)
        case .objectsStored(let v0):
            try container.encode(UInt8(24))
            try container.encode(v0)
        case .locateObject(let v0):
            try container.encode(UInt8(25))
            try container.encode(v0)
        case .objectLocation(let v0, let v1):
            try container.encode(UInt8(26))
            try container.encode(v0)
            try container.encode(v1)
        case .locationAdded(let v0, let v1):
            try container.encode(UInt8(27))
            try container.encode(v0)
            try container.encode(v1)
        case .locationRemoved(let v0, let v1):
            try container.encode(UInt8(28))
            try container.encode(v0)
            try container.encode(v1)
        case .freeObject(let v0):
            try container.encode(UInt8(29))
            try container.encode(v0)
        case .pinObject(let v0):
            try container.encode(UInt8(30))
            try container.encode(v0)
        case .pullObject(let v0):
            try container.encode(UInt8(31))
            try container.encode(v0)
        case .pushObject(let v0, let v1, let v2):
            try container.encode(UInt8(32))
            try container.encode(v0)
            try container.encode(v1)
            try container.encode(v2)
        case .objectMissing(let v0):
            try container.encode(UInt8(33))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .registerNode(try container.decode(NodeInfo.self))
        case 1:
            self = .healthCheck(sequence: try container.decode(UInt64.self))
        case 2:
            self = .healthCheckReply(sequence: try container.decode(UInt64.self))
        case 3:
            self = .resourceReport(node: try container.decode(NodeID.self), available: try container.decode(ResourceSet.self))
        case 4:
            self = .clusterView(try container.decode([NodeView].self))
        case 5:
            self = .nodeDead(try container.decode(NodeID.self))
        case 6:
            self = .registerJob(try container.decode(JobID.self), driver: try container.decode(WorkerID.self))
        case 7:
            self = .jobFinished(try container.decode(JobID.self))
        case 8:
            self = .workerDied(try container.decode(WorkerID.self))
        case 9:
            self = .kvPut(key: try container.decode(String.self), value: try container.decode([UInt8].self))
        case 10:
            self = .kvGet(key: try container.decode(String.self))
        case 11:
            self = .kvValue(key: try container.decode(String.self), value: try container.decode(Optional<[UInt8]>.self))
        case 12:
            self = .requestWorkerLease(try container.decode(LeaseRequest.self))
        case 13:
            self = .leaseGranted(try container.decode(LeaseID.self), worker: try container.decode(WorkerID.self))
        case 14:
            self = .leaseSpillback(try container.decode(LeaseID.self), to: try container.decode(NodeID.self))
        case 15:
            self = .leaseUnschedulable(try container.decode(LeaseID.self), reason: try container.decode(String.self))
        case 16:
            self = .returnWorker(try container.decode(LeaseID.self), killWorker: try container.decode(Bool.self))
        case 17:
            self = .pushTask(try container.decode(TaskSpec.self), attempt: try container.decode(Int.self), lease: try container.decode(LeaseID.self), args: try container.decode([ResolvedArg].self))
        case 18:
            self = .taskReply(try container.decode(TaskID.self), attempt: try container.decode(Int.self), try container.decode(TaskOutcome.self), borrowed: try container.decode([ObjectID].self))
        case 19:
            self = .borrowReleased(try container.decode(ObjectID.self), borrower: try container.decode(WorkerID.self))
        case 20:
            self = .fetchObjects(requestID: try container.decode(UInt64.self), objects: try container.decode([ObjectID].self), owner: try container.decode(WorkerID.self))
        case 21:
            self = .objectsReady(requestID: try container.decode(UInt64.self), values: try container.decode([ObjectValue].self))
        case 22:
            self = .releaseFetch(requestID: try container.decode(UInt64.self))
        case 23:
            self = .storeObjects(requestID: try container.decode(UInt64.self), objects: try container.decode([ObjectID].self), values: try container.decode([ObjectData].self), owner: try container.decode(WorkerID.self))
        case 24:
            self = .objectsStored(requestID: try container.decode(UInt64.self))
        case 25:
            self = .locateObject(try container.decode(ObjectID.self))
        case 26:
            self = .objectLocation(try container.decode(ObjectID.self), try container.decode(LocationAnswer.self))
        case 27:
            self = .locationAdded(try container.decode(ObjectID.self), node: try container.decode(NodeID.self))
        case 28:
            self = .locationRemoved(try container.decode(ObjectID.self), node: try container.decode(NodeID.self))
        case 29:
            self = .freeObject(try container.decode(ObjectID.self))
        case 30:
            self = .pinObject(try container.decode(ObjectID.self))
        case 31:
            self = .pullObject(try container.decode(ObjectID.self))
        case 32:
            self = .pushObject(try container.decode(ObjectID.self), try container.decode(ObjectData.self), owner: try container.decode(WorkerID.self))
        case 33:
            self = .objectMissing(try container.decode(ObjectID.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown Message tag \(tag)"))
        }
    }
}

extension GCSInput {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .started(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .recovered:
            try container.encode(UInt8(1))
        case .messageReceived(let v0, let v1):
            try container.encode(UInt8(2))
            try container.encode(v0)
            try container.encode(v1)
        case .timerFired(let v0):
            try container.encode(UInt8(3))
            try container.encode(v0)
        case .peerDisconnected(let v0):
            try container.encode(UInt8(4))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .started(try container.decode(RayConfig.self))
        case 1:
            self = .recovered
        case 2:
            self = .messageReceived(from: try container.decode(Address.self), try container.decode(Message.self))
        case 3:
            self = .timerFired(try container.decode(GCSTimer.self))
        case 4:
            self = .peerDisconnected(try container.decode(Address.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown GCSInput tag \(tag)"))
        }
    }
}

extension RayletInput {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .started(let v0, let v1):
            try container.encode(UInt8(0))
            try container.encode(v0)
            try container.encode(v1)
        case .messageReceived(let v0, let v1):
            try container.encode(UInt8(1))
            try container.encode(v0)
            try container.encode(v1)
        case .timerFired(let v0):
            try container.encode(UInt8(2))
            try container.encode(v0)
        case .workerStarted(let v0):
            try container.encode(UInt8(3))
            try container.encode(v0)
        case .workerExited(let v0):
            try container.encode(UInt8(4))
            try container.encode(v0)
        case .objectRestored(let v0):
            try container.encode(UInt8(5))
            try container.encode(v0)
        case .peerDisconnected(let v0):
            try container.encode(UInt8(6))
            try container.encode(v0)
        case .peerConnected(let v0):
            try container.encode(UInt8(7))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .started(try container.decode(RayConfig.self), try container.decode(NodeInfo.self))
        case 1:
            self = .messageReceived(from: try container.decode(Address.self), try container.decode(Message.self))
        case 2:
            self = .timerFired(try container.decode(RayletTimer.self))
        case 3:
            self = .workerStarted(try container.decode(WorkerID.self))
        case 4:
            self = .workerExited(try container.decode(WorkerID.self))
        case 5:
            self = .objectRestored(try container.decode(ObjectID.self))
        case 6:
            self = .peerDisconnected(try container.decode(Address.self))
        case 7:
            self = .peerConnected(try container.decode(Address.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown RayletInput tag \(tag)"))
        }
    }
}

extension OwnerInput {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .started(let v0, let v1):
            try container.encode(UInt8(0))
            try container.encode(v0)
            try container.encode(v1)
        case .submitTask(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        case .put(let v0, let v1):
            try container.encode(UInt8(2))
            try container.encode(v0)
            try container.encode(v1)
        case .get(let v0):
            try container.encode(UInt8(3))
            try container.encode(v0)
        case .release(let v0):
            try container.encode(UInt8(4))
            try container.encode(v0)
        case .messageReceived(let v0, let v1):
            try container.encode(UInt8(5))
            try container.encode(v0)
            try container.encode(v1)
        case .peerDisconnected(let v0):
            try container.encode(UInt8(6))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .started(try container.decode(RayConfig.self), try container.decode(OwnerIdentity.self))
        case 1:
            self = .submitTask(try container.decode(TaskRequest.self))
        case 2:
            self = .put(try container.decode(ObjectData.self), node: try container.decode(Optional<NodeID>.self))
        case 3:
            self = .get(try container.decode(ObjectID.self))
        case 4:
            self = .release(try container.decode(ObjectID.self))
        case 5:
            self = .messageReceived(from: try container.decode(Address.self), try container.decode(Message.self))
        case 6:
            self = .peerDisconnected(try container.decode(Address.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown OwnerInput tag \(tag)"))
        }
    }
}

extension ExecutorInput {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .started(let v0, let v1):
            try container.encode(UInt8(0))
            try container.encode(v0)
            try container.encode(v1)
        case .messageReceived(let v0, let v1):
            try container.encode(UInt8(1))
            try container.encode(v0)
            try container.encode(v1)
        case .executionFinished(let v0, let v1, let v2):
            try container.encode(UInt8(2))
            try container.encode(v0)
            try container.encode(v1)
            try container.encode(v2)
        case .timerFired(let v0):
            try container.encode(UInt8(3))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .started(try container.decode(RayConfig.self), try container.decode(WorkerID.self))
        case 1:
            self = .messageReceived(from: try container.decode(Address.self), try container.decode(Message.self))
        case 2:
            self = .executionFinished(try container.decode(TaskID.self), attempt: try container.decode(Int.self), try container.decode(ExecutionResult.self))
        case 3:
            self = .timerFired(try container.decode(ExecutorTimer.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown ExecutorInput tag \(tag)"))
        }
    }
}
