// Creating distributed actors on the cluster: an `ActorClass` names a
// constructor (registered before `Ray.start()`, as remote functions are, so
// every worker knows it) and creates instances where the scheduler places
// them: `let counter = try counters.remote(5)` returns a remote reference to a
// `Counter` whose methods are Ray actor calls.
//
//     distributed actor Counter {
//         typealias ActorSystem = RayActorSystem
//         var count: Int
//         init(start: Int, actorSystem: RayActorSystem) { self.actorSystem = actorSystem; count = start }
//         distributed func increment(by n: Int) -> Int { count += n; return count }
//     }
//     let counters = ActorClass("Counter") { (start: Int) in Counter(start: start, actorSystem: .shared) }
//     try Ray.start()
//     let counter = try counters.remote(5)
//     let seven = try await counter.increment(by: 2)

public import Distributed
import Synchronization
import Dispatch
public import RayCore
import RayRuntime

/// How an actor is created and kept (Ray's actor `.options(...)`).
public struct ActorClassOptions: Sendable, Hashable {
    /// CPUs held for the actor's life. Ray's default needs one CPU to place an actor and holds
    /// none while it runs; SwiftRay holds what is asked, so the default is 0.
    public var numCPUs: Double = 0
    public var numGPUs: Double = 0
    public var resources: [String: Double] = [:]
    /// Restarts after its process dies (the constructor runs again; state starts afresh); -1 is infinite.
    public var maxRestarts: Int = 0
    /// Retries of a call in flight when the actor died: 0 (at-most-once), n, or -1 (infinite).
    public var maxTaskRetries: Int = 0
    /// A name unique in its namespace (`""`: none).
    public var name: String = ""
    /// Where the name is unique and can be looked up (`Ray.getActor(name, namespace:)`). `""`:
    /// the job's own anonymous namespace, as Ray's when `ray.init` names none: two programs
    /// may use one name without clashing, and only the creating job finds it. Name a
    /// namespace to share the actor with other jobs.
    public var namespace: String = ""
    /// Outlives the driver that created it (until `Ray.kill`).
    public var detached = false
    /// Calls that may run at once (Ray's threaded/async actors): above 1, a call waiting in an
    /// `await` lets the next one start on the actor (Swift actor reentrancy); they may end in any order.
    public var maxConcurrency = 1
    /// Runs in this placement group's bundle `bundleIndex` (-1: any), holding what it asks for
    /// there (an actor in a group must ask for some resource: `numCPUs` defaults to 0).
    public var placementGroup: PlacementGroup?
    public var bundleIndex: Int = -1

    public init(numCPUs: Double = 0, numGPUs: Double = 0, resources: [String: Double] = [:], maxRestarts: Int = 0,
                maxTaskRetries: Int = 0, name: String = "", namespace: String = "", detached: Bool = false,
                maxConcurrency: Int = 1, placementGroup: PlacementGroup? = nil, bundleIndex: Int = -1) {
        self.maxConcurrency = maxConcurrency
        self.placementGroup = placementGroup
        self.bundleIndex = bundleIndex
        self.numCPUs = numCPUs
        self.numGPUs = numGPUs
        self.resources = resources
        self.maxRestarts = maxRestarts
        self.maxTaskRetries = maxTaskRetries
        self.name = name
        self.namespace = namespace
        self.detached = detached
    }

    func validated() throws -> (ResourceSet, RayCore.ActorOptions) {
        let resources = try TaskOptions(numCPUs: numCPUs, numGPUs: numGPUs, resources: self.resources,
                                        placementGroup: placementGroup, bundleIndex: bundleIndex).validated()
        guard maxRestarts >= -1 else {
            throw Ray.Error.invalidArgument("maxRestarts must be ≥ 0, or -1 for infinite; got \(maxRestarts)")
        }
        guard maxTaskRetries >= -1 else {
            throw Ray.Error.invalidArgument("maxTaskRetries must be ≥ 0, or -1 for infinite; got \(maxTaskRetries)")
        }
        guard maxConcurrency >= 1 else {
            throw Ray.Error.invalidArgument("maxConcurrency must be ≥ 1; got \(maxConcurrency)")
        }
        let namespace = name.isEmpty || !self.namespace.isEmpty ? self.namespace : try Ray.anonymousNamespace
        return (resources, RayCore.ActorOptions(maxRestarts: maxRestarts, maxTaskRetries: maxTaskRetries,
                                                maxConcurrency: maxConcurrency, name: name, namespace: namespace,
                                                detached: detached))
    }
}

