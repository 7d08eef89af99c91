// Remote functions: a Swift closure registered under a stable name, callable
// with `.remote(args)` on the cluster. Each argument is a value (passed
// inline) or an `ObjectRef` of the parameter's type (resolved before the body
// runs, as Ray resolves top-level ObjectRef arguments). References inside a
// value (`[ObjectRef<Int>]`, a struct holding one) travel as references: the
// task depends on them, and the body reads them with `get`.

import Synchronization
public import RayCore
import RayRuntime

/// Something that can be passed to a remote function as a parameter of type `ArgumentValue`:
/// the value itself, or an `ObjectRef<ArgumentValue>`.
public protocol TaskArgument<ArgumentValue> {
    associatedtype ArgumentValue: Codable
    /// The argument as the owner submits it, followed by the references it holds inside.
    func taskArgs(into args: inout [TaskArg], nested: inout [ObjectID]) throws
}

/// A `Codable` value passed inline. Conform your own types with `extension MyType: RayValue {}`.
public protocol RayValue: TaskArgument, Codable where ArgumentValue == Self {}

extension RayValue {
    public func taskArgs(into args: inout [TaskArg], nested: inout [ObjectID]) throws {
        let (bytes, contained) = try ValueCoding.encodeCollectingReferences(self, forArgument: true)
        args.append(.value(ObjectData(sizeBytes: Int64(bytes.count), digest: 0, bytes: bytes)))
        for object in contained where !nested.contains(object) { nested.append(object) }
    }
}

extension ObjectRef: TaskArgument {
    public typealias ArgumentValue = T
    public func taskArgs(into args: inout [TaskArg], nested: inout [ObjectID]) throws {
        try checkUsable(asArgument: true, nested: false)
        args.append(.reference(id))
    }
}

extension Int: RayValue {}
extension Int8: RayValue {}
extension Int16: RayValue {}
extension Int32: RayValue {}
extension Int64: RayValue {}
extension UInt: RayValue {}
extension UInt8: RayValue {}
extension UInt16: RayValue {}
extension UInt32: RayValue {}
extension UInt64: RayValue {}
extension Double: RayValue {}
extension Float: RayValue {}
extension Bool: RayValue {}
extension String: RayValue {}
extension Array: TaskArgument, RayValue where Element: Codable {}
extension ContiguousArray: TaskArgument, RayValue where Element: Codable {}
extension Optional: TaskArgument, RayValue where Wrapped: Codable {}
extension Dictionary: TaskArgument, RayValue where Key: Codable, Value: Codable {}
extension Set: TaskArgument, RayValue where Element: Codable {}

/// The result of a function that returns nothing (`Void` is not `Codable`): a body
/// `{ (x: Int) -> Void in ... }` makes a `RemoteFunction` whose refs are `ObjectRef<RayVoid>`.
public struct RayVoid: RayValue, Hashable, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "()" }
}

/// Where a task may run (Ray's scheduling strategies).
public enum SchedulingStrategy: Sendable, Hashable {
    /// Ray's hybrid policy: pack onto the local node until it is half busy, then spread.
    case `default`
    /// Spread tasks across nodes.
    case spread
    /// Run on `node`; with `soft`, fall back to the default policy if it is dead or cannot run it.
    case nodeAffinity(node: UInt32, soft: Bool)

    var core: RayCore.SchedulingStrategy {
        switch self {
        case .default: return .default
        case .spread: return .spread
        case .nodeAffinity(let node, let soft): return .nodeAffinity(node: NodeID(node), soft: soft)
        }
    }
}

/// Per-function options (Ray's `@ray.remote(...)` / `.options(...)`).
public struct TaskOptions: Sendable, Hashable {
    public var numCPUs: Double = 1
    public var numGPUs: Double = 0
    public var resources: [String: Double] = [:]
    /// Retries after a worker or node failure (and re-executions to rebuild lost objects); -1 is infinite. Ray: 3.
    public var maxRetries: Int = 3
    /// Also retry when the body throws.
    public var retryExceptions = false
    public var scheduling: SchedulingStrategy = .default
    /// Runs in this placement group's bundle `bundleIndex` (-1: any of its bundles), on the
    /// resources it reserved (the task's `numCPUs`... are taken from the bundle).
    public var placementGroup: PlacementGroup?
    public var bundleIndex: Int = -1
    public init(numCPUs: Double = 1, numGPUs: Double = 0, resources: [String: Double] = [:], maxRetries: Int = 3,
                retryExceptions: Bool = false, scheduling: SchedulingStrategy = .default,
                placementGroup: PlacementGroup? = nil, bundleIndex: Int = -1) {
        self.numCPUs = numCPUs
        self.numGPUs = numGPUs
        self.resources = resources
        self.maxRetries = maxRetries
        self.retryExceptions = retryExceptions
        self.scheduling = scheduling
        self.placementGroup = placementGroup
        self.bundleIndex = bundleIndex
    }

