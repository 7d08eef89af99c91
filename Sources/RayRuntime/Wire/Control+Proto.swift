// Control requests and replies as protobuf messages (swiftray.proto), and
// their frames.

import Foundation
import RayCore
import RayWire
import SwiftProtobuf

extension ControlRequest {
    var proto: PBControlRequest {
        var message = PBControlRequest()
        let none = PBControlRequest.None()
        switch self {
        case .clusterStatus: message.clusterStatus = none
        case .raylets: message.raylets = none
        case .ping: message.ping = none
        case .nodeStatus: message.nodeStatus = none
        case .view: message.view = none
        case .idleWorkers: message.idleWorkers = none
        case .quiescence: message.quiescence = none
        case .metrics: message.metrics = none
        case .listObjects: message.listObjects = none
        case .workerPID(let worker): message.workerPid = worker.proto
        case .listTasks: message.listTasks = none
        case .refusals: message.refusals = none
        case .unknown: break
        }
        return message
    }

    init(proto message: PBControlRequest) throws {
        switch message.request {
        case .clusterStatus?: self = .clusterStatus
        case .raylets?: self = .raylets
        case .ping?: self = .ping
        case .nodeStatus?: self = .nodeStatus
        case .view?: self = .view
        case .idleWorkers?: self = .idleWorkers
        case .quiescence?: self = .quiescence
        case .metrics?: self = .metrics
        case .listObjects?: self = .listObjects
        case .workerPid(let worker)?: self = .workerPID(try WorkerID(proto: worker, at: "ControlRequest.worker_pid"))
        case .listTasks?: self = .listTasks
        case .refusals?: self = .refusals
        case nil:
            // A newer build's request: name it by its field number, the one thing known of it.
            let field = message.unknownFields.data.first.map { " (field \($0 >> 3))" } ?? ""
            self = .unknown("an unknown request\(field)")
        }
    }
}

