// Actors as Swift distributed actors. A `distributed actor` whose actor
// system is `RayActorSystem` is created on the cluster by an `ActorClass`
// (placed by the scheduler, with Ray's options), and its distributed methods
// are Ray actor calls: `try await counter.increment(by: 2)` sends the call
// straight to the actor's worker, in order with this caller's other calls,
// and awaits its result; `Ray.reference { try await counter.increment(by: 2) }`
// returns an `ObjectRef` instead (for pipelining into tasks). Restarts,
// retries and the errors (`ActorDied`, `ActorUnavailable`) are Ray's.
//
// Where Swift's model and Ray's differ: a distributed actor's initializer always
// makes a local instance, so creation on the cluster goes through `ActorClass`
// (a named constructor registered before `Ray.start()`, as remote functions
// are). Handles are counted as Ray counts them (`HandleTracker`): Swift does
// not tell an actor system when a remote reference goes, so the system makes
// every remote reference itself, keeps it weakly, and releases the actor's
// handle object once none is left in the process.

public import Distributed
import Dispatch
import Glibc
import Synchronization
public import RayCore
import RayRuntime

/// The actor system of SwiftRay's distributed actors (one per process).
public final class RayActorSystem: DistributedActorSystem, @unchecked Sendable {
    public typealias ActorID = RayCore.ActorID
    public typealias InvocationEncoder = RayInvocationEncoder
    public typealias InvocationDecoder = RayInvocationDecoder
    public typealias ResultHandler = RayResultHandler
    public typealias SerializationRequirement = Codable

    /// The system every actor in this process uses.
    public static let shared = RayActorSystem()

    /// The instances that live in this process, and how to run a call on each.
    private struct Local: @unchecked Sendable {
        var instance: any DistributedActor
        var execute: (RemoteCallTarget, inout RayInvocationDecoder, RayResultHandler) async throws -> Void
    }
    private let locals = Mutex<[ActorID: Local]>([:])
    /// IDs for instances made outside the cluster (a plain `Counter(actorSystem:)`): local only.
    private let localCounter = Atomic<UInt64>(0)
    private let localOnly = Mutex<Set<ActorID>>([])
    /// Method names by distributed target (demangling each call's target costs microseconds).
    /// Per distributed target: the method's name and the encoded target (the call's first argument).
    private let targets = Mutex<[String: (method: String, encoded: TaskArg)]>([:])
    /// Set while a worker runs an actor's constructor: the instance takes the cluster's ID.
    @TaskLocal static var assigning: ActorID?

    public init() {}

    /// The remote references this process holds, counted in their actors' handles.
    let handles = HandleTracker()

    /// Releases now the handles of actors this process holds no reference to any more (done every
    /// 0.1 s otherwise).
    public func releaseDroppedHandles() { handles.sweep() }

    public func resolve<Act>(id: ActorID, as actorType: Act.Type) throws -> Act?
    where Act: DistributedActor, Act.ID == ActorID {
        if let local = locals.withLock({ $0[id]?.instance as? Act }) { return local }
        // The runtime makes the remote reference asked for just below.
        if HandleTracker.making == id || localOnly.withLock({ $0.contains(id) }) { return nil }
        // A remote reference (created here, passed in an argument, read from a value): this
        // process follows the actor's state so it can call it, and counts the reference.
        let client = try? Ray.client()
        client?.subscribeActor(id)
        let proxy = try HandleTracker.$making.withValue(id) {
            try Act.resolve(id: id, using: self as! Act.ActorSystem)
        }
        if let client { handles.hold(proxy, of: id, client: client) }
        return proxy
    }

    public func assignID<Act>(_ actorType: Act.Type) -> ActorID where Act: DistributedActor, Act.ID == ActorID {
        if let id = Self.assigning { return id }
        let next = localCounter.add(1, ordering: .relaxed).newValue
        let id = ActorID(creationTask: TaskID(value: mix(0x4C4F_4341_4C00 ^ next)))
        localOnly.withLock { _ = $0.insert(id) }
        return id
    }

