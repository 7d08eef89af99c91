// Every SwiftRay process is one binary in one of several roles: the user's
// program (or `swiftray`) re-executed with SWIFTRAY_ROLE set becomes a GCS,
// a raylet or a worker. So a program that uses SwiftRay needs nothing else
// installed: its own executable is the whole runtime.
//
// Environment of a role process:
//   SWIFTRAY_ROLE             gcs | raylet | worker
//   SWIFTRAY_SESSION          the session directory (logs/, sockets/)
//   SWIFTRAY_LOG_DIR          where event logs go (default: $SWIFTRAY_SESSION/logs); SWIFTRAY_NO_LOG=1 disables them
//   SWIFTRAY_GCS_HOST/PORT    gcs: where to listen (port 0: any free port)
//   SWIFTRAY_GCS_ADDRESS      raylet: host:port of the GCS
//   SWIFTRAY_NODE_NAME, SWIFTRAY_RESOURCES ("CPU=2,GPU=1,disk=4"), SWIFTRAY_OBJECT_STORE_BYTES,
//   SWIFTRAY_PORT, SWIFTRAY_RAYLET_SOCKET, SWIFTRAY_WORKER_EXECUTABLE   raylet
//   SWIFTRAY_WORKER           worker: "node.index", and SWIFTRAY_RAYLET_SOCKET
//   SWIFTRAY_EXIT_WITH_PARENT 1: exit when the parent closes our stdin (an embedded cluster)
// A GCS or raylet prints one line "SWIFTRAY-READY <port> <node>" on stdout when it serves.

import Glibc
import CLibUV
public import RayCore

/// Runs a role process.
public enum Role {
    /// If this process was started in a SwiftRay role, runs it and never returns. (A GCS or
    /// raylet role already ran from CRoleHook's constructor, before the program's code.)
    public static func runIfRequested() {
        guard let role = environment("SWIFTRAY_ROLE") else { return }
        run(role)
    }

    static func run(_ role: String) -> Never {
        signal(SIGPIPE, SIG_IGN)
        // Whoever started this process may have blocked signals; a raylet must see SIGCHLD.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        pthread_sigmask(SIG_SETMASK, &noSignals, nil)
        // The session lives while one of its processes does (Session.swift).
        if role != "worker", let session = environment("SWIFTRAY_SESSION") { Session(path: session).holdAlive() }
        if role != "worker" { keepLargeBuffersWarm() }
        let code: Int32
        do {
            switch role {
            case "gcs": try runGCS()
            case "raylet": try runRaylet()
            case "worker": try runWorker()
            default: throw RuntimeError("unknown SWIFTRAY_ROLE '\(role)' (expected gcs, raylet or worker)")
            }
            code = 0
        } catch {
            writeStandardError("swiftray \(role): \(error)\n")
            code = 2
        }
        exit(code)
    }

    /// A GCS or raylet allocates and frees a buffer per object chunk (4 MiB) and per large
    /// frame. glibc would map each one afresh (its mmap threshold moves with what was freed)
    /// and trim freed heap pages at once, so every chunk paid its page faults again (≈ 1 s per
    /// GiB on this VM: a cross-node transfer ran at a third of its speed until the heap
    /// happened to settle). Buffers up to 32 MiB come from the heap, reused warm; the loop
    /// hands free pages back once large buffers stop passing (EventLoop.trimSoon).
    static func keepLargeBuffersWarm() {
        // glibc's M_MMAP_THRESHOLD (-3) and M_TRIM_THRESHOLD (-1).
        _ = glibcMallopt(-3, 32 << 20)
        _ = glibcMallopt(-1, 64 << 20)
    }

    static func logDirectory(_ component: String) -> String? {
        if environment("SWIFTRAY_NO_LOG") == "1" { return nil }
        guard let root = environment("SWIFTRAY_LOG_DIR") ?? environment("SWIFTRAY_SESSION").map({ $0 + "/logs" })
        else { return nil }
        return root + "/" + component
    }

    static func ready(_ port: Int, _ node: NodeID?) {
        let line = "SWIFTRAY-READY \(port) \(node?.value ?? 0)\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
        // Later output goes where stderr goes; the parent stops reading after this line.
        dup2(2, 1)
    }

    /// An embedded cluster's process exits with its driver (after `ParentWatch.cleanUp`).
    static func watchParent(_ loop: EventLoop) {
        guard environment("SWIFTRAY_EXIT_WITH_PARENT") == "1" else { return }
        ParentWatch.start(loop)
    }