    func validated() throws -> ResourceSet {
        var milli: [String: Int64] = [:]
        for (name, amount) in [("CPU", numCPUs), ("GPU", numGPUs)] + resources.sorted(by: { $0.key < $1.key }) {
            guard amount >= 0, amount.isFinite else {
                throw Ray.Error.invalidArgument("resource \(name) must be a finite amount ≥ 0, got \(amount)")
            }
            if amount > 0 { milli[name] = Int64((amount * 1000).rounded()) }
        }
        guard maxRetries >= -1 else {
            throw Ray.Error.invalidArgument("maxRetries must be ≥ 0, or -1 for infinite; got \(maxRetries)")
        }
        guard let placementGroup else { return ResourceSet(milli) }
        return try placementGroup.resources(ResourceSet(milli), bundle: bundleIndex)
    }
}

/// The registry's bookkeeping: duplicate names are reported at `Ray.start()`; a function
/// created after it is reported at `.remote` (workers stop at `Ray.start()`, so they lack it).
enum RemoteFunctions {
    static let duplicates = Mutex<[String]>([])
    /// The names registered when the program joined a cluster (nil before).
    static let atStart = Mutex<Set<String>?>(nil)

    static func checkRegistrations() throws {
        let names = duplicates.withLock { $0 }
        guard names.isEmpty else {
            throw Ray.Error.invalidArgument("remote function names must be unique; registered more than once: "
                + names.joined(separator: ", "))
        }
    }

    /// Calls per function so far in this job: tasks are named `name[0]`, `name[1]`, ... in submission order.
    static let instances = Mutex<[String: Int]>([:])

    static func nextInstance(of name: String) -> Int {
        instances.withLock { counts in
            defer { counts[name, default: 0] += 1 }
            return counts[name, default: 0]
        }
    }

    /// How the program joined the cluster ("Ray.start()" or "Ray.connect()"), for messages.
    nonisolated(unsafe) static var joinedBy = "Ray.start()"
    static func noteStart(_ call: String) {
        instances.withLock { $0 = [:] }  // A job numbers its tasks from 0.
        atStart.withLock { known in
            known = Set(FunctionRegistry.names + ActorRegistry.names)
            joinedBy = call
        }
    }
    static func noteShutdown() { atStart.withLock { $0 = nil } }

    /// Throws when `name` was registered after the program joined the cluster.
    static func checkKnownToWorkers(_ name: String, actor: Bool = false) throws {
        guard let known = atStart.withLock({ $0 }), !known.contains(name) else { return }
        // Inside a task body there is no start to compare against: the worker knows what it registered.
        guard TaskContext.current == nil else { return }
        let call = atStart.withLock { _ in joinedBy }
        throw Ray.Error.invalidArgument("\(actor ? "actor class" : "remote function") '\(name)' was created after \(call): worker processes "
            + "run this program only up to \(call) to learn its functions, so they do not know it. Create it "
            + "before \(call) (a `static let` is created on first use: touch it before starting)")
    }
}

/// A function that runs on the cluster, registered under `name`.
///
/// A body that returns several values as separate objects (Ray's `num_returns`) returns them
/// wrapped in `Returns`; its `.remote` then gives one reference per value:
///
///     let divmod = RemoteFunction("divmod") { (a: Int, b: Int) in Returns(a / b, a % b) }
///     let (quotient, remainder) = try divmod.remote(7, 2)   // ObjectRef<Int>, ObjectRef<Int>
public struct RemoteFunction<each Arg: Codable, Result>: Sendable {
    public let name: String
    public var options: TaskOptions
    /// How many objects a call returns (`Returns` bodies: one per value).
    let returnCount: Int

    /// Registers `body` under `name`. Create it before `Ray.start()` (workers run the program up to there).
    public init(_ name: String, options: TaskOptions = TaskOptions(),
                _ body: @escaping @Sendable (repeat each Arg) throws -> Result)
    where Result: Codable & SendableMetatype, repeat each Arg: SendableMetatype {
        self.init(name, options: options, returnCount: 1) { (args: repeat each Arg) in
            [try ValueCoding.encodeTaskResult(try body(repeat each args), of: name, index: 1)]
        }
    }

    /// Registers a body with several return values, each its own object (Ray's `num_returns`).
    public init<each Value: Codable & SendableMetatype>(_ name: String, options: TaskOptions = TaskOptions(),
                                     _ body: @escaping @Sendable (repeat each Arg) throws -> Returns<repeat each Value>)
    where Result == Returns<repeat each Value>, repeat each Arg: SendableMetatype {
        self.init(name, options: options, returnCount: Returns<repeat each Value>.count) { (args: repeat each Arg) in
            try body(repeat each args).encoded(of: name)
        }
    }

