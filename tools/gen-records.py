#!/usr/bin/env python3
"""Generates the record schema from the tables below:
- Sources/RayWire/swiftray.proto and Records+Proto.swift: the protobuf schema of
  every wire message and logged input, and the conversions to RayCore values
  (then run tools/gen-wire.sh to regenerate swiftray.pb.swift);
- Sources/RayCore/Common/Message+Codable.swift and Records+Codable.swift: compact
  Codable forms (the effects journals and trace files use them).

Each enum case is written as a one-byte tag then its associated values in
order; each struct as its fields in order. Tags are the schema: append new
cases at the END of a table, never reorder (old logs and traces must read).
After editing, run: python3 tools/gen-records.py && tools/record-traces.sh
"""
import os
import re

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
    ("driverExited", [("", "JobID"), ("exitCode", "Int"), ("signal", "Int")]),
    ("workerBlocked", [("", "WorkerID")]),
    ("workerUnblocked", [("", "WorkerID")]),
    ("cancelChildren", [("", "TaskID"), ("attempt", "Int"), ("force", "Bool")]),
    ("returnedReferences", [("", "TaskID"), ("attempt", "Int"), ("objects", "[ObjectID]"), ("returnIndices", "[Int]")]),
    ("borrowerGet", [("", "ObjectID")]),
    ("ownedValue", [("", "ObjectID"), ("", "ObjectValue")]),
    ("registerActor", [("", "ActorSpec")]),
    ("createActor", [("", "ActorSpec"), ("incarnation", "Int")]),
    ("actorCreated", [("", "ActorID"), ("incarnation", "Int"), ("worker", "WorkerID"), ("failure", "String")]),
    ("actorPlacementFailed", [("", "ActorID"), ("incarnation", "Int"), ("reason", "String")]),
    ("actorWorkerDied", [("", "ActorID"), ("incarnation", "Int"), ("detail", "String")]),
    ("killActor", [("", "ActorID"), ("noRestart", "Bool"), ("reason", "String")]),
    ("killActorWorker", [("", "ActorID"), ("incarnation", "Int")]),
    ("actorUpdate", [("", "ActorInfo")]),
    ("subscribeActor", [("", "ActorID")]),
    ("pushActorTask", [("", "TaskSpec"), ("attempt", "Int"), ("", "ActorID"), ("incarnation", "Int"),
                       ("sequence", "UInt64"), ("skipBelow", "UInt64"), ("args", "[ResolvedArg]")]),
    ("lookupActor", [("name", "String"), ("namespace", "String")]),
    ("actorFound", [("name", "String"), ("namespace", "String"), ("", "ActorInfo")]),
    ("actorNotFound", [("name", "String"), ("namespace", "String")]),
    ("ownsActors", [("", "WorkerID")]),
    ("actorDependenciesReady", [("", "ActorSpec")]),
    ("createPlacementGroup", [("", "PlacementGroupSpec")]),
    ("removePlacementGroup", [("", "PlacementGroupID")]),
    ("prepareBundles", [("", "PlacementGroupID"), ("round", "UInt64"), ("bundles", "[BundleSpec]"), ("keep", "[Int]")]),
    ("bundlesPrepared", [("", "PlacementGroupID"), ("round", "UInt64"), ("failure", "String")]),
    ("commitBundles", [("", "PlacementGroupID"), ("round", "UInt64")]),
    ("bundlesCommitted", [("", "PlacementGroupID"), ("round", "UInt64"), ("failure", "String")]),
    ("cancelBundles", [("", "PlacementGroupID"), ("round", "UInt64")]),
    ("placementGroupUpdate", [("", "PlacementGroupInfo")]),
    ("bundlesHeld", [("", "[BundleHold]")]),
    ("yieldLease", [("", "LeaseID")]),
    ("objectsRefused", [("requestID", "UInt64"), ("objects", "[ObjectID]"), ("", "RayError")]),
    ("leaseRefused", [("", "LeaseID"), ("", "RayError")]),
    ("storeRemoteObjects", [("requestID", "UInt64"), ("objects", "[ObjectID]"), ("values", "[ObjectData]"),
                            ("owner", "WorkerID"), ("job", "JobID")]),
]

