// Remote functions for the loopback tests and benchmarks. The test process
// (the driver) and the `swiftray-testbed` executable (every other process:
// GCS, raylets, workers) both link this module, so both know every function.

import Foundation
import Glibc
import Ray
import RayRuntime

public enum Testbed {
    public static let noop = RemoteFunction("tb.noop") { () -> Int in 0 }
    public static let echo = RemoteFunction("tb.echo") { (x: Int) -> Int in x }
    public static let add = RemoteFunction("tb.add") { (a: Int, b: Int) -> Int in a + b }
    public static let square = RemoteFunction("tb.square") { (x: Int) -> Int in x * x }
    /// `size` deterministic bytes from `seed` (over 100 KiB: stored in the node's object store).
    public static let blob = RemoteFunction("tb.blob") { (seed: Int, size: Int) -> [UInt8] in
        blobBytes(seed: seed, size: size)
    }
    /// A checksum of a blob, as `checksum(blobBytes(...))` computes locally.
    public static let checksum = RemoteFunction("tb.checksum") { (bytes: [UInt8]) -> UInt64 in
        Testbed.checksum(bytes)
    }
    /// The node this task ran on.
    public static let whereAmI = RemoteFunction("tb.where") { () -> UInt32 in currentNode() }
    /// The node this task ran on, after `millis` of sleep (keeps a worker busy).
    public static let sleepThenWhere = RemoteFunction("tb.sleep-where") { (millis: Int) -> UInt32 in
        usleep(UInt32(max(0, millis)) * 1000)
        return currentNode()
    }
    /// The first attempt SIGKILLs its own worker (after creating `marker`); the retry returns `value`.
    public static let crashOnce = RemoteFunction("tb.crash-once") { (marker: String, value: Int) -> Int in
        if !FileManager.default.fileExists(atPath: marker) {
            _ = writeNewFile(marker, Array("\(getpid())".utf8))
            kill(getpid(), SIGKILL)
        }
        return value
    }
    /// Always throws.
    public static let fail = RemoteFunction("tb.fail") { (message: String) throws -> Int in
        throw TestbedError(message: message)
    }
    /// A dependent chain link: the previous value plus one.
    public static let increment = RemoteFunction("tb.increment") { (x: Int) -> Int in x + 1 }

    // Values of every kind (issue 8): dictionaries, sets, optionals, structs, arrays of refs, Void.
    public static let mergeCounts = RemoteFunction("tb.merge-counts") { (a: [String: Int], b: [String: Int]) -> [String: Int] in
        a.merging(b, uniquingKeysWith: +)
    }
    public static let union = RemoteFunction("tb.union") { (a: Set<Int>, b: Set<Int>) -> Set<Int> in a.union(b) }
    public static let orZero = RemoteFunction("tb.or-zero") { (x: Int?) -> Int? in x.map { $0 * 2 } }
    public static let mirrorPoint = RemoteFunction("tb.mirror") { (p: Point) -> Point in Point(x: p.y, y: p.x, label: p.label) }
    /// A reduce over any number of refs (nested references, read in the body).
    public static let sumRefs = RemoteFunction("tb.sum-refs") { (refs: [ObjectRef<Int>]) -> Int in
        try Ray.get(refs).reduce(0, +)
    }
    /// Sums the references inside values inside a value (nested twice).
    public static let sumNested = RemoteFunction("tb.sum-nested") { (outer: [ObjectRef<[ObjectRef<Int>]>]) -> Int in
        try outer.map { try Ray.get(try $0.get()).reduce(0, +) }.reduce(0, +)
    }
    /// Returns nothing; leaves a file behind to prove it ran.
    public static let touch = RemoteFunction("tb.touch") { (path: String) in
        _ = writeNewFile(path, Array("ran".utf8))
    }
    /// Where the task runs, as `Ray.runtimeContext` says.
    public static let context = RemoteFunction("tb.context") { () -> String in
        let context = try Ray.runtimeContext
        return "\(context.taskName ?? "-") \(context.node.value) \(context.worker.index) \(context.job.value)"
    }
    /// Throws a struct error without a description of its own, or an enum case.
    public static let failTyped = RemoteFunction("tb.fail-typed") { (asEnum: Bool) throws -> Int in
        if asEnum { throw ParseFailure.badNumber("x7") }
        throw ParseError(line: 3)
    }