extension ControlReply {
    var proto: PBControlReply {
        var message = PBControlReply()
        switch self {
        case .cluster(let nodes, let jobs, let actors, let groups):
            var cluster = PBControlReply.Cluster()
            cluster.placementGroups = groups.map { entry in
                var proto = PBControlReply.PlacementGroupEntry()
                proto.id = entry.id.creationTask.value
                proto.name = entry.name
                proto.strategy = entry.strategy
                proto.state = entry.state
                proto.bundles = entry.bundles.map(\.proto)
                proto.nodes = entry.nodes.map { $0?.value ?? 0 }
                proto.cause = entry.cause
                proto.detached = entry.detached
                proto.owner = entry.owner.proto
                return proto
            }
            cluster.actors = actors.map { entry in
                var proto = PBControlReply.ActorEntry()
                proto.actor = entry.actor.creationTask.value
                proto.name = entry.name
                proto.state = entry.state
                if let node = entry.node { proto.node = node.value }
                proto.restarts = Int64(entry.restarts)
                proto.cause = entry.cause
                proto.registeredName = entry.registeredName
                proto.namespace = entry.namespace
                proto.detached = entry.detached
                return proto
            }
            cluster.nodes = nodes.map { entry in
                var proto = PBControlReply.NodeEntry()
                proto.node = entry.node.value
                proto.name = entry.name
                proto.alive = entry.alive
                proto.connected = entry.connected
                if let address = entry.address { proto.address = address }
                proto.resources = entry.resources.proto
                proto.available = entry.available.proto
                proto.storeBytes = entry.storeBytes
                return proto
            }
            cluster.jobs = jobs.map { entry in
                var proto = PBControlReply.JobEntry()
                proto.job = entry.job.value
                proto.driver = entry.driver.proto
                proto.state = entry.state
                if let end = entry.end { proto.end = end }
                proto.ranMicros = entry.ranMicros
                return proto
            }
            message.cluster = cluster
        case .raylets(let entries):
            var raylets = PBControlReply.Raylets()
            raylets.raylets = Directory(entries: entries, executable: nil).proto.entries
            message.raylets = raylets
        case .pong:
            message.pong = true
        case .refusals(let counts):
            var refusals = PBControlReply.Refusals()
            refusals.unauthenticated = Int64(counts.unauthenticated)
            refusals.overLimit = Int64(counts.overLimit)
            refusals.actorsOverQuota = Int64(counts.actorsOverQuota)
            refusals.actorsOverSoftQuota = Int64(counts.actorsOverSoftQuota)
            refusals.throttled = Int64(counts.throttled)
            refusals.actorsDelayed = Int64(counts.actorsDelayed)
            refusals.groupsOverQuota = Int64(counts.groupsOverQuota)
            refusals.groupsOverSoftQuota = Int64(counts.groupsOverSoftQuota)
            refusals.forged = Int64(counts.forged)
            refusals.earlySubscriptionsRefused = Int64(counts.earlySubscriptionsRefused)
            refusals.groupsDelayed = Int64(counts.groupsDelayed)
            message.refusals = refusals
        case .nodeStatus(let status):
            var proto = PBControlReply.NodeStatus()
            proto.node = status.node.value
            proto.name = status.name
            proto.resources = status.resources.proto
            proto.available = status.available.proto
            proto.usedBytes = status.usedBytes
            proto.capacityBytes = status.capacityBytes
            proto.objectCount = Int64(status.objectCount)
            proto.spilledBytes = status.spilledBytes
            proto.workers = Int64(status.workers)
            proto.leases = Int64(status.leases)
            proto.queued = Int64(status.queued)
            proto.authRefusals = Int64(status.authRefusals)
            proto.limitRefusals = Int64(status.limitRefusals)
            proto.leasesAskedBack = Int64(status.leasesAskedBack)
            proto.throttled = Int64(status.throttled)
            proto.cpuShares = status.cpuShares
            proto.forged = Int64(status.forged)
            proto.storesRefused = Int64(status.storesRefused)
            proto.storesOverSoftQuota = Int64(status.storesOverSoftQuota)
            proto.leaseRequestsDelayed = Int64(status.leaseRequestsDelayed)
            proto.leaseRequestsRefused = Int64(status.leaseRequestsRefused)
            proto.objectRequestsDelayed = Int64(status.objectRequestsDelayed)
            proto.objectRequestsRefused = Int64(status.objectRequestsRefused)
            proto.storesGivenUp = Int64(status.storesGivenUp)
            proto.copiesOnDisk = Int64(status.copiesOnDisk)
            message.nodeStatus = proto
        case .view(let nodes):
            var view = PBControlReply.View()
            view.nodes = nodes.map(\.value)
            message.view = view
        case .idleWorkers(let count):
            message.idleWorkers = Int64(count)
        case .quiescence(let held):
            var proto = PBControlReply.Quiescence()
            if let held { proto.held = held }
            message.quiescence = proto
        case .metrics(let metrics):
            var proto = PBControlReply.Metrics()
            proto.spilled = Int64(metrics.spilled)
            proto.restored = Int64(metrics.restored)
            proto.spillbacks = Int64(metrics.spillbacks)
            proto.evicted = Int64(metrics.evicted)
            proto.pulled = Int64(metrics.pulled)
            proto.leases = Int64(metrics.leases)
            proto.askedBack = Int64(metrics.askedBack)
            message.metrics = proto
        case .objects(let node, let objects):
            var proto = PBControlReply.Objects()
            proto.node = node.value
            proto.objects = objects.map { entry in
                var stored = PBControlReply.StoredObject()
                stored.object = entry.object.proto
                stored.sizeBytes = entry.sizeBytes
                stored.owner = entry.owner.proto
                stored.primary = entry.primary
                stored.spilled = entry.spilled
                stored.pins = Int64(entry.pins)
                return stored
            }
            message.objects = proto
        case .workerPID(let pid):
            var proto = PBControlReply.WorkerPid()
            if let pid { proto.pid = Int64(pid) }
            message.workerPid = proto
        case .tasks(let node, let name, let drivers):
            var proto = PBControlReply.Tasks()
            proto.node = node.value
            proto.name = name
            proto.drivers = drivers.map(\.proto)
            message.tasks = proto
        case .driverTasks(let tasks):
            message.driverTasks = tasks.proto
        case .error(let request, let text):
            var proto = PBControlReply.Error()
            proto.request = request
            proto.message = text
            message.error = proto
        }
        return message
    }

