// Actors from Swift (issue 10), on real processes: distributed actors created by an
// `ActorClass`, their methods as ordered actor calls, the reference form for
// pipelining, kills, restarts after a crash, a constructor that throws, and a
// method that submits a task.

import Foundation
import Testing

@testable import Ray
import RayCore
@testable import RayRuntime
import RayTestbed

extension RuntimeTests {
@Suite struct ActorSwiftTests {
    @Test func anActorKeepsStateAcrossOrderedCalls() async throws {
        try await withAsyncCluster { 
            let counter = try Testbed.counters.remote(5, "c")
            var seen: [Int] = []
            for _ in 0..<10 { seen.append(try await counter.increment(by: 1)) }
            #expect(seen == Array(6...15))
            #expect(try await counter.describe() == "c=15")
            try await counter.reset()
            #expect(try await counter.increment(by: 2) == 2)
            // The reference form: the call's result goes to a task without coming back here.
            let ref = try await Ray.reference { try await counter.increment(by: 1) }
            #expect(try Testbed.square.remote(ref).get(timeout: .seconds(30)) == 9)
            // A method may submit tasks: its worker owns them.
            #expect(try await counter.squareViaTask(7) == 49)
        }
    }

    @Test func aHandlePassedToATaskCallsTheSameActor() async throws {
        try await withAsyncCluster {
            let counter = try Testbed.counters.remote(100, "h")
            #expect(try await counter.increment(by: 1) == 101)
            // The task's worker follows the actor (it subscribes on decoding the handle) and calls it.
            #expect(try Testbed.callCounter.remote(counter, 10).get(timeout: .seconds(30)) == 111)
            #expect(try await counter.increment(by: 1) == 112)
            // And to another actor's method: that actor's worker follows it and calls it.
            let relay = try Testbed.counters.remote(0, "relay")
            #expect(try await relay.forward(to: counter, amount: 5) == 117)
        }
    }

    /// The caller's view of an actor: its state and cause, as the GCS published them.
    private func state(of actor: RayCore.ActorID) throws -> (RayCore.ActorState, String)? {
        try Ray.client().inspect { owner in owner.actors[actor]?.info.map { ($0.state, $0.cause) } }
    }

    /// Waits (polling the owner's view, at most 20 s) until the actor is dead; returns its cause.
    private func deathCause(of actor: RayCore.ActorID) throws -> String? {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let (state, cause) = try state(of: actor), state == .dead { return cause }
            usleep(20_000)
        }
        return nil
    }

    @Test func anActorWhoseHandlesAreAllGoneIsDestroyed() async throws {
        try await withAsyncCluster {
            func makeAndDrop() async throws -> RayCore.ActorID {
                let counter = try Testbed.counters.remote(0, "dropped")
                #expect(try await counter.increment(by: 1) == 1)
                return counter.id
            }
            let dropped = try await makeAndDrop()
            #expect(try deathCause(of: dropped) == "all its handles went out of scope")
            // One kept stays: a handle held lives on.
            let kept = try Testbed.counters.remote(0, "kept")
            #expect(try await kept.increment(by: 1) == 1)
            RayActorSystem.shared.handles.sweep()
            #expect(try state(of: kept.id)?.0 == .alive)
        }
    }

    @Test func aHandleKeptByAnotherActorKeepsTheActorAlive() async throws {
        try await withAsyncCluster {
            let holder = try Testbed.counters.remote(0, "holder")
            func handOver() async throws -> RayCore.ActorID {
                let counter = try Testbed.counters.remote(10, "held")
                try await holder.keep(counter)
                return counter.id
            }
            let held = try await handOver()
            // The driver's handle is gone (released now): the holder's worker borrows the actor's
            // handle object, so the actor lives and the holder can still call it.
            RayActorSystem.shared.handles.sweep()
            let owner = try Ray.client()
            #expect(owner.inspect { $0.objects[held.handle].map { !$0.freed } ?? false })
            #expect(try await holder.callKept(5) == 15)
            #expect(try state(of: held)?.0 == .alive)
            // The holder drops it: the last handle is gone, and the actor with it.
            try await holder.dropKept()
            #expect(try deathCause(of: held) == "all its handles went out of scope")
            #expect(try await holder.increment(by: 1) == 1)
        }
    }