/// A distributed actor class the cluster can create, registered under `name`.
public struct ActorClass<Instance: DistributedActor, each Arg: Codable>: Sendable
where Instance.ActorSystem == RayActorSystem {
    public let name: String
    public var options: ActorClassOptions

    /// Registers `make` under `name`; it makes the instance with `actorSystem: .shared`. Create it
    /// before `Ray.start()` (workers run the program up to there).
    public init(_ name: String, options: ActorClassOptions = ActorClassOptions(),
                _ make: @escaping @Sendable (repeat each Arg) throws -> Instance) {
        self.name = name
        self.options = options
        if ActorRegistry.lookup(name) != nil || FunctionRegistry.lookup(name) != nil {
            RemoteFunctions.duplicates.withLock { $0.append(name) }
        }
        ActorRegistry.register(name) { arguments in
            guard var context = TaskContext.current else {
                throw Ray.Error.runtime("\(name)'s constructor ran outside an actor's worker")
            }
            let id = RayCore.ActorID(creationTask: context.task)
            // References inside the values follow them, then the list of their IDs (small ones
            // arrive inline, without their IDs): the values' ObjectRefs read them.
            let declared = countTypes(repeat (each Arg).self)
            if arguments.count > declared + 1, let last = arguments.last {
                let ids = try ValueCoding.decode([ObjectID].self, from: last, object: nil)
                for (offset, object) in ids.enumerated() where declared + offset < arguments.count - 1 {
                    context.references[object] = arguments[declared + offset]
                }
            }
            // The instance takes the actor's cluster ID (its system asks while it initializes).
            let values = try TaskContext.$current.withValue(context) {
                try decodedArguments(repeat (each Arg).self, of: name, from: arguments)
            }
            let instance = try RayActorSystem.$assigning.withValue(id) { try make(repeat each values) }
            return HostedActorInstance(instance: instance)
        }
    }

    /// A copy with other options (Ray's `.options(...)`).
    public func options(_ options: ActorClassOptions) -> ActorClass {
        var copy = self
        copy.options = options
        return copy
    }

    /// Creates an actor on the cluster (placed by the scheduler); returns a remote reference to it
    /// at once. Its methods wait until it is up; a constructor that throws makes every call fail
    /// with ActorDied saying so.
    public func remote<each P: TaskArgument>(_ args: repeat each P) throws -> Instance
    where repeat (each P).ArgumentValue == each Arg {
        let client = try Ray.client()
        try RemoteFunctions.checkKnownToWorkers(name, actor: true)
        // Values inline, or ObjectRefs: the actor is placed once they exist (DEPENDENCIES_UNREADY).
        var taskArgs: [TaskArg] = []
        var nested: [ObjectID] = []
        // Actor handles among them are references too: the new actor's worker borrows each from this
        // process while it keeps it (in its state, say), and this process holds them (or its own
        // borrow of them) while it lives.
        for argument in repeat each args { try argument.taskArgs(into: &taskArgs, nested: &nested) }
        // References inside values follow the declared arguments, as a task's (the actor is placed
        // once they exist, its owner holds them while it lives: a restart reads them again), then
        // their IDs (a small one reaches the worker inline, without its ID); the constructor reads
        // them with `get`.
        if !nested.isEmpty {
            for object in nested { taskArgs.append(.reference(object)) }
            let ids = try ValueCoding.encodeResult(nested, of: "\(name)'s constructor references")
            taskArgs.append(.value(ObjectData(sizeBytes: Int64(ids.count), digest: 0, bytes: ids)))
        }
        let (resources, coreOptions) = try options.validated()
        let request = TaskRequest(function: name, instance: RemoteFunctions.nextInstance(of: name), args: taskArgs,
                                  resources: resources, strategy: .default, maxRetries: 0, retryExceptions: false,
                                  body: [])
        let id = client.createActor(request, coreOptions)
        RayActorSystem.shared.handles.createdHere(id)
        return try Instance.resolve(id: id, using: RayActorSystem.shared)
    }
}

