// Encoding cost of one wire message: SwiftRay BinaryCoder vs swift-protobuf (tools/wire-bench/run.sh).
import Foundation
import RayCore
import SwiftProtobuf

func now() -> Double { Date().timeIntervalSinceReferenceDate }

let owner = WorkerID(node: NodeID(1), index: 1 << 30)
let spec = TaskSpec(taskID: TaskID(value: 0x1234_5678_9abc), jobID: JobID(65537), function: "bench.noop", instance: 0,
                    args: [.reference(ObjectID(task: TaskID(value: 99), index: 1)),
                           .value(ObjectData(sizeBytes: 64, digest: 0, bytes: [UInt8](repeating: 7, count: 64)))],
                    returnCount: 1, resources: ResourceSet(["CPU": 1000]), strategy: .default, maxRetries: 3,
                    retryExceptions: false, body: [], owner: owner)
let message = Message.pushTask(spec, attempt: 1, lease: LeaseID(owner: owner, index: 7),
                               args: [.object(ObjectID(task: TaskID(value: 99), index: 1)),
                                      .inline(ObjectData(sizeBytes: 64, digest: 0, bytes: [UInt8](repeating: 7, count: 64)))])
let reply = Message.taskReply(TaskID(value: 0x1234_5678_9abc), attempt: 1,
                              .returned([.inline(ObjectData(sizeBytes: 8, digest: 0, bytes: [1, 2, 3, 4, 5, 6, 7, 8]))]), borrowed: [])

var pbSpec = TaskSpecP()
pbSpec.taskID = 0x1234_5678_9abc; pbSpec.jobID = 65537; pbSpec.function = "bench.noop"; pbSpec.instance = 0
var a1 = TaskArgP(); var oid = ObjectIdP(); oid.task = 99; oid.index = 1; a1.reference = oid
var a2 = TaskArgP(); a2.value = Data(repeating: 7, count: 64)
pbSpec.args = [a1, a2]; pbSpec.returnCount = 1
var r = ResourceEntryP(); r.name = "CPU"; r.milli = 1000; pbSpec.resources = [r]
pbSpec.maxRetries = 3
var w = WorkerIdP(); w.node = 1; w.index = 1 << 30; pbSpec.owner = w
var push = PushTaskP(); push.spec = pbSpec; push.attempt = 1; push.leaseOwner = w; push.leaseIndex = 7
push.args = [Data([1, 2, 3]), Data(repeating: 7, count: 64)]
var pbReply = TaskReplyP(); pbReply.taskID = 0x1234_5678_9abc; pbReply.attempt = 1; pbReply.values = [Data([1, 2, 3, 4, 5, 6, 7, 8])]

let n = 200_000
func measure(_ name: String, _ body: () throws -> Int) rethrows {
    _ = try body()
    let start = now()
    var bytes = 0
    for _ in 0..<n { bytes &+= try body() }
    let elapsed = now() - start
    print(String(format: "%-34@ %7.2f µs/op  (%d bytes)", name as NSString, elapsed / Double(n) * 1e6, bytes / n))
}
try measure("BinaryCoder pushTask encode") { try BinaryCoder.encode(message).count }
let encoded = try BinaryCoder.encode(message)
try measure("BinaryCoder pushTask decode") { _ = try BinaryCoder.decode(Message.self, from: encoded); return encoded.count }
try measure("protobuf pushTask encode") { (try push.serializedBytes() as [UInt8]).count }
let pbBytes: [UInt8] = try push.serializedBytes()
try measure("protobuf pushTask decode") { _ = try PushTaskP(serializedBytes: pbBytes); return pbBytes.count }
try measure("BinaryCoder taskReply encode") { try BinaryCoder.encode(reply).count }
let encodedReply = try BinaryCoder.encode(reply)
try measure("BinaryCoder taskReply decode") { _ = try BinaryCoder.decode(Message.self, from: encodedReply); return encodedReply.count }
try measure("protobuf taskReply encode") { (try pbReply.serializedBytes() as [UInt8]).count }
let pbReplyBytes: [UInt8] = try pbReply.serializedBytes()
try measure("protobuf taskReply decode") { _ = try TaskReplyP(serializedBytes: pbReplyBytes); return pbReplyBytes.count }