    /// The loop of a role process, authenticating every connection with its role's credential
    /// (from SWIFTRAY_CLUSTER_SECRET_FILE or SWIFTRAY_CLUSTER_SECRET, which whoever started
    /// this process set): the GCS the administrator's, a raylet a node's (derived if it was given
    /// more), a worker its job's.
    static func roleLoop(_ role: String, as identity: Identity? = nil) throws(RuntimeError) -> EventLoop {
        guard let secret = try ClusterSecret.fromEnvironment() else {
            throw RuntimeError("a \(role) needs the cluster's credential: set SWIFTRAY_CLUSTER_SECRET_FILE to the "
                + "head node's <session>/\(identity?.role == .admin ? ClusterSecret.fileName : ClusterSecret.nodeFileName)")
        }
        let loop = EventLoop()
        loop.secret = try identity.map { role throws(RuntimeError) in try secret.acting(as: role) } ?? secret
        loop.tls = try TLSContext.fromEnvironment()
        return loop
    }

    private static func runGCS() throws(RuntimeError) {
        _ = try RateLimit.fromEnvironment()  // A malformed limit is refused by name, now.
        let loop = try roleLoop("GCS", as: .admin)
        loop.controlReplyBudget = try ControlReplyBudget.fromEnvironment()
        watchParent(loop)
        var config = RayConfig()
        try applyConfigOverrides(&config)
        let host = try GCSHost(loop: loop, host: environment("SWIFTRAY_GCS_HOST") ?? "127.0.0.1",
                               port: Int(environment("SWIFTRAY_GCS_PORT") ?? "") ?? 6380, config: config,
                               logDirectory: logDirectory("gcs"), session: environment("SWIFTRAY_SESSION"))
        ready(host.port, nil)
        loop.run()
    }

    private static func runRaylet() throws(RuntimeError) {
        _ = try RateLimit.fromEnvironment()
        try ObjectSizeLimit.validateEnvironment()
        _ = try JobCPUShares.memoryLimitSetting(storeBytes: 0)  // A malformed limit is refused by name, now.
        let loop = try roleLoop("raylet", as: .node)
        loop.controlReplyBudget = try ControlReplyBudget.fromEnvironment()
        watchParent(loop)
        var options = RayletOptions()
        guard let address = environment("SWIFTRAY_GCS_ADDRESS") else {
            throw RuntimeError("a raylet needs SWIFTRAY_GCS_ADDRESS=host:port")
        }
        (options.gcsHost, options.gcsPort) = try parseAddress(address)
        options.name = environment("SWIFTRAY_NODE_NAME") ?? "node"
        options.resources = try parseResources(environment("SWIFTRAY_RESOURCES") ?? "CPU=\(cpuCount())")
        options.objectStoreBytes = Int64(environment("SWIFTRAY_OBJECT_STORE_BYTES") ?? "") ?? defaultObjectStoreBytes()
        options.port = Int(environment("SWIFTRAY_PORT") ?? "") ?? 0
        options.listenHost = environment("SWIFTRAY_LISTEN_HOST") ?? "127.0.0.1"
        options.session = environment("SWIFTRAY_SESSION")
        guard let socket = environment("SWIFTRAY_RAYLET_SOCKET") else {
            throw RuntimeError("a raylet needs SWIFTRAY_RAYLET_SOCKET (the Unix socket its workers use)")
        }
        options.socketPath = socket
        options.workerExecutable = environment("SWIFTRAY_WORKER_EXECUTABLE")
        options.workerUser = try WorkerUser.fromEnvironment()
        options.storeLockPatience = try RayletHost.storeLockPatienceSetting()
        options.logDirectory = logDirectory("raylet-\(options.name)")
        var host: RayletHost?
        host = try RayletHost(loop: loop, options: options) { node in
            ready(host?.port ?? 0, node)
        }
        let made = host
        // The driver is gone: its workers and the node's shared memory go too.
        ParentWatch.cleanUp = { made?.stopForParent() }
        loop.run()
        _ = host
    }