    @Test func aHandleReturnedByAMethodIsCountedForTheCaller() async throws {
        try await withAsyncCluster {
            let factory = try Testbed.counters.remote(0, "factory")
            func takeAndUse() async throws -> RayCore.ActorID {
                // The factory's worker created it and keeps no handle: the one returned is lent to
                // this driver (the factory's owner keeps the actor for it), as a task's would be.
                let spawned = try await factory.spawn(3)
                try await factory.sweepHandles()
                #expect(try await spawned.increment(by: 1) == 4)
                #expect(try state(of: spawned.id)?.0 == .alive)
                return spawned.id
            }
            let spawned = try await takeAndUse()
            // The driver's handle went: the borrow ends, and the actor with it.
            RayActorSystem.shared.handles.sweep()
            #expect(try deathCause(of: spawned) == "all its handles went out of scope")
            #expect(try await factory.increment(by: 1) == 1)
        }
    }

    @Test func aBorrowedHandleGivenToAConstructorIsHeldWhileTheNewActorLives() async throws {
        try await withAsyncCluster {
            let factory = try Testbed.counters.remote(0, "factory")
            func setUp() async throws -> (Relay, RayCore.ActorID) {
                let spawned = try await factory.spawn(3)  // borrowed: the factory's worker owns it
                try await factory.sweepHandles()
                let relay = try Testbed.relays.remote(spawned)
                #expect(try await relay.poke(1) == 4)
                return (relay, spawned.id)
            }
            var (relay, spawned): (Relay?, RayCore.ActorID) = try await setUp()
            // This driver's own handle went; its borrow is kept for the relay, whose worker borrows it in turn.
            RayActorSystem.shared.handles.sweep()
            #expect(try await relay!.poke(1) == 5)
            #expect(try state(of: spawned)?.0 == .alive)
            let relayID = relay!.id
            relay = nil
            RayActorSystem.shared.handles.sweep()
            #expect(try deathCause(of: relayID) == "all its handles went out of scope")
            #expect(try deathCause(of: spawned) == "all its handles went out of scope")
        }
    }

    @Test func aHandleGivenToAConstructorKeepsItsActorAliveWhileTheNewActorLives() async throws {
        try await withAsyncCluster {
            func setUp() async throws -> (Relay, RayCore.ActorID) {
                let target = try Testbed.counters.remote(10, "target")
                let relay = try Testbed.relays.remote(target)
                #expect(try await relay.poke(1) == 11)
                return (relay, target.id)
            }
            var (relay, target): (Relay?, RayCore.ActorID) = try await setUp()
            // This driver's handle of the target went; the relay's (from its constructor) holds it.
            RayActorSystem.shared.handles.sweep()
            #expect(try await relay!.poke(1) == 12)
            #expect(try state(of: target)?.0 == .alive)
            // The relay goes out of scope: then nothing holds the target.
            let relayID = relay!.id
            relay = nil
            RayActorSystem.shared.handles.sweep()
            #expect(try deathCause(of: relayID) == "all its handles went out of scope")
            #expect(try deathCause(of: target) == "all its handles went out of scope")
        }
    }

    @Test func aMethodReturnsAReferenceItMadeAndTheCallerBorrowsIt() async throws {
        try await withAsyncCluster {
            let counter = try Testbed.counters.remote(0, "stash")
            let ref = try await counter.stash(42)
            #expect(try await ref.value == 42)
            // And passes it on to a task (its owner, the actor's worker, resolves it).
            #expect(try Testbed.square.remote(ref).get(timeout: .seconds(30)) == 1764)
        }
    }