INPUTS = [
    ("GCSInput", [("started", [("", "RayConfig")]), ("recovered", []),
                  ("messageReceived", [("from", "Address"), ("", "Message")]),
                  ("timerFired", [("", "GCSTimer")]), ("peerDisconnected", [("", "Address")]),
                  ("nodeJoining", [("known", "NodeID?")])]),
    ("RayletInput", [("started", [("", "RayConfig"), ("", "NodeInfo")]),
                     ("messageReceived", [("from", "Address"), ("", "Message")]),
                     ("timerFired", [("", "RayletTimer")]), ("workerStarted", [("", "WorkerID")]),
                     ("workerExited", [("", "WorkerID")]), ("objectRestored", [("", "ObjectID")]),
                     ("peerDisconnected", [("", "Address")]), ("peerConnected", [("", "Address")]),
                     ("prestartWorkers", [("count", "Int"), ("job", "JobID")]),
                     ("programPublished", [("", "JobID"), ("program", "String")]),
                     ("objectRestoreFailed", [("", "ObjectID"), ("reason", "String")]),
                     ("driverConnected", [("", "WorkerID"), ("job", "JobID")])]),
    ("OwnerInput", [("started", [("", "RayConfig"), ("", "OwnerIdentity")]), ("submitTask", [("", "TaskRequest")]),
                    ("put", [("", "ObjectData"), ("node", "NodeID?")]), ("get", [("", "ObjectID")]),
                    ("release", [("", "ObjectID")]), ("messageReceived", [("from", "Address"), ("", "Message")]),
                    ("peerDisconnected", [("", "Address")]), ("addReference", [("", "ObjectID")]),
                    ("cancel", [("", "ObjectID"), ("force", "Bool"), ("recursive", "Bool")]),
                    ("workerDied", [("", "WorkerID"), ("detail", "String")]),
                    ("startedInWorker", [("", "RayConfig"), ("", "OwnerIdentity")]),
                    ("taskStarted", [("", "TaskID"), ("attempt", "Int")]),
                    ("lend", [("", "[ObjectID]"), ("to", "WorkerID")]),
                    ("createActor", [("", "TaskRequest"), ("", "ActorOptions")]),
                    ("callActor", [("", "ActorID"), ("", "TaskRequest")]),
                    ("killActor", [("", "ActorID"), ("noRestart", "Bool")]),
                    ("subscribeActor", [("", "ActorID")]),
                    ("lookupActor", [("name", "String"), ("namespace", "String")]),
                    ("borrowArgument", [("", "ObjectID"), ("owner", "WorkerID")]),
                    ("createPlacementGroup", [("bundles", "[ResourceSet]"), ("strategy", "PlacementStrategy"),
                                              ("name", "String"), ("detached", "Bool")]),
                    ("removePlacementGroup", [("", "PlacementGroupID")]),
                    ("placementGroupReady", [("", "PlacementGroupID"), ("value", "ObjectData")]),
                    ("holdReferences", [("", "ObjectID"), ("held", "[ObjectID]")]),
                    ("taskStartedFor", [("", "TaskID"), ("attempt", "Int"), ("owner", "WorkerID")])]),
    ("ExecutorInput", [("started", [("", "RayConfig"), ("", "WorkerID")]),
                       ("messageReceived", [("from", "Address"), ("", "Message")]),
                       ("executionFinished", [("", "TaskID"), ("attempt", "Int"), ("", "ExecutionResult")]),
                       ("timerFired", [("", "ExecutorTimer")]),
                       ("bodyBlocked", [("", "TaskID"), ("attempt", "Int")]),
                       ("bodyUnblocked", [("", "TaskID"), ("attempt", "Int")]),
                       ("returnsHold", [("", "TaskID"), ("attempt", "Int"), ("objects", "[ObjectID]"),
                                        ("returnIndices", "[Int]")]),
                       ("argumentsBorrowed", [("", "TaskID"), ("attempt", "Int"), ("objects", "[ObjectID]")])]),
]