    private static func runWorker() throws(RuntimeError) {
        guard let text = environment("SWIFTRAY_WORKER"), let dot = text.firstIndex(of: "."),
              let node = UInt32(text[..<dot]), let index = UInt32(text[text.index(after: dot)...]) else {
            throw RuntimeError("a worker needs SWIFTRAY_WORKER=node.index")
        }
        guard let socket = environment("SWIFTRAY_RAYLET_SOCKET") else {
            throw RuntimeError("a worker needs SWIFTRAY_RAYLET_SOCKET")
        }
        // A worker never outlives its raylet, even one busy in a task body when the raylet dies.
        if let parent = environment("SWIFTRAY_RAYLET_PID").flatMap(Int32.init) {
            _ = swiftray_die_with_parent()
            if getppid() != parent { exit(0) }  // The raylet died before the signal was armed.
        }
        if environment("SWIFTRAY_OUTPUT_CAPTURED") == "1" { OutputMarkers.install() }
        let loop = try roleLoop("worker")
        let worker = WorkerID(node: NodeID(node), index: index)
        let host = try WorkerHost(loop: loop, worker: worker, socketPath: socket,
                                  logDirectory: logDirectory("worker-\(node).\(index)"))
        loop.run()
        _ = host
    }

    /// Cluster-wide overrides of Ray's defaults (SWIFTRAY_HEALTH_CHECK_PERIOD_MS, ...).
    static func applyConfigOverrides(_ config: inout RayConfig) throws(RuntimeError) {
        if let value = try positiveSetting("SWIFTRAY_HEALTH_CHECK_PERIOD_MS") { config.healthCheckPeriodMicros = Int64(value) * 1000 }
        if let value = try positiveSetting("SWIFTRAY_HEALTH_CHECK_TIMEOUT_MS") { config.healthCheckTimeoutMicros = Int64(value) * 1000 }
        if let value = try positiveSetting("SWIFTRAY_HEALTH_CHECK_FAILURE_THRESHOLD") { config.healthCheckFailureThreshold = value }
        // Per-job quotas (the GCS's): live actors a job may hold, warned of beyond the soft limit,
        // refused at the hard one.
        if let value = try positiveSetting("SWIFTRAY_ACTORS_PER_JOB_SOFT") { config.actorsPerJobSoftMax = value }
        if let value = try positiveSetting("SWIFTRAY_ACTORS_PER_JOB_HARD") { config.actorsPerJobHardMax = value }
        // Per-job actor creations per second, and how many may wait before they are refused.
        if let value = try positiveSetting("SWIFTRAY_ACTOR_CREATIONS_PER_SECOND") { config.actorCreationsPerSecondMax = value }
        if let value = try positiveSetting("SWIFTRAY_ACTOR_CREATIONS_DELAYED") { config.actorCreationsDelayedMax = value }
        // Entries one owner's object table may hold (its puts refused at the hard limit).
        if let value = try positiveSetting("SWIFTRAY_OWNED_OBJECTS_SOFT") { config.ownedObjectsSoftMax = value }
        if let value = try positiveSetting("SWIFTRAY_OWNED_OBJECTS_HARD") { config.ownedObjectsHardMax = value }
        // Lease requests one owner has out at raylets at once (past it, it holds the rest).
        if let value = try positiveSetting("SWIFTRAY_LEASE_REQUESTS_PER_OWNER") { config.leaseRequestsPerOwnerMax = value }
        // Placement groups (not removed) one job may hold: warned of past the soft limit, refused at the hard.
        if let value = try positiveSetting("SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_SOFT") { config.placementGroupsPerJobSoftMax = value }
        if let value = try positiveSetting("SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_HARD") { config.placementGroupsPerJobHardMax = value }
        // Per-job placement-group creations per second, and how many may wait before they are refused.
        if let value = try positiveSetting("SWIFTRAY_PLACEMENT_GROUP_CREATIONS_PER_SECOND") {
            config.placementGroupCreationsPerSecondMax = value
        }
        if let value = try positiveSetting("SWIFTRAY_PLACEMENT_GROUP_CREATIONS_DELAYED") {
            config.placementGroupCreationsDelayedMax = value
        }
        // Lease requests a job's processes may send one raylet per second, and how many may be
        // delayed there before they are refused.
        if let value = try positiveSetting("SWIFTRAY_LEASE_REQUESTS_PER_SECOND") { config.leaseRequestsPerSecondPerJobMax = value }
        if let value = try positiveSetting("SWIFTRAY_LEASE_REQUESTS_DELAYED") { config.leaseRequestsDelayedPerJobMax = value }
        // Fetches and stores a job's processes may send one raylet per second, and how many may be
        // delayed there before they are refused.
        if let value = try positiveSetting("SWIFTRAY_OBJECT_REQUESTS_PER_SECOND") { config.objectRequestsPerSecondPerJobMax = value }
        if let value = try positiveSetting("SWIFTRAY_OBJECT_REQUESTS_DELAYED") { config.objectRequestsDelayedPerJobMax = value }
        // Lease requests of a job one raylet keeps queued (past it, its new ones are delayed).
        if let value = try positiveSetting("SWIFTRAY_LEASE_REQUESTS_QUEUED") { config.leaseRequestsQueuedPerJobMax = value }
        // Task workers one job may have on a node (past it, its lease requests wait there).
        if let value = try positiveSetting("SWIFTRAY_WORKERS_PER_JOB") { config.workersPerJobMax = value }
        // Bytes one job may keep in a node's object store (default: 4 and 16 times its capacity).
        if let value = try positiveSetting("SWIFTRAY_STORE_BYTES_PER_JOB_SOFT") { config.storeBytesPerJobSoftMax = Int64(value) }
        if let value = try positiveSetting("SWIFTRAY_STORE_BYTES_PER_JOB_HARD") { config.storeBytesPerJobHardMax = Int64(value) }
        // The largest object (default: each node's store capacity); a raylet's own setting wins on its node.
        if let value = try positiveSetting("SWIFTRAY_MAX_OBJECT_BYTES") { config.objectSizeBytesMax = Int64(value) }
    }
}