    init(proto message: PBControlReply) throws {
        switch message.reply {
        case .cluster(let cluster)?:
            self = .cluster(nodes: try cluster.nodes.map { entry in
                ControlNodeEntry(node: NodeID(entry.node), name: entry.name, alive: entry.alive, connected: entry.connected,
                                 address: entry.hasAddress ? entry.address : nil,
                                 resources: try ResourceSet(proto: entry.resources, at: "ControlReply.nodes.resources"),
                                 available: try ResourceSet(proto: entry.available, at: "ControlReply.nodes.available"),
                                 storeBytes: entry.storeBytes)
            }, jobs: try cluster.jobs.map { entry in
                ControlJobEntry(job: JobID(entry.job), driver: try WorkerID(proto: entry.driver, at: "ControlReply.jobs.driver"),
                                state: entry.state, end: entry.hasEnd ? entry.end : nil, ranMicros: entry.ranMicros)
            }, actors: cluster.actors.map { entry in
                ControlActorEntry(actor: ActorID(creationTask: TaskID(value: entry.actor)), name: entry.name,
                                  state: entry.state, node: entry.hasNode ? NodeID(entry.node) : nil,
                                  restarts: Int(truncatingIfNeeded: entry.restarts), cause: entry.cause,
                                  registeredName: entry.registeredName, namespace: entry.namespace,
                                  detached: entry.detached)
            }, placementGroups: try cluster.placementGroups.map { entry in
                ControlPlacementGroupEntry(
                    id: PlacementGroupID(creationTask: TaskID(value: entry.id)), name: entry.name,
                    strategy: entry.strategy, state: entry.state,
                    bundles: try entry.bundles.map { try ResourceSet(proto: $0, at: "ControlReply.placement_groups.bundles") },
                    nodes: entry.nodes.map { $0 == 0 ? nil : NodeID($0) }, cause: entry.cause, detached: entry.detached,
                    owner: try WorkerID(proto: entry.owner, at: "ControlReply.placement_groups.owner"))
            })
        case .raylets(let raylets)?:
            var directory = PBDirectory()
            directory.entries = raylets.raylets
            self = .raylets(try Directory(proto: directory).entries)
        case .pong?:
            self = .pong
        case .refusals(let refusals)?:
            var counts = ControlRefusals()
            counts.unauthenticated = Int(refusals.unauthenticated)
            counts.overLimit = Int(refusals.overLimit)
            counts.actorsOverQuota = Int(refusals.actorsOverQuota)
            counts.actorsOverSoftQuota = Int(refusals.actorsOverSoftQuota)
            counts.throttled = Int(refusals.throttled)
            counts.actorsDelayed = Int(refusals.actorsDelayed)
            counts.groupsOverQuota = Int(refusals.groupsOverQuota)
            counts.groupsOverSoftQuota = Int(refusals.groupsOverSoftQuota)
            counts.forged = Int(refusals.forged)
            counts.earlySubscriptionsRefused = Int(refusals.earlySubscriptionsRefused)
            counts.groupsDelayed = Int(refusals.groupsDelayed)
            self = .refusals(counts)
        case .nodeStatus(let status)?:
            self = .nodeStatus(ControlNodeStatus(
                node: NodeID(status.node), name: status.name,
                resources: try ResourceSet(proto: status.resources, at: "ControlReply.node_status.resources"),
                available: try ResourceSet(proto: status.available, at: "ControlReply.node_status.available"),
                usedBytes: status.usedBytes, capacityBytes: status.capacityBytes, objectCount: Int(status.objectCount),
                spilledBytes: status.spilledBytes, workers: Int(status.workers), leases: Int(status.leases),
                queued: Int(status.queued), authRefusals: Int(status.authRefusals),
                limitRefusals: Int(status.limitRefusals), leasesAskedBack: Int(status.leasesAskedBack),
                throttled: Int(status.throttled), cpuShares: status.cpuShares, forged: Int(status.forged),
                storesRefused: Int(status.storesRefused), storesOverSoftQuota: Int(status.storesOverSoftQuota),
                leaseRequestsDelayed: Int(status.leaseRequestsDelayed),
                leaseRequestsRefused: Int(status.leaseRequestsRefused),
                objectRequestsDelayed: Int(status.objectRequestsDelayed),
                objectRequestsRefused: Int(status.objectRequestsRefused), storesGivenUp: Int(status.storesGivenUp),
                copiesOnDisk: Int(status.copiesOnDisk)))
        case .view(let view)?:
            self = .view(view.nodes.map(NodeID.init))
        case .idleWorkers(let count)?:
            self = .idleWorkers(Int(count))
        case .quiescence(let quiescence)?:
            self = .quiescence(held: quiescence.hasHeld ? quiescence.held : nil)
        case .metrics(let proto)?:
            var metrics = ControlMetrics()
            metrics.spilled = Int(proto.spilled)
            metrics.restored = Int(proto.restored)
            metrics.spillbacks = Int(proto.spillbacks)
            metrics.evicted = Int(proto.evicted)
            metrics.pulled = Int(proto.pulled)
            metrics.leases = Int(proto.leases)
            metrics.askedBack = Int(proto.askedBack)
            self = .metrics(metrics)
        case .objects(let proto)?:
            self = .objects(node: NodeID(proto.node), try proto.objects.map { entry in
                ControlStoredObject(object: try ObjectID(proto: entry.object, at: "ControlReply.objects.object"),
                                    sizeBytes: entry.sizeBytes,
                                    owner: try WorkerID(proto: entry.owner, at: "ControlReply.objects.owner"),
                                    primary: entry.primary, spilled: entry.spilled, pins: Int(entry.pins))
            })
        case .workerPid(let proto)?:
            guard !proto.hasPid || Int64(Int32.min)...Int64(Int32.max) ~= proto.pid else {
                throw RecordError(path: "ControlReply.worker_pid", problem: "pid \(proto.pid) out of range")
            }
            self = .workerPID(proto.hasPid ? Int32(proto.pid) : nil)
        case .tasks(let proto)?:
            self = .tasks(node: NodeID(proto.node), name: proto.name, drivers: try proto.drivers.map(ControlDriverTasks.init))
        case .driverTasks(let proto)?:
            self = .driverTasks(try ControlDriverTasks(proto: proto))
        case .error(let proto)?:
            self = .error(request: proto.request, message: proto.message)
        case nil:
            throw RecordError(path: "ControlReply", problem: "no reply this build knows (a newer peer's?)")
        }
    }
}