STRUCTS = [
    ("TaskSpec", [("taskID", "TaskID"), ("jobID", "JobID"), ("function", "String"), ("instance", "Int"),
                  ("args", "[TaskArg]"), ("returnCount", "Int"), ("resources", "ResourceSet"),
                  ("strategy", "SchedulingStrategy"), ("maxRetries", "Int"), ("retryExceptions", "Bool"),
                  ("body", "[Int64]"), ("owner", "WorkerID")]),
    ("LeaseRequest", [("leaseID", "LeaseID"), ("taskID", "TaskID"), ("resources", "ResourceSet"),
                      ("strategy", "SchedulingStrategy"), ("spillbackCount", "Int"), ("dependencies", "[ObjectID]"),
                      ("jobID", "JobID")]),
    ("TaskRequest", [("function", "String"), ("instance", "Int"), ("args", "[TaskArg]"), ("resources", "ResourceSet"),
                     ("strategy", "SchedulingStrategy"), ("maxRetries", "Int"), ("retryExceptions", "Bool"),
                     ("body", "[Int64]"), ("returnCount", "Int")]),
    ("ActorOptions", [("maxRestarts", "Int"), ("maxTaskRetries", "Int"), ("maxConcurrency", "Int"), ("name", "String"),
                      ("namespace", "String"), ("detached", "Bool")]),
    ("ActorSpec", [("creation", "TaskSpec"), ("options", "ActorOptions"), ("dependenciesReady", "Bool")]),
    ("ActorInfo", [("actorID", "ActorID"), ("state", "ActorState"), ("worker", "WorkerID"), ("incarnation", "Int"),
                   ("cause", "String"), ("maxTaskRetries", "Int"), ("name", "String"), ("causeKind", "String")]),
    ("BundleSpec", [("index", "Int"), ("resources", "ResourceSet")]),
    ("BundleHold", [("group", "PlacementGroupID"), ("index", "Int"), ("round", "UInt64"), ("committed", "Bool")]),
    ("PlacementGroupSpec", [("id", "PlacementGroupID"), ("bundles", "[ResourceSet]"), ("strategy", "PlacementStrategy"),
                            ("owner", "WorkerID"), ("name", "String"), ("detached", "Bool"), ("job", "JobID")]),
    ("PlacementGroupInfo", [("id", "PlacementGroupID"), ("state", "PlacementGroupState"), ("nodes", "[NodeID]"),
                            ("cause", "String"), ("name", "String"), ("causeKind", "String")]),
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
    ("ActorState", [("dependenciesUnready", []), ("pendingCreation", []), ("alive", []), ("restarting", []),
                    ("dead", [])]),
    ("PlacementStrategy", [("pack", []), ("spread", []), ("strictPack", []), ("strictSpread", [])]),
    ("PlacementGroupState", [("pending", []), ("created", []), ("rescheduling", []), ("removed", [])]),
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


# ---------------------------------------------------------------------------
# The protobuf schema (Sources/RayWire/swiftray.proto) and the conversions
# between RayCore values and the generated messages (Records+Proto.swift).
# Field numbers are positions in the tables above (+1): the same append-only
# rule keeps old logs readable and lets peers add fields.

# Values that appear only inside proto records (not in the Codable tables).
PROTO_STRUCTS = [
    ("NodeInfo", [("nodeID", "NodeID"), ("name", "String"), ("resources", "ResourceSet"),
                  ("objectStoreBytes", "Int64")]),
    ("NodeView", [("nodeID", "NodeID"), ("total", "ResourceSet"), ("available", "ResourceSet")]),
    ("OwnerIdentity", [("worker", "WorkerID"), ("job", "JobID"), ("idKey", "UInt64")]),
]
# Structs with a no-argument init whose fields are assigned one by one.
PROTO_ASSIGNED = [
    ("RayConfig", [("healthCheckInitialDelayMicros", "Int64"), ("healthCheckPeriodMicros", "Int64"),
                   ("healthCheckTimeoutMicros", "Int64"), ("healthCheckFailureThreshold", "Int"),
                   ("markNodeDeadOnDisconnect", "Bool"), ("resourceReportPeriodMicros", "Int64"),
                   ("schedulerSpreadThresholdPermille", "Int64"), ("schedulerTopKPermille", "Int64"),
                   ("inlineObjectSizeBytesMax", "Int64"), ("objectSpillingThresholdPermille", "Int64"),
                   ("pullRetryDelayMicros", "Int64"), ("spillbackCountMax", "Int"), ("lineageBytesMax", "Int64"),
                   ("seed", "UInt64"), ("leaseRequestsPerShapeMax", "Int"), ("actorsPerJobSoftMax", "Int"),
                   ("actorsPerJobHardMax", "Int"), ("actorCreationsPerSecondMax", "Int"),
                   ("actorCreationsDelayedMax", "Int"), ("objectSizeBytesMax", "Int64"),
                   ("ownedObjectsSoftMax", "Int"), ("ownedObjectsHardMax", "Int"),
                   ("leaseRequestsPerOwnerMax", "Int"), ("placementGroupsPerJobSoftMax", "Int"),
                   ("placementGroupsPerJobHardMax", "Int"), ("workersPerJobMax", "Int"),
                   ("storeBytesPerJobSoftMax", "Int64"), ("storeBytesPerJobHardMax", "Int64"),
                   ("placementGroupCreationsPerSecondMax", "Int"), ("placementGroupCreationsDelayedMax", "Int"),
                   ("leaseRequestsPerSecondPerJobMax", "Int"), ("leaseRequestsDelayedPerJobMax", "Int"),
                   ("leaseRequestsQueuedPerJobMax", "Int"), ("objectRequestsPerSecondPerJobMax", "Int"),
                   ("objectRequestsDelayedPerJobMax", "Int")]),
]
PROTO_ENUMS = [
    ("GCSTimer", [("sendHealthCheck", [("", "NodeID")]), ("healthCheckTimeout", [("", "NodeID"), ("sequence", "UInt64")]),
                  ("broadcastView", []), ("unknownActor", [("", "ActorID")]),
                  ("bundleRound", [("", "PlacementGroupID"), ("round", "UInt64")]), ("retryPlacementGroups", []),
                  ("actorCreations", [("", "JobID")]), ("placementGroupCreations", [("", "JobID")])]),
    ("RayletTimer", [("reportResources", []), ("retryPull", [("", "ObjectID")]),
                     ("preparedExpired", [("", "PlacementGroupID"), ("round", "UInt64")]),
                     ("leaseRequests", [("", "JobID")]), ("objectRequests", [("", "JobID")])]),
    ("ExecutorTimer", [("releaseBorrowed", [("owner", "WorkerID"), ("objects", "[ObjectID]")])]),
]

# Hand-written messages (conversions in Sources/RayWire/Values+Proto.swift).
PROTO_HAND = """
// A worker process: its node and a per-node counter.
message WorkerId {
  uint32 node = 1;
  uint32 index = 2;
}

// An object: the task that created it and an index (bit 31 set: a put).
message ObjectId {
  fixed64 task = 1;
  uint32 index = 2;
}

// A worker lease: an owner-chosen counter.
message LeaseId {
  WorkerId owner = 1;
  uint64 index = 2;
}

// Where a message goes.
message Address {
  message Gcs {}
  oneof kind {
    Gcs gcs = 1;
    uint32 raylet = 2;
    WorkerId worker = 3;
  }
}

// Named quantities in milli-units (CPU: 1 is 1000), names unique.
message ResourceSet {
  message Entry {
    string name = 1;
    sint64 milli = 2;
  }
  repeated Entry entries = 1;
}

// An object's data: size, content digest, and the bytes a real program produced.
message ObjectData {
  sint64 size_bytes = 1;
  fixed64 digest = 2;
  optional bytes bytes = 3;
}

// An error stored in place of an object; kind is a RayErrorKind raw value
// (WorkerCrashed, TaskFailed, ObjectLost, OwnerDied, ...).
message RayError {
  string kind = 1;
  string message = 2;
}

// The first frame on every connection (after the SWRY magic and protocol version).
message Hello {
  string role = 1;  // gcs, raylet, worker, driver, client
  optional uint32 node = 2;
  WorkerId worker = 3;
  optional uint32 job = 4;
  optional string host = 5;
  optional sint64 port = 6;
  optional string name = 7;
  ResourceSet resources = 8;
  optional sint64 object_store_bytes = 9;
  optional string executable = 10;
  RayConfig config = 11;
  optional string session = 12;
}

// Where each alive node's raylet listens (GCS to raylets).
message Directory {
  message Entry {
    uint32 node = 1;
    string host = 2;
    sint64 port = 3;
    string name = 4;
  }
  repeated Entry entries = 1;
  optional string executable = 2;
}

// What the swiftray CLI and `swiftray up` ask a GCS, a raylet or a driver (a control frame).
// A process answers each request it serves with its reply, and any other (one it does not
// serve, or a newer build's it does not know) with ControlReply.error naming the request.
message ControlRequest {
  message None {}
  oneof request {
    None cluster_status = 1;  // GCS: every node and job
    None raylets = 2;         // GCS: where each connected raylet listens
    None ping = 3;            // GCS
    None node_status = 4;     // raylet: its node's resources, store and workers
    None view = 5;            // raylet: the node IDs it knows alive
    None idle_workers = 6;    // raylet
    None quiescence = 7;      // raylet: what it still holds
    None metrics = 8;         // raylet: its counters
    None list_objects = 9;    // raylet: its store's objects
    WorkerId worker_pid = 10; // raylet: one of its workers' process ID
    None list_tasks = 11;     // raylet: its drivers' tasks (relayed); driver: its own
    None refusals = 12;       // GCS or raylet: connections it refused (authentication, limits)
  }
}

// The answer to a ControlRequest (a controlReply frame).
message ControlReply {
  message NodeEntry {
    uint32 node = 1;
    string name = 2;
    bool alive = 3;
    bool connected = 4;
    optional string address = 5;
    ResourceSet resources = 6;
    ResourceSet available = 7;
    sint64 store_bytes = 8;
  }
  message JobEntry {
    uint32 job = 1;
    WorkerId driver = 2;
    string state = 3;
    optional string end = 4;
    sint64 ran_micros = 5;  // how long it ran (so far, when running)
  }
  message ActorEntry {
    fixed64 actor = 1;
    string name = 2;           // Counter[0]
    string state = 3;          // ALIVE, RESTARTING, DEAD, ...
    optional uint32 node = 4;  // where it runs (or was placed)
    sint64 restarts = 5;
    string cause = 6;          // why it died, restarted, or waits
    string registered_name = 7;
    string namespace = 8;
    bool detached = 9;
  }
  message PlacementGroupEntry {
    fixed64 id = 1;
    string name = 2;
    string strategy = 3;             // PACK, SPREAD, STRICT_PACK, STRICT_SPREAD
    string state = 4;                // PENDING, CREATED, RESCHEDULING, REMOVED
    repeated ResourceSet bundles = 5;
    repeated uint32 nodes = 6;       // per bundle; 0: not reserved now
    string cause = 7;                // why pending (infeasible / waiting) or removed
    bool detached = 8;
    WorkerId owner = 9;
  }
  message Cluster {
    repeated NodeEntry nodes = 1;
    repeated JobEntry jobs = 2;
    repeated ActorEntry actors = 3;
    repeated PlacementGroupEntry placement_groups = 4;
  }
  message Raylets {
    repeated Directory.Entry raylets = 1;
  }
  message NodeStatus {
    uint32 node = 1;
    string name = 2;
    ResourceSet resources = 3;
    ResourceSet available = 4;
    sint64 used_bytes = 5;
    sint64 capacity_bytes = 6;
    sint64 object_count = 7;
    sint64 spilled_bytes = 8;
    sint64 workers = 9;
    sint64 leases = 10;
    sint64 queued = 11;
    sint64 auth_refusals = 12;  // connections refused for authentication since the raylet started
    sint64 limit_refusals = 13;  // connections refused over the connection limits
    sint64 leases_asked_back = 14;  // leases asked back for a waiting job (fair share)
    sint64 throttled = 15;  // times a connection stopped reading at its peer's rate limit
    string cpu_shares = 16;  // per-job CPU shares of its workers: "on (...)" or "off (why)"
    sint64 forged = 17;  // messages dropped because their sender may not send them
    sint64 stores_refused = 18;  // stores refused at a job's hard quota of bytes in the store
    sint64 stores_over_soft_quota = 19;  // stores counted past a job's soft quota
    sint64 lease_requests_delayed = 20;  // lease requests held back at a job's request rate
    sint64 lease_requests_refused = 21;  // lease requests refused past a job's delayed bound
    sint64 object_requests_delayed = 22;  // fetches and stores held back at a job's object-request rate
    sint64 object_requests_refused = 23;  // fetches and stores refused past a job's delayed bound
    sint64 stores_given_up = 24;  // object stores the raylet gave up (region damaged, or its lock held)
    sint64 copies_on_disk = 25;  // objects crossing jobs copied to disk: the copies in memory had reached the store's capacity
  }
  message View {
    repeated uint32 nodes = 1;
  }
  message Quiescence {
    optional string held = 1;  // absent: holds nothing
  }
  message Metrics {
    sint64 spilled = 1;
    sint64 restored = 2;
    sint64 spillbacks = 3;
    sint64 evicted = 4;
    sint64 pulled = 5;
    sint64 leases = 6;
    sint64 asked_back = 7;  // leases asked back from a job holding more than a waiting job (fair share)
  }
  message StoredObject {
    ObjectId object = 1;
    sint64 size_bytes = 2;
    WorkerId owner = 3;
    bool primary = 4;
    bool spilled = 5;
    sint64 pins = 6;
  }
  message Objects {
    uint32 node = 1;
    repeated StoredObject objects = 2;
  }
  message WorkerPid {
    optional sint64 pid = 1;  // absent: no such worker process
  }
  message TaskLine {
    fixed64 task = 1;
    string function = 2;
    sint64 instance = 3;
    string state = 4;
    sint64 attempts = 5;
  }
  message DriverTasks {
    WorkerId driver = 1;
    uint32 job = 2;
    bool answered = 3;
    sint64 submitted = 4;
    sint64 attempts = 5;
    sint64 retries = 6;
    sint64 reconstructions = 7;
    sint64 failed = 8;
    repeated TaskLine tasks = 9;
  }
  message Tasks {
    uint32 node = 1;
    string name = 2;
    repeated DriverTasks drivers = 3;
  }
  message Error {
    string request = 1;
    string message = 2;
  }
  message Refusals {
    sint64 unauthenticated = 1;
    sint64 over_limit = 2;
    sint64 actors_over_quota = 3;       // GCS: actor creations refused over a job's hard quota
    sint64 actors_over_soft_quota = 4;  // GCS: creations accepted past a job's soft quota
    sint64 throttled = 5;  // times a connection stopped reading at its peer's rate limit
    sint64 actors_delayed = 6;  // GCS: creations held back at a job's creation rate limit
    sint64 groups_over_quota = 7;       // GCS: placement groups refused over a job's hard quota
    sint64 groups_over_soft_quota = 8;  // GCS: placement groups accepted past a job's soft quota
    sint64 forged = 9;  // GCS: messages dropped because their sender may not send them
    sint64 early_subscriptions_refused = 10;  // GCS: subscriptions to unknown actors answered at once past the bound
    sint64 groups_delayed = 11;  // GCS: placement-group creations held back at a job's creation rate limit
  }
  oneof reply {
    Cluster cluster = 1;
    Raylets raylets = 2;
    bool pong = 3;
    NodeStatus node_status = 4;
    View view = 5;
    sint64 idle_workers = 6;
    Quiescence quiescence = 7;
    Metrics metrics = 8;
    Objects objects = 9;
    WorkerPid worker_pid = 10;
    Tasks tasks = 11;
    DriverTasks driver_tasks = 12;
    Error error = 13;
    Refusals refusals = 14;
  }
}
"""

SCALARS = {  # swift type: (proto type, encode format, decode format)
    "UInt64": ("uint64", "{}", "{}"),
    "UInt32": ("uint32", "{}", "{}"),
    "Int": ("sint64", "Int64({})", "Int(truncatingIfNeeded: {})"),
    "Int64": ("sint64", "{}", "{}"),
    "Bool": ("bool", "{}", "{}"),
    "String": ("string", "{}", "{}"),
    "[UInt8]": ("bytes", "Data({})", "[UInt8]({})"),
    "JobID": ("uint32", "{}.value", "JobID({})"),
    "NodeID": ("uint32", "{}.value", "NodeID({})"),
    "TaskID": ("fixed64", "{}.value", "TaskID(value: {})"),
    "ActorID": ("fixed64", "{}.creationTask.value", "ActorID(creationTask: TaskID(value: {}))"),
    "PlacementGroupID": ("fixed64", "{}.creationTask.value", "PlacementGroupID(creationTask: TaskID(value: {}))"),
}
PROTO_NAMES = {"WorkerID": "WorkerId", "ObjectID": "ObjectId", "LeaseID": "LeaseId"}
DEFAULT_NAMES = {
    "NodeInfo": "node", "NodeID": "node", "JobID": "job", "WorkerID": "worker", "TaskID": "task",
    "ObjectID": "object", "LeaseID": "lease", "LeaseRequest": "request", "TaskSpec": "spec",
    "TaskRequest": "request", "ObjectData": "data", "RayError": "error", "TaskOutcome": "outcome",
    "LocationAnswer": "answer", "RayConfig": "config", "Address": "address", "Message": "message",
    "GCSTimer": "timer", "RayletTimer": "timer", "ExecutorTimer": "timer", "OwnerIdentity": "identity",
    "ExecutionResult": "result", "[NodeView]": "views", "[NodeID]": "nodes", "[ReturnValue]": "values",
    "[ObjectData]": "values", "[ResolvedArg]": "args", "[TaskArg]": "args", "[ObjectID]": "objects",
    "[ObjectValue]": "values", "String": "message", "ObjectValue": "value", "ResolvedArg": "arg",
    "ActorID": "actor", "ActorSpec": "actor_spec", "ActorInfo": "info", "ActorOptions": "options",
    "ActorState": "state", "PlacementGroupID": "group", "PlacementGroupSpec": "group_spec",
    "PlacementGroupInfo": "group_info", "PlacementStrategy": "strategy", "PlacementGroupState": "group_state",
    "[BundleSpec]": "bundles", "[ResourceSet]": "bundles", "BundleSpec": "bundle", "[BundleHold]": "holds",
}
SWIFT_KEYWORDS = {"default", "in", "is", "as", "case", "init", "self", "protocol", "extension", "return",
                  "where", "func", "var", "let", "class", "struct", "enum", "repeat", "throw", "switch"}


def snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z])(?=[a-z])", r"_\1\2", name).lower()