    public func actorReady<Act>(_ actor: Act) where Act: DistributedActor, Act.ID == ActorID {
        let local = Local(instance: actor) { [unowned self] target, decoder, handler in
            try await DistributedTargets.execute(on: actor, target: target, decoder: &decoder, handler: handler, system: self)
        }
        locals.withLock { $0[actor.id] = local }
    }

    public func resignID(_ id: ActorID) {
        _ = locals.withLock { $0.removeValue(forKey: id) }
    }

    public func makeInvocationEncoder() -> RayInvocationEncoder { RayInvocationEncoder() }

    public func remoteCall<Act, Err, Res>(on actor: Act, target: RemoteCallTarget, invocation: inout RayInvocationEncoder,
                                          throwing: Err.Type, returning: Res.Type) async throws -> Res
    where Act: DistributedActor, Act.ID == ActorID, Err: Error, Res: Codable {
        let ref: ObjectRef<Res> = try submit(actor.id, target, invocation)
        return try await Ray.get(ref)
    }

    public func remoteCallVoid<Act, Err>(on actor: Act, target: RemoteCallTarget, invocation: inout RayInvocationEncoder,
                                         throwing: Err.Type) async throws
    where Act: DistributedActor, Act.ID == ActorID, Err: Error {
        let ref: ObjectRef<RayVoid> = try submit(actor.id, target, invocation)
        _ = try await Ray.get(ref)
    }

    /// Sends the call; under `Ray.reference` it hands the reference over instead of awaiting it.
    private func submit<Res: Codable>(_ actor: ActorID, _ target: RemoteCallTarget, _ invocation: RayInvocationEncoder)
        throws -> ObjectRef<Res> {
        let client = try Ray.client()
        let (method, target) = try targets.withLock { known in
            if let entry = known[target.identifier] { return entry }
            let identifier = try ValueCoding.encode(target.identifier)
            let entry = (method: Self.methodName(target.identifier),
                         encoded: TaskArg.value(ObjectData(sizeBytes: Int64(identifier.count), digest: 0, bytes: identifier)))
            known[target.identifier] = entry
            return entry
        }
        let args = [target] + invocation.arguments + invocation.nested.map { TaskArg.reference($0) }
        let request = TaskRequest(function: method, instance: RemoteFunctions.nextInstance(of: method), args: args,
                                  resources: ResourceSet(), strategy: .default, maxRetries: 0, retryExceptions: false,
                                  body: [])
        let ref = ObjectRef<Res>(id: client.callActor(actor, request)[0], client: client)
        if let capture = ReferenceCapture.current {
            capture.reference = ref
            throw ReferenceCapture.Captured()
        }
        return ref
    }

    /// `increment(by:)` from a distributed thunk's mangled name (`$s…7Counter9increment…TE`).
    static func methodName(_ identifier: String) -> String {
        guard let demangled = demangle(identifier) else { return identifier }
        // "distributed thunk Module.Counter.increment(by: Swift.Int) async throws -> Swift.Int"
        let signature = demangled.split(separator: "(", maxSplits: 1).first ?? Substring(demangled)
        return String(signature.split(separator: ".").last ?? signature)
    }

    /// Runs a call on an instance that lives here (the worker hosting it).
    func execute(_ id: ActorID, _ target: RemoteCallTarget, _ decoder: inout RayInvocationDecoder,
                 _ handler: RayResultHandler) async throws {
        guard let local = locals.withLock({ $0[id] }) else {
            throw Ray.Error.runtime("\(id) does not live in this process")
        }
        try await local.execute(target, &decoder, handler)
    }
}

@_silgen_name("swift_demangle")
private func swiftDemangle(_ mangled: UnsafePointer<CChar>?, _ length: UInt, _ buffer: UnsafeMutablePointer<CChar>?,
                           _ bufferSize: UnsafeMutablePointer<UInt>?, _ flags: UInt32) -> UnsafeMutablePointer<CChar>?

private func demangle(_ name: String) -> String? {
    name.withCString { pointer in
        guard let result = swiftDemangle(pointer, UInt(name.utf8.count), nil, nil, 0) else { return nil }
        defer { free(result) }
        return String(cString: result)
    }
}

