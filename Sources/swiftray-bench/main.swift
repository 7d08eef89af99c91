// SwiftRay's runtime microbenchmarks, named as Ray's own
// (python/ray/_private/ray_perf.py), on an embedded local cluster with every
// input of every process logged to LMDB. Prints one line per figure:
//     name<TAB>value<TAB>unit
// tools/bench-runtime.sh runs it (release build); tools/bench-vs-ray.sh runs
// Ray 2.60 too and prints the ratios.
//
// Usage: swiftray-bench [--quick] [--no-log] [--only NAME[,NAME...]]

import Distributed
import Foundation
import Glibc
import Ray
import RayRuntime
import RayCore
import RayStorage

let noop = RemoteFunction("bench.noop") { () -> Int in 0 }
let blob = RemoteFunction("bench.blob") { (seed: Int, size: Int) -> [UInt8] in
    [UInt8](repeating: UInt8(truncatingIfNeeded: seed), count: size)
}
let length = RemoteFunction("bench.length") { (bytes: [UInt8]) -> Int in bytes.count }
/// Reads its argument where it landed (mapped from the store, no copy).
let sharedLength = RemoteFunction("bench.shared-length") { (bytes: SharedBytes) -> Int in bytes.count }
let increment = RemoteFunction("bench.increment") { (x: Int) -> Int in x + 1 }
/// Not in ray_perf.py: a parent submits `n` tasks from its body and gets them (nested tasks).
let nestedParent = RemoteFunction("bench.nested-parent") { (n: Int) throws -> Int in
    try Ray.get(try (0..<n).map { _ in try noop.remote() }).count
}

/// Not in ray_perf.py: `n` round trips of a child task submitted from this body, one at a time
/// (microseconds each, after 200 warm-up ones).
let nestedRoundTrips = RemoteFunction("bench.nested-round-trips") { (n: Int) throws -> [Double] in
    for _ in 0..<200 { _ = try noop.remote().get() }
    var samples: [Double] = []
    samples.reserveCapacity(n)
    for _ in 0..<n {
        let start = now()
        _ = try noop.remote().get()
        samples.append((now() - start) * 1e6)
    }
    return samples
}

/// Ray's `Actor.small_value` (ray_perf.py's 1:1 actor calls).
distributed actor BenchActor {
    typealias ActorSystem = RayActorSystem
    init(actorSystem: RayActorSystem) { self.actorSystem = actorSystem }
    distributed func smallValue() -> Int { 0 }
    /// Ray's `small_value_arg(x)`: `x` is a reference, its value fetched with the call's arguments.
    distributed func smallValueArg(_ x: ObjectRef<Int>) throws -> Int { try x.get() }
}
extension BenchActor: RayValue {}
let benchActors = ActorClass("bench.Actor") { () in BenchActor(actorSystem: .shared) }

/// ray_perf's `Client`: calls its servers `n` times each, then gets every result.
distributed actor BenchClient {
    typealias ActorSystem = RayActorSystem
    var servers: [BenchActor] = []
    init(actorSystem: RayActorSystem) { self.actorSystem = actorSystem }
    distributed func serve(_ servers: [BenchActor]) { self.servers = servers }
    distributed func smallValueBatch(_ n: Int) async throws -> Int {
        var refs: [ObjectRef<Int>] = []
        for server in servers {
            for _ in 0..<n { refs.append(try await Ray.reference { try await server.smallValue() }) }
        }
        return try await Ray.get(refs).count
    }
    /// `small_value_batch_arg`: one value put, passed by reference to every call.
    distributed func smallValueBatchArg(_ n: Int) async throws -> Int {
        let x = try Ray.put(0)
        var refs: [ObjectRef<Int>] = []
        for server in servers {
            for _ in 0..<n { refs.append(try await Ray.reference { try await server.smallValueArg(x) }) }
        }
        return try await Ray.get(refs).count
    }
}
let benchClients = ActorClass("bench.Client") { () in BenchClient(actorSystem: .shared) }

/// ray_perf's n:n `work(actors)`: `n` calls spread over the actors, then their results got.
let actorWork = RemoteFunction("bench.actor-work") { (actors: [BenchActor], n: Int) throws -> Int in
    try Ray.blocking {
        var refs: [ObjectRef<Int>] = []
        refs.reserveCapacity(n)
        for i in 0..<n { refs.append(try await Ray.reference { try await actors[i % actors.count].smallValue() }) }
        return try await Ray.get(refs).count
    }
}
/// ray_perf's 1:1 async calls: 1000 calls of the actor submitted (`Ray.reference`), then got.
func thousandCalls(_ actor: BenchActor) throws {
    _ = try Ray.blocking {
        var refs: [ObjectRef<Int>] = []
        refs.reserveCapacity(1000)
        for _ in 0..<1000 { refs.append(try await Ray.reference { try await actor.smallValue() }) }
        return try await Ray.get(refs)
    }
}

