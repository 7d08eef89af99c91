// The one loop (ComponentDriver): effect order across re-entrant inputs,
// timer replacement, time handed back on replay, invariant violations, and a
// world that rejects what the protocol forbids it to see.

import Testing
@testable import RayCore

/// A toy machine: it keeps a sum of the times it saw (its behaviour depends on `now`),
/// starts a timer on `.arm`, and breaks its invariant on `.breakIt`.
private struct Toy: Component {
    enum Input: Hashable { case arm(String), ping(Int), fired(String), breakIt }
    enum Effect: Hashable { case said(Int), start(String, Int64) }

    var timeSum: Int64 = 0
    var pings: [Int] = []
    var broken = false

    mutating func handle(_ input: Input, now: Int64) -> [Effect] {
        timeSum = timeSum &* 31 &+ now
        switch input {
        case .arm(let name): return [.start(name, 100), .said(-1)]
        case .ping(let value):
            pings.append(value)
            return [.said(value), .said(value * 10)]
        case .fired(let name): return [.said(name.count)]
        case .breakIt:
            broken = true
            return []
        }
    }

    static func timerStarted(by effect: Effect) -> (timer: String, afterMicros: Int64)? {
        guard case .start(let name, let after) = effect else { return nil }
        return (name, after)
    }

    static func input(firing timer: String) -> Input { .fired(timer) }

    var stateDigest: UInt64 {
        var digest = Digest()
        digest.add(UInt64(bitPattern: timeSum))
        for ping in pings { digest.add(UInt64(bitPattern: Int64(ping))) }
        return digest.finalized
    }

    func invariantViolation() -> String? { broken ? "the toy is broken" : nil }
    func fullInvariantViolation() -> String? { pings.count >= 3 ? "\(pings.count) pings" : nil }
}

@Suite struct ComponentDriverTests {
    @Test func anInputRaisedWhilePerformingWaitsUntilEveryEffectOfTheCurrentOneIsPerformed() {
        let driver = ComponentDriver<Toy>()
        var performed: [Int] = []
        driver.perform = { effect in
            guard case .said(let value) = effect else { return }
            performed.append(value)
            if value == 1 { driver.submit(.ping(2)) }  // The world turns an effect into an input.
        }
        driver.submit(.ping(1))
        #expect(performed == [1, 10, 2, 20])
        #expect(driver.pings == [1, 2])
    }

    @Test func aNewerStartOfATimerReplacesThePendingOne() {
        let driver = ComponentDriver<Toy>()
        var scheduled: [(String, TimerToken, Int64)] = []
        var performed: [Int] = []
        driver.schedule = { scheduled.append(($0, $1, $2)) }
        driver.perform = { effect in
            // The world never sees a timer start: the driver arms it.
            if case .start = effect { Issue.record("a timer start reached the world") }
            if case .said(let value) = effect { performed.append(value) }
        }
        driver.submit(.arm("t"))
        driver.submit(.arm("t"))
        driver.submit(.arm("u"))
        #expect(scheduled.map(\.0) == ["t", "t", "u"] && scheduled.allSatisfy { $0.2 == 100 })
        #expect(driver.isArmed("t"))
        driver.fire("t", token: scheduled[0].1)  // Replaced: dropped.
        #expect(performed == [-1, -1, -1])
        driver.fire("t", token: scheduled[1].1)
        #expect(performed == [-1, -1, -1, 1])
        driver.fire("t", token: scheduled[1].1)  // At most once per start.
        driver.fire("u", token: scheduled[2].1)
        #expect(performed == [-1, -1, -1, 1, 1])
        #expect(!driver.isArmed("t") && !driver.isArmed("u"))
    }