/// Called by CRoleHook's constructor (before main) in a GCS or raylet role process.
@_cdecl("swiftray_run_service_role")
public func runServiceRole() {
    guard let role = environment("SWIFTRAY_ROLE") else { return }
    Role.run(role)
}

/// Exits the process when its parent (an embedded cluster's driver) goes away.
enum ParentWatch {
    /// Run before exiting (a raylet kills its workers and removes the node's shared memory).
    nonisolated(unsafe) static var cleanUp: () -> Void = {}

    static func start(_ loop: EventLoop) {
        let pipe = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        uv_pipe_init(loop.raw, pipe, 0)
        guard uv_pipe_open(pipe, 0) == 0 else { return }
        pipe.withMemoryRebound(to: uv_stream_t.self, capacity: 1) { stream in
            _ = uv_read_start(stream, { _, suggested, buf in
                let size = max(64, suggested)
                buf?.pointee.base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
                    .assumingMemoryBound(to: CChar.self)
                buf?.pointee.len = size
            }, { _, nread, buf in
                if let base = buf?.pointee.base { UnsafeMutableRawPointer(base).deallocate() }
                if nread < 0 {
                    ParentWatch.cleanUp()
                    exit(0)
                }
            })
        }
    }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}

/// A setting that must be a positive whole number: nil when unset; anything else set there is
/// refused by name.
func positiveSetting(_ name: String) throws(RuntimeError) -> Int? {
    guard let text = environment(name) else { return nil }
    guard let value = Int(text), value > 0 else {
        throw RuntimeError("\(name)=\(text) is not a positive whole number")
    }
    return value
}

/// "host:port" → (host, port), with an error naming the bad part.
public func parseAddress(_ text: String) throws(RuntimeError) -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
          (1...65535).contains(port) else {
        throw RuntimeError("bad address '\(text)': expected HOST:PORT, e.g. 127.0.0.1:6380")
    }
    let host = String(text[..<colon])
    return (host == "localhost" || host.isEmpty ? "127.0.0.1" : host, port)
}

/// "CPU=2,GPU=1,disk=4.5" → a resource set, with an error naming the bad entry.
public func parseResources(_ text: String) throws(RuntimeError) -> ResourceSet {
    var amounts: [String: Int64] = [:]
    for part in text.split(separator: ",") where !part.trimmingCharacters(in: " ").isEmpty {
        let pieces = part.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: " ") }
        guard pieces.count == 2, !pieces[0].isEmpty, let amount = Double(pieces[1]), amount >= 0 else {
            throw RuntimeError("bad resource '\(part)': expected NAME=AMOUNT, e.g. CPU=4,GPU=1")
        }
        amounts[pieces[0]] = Int64((amount * 1000).rounded())
    }
    return ResourceSet(amounts)
}

public func cpuCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

/// Ray's default object store size: 30% of the machine's memory.
public func defaultObjectStoreBytes() -> Int64 {
    let pages = Int64(sysconf(Int32(_SC_PHYS_PAGES))), pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))
    return pages * pageSize * 3 / 10
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var result = Substring(self)
        while result.first == set { result = result.dropFirst() }
        while result.last == set { result = result.dropLast() }
        return String(result)
    }
}
extension Substring {
    func trimmingCharacters(in set: Character) -> String { String(self).trimmingCharacters(in: set) }
}

/// glibc's mallopt (malloc.h, which the Glibc module does not import).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