def swift_field(snake_name):
    """The accessor name protoc-gen-swift derives from a proto field name."""
    parts = snake_name.split("_")
    out = parts[0]
    for part in parts[1:]:
        out += part.upper() if part in ("id", "url", "http", "https") else part[:1].upper() + part[1:]
    return f"`{out}`" if out in SWIFT_KEYWORDS else out


def camel_type(name):
    return name[:1].upper() + name[1:]


def proto_type_of(t):
    if t in SCALARS:
        return SCALARS[t][0]
    return PROTO_NAMES.get(t, t)


def field_names(fields):
    names = []
    for label, t in fields:
        name = label or DEFAULT_NAMES[t]
        assert name not in names, f"duplicate field name {name}"
        names.append(name)
    return names


def proto_fields(fields, indent):
    out = []
    for number, (name, (_, t)) in enumerate(zip(field_names(fields), fields), start=1):
        rule = ""
        base = t
        if t.endswith("?"):
            base = t[:-1]
            rule = "optional " if base in SCALARS else ""
        elif t.startswith("[") and t != "[UInt8]":
            base = t[1:-1]
            rule = "repeated "
        out.append(f"{indent}{rule}{proto_type_of(base)} {snake(name)} = {number};")
    return out


def proto_message(type_name, fields):
    return "\n".join([f"message {PROTO_NAMES.get(type_name, type_name)} {{"] + proto_fields(fields, "  ") + ["}"])


