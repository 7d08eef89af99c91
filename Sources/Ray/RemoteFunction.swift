// Remote functions: a Swift closure registered under a stable name, callable
// with `.remote(args)` on the cluster. Each argument is a value (passed
// inline) or an `ObjectRef` of the parameter's type (resolved before the body
// runs, as Ray resolves top-level ObjectRef arguments).

import Synchronization
public import RayCore
import RayRuntime

/// Something that can be passed to a remote function as a parameter of type `Value`:
/// the value itself, or an `ObjectRef<Value>`.
public protocol TaskArgument<Value> {
    associatedtype Value: Codable
    /// The argument as the owner submits it.
    func taskArg() throws -> TaskArg
}

/// A `Codable` value passed inline. Conform your own types with `extension MyType: RayValue {}`.
public protocol RayValue: TaskArgument, Codable where Value == Self {}

extension RayValue {
    public func taskArg() throws -> TaskArg {
        let bytes = try ValueCoding.encode(self)
        return .value(ObjectData(sizeBytes: Int64(bytes.count), digest: 0, bytes: bytes))
    }
}

extension ObjectRef: TaskArgument {
    public typealias Value = T
    public func taskArg() throws -> TaskArg { .reference(id) }
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
extension Optional: TaskArgument, RayValue where Wrapped: Codable {}

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
    public init(numCPUs: Double = 1, numGPUs: Double = 0, resources: [String: Double] = [:], maxRetries: Int = 3,
                retryExceptions: Bool = false, scheduling: SchedulingStrategy = .default) {
        self.numCPUs = numCPUs
        self.numGPUs = numGPUs
        self.resources = resources
        self.maxRetries = maxRetries
        self.retryExceptions = retryExceptions
        self.scheduling = scheduling
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
        return ResourceSet(milli)
    }
}

/// The registry's bookkeeping: duplicate names are reported at `Ray.start()`.
enum RemoteFunctions {
    static let duplicates = Mutex<[String]>([])

    static func checkRegistrations() throws {
        let names = duplicates.withLock { $0 }
        guard names.isEmpty else {
            throw Ray.Error.invalidArgument("remote function names must be unique; registered more than once: "
                + names.joined(separator: ", "))
        }
    }
}

/// A function that runs on the cluster, registered under `name`.
public struct RemoteFunction<each Arg: Codable, Result: Codable>: Sendable {
    public let name: String
    public var options: TaskOptions

    /// Registers `body` under `name`. Create it before `Ray.start()` (workers run the program up to there).
    public init(_ name: String, options: TaskOptions = TaskOptions(),
                _ body: @escaping @Sendable (repeat each Arg) throws -> Result) {
        self.name = name
        self.options = options
        if FunctionRegistry.lookup(name) != nil { RemoteFunctions.duplicates.withLock { $0.append(name) } }
        FunctionRegistry.register(name) { arguments in
            var index = 0
            func next<V: Codable>(_ type: V.Type) throws -> V {
                defer { index += 1 }
                guard index < arguments.count else {
                    throw Ray.Error.invalidArgument("\(name) takes more arguments than the \(arguments.count) it was given")
                }
                return try ValueCoding.decode(type, from: arguments[index], object: nil)
            }
            let result = try body(repeat try next((each Arg).self))
            guard index == arguments.count else {
                throw Ray.Error.invalidArgument("\(name) takes \(index) arguments, was given \(arguments.count)")
            }
            return try ValueCoding.encode(result)
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
    where repeat (each P).Value == each Arg {
        let client = try Ray.client()
        var taskArgs: [TaskArg] = []
        for argument in repeat each args { taskArgs.append(try argument.taskArg()) }
        let request = TaskRequest(function: name, instance: 0, args: taskArgs, resources: try options.validated(),
                                  strategy: options.scheduling.core, maxRetries: options.maxRetries,
                                  retryExceptions: options.retryExceptions, body: [])
        return ObjectRef(id: client.submit(request), client: client)
    }
}
