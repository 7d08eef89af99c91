// Cost of one wire message / log record, value to bytes and back: protobuf
// through RayWire (what frames and event logs use: conversion to the generated
// messages included) against BinaryCoder (the compact Codable forms, which the
// effects journals and trace files use). tools/wire-bench/run.sh.
import Foundation
import RayCore
import RayWire

func now() -> Double { Date().timeIntervalSinceReferenceDate }

let owner = WorkerID(node: NodeID(1), index: 1 << 30)
let spec = TaskSpec(taskID: TaskID(value: 0x1234_5678_9abc), jobID: JobID(65537), function: "bench.noop", instance: 0,
                    args: [.reference(ObjectID(task: TaskID(value: 99), index: 1)),
                           .value(ObjectData(sizeBytes: 64, digest: 0, bytes: [UInt8](repeating: 7, count: 64)))],
                    returnCount: 1, resources: ResourceSet(["CPU": 1000]), strategy: .default, maxRetries: 3,
                    retryExceptions: false, body: [], owner: owner)
let push = RayCore.Message.pushTask(spec, attempt: 1, lease: LeaseID(owner: owner, index: 7),
                                    args: [.object(ObjectID(task: TaskID(value: 99), index: 1)),
                                           .inline(ObjectData(sizeBytes: 64, digest: 0, bytes: [UInt8](repeating: 7, count: 64)))])
let reply = RayCore.Message.taskReply(TaskID(value: 0x1234_5678_9abc), attempt: 1,
                                      .returned([.inline(ObjectData(sizeBytes: 8, digest: 0, bytes: [1, 2, 3, 4, 5, 6, 7, 8]))]),
                                      borrowed: [])
let input = OwnerInput.messageReceived(from: .worker(WorkerID(node: NodeID(1), index: 3)), reply)

let n = 200_000
func measure(_ name: String, _ body: () throws -> Int) rethrows {
    _ = try body()
    let start = now()
    var bytes = 0
    for _ in 0..<n { bytes &+= try body() }
    let elapsed = now() - start
    print(String(format: "%-40@ %7.2f µs/op  (%d bytes)", name as NSString, elapsed / Double(n) * 1e6, bytes / n))
}

for (name, message) in [("pushTask", push), ("taskReply", reply)] {
    try measure("protobuf \(name) encode") { try message.recordBytes().count }
    let pb = try message.recordBytes()
    try measure("protobuf \(name) decode") { _ = try RayCore.Message(recordBytes: pb); return pb.count }
    try measure("BinaryCoder \(name) encode") { try BinaryCoder.encode(message).count }
    let binary = try BinaryCoder.encode(message)
    try measure("BinaryCoder \(name) decode") { _ = try BinaryCoder.decode(RayCore.Message.self, from: binary); return binary.count }
}
try measure("protobuf owner input (log record) encode") { try input.recordBytes().count }
try measure("BinaryCoder owner input encode") { try BinaryCoder.encode(input).count }
// Where the time goes (TEMP)
let pushProto = push.proto
try measure("  pushTask value→proto") { _ = push.proto; return 0 }
try measure("  pushTask proto→bytes") { (try pushProto.serializedBytes() as [UInt8]).count }
let pushBytes: [UInt8] = try pushProto.serializedBytes()
try measure("  pushTask bytes→proto") { _ = try PBMessage(serializedBytes: pushBytes); return 0 }
try measure("  pushTask proto→value") { _ = try RayCore.Message(proto: pushProto); return 0 }
let replyProto = reply.proto
try measure("  taskReply value→proto") { _ = reply.proto; return 0 }
try measure("  taskReply proto→bytes") { (try replyProto.serializedBytes() as [UInt8]).count }