extension ControlDriverTasks {
    var proto: PBControlReply.DriverTasks {
        var proto = PBControlReply.DriverTasks()
        proto.driver = driver.proto
        proto.job = job.value
        proto.answered = answered
        proto.submitted = Int64(submitted)
        proto.attempts = Int64(attempts)
        proto.retries = Int64(retries)
        proto.reconstructions = Int64(reconstructions)
        proto.failed = Int64(failed)
        proto.tasks = tasks.map { line in
            var task = PBControlReply.TaskLine()
            task.task = line.task.value
            task.function = line.function
            task.instance = Int64(line.instance)
            task.state = line.state
            task.attempts = Int64(line.attempts)
            return task
        }
        return proto
    }

    init(proto: PBControlReply.DriverTasks) throws {
        self.init(driver: try WorkerID(proto: proto.driver, at: "ControlReply.driver_tasks.driver"), job: JobID(proto.job))
        answered = proto.answered
        submitted = Int(proto.submitted)
        attempts = Int(proto.attempts)
        retries = Int(proto.retries)
        reconstructions = Int(proto.reconstructions)
        failed = Int(proto.failed)
        tasks = proto.tasks.map { line in
            Line(task: TaskID(value: line.task), function: line.function, instance: Int(line.instance),
                 state: line.state, attempts: Int(line.attempts))
        }
    }
}

extension Wire {
    static func controlFrame(_ request: ControlRequest) -> [UInt8] {
        protoFrame(.control, request.proto)
    }

    static func controlReplyFrame(_ reply: ControlReply) -> [UInt8] {
        protoFrame(.controlReply, reply.proto)
    }

    private static func protoFrame(_ kind: FrameKind, _ message: some SwiftProtobuf.Message) -> [UInt8] {
        var out: [UInt8] = []
        let start = begin(kind, in: &out)
        // Control messages hold only strings, integers and IDs: encoding cannot fail.
        out.append(contentsOf: (try? message.serializedBytes() as [UInt8]) ?? [])
        finish(start, in: &out)
        return out
    }
}

extension Frame {
    /// A control frame's request (`.unknown` for a newer build's).
    func controlRequest() throws(WireError) -> ControlRequest {
        do {
            return try ControlRequest(proto: PBControlRequest(serializedBytes: payload))
        } catch {
            throw WireError("undecodable control request: \(error)")
        }
    }

    /// A controlReply frame's reply.
    func controlReply() throws(WireError) -> ControlReply {
        do {
            return try ControlReply(proto: PBControlReply(serializedBytes: payload))
        } catch {
            throw WireError("undecodable control reply: \(error)")
        }
    }
}
