// The record schema: every message case and every input case round-trips
// unchanged through protobuf (swiftray.proto: frames and event logs) and
// through BinaryCoder (the compact Codable forms effects journals and trace
// files use); what does not make sense is a clear error naming where.

import Foundation
import RayCore
import RayWire
import SwiftProtobuf
import Testing

typealias Message = RayCore.Message

private let worker = WorkerID(node: NodeID(2), index: 3)
private let object = ObjectID.returnValue(of: TaskID(value: 77), index: 1)
private let putObject = ObjectID.put(by: TaskID(value: 5), index: 2)
private let lease = LeaseID(owner: worker, index: 9)
private let data = ObjectData(sizeBytes: 123, digest: 456)
private let bytesData = ObjectData(sizeBytes: 3, digest: 1, bytes: [1, 2, 3])
private let error = RayError(.objectLost, "gone")
private let spec = TaskSpec(taskID: TaskID(value: 77), jobID: JobID(1), function: "f", instance: 4,
                            args: [.reference(object), .value(data), .nestedReference(putObject)], returnCount: 1,
                            resources: ResourceSet(["CPU": 500, "GPU": 1000]),
                            strategy: .nodeAffinity(node: NodeID(3), soft: true), maxRetries: -1,
                            retryExceptions: true, body: [1, -2, 3], owner: worker)
private let info = NodeInfo(nodeID: NodeID(4), name: "n4", resources: .units(["CPU": 2]), objectStoreBytes: 1 << 20)

let everyMessage: [Message] = [
    .registerNode(info), .healthCheck(sequence: 1), .healthCheckReply(sequence: 2),
    .resourceReport(node: NodeID(1), available: .units(["CPU": 1])),
    .clusterView([NodeView(nodeID: NodeID(1), total: .units(["CPU": 2]), available: ResourceSet())]),
    .nodeDead(NodeID(5)), .registerJob(JobID(2), driver: worker), .jobFinished(JobID(2)), .workerDied(worker),
    .kvPut(key: "k", value: [9, 8]), .kvGet(key: "k"), .kvValue(key: "k", value: nil), .kvValue(key: "k", value: []),
    .requestWorkerLease(LeaseRequest(leaseID: lease, taskID: TaskID(value: 77), resources: .units(["CPU": 1]),
                                     strategy: .spread, spillbackCount: 2, dependencies: [object, putObject], jobID: JobID(3))),
    .leaseGranted(lease, worker: worker), .leaseSpillback(lease, to: NodeID(6)),
    .leaseUnschedulable(lease, reason: "no node"), .returnWorker(lease, killWorker: true),
    .pushTask(spec, attempt: 2, lease: lease, args: [.inline(data), .object(object), .borrowed(putObject)]),
    .taskReply(TaskID(value: 77), attempt: 2, .returned([.inline(bytesData), .stored(node: NodeID(2), sizeBytes: 9)]),
               borrowed: [putObject]),
    .taskReply(TaskID(value: 77), attempt: 3, .applicationError("boom"), borrowed: []),
    .taskReply(TaskID(value: 77), attempt: 4, .argumentFailed(error), borrowed: []),
    .borrowReleased(putObject, borrower: worker),
    .fetchObjects(requestID: 3, objects: [object], owner: worker),
    .objectsReady(requestID: 3, values: [.data(data), .error(error)]), .releaseFetch(requestID: 3),
    .storeObjects(requestID: 4, objects: [object], values: [data], owner: worker), .objectsStored(requestID: 4),
    .locateObject(object), .objectLocation(object, .at([NodeID(1), NodeID(2)])), .objectLocation(object, .failed(error)),
    .objectLocation(object, .freed), .locationAdded(object, node: NodeID(1)), .locationRemoved(object, node: NodeID(1)),
    .freeObject(object), .pinObject(object), .pullObject(object), .pushObject(object, data, owner: worker),
    .objectMissing(object), .cancelWorkerLease(lease), .workerBlocked(worker), .workerUnblocked(worker),
    .cancelChildren(TaskID(value: 77), attempt: 2, force: true),
    .returnedReferences(TaskID(value: 77), attempt: 1, objects: [object, putObject], returnIndices: [1, 2]),
    .borrowerGet(object), .ownedValue(object, .data(data)), .ownedValue(object, .error(error)),
    .yieldLease(lease), .objectsRefused(requestID: 5, objects: [object, putObject], error),
    .leaseRefused(lease, error),
    .storeRemoteObjects(requestID: 6, objects: [putObject], values: [data], owner: worker, job: JobID(3)),
]