    @Test func aConstructorReadsReferencesInsideItsValuesAgainOnARestart() async throws {
        try await withAsyncCluster {
            // References inside a constructor's value (Ray's nested refs): the actor is placed once
            // they exist, its owner holds them while it lives, and a restart reads them again even
            // after the driver dropped its own handles.
            var parts: [ObjectRef<Int>]? = [try Ray.put(20), try Testbed.square.remote(5)]
            let summer = try Testbed.summers.options(ActorClassOptions(maxRestarts: 1)).remote(parts!)
            parts = nil
            #expect(try await summer.sum() == 45)
            let first = try await summer.process()
            try Ray.kill(summer, noRestart: false)
            let deadline = Date().addingTimeInterval(30)
            var again: Int?
            // Calls may still reach the old incarnation (the kill is asynchronous) or fail in flight.
            while (again == nil || again == first) && Date() < deadline {
                do { again = try await summer.process() } catch { again = nil }
                if again == nil || again == first { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(again != nil && again != first, "no new incarnation answered")
            #expect(try await summer.sum() == 45)
        }
    }

    @Test func aNamedActorIsFoundByNameAndItsNameIsFreedWhenItDies() async throws {
        try await withAsyncCluster {
            let options = ActorClassOptions(name: "ledger", namespace: "bank")
            let counter = try Testbed.counters.options(options).remote(1, "n")
            #expect(try await counter.increment(by: 1) == 2)
            let found: TestCounter = try Ray.getActor("ledger", namespace: "bank")
            #expect(try await found.increment(by: 1) == 3)
            #expect(throws: Ray.Error.self) { _ = try Ray.getActor("ledger", as: TestCounter.self) }  // Another namespace.
            // A second live actor under the name is refused: its calls fail saying why.
            let twin = try Testbed.counters.options(options).remote(0, "t")
            await #expect {
                _ = try await twin.increment(by: 1)
            } throws: { error in
                guard case Ray.Error.actorDied(let message) = error else { return false }
                return message.contains("the name 'ledger' is taken in namespace 'bank'")
            }
            // A kill for good frees the name at once: the GCS hears the lookup after the kill.
            try Ray.kill(counter)
            #expect(throws: Ray.Error.self) { _ = try Ray.getActor("ledger", namespace: "bank", as: TestCounter.self) }
        }
    }

    /// Per-job quota (issue 12, an actor create storm): past the GCS's hard limit a job's new
    /// actor is refused, its calls fail with `Ray.Error.quotaExceeded` naming the limit; once an
    /// actor dies the job may create another, and the refusal shows in the actor table.
    @Test func aJobPastItsActorQuotaGetsQuotaExceeded() throws {
        try withCluster([("head", ["CPU": 2])], environment: ["SWIFTRAY_ACTORS_PER_JOB_HARD=3"]) { cluster throws in
            let counters = try (0..<3).map { try Testbed.counters.remote($0, "q\($0)") }
            for (index, counter) in counters.enumerated() {
                #expect(try Ray.blocking { try await counter.increment(by: 1) } == index + 1)
            }
            let over = try Testbed.counters.remote(0, "over")
            #expect {
                _ = try Ray.blocking { try await over.increment(by: 1) }
            } throws: { error in
                guard case .quotaExceeded(let message)? = error as? Ray.Error else { return false }
                return message.contains("already holds 3 live actors") && message.contains("SWIFTRAY_ACTORS_PER_JOB_HARD")
            }
            // Counted where `swiftray status` reads it.
            let refusals = try ControlClient.ask(gcs: cluster.gcsAddress, .refusals, secret: cluster.secret)
            guard case .refusals(let counts) = refusals else {
                Issue.record("the GCS answered \(refusals)")
                return
            }
            #expect(counts.actorsOverQuota == 1)
            #expect("\(refusals)".contains("per-job quotas refused 1 actor creation(s)"))
            // One dies for good: its place is free again.
            try Ray.kill(counters[0])
            let deadline = Date().addingTimeInterval(10)
            var again: Int?
            while again == nil && Date() < deadline {
                let next = try Testbed.counters.remote(41, "again")
                again = try? Ray.blocking { try await next.increment(by: 1) }
                if again == nil { usleep(50_000) }
            }
            #expect(again == 42)
        }
    }

