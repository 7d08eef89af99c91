// Unit tests of the GCS state machine: node table and view broadcast, health
// checks (ray-core-semantics §2.5), disconnects, jobs, the KV and the digest.

import Testing
@testable import RayCore

/// A started GCS with `nodes` registered in order (effects discarded).
private func startedGCS(_ nodes: [NodeInfo], config: RayConfig = RayConfig()) -> GCS {
    var gcs = GCS()
    _ = gcs.handle(.started(config), now: 0)
    for info in nodes {
        _ = gcs.handle(.messageReceived(from: .raylet(info.nodeID), .registerNode(info)), now: 1)
    }
    return gcs
}

/// Sends the next health check to `node` and lets it time out; returns the timeout's effects.
private func missHealthCheck(_ gcs: inout GCS, _ node: NodeID, now: Int64) -> [GCSEffect] {
    guard let sequence = sendHealthCheck(&gcs, node, now: now) else { return [] }
    return gcs.handle(.timerFired(.healthCheckTimeout(node, sequence: sequence)), now: now + 10_000_000)
}

/// Fires the send timer for `node`; returns the check's sequence number.
private func sendHealthCheck(_ gcs: inout GCS, _ node: NodeID, now: Int64) -> UInt64? {
    let effects = gcs.handle(.timerFired(.sendHealthCheck(node)), now: now)
    guard effects.count == 2, case .send(to: .raylet(let target), .healthCheck(let sequence)) = effects[0],
          target == node else {
        Issue.record("expected a health check to \(node), got \(effects)")
        return nil
    }
    #expect(effects[1] == .startTimer(.healthCheckTimeout(node, sequence: sequence), afterMicros: 10_000_000))
    return sequence
}

private let n1 = Build.node(1), n2 = Build.node(2, cpus: 8), n3 = Build.node(3, cpus: 2)
private let driver = Build.worker(1, 100)

@Test func startingStartsTheBroadcastTimer() {
    var gcs = GCS()
    #expect(gcs.handle(.started(RayConfig()), now: 0) == [.startTimer(.broadcastView, afterMicros: 100_000)])
}

@Test func nodeRegistrationBroadcastsViewToAllAliveRaylets() {
    var gcs = startedGCS([])
    let first = gcs.handle(.messageReceived(from: .raylet(n1.nodeID), .registerNode(n1)), now: 10)
    #expect(first == [
        .startTimer(.sendHealthCheck(n1.nodeID), afterMicros: 5_000_000),
        .send(to: .raylet(n1.nodeID), .clusterView([Build.view(n1)])),
    ])
    let second = gcs.handle(.messageReceived(from: .raylet(n2.nodeID), .registerNode(n2)), now: 20)
    let view = [Build.view(n1), Build.view(n2)]
    #expect(second == [
        .startTimer(.sendHealthCheck(n2.nodeID), afterMicros: 5_000_000),
        .send(to: .raylet(n1.nodeID), .clusterView(view)),
        .send(to: .raylet(n2.nodeID), .clusterView(view)),
    ])
    #expect(gcs.aliveNodeIDs == [NodeID(1), NodeID(2)])
}

@Test func registrationAfterADeathLeavesTheDeadNodeOutOfTheView() {
    var gcs = startedGCS([n1, n2])
    _ = gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 5)
    let effects = gcs.handle(.messageReceived(from: .raylet(n3.nodeID), .registerNode(n3)), now: 6)
    let view = [Build.view(n1), Build.view(n3)]
    #expect(effects.sends == [
        SentMessage(to: .raylet(n1.nodeID), message: .clusterView(view)),
        SentMessage(to: .raylet(n3.nodeID), message: .clusterView(view)),
    ])
}