/// Keeps the instance alive in its worker (the actor system holds it only weakly, by ID).
final class HostedActorInstance: ActorInstance {
    let instance: any DistributedActor
    let hosted: HostedDistributedActor

    init<A: DistributedActor>(instance: A) where A.ID == RayCore.ActorID {
        self.instance = instance
        hosted = HostedDistributedActor(id: instance.id)
    }

    func call(_ method: String, _ arguments: [FetchedValue],
              done: @escaping @Sendable (Result<[[UInt8]], any Error>) -> Void) {
        hosted.call(method, arguments, done: done)
    }
}


extension Ray {
    /// Kills an actor (`ray.kill`): its process exits; calls in flight and later ones fail with
    /// ActorDied. With `noRestart: false` it restarts if its `maxRestarts` allows.
    public static func kill<A: DistributedActor>(_ actor: A, noRestart: Bool = true) throws
    where A.ID == RayCore.ActorID {
        let client = try client()
        client.killActor(actor.id, noRestart: noRestart)
    }

    /// The namespace of actors named without one: the calling job's own (Ray's anonymous
    /// namespace, one per job).
    static var anonymousNamespace: String {
        get throws { "anonymous-\(try runtimeContext.job)" }
    }

    /// The live actor created with `name` (`ActorClassOptions.name`) in `namespace`, from any
    /// driver or task of the cluster (Ray's `ray.get_actor`); `""` is the calling job's own
    /// anonymous namespace (where an actor created without a namespace is). Throws when no live
    /// actor has that name there.
    public static func getActor<A: DistributedActor>(_ name: String, namespace: String = "", as type: A.Type = A.self,
                                                     timeout: Duration = .seconds(30)) throws -> A
    where A.ID == RayCore.ActorID, A.ActorSystem == RayActorSystem {
        guard !name.isEmpty else { throw Ray.Error.invalidArgument("getActor needs a name") }
        let namespace = namespace.isEmpty ? try anonymousNamespace : namespace
        let client = try client()
        guard let answer = client.lookupActor(name: name, namespace: namespace, timeoutSeconds: seconds(timeout)) else {
            throw Ray.Error.timeout("the GCS did not answer the lookup of actor '\(name)' within \(timeout)")
        }
        guard let id = answer else {
            throw Ray.Error.invalidArgument("no live actor is named '\(name)' in namespace '\(namespace)'"
                + (namespace == (try? anonymousNamespace) ? " (this job's own: an actor another job created "
                    + "without a namespace is not found from here; create it in a named one)" : ""))
        }
        return try A.resolve(id: id, using: RayActorSystem.shared)
    }

    /// Runs async code (an actor call) from synchronous code, a task body say, and waits for it:
    /// `let n = try Ray.blocking { try await counter.increment(by: 1) }`. In a task body the
    /// worker's loop goes on meanwhile.
    public static func blocking<T>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        // The body runs on this thread, which would wait for it anyway.
        let executor = CallingThreadExecutor()
        nonisolated(unsafe) var result: Result<T, any Swift.Error>?
        if TaskContext.current != nil { WorkerHost.bodyWillBlock() }
        Task(executorPreference: executor) {
            do { result = .success(try await body()) } catch { result = .failure(error) }
            executor.finish()
        }
        executor.run()
        return try result!.get()
    }

    /// The reference to the result of the one actor call `call` makes, instead of its value
    /// (for pipelining: pass it to a task, get it later):
    /// `let ref = try await Ray.reference { try await counter.increment(by: 1) }`.
    public static func reference<R: Codable>(_ call: () async throws -> R) async throws -> ObjectRef<R> {
        let capture = ReferenceCapture()
        do {
            _ = try await ReferenceCapture.$current.withValue(capture) { try await call() }
        } catch is ReferenceCapture.Captured {
            if let reference = capture.reference as? ObjectRef<R> { return reference }
        }
        throw Ray.Error.invalidArgument("Ray.reference { ... } must make exactly one call of a distributed actor's "
            + "method, returning \(R.self)")
    }
}