    private init(_ name: String, options: TaskOptions, returnCount: Int,
                 encoding body: @escaping @Sendable (repeat each Arg) throws -> [[UInt8]]) {
        self.name = name
        self.options = options
        self.returnCount = returnCount
        if FunctionRegistry.lookup(name) != nil { RemoteFunctions.duplicates.withLock { $0.append(name) } }
        FunctionRegistry.register(name) { arguments in
            // Past the declared parameters come the references held inside them (fetched for `get`).
            let values = try decodedArguments(repeat (each Arg).self, of: name, from: arguments)
            return try body(repeat each values)
        }
    }

    /// A copy with other options (Ray's `.options(...)`).
    public func options(_ options: TaskOptions) -> RemoteFunction {
        var copy = self
        copy.options = options
        return copy
    }

    /// Submits a call; returns at once with a reference to its result.
    public func remote<each P: TaskArgument>(_ args: repeat each P) throws -> ObjectRef<Result>
    where repeat (each P).ArgumentValue == each Arg, Result: Codable {
        let (client, request) = try request(repeat each args)
        return ObjectRef(id: client.submit(request), client: client)
    }

    /// Submits a call of a function with several return values; returns at once with a
    /// reference to each value, in order.
    public func remote<each P: TaskArgument, each Value: Codable>(_ args: repeat each P) throws
        -> (repeat ObjectRef<each Value>)
    where repeat (each P).ArgumentValue == each Arg, Result == Returns<repeat each Value> {
        let (client, request) = try request(repeat each args)
        let ids = client.submitReturningAll(request)
        var next = 0
        return (repeat reference(to: (each Value).self, ids, &next, client))
    }

    /// The request a call submits, checked.
    private func request<each P: TaskArgument>(_ args: repeat each P) throws -> (DriverClient, TaskRequest)
    where repeat (each P).ArgumentValue == each Arg {
        let client = try Ray.client()
        try RemoteFunctions.checkKnownToWorkers(name)
        var taskArgs: [TaskArg] = []
        var nested: [ObjectID] = []
        for argument in repeat each args { try argument.taskArgs(into: &taskArgs, nested: &nested) }
        // References inside values follow the declared arguments: the task depends on them (they stay
        // alive and are made local before it runs), and its body reads them with `get`.
        for object in nested { taskArgs.append(.reference(object)) }
        let request = TaskRequest(function: name, instance: RemoteFunctions.nextInstance(of: name), args: taskArgs,
                                  resources: try options.validated(), strategy: options.scheduling.core,
                                  maxRetries: options.maxRetries, retryExceptions: options.retryExceptions, body: [],
                                  returnCount: returnCount)
        return (client, request)
    }
}

private func reference<V: Codable>(to type: V.Type, _ ids: [ObjectID], _ next: inout Int, _ client: DriverClient) -> ObjectRef<V> {
    defer { next += 1 }
    return ObjectRef(id: ids[next], client: client)
}

/// The values of a function with several return values (Ray's `num_returns`), each stored as
/// its own object: `Returns(quotient, remainder)`.
public struct Returns<each Value: Codable> {
    public let values: (repeat each Value)
    public init(_ values: repeat each Value) {
        self.values = (repeat each values)
    }

    static var count: Int { countTypes(repeat (each Value).self) }

    func encoded(of name: String) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for value in repeat each values {
            out.append(try ValueCoding.encodeTaskResult(value, of: name, index: out.count + 1))
        }
        return out
    }
}

extension Returns: @unchecked Sendable {}

/// The declared parameters of `name` decoded from what its worker was given, in order.
func decodedArguments<each Arg: Codable>(_ types: repeat (each Arg).Type, of name: String,
                                         from arguments: [FetchedValue]) throws -> (repeat each Arg) {
    let declared = countTypes(repeat (each Arg).self)
    var index = 0
    func next<V: Codable>(_ type: V.Type) throws -> V {
        defer { index += 1 }
        guard index < arguments.count else {
            throw Ray.Error.invalidArgument("\(name) takes \(declared) arguments, was given \(arguments.count)")
        }
        return try ValueCoding.decode(type, from: arguments[index], object: nil)
    }
    return (repeat try next(each types))
}

func countTypes<each T>(_ types: repeat (each T).Type) -> Int {
    var count = 0
    for _ in repeat each types { count += 1 }
    return count
}

private func returningNothing<each A>(_ body: @escaping @Sendable (repeat each A) throws -> Void)
    -> @Sendable (repeat each A) throws -> RayVoid {
    return { (args: repeat each A) throws -> RayVoid in
        try body(repeat each args)
        return RayVoid()
    }
}

extension RemoteFunction where Result == RayVoid {
    /// Registers a body that returns nothing; its refs are `ObjectRef<RayVoid>` (`get` waits for it to finish).
    public init(_ name: String, options: TaskOptions = TaskOptions(),
                _ body: @escaping @Sendable (repeat each Arg) throws -> Void) where repeat each Arg: SendableMetatype {
        self.init(name, options: options, returningNothing(body))
    }
}