    @Test func replayHandsBackTheLoggedTimesAndReachesTheSameState() {
        let driver = ComponentDriver<Toy>()
        var clock: Int64 = 1_000
        driver.clock = { clock }
        var logged: [(Toy.Input, Int64)] = []
        driver.log = { logged.append(($0, $1)) }
        for value in 0..<20 {
            clock += Int64(value * 7 + 3)
            driver.submit(.ping(value))
        }
        let digest = driver.stateDigest
        #expect(logged.map(\.1) == logged.map(\.1).sorted() && Set(logged.map(\.1)).count == 20)
        let rebuilt = ComponentDriver<Toy>()
        rebuilt.clock = { 0 }  // Not read on replay: each input comes with its time.
        var observed = 0
        rebuilt.observe = { _, _, _ in observed += 1 }
        rebuilt.replay(logged)
        #expect(rebuilt.stateDigest == digest)
        #expect(observed == 20)
        // Replayed at another time, the state differs: time really is part of the input.
        let wrongTimes = ComponentDriver<Toy>()
        wrongTimes.replay(logged.map { ($0.0, Int64(0)) })
        #expect(wrongTimes.stateDigest != digest)
    }

    @Test func aViolationIsReportedWithItsInputAfterTheInputWasLogged() {
        let driver = ComponentDriver<Toy>()
        var events: [String] = []
        driver.log = { input, _ in events.append("log \(input)") }
        driver.checksInvariants = true
        driver.violated = { problem, input in events.append("violated \(input): \(problem)") }
        driver.submit(.ping(1))
        driver.submit(.breakIt)
        #expect(events == ["log ping(1)", "log breakIt", "violated breakIt: the toy is broken"])
        driver.checksInvariants = false
        driver.submit(.ping(2))
        #expect(events.count == 4)
    }

    @Test func theFullScanRunsEveryPeriodOfSteps() {
        let driver = ComponentDriver<Toy>()
        var reported: [String] = []
        driver.checksInvariants = true
        driver.fullCheckPeriod = 2
        driver.violated = { problem, _ in reported.append(problem) }
        for value in 0..<6 { driver.submit(.ping(value)) }
        // Scans after steps 1, 3 and 5 (the first step starts the count): 1 ping, 3 pings, 5 pings.
        #expect(reported == ["3 pings", "5 pings"])
    }

    @Test func theOwnersFullScanFindsANegativeCount() {
        var owner = Owner()
        _ = owner.handle(.started(RayConfig(), OwnerIdentity(worker: WorkerID(node: NodeID(1), index: 0), job: JobID(1))),
                         now: 0)
        #expect(owner.fullInvariantViolation() == nil)
        var entry = Owner.ObjectEntry()
        entry.localRefs = -1
        let object = ObjectID.put(by: TaskID.driver(of: JobID(1)), index: 1)
        owner.objects[object] = entry
        #expect(owner.fullInvariantViolation()?.contains("negative reference count for \(object)") == true)
        var raylet = Raylet()
        _ = raylet.handle(.started(RayConfig(), NodeInfo(nodeID: NodeID(1), name: "n", resources: .units(["CPU": 2]),
                                                         objectStoreBytes: 1 << 20)), now: 0)
        #expect(raylet.fullInvariantViolation() == nil)
    }

    @Test func theRealMachinesNeverHandTheWorldATimerStart() {
        // A raylet started with its resource-report timer: the world sees sends, not the start.
        let driver = ComponentDriver<Raylet>()
        var armed: [RayletTimer] = []
        driver.schedule = { timer, _, _ in armed.append(timer) }
        driver.perform = { effect in
            if case .startTimer = effect { Issue.record("the raylet's timer start reached the world") }
        }
        driver.checksInvariants = true
        driver.violated = { problem, _ in Issue.record("\(problem)") }
        driver.submit(.started(RayConfig(), NodeInfo(nodeID: NodeID(1), name: "n", resources: .units(["CPU": 2]),
                                                    objectStoreBytes: 1 << 20)))
        driver.submit(.peerConnected(.gcs))
        #expect(armed.contains(.reportResources))
    }
}
