#!/usr/bin/env python3
"""Generates the compact Codable forms of the record schema:
Sources/RayCore/Common/Message+Codable.swift and Records+Codable.swift.

Each enum case is written as a one-byte tag then its associated values in
order; each struct as its fields in order. Tags are the schema: append new
cases at the END of a table, never reorder (old logs and traces must read).
After editing, run: python3 tools/gen-records.py && tools/record-traces.sh
"""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

MESSAGE = [
    ("registerNode", [("", "NodeInfo")]),
    ("healthCheck", [("sequence", "UInt64")]),
    ("healthCheckReply", [("sequence", "UInt64")]),
    ("resourceReport", [("node", "NodeID"), ("available", "ResourceSet")]),
    ("clusterView", [("", "[NodeView]")]),
    ("nodeDead", [("", "NodeID")]),
    ("registerJob", [("", "JobID"), ("driver", "WorkerID")]),
    ("jobFinished", [("", "JobID")]),
    ("workerDied", [("", "WorkerID")]),
    ("kvPut", [("key", "String"), ("value", "[UInt8]")]),
    ("kvGet", [("key", "String")]),
    ("kvValue", [("key", "String"), ("value", "[UInt8]?")]),
    ("requestWorkerLease", [("", "LeaseRequest")]),
    ("leaseGranted", [("", "LeaseID"), ("worker", "WorkerID")]),
    ("leaseSpillback", [("", "LeaseID"), ("to", "NodeID")]),
    ("leaseUnschedulable", [("", "LeaseID"), ("reason", "String")]),
    ("returnWorker", [("", "LeaseID"), ("killWorker", "Bool")]),
    ("pushTask", [("", "TaskSpec"), ("attempt", "Int"), ("lease", "LeaseID"), ("args", "[ResolvedArg]")]),
    ("taskReply", [("", "TaskID"), ("attempt", "Int"), ("", "TaskOutcome"), ("borrowed", "[ObjectID]")]),
    ("borrowReleased", [("", "ObjectID"), ("borrower", "WorkerID")]),
    ("fetchObjects", [("requestID", "UInt64"), ("objects", "[ObjectID]"), ("owner", "WorkerID")]),
    ("objectsReady", [("requestID", "UInt64"), ("values", "[ObjectValue]")]),
    ("releaseFetch", [("requestID", "UInt64")]),
    ("storeObjects", [("requestID", "UInt64"), ("objects", "[ObjectID]"), ("values", "[ObjectData]"), ("owner", "WorkerID")]),
    ("objectsStored", [("requestID", "UInt64")]),
    ("locateObject", [("", "ObjectID")]),
    ("objectLocation", [("", "ObjectID"), ("", "LocationAnswer")]),
    ("locationAdded", [("", "ObjectID"), ("node", "NodeID")]),
    ("locationRemoved", [("", "ObjectID"), ("node", "NodeID")]),
    ("freeObject", [("", "ObjectID")]),
    ("pinObject", [("", "ObjectID")]),
    ("pullObject", [("", "ObjectID")]),
    ("pushObject", [("", "ObjectID"), ("", "ObjectData"), ("owner", "WorkerID")]),
    ("objectMissing", [("", "ObjectID")]),
    ("cancelWorkerLease", [("", "LeaseID")]),
]

INPUTS = [
    ("GCSInput", [("started", [("", "RayConfig")]), ("recovered", []),
                  ("messageReceived", [("from", "Address"), ("", "Message")]),
                  ("timerFired", [("", "GCSTimer")]), ("peerDisconnected", [("", "Address")])]),
    ("RayletInput", [("started", [("", "RayConfig"), ("", "NodeInfo")]),
                     ("messageReceived", [("from", "Address"), ("", "Message")]),
                     ("timerFired", [("", "RayletTimer")]), ("workerStarted", [("", "WorkerID")]),
                     ("workerExited", [("", "WorkerID")]), ("objectRestored", [("", "ObjectID")]),
                     ("peerDisconnected", [("", "Address")]), ("peerConnected", [("", "Address")]),
                     ("prestartWorkers", [("count", "Int")])]),
    ("OwnerInput", [("started", [("", "RayConfig"), ("", "OwnerIdentity")]), ("submitTask", [("", "TaskRequest")]),
                    ("put", [("", "ObjectData"), ("node", "NodeID?")]), ("get", [("", "ObjectID")]),
                    ("release", [("", "ObjectID")]), ("messageReceived", [("from", "Address"), ("", "Message")]),
                    ("peerDisconnected", [("", "Address")]), ("addReference", [("", "ObjectID")]),
                    ("cancel", [("", "ObjectID"), ("force", "Bool")])]),
    ("ExecutorInput", [("started", [("", "RayConfig"), ("", "WorkerID")]),
                       ("messageReceived", [("from", "Address"), ("", "Message")]),
                       ("executionFinished", [("", "TaskID"), ("attempt", "Int"), ("", "ExecutionResult")]),
                       ("timerFired", [("", "ExecutorTimer")])]),
]

