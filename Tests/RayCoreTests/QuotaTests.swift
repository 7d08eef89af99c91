// Per-job quotas in the GCS (issue 12: an actor create storm): a job's live
// actors beyond the soft limit are counted, at the hard limit a creation is
// refused with a typed cause (QuotaExceeded) naming the limit and how to raise
// it; an actor that dies frees its place; another job is not affected; and the
// owner fails the refused actor's calls with that kind.

import Testing
@testable import RayCore

private let owner = Build.worker(1, 100)
private let otherOwner = Build.worker(1, 101)

private func gcs(soft: Int, hard: Int) -> GCS {
    var config = RayConfig()
    config.actorsPerJobSoftMax = soft
    config.actorsPerJobHardMax = hard
    var gcs = GCS()
    _ = gcs.handle(.started(config), now: 0)
    _ = gcs.handle(.messageReceived(from: .raylet(NodeID(1)), .registerNode(Build.node(1, cpus: 64))), now: 1)
    _ = gcs.handle(.messageReceived(from: .worker(owner), .registerJob(JobID(1), driver: owner)), now: 1)
    _ = gcs.handle(.messageReceived(from: .worker(otherOwner), .registerJob(JobID(2), driver: otherOwner)), now: 1)
    return gcs
}

private func spec(_ index: UInt64, job: JobID = JobID(1), by creator: WorkerID = owner) -> ActorSpec {
    let task = TaskID.child(of: .driver(of: job), index: index)
    return ActorSpec(creation: TaskSpec(taskID: task, jobID: job, function: "Counter", instance: Int(index), args: [],
                                        returnCount: 1, resources: Build.cpus(0), strategy: .default, maxRetries: 0,
                                        retryExceptions: false, body: [], owner: creator), options: ActorOptions())
}

private func register(_ gcs: inout GCS, _ spec: ActorSpec) -> ActorInfo? {
    _ = gcs.handle(.messageReceived(from: .worker(spec.creation.owner), .registerActor(spec)), now: 2)
    return gcs.actors[spec.actorID]?.info
}

/// A GCS with one 64-CPU node under `config`, and the timers its creations start (when each is due).
private struct RateHarness {
    var gcs = GCS()
    var timers: [(GCSTimer, Int64)] = []

    init(_ config: RayConfig) {
        _ = gcs.handle(.started(config), now: 0)
        _ = gcs.handle(.messageReceived(from: .raylet(NodeID(1)), .registerNode(Build.node(1, cpus: 64))), now: 1)
    }

    mutating func handle(_ input: GCSInput, at now: Int64) {
        for effect in gcs.handle(input, now: now) {
            if case .startTimer(let timer, let after) = effect { timers.append((timer, now + after)) }
        }
    }

    /// Registers an actor at `now`; its entry as the GCS shows it.
    mutating func register(_ spec: ActorSpec, at now: Int64) -> ActorInfo? {
        handle(.messageReceived(from: .worker(spec.creation.owner), .registerActor(spec)), at: now)
        return gcs.actors[spec.actorID]?.info
    }

    /// Creates a placement group at `now`; its entry as the GCS shows it.
    mutating func create(_ spec: PlacementGroupSpec, at now: Int64) -> PlacementGroupInfo? {
        handle(.messageReceived(from: .worker(spec.owner), .createPlacementGroup(spec)), at: now)
        return gcs.placementGroups[spec.id]?.info
    }

    /// The last creation timer of `job` armed (actors, or placement groups), and when it is due.
    func lastTimer(groups: Bool, of job: JobID = JobID(1)) -> (GCSTimer, Int64)? {
        timers.last { entry in
            switch entry.0 {
            case .actorCreations(job): !groups
            case .placementGroupCreations(job): groups
            default: false
            }
        }
    }
}