@Test func healthCheckTimeoutsMarkNodeDeadOnce() {
    var gcs = startedGCS([n1, n2])
    _ = gcs.handle(.messageReceived(from: .worker(driver), .registerJob(JobID(1), driver: driver)), now: 2)
    let threshold = gcs.config.healthCheckFailureThreshold
    var now: Int64 = 5_000_000
    for failure in 1..<threshold {
        let effects = missHealthCheck(&gcs, n2.nodeID, now: now)
        #expect(effects == [.startTimer(.sendHealthCheck(n2.nodeID), afterMicros: 3_000_000)])
        #expect(gcs.nodes[n2.nodeID]?.healthCheckFailures == failure)
        #expect(gcs.nodes[n2.nodeID]?.state == .alive)
        now += 13_000_000
    }
    let fatal = missHealthCheck(&gcs, n2.nodeID, now: now)
    #expect(fatal == [
        .send(to: .raylet(n1.nodeID), .nodeDead(n2.nodeID)),
        .send(to: .raylet(n2.nodeID), .nodeDead(n2.nodeID)),
        .send(to: .worker(driver), .nodeDead(n2.nodeID)),
    ])
    #expect(gcs.nodes[n2.nodeID]?.state == .dead)
    #expect(gcs.deathMarks[n2.nodeID] == 1)
    #expect(gcs.aliveNodeIDs == [n1.nodeID])

    // Nothing afterwards marks it dead again or checks it again.
    #expect(gcs.handle(.timerFired(.sendHealthCheck(n2.nodeID)), now: now + 1) == [])
    #expect(gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: now + 2) == [])
    #expect(gcs.deathMarks[n2.nodeID] == 1)
    // The other node was never touched.
    #expect(gcs.nodes[n1.nodeID]?.healthCheckFailures == 0)
}

@Test func healthCheckReplyResetsFailureCount() {
    var gcs = startedGCS([n1])
    let id = n1.nodeID
    let threshold = gcs.config.healthCheckFailureThreshold
    for _ in 1..<threshold { _ = missHealthCheck(&gcs, id, now: 100) }
    #expect(gcs.nodes[id]?.healthCheckFailures == threshold - 1)

    guard let sequence = sendHealthCheck(&gcs, id, now: 200) else { return }
    // A reply with the wrong sequence number is ignored.
    #expect(gcs.handle(.messageReceived(from: .raylet(id), .healthCheckReply(sequence: sequence + 99)), now: 201) == [])
    #expect(gcs.nodes[id]?.healthCheckFailures == threshold - 1)
    let reply = gcs.handle(.messageReceived(from: .raylet(id), .healthCheckReply(sequence: sequence)), now: 202)
    #expect(reply == [.startTimer(.sendHealthCheck(id), afterMicros: 3_000_000)])
    #expect(gcs.nodes[id]?.healthCheckFailures == 0)
    #expect(gcs.nodes[id]?.healthCheckOutstanding == nil)
    // The answered check's timeout is stale.
    #expect(gcs.handle(.timerFired(.healthCheckTimeout(id, sequence: sequence)), now: 300) == [])

    // It takes a full threshold of fresh failures to kill it now.
    for _ in 1..<threshold { _ = missHealthCheck(&gcs, id, now: 400) }
    #expect(gcs.nodes[id]?.state == .alive)
    let fatal = missHealthCheck(&gcs, id, now: 500)
    #expect(fatal.messages(to: .raylet(id)) == [.nodeDead(id)])
    #expect(gcs.nodes[id]?.state == .dead)
}

@Test func healthCheckIsNotSentTwiceWhileOneIsOutstanding() {
    var gcs = startedGCS([n1])
    #expect(sendHealthCheck(&gcs, n1.nodeID, now: 10) != nil)
    #expect(gcs.handle(.timerFired(.sendHealthCheck(n1.nodeID)), now: 11) == [])
}

