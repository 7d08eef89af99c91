// Placement groups from Swift on real processes (issue 11): a STRICT_SPREAD group reserved
// across three raylet processes, tasks run in each bundle on its own node, what cannot be
// reserved waits saying why, bad inputs are refused naming what is wrong, and removal.

import Foundation
import Testing

@testable import Ray
import RayCore
import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct PlacementGroupSwiftTests {
    @Test func aStrictSpreadGroupSpansThreeRayletsAndItsTasksRunInTheirBundles() throws {
        try withCluster([("head", ["CPU": 2]), ("n2", ["CPU": 2]), ("n3", ["CPU": 2])]) { _ in
            let gang = try PlacementGroup.create(bundles: [["CPU": 1], ["CPU": 1], ["CPU": 1]], strategy: .strictSpread)
            // Ray's pg.ready(): a reference, got or waited for like any other.
            let ready = try gang.readyRef()
            #expect(try Ray.wait([ready], numReturns: 1, timeout: .seconds(30)).ready.count == 1)
            #expect(try ready.get(timeout: .seconds(1)) == true)
            try gang.ready(timeout: .seconds(30))
            #expect(try gang.state.0 == .created)
            // One task per bundle: each on its bundle's node, three distinct nodes.
            let refs = try (0..<3).map { index in
                try Testbed.context.options(TaskOptions(placementGroup: gang, bundleIndex: index)).remote()
            }
            let nodes = try Ray.get(refs, timeout: .seconds(30)).map { $0.split(separator: " ")[1] }
            #expect(Set(nodes).count == 3, "\(nodes)")
            // Any bundle (-1) works too.
            #expect(try Testbed.square.options(TaskOptions(placementGroup: gang)).remote(7).get(timeout: .seconds(30)) == 49)
            // Bad input: each refused naming what is wrong, and the manager goes on serving.
            #expect(throws: Ray.Error.self) { _ = try PlacementGroup.create(bundles: [["CPU": 1], [:]]) }
            #expect(throws: Ray.Error.self) { _ = try PlacementGroup.create(bundles: [["CPU": -1]]) }
            #expect(throws: Ray.Error.self) {
                _ = try Testbed.square.options(TaskOptions(placementGroup: gang, bundleIndex: 3)).remote(1)
            }
            // A fourth STRICT_SPREAD bundle on three nodes is infeasible, and says so.
            let tooWide = try PlacementGroup.create(bundles: Array(repeating: ["CPU": 1], count: 4), strategy: .strictSpread)
            do {
                try tooWide.ready(timeout: .seconds(2))
                Issue.record("four STRICT_SPREAD bundles reserved on three nodes")
            } catch Ray.Error.timeout(let message) {
                #expect(message.contains("infeasible: STRICT_SPREAD needs 4 distinct node(s)"), "\(message)")
            }
            // Its readiness reference fails once it is removed, saying so.
            let neverReady = try tooWide.readyRef()
            // Removed: its resources go back, and nothing more runs in it.
            try gang.remove()
            try tooWide.remove()
            do {
                _ = try neverReady.get(timeout: .seconds(10))
                Issue.record("a removed group's readiness reference resolved")
            } catch {
                #expect("\(error)".contains("PlacementGroupUnschedulable") && "\(error)".contains("was removed"), "\(error)")
            }
            #expect(throws: Ray.Error.self) { try gang.ready(timeout: .seconds(10)) }
            #expect(throws: Ray.Error.self) { _ = try Testbed.square.options(TaskOptions(placementGroup: gang)).remote(1) }
            let pack = try PlacementGroup.create(bundles: [["CPU": 2], ["CPU": 2], ["CPU": 2]], strategy: .pack)
            try pack.ready(timeout: .seconds(30))
            try pack.remove()
        }
    }

    /// A placement-group storm on real processes: past the job's quota (2 here) a group is refused
    /// at once with the typed error naming the setting, its tasks fail with it, the GCS counts it
    /// where `swiftray status` reads it, and a removal frees a place.
    @Test func aJobPastItsPlacementGroupQuotaGetsQuotaExceeded() throws {
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_HARD=2"]) { cluster throws in
            let kept = try (0..<2).map { _ in try PlacementGroup.create(bundles: [["CPU": 0.5]]) }
            for group in kept { try group.ready(timeout: .seconds(30)) }
            let over = try PlacementGroup.create(bundles: [["CPU": 0.5]])
            #expect {
                try over.ready(timeout: .seconds(30))
            } throws: { error in
                guard case .quotaExceeded(let message)? = error as? Ray.Error else { return false }
                return message.contains("already holds 2 placement groups")
                    && message.contains("SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_HARD")
            }
            #expect {
                _ = try Testbed.square.options(TaskOptions(numCPUs: 0.5, placementGroup: over, bundleIndex: 0)).remote(3)
                    .get(timeout: .seconds(30))
            } throws: { error in
                if case .quotaExceeded? = error as? Ray.Error { return true }
                return false
            }
            // Asking for more than the bundle holds is refused at submission, as in Ray.
            #expect(throws: Ray.Error.self) {
                _ = try Testbed.square.options(TaskOptions(placementGroup: kept[1], bundleIndex: 0)).remote(3)
            }
            #expect(try Testbed.square.options(TaskOptions(numCPUs: 0.5, placementGroup: kept[1], bundleIndex: 0)).remote(3)
                .get(timeout: .seconds(30)) == 9)
            let refusals = try ControlClient.ask(gcs: cluster.gcsAddress, .refusals, secret: cluster.secret)
            guard case .refusals(let counts) = refusals else {
                Issue.record("the GCS answered \(refusals)")
                return
            }
            #expect(counts.groupsOverQuota == 1)
            #expect("\(refusals)".contains("per-job quotas refused 1 placement group(s)"))
            // A removed group frees its place.
            try kept[0].remove()
            let again = try PlacementGroup.create(bundles: [["CPU": 0.5]])
            try again.ready(timeout: .seconds(30))
            #expect(try again.state.0 == .created)
        }
    }

    /// A job creating groups faster than its rate (4 a second, 2 allowed to wait): four are ready
    /// at once, two later (pending meanwhile, the cause naming the rate), the last two are refused
    /// with QuotaExceeded naming both settings; the GCS's status counts them.
    @Test func aJobPastItsPlacementGroupCreationRateWaitsThenGetsQuotaExceeded() throws {
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_PLACEMENT_GROUP_CREATIONS_PER_SECOND=4",
                                                              "SWIFTRAY_PLACEMENT_GROUP_CREATIONS_DELAYED=2"]) { cluster throws in
            let groups = try (0..<8).map { _ in try PlacementGroup.create(bundles: [["CPU": 0.1]]) }
            for group in groups.prefix(6) { try group.ready(timeout: .seconds(30)) }
            for group in groups.suffix(2) {
                #expect {
                    try group.ready(timeout: .seconds(30))
                } throws: { error in
                    guard case .quotaExceeded(let message)? = error as? Ray.Error else { return false }
                    return message.contains("faster than its rate limit of 4 per second")
                        && message.contains("SWIFTRAY_PLACEMENT_GROUP_CREATIONS_DELAYED")
                }
            }
            #expect(try Testbed.square.options(TaskOptions(numCPUs: 0.1, placementGroup: groups[5], bundleIndex: 0)).remote(3)
                .get(timeout: .seconds(30)) == 9)
            let refusals = try ControlClient.ask(gcs: cluster.gcsAddress, .refusals, secret: cluster.secret)
            guard case .refusals(let counts) = refusals else {
                Issue.record("the GCS answered \(refusals)")
                return
            }
            #expect(counts.groupsDelayed == 2 && counts.groupsOverQuota == 2, "\(refusals)")
        }
    }

    @Test func anActorInABundleRunsThereAndDiesWithItsGroup() async throws {
        try await withAsyncCluster {
            let gang = try PlacementGroup.create(bundles: [["CPU": 1]], strategy: .strictPack)
            try await gang.ready(timeout: .seconds(30))
            let counter = try Testbed.counters.options(ActorClassOptions(numCPUs: 1, placementGroup: gang, bundleIndex: 0))
                .remote(1, "in-group")
            #expect(try await counter.increment(by: 1) == 2)
            // Removal is asynchronous in the cluster (as Ray's), but this program knows at once: a call
            // made after remove() fails saying why, without reaching the actor's worker.
            try gang.remove()
            var cause: String?
            do {
                _ = try await counter.increment(by: 1)
            } catch Ray.Error.actorDied(let message) {
                cause = message
            }
            #expect(cause?.contains("its placement group \(gang.id) was removed") == true, "\(cause ?? "no failure")")
        }
    }

    @Test func aRayletKilledHoldingABundleHasItPlacedAgainOnASpareNode() throws {
        try withCluster([("head", ["CPU": 0]), ("n2", ["CPU": 1]), ("n3", ["CPU": 1]), ("n4", ["CPU": 1])]) { cluster throws in
            let gang = try PlacementGroup.create(bundles: [["CPU": 1], ["CPU": 1]], strategy: .strictSpread)
            try gang.ready(timeout: .seconds(30))
            let before = try gang.bundleNodes
            let victim = try #require(before[1])
            let name = try #require(cluster.nodes.first { $0.id == victim }?.name)
            // A task in bundle 1 runs on its node.
            let ran = try Testbed.context.options(TaskOptions(placementGroup: gang, bundleIndex: 1)).remote()
                .get(timeout: .seconds(30))
            #expect(ran.split(separator: " ")[1] == "\(victim.value)", "\(ran) vs \(victim)")
            cluster.killNode(named: name)  // SIGKILL, holding bundle 1.
            // Bundle 1 is placed again, on the spare node (never beside bundle 0), bundle 0 untouched.
            let deadline = Date().addingTimeInterval(30)
            var after = before
            while Date() < deadline {
                after = try gang.bundleNodes
                if try gang.state.0 == .created, let node = after[1], node != victim { break }
                usleep(20_000)
            }
            #expect(after[0] == before[0] && after[1] != nil && after[1] != victim && after[1] != after[0], "\(before) -> \(after)")
            #expect(try gang.state.0 == .created)
            let moved = try Testbed.context.options(TaskOptions(placementGroup: gang, bundleIndex: 1)).remote()
                .get(timeout: .seconds(30))
            #expect(moved.split(separator: " ")[1] == "\(after[1]!.value)", "\(moved) vs \(after)")
            try gang.remove()
        }
    }
}
}