@Test func aJobOverItsHardActorQuotaIsRefusedWithATypedCause() {
    var gcs = gcs(soft: 2, hard: 3)
    for index: UInt64 in 1...3 { #expect(register(&gcs, spec(index))?.state != .dead) }
    #expect(gcs.quota.actorsOverSoft == 1)
    #expect(gcs.liveActors[JobID(1)] == 3)
    let refused = register(&gcs, spec(4))
    #expect(refused?.state == .dead)
    #expect(refused?.causeKind == RayErrorKind.quotaExceeded.rawValue)
    #expect(refused?.cause.contains("already holds 3 live actors") == true)
    #expect(refused?.cause.contains("SWIFTRAY_ACTORS_PER_JOB_HARD") == true)
    #expect(gcs.quota.actorsRefused == 1)
    // Another job has a quota of its own.
    #expect(register(&gcs, spec(1, job: JobID(2), by: otherOwner))?.state != .dead)
    // An actor that dies frees its place.
    _ = gcs.handle(.messageReceived(from: .worker(owner), .killActor(spec(1).actorID, noRestart: true,
                                                                    reason: "killed by Ray.kill")), now: 3)
    if let node = gcs.actors[spec(1).actorID]?.node {
        _ = gcs.handle(.messageReceived(from: .raylet(node), .actorWorkerDied(spec(1).actorID, incarnation: 0,
                                                                             detail: "killed")), now: 4)
    }
    #expect(gcs.actors[spec(1).actorID]?.state == .dead)
    #expect(gcs.liveActors[JobID(1)] == 2)
    #expect(register(&gcs, spec(5))?.state != .dead)
    #expect(register(&gcs, spec(6))?.state == .dead)
}

@Test func theOwnerFailsARefusedActorsCallsWithQuotaExceeded() {
    var machine = Owner()
    _ = machine.handle(.started(RayConfig(), OwnerIdentity(worker: owner, job: JobID(1))), now: 0)
    let creation = machine.nextTaskID
    _ = machine.handle(.createActor(Build.task("Counter", resources: Build.cpus(0)), ActorOptions()), now: 1)
    let actor = ActorID(creationTask: creation)
    let call = machine.nextTaskID
    _ = machine.handle(.callActor(actor, Build.task("increment", resources: ResourceSet())), now: 2)
    let info = ActorInfo(actorID: actor, state: .dead, worker: WorkerID(node: NodeID(0), index: 0), incarnation: 0,
                         cause: "refused: job-1 already holds 3 live actors", maxTaskRetries: 0, name: "Counter[0]",
                         causeKind: RayErrorKind.quotaExceeded.rawValue)
    _ = machine.handle(.messageReceived(from: .gcs, .actorUpdate(info)), now: 3)
    guard case .failed(let error)? = machine.objects[.returnValue(of: call, index: 1)]?.state else {
        Issue.record("the call did not fail")
        return
    }
    #expect(error.kind == .quotaExceeded)
    #expect(error.message.contains("was not created (refused: job-1 already holds 3 live actors)"))
}

/// Rate limits per operation: a job creating actors faster than its rate waits (registered,
/// pending, the cause saying why) and is admitted in order as its bucket refills; past the
/// bound of waiting creations it is refused (QuotaExceeded, naming both limits); another
/// job's creations are not delayed; one killed while it waits takes no credit.
@Test func aJobOverItsActorCreationRateWaitsThenIsRefused() {
    var config = RayConfig()
    config.actorCreationsPerSecondMax = 2  // A bucket of two; one more every 500 ms.
    config.actorCreationsDelayedMax = 3
    var h = RateHarness(config)
    // Two at once are placed; the next three wait; the sixth is refused.
    _ = h.register(spec(1), at: 10)
    _ = h.register(spec(2), at: 10)
    #expect(h.gcs.actors[spec(1).actorID]?.node != nil && h.gcs.actors[spec(2).actorID]?.node != nil)
    for index: UInt64 in 3...5 {
        let info = h.register(spec(index), at: 20)
        #expect(info?.state == .pendingCreation && info?.cause.contains("rate limit of 2 per second") == true, "\(String(describing: info))")
        #expect(h.gcs.actors[spec(index).actorID]?.node == nil)
    }
    let refused = h.register(spec(6), at: 20)
    #expect(refused?.state == .dead && refused?.causeKind == RayErrorKind.quotaExceeded.rawValue)
    #expect(refused?.cause.contains("SWIFTRAY_ACTOR_CREATIONS_DELAYED") == true, "\(String(describing: refused))")
    #expect(h.gcs.quota.actorsDelayed == 3 && h.gcs.quota.actorsRefused == 1)
    // Another job is not delayed.
    let other = spec(1, job: JobID(2), by: otherOwner)
    _ = h.register(other, at: 20)
    #expect(h.gcs.actors[other.actorID]?.node != nil)
    // The fourth is killed while it waits: the credit goes to the fifth.
    _ = h.gcs.handle(.messageReceived(from: .worker(owner), .killActor(spec(4).actorID, noRestart: true, reason: "killed")), now: 30)
    #expect(h.gcs.actors[spec(4).actorID]?.state == .dead)
    // The timer is due when one creation's credit has come back (500 ms after the bucket emptied).
    guard let (timer, due) = h.lastTimer(groups: false) else {
        Issue.record("no creation timer was armed")
        return
    }
    #expect(due == 10 + 500_000)
    _ = h.gcs.handle(.timerFired(timer), now: due)
    #expect(h.gcs.actors[spec(3).actorID]?.node != nil && h.gcs.actors[spec(3).actorID]?.cause == "")
    #expect(h.gcs.actors[spec(5).actorID]?.node == nil)
    _ = h.gcs.handle(.timerFired(timer), now: due + 500_000)
    #expect(h.gcs.actors[spec(5).actorID]?.node != nil)
    #expect(h.gcs.creationRates[JobID(1)]?.waitingCount == 0)
}

/// Soft limits slow a job down: past its soft quota of live actors each creation costs ten of its
/// rate, so it waits longer (the cause says why), and is still created; under it, one each.
@Test func aJobPastItsSoftActorQuotaIsSlowedDownNotRefused() {
    var config = RayConfig()
    config.actorsPerJobSoftMax = 2
    config.actorCreationsPerSecondMax = 20  // A bucket of 20; past the soft quota a creation costs 10.
    var h = RateHarness(config)
    // Two under the soft quota cost one each (18 left); the third, past it, ten (8 left).
    for index: UInt64 in 1...3 { _ = h.register(spec(index), at: 10) }
    #expect((1...3).allSatisfy { h.gcs.actors[spec(UInt64($0)).actorID]?.node != nil })
    #expect(h.gcs.quota.actorsOverSoft == 1)
    // The fourth needs ten: it waits, its cause saying it is slowed down, and is not refused.
    let fourth = h.register(spec(4), at: 10)
    #expect(fourth?.state == .pendingCreation, "\(String(describing: fourth))")
    #expect(fourth?.cause.contains("slowed down to a tenth of it while it holds more than its soft quota of 2 live actors")
            == true, "\(String(describing: fourth))")
    #expect(fourth?.cause.contains("SWIFTRAY_ACTORS_PER_JOB_SOFT") == true)
    let fifth = h.register(spec(5), at: 10)
    #expect(fifth?.state == .pendingCreation)
    #expect(h.gcs.quota.actorsRefused == 0 && h.gcs.quota.actorsDelayed == 2)
    // Two more credits (100 ms at 20 a second) make ten: the fourth starts; the fifth waits 500 ms more.
    guard let (timer, due) = h.lastTimer(groups: false) else {
        Issue.record("no creation timer was armed")
        return
    }
    #expect(due == 10 + 100_000)
    h.timers.removeAll()
    h.handle(.timerFired(timer), at: due)
    #expect(h.gcs.actors[spec(4).actorID]?.node != nil)
    #expect(h.gcs.actors[spec(5).actorID]?.node == nil)
    #expect(h.timers.last?.1 == due + 500_000)
    _ = h.gcs.handle(.timerFired(timer), now: due + 500_000)
    #expect(h.gcs.actors[spec(5).actorID]?.node != nil)
}