def is_direct(fields):
    """A case with one plain value holds it in the oneof itself (no wrapper
    message): fewer nesting levels, which protobuf encoders pay for per level."""
    if len(fields) != 1:
        return False
    t = fields[0][1]
    return not t.endswith("?") and (not t.startswith("[") or t == "[UInt8]")


def proto_oneof(type_name, cases):
    out = [f"message {type_name} {{"]
    for name, fields in cases:
        if is_direct(fields):
            continue
        body = proto_fields(fields, "    ")
        if body:
            out += [f"  message {camel_type(name)} {{"] + body + ["  }"]
        else:
            out.append(f"  message {camel_type(name)} {{}}")
    out.append("  oneof kind {")
    for number, (name, fields) in enumerate(cases, start=1):
        member = proto_type_of(fields[0][1]) if is_direct(fields) else camel_type(name)
        out.append(f"    {member} {snake(name)} = {number};")
    out += ["  }", "}"]
    return "\n".join(out)


# Nested type names protoc-gen-swift renames (they would shadow Swift types).
SWIFT_RESERVED_TYPES = {"Data", "Type", "Protocol", "String", "Int", "Array", "Set", "Dictionary", "Optional"}


def swift_nested(case_name):
    name = camel_type(case_name)
    return name + "Message" if name in SWIFT_RESERVED_TYPES else name