@Test func rayletDisconnectMarksDeadAtOnceAndSecondDisconnectDoesNothing() {
    var gcs = startedGCS([n1, n2, n3])
    _ = gcs.handle(.messageReceived(from: .worker(driver), .registerJob(JobID(1), driver: driver)), now: 2)
    let first = gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 10)
    #expect(first == [
        .send(to: .raylet(n1.nodeID), .nodeDead(n2.nodeID)),
        .send(to: .raylet(n2.nodeID), .nodeDead(n2.nodeID)),
        .send(to: .raylet(n3.nodeID), .nodeDead(n2.nodeID)),
        .send(to: .worker(driver), .nodeDead(n2.nodeID)),
    ])
    #expect(gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 11) == [])
    #expect(gcs.deathMarks[n2.nodeID] == 1)
    // A later death does not tell the dead node again.
    let second = gcs.handle(.peerDisconnected(.raylet(n3.nodeID)), now: 12)
    #expect(second.recipients == [.raylet(n1.nodeID), .raylet(n3.nodeID), .worker(driver)])
}

@Test func rayletDisconnectIsIgnoredWhenConfiguredToWaitForHealthChecks() {
    var config = RayConfig()
    config.markNodeDeadOnDisconnect = false
    var gcs = startedGCS([n1, n2], config: config)
    #expect(gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 10) == [])
    #expect(gcs.nodes[n2.nodeID]?.state == .alive)
}

@Test func disconnectOfUnknownRayletDoesNothing() {
    var gcs = startedGCS([n1])
    #expect(gcs.handle(.peerDisconnected(.raylet(NodeID(42))), now: 10) == [])
    #expect(gcs.deathMarks.isEmpty)
}

@Test func reregistrationOfDeadNodeGetsNodeDeadBack() {
    var gcs = startedGCS([n1, n2])
    _ = gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 10)
    let effects = gcs.handle(.messageReceived(from: .raylet(n2.nodeID), .registerNode(n2)), now: 20)
    #expect(effects == [.send(to: .raylet(n2.nodeID), .nodeDead(n2.nodeID))])
    #expect(gcs.nodes[n2.nodeID]?.state == .dead)
    #expect(gcs.deathMarks[n2.nodeID] == 1)
}

@Test func reregistrationOfAliveNodeResendsViewToItOnly() {
    var gcs = startedGCS([n1, n2])
    let effects = gcs.handle(.messageReceived(from: .raylet(n2.nodeID), .registerNode(n2)), now: 20)
    #expect(effects == [.send(to: .raylet(n2.nodeID), .clusterView([Build.view(n1), Build.view(n2)]))])
}

@Test func resourceReportChangesTheBroadcastView() {
    var gcs = startedGCS([n1, n2])
    // Nothing changed since registration: the timer only re-arms.
    #expect(gcs.handle(.timerFired(.broadcastView), now: 100_000) == [.startTimer(.broadcastView, afterMicros: 100_000)])

    let busy = Build.cpus(1)
    #expect(gcs.handle(.messageReceived(from: .raylet(n2.nodeID), .resourceReport(node: n2.nodeID, available: busy)),
                       now: 150_000) == [])
    let view = [Build.view(n1), Build.view(n2, available: busy)]
    #expect(gcs.clusterView == view)
    #expect(gcs.handle(.timerFired(.broadcastView), now: 200_000) == [
        .send(to: .raylet(n1.nodeID), .clusterView(view)),
        .send(to: .raylet(n2.nodeID), .clusterView(view)),
        .startTimer(.broadcastView, afterMicros: 100_000),
    ])
    // The same report again changes nothing.
    _ = gcs.handle(.messageReceived(from: .raylet(n2.nodeID), .resourceReport(node: n2.nodeID, available: busy)), now: 250_000)
    #expect(gcs.handle(.timerFired(.broadcastView), now: 300_000) == [.startTimer(.broadcastView, afterMicros: 100_000)])
}

@Test func resourceReportOfDeadNodeIsIgnored() {
    var gcs = startedGCS([n1, n2])
    _ = gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 10)
    _ = gcs.handle(.timerFired(.broadcastView), now: 100_000)
    _ = gcs.handle(.messageReceived(from: .raylet(n2.nodeID), .resourceReport(node: n2.nodeID, available: ResourceSet())),
                   now: 150_000)
    #expect(gcs.nodes[n2.nodeID]?.available == n2.resources)
    #expect(gcs.handle(.timerFired(.broadcastView), now: 200_000) == [.startTimer(.broadcastView, afterMicros: 100_000)])
}