// Per-job quota of placement groups (a placement-group storm): groups not removed count;
// at the hard limit a creation is refused (removed at once, typed QuotaExceeded naming the
// setting), past the soft one counted; a removal frees its place; another job has its own.

private func groupSpec(_ index: UInt64, job: JobID = JobID(1), by creator: WorkerID = owner,
                       cpus: Int64 = 1) -> PlacementGroupSpec {
    PlacementGroupSpec(id: PlacementGroupID(creationTask: TaskID.child(of: .driver(of: job), index: 1000 + index)),
                       bundles: [Build.cpus(cpus)], strategy: .pack, owner: creator, job: job)
}

private func createGroup(_ gcs: inout GCS, _ spec: PlacementGroupSpec) -> PlacementGroupInfo? {
    _ = gcs.handle(.messageReceived(from: .worker(spec.owner), .createPlacementGroup(spec)), now: 2)
    return gcs.placementGroups[spec.id]?.info
}

@Test func aJobOverItsPlacementGroupQuotaIsRefusedAndARemovalFreesItsPlace() {
    var config = RayConfig()
    config.placementGroupsPerJobSoftMax = 2
    config.placementGroupsPerJobHardMax = 3
    var gcs = GCS()
    _ = gcs.handle(.started(config), now: 0)
    _ = gcs.handle(.messageReceived(from: .raylet(NodeID(1)), .registerNode(Build.node(1, cpus: 2))), now: 1)
    // Groups that cannot be placed (100 CPUs on a 2-CPU node) count as much as placed ones: they
    // are what a storm leaves the GCS to retry.
    for index: UInt64 in 1...3 {
        #expect(createGroup(&gcs, groupSpec(index, cpus: index == 1 ? 1 : 100))?.state == .pending)
    }
    #expect(gcs.quota.groupsOverSoft == 1)
    #expect(gcs.liveGroups[JobID(1)] == 3)
    let refused = createGroup(&gcs, groupSpec(4))
    #expect(refused?.state == .removed)
    #expect(refused?.removalKind == .quotaExceeded)
    #expect(refused?.cause.contains("already holds 3 placement groups") == true)
    #expect(refused?.cause.contains("SWIFTRAY_PLACEMENT_GROUPS_PER_JOB_HARD") == true)
    #expect(gcs.quota.groupsRefused == 1)
    #expect(!gcs.unplacedGroups.contains(groupSpec(4).id))
    #expect(gcs.liveGroups[JobID(1)] == 3)
    // Another job has a quota of its own.
    #expect(createGroup(&gcs, groupSpec(1, job: JobID(2), by: otherOwner))?.state != .removed)
    // A removed group frees its place (once: removing it again changes nothing).
    for _ in 0..<2 {
        _ = gcs.handle(.messageReceived(from: .worker(owner), .removePlacementGroup(groupSpec(2).id)), now: 3)
    }
    #expect(gcs.liveGroups[JobID(1)] == 2)
    #expect(createGroup(&gcs, groupSpec(5, cpus: 100))?.state == .pending)
    #expect(createGroup(&gcs, groupSpec(6))?.state == .removed)
    #expect(gcs.quota.groupsRefused == 2)
    // A refused group removed by its creator frees nothing (it held no place).
    _ = gcs.handle(.messageReceived(from: .worker(owner), .removePlacementGroup(groupSpec(6).id)), now: 4)
    #expect(gcs.liveGroups[JobID(1)] == 3)
}

