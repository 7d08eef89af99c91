// Distributed actors the loopback tests create on real worker processes.

import Distributed
import Foundation
import Ray

/// A counter: state kept across calls, lost on restart.
public distributed actor TestCounter {
    public typealias ActorSystem = RayActorSystem
    var count: Int
    let label: String

    public init(start: Int, label: String, actorSystem: RayActorSystem) {
        self.actorSystem = actorSystem
        count = start
        self.label = label
    }

    public distributed func increment(by amount: Int) -> Int {
        count += amount
        return count
    }

    public distributed func describe() -> String { "\(label)=\(count)" }

    public distributed func reset() { count = 0 }

    /// Throws (the call fails with TaskFailed; the actor lives on).
    public distributed func failing(_ message: String) throws -> Int {
        throw TestbedError(message: message)
    }

    var arrived = 0
    var waiting: [CheckedContinuation<Void, Never>] = []

    /// Returns once `count` calls of it have arrived: only a concurrent actor (maxConcurrency ≥
    /// count) lets them all in (a call waiting here lets the next one start).
    public distributed func rendezvous(_ count: Int) async -> Int {
        arrived += 1
        let order = arrived
        if arrived >= count {
            for continuation in waiting { continuation.resume() }
            waiting = []
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
        return order
    }

    /// Calls another actor it was handed (a handle passed to an actor's method).
    public distributed func forward(to other: TestCounter, amount: Int) async throws -> Int {
        try await other.increment(by: amount)
    }

    /// Keeps a handle of another actor (in the actor's state, past the call), calls it, drops it.
    var kept: TestCounter?
    public distributed func keep(_ other: TestCounter) { kept = other }
    public distributed func callKept(_ amount: Int) async throws -> Int {
        guard let kept else { throw TestbedError(message: "no actor kept") }
        return try await kept.increment(by: amount)
    }
    public distributed func dropKept() { kept = nil }

    /// Returns a reference to a value it put (the caller borrows it from this actor's worker).
    public distributed func stash(_ value: Int) throws -> ObjectRef<Int> { try Ray.put(value) }
    /// Creates a counter and returns its handle, keeping none (the caller's is the only one).
    public distributed func spawn(_ start: Int) throws -> TestCounter { try Testbed.counters.remote(start, "spawned") }
    /// Releases the handles of actors this worker holds no reference to any more (now, not in ≤ 0.1 s).
    public distributed func sweepHandles() { RayActorSystem.shared.releaseDroppedHandles() }

    /// The process hosting it (a restart is a new process).
    public distributed func pid() -> Int32 { getpid() }

    /// Exits its process (a crash: with restarts left, the actor comes back).
    public distributed func crash() -> Int {
        exit(3)
    }

    /// `Testbed.blobBytes(seed:size:)`, made in the actor's process (a large result is stored there).
    public distributed func blob(_ seed: Int, _ size: Int) -> [UInt8] { Testbed.blobBytes(seed: seed, size: size) }
    /// The checksum of the blob a reference names (fetched by the actor's process).
    public distributed func checksum(of refs: [ObjectRef<[UInt8]>]) throws -> UInt64 { Testbed.checksum(try refs[0].get()) }
    /// What `Testbed.identity` says of `path`, from the actor's process.
    public distributed func identity(_ path: String) -> [Int] {
        let fd = open(path, O_RDONLY)
        let error = fd >= 0 ? 0 : Int(errno)
        if fd >= 0 { close(fd) }
        return [Int(getuid()), Int(getgid()), error]
    }

    /// Submits a task from inside a method (the actor's worker owns it).
    public distributed func squareViaTask(_ x: Int) throws -> Int {
        try Testbed.square.remote(x).get(timeout: .seconds(30))
    }
}

/// A constructor that throws: the actor is dead for good.
public distributed actor FailingActor {
    public typealias ActorSystem = RayActorSystem
    public init(actorSystem: RayActorSystem) throws {
        self.actorSystem = actorSystem
        throw TestbedError(message: "no constructing today")
    }
    public distributed func hello() -> String { "hi" }
}

/// An actor whose constructor reads references it was given inside a value (Ray's nested refs).
public distributed actor Summer {
    public typealias ActorSystem = RayActorSystem
    let total: Int
    let incarnation: Int

    public init(parts: [ObjectRef<Int>], actorSystem: RayActorSystem) throws {
        self.actorSystem = actorSystem
        total = try parts.reduce(0) { $0 + (try $1.get()) }
        incarnation = Int(getpid())
    }

    public distributed func sum() -> Int { total }
    public distributed func process() -> Int { incarnation }
}

/// An actor given another's handle by its constructor, which it keeps and calls.
public distributed actor Relay {
    public typealias ActorSystem = RayActorSystem
    let target: TestCounter

    public init(target: TestCounter, actorSystem: RayActorSystem) {
        self.actorSystem = actorSystem
        self.target = target
    }

    public distributed func poke(_ amount: Int) async throws -> Int { try await target.increment(by: amount) }
}

extension Testbed {
    public static let relays = ActorClass("tb.Relay") { (target: TestCounter) in Relay(target: target, actorSystem: .shared) }
    public static let counters = ActorClass("tb.Counter") { (start: Int, label: String) in
        TestCounter(start: start, label: label, actorSystem: .shared)
    }
    public static let failingActors = ActorClass("tb.Failing") { () throws in try FailingActor(actorSystem: .shared) }
    public static let summers = ActorClass("tb.Summer") { (parts: [ObjectRef<Int>]) throws in
        try Summer(parts: parts, actorSystem: .shared)
    }

    static func registerActors() {
        _ = (counters, failingActors, callCounter, summers, relays)
    }
}

extension TestCounter: RayValue {}

extension Testbed {
    /// A task that calls an actor it was handed.
    public static let callCounter = RemoteFunction("tb.call-counter") { (counter: TestCounter, amount: Int) throws -> Int in
        try Ray.blocking { try await counter.increment(by: amount) }
    }
}