/// ray_perf's `n_cpu = cpu_count() // 2` (at least one).
let halfTheCPUs = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

let arguments = Array(CommandLine.arguments.dropFirst())
let quick = arguments.contains("--quick")
let logInputs = !arguments.contains("--no-log")
let only: Set<String>? = arguments.firstIndex(of: "--only").flatMap { flag in
    flag + 1 < arguments.count ? Set(arguments[flag + 1].split(separator: ",").map(String.init)) : nil
}
let clientMode = arguments.first == "--client"
let usage = """
    usage: swiftray-bench [--quick] [--no-log] [--only NAME[,NAME...]]
      --quick   shorter measurements (0.5 s each instead of 2 s)
      --no-log  do not log the processes' inputs (only to measure what logging costs)
      --only    run only these benchmarks, by the names it prints (e.g. single_client_tasks_sync,
                cross_node_1gib_tls_gigabytes); without it, every benchmark runs (several minutes)

    """
if !clientMode && ProcessInfo.processInfo.environment["SWIFTRAY_ROLE"] == nil {
    if arguments.contains("--help") || arguments.contains("-h") {
        print(usage, terminator: "")
        exit(0)
    }
    var index = 0
    while index < arguments.count {
        switch arguments[index] {
        case "--quick", "--no-log": index += 1
        case "--only" where index + 1 < arguments.count: index += 2
        default:
            FileHandle.standardError.write(Data("swiftray-bench: unknown or incomplete argument '\(arguments[index])'\n\(usage)".utf8))
            exit(2)
        }
    }
}

/// Seconds each throughput measurement runs.
let duration = quick ? 0.5 : 2.0

func emit(_ name: String, _ value: Double, _ unit: String) {
    print("\(name)\t\(String(format: value >= 100 ? "%.0f" : "%.3f", value))\t\(unit)")
    fflush(nil)
}

func wanted(_ name: String) -> Bool { only.map { $0.contains(name) } ?? true }

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Runs `body` repeatedly for `duration` seconds (after one warm-up call); returns calls per second
/// times `perCall` (ray_perf's `timeit`).
func rate(perCall: Int = 1, _ body: () throws -> Void) rethrows -> Double {
    try body()
    let start = now()
    var calls = 0
    while now() - start < duration {
        try body()
        calls += 1
    }
    return Double(calls * perCall) / (now() - start)
}

/// Resident memory of a process and all its descendants, in bytes: RSS (shared library
/// pages counted once per process, as psutil's rss) or PSS (shared pages split between
/// the processes that map them: what the cluster really uses).
func treeMemory(_ root: Int32, proportional: Bool) -> Int64 {
    var children: [Int32: [Int32]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 2, let parent = Int32(fields[1]) { children[parent, default: []].append(pid) }
    }
    var total: Int64 = 0
    var stack = [root]
    while let pid = stack.popLast() {
        let (file, field) = proportional ? ("smaps_rollup", "Pss:") : ("status", "VmRSS:")
        if let status = try? String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
           let kib = Int64(line.split(separator: " ").dropFirst().first ?? "") {
            total += kib * 1024
        }
        stack.append(contentsOf: children[pid] ?? [])
    }
    return total
}

func printTree(_ root: Int32) {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              status.contains("PPid:\t\(root)\n") || pid == root || status.contains("swiftray") else { continue }
        let lines = status.split(separator: "\n").filter { $0.hasPrefix("Name:") || $0.hasPrefix("VmRSS:") || $0.hasPrefix("RssFile") || $0.hasPrefix("RssAnon") || $0.hasPrefix("RssShmem") }
        print("  \(pid): \(lines.joined(separator: " "))")
    }
}

/// A client process of multi_client_tasks_async: submits batches until told the duration, prints its count.
func runClient() throws {
    let address = arguments[1]
    try Ray.connect(rayletSocket: address)
    let start = now()
    var done = 0
    while now() - start < duration {
        let refs = try (0..<1000).map { _ in try noop.remote() }
        _ = try Ray.get(refs)
        done += 1000
    }
    print(Double(done) / (now() - start))
    Ray.shutdown()
}