@Test func theOwnerFailsARefusedGroupsTasksAndReadinessWithQuotaExceeded() {
    var machine = Owner()
    _ = machine.handle(.started(RayConfig(), OwnerIdentity(worker: owner, job: JobID(7))), now: 0)
    let creation = machine.nextTaskID
    let effects = machine.handle(.createPlacementGroup(bundles: [Build.cpus(1)], strategy: .pack, name: "g",
                                                       detached: false), now: 1)
    let group = PlacementGroupID(creationTask: creation)
    // The spec carries the creator's job, which the GCS counts.
    let specs = effects.compactMap { effect -> PlacementGroupSpec? in
        if case .send(.gcs, .createPlacementGroup(let spec)) = effect { return spec } else { return nil }
    }
    #expect(specs.map(\.job) == [JobID(7)])
    let task = machine.nextTaskID
    _ = machine.handle(.submitTask(Build.task("inside", resources: Build.cpus(1).inGroup(group, bundle: 0))), now: 2)
    let ready = machine.nextPutID
    _ = machine.handle(.placementGroupReady(group, value: ObjectData(sizeBytes: 1, digest: 0, bytes: [1])), now: 2)
    let refused = PlacementGroupInfo(id: group, state: .removed, nodes: [NodeID(0)],
                                     cause: "refused: job-7 already holds 3 placement groups", name: "g",
                                     causeKind: RayErrorKind.quotaExceeded.rawValue)
    _ = machine.handle(.messageReceived(from: .gcs, .placementGroupUpdate(refused)), now: 3)
    for object in [ObjectID.returnValue(of: task, index: 1), ready] {
        guard case .failed(let error)? = machine.objects[object]?.state else {
            Issue.record("\(object) did not fail")
            continue
        }
        #expect(error.kind == .quotaExceeded)
        #expect(error.message.contains("refused: job-7 already holds 3 placement groups"))
    }
    // A group removed otherwise still fails its tasks with PlacementGroupUnschedulable.
    var removed = refused
    removed.causeKind = ""
    #expect(removed.removalKind == .placementGroupUnschedulable)
}