/// Records a call's arguments, each encoded as a task argument (a value; a reference passed as such).
public struct RayInvocationEncoder: DistributedTargetInvocationEncoder {
    public typealias SerializationRequirement = Codable
    var arguments: [TaskArg] = []
    var failure: (any Error)?

    public mutating func recordGenericSubstitution<T>(_ type: T.Type) throws {
        throw Ray.Error.invalidArgument("generic distributed methods are not supported (\(type))")
    }

    /// References inside the arguments: sent as the call's trailing reference arguments, so the
    /// call waits for them and its worker fetches their values with the arguments (as a task's).
    var nested: [ObjectID] = []

    public mutating func recordArgument<Value: Codable>(_ argument: RemoteCallArgument<Value>) throws {
        let (bytes, contained) = try ValueCoding.encodeCollectingReferences(argument.value, forArgument: true)
        arguments.append(.value(ObjectData(sizeBytes: Int64(bytes.count), digest: 0, bytes: bytes)))
        for object in contained where !nested.contains(object) { nested.append(object) }
    }

    public mutating func recordReturnType<R: Codable>(_ type: R.Type) throws {}
    public mutating func recordErrorType<E: Error>(_ type: E.Type) throws {}
    public mutating func doneRecording() throws {}
}

/// Reads a call's arguments in the worker hosting the actor.
public struct RayInvocationDecoder: DistributedTargetInvocationDecoder {
    public typealias SerializationRequirement = Codable
    let arguments: [FetchedValue]
    var next = 0

    init(arguments: [FetchedValue]) { self.arguments = arguments }

    public mutating func decodeGenericSubstitutions() throws -> [Any.Type] { [] }

    public mutating func decodeNextArgument<Argument: Codable>() throws -> Argument {
        guard next < arguments.count else {
            throw Ray.Error.invalidArgument("the call has \(arguments.count) arguments; argument \(next + 1) is missing")
        }
        defer { next += 1 }
        return try ValueCoding.decode(Argument.self, from: arguments[next], object: nil)
    }

    public mutating func decodeReturnType() throws -> Any.Type? { nil }
    public mutating func decodeErrorType() throws -> Any.Type? { nil }
}

/// Keeps what a call on a hosted instance returned (encoded) or threw.
public final class RayResultHandler: DistributedTargetInvocationResultHandler, @unchecked Sendable {
    public typealias SerializationRequirement = Codable
    var value: [UInt8]?
    var error: (any Error)?
    let method: String

    init(method: String) { self.method = method }

    public func onReturn<Success: Codable>(value: Success) async throws {
        try await onReturnEncodable(value: value)
    }

    /// `onReturn`, for `DistributedTargets` (which knows the result type only as Encodable).
    func onReturnEncodable<Success: Encodable>(value: Success) async throws {
        // References in it (objects, and handles of actors this worker created) are lent to the
        // caller, as a task's result's are.
        self.value = try ValueCoding.encodeTaskResult(value, of: method, index: 1)
    }

    public func onReturnVoid() async throws {
        value = try ValueCoding.encodeTaskResult(RayVoid(), of: method, index: 1)
    }

    public func onThrow<Err: Error>(error: Err) async throws {
        self.error = error
    }
}

/// Catches the reference of the call made inside `Ray.reference { ... }`.
final class ReferenceCapture: @unchecked Sendable {
    struct Captured: Error {}
    @TaskLocal static var current: ReferenceCapture?
    var reference: Any?
}

/// The instance a worker hosts, as its worker calls it: each call runs on the actor (Swift
/// concurrency), and its end is handed back to the worker's loop.
final class HostedDistributedActor: @unchecked Sendable {
    let id: RayCore.ActorID

    init(id: RayCore.ActorID) { self.id = id }

    func call(_ method: String, _ arguments: [FetchedValue],
              done: @escaping @Sendable (Result<[[UInt8]], any Error>) -> Void) {
        guard let first = arguments.first, let identifier = try? ValueCoding.decode(String.self, from: first, object: nil)
        else {
            done(.failure(Ray.Error.invalidArgument("\(method) was sent without its target")))
            return
        }
        let id = self.id
        let rest = Array(arguments.dropFirst())
        // On the worker's loop thread (no hop to the pool and back); elsewhere (tests) on the pool.
        Task(executorPreference: WorkerHost.actorCallExecutor) {
            var decoder = RayInvocationDecoder(arguments: rest)
            let handler = RayResultHandler(method: method)
            do {
                try await RayActorSystem.shared.execute(id, RemoteCallTarget(identifier), &decoder, handler)
                if let error = handler.error { throw error }
                done(.success([handler.value ?? []]))
            } catch {
                done(.failure(error))
            }
        }
    }
}

