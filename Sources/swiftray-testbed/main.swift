// The executable behind the loopback tests: in a role (GCS, raylet, worker)
// it serves. `swiftray-testbed drive SOCKET [COUNT]` makes it a second driver
// (another job): it connects through the raylet at SOCKET, prints the worker
// (pid and program trailer) of COUNT `tb.whoami` tasks one per line, then
// "ready" and waits until its stdin closes before it shuts down (or, with a
// fourth argument `exit:N`, exits with status N without shutting down). `name SOCKET PATH`
// connects naming PATH as its workers' program; `store SOCKET` puts, reads a large result and
// prints the user its workers run as.
import Foundation
import Ray
import RayRuntime
import RayTestbed

Testbed.register()
// What a new user's program does (issue 8, bug 4): a remote function that reads a global of
// main.swift declared after the program joins the cluster. Workers stop at Ray.start() /
// Role.runIfRequested(), so for them `lateGlobal` was never initialized.
func lateCount() -> Int { lateGlobal.count }
let lateRead = RemoteFunction("tb.late-read") { () -> Int in lateCount() }
Role.runIfRequested()
let lateGlobal = [1, 2, 3]
let arguments = CommandLine.arguments
if arguments.count >= 3, arguments[1] == "late" {
    // `swiftray-testbed late SOCKET`: calls tb.late-read once and prints the answer or the error.
    do {
        try Ray.connect(rayletSocket: arguments[2], logToDriver: false)
        print("value \(try lateRead.options(TaskOptions(maxRetries: 0)).remote().get())")
    } catch {
        print("error: \(error)")
    }
    Ray.shutdown()
    exit(0)
}
if arguments.count >= 4, arguments[1] == "name" {
    // `swiftray-testbed name SOCKET PATH`: connects naming PATH as its workers' program, runs one
    // task and prints its answer, or the error.
    do {
        try Ray.connect(rayletSocket: arguments[2], workerExecutable: arguments[3], logToDriver: false)
        print("value \(try Testbed.square.remote(7).get(timeout: .seconds(30)))")
    } catch {
        print("error: \(error)")
    }
    Ray.shutdown()
    exit(0)
}
if arguments.count >= 2, arguments[1] == "sessions-root" {
    // `swiftray-testbed sessions-root`: where this user's sessions go, and where it looks for nodes.
    print("root \(Session.root); roots \(Session.roots.joined(separator: ","))")
    exit(0)
}
if arguments.count >= 3, arguments[1] == "store" {
    // `swiftray-testbed store SOCKET [hold]`: a put read by a task, a task's 2 MiB result, the user
    // its workers run as and its job; prints each, or the error, then "ready" (with `hold`, it
    // then waits until its stdin closes).
    do {
        // TB_LOG_ROOT: the session's logs, as `Ray.connect(address)` logs there.
        try Ray.connect(rayletSocket: arguments[2], logRoot: ProcessInfo.processInfo.environment["TB_LOG_ROOT"],
                        logToDriver: false)
        let bytes = Testbed.blobBytes(seed: 11, size: 300_000)
        let put = try Ray.put(bytes)
        let read = try Testbed.checksum.remote(put).get(timeout: .seconds(30)) == Testbed.checksum(bytes)
        print("put read by a task \(read ? "ok" : "WRONG")")
        let result = try Testbed.blob.remote(12, 2 << 20).get(timeout: .seconds(30))
        print("result read \(result == Testbed.blobBytes(seed: 12, size: 2 << 20) ? "ok" : "WRONG")")
        print("workers run as uid \(try Testbed.identity.remote("/").get(timeout: .seconds(30))[0]); driver uid \(getuid())")
        print("job \(try Ray.runtimeContext.job.value)")
        print("ready")
        fflush(nil)
        if arguments.count > 3, arguments[3] == "hold" { _ = FileHandle.standardInput.readDataToEndOfFile() }
    } catch {
        print("error: \(error)")
    }
    Ray.shutdown()
    exit(0)
}
if arguments.count >= 3, arguments[1] == "drive" {
    do {
        try Ray.connect(rayletSocket: arguments[2])
        let count = arguments.count > 3 ? Int(arguments[3]) ?? 4 : 4
        let refs = try (0..<count).map { _ in try Testbed.whoAmI.remote(0) }
        for answer in try Ray.get(refs) { print(answer.map(String.init).joined(separator: " ")) }
        print("ready")
        fflush(nil)
        _ = FileHandle.standardInput.readDataToEndOfFile()
        if arguments.count > 4, arguments[4].hasPrefix("exit:") { exit(Int32(arguments[4].dropFirst(5)) ?? 1) }
        Ray.shutdown()
    } catch {
        print("error: \(error)")
        exit(1)
    }
    exit(0)
}
print("swiftray-testbed: the GCS/raylet/worker binary of SwiftRay's loopback tests; it is started by them.")