// Bounded GCS pending work: dead actors are kept up to a bound (Ray's destroyed-actor cache),
// then forgotten, so an actor storm cannot grow the table (and the scans of it) without bound;
// subscriptions to actors the GCS never heard of are bounded, answered at once past it.

@Test func theGCSForgetsTheOldestDeadActorsBeyondItsBound() {
    var gcs = gcs(soft: 1_000, hard: 1_000)
    gcs.deadActorsKept = 5
    /// Registers actor `index` and kills it for good (its worker reported dead).
    func createAndKill(_ index: UInt64) {
        _ = register(&gcs, spec(index))
        _ = gcs.handle(.messageReceived(from: .worker(owner), .killActor(spec(index).actorID, noRestart: true,
                                                                         reason: "killed by Ray.kill")), now: 3)
        if let node = gcs.actors[spec(index).actorID]?.node {
            _ = gcs.handle(.messageReceived(from: .raylet(node), .actorWorkerDied(spec(index).actorID, incarnation: 0,
                                                                                 detail: "killed")), now: 4)
        }
    }
    for index: UInt64 in 1...12 { createAndKill(index) }
    // At most twice the bound are kept (forgetting is in bulk), the newest among them.
    #expect(gcs.actors.count <= 10 && gcs.actors.count >= 5)
    #expect(gcs.actors.values.allSatisfy { $0.state == .dead })
    #expect(gcs.actorOrder.count == gcs.actors.count)
    #expect(gcs.actors[spec(12).actorID] != nil && gcs.actors[spec(1).actorID] == nil)
    #expect(gcs.liveActors[JobID(1)] == nil)
    // A live one is never forgotten.
    _ = register(&gcs, spec(100))
    for index: UInt64 in 13...30 { createAndKill(index) }
    #expect(gcs.actors[spec(100).actorID].map { $0.state != .dead } == true)
    #expect(gcs.actors.count <= 11)
}

@Test func subscriptionsToUnknownActorsAreBoundedAndAnsweredAtOncePastIt() {
    var gcs = gcs(soft: 10, hard: 10)
    gcs.earlySubscriptionsMax = 3
    func subscribe(_ index: UInt64) -> [GCSEffect] {
        gcs.handle(.messageReceived(from: .worker(otherOwner), .subscribeActor(spec(index).actorID)), now: 2)
    }
    for index: UInt64 in 1...3 {
        #expect(subscribe(index) == [.startTimer(.unknownActor(spec(index).actorID), afterMicros: 10_000_000)])
    }
    // Past the bound: answered at once, dead, saying why; counted.
    let answered = subscribe(4)
    guard case .send(.worker(otherOwner), .actorUpdate(let info))? = answered.first, answered.count == 1 else {
        Issue.record("answered \(answered)")
        return
    }
    #expect(info.state == .dead && info.cause.contains("subscriptions to actors it has not heard of"))
    #expect(gcs.quota.earlySubscriptionsRefused == 1)
    // A registration settles its early subscribers (they hear of it), making room.
    let registered = register(&gcs, spec(1))
    #expect(registered != nil)
    #expect(gcs.actors[spec(1).actorID]?.subscribers.contains(otherOwner) == true)
    #expect(subscribe(5).count == 1)  // A timer: it waits again.
    // So does the grace running out.
    _ = gcs.handle(.timerFired(.unknownActor(spec(2).actorID)), now: 10_000_002)
    #expect(subscribe(6).count == 1)
    #expect(gcs.quota.earlySubscriptionsRefused == 1)
    if case .startTimer? = subscribe(7).first { Issue.record("past the bound it waited") }
    #expect(gcs.quota.earlySubscriptionsRefused == 2)
}