def pb(type_name):
    return "PB" + PROTO_NAMES.get(type_name, type_name)


def encode_value(t, v):
    if t in SCALARS:
        return SCALARS[t][1].format(v)
    return f"{v}.proto"


def decode_value(t, v, path):
    if t in SCALARS:
        return SCALARS[t][2].format(v)
    return f"try {t}(proto: {v}, at: {path})"


def encode_fields(fields, values, target, indent):
    out = []
    for name, (_, t), v in zip(field_names(fields), fields, values):
        accessor = f"{target}.{swift_field(snake(name))}"
        if t.endswith("?"):
            base = t[:-1]
            out.append(f"{indent}if let present = {v} {{ {accessor} = {encode_value(base, 'present')} }}")
        elif t.startswith("[") and t != "[UInt8]":
            base = t[1:-1]
            if base in SCALARS and SCALARS[base][1] == "{}":
                out.append(f"{indent}{accessor} = {v}")
            else:
                out.append(f"{indent}{accessor} = {v}.map {{ {encode_value(base, '$0')} }}")
        else:
            out.append(f"{indent}{accessor} = {encode_value(t, v)}")
    return out


def decode_fields(fields, source, path):
    """Expressions decoding each field of `source` (a generated message)."""
    out = []
    for name, (_, t) in zip(field_names(fields), fields):
        swift = swift_field(snake(name))
        accessor = f"{source}.{swift}"
        has = f"{source}.has{swift.strip('`')[:1].upper()}{swift.strip('`')[1:]}"
        field_path = f'{path} + ".{snake(name)}"'
        if t.endswith("?"):
            base = t[:-1]
            out.append(f"{has} ? {decode_value(base, accessor, field_path)} : nil")
        elif t.startswith("[") and t != "[UInt8]":
            base = t[1:-1]
            if base in SCALARS and SCALARS[base][2] == "{}":
                out.append(accessor)
            else:
                element = decode_value(base, '$0', field_path)
                # Only a decoding that can throw needs the `try` (scalar conversions cannot).
                out.append(f"{'try ' if element.startswith('try') else ''}{accessor}.map {{ {element} }}")
        elif t in SCALARS:
            out.append(decode_value(t, accessor, field_path))
        else:
            out.append(decode_value(t, f"ProtoRecords.field({has}, {accessor}, {field_path})", field_path))
    return out