/// The case name of a value of an enum whose cases all carry values.
private func caseName<T>(_ value: T) -> String {
    Mirror(reflecting: value).children.first?.label ?? "\(value)"
}

@Test func theListCoversEveryMessageCase() {
    // Adding a case to Message? Add it to everyMessage (and to the tables in tools/gen-records.py).
    #expect(Set(everyMessage.map(caseName)).count == 45)
}

@Test(arguments: everyMessage)
func messageRoundTrips(message: Message) throws {
    #expect(try Message(recordBytes: message.recordBytes()) == message)
    #expect(try BinaryCoder.decode(Message.self, from: BinaryCoder.encode(message)) == message)
}

/// Both encodings give back what went in.
private func roundTrips<Input: ProtoRecord & Codable & Equatable>(_ inputs: [Input]) throws {
    for input in inputs {
        #expect(try Input(recordBytes: input.recordBytes()) == input)
        #expect(try BinaryCoder.decode(Input.self, from: BinaryCoder.encode(input)) == input)
    }
}

@Test func everyInputRoundTrips() throws {
    let gcsInputs: [GCSInput] = [.started(RayConfig()), .recovered, .messageReceived(from: .raylet(NodeID(1)), .nodeDead(NodeID(2))),
                                 .timerFired(.healthCheckTimeout(NodeID(1), sequence: 3)), .timerFired(.broadcastView),
                                 .timerFired(.sendHealthCheck(NodeID(1))), .peerDisconnected(.gcs),
                                 .timerFired(.actorCreations(JobID(3))), .timerFired(.placementGroupCreations(JobID(4)))]
    try roundTrips(gcsInputs)
    let rayletInputs: [RayletInput] = [.started(RayConfig(), info), .messageReceived(from: .worker(worker), .pullObject(object)),
                                       .timerFired(.retryPull(object)), .timerFired(.reportResources), .workerStarted(worker),
                                       .workerExited(worker), .objectRestored(object), .peerDisconnected(.raylet(NodeID(3))),
                                       .peerConnected(.gcs), .prestartWorkers(count: 2, job: JobID(1)),
                                       .driverConnected(worker, job: JobID(4)), .timerFired(.leaseRequests(JobID(5))),
                                       .timerFired(.objectRequests(JobID(6)))]
    try roundTrips(rayletInputs)
    let request = TaskRequest(function: "g", instance: 1, args: [.value(bytesData)], resources: ResourceSet(),
                              strategy: .default, maxRetries: 0, retryExceptions: false, body: [])
    let ownerInputs: [OwnerInput] = [.started(RayConfig(), OwnerIdentity(worker: worker, job: JobID(3))), .submitTask(request),
                                     .put(data, node: nil), .put(data, node: NodeID(7)), .get(object), .release(object),
                                     .messageReceived(from: .gcs, .nodeDead(NodeID(1))), .peerDisconnected(.worker(worker)),
                                     .addReference(object), .cancel(object, force: true, recursive: true),
                                     .startedInWorker(RayConfig(), OwnerIdentity(worker: worker, job: JobID(2))),
                                     .taskStarted(TaskID(value: 5), attempt: 2), .lend([object, putObject], to: worker)]
    try roundTrips(ownerInputs)
    let executorInputs: [ExecutorInput] = [.started(RayConfig(), worker), .messageReceived(from: .worker(worker), .releaseFetch(requestID: 1)),
                                           .executionFinished(TaskID(value: 1), attempt: 2, .returned([data])),
                                           .executionFinished(TaskID(value: 1), attempt: 3, .applicationError("x")),
                                           .timerFired(.releaseBorrowed(owner: worker, objects: [object])),
                                           .bodyBlocked(TaskID(value: 1), attempt: 2), .bodyUnblocked(TaskID(value: 1), attempt: 2),
                                           .returnsHold(TaskID(value: 1), attempt: 2, objects: [object], returnIndices: [1])]
    try roundTrips(executorInputs)
}

@Test func anUnknownMessageTagIsAnError() throws {
    var bytes = try BinaryCoder.encode(Message.nodeDead(NodeID(1)))
    // The unkeyed container's count comes first, then the tag byte.
    bytes[1] = 250
    #expect(throws: (any Error).self) { try BinaryCoder.decode(Message.self, from: bytes) }
}