STRUCTS = [
    ("TaskSpec", [("taskID", "TaskID"), ("jobID", "JobID"), ("function", "String"), ("instance", "Int"),
                  ("args", "[TaskArg]"), ("returnCount", "Int"), ("resources", "ResourceSet"),
                  ("strategy", "SchedulingStrategy"), ("maxRetries", "Int"), ("retryExceptions", "Bool"),
                  ("body", "[Int64]"), ("owner", "WorkerID")]),
    ("LeaseRequest", [("leaseID", "LeaseID"), ("taskID", "TaskID"), ("resources", "ResourceSet"),
                      ("strategy", "SchedulingStrategy"), ("spillbackCount", "Int"), ("dependencies", "[ObjectID]")]),
    ("TaskRequest", [("function", "String"), ("instance", "Int"), ("args", "[TaskArg]"), ("resources", "ResourceSet"),
                     ("strategy", "SchedulingStrategy"), ("maxRetries", "Int"), ("retryExceptions", "Bool"),
                     ("body", "[Int64]")]),
]

ENUMS = [
    ("SchedulingStrategy", [("default", []), ("spread", []), ("nodeAffinity", [("node", "NodeID"), ("soft", "Bool")])]),
    ("TaskArg", [("reference", [("", "ObjectID")]), ("value", [("", "ObjectData")]), ("nestedReference", [("", "ObjectID")])]),
    ("ResolvedArg", [("inline", [("", "ObjectData")]), ("object", [("", "ObjectID")]), ("borrowed", [("", "ObjectID")])]),
    ("ReturnValue", [("inline", [("", "ObjectData")]), ("stored", [("node", "NodeID"), ("sizeBytes", "Int64")])]),
    ("TaskOutcome", [("returned", [("", "[ReturnValue]")]), ("applicationError", [("", "String")]),
                     ("argumentFailed", [("", "RayError")])]),
    ("ObjectValue", [("data", [("", "ObjectData")]), ("error", [("", "RayError")])]),
    ("LocationAnswer", [("at", [("", "[NodeID]")]), ("failed", [("", "RayError")]), ("freed", [])]),
    ("ExecutionResult", [("returned", [("", "[ObjectData]")]), ("applicationError", [("", "String")])]),
]


def decode_expression(type_name):
    if type_name.endswith("?"):
        return f"try container.decode(Optional<{type_name[:-1]}>.self)"
    return f"try container.decode({type_name}.self)"


def gen_enum(type_name, cases):
    out = [f"extension {type_name} {{",
           "    public func encode(to encoder: any Encoder) throws {",
           "        var container = encoder.unkeyedContainer()",
           "        switch self {"]
    for tag, (name, fields) in enumerate(cases):
        binds = ", ".join(f"let v{i}" for i in range(len(fields)))
        out.append(f"        case .{name}({binds}):" if fields else f"        case .{name}:")
        out.append(f"            try container.encode(UInt8({tag}))")
        out += [f"            try container.encode(v{i})" for i in range(len(fields))]
    out += ["        }", "    }", "",
            "    public init(from decoder: any Decoder) throws {",
            "        var container = try decoder.unkeyedContainer()",
            "        let tag = try container.decode(UInt8.self)",
            "        switch tag {"]
    for tag, (name, fields) in enumerate(cases):
        out.append(f"        case {tag}:")
        args = [(f"{label}: " if label else "") + decode_expression(t) for label, t in fields]
        out.append(f"            self = .{name}({', '.join(args)})" if fields else f"            self = .{name}")
    out += ["        default:",
            "            throw DecodingError.dataCorrupted(DecodingError.Context(",
            f"                codingPath: decoder.codingPath, debugDescription: \"unknown {type_name} tag \\(tag)\"))",
            "        }", "    }", "}"]
    return "\n".join(out)


def gen_struct(type_name, fields):
    out = [f"extension {type_name} {{",
           "    public func encode(to encoder: any Encoder) throws {",
           "        var container = encoder.unkeyedContainer()"]
    out += [f"        try container.encode({name})" for name, _ in fields]
    out += ["    }", "",
            "    public init(from decoder: any Decoder) throws {",
            "        var container = try decoder.unkeyedContainer()"]
    out += [f"        let {name} = {decode_expression(t)}" for name, t in fields]
    out.append(f"        self.init({', '.join(f'{name}: {name}' for name, _ in fields)})")
    out += ["    }", "}"]
    return "\n".join(out)


HEADER_MESSAGE = """// GENERATED by tools/gen-records.py — edit the tables there, not this file.
// Compact Codable forms for the wire messages and the components' inputs —
// the records every event log holds: a one-byte case tag, then the associated
// values in order (instead of a keyed container per case with its labels as
// strings). The tags are the record schema: append new cases at the end, never
// reorder (old logs and traces must still read); changing a case's values
// breaks old logs (re-record traces with tools/record-traces.sh).
"""

HEADER_RECORDS = """// GENERATED by tools/gen-records.py — edit the tables there, not this file.
// Compact Codable forms for the values inside messages and inputs (task
// specs, lease requests, arguments, results): fields or a case tag and values
// in order, no keys. Part of the record schema — see Message+Codable.swift.
"""

if __name__ == "__main__":
    common = os.path.join(ROOT, "Sources", "RayCore", "Common")
    body = HEADER_MESSAGE + "\n" + gen_enum("Message", MESSAGE) + "\n"
    for type_name, cases in INPUTS:
        body += "\n" + gen_enum(type_name, cases) + "\n"
    with open(os.path.join(common, "Message+Codable.swift"), "w") as file:
        file.write(body)
    parts = [gen_struct(t, f) for t, f in STRUCTS] + [gen_enum(t, c) for t, c in ENUMS]
    with open(os.path.join(common, "Records+Codable.swift"), "w") as file:
        file.write(HEADER_RECORDS + "\n" + "\n\n".join(parts) + "\n")