def swift_struct(type_name, fields, assigned=False):
    names = [name for name, _ in fields]
    out = [f"extension {type_name} {{",
           f"    public var proto: {pb(type_name)} {{",
           f"        var message = {pb(type_name)}()"]
    out += encode_fields(fields, [f"self.{n}" for n in names], "message", "        ")
    out += ["        return message", "    }", "",
            f"    public init(proto message: {pb(type_name)}, at path: @autoclosure () -> String = \"{type_name}\") throws {{"]
    decoded = decode_fields(fields, "message", "path()")
    if assigned:
        out.append("        self.init()")
        out += [f"        self.{n} = {d}" for n, d in zip(names, decoded)]
    else:
        out.append(f"        self.init(")
        out += [f"            {n}: {d}" + ("," if i < len(names) - 1 else ")") for i, (n, d) in enumerate(zip(names, decoded))]
    out += ["    }", "}"]
    return "\n".join(out)


def swift_enum(type_name, cases):
    out = [f"extension {type_name} {{",
           f"    public var proto: {pb(type_name)} {{",
           f"        var message = {pb(type_name)}()",
           "        switch self {"]
    for name, fields in cases:
        binds = ", ".join(f"let v{i}" for i in range(len(fields)))
        out.append(f"        case .{name}({binds}):" if fields else f"        case .{name}:")
        inner = f"{pb(type_name)}.{swift_nested(name)}"
        if is_direct(fields):
            out.append(f"            message.{swift_field(snake(name))} = {encode_value(fields[0][1], 'v0')}")
        elif fields:
            out.append(f"            var value = {inner}()")
            out += encode_fields(fields, [f"v{i}" for i in range(len(fields))], "value", "            ")
            out.append(f"            message.{swift_field(snake(name))} = value")
        else:
            out.append(f"            message.{swift_field(snake(name))} = {inner}()")
    out += ["        }", "        return message", "    }", "",
            f"    public init(proto message: {pb(type_name)}, at path: @autoclosure () -> String = \"{type_name}\") throws {{",
            "        switch message.kind {"]
    for name, fields in cases:
        case_name = swift_field(snake(name))
        if is_direct(fields):
            label, t = fields[0]
            out.append(f"        case .{case_name}(let value)?:")
            decoded = decode_value(t, "value", f'path() + ".{snake(name)}"')
            out.append(f"            self = .{name}({label + ': ' if label else ''}{decoded})")
        elif fields:
            out.append(f"        case .{case_name}(let value)?:")
            args = [(f"{label}: " if label else "") + d
                    for (label, _), d in zip(fields, decode_fields(fields, "value", f'path() + ".{snake(name)}"'))]
            out.append(f"            self = .{name}({', '.join(args)})")
        else:
            out.append(f"        case .{case_name}?:")
            out.append(f"            self = .{name}")
    out += ["        case nil:",
            "            throw RecordError(path: path(), problem: \"no case set (a case unknown to this version?)\")",
            "        }", "    }", "}"]
    return "\n".join(out)