@Test func nodeDeathMakesTheNextBroadcastDropIt() {
    var gcs = startedGCS([n1, n2])
    _ = gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 10)
    #expect(gcs.handle(.timerFired(.broadcastView), now: 100_000) == [
        .send(to: .raylet(n1.nodeID), .clusterView([Build.view(n1)])),
        .startTimer(.broadcastView, afterMicros: 100_000),
    ])
}

@Test func jobRegistrationSubscribesDriverAndReplaysPastDeaths() {
    var gcs = startedGCS([n1, n2, n3])
    _ = gcs.handle(.peerDisconnected(.raylet(n3.nodeID)), now: 5)
    let effects = gcs.handle(.messageReceived(from: .worker(driver), .registerJob(JobID(7), driver: driver)), now: 10)
    #expect(effects == [.send(to: .worker(driver), .nodeDead(n3.nodeID))])
    #expect(gcs.jobs[JobID(7)] == GCS.JobEntry(driver: driver, state: .running, startedAt: 10))
    #expect(gcs.subscribers == [driver])
}

@Test func driverDisconnectFailsJobAndSendsWorkerDiedToAliveRaylets() {
    var gcs = startedGCS([n1, n2, n3])
    _ = gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 5)
    _ = gcs.handle(.messageReceived(from: .worker(driver), .registerJob(JobID(7), driver: driver)), now: 10)
    let effects = gcs.handle(.peerDisconnected(.worker(driver)), now: 20)
    // Every alive raylet drops what the driver owned and stops the job's workers.
    #expect(effects == [
        .send(to: .raylet(n1.nodeID), .workerDied(driver)), .send(to: .raylet(n1.nodeID), .jobFinished(JobID(7))),
        .send(to: .raylet(n3.nodeID), .workerDied(driver)), .send(to: .raylet(n3.nodeID), .jobFinished(JobID(7))),
    ])
    #expect(gcs.jobs[JobID(7)]?.state == .failed)
    #expect(gcs.subscribers.isEmpty)
    // A second disconnect of the same driver is a no-op.
    #expect(gcs.handle(.peerDisconnected(.worker(driver)), now: 21) == [])
}

@Test func disconnectOfFinishedDriverOrNonDriverDoesNothing() {
    var gcs = startedGCS([n1])
    _ = gcs.handle(.messageReceived(from: .worker(driver), .registerJob(JobID(7), driver: driver)), now: 10)
    #expect(gcs.handle(.peerDisconnected(.worker(Build.worker(1, 5))), now: 15) == [])
    _ = gcs.handle(.messageReceived(from: .worker(driver), .jobFinished(JobID(7))), now: 20)
    #expect(gcs.jobs[JobID(7)]?.state == .succeeded)
    #expect(gcs.subscribers.isEmpty)
    #expect(gcs.handle(.peerDisconnected(.worker(driver)), now: 30) == [])
    #expect(gcs.jobs[JobID(7)]?.state == .succeeded)
}

@Test func kvPutThenGetAnswersTheRequester() {
    var gcs = startedGCS([n1])
    let requester = Address.worker(Build.worker(1, 3))
    #expect(gcs.handle(.messageReceived(from: requester, .kvGet(key: "k")), now: 1)
        == [.send(to: requester, .kvValue(key: "k", value: nil))])
    #expect(gcs.handle(.messageReceived(from: .raylet(n1.nodeID), .kvPut(key: "k", value: [1, 2, 3])), now: 2) == [])
    #expect(gcs.handle(.messageReceived(from: requester, .kvGet(key: "k")), now: 3)
        == [.send(to: requester, .kvValue(key: "k", value: [1, 2, 3]))])
    // Only raylets write it (each job's program): a process's write is dropped and counted.
    _ = gcs.handle(.messageReceived(from: requester, .kvPut(key: "k", value: [9])), now: 4)
    #expect(gcs.quota.forgedMessages == 1)
    _ = gcs.handle(.messageReceived(from: .raylet(n1.nodeID), .kvPut(key: "k", value: [8])), now: 4)
    #expect(gcs.handle(.messageReceived(from: .raylet(n1.nodeID), .kvGet(key: "k")), now: 5)
        == [.send(to: .raylet(n1.nodeID), .kvValue(key: "k", value: [8]))])
}