    /// The worker's process ID and the last 8 bytes of the program it runs (tests tell programs
    /// apart by a trailer appended to copies of this binary).
    /// It sleeps `millis` first (so concurrent calls need several workers).
    public static let whoAmI = RemoteFunction("tb.whoami") { (millis: Int) -> [UInt64] in
        usleep(UInt32(max(0, millis)) * 1000)
        return [UInt64(getpid()), programTrailer("/proc/self/exe")]
    }

    /// The user and group the worker runs as, and the errno of opening `path` for reading (0: it could).
    public static let identity = RemoteFunction("tb.identity") { (path: String) -> [Int] in
        let fd = open(path, O_RDONLY)
        let error = fd >= 0 ? 0 : Int(errno)
        if fd >= 0 { close(fd) }
        return [Int(getuid()), Int(getgid()), error]
    }

    /// A job's code writing over its store: 8 bytes of 0xFF at `offset` of `path`; the errno (0: written).
    public static let scribble = RemoteFunction("tb.scribble") { (path: String, offset: Int) -> Int in
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return Int(errno) }
        defer { close(fd) }
        var forged = UInt64.max
        return pwrite(fd, &forged, 8, off_t(offset)) == 8 ? 0 : Int(errno)
    }

    /// A job's code keeping its store's lock: an exclusive flock on `path` whose descriptor stays
    /// open as long as the worker lives; the errno (0: taken).
    public static let keepLock = RemoteFunction("tb.keep-lock") { (path: String) -> Int in
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return Int(errno) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : Int(errno)
    }

    /// A job's code keeping its store's lock and spinning: an exclusive flock on `path`, held by a
    /// thread that runs (never idle) until the file `until` exists; the errno (0: taken).
    public static let spinLock = RemoteFunction("tb.spin-lock") { (path: String, until: String) -> Int in
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return Int(errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            defer { close(fd) }
            return Int(errno)
        }
        Thread.detachNewThread {
            var spins = 0
            while true {
                spins &+= 1
                if spins % 100_000 == 0 && access(until, F_OK) == 0 { break }
            }
            flock(fd, LOCK_UN)
            close(fd)
        }
        return 0
    }

    /// Submits `square(x)` to node `node` and returns it (this worker owns the child).
    public static let squareOn = RemoteFunction("tb.square-on") { (node: UInt32, x: Int) throws -> Int in
        try square.options(TaskOptions(scheduling: .nodeAffinity(node: node, soft: false))).remote(x).get()
    }

    /// Prints `lines` lines on stdout and one line on stderr (written to fd 2 directly); returns its node.
    public static let say = RemoteFunction("tb.say") { (lines: Int) -> UInt32 in
        for index in 0..<lines { print("line \(index) from node \(currentNode())") }
        FileHandle.standardError.write(Data("warning from node \(currentNode())\n".utf8))
        return currentNode()
    }
    /// Prints on stdout and stderr, then SIGKILLs its own worker.
    public static let sayThenDie = RemoteFunction("tb.say-then-die") { () -> Int in
        print("about to die")
        FileHandle.standardError.write(Data("dying words\n".utf8))
        kill(getpid(), SIGKILL)
        return 0
    }

    /// Submits a task from its body and gets it (a nested task).
    public static let submitsInside = RemoteFunction("tb.submits-inside") { () throws -> Int in
        try add.remote(1, 2).get()
    }
    /// Fans out `count` squares from its body and sums them (nested tasks and a get of all).
    public static let fanOut = RemoteFunction("tb.fan-out") { (count: Int) throws -> Int in
        let refs = try (0..<count).map { try square.remote($0) }
        return try Ray.get(refs).reduce(0, +)
    }
    /// Fibonacci by recursion: every level submits two tasks and waits for them.
    public static let fib: RemoteFunction<Int, Int> = RemoteFunction("tb.fib") { (n: Int) throws -> Int in
        guard n >= 2 else { return n }
        let (a, b) = (try fib.remote(n - 1), try fib.remote(n - 2))
        return try a.get() + b.get()
    }
    /// Puts `x` from its body and passes the reference to a child (`x + 1`).
    public static let putAndPass = RemoteFunction("tb.put-and-pass") { (x: Int) throws -> Int in
        let ref = try Ray.put(x)
        return try add.remote(ref, 1).get()
    }
    /// Waits in its body for the first of `count` children that sleep 0, 100, 200... ms; returns
    /// how many were ready and how many not.
    public static let waitsInside = RemoteFunction("tb.waits-inside") { (count: Int) throws -> [Int] in
        let refs = try (0..<count).map { try sleepThenWhere.remote($0 * 100) }
        let (ready, notReady) = try Ray.wait(refs, numReturns: 1)
        return [ready.count, notReady.count]
    }
    /// Returns a reference to a value it put (the caller borrows it from this worker).
    public static let returnsRef = RemoteFunction("tb.returns-ref") { () throws -> ObjectRef<Int> in
        try Ray.put(7)
    }
    /// Returns the references of `count` squares it submits, without getting them.
    public static let returnsChildren = RemoteFunction("tb.returns-children") { (count: Int) throws -> [ObjectRef<Int>] in
        try (0..<count).map { try square.remote($0) }
    }
    /// Returns a reference to a large value it put (stored in the object store).
    public static let returnsBlobRef = RemoteFunction("tb.returns-blob-ref") { (seed: Int) throws -> ObjectRef<[UInt8]> in
        try Ray.put(blobBytes(seed: seed, size: 300_000))
    }
    /// Returns a reference to `x` it put, and its worker's process ID (to kill the owner).
    public static let returnsRefAndPID = RemoteFunction("tb.returns-ref-and-pid") { (x: Int) throws in
        Returns([try Ray.put(x)], Int(getpid()))
    }
    /// Gets references a child returned, and returns them on (borrowed: not supported yet).
    public static let returnsBorrowed = RemoteFunction("tb.returns-borrowed") { () throws -> [ObjectRef<Int>] in
        try returnsChildren.remote(2).get()
    }
    /// Passes a reference it received on to a child (borrowing: not supported yet).
    public static let passesOn = RemoteFunction("tb.passes-on") { (refs: [ObjectRef<Int>]) throws -> Int in
        try add.remote(refs[0], 1).get()
    }
    /// Passes what it received, inside a value, to a task that passes it on again.
    public static let passesOnTwice = RemoteFunction("tb.passes-on-twice") { (refs: [ObjectRef<Int>]) throws -> Int in
        try passesOn.remote([refs[0]]).get()
    }
    /// Returns a reference it received (the caller owns or borrows it already).
    public static let returnsReceived = RemoteFunction("tb.returns-received") { (refs: [ObjectRef<Int>]) throws -> ObjectRef<Int> in
        refs[0]
    }
    /// Checksums, in a task of its own, the blob it received a reference to.
    public static let checksumVia = RemoteFunction("tb.checksum-via") { (refs: [ObjectRef<[UInt8]>]) throws -> UInt64 in
        try checksum.remote(refs[0]).get()
    }
    /// Puts the squares of 0..<count (submitted from its body) inside one value, drops its own
    /// references, and sums them in a child given only that value.
    public static let putsHolding = RemoteFunction("tb.puts-holding") { (count: Int) throws -> Int in
        var squares: [ObjectRef<Int>]? = try (0..<count).map { try square.remote($0) }
        let held = try Ray.put(squares!)
        squares = nil
        return try sumRefs.remote(held).get()
    }
    /// Puts 0..<count from its body (its worker's owner owns them) and returns their sum.
    public static let putMany = RemoteFunction("tb.put-many") { (count: Int) throws -> Int in
        let refs = try (0..<count).map { try Ray.put($0) }
        return try refs.reduce(0) { $0 + (try $1.get()) }
    }
    /// Allocates `size` bytes and touches every page; returns how many it held.
    public static let hog = RemoteFunction("tb.hog") { (size: Int) throws -> Int in
        let bytes = [UInt8](repeating: 1, count: size)
        return bytes.reduce(0) { $0 + Int($1) }
    }
    /// The worker's cgroup memberships (/proc/self/cgroup), and its job.
    public static let cgroupOf = RemoteFunction("tb.cgroup-of") { () throws -> String in
        (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
    }
    /// Starts up to `count` child processes (`sleep 30`) and returns how many started; stops and
    /// reaps them before returning (a body forking processes of its own).
    public static let forks = RemoteFunction("tb.forks") { (count: Int) throws -> Int in
        var children: [pid_t] = []
        for _ in 0..<count {
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
            defer { for arg in argv { free(arg) } }
            guard posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0 else { break }
            children.append(pid)
        }
        for pid in children { kill(pid, SIGKILL) }
        for pid in children { var status: Int32 = 0; waitpid(pid, &status, 0) }
        return children.count
    }
    /// Returns the reference of a value it put that holds a reference (not supported yet).
    public static let returnsPutHolding = RemoteFunction("tb.returns-put-holding") { () throws -> ObjectRef<[ObjectRef<Int>]> in
        try Ray.put([try Ray.put(1)])
    }
    /// Puts a value holding a reference it received (not supported yet).
    public static let putsReceived = RemoteFunction("tb.puts-received") { (refs: [ObjectRef<Int>]) throws -> Int in
        _ = try Ray.put(refs)
        return 0
    }
    /// Computes for `millis` without calling the Ray API (the worker's loop is taken over meanwhile).
    public static let spin = RemoteFunction("tb.spin") { (millis: Int) -> Int in
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, millis)) * 1_000_000
        var turns = 0
        while DispatchTime.now().uptimeNanoseconds < end { turns += 1 }
        return turns
    }

    /// Two return values, each its own object (numReturns 2).
    public static let divmod = RemoteFunction("tb.divmod") { (a: Int, b: Int) throws -> Returns<Int, Int> in
        guard b != 0 else { throw TestbedError(message: "division by zero") }
        return Returns(a / b, a % b)
    }
    /// Three return values of three types, the middle one large (stored in the object store).
    public static let triple = RemoteFunction("tb.triple") { (seed: Int) in
        Returns(seed, blobBytes(seed: seed, size: 300_000), "seed \(seed)")
    }
    /// A body that gets both values of a divmod it submits.
    public static let divmodInside = RemoteFunction("tb.divmod-inside") { (a: Int, b: Int) throws -> [Int] in
        let (q, r) = try divmod.remote(a, b)
        return [try q.get(), try r.get()]
    }

    /// `value` after `millis` of sleep.
    public static let slowValue = RemoteFunction("tb.slow-value") { (millis: Int, value: Int) -> Int in
        usleep(UInt32(max(0, millis)) * 1000)
        return value
    }
    /// Submits a slow child and three that wait for it, waits a moment (so the loop has taken the
    /// submissions), writes `marker`, then gets the three: a recursive cancel of this task
    /// cancels the three waiting ones, and this body raises their Cancelled error.
    public static let cancellableParent = RemoteFunction("tb.cancellable-parent") { (marker: String, millis: Int) throws -> Int in
        let slow = try slowValue.remote(millis, 1)
        let waiting = try (0..<3).map { _ in try increment.remote(slow) }
        _ = try Ray.wait(waiting, numReturns: 1, timeout: .milliseconds(20))
        _ = writeNewFile(marker, Array("submitted".utf8))
        return try Ray.get(waiting).reduce(0, +)
    }

    public static func programTrailer(_ path: String) -> UInt64 {
        guard let file = FileHandle(forReadingAtPath: path) else { return 0 }
        defer { try? file.close() }
        guard let end = try? file.seekToEnd(), end >= 8 else { return 0 }
        try? file.seek(toOffset: end - 8)
        let bytes = [UInt8]((try? file.readToEnd()) ?? Data())
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Forces every function to register (Swift initializes statics lazily).
    public static func register() {
        _ = (noop, echo, add, square, blob, checksum, whereAmI, sleepThenWhere, crashOnce, fail, increment)
        _ = (mergeCounts, union, orZero, mirrorPoint, sumRefs, touch, context, failTyped, whoAmI)
        _ = (say, sayThenDie, submitsInside, fanOut, fib, putAndPass, waitsInside, returnsRef, passesOn, spin)
        _ = (divmod, triple, divmodInside, slowValue, cancellableParent)
        _ = (returnsChildren, returnsBlobRef, returnsRefAndPID, returnsBorrowed, identity, squareOn)
        _ = (passesOnTwice, returnsReceived, checksumVia, scribble, keepLock, spinLock)
        _ = (putsHolding, returnsPutHolding, putsReceived, sumNested, putMany, cgroupOf, hog, forks)
        registerActors()
    }

    public static func blobBytes(seed: Int, size: Int) -> [UInt8] {
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15
        return (0..<size).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// The node of this worker process (from its SWIFTRAY_WORKER), 0 in a driver.
    public static func currentNode() -> UInt32 {
        guard let value = getenv("SWIFTRAY_WORKER") else { return 0 }
        return UInt32(String(cString: value).split(separator: ".").first ?? "") ?? 0
    }
}

public struct TestbedError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A struct standing in for a tuple.
public struct Point: RayValue, Equatable, Sendable {
    public var x: Double
    public var y: Double
    public var label: String?
    public init(x: Double, y: Double, label: String?) {
        self.x = x
        self.y = y
        self.label = label
    }
}

public struct ParseError: Error {
    public var line: Int
}

public enum ParseFailure: Error {
    case badNumber(String)
}