@Test func aConfigRoundTripsEveryField() throws {
    var config = RayConfig()
    config.healthCheckPeriodMicros = 7
    config.schedulerTopKPermille = 333
    config.markNodeDeadOnDisconnect = false
    config.seed = 99
    config.storeBytesPerJobSoftMax = 1 << 20
    config.storeBytesPerJobHardMax = 1 << 33
    config.placementGroupCreationsPerSecondMax = 17
    config.placementGroupCreationsDelayedMax = 19
    config.leaseRequestsPerSecondPerJobMax = 23
    config.leaseRequestsDelayedPerJobMax = 29
    config.leaseRequestsQueuedPerJobMax = 31
    config.objectRequestsPerSecondPerJobMax = 37
    config.objectRequestsDelayedPerJobMax = 41
    #expect(try RayConfig(proto: config.proto) == config)
}

@Test func aRecordWithNoCaseNamesItsType() throws {
    let bytes: [UInt8] = try PBMessage().serializedBytes()
    let error = try #require(throws: RecordError.self) { try Message(recordBytes: bytes) }
    #expect(error.path == "Message")
    #expect(error.description.contains("no case set"))
}

@Test func aMissingFieldNamesItsPath() throws {
    var proto = Message.pushTask(spec, attempt: 1, lease: lease, args: []).proto
    proto.pushTask.clearSpec()
    let error = try #require(throws: RecordError.self) { try Message(proto: proto) }
    #expect(error.path == "Message.push_task.spec")
    var nested = Message.pushTask(spec, attempt: 1, lease: lease, args: []).proto
    nested.pushTask.spec.clearOwner()
    #expect(throws: RecordError.self) { try Message(proto: nested) }
}

@Test func valuesThatCannotBeAreErrors() throws {
    var negative = Message.pushObject(object, data, owner: worker).proto
    negative.pushObject.data.sizeBytes = -1
    let sizeError = try #require(throws: RecordError.self) { try Message(proto: negative) }
    #expect(sizeError.description.contains("negative object size"))
    var kind = Message.objectLocation(object, .failed(error)).proto
    kind.objectLocation.answer.failed.kind = "NoSuchKind"
    #expect(throws: RecordError.self) { try Message(proto: kind) }
    var twice = Message.resourceReport(node: NodeID(1), available: .units(["CPU": 1])).proto
    twice.resourceReport.available.entries.append(twice.resourceReport.available.entries[0])
    let twiceError = try #require(throws: RecordError.self) { try Message(proto: twice) }
    #expect(twiceError.description.contains("given twice"))
}

@Test func garbageIsAnError() {
    #expect(throws: RecordError.self) { try Message(recordBytes: [0xFF, 0xFF, 0xFF]) }
    #expect(throws: RecordError.self) { try GCSInput(recordBytes: [0x0A, 0x05, 0x01]) }
}

@Test func fieldsFromANewerVersionAreSkipped() throws {
    // Schema evolution: a peer or log from a later version may carry fields this one does not know.
    let message = Message.healthCheck(sequence: 42)
    var bytes = try message.recordBytes()
    bytes += [0xC0, 0x3E, 0x07]  // field 1000, varint 7
    #expect(try Message(recordBytes: bytes) == message)
}

/// A received message's log record spliced from the frame's bytes (what hosts log, to skip a
/// decode-and-encode per message) is byte for byte the record of the decoded input, for every
/// message, every sender, and each input type with such a case.
@Test(arguments: everyMessage)
func aSplicedReceivedRecordIsTheEncodedOne(message: Message) throws {
    let messageBytes = ArraySlice(try message.recordBytes())
    for from in [Address.gcs, .raylet(NodeID(300)), .worker(worker)] {
        func check<Input: ReceivedRecord & Equatable>(_ input: Input) throws {
            var spliced = try LogRecord.received(Input.self, from: from, messageBytes: messageBytes)
            LogRecord.stamp(&spliced, at: 1_234_567)
            #expect(spliced == (try LogRecord.encode(input, at: 1_234_567)))
            let (decoded, time) = try LogRecord.decode(Input.self, spliced)
            #expect(decoded == input && time == 1_234_567)
        }
        try check(OwnerInput.messageReceived(from: from, message))
        try check(ExecutorInput.messageReceived(from: from, message))
        try check(RayletInput.messageReceived(from: from, message))
        try check(GCSInput.messageReceived(from: from, message))
    }
}