@Test func recoveryRestartsTimersAndForgetsHealthCheckFailures() {
    var gcs = startedGCS([n1, n2])
    _ = missHealthCheck(&gcs, n1.nodeID, now: 10)
    _ = gcs.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 20)
    #expect(gcs.nodes[n1.nodeID]?.healthCheckFailures == 1)
    let effects = gcs.handle(.recovered, now: 30)
    #expect(effects == [
        .startTimer(.broadcastView, afterMicros: 100_000),
        .startTimer(.sendHealthCheck(n1.nodeID), afterMicros: 5_000_000),
    ])
    #expect(gcs.nodes[n1.nodeID]?.healthCheckFailures == 0)
}

@Test func digestIsEqualForEqualInputsAndDiffersAfterOneMore() {
    let inputs: [GCSInput] = [
        .started(RayConfig()),
        .messageReceived(from: .raylet(n1.nodeID), .registerNode(n1)),
        .messageReceived(from: .raylet(n2.nodeID), .registerNode(n2)),
        .messageReceived(from: .worker(driver), .registerJob(JobID(1), driver: driver)),
        .timerFired(.sendHealthCheck(n1.nodeID)),
        .messageReceived(from: .raylet(n2.nodeID), .resourceReport(node: n2.nodeID, available: Build.cpus(3))),
        .messageReceived(from: .raylet(n1.nodeID), .kvPut(key: "a", value: [1])),
    ]
    var a = GCS(), b = GCS()
    for (index, input) in inputs.enumerated() {
        let effectsA = a.handle(input, now: Int64(index) * 1000)
        let effectsB = b.handle(input, now: Int64(index) * 1000)
        #expect(effectsA == effectsB)
    }
    #expect(a.digest == b.digest)

    var c = b
    _ = c.handle(.messageReceived(from: .raylet(n1.nodeID), .kvPut(key: "b", value: [2])), now: 10_000)
    #expect(c.digest != a.digest)
    var d = b
    _ = d.handle(.peerDisconnected(.raylet(n2.nodeID)), now: 10_000)
    #expect(d.digest != a.digest)
    #expect(d.digest != c.digest)
}

/// Node IDs are the GCS machine's decision, in both worlds: dense from 1, a reconnecting
/// raylet keeps its own, a dead one is refused, and a replay of the log hands out the same.
@Test func theGCSHandsOutNodeIDsAndRefusesADeadNode() {
    var gcs = GCS()
    _ = gcs.handle(.started(RayConfig()), now: 0)
    #expect(gcs.handle(.nodeJoining(known: nil), now: 1) == [.admitNode(NodeID(1))])
    #expect(gcs.handle(.nodeJoining(known: nil), now: 2) == [.admitNode(NodeID(2))])
    // After a GCS restart, raylets come back with the IDs they had.
    #expect(gcs.handle(.nodeJoining(known: NodeID(7)), now: 3) == [.admitNode(NodeID(7))])
    #expect(gcs.handle(.nodeJoining(known: nil), now: 4) == [.admitNode(NodeID(8))])
    let info = NodeInfo(nodeID: NodeID(2), name: "n2", resources: .units(["CPU": 1]), objectStoreBytes: 1 << 20)
    _ = gcs.handle(.messageReceived(from: .raylet(NodeID(2)), .registerNode(info)), now: 5)
    _ = gcs.handle(.peerDisconnected(.raylet(NodeID(2))), now: 6)
    #expect(gcs.nodes[NodeID(2)]?.state == .dead)
    let refused = gcs.handle(.nodeJoining(known: NodeID(2)), now: 7)
    guard case .refuseNode(let reason)? = refused.first else {
        Issue.record("a dead node was not refused: \(refused)")
        return
    }
    #expect(reason.contains("node-2") || reason.contains("declared dead"))
    #expect(gcs.nextNodeID == 9)
}