Role.runIfRequested()

/// A raylet SIGKILLed while its node holds the only copies of four 1 MiB objects:
/// seconds from the kill until the driver's get of all four returns (rebuilt from lineage).
func rayletKillRecovery() throws -> Double {
    let cluster = try LocalCluster(executable: currentExecutablePath(), logInputs: logInputs)
    defer { cluster.stop() }
    try cluster.startGCS()
    for name in ["head", "n2", "n3"] { try cluster.addNode(name: name, resources: ResourceSet(["CPU": 1000])) }
    try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, logRoot: logInputs ? cluster.session.logs : nil)
    defer { Ray.shutdown() }
    let there = TaskOptions(scheduling: .nodeAffinity(node: cluster.node(named: "n3")!.id.value, soft: true))
    let blobs = try (0..<4).map { try blob.options(there).remote($0, 1 << 20) }
    _ = try Ray.get(try blobs.map { try length.options(there).remote($0) })
    let start = now()
    cluster.killNode(named: "n3")
    let values = try Ray.get(blobs, timeout: .seconds(60))
    let seconds = now() - start
    guard values.map(\.count) == Array(repeating: 1 << 20, count: 4) else { throw Ray.Error.runtime("wrong values") }
    return seconds
}

/// A 1 GiB object put on the head and read by a task on a second node (its raylet pulls it over
/// TCP, in chunks): GB/s of the best of three (the first warms the receiving store's pages),
/// with TLS on every TCP link or without.
func crossNodeTransfer(tls: Bool) throws -> (first: Double, best: Double) {
    var material: String?
    if tls {
        let directory = NSTemporaryDirectory() + "swiftray-bench-tls-\(getpid())"
        try TLSContext.makeCertificates(caDirectory: directory, outDirectory: directory, name: "bench", makeCA: true)
        material = directory
    }
    defer { if let material { try? FileManager.default.removeItem(atPath: material) } }
    let cluster = try LocalCluster(executable: currentExecutablePath(), logInputs: logInputs, tlsDirectory: material)
    defer { cluster.stop() }
    try cluster.startGCS()
    try cluster.addNode(name: "head", resources: ResourceSet(["CPU": 1000]), objectStoreBytes: 3 << 30)
    let n2 = try cluster.addNode(name: "n2", resources: ResourceSet(["CPU": 1000]), objectStoreBytes: 3 << 30)
    try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, logRoot: logInputs ? cluster.session.logs : nil)
    defer { Ray.shutdown() }
    let there = TaskOptions(scheduling: .nodeAffinity(node: n2.id.value, soft: false))
    _ = try length.options(there).remote([1, 2, 3]).get()  // n2's worker is up
    let size = 1 << 30
    let bytes = [UInt8](repeating: 5, count: size)
    var rates: [Double] = []
    for _ in 0..<3 {
        let ref = try Ray.put(bytes)
        let start = now()
        let count = try sharedLength.options(there).remote(ref.retyped()).get()
        rates.append(Double(size) / 1e9 / (now() - start))
        guard count == size else { throw Ray.Error.runtime("n2 read \(count) bytes, not \(size)") }
    }
    return (rates[0], rates.max() ?? 0)
}