/// The per-job rate of placement-group creations (issue 12: rate limits per operation): a job
/// creating groups faster than its rate has the extra ones wait, pending (not being placed), the
/// cause naming the limit; they are placed in order as the bucket refills; past the bound of
/// waiting creations one is refused (removed, QuotaExceeded, naming both settings, its place in
/// the quota freed); another job is not delayed; one removed while it waits takes no credit.
@Test func aJobOverItsPlacementGroupCreationRateWaitsThenIsRefused() {
    var config = RayConfig()
    config.placementGroupCreationsPerSecondMax = 2  // A bucket of two; one more every 500 ms.
    config.placementGroupCreationsDelayedMax = 3
    var h = RateHarness(config)
    func placing(_ index: UInt64) -> Bool {
        h.gcs.unplacedGroups.contains(groupSpec(index).id) || h.gcs.placementGroups[groupSpec(index).id]?.state == .created
            || h.gcs.bundleRounds[groupSpec(index).id] != nil
    }
    _ = h.create(groupSpec(1), at: 10)
    _ = h.create(groupSpec(2), at: 10)
    #expect(placing(1) && placing(2))
    for index: UInt64 in 3...5 {
        let info = h.create(groupSpec(index), at: 20)
        #expect(info?.state == .pending && info?.cause.contains("rate limit of 2 per second") == true, "\(String(describing: info))")
        #expect(!placing(index))
    }
    let refused = h.create(groupSpec(6), at: 20)
    #expect(refused?.state == .removed && refused?.removalKind == .quotaExceeded)
    #expect(refused?.cause.contains("SWIFTRAY_PLACEMENT_GROUP_CREATIONS_DELAYED") == true, "\(String(describing: refused))")
    #expect(h.gcs.quota.groupsDelayed == 3 && h.gcs.quota.groupsRefused == 1)
    #expect(h.gcs.liveGroups[JobID(1)] == 5)
    // Another job is not delayed.
    _ = h.create(groupSpec(1, job: JobID(2), by: otherOwner), at: 20)
    #expect(h.gcs.unplacedGroups.contains(groupSpec(1, job: JobID(2), by: otherOwner).id)
        || h.gcs.bundleRounds[groupSpec(1, job: JobID(2), by: otherOwner).id] != nil)
    // The fourth is removed while it waits: the credit goes to the fifth.
    _ = h.gcs.handle(.messageReceived(from: .worker(owner), .removePlacementGroup(groupSpec(4).id)), now: 30)
    #expect(h.gcs.placementGroups[groupSpec(4).id]?.state == .removed)
    guard let (timer, due) = h.lastTimer(groups: true)
    else {
        Issue.record("no creation timer was armed")
        return
    }
    #expect(due == 10 + 500_000)
    _ = h.gcs.handle(.timerFired(timer), now: due)
    #expect(placing(3) && h.gcs.placementGroups[groupSpec(3).id]?.cause.contains("rate limit") == false)
    #expect(!placing(5))
    _ = h.gcs.handle(.timerFired(timer), now: due + 500_000)
    #expect(placing(5))
    #expect(h.gcs.groupCreationRates[JobID(1)]?.waitingCount == 0)
}

/// Past its soft quota of placement groups a job's creations cost ten of its rate: slowed down,
/// the cause saying why, and placed as the rate allows (not refused).
@Test func aJobPastItsSoftPlacementGroupQuotaIsSlowedDownNotRefused() {
    var config = RayConfig()
    config.placementGroupsPerJobSoftMax = 1
    config.placementGroupCreationsPerSecondMax = 10  // Past the soft quota: one a second.
    var h = RateHarness(config)
    _ = h.create(groupSpec(1), at: 10)  // Under the soft quota: one credit (9 left).
    let second = h.create(groupSpec(2), at: 10)  // Past it: ten credits, 9 there — it waits.
    #expect(second?.state == .pending, "\(String(describing: second))")
    #expect(second?.cause.contains("slowed down to a tenth of it while it holds more than its soft quota of 1 placement groups")
            == true, "\(String(describing: second))")
    #expect(!h.gcs.unplacedGroups.contains(groupSpec(2).id))
    #expect(h.gcs.quota.groupsOverSoft == 1 && h.gcs.quota.groupsRefused == 0)
    guard let (timer, due) = h.lastTimer(groups: true)
    else {
        Issue.record("no creation timer was armed")
        return
    }
    #expect(due == 10 + 100_000)  // One more credit at 10 a second.
    _ = h.gcs.handle(.timerFired(timer), now: due)
    #expect(h.gcs.placementGroups[groupSpec(2).id]?.cause == "")
    #expect(h.gcs.unplacedGroups.contains(groupSpec(2).id) || h.gcs.placementGroups[groupSpec(2).id]?.state == .created
            || h.gcs.bundleRounds[groupSpec(2).id] != nil)
}
