// SwiftRay examples: run with `swift run -c release swiftray-examples [name]`.
// Each example starts an embedded local cluster (a GCS, a raylet and worker
// processes running this same executable), runs, and shuts it down.
//
//   parallel-map   square 1000 numbers in parallel tasks
//   dag            a diamond of dependent tasks, passing ObjectRefs as arguments
//   pipeline       large objects (1 MiB each) produced, transformed and reduced
//   errors         a task that throws, and how the error reaches the caller
//   nested         a task that fans out tasks of its own (quicksort), and one that
//                  returns references its worker owns, borrowed by the caller
//   returns        a task with two return values (num_returns), each its own object
//   actors         a distributed actor: state across calls, a task that calls it, a
//                  crash and its restart, a lookup by name
//
// `--address HOST:PORT` (or `--address auto`) joins a cluster started with
// `swiftray start` instead of starting an embedded one.

import Distributed
import Foundation
import Ray

// Remote functions are created before Ray.start(): worker processes run this
// program up to Ray.start() to learn them, then serve tasks.
let square = RemoteFunction("square") { (x: Int) -> Int in x * x }
let add = RemoteFunction("add") { (a: Int, b: Int) -> Int in a + b }
let sumAll = RemoteFunction("sum") { (values: [Int]) -> Int in values.reduce(0, +) }
let makeBlock = RemoteFunction("make-block") { (seed: Int, size: Int) -> [UInt8] in
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) }
}
let checksum = RemoteFunction("checksum") { (block: [UInt8]) -> UInt64 in
    block.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 }
}
struct Overdrawn: Error, CustomStringConvertible {
    var balance: Int
    var description: String { "balance would be \(balance)" }
}
let withdraw = RemoteFunction("withdraw") { (balance: Int, amount: Int) throws -> Int in
    guard amount <= balance else { throw Overdrawn(balance: balance - amount) }
    return balance - amount
}

// Nested tasks: a body submits tasks and gets them (its worker owns what it makes).
let quicksort: RemoteFunction<[Int], [Int]> = RemoteFunction("quicksort") { (values: [Int]) throws -> [Int] in
    guard values.count > 64 else { return values.sorted() }
    let pivot = values[values.count / 2]
    let (less, more) = (try quicksort.remote(values.filter { $0 < pivot }),
                        try quicksort.remote(values.filter { $0 > pivot }))
    return try less.get() + values.filter { $0 == pivot } + more.get()
}
/// Returns references to the shards it puts: the caller borrows them from this worker.
let shard = RemoteFunction("shard") { (count: Int, size: Int) throws -> [ObjectRef<[Int]>] in
    try (0..<count).map { index in try Ray.put(Array(index * size..<(index + 1) * size)) }
}
let divmod = RemoteFunction("divmod") { (a: Int, b: Int) in Returns(a / b, a % b) }

// Actors: a distributed actor on the cluster's actor system, created by an ActorClass.
distributed actor Tally {
    typealias ActorSystem = RayActorSystem
    var counts: [String: Int] = [:]
    init(actorSystem: RayActorSystem) { self.actorSystem = actorSystem }
    distributed func add(_ word: String) -> Int {
        counts[word, default: 0] += 1
        return counts[word]!
    }
    distributed func total() -> Int { counts.values.reduce(0, +) }
    distributed func crash() { exit(1) }
}
extension Tally: RayValue {}  // A handle passes to tasks as an argument.
let tallies = ActorClass("Tally") { () in Tally(actorSystem: .shared) }
/// A task that calls the actor it is handed (a task body is synchronous: `Ray.blocking` awaits).
let countWords = RemoteFunction("count-words") { (tally: Tally, text: String) throws -> Int in
    try Ray.blocking {
        for word in text.split(separator: " ") { _ = try await tally.add(String(word)) }
        return try await tally.total()
    }
}

let examples: [(String, () throws -> Void)] = [
    ("parallel-map", {
        let started = Date()
        let refs = try (0..<1000).map { try square.remote($0) }
        let values = try Ray.get(refs)
        print("parallel-map: sum of squares 0..<1000 = \(values.reduce(0, +)) "
            + "(\(Int(Date().timeIntervalSince(started) * 1000)) ms for 1000 tasks)")
    }),
    ("dag", {
        // a → (b, c) → d: b and c run in parallel once a is done; d waits for both.
        let a = try add.remote(1, 2)
        let b = try square.remote(a)
        let c = try add.remote(a, 10)
        let d = try add.remote(b, c)
        print("dag: a = 1 + 2, b = a², c = a + 10, d = b + c = \(try d.get())")
    }),
    ("pipeline", {
        let blocks = try (0..<8).map { try makeBlock.remote($0, 1 << 20) }
        let sums = try blocks.map { try checksum.remote($0) }
        let total = try Ray.get(sums).reduce(0, ^)
        print("pipeline: 8 blocks of 1 MiB made and checksummed on workers, xor of checksums = \(total)")
    }),
    ("errors", {
        do {
            _ = try withdraw.remote(10, 25).get()
        } catch let error as Ray.Error {
            print("errors: withdraw(10, 25) failed as expected: \(error)")
        }
    }),
    ("nested", {
        var generator = SystemRandomNumberGenerator()
        let values = (0..<2000).map { _ in Int.random(in: 0..<1_000_000, using: &generator) }
        let sorted = try quicksort.remote(values).get()
        print("nested: quicksort of 2000 numbers in nested tasks is sorted: \(sorted == values.sorted())")
        let shards = try shard.remote(4, 250).get()   // references owned by that task's worker
        let sums = try shards.map { try $0.get().reduce(0, +) }
        print("nested: 4 shards put by a task, borrowed by the driver, sum to \(sums.reduce(0, +))")
    }),
    ("returns", {
        let (quotient, remainder) = try divmod.remote(17, 5)
        print("returns: 17 = 5 × \(try quotient.get()) + \(try remainder.get())")
    }),
    ("actors", {
        try Ray.blocking {
            let tally = try tallies.options(ActorClassOptions(maxRestarts: 1, name: "tally")).remote()
            print("actors: 'swift' counted \(try await tally.add("swift")) time(s)")
            let total = try countWords.remote(tally, "to be or not to be").get()
            print("actors: a task added six words through the same actor: total \(total)")
            let found: Tally = try Ray.getActor("tally")
            do { try await found.crash() } catch { print("actors: the call that crashed it: \(error)") }
            print("actors: restarted with fresh state: total \(try await tally.total())")
            try Ray.kill(tally)
        }
    }),
]

var wanted = Array(CommandLine.arguments.dropFirst())
var address: String?
if let flag = wanted.firstIndex(of: "--address") {
    guard flag + 1 < wanted.count else {
        print("--address needs HOST:PORT (or auto)")
        exit(2)
    }
    address = wanted[flag + 1]
    wanted.removeSubrange(flag...(flag + 1))
}
let unknown = wanted.filter { name in !examples.contains { $0.0 == name } }
guard unknown.isEmpty else {
    print("unknown example(s): \(unknown.joined(separator: ", ")); choose from: \(examples.map(\.0).joined(separator: ", "))")
    exit(2)
}
do {
    if let address { try Ray.connect(address) } else { try Ray.start() }
    for (name, run) in examples where wanted.isEmpty || wanted.contains(name) { try run() }
    Ray.shutdown()
} catch {
    print("error: \(error)")
    Ray.shutdown()
    exit(1)
}