PROTO_HEADER = """// GENERATED by tools/gen-records.py — edit the tables there, not this file.
// SwiftRay's record schema: every wire message and every logged input. A
// component's event log holds its inputs (GCSInput, RayletInput, OwnerInput,
// ExecutorInput) one record each; frames between processes carry a Message.
// Field numbers never change and are never reused: new cases and fields are
// appended, so old logs still read and peers can add fields.
// Regenerate the Swift code with tools/gen-wire.sh.
syntax = "proto3";

package swiftray.v1;

option swift_prefix = "PB";
"""

SWIFT_PROTO_HEADER = """// GENERATED by tools/gen-records.py — edit the tables there, not this file.
// Conversions between RayCore values and the generated protobuf messages
// (swiftray.pb.swift): `value.proto` builds a message, `init(proto:)` checks
// one (a missing field or case throws a RecordError naming its path).

import Foundation
public import RayCore
"""


def generate_proto(root):
    wire = os.path.join(root, "Sources", "RayWire")
    parts = [PROTO_HEADER, PROTO_HAND.strip() + "\n"]
    swift = [SWIFT_PROTO_HEADER]
    for type_name, fields in STRUCTS + PROTO_STRUCTS:
        parts.append(proto_message(type_name, fields) + "\n")
        swift.append(swift_struct(type_name, fields) + "\n")
    for type_name, fields in PROTO_ASSIGNED:
        parts.append(proto_message(type_name, fields) + "\n")
        swift.append(swift_struct(type_name, fields, assigned=True) + "\n")
    for type_name, cases in ENUMS + PROTO_ENUMS + [("Message", MESSAGE)] + INPUTS:
        parts.append(proto_oneof(type_name, cases) + "\n")
        swift.append(swift_enum(type_name, cases) + "\n")
    with open(os.path.join(wire, "swiftray.proto"), "w") as file:
        file.write("\n".join(parts))
    with open(os.path.join(wire, "Records+Proto.swift"), "w") as file:
        file.write("\n".join(swift))


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
    generate_proto(ROOT)