do {
    if wanted("tls_memory_gigabytes") && !clientMode {
        let directory = NSTemporaryDirectory() + "swiftray-bench-tls-memory-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try TLSContext.makeCertificates(caDirectory: directory, outDirectory: directory, name: "bench", makeCA: true)
        emit("tls_memory_gigabytes", try TLSBenchmark.throughput(directory: directory, megabytes: 1024), "GB/s")
    }
    for (name, tls) in [("cross_node_1gib_gigabytes", false), ("cross_node_1gib_tls_gigabytes", true)]
    where wanted(name) && !clientMode {
        let (first, best) = try crossNodeTransfer(tls: tls)
        emit(name, best, "GB/s")
        emit(name.replacingOccurrences(of: "_gigabytes", with: "_first_gigabytes"), first, "GB/s")
    }
    if wanted("raylet_kill_recovery_seconds") && !clientMode {
        emit("raylet_kill_recovery_seconds", try rayletKillRecovery(), "s")
    }
    if clientMode {
        try runClient()
        exit(0)
    }
    var options = Ray.StartOptions()
    options.logInputs = logInputs
    options.resources = ["custom": 100]  // ray_perf's ray.init(resources={"custom": 100}) for the groups
    let startBegan = now()
    try Ray.start(options)
    let startSeconds = now() - startBegan
    if wanted("cluster_start_seconds") { emit("cluster_start_seconds", startSeconds, "s") }
    if wanted("cluster_rss_mib") {
        // After a warm-up that starts a worker per CPU, as Ray's figure is taken.
        _ = try Ray.get(try (0..<1000).map { _ in try noop.remote() })
        emit("cluster_rss_mib", Double(treeMemory(getpid(), proportional: false)) / 1048576, "MiB")
        emit("cluster_pss_mib", Double(treeMemory(getpid(), proportional: true)) / 1048576, "MiB")
        if arguments.contains("--rss-detail") { printTree(getpid()) }
    }

    if wanted("single_client_tasks_sync") {
        emit("single_client_tasks_sync", try rate { _ = try noop.remote().get() }, "tasks/s")
    }
    if wanted("single_client_tasks_async") {
        emit("single_client_tasks_async", try rate(perCall: 1000) {
            _ = try Ray.get(try (0..<1000).map { _ in try noop.remote() })
        }, "tasks/s")
    }
    if wanted("actor_calls_sync") || wanted("actor_calls_async") {
        let actor = try benchActors.remote()
        // ray_perf's 1:1 actor calls: one caller, one actor (num_cpus=0), a call and its get at a time...
        if wanted("actor_calls_sync") {
            emit("actor_calls_sync", try rate { _ = try Ray.blocking { try await actor.smallValue() } }, "calls/s")
        }
        // ... and 1000 calls submitted, then got.
        if wanted("actor_calls_async") {
            emit("actor_calls_async", try rate(perCall: 1000) { try thousandCalls(actor) }, "calls/s")
        }
        try Ray.kill(actor)
    }
    if wanted("actor_calls_concurrent") {
        // ray_perf's 1:1 actor calls concurrent: max_concurrency=16, 1000 calls submitted, then got.
        let actor = try benchActors.options(ActorClassOptions(maxConcurrency: 16)).remote()
        emit("actor_calls_concurrent", try rate(perCall: 1000) { try thousandCalls(actor) }, "calls/s")
        try Ray.kill(actor)
    }
    if wanted("actor_calls_1_n") || wanted("actor_calls_n_n_with_arg") {
        // ray_perf's 1:n actor calls async (a client actor calls n_cpu actors 5000 times each) and
        // n:n actor calls with arg async (n_cpu clients, each calling its own actor 1000 times
        // with a reference argument).
        let servers = try (0..<halfTheCPUs).map { _ in try benchActors.remote() }
        if wanted("actor_calls_1_n") {
            let client = try benchClients.remote()
            try Ray.blocking { try await client.serve(servers) }
            emit("actor_calls_1_n", try rate(perCall: 5000 * servers.count) {
                _ = try Ray.blocking { try await client.smallValueBatch(5000) }
            }, "calls/s")
            try Ray.kill(client)
        }
        if wanted("actor_calls_n_n_with_arg") {
            let clients = try servers.map { server in
                let client = try benchClients.remote()
                try Ray.blocking { try await client.serve([server]) }
                return client
            }
            emit("actor_calls_n_n_with_arg", try rate(perCall: 1000 * clients.count) {
                _ = try Ray.blocking {
                    var refs: [ObjectRef<Int>] = []
                    for client in clients { refs.append(try await Ray.reference { try await client.smallValueBatchArg(1000) }) }
                    return try await Ray.get(refs)
                }
            }, "calls/s")
            for client in clients { try Ray.kill(client) }
        }
        for server in servers { try Ray.kill(server) }
    }
    if wanted("actor_calls_n_n") {
        // ray_perf's n:n actor calls async: 4 tasks, each calling n_cpu actors 5000 times in all.
        let actors = try (0..<halfTheCPUs).map { _ in try benchActors.remote() }
        emit("actor_calls_n_n", try rate(perCall: 4 * 5000) {
            _ = try Ray.get(try (0..<4).map { _ in try actorWork.remote(actors, 5000) })
        }, "calls/s")
        for actor in actors { try Ray.kill(actor) }
    }
    if wanted("actors_created") {
        // Not in ray_perf: 10 actors created and each called once (so each is up), then killed.
        emit("actors_created", try rate(perCall: 10) {
            let actors = try (0..<10).map { _ in try benchActors.remote() }
            _ = try Ray.blocking {
                var refs: [ObjectRef<Int>] = []
                for actor in actors { refs.append(try await Ray.reference { try await actor.smallValue() }) }
                return try await Ray.get(refs)
            }
            for actor in actors { try Ray.kill(actor) }
        }, "actors/s")
    }
    if wanted("placement_group_create_removal") {
        // ray_perf's: 100 groups of one {custom: 0.001} bundle created, each waited for, then removed.
        emit("placement_group_create_removal", try rate(perCall: 100) {
            let groups = try (0..<100).map { _ in try PlacementGroup.create(bundles: [["custom": 0.001]]) }
            for group in groups { try group.ready(timeout: .seconds(30)) }
            for group in groups { try group.remove() }
        }, "groups/s")
    }
    if wanted("nested_tasks_async") {
        // Ten parents, each submitting 100 children from its body and getting them: children per second.
        emit("nested_tasks_async", try rate(perCall: 1000) {
            _ = try Ray.get(try (0..<10).map { _ in try nestedParent.remote(100) })
        }, "tasks/s")
    }
    if wanted("multi_client_tasks_async") {
        // Ray's version submits from several actors; here from 4 driver processes on the same node.
        let socket = Ray.sessionDirectory.map { $0 + "/sockets/raylet-head.sock" } ?? ""
        let clients = (0..<4).map { _ -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: currentExecutablePath())
            process.arguments = ["--client", socket] + (quick ? ["--quick"] : [])
            process.standardOutput = Pipe()
            return process
        }
        for client in clients { try client.run() }
        var total = 0.0
        for client in clients {
            client.waitUntilExit()
            let data = (client.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
            total += Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        emit("multi_client_tasks_async", total, "tasks/s")
    }
    if wanted("single_client_put_calls") {
        // A put returns before the owner's loop has handled it; every 1000 puts, a get of the
        // last one waits until the loop (and its log) caught up, so the rate counts that work too.
        emit("single_client_put_calls", try rate(perCall: 1000) {
            var last: ObjectRef<Int>?
            for _ in 0..<1000 { last = try Ray.put(0) }
            _ = try last!.get()
        }, "puts/s")
    }
    if wanted("single_client_get_calls") {
        let ref = try Ray.put(0)
        emit("single_client_get_calls", try rate { _ = try ref.get() }, "gets/s")
    }
    if wanted("single_client_get_calls_async") {
        // The same gets through `try await ref.value`, in one task (issue 8: no dearer than blocking).
        let ref = try Ray.put(0)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var gets = 0.0
        // Detached: top-level code is on the main actor, which `done.wait()` blocks.
        Task.detached {
            _ = try? await ref.value
            let start = now()
            var calls = 0
            while now() - start < duration {
                _ = try? await ref.value
                calls += 1
            }
            gets = Double(calls) / (now() - start)
            done.signal()
        }
        done.wait()
        emit("single_client_get_calls_async", gets, "gets/s")
    }
    if wanted("single_client_wait_1k_refs") {
        // As ray_perf: submit 1000 tasks, then wait for them one at a time (rounds/s): exactly
        // 1000 waits, since a wait never returns more than numReturns ready, as Ray's.
        emit("single_client_wait_1k_refs", try rate {
            var notReady = try (0..<1000).map { _ in try noop.remote() }
            while !notReady.isEmpty { notReady = try Ray.wait(notReady, numReturns: 1).notReady }
        }, "rounds/s")
    }
    if wanted("single_client_tasks_and_get_batch") {
        emit("single_client_tasks_and_get_batch", try rate {
            _ = try Ray.get(try (0..<1000).map { _ in try noop.remote() })
        }, "batches/s")
    }
    if wanted("task_roundtrip_median_us") || wanted("task_roundtrip_p99_us") {
        for _ in 0..<200 { _ = try noop.remote().get() }
        var samples: [Double] = []
        for _ in 0..<(quick ? 1000 : 5000) {
            let start = now()
            _ = try noop.remote().get()
            samples.append((now() - start) * 1e6)
        }
        samples.sort()
        emit("task_roundtrip_median_us", samples[samples.count / 2], "us")
        emit("task_roundtrip_p99_us", samples[samples.count * 99 / 100], "us")
    }
    if wanted("nested_task_roundtrip_median_us") {
        // The issue's bound: a nested task's round trip adds no more than one local hop to a
        // driver-submitted one (task_roundtrip_median_us, measured just before in the same run).
        var samples = try nestedRoundTrips.remote(quick ? 1000 : 5000).get()
        samples.sort()
        emit("nested_task_roundtrip_median_us", samples[samples.count / 2], "us")
        emit("nested_task_roundtrip_p99_us", samples[samples.count * 99 / 100], "us")
    }
    if wanted("chain_1000_seconds") {
        var best = Double.infinity
        for _ in 0..<3 {
            let start = now()
            var ref = try increment.remote(0)
            for _ in 1..<1000 { ref = try increment.remote(ref) }
            guard try ref.get() == 1000 else { throw Ray.Error.runtime("the chain computed a wrong value") }
            best = min(best, now() - start)
        }
        emit("chain_1000_seconds", best, "s")
    }
    // Large puts last: the memory they touch and free would disturb the latency figures.
    if wanted("put_1gib_fresh_gigabytes") {
        // The issue's target: one 1 GiB put on a fresh store, against memcpy into fresh memory.
        let size = 1 << 30
        let bytes = [UInt8](repeating: 2, count: size)
        let start = now()
        let ref = try Ray.put(bytes)
        emit("put_1gib_fresh_gigabytes", Double(size) / 1e9 / (now() - start), "GB/s")
        let target = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let copyStart = now()
        bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: size) }
        emit("memcpy_1gib_fresh_gigabytes", Double(size) / 1e9 / (now() - copyStart), "GB/s")
        target.deallocate()
        // Reading it back maps the shared-memory copy: no bytes are copied.
        let readStart = now()
        let shared: SharedBytes = try Ray.get(ref.retyped())
        precondition(shared.count == size && shared.isMapped, "the get did not map the stored object")
        emit("get_1gib_mapped_ms", (now() - readStart) * 1000, "ms")
    }
    if wanted("single_client_put_gigabytes") {
        // As ray_perf: put an 800 MiB array again and again (each reference dropped at once),
        // counted as 0.8 "GB" per put; memcpy likewise into warm memory.
        let size = 800 << 20
        let bytes = [UInt8](repeating: 1, count: size)
        // Warm up as ray_perf does (its store's pages get touched once, then reused); here the
        // first puts fill fresh tmpfs pages and later ones reuse released objects' files.
        for _ in 0..<3 { _ = try Ray.put(bytes) }
        let putStart = now()
        let puts = quick ? 4 : 10
        for _ in 0..<puts { _ = try Ray.put(bytes) }
        emit("single_client_put_gigabytes", Double(puts) * 0.8 / (now() - putStart), "GB/s")
        let target = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: size) }
        emit("memcpy_gigabytes", rate { bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: size) } } * 0.8,
             "GB/s")
        target.deallocate()
    }
    if wanted("raylet_delayed_flood_ms") {
        // The raylet machine alone (no I/O): a job past its object-request rate sends 10 000
        // fetches, all delayed (its FIFO up to the default delayed bound). Each must cost O(1).
        var config = RayConfig()
        config.objectRequestsPerSecondPerJobMax = 1
        var raylet = Raylet()
        _ = raylet.handle(.started(config, NodeInfo(nodeID: NodeID(1), name: "n1", resources: .units(["CPU": 4]),
                                                    objectStoreBytes: 1 << 30)), now: 0)
        let driver = WorkerID(node: NodeID(1), index: 900)
        _ = raylet.handle(.driverConnected(driver, job: JobID(1)), now: 1)
        let object = ObjectID.returnValue(of: TaskID(value: 77), index: 1)
        let start = now()
        for id in 1...10_000 as ClosedRange<UInt64> {
            _ = raylet.handle(.messageReceived(from: .worker(driver), .fetchObjects(requestID: id, objects: [object],
                                                                                     owner: driver)), now: 10)
        }
        emit("raylet_delayed_flood_ms", (now() - start) * 1000, "ms")
    }
    if wanted("crc32c_gigabytes") {
        // What checksumming costs per byte: object chunks in transit and spill files (Security).
        let bytes = [UInt8](repeating: 7, count: 64 << 20)
        var sum: UInt32 = 0
        emit("crc32c_gigabytes", rate { bytes.withUnsafeBytes { sum ^= FastCRC32C.update(0, $0) } } * Double(64 << 20) / 1e9,
             "GB/s")
        if sum == 1 { print("") }  // keeps the work
    }
    Ray.shutdown()
} catch {
    writeStandardError("swiftray-bench: \(error)\n")
    Ray.shutdown()
    exit(1)
}
