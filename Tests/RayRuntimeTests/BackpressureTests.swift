// The bound on an owner's unfinished tasks (issue 12: every queue bounded, the
// producer waits): with SWIFTRAY_MAX_PENDING_TASKS=3, a driver submitting 12
// slow tasks never holds more than 3 unfinished, its submissions wait instead
// of failing, and every result arrives; a task body on a one-CPU node that
// fans out past the bound lends its CPU while it waits, so it does not deadlock.

import Foundation
import Glibc
import Testing

@testable import Ray
import RayCore
import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct BackpressureTests {
    @Test func submissionsPastTheBoundWaitAndNothingIsLost() throws {
        // Read when the driver (and each worker's owner) starts: the cluster's processes and
        // this driver get it; unset at once after.
        setenv("SWIFTRAY_MAX_PENDING_TASKS", "3", 1)
        defer { unsetenv("SWIFTRAY_MAX_PENDING_TASKS") }
        try withCluster([("head", ["CPU": 1])]) { _ throws in
            unsetenv("SWIFTRAY_MAX_PENDING_TASKS")
            let client = try #require(Ray.currentClient)
            #expect(client.pendingTaskLimit == 3)
            var refs: [ObjectRef<UInt32>] = []
            var most = 0
            for _ in 0..<12 {
                refs.append(try Testbed.sleepThenWhere.remote(20))
                most = max(most, client.inspect { owner in owner.tasks.values.filter { !$0.state.isEnded }.count })
            }
            #expect(most <= 3, "the owner held \(most) unfinished tasks")
            #expect(client.submissionsThatWaited > 0)
            #expect(try Ray.get(refs, timeout: .seconds(60)).count == 12)
            // A body fanning out 8 children past its worker's bound of 3, on the only CPU.
            #expect(try Testbed.fanOut.remote(8).get(timeout: .seconds(60)) == (0..<8).map { $0 * $0 }.reduce(0, +))
        }
    }

    /// A rate limit on accepted connections (issue 12: a peer flooding a raylet): with 200 frames
    /// a second per connection (a burst of 20), a driver storing 60 large objects (a frame to its
    /// raylet each) is held back — every object is there and every task's result arrives
    /// (nothing dropped), and the raylet counts it.
    @Test func aRateLimitedPeerIsHeldBackAndNothingIsLost() throws {
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_RATE_LIMIT=200", "SWIFTRAY_RATE_BURST=20"]) { cluster throws in
            let blobs = try (0..<60).map { try Ray.put(Testbed.blobBytes(seed: $0, size: 150_000)) }
            let sums = try blobs.map { try Testbed.checksum.remote($0) }
            #expect(try Ray.get(sums, timeout: .seconds(60))
                == (0..<60).map { Testbed.checksum(Testbed.blobBytes(seed: $0, size: 150_000)) })
            let refs = try (0..<60).map { try Testbed.square.remote($0) }
            #expect(try Ray.get(refs, timeout: .seconds(60)) == (0..<60).map { $0 * $0 })
            let head = try #require(cluster.nodes.first)
            guard case .nodeStatus(let status) = try ControlClient.ask(rayletSocket: head.socketPath, .nodeStatus) else {
                Issue.record("the raylet did not answer with its status")
                return
            }
            #expect(status.throttled > 0, "\(status)")
            #expect("\(ControlReply.nodeStatus(status))".contains("held \(status.throttled) connection(s) back at the rate limit"))
        }
    }

    /// A cluster setting that is not a positive whole number stops the GCS, naming it.
    @Test(arguments: ["SWIFTRAY_RATE_LIMIT=fast", "SWIFTRAY_ACTORS_PER_JOB_HARD=lots", "SWIFTRAY_RATE_BURST=0"])
    func aMalformedSettingStopsTheGCSWithItsName(_ setting: String) throws {
        Testbed.register()
        let cluster = try LocalCluster(executable: testbedPath, environment: [setting])
        defer { cluster.stop() }
        #expect {
            try cluster.startGCS()
        } throws: { error in
            "\(error)".contains("\(setting) is not a positive whole number")
        }
    }

    @Test func aMalformedBoundIsRefusedByName() throws {
        setenv("SWIFTRAY_MAX_PENDING_TASKS", "-5", 1)
        defer { unsetenv("SWIFTRAY_MAX_PENDING_TASKS") }
        #expect {
            _ = try DriverClient(socketPath: "/nonexistent/raylet.sock", logRoot: nil)
        } throws: { error in
            "\(error)".contains("SWIFTRAY_MAX_PENDING_TASKS=-5 is not a positive whole number")
        }
    }
}
}