/// Counts the remote references (proxies) of actors this process holds, as Ray counts actor
/// handles: the first one taken here adds a handle of the actor's handle object in this
/// process's owner (created here: the creation's own; received in a task's or call's arguments:
/// borrowed from the caller, which keeps it for this worker; read from a value: a handle of the
/// borrowed object); when the last one is gone, that handle is released, and an actor whose
/// handle object nothing holds any more is destroyed by its owner (after the calls made).
/// References are kept weakly and swept every `sweepMillis`.
final class HandleTracker: @unchecked Sendable {
    private final class Weak: @unchecked Sendable {
        weak var proxy: AnyObject?
        init(_ proxy: AnyObject) { self.proxy = proxy }
    }
    private struct Held: @unchecked Sendable {
        var proxies: [Weak]
        /// The owner API the handle was counted with (released through it).
        let client: DriverClient
    }
    private let held = Mutex<[ActorID: Held]>([:])
    /// Actors just created here: their first reference takes the creation's handle.
    private let created = Mutex<Set<ActorID>>([])
    private let timer = Mutex<(any DispatchSourceTimer)?>(nil)
    static let sweepMillis = 100
    /// Set while the runtime makes a remote reference for `RayActorSystem.resolve`.
    @TaskLocal static var making: ActorID?

    /// `ActorClass.remote` created `actor`: its owner counts one handle already.
    func createdHere(_ actor: ActorID) {
        created.withLock { _ = $0.insert(actor) }
    }

    /// Whether this process counts handles of `actor` (so a handle sent in a value travels as a reference).
    func counts(_ actor: ActorID) -> Bool {
        held.withLock { $0[actor] != nil }
    }

    func hold(_ proxy: AnyObject, of actor: ActorID, client: DriverClient) {
        let box = Weak(proxy)
        let entry = Held(proxies: [box], client: client)
        let first = held.withLock { held -> Bool in
            if held[actor] != nil {
                held[actor]!.proxies.append(box)
                return false
            }
            held[actor] = entry
            return true
        }
        guard first else { return }
        let handle = actor.handle
        if created.withLock({ $0.remove(actor) }) == nil {
            if let context = TaskContext.current, context.references[handle] != nil {
                // Received in this task's (or call's) arguments: borrowed from the caller, which
                // keeps it for this worker after the body returned, until this worker releases it.
                client.borrowArgument(handle, owner: context.owner)
                context.passedOn.add(handle)
            }
            client.addLocalReference(handle)
        }
        startSweeping()
    }

    private func startSweeping() {
        timer.withLock { timer in
            guard timer == nil else { return }
            let source = DispatchSource.makeTimerSource(queue: .global())
            source.schedule(deadline: .now() + .milliseconds(Self.sweepMillis),
                            repeating: .milliseconds(Self.sweepMillis))
            source.setEventHandler { [weak self] in self?.sweep() }
            source.resume()
            timer = source
        }
    }

    /// Releases the handle of each actor whose references here are all gone.
    func sweep() {
        let gone = held.withLock { held -> [(ActorID, DriverClient)] in
            var gone: [(ActorID, DriverClient)] = []
            for (actor, entry) in held {
                let live = entry.proxies.filter { $0.proxy != nil }
                if live.isEmpty {
                    gone.append((actor, entry.client))
                } else if live.count < entry.proxies.count {
                    held[actor]!.proxies = live
                }
            }
            for (actor, _) in gone { held[actor] = nil }
            return gone
        }
        for (actor, client) in gone { client.release(actor.handle) }
        timer.withLock { timer in
            guard held.withLock({ $0.isEmpty }), let source = timer else { return }
            source.cancel()
            timer = nil
        }
    }
}