    /// Ray's namespaces: an actor named without a namespace is in its job's anonymous one (two
    /// programs may use one name; only the creating job finds it); a named namespace is shared.
    @Test func aNameWithoutANamespaceIsTheJobsOwn() throws {
        try withCluster([("head", ["CPU": 2])]) { cluster throws in
            let mine = try Testbed.counters.options(ActorClassOptions(name: "ps", detached: true)).remote(0, "a")
            let shared = try Testbed.counters.options(ActorClassOptions(name: "ps", namespace: "team", detached: true)).remote(10, "b")
            #expect(try Ray.blocking { try await mine.increment(by: 1) } == 1)
            let found: TestCounter = try Ray.getActor("ps")
            #expect(try Ray.blocking { try await found.increment(by: 1) } == 2)
            // Another program (a second job on the same cluster).
            Ray.shutdown()
            try Ray.connect(rayletSocket: cluster.nodes[0].socketPath, workerExecutable: testbedPath,
                            logRoot: cluster.session.logs)
            #expect {
                _ = try Ray.getActor("ps", as: TestCounter.self)
            } throws: { error in
                guard case .invalidArgument(let message)? = error as? Ray.Error else { return false }
                return message.contains("no live actor is named 'ps'") && message.contains("this job's own")
            }
            let team: TestCounter = try Ray.getActor("ps", namespace: "team")
            #expect(try Ray.blocking { try await team.increment(by: 1) } == 11)
            // The same name, in this job's own namespace: no clash with the first program's.
            let ours = try Testbed.counters.options(ActorClassOptions(name: "ps")).remote(100, "c")
            #expect(try Ray.blocking { try await ours.increment(by: 1) } == 101)
            try Ray.kill(team)
            try Ray.kill(try Ray.getActor("ps", as: TestCounter.self))
            try Ray.kill(TestCounter.resolve(id: mine.id, using: .shared))
        }
    }

    @Test func aWorkerHoldsOnlyItsJobsCredential() throws {
        try withCluster([("head", ["CPU": 2])]) { cluster throws in
            let counter = try Testbed.counters.remote(0, "w")
            #expect(try Ray.blocking { try await counter.increment(by: 1) } == 1)
            // The raylet's children are this job's workers: each was given its job's credential, in
            // its environment, and neither the node's nor the cluster's (nor their files).
            let raylet = cluster.nodes[0].pid
            let workers = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
                .filter { pid in
                    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                    let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
                    return fields.count > 1 && Int32(fields[1]) == raylet
                }
            #expect(!workers.isEmpty)
            let admin = cluster.secret.hexText, node = cluster.secret.derive(.node)!.hexText
            for pid in workers {
                let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
                let entries = String(decoding: environ, as: UTF8.self).split(separator: "\0")
                #expect(entries.contains { $0.hasPrefix("SWIFTRAY_CLUSTER_SECRET=job-") }, "worker \(pid)")
                #expect(!entries.contains { $0.hasPrefix("SWIFTRAY_CLUSTER_SECRET_FILE=") && $0.count > 29 })
                #expect(!entries.contains { $0.contains(admin) || $0.contains(node) })
            }
            try Ray.kill(counter)
        }
    }

    @Test func aConcurrentActorLetsCallsInWhileOthersWait() async throws {
        try await withAsyncCluster {
            let counter = try Testbed.counters.options(ActorClassOptions(maxConcurrency: 3)).remote(0, "c")
            // Each call waits inside the actor until three have arrived: one at a time, none would return.
            let orders = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await counter.rendezvous(3) } }
                var all: [Int] = []
                for try await order in group { all.append(order) }
                return all.sorted()
            }
            #expect(orders == [1, 2, 3])
        }
    }

    @Test func aConstructorTakesObjectRefsAndWaitsForThem() async throws {
        try await withAsyncCluster {
            // The actor is created once its argument exists (DEPENDENCIES_UNREADY until then).
            let start = try Testbed.slowValue.remote(200, 42)
            let counter = try Testbed.counters.remote(start, "dep")
            #expect(try await counter.increment(by: 1) == 43)
            // An argument that failed fails the actor, saying which and why.
            let broken = try Testbed.fail.options(TaskOptions(maxRetries: 0)).remote("no start value")
            let doomed = try Testbed.counters.remote(broken, "doomed")
            await #expect {
                _ = try await doomed.increment(by: 1)
            } throws: { error in
                guard case Ray.Error.actorDied(let message) = error else { return false }
                return message.contains("its constructor's argument") && message.contains("no start value")
            }
        }
    }

    @Test func aMethodThatThrowsFailsItsCallAndTheActorLivesOn() async throws {
        try await withAsyncCluster {
            let counter = try Testbed.counters.remote(0, "f")
            await #expect {
                _ = try await counter.failing("bad input")
            } throws: { error in
                guard case Ray.Error.taskFailed(let message) = error else { return false }
                return message.contains("failing") && message.contains("bad input")
            }
            #expect(try await counter.increment(by: 1) == 1)
        }
    }

    @Test func aKilledActorFailsItsCallsWithActorDied() async throws {
        try await withAsyncCluster {
            let counter = try Testbed.counters.remote(0, "k")
            #expect(try await counter.increment(by: 1) == 1)
            try Ray.kill(counter)
            await #expect {
                _ = try await counter.increment(by: 1)
            } throws: { error in
                guard case Ray.Error.actorDied(let message) = error else { return false }
                return message.contains("killed by Ray.kill")
            }
        }
    }

    @Test func aCrashedActorRestartsWithFreshState() async throws {
        try await withAsyncCluster {
            let counter = try Testbed.counters.options(ActorClassOptions(maxRestarts: 1)).remote(10, "r")
            #expect(try await counter.increment(by: 1) == 11)
            let before = try await counter.pid()
            // At-most-once: the call that crashed it fails; it is not run again.
            await #expect {
                _ = try await counter.crash()
            } throws: { error in
                guard case Ray.Error.actorDied(let message) = error else { return false }
                return message.contains("maxTaskRetries=0")
            }
            // The constructor ran again: the state is the constructor's.
            #expect(try await counter.increment(by: 1) == 11)
            #expect(try await counter.pid() != before)
        }
    }

    @Test func aConstructorThatThrowsLeavesTheActorDead() async throws {
        try await withAsyncCluster {
            let actor = try Testbed.failingActors.remote()
            await #expect {
                _ = try await actor.hello()
            } throws: { error in
                guard case Ray.Error.actorDied(let message) = error else { return false }
                return message.contains("its constructor raised") && message.contains("no constructing today")
            }
        }
    }
}
}
