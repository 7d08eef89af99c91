// The one scenario driver (../SCENARIOS.md): the program a scenario describes
// (the puts, every task instance in order, the gets), the fault plan (when each
// fault is due and which node or worker it hits), value verification, the
// expectations, the leak verdict and the report. `raysim` runs it against the
// simulated world (`Simulation`), `swiftray up` against real processes; a world
// only supplies processes, kills, restarts, a clock and what it can observe.
// Anything a user sees is decided here, once, so the two worlds cannot drift.

public import RayCore

/// What a world gives the scenario driver. The driver calls it from one thread at a time;
/// answers to `get` and `probeAsBorrower` come back through `ScenarioDriver.resolve` and
/// `ScenarioDriver.probeAnswered`.
public protocol ScenarioWorld: AnyObject {
    /// The time written before a fault line (time since the workload started, or simulated time).
    func timestamp() -> String
    /// Time since the workload started, as the world tells it (`finish_within`).
    var elapsedMicros: Int64 { get }

    // MARK: The program, as a Ray driver runs it

    /// Puts a value; on `node` (by name): created by a process there, as SCENARIOS.md's `node:`.
    func put(_ data: ObjectData, on node: String?) throws -> ObjectID
    func submit(_ request: TaskRequest) -> ObjectID
    /// The node of that name as the cluster knows it now (node affinity names a node).
    func nodeID(named name: String) -> NodeID?
    /// Asks for the values, without waiting: each answer comes through `resolve`.
    func get(_ objects: [ObjectID])
    /// Drops the driver's handles (the leak check then expects a clean cluster).
    func release(_ objects: [ObjectID])
    /// The program's gets all returned (or the driver died and the probe answered).
    func programFinished()
    /// After `kill_driver`: a borrower on a live node asks for each of the dead owner's objects.
    func probeAsBorrower(_ objects: [ObjectID])

    // MARK: What a fault looks at

    /// True when each object has been made (a value, a stored copy, or a final error).
    func haveBeenMade(_ objects: [ObjectID]) -> Bool
    /// The borrowed references the driver's value of `object` holds (returned by its task), in order.
    func containedReferences(of object: ObjectID) -> [ObjectID]
    /// The program holds a handle to each of these borrowed objects (read from a value).
    func holdBorrowed(_ objects: [ObjectID])
    /// The worker that owns a borrowed object.
    func owner(ofBorrowed object: ObjectID) -> WorkerID?
    /// The live node of that name.
    func liveNode(named name: String) -> NodeID?
    /// The node running the GCS and the driver.
    var headNode: NodeID { get }
    func nodeName(_ node: NodeID) -> String
    /// The live node whose store holds the primary copy of the first of `objects` held anywhere.
    func primaryHolder(of objects: [ObjectID]) -> NodeID?
    /// A worker running one of `tasks` (where timing matters, one that just started), and which.
    func workerRunning(anyOf tasks: Set<TaskID>) -> (worker: WorkerID, task: TaskID)?

    // MARK: Faults (each returns how the world did it, for the fault line, when it says more)

    func kill(node: NodeID) -> String?
    /// The head node dies, and the GCS and the driver with it (they run there, as in Ray).
    func killHeadNode() -> String?
    /// The node dies and a new node with the same spec joins (under a new ID).
    func restart(node: NodeID, as spec: NodeSpec) throws -> String?
    func join(node spec: NodeSpec) throws -> String?
    func kill(worker: WorkerID) -> String?
    func killAndRestartGCS() throws -> String?
    func killDriver() -> String?
    func partition(_ groups: [[String]], for micros: Int64) throws -> String?
    /// The program creates an actor (its handle held until the program ends) and returns its ID.
    func createActor(_ request: TaskRequest, _ options: ActorOptions) -> ActorID
    /// The program calls a method of an actor it created; returns the call's object.
    func callActor(_ actor: ActorID, _ request: TaskRequest) -> ObjectID
    /// The program kills an actor (`Ray.kill`).
    func killActor(_ actor: ActorID, noRestart: Bool) -> String?
    /// The worker running the actor's current incarnation, as the program last heard (nil: none alive).
    func actorWorker(_ actor: ActorID) -> WorkerID?
    /// The program cancels the tasks of `objects` (`ray.cancel`).
    func cancel(_ objects: [ObjectID], force: Bool, recursive: Bool) -> String?
    /// The program waits (`ray.wait`) for `numReturns` of `objects` (distinct), at most
    /// `timeoutMicros` (nil: no bound), without blocking the world: the answer (the ready
    /// indices, in input order) comes through `ScenarioDriver.waitAnswered(fault:ready:)`.
    func wait(_ objects: [ObjectID], numReturns: Int, timeoutMicros: Int64?, fault: Int)
    /// The program creates a placement group (`ray.util.placement_group`) and returns its ID.
    func createPlacementGroup(_ bundles: [ResourceSet], strategy: PlacementStrategy, name: String) -> PlacementGroupID
    /// The program removes a placement group it created.
    func removePlacementGroup(_ id: PlacementGroupID) -> String?
    /// The group as the program last heard of it from the GCS.
    func placementGroupInfo(_ id: PlacementGroupID) -> PlacementGroupInfo?
}

/// The scenario's program and checks, in either world.
public final class ScenarioDriver {
    /// Where the program is.
    public enum Phase: Equatable, Sendable {
        case notStarted
        case waitingForGets
        /// Every get returned.
        case done
        /// The driver was killed; the borrower probe has not answered yet.
        case dead
        /// The borrower probe answered (or the head node died): the run's results are final.
        case probed
    }

    public let scenario: Scenario
    public let plan: WorkloadPlan
    unowned let world: any ScenarioWorld
    /// Accept any Ray error as a result where `expect.results` says nothing (swarm runs).
    public var acceptErrorResults = false
    /// A fault that never fired fails the run (scenario files); the swarm's random plans accept it.
    public var acceptUnfiredFaults = false

    public private(set) var phase = Phase.notStarted
    /// Parents whose values the program gets for the references they hold (nested instances it
    /// gets), until they arrive.
    var parentGets: [ObjectID: InstanceRef] = [:]
    /// Borrowed references the program read and gets last (`getBorrowedIfDue`).
    var borrowedToGet: [ObjectID] = []
    /// Task instances that take references the program has not read yet (borrowed ones, or
    /// the outputs of such instances), submitted once it has, in order.
    var deferred: [(group: TaskGroupSpec, index: Int)] = []
    /// The actors the program created, the calls it made to each (in order), and the names of
    /// their call references (`counter[0]`: its calls are `counter[0][k]`).
    var actorIDs: [InstanceRef: ActorID] = [:]
    var actorCalls: [InstanceRef: [ObjectID]] = [:]
    var actorCallNames: Set<String> = []
    /// The tasks that call actors besides the driver (`callers`), and how many were submitted.
    var actorCallerRefs: [InstanceRef] = []
    var actorCallerCount = 0
    /// The placement groups the program created, by name, and those it removed.
    var groupIDs: [String: PlacementGroupID] = [:]
    var groupsRemoved: Set<String> = []
    /// Puts the program's `put` refused (they raised) and the instances that take them, never
    /// submitted: each one's result is that error.
    var unmade: [InstanceRef: RayError] = [:]
    /// The object of each instance and put, once made.
    public private(set) var refs: [InstanceRef: ObjectID] = [:]
    public private(set) var refByObject: [ObjectID: InstanceRef] = [:]
    /// Every handle the driver holds, in the order it got them.
    var handles: [ObjectID] = []
    /// `get` plus every reference `expect.results` names, each instance once, in order.
    public private(set) var getList: [InstanceRef] = []
    var getIndex: [ObjectID: Int] = [:]
    /// What each get returned (nil: not yet).
    public private(set) var resolved: [ObjectValue?] = []
    public private(set) var unresolvedGets = 0
    var probesLeft = 0
    /// Waits asked and not answered yet, by fault index: what each waits for.
    var pendingWaits: [Int: (count: Int, numReturns: Int, timeoutMicros: Int64?)] = [:]
    /// A value that differs from what its lineage defines (a safety violation).
    public private(set) var wrongValue: String?

    // Faults
    public internal(set) var faultsDone: [Bool]
    /// `after:` faults found due (each is fired, or retried, by the world's clock).
    var afterFaultsDue: Set<Int> = []
    public internal(set) var faultLines: [String] = []
    /// Specs of the nodes by name (the cluster's and those added by faults), for restarts.
    var nodeSpecs: [String: NodeSpec] = [:]
    public internal(set) var driverKilled = false
    public internal(set) var headKilled = false
    /// The other jobs' programs (`jobs:`), each driven by its own driver in the world; their
    /// results and verdicts are part of this run's.
    public private(set) var jobs: [ScenarioDriver] = []
    /// When the program started and when its last get returned (the world's `elapsedMicros`).
    public private(set) var startedMicros: Int64?
    public private(set) var finishedMicros: Int64?

    public init(scenario: Scenario, world: any ScenarioWorld) {
        self.scenario = scenario
        self.plan = WorkloadPlan(scenario.workload)
        self.world = world
        faultsDone = Array(repeating: false, count: scenario.faults.count)
        for node in scenario.cluster.nodes { nodeSpecs[node.name] = node }
    }

    /// Adds job `jobs[k]`'s program (made by the world, with the world's driver for that job).
    public func addJob(_ job: ScenarioDriver) {
        jobs.append(job)
    }

    /// True when this program's and every job's results are final.
    public var allFinished: Bool { finished && jobs.allSatisfy(\.finished) }

    /// How many task instances and puts the program makes (to reserve tables).
    public var instanceCount: Int {
        scenario.workload.tasks.reduce(0) { $0 + $1.count } + scenario.workload.puts.reduce(0) { $0 + $1.count }
    }

    /// Runs the program: every put, then every task instance in order (arguments resolved to the
    /// objects made so far), then asks for every get.
    public func start() throws {
        guard phase == .notStarted else { return }
        startedMicros = world.elapsedMicros
        refs.reserveCapacity(instanceCount)
        refByObject.reserveCapacity(instanceCount)
        handles.reserveCapacity(instanceCount)
        createPlacementGroups()
        for put in scenario.workload.puts {
            for index in 0..<put.count {
                let data = ObjectData(sizeBytes: put.sizeBytes, digest: SyntheticContent.putDigest(name: put.name, index: index))
                let ref = InstanceRef(name: put.name, index: index, isPut: true, counted: put.count > 1)
                do {
                    remember(ref, try world.put(data, on: put.node))
                } catch let refusal as RayError {
                    unmade[ref] = refusal  // The put raised (over the object size limit or quota): its result.
                }
            }
        }
        for group in scenario.workload.tasks where !group.nested {  // Nested ones: their parents submit them.
            for index in 0..<group.count {
                // An instance taking an object the program could not make is never submitted: the
                // program has no reference to pass (its result is that object's error).
                let ref = InstanceRef(name: group.name, index: index, isPut: false)
                if let error = plan.arguments(of: group, instance: index).lazy.compactMap({ self.unmade[$0] }).first {
                    unmade[ref] = error
                    continue
                }
                // An instance taking a reference a parent returns waits until the program read it.
                guard submitIfArgumentsKnown(group, index) else {
                    deferred.append((group, index))
                    continue
                }
            }
        }
        startActors()
        var seen: Set<InstanceRef> = []
        for pattern in scenario.workload.get + scenario.expect.results.map(\.0) {
            for ref in plan.resolve(pattern) + actorCallRefs(pattern) where seen.insert(ref).inserted { getList.append(ref) }
        }
        // Every call is got (its result is what the actor checkers read), and every caller task.
        for actor in actorCalls.keys.sorted(by: { "\($0)" < "\($1)" }) {
            for call in 0..<(actorCalls[actor]?.count ?? 0) {
                let ref = Self.callRef(actor, call)
                if seen.insert(ref).inserted { getList.append(ref) }
            }
        }
        for ref in actorCallerRefs where seen.insert(ref).inserted { getList.append(ref) }
        unresolvedGets = getList.count
        resolved = Array(repeating: nil, count: getList.count)
        for (index, ref) in getList.enumerated() {
            if let object = refs[ref] { getIndex[object] = index }
            if let error = unmade[ref] {
                resolved[index] = .error(error)
                unresolvedGets -= 1
            }
        }
        // Nested instances (their parents return their references): the program gets each
        // parent's value first, and reads the references in it.
        var parents: [ObjectID] = []
        let deferredArguments = deferred.flatMap { plan.arguments(of: $0.group, instance: $0.index) }
        for ref in getList + deferredArguments where refs[ref] == nil {
            guard let (parent, _) = plan.parent(of: ref), let object = refs[parent], parentGets[object] == nil else { continue }
            parentGets[object] = parent
            if getIndex[object] == nil { parents.append(object) }
        }
        phase = .waitingForGets
        world.get(getList.compactMap { refs[$0] } + parents)
        finishIfAllResolved()
    }

    /// Submits `group[index]` if the program holds every reference it takes; false if not yet.
    @discardableResult
    private func submitIfArgumentsKnown(_ group: TaskGroupSpec, _ index: Int) -> Bool {
        let arguments = plan.arguments(of: group, instance: index)
        guard arguments.allSatisfy({ refs[$0] != nil || plan.parent(of: $0) == nil && !isDeferred($0) }) else { return false }
        let args = arguments.compactMap { refs[$0].map(TaskArg.reference) }
            + plan.nestedArguments(of: group, instance: index).compactMap { refs[$0].map(TaskArg.nestedReference) }
        let object = world.submit(TaskRequest(
            function: group.name, instance: index, args: args,
            resources: resources(group.resources, in: group.placementGroup, instance: index),
            strategy: schedulingStrategy(group.strategy), maxRetries: group.maxRetries,
            retryExceptions: group.retryExceptions, body: SyntheticBody.encode(group)))
        remember(InstanceRef(name: group.name, index: index, isPut: false), object)
        return true
    }

    private func isDeferred(_ ref: InstanceRef) -> Bool {
        deferred.contains { $0.group.name == ref.name && $0.index == ref.index }
    }

    /// Submits the deferred instances whose references the program now holds, in order, and
    /// gets those it gets; fails those that can never be submitted (`failing`: their error).
    private func submitDeferred(failing unreachable: [InstanceRef: RayError] = [:]) {
        var failed = unreachable
        var newGets: [ObjectID] = []
        var progressed = true
        while progressed {
            progressed = false
            var position = 0
            while position < deferred.count {
                let (group, index) = deferred[position]
                let ref = InstanceRef(name: group.name, index: index, isPut: false)
                if let error = plan.arguments(of: group, instance: index).lazy.compactMap({ failed[$0] }).first {
                    // The program could not read a reference it takes: it never submits it.
                    deferred.remove(at: position)
                    failed[ref] = error
                    progressed = true
                    if let at = getList.firstIndex(of: ref), resolved[at] == nil {
                        resolved[at] = .error(error)
                        unresolvedGets -= 1
                    }
                    continue
                }
                guard submitIfArgumentsKnown(group, index) else {
                    position += 1
                    continue
                }
                deferred.remove(at: position)
                progressed = true
                if let at = getList.firstIndex(of: ref), let object = refs[ref] {
                    getIndex[object] = at
                    newGets.append(object)
                }
            }
        }
        if !newGets.isEmpty { world.get(newGets) }
    }

    func remember(_ ref: InstanceRef, _ object: ObjectID) {
        refs[ref] = object
        refByObject[object] = ref
        handles.append(object)
    }

    private func schedulingStrategy(_ spec: StrategySpec) -> SchedulingStrategy {
        switch spec {
        case .default: return .default
        case .spread: return .spread
        case .nodeAffinity(let name, let soft):
            // A node that does not exist (yet) gets an ID no node has: hard affinity then fails clearly.
            return .nodeAffinity(node: world.nodeID(named: name) ?? NodeID(UInt32.max), soft: soft)
        }
    }

    /// The objects of every instance `pattern` names that was made.
    public func objects(_ pattern: RefPattern) -> [ObjectID] { plan.resolve(pattern).compactMap { refs[$0] } }

    /// The objects the program gets, in order.
    public var getObjects: [ObjectID] { getList.compactMap { refs[$0] } }

    /// What the get of `ref` returned, if it returned.
    public func result(_ ref: InstanceRef) -> ObjectValue? {
        guard let object = refs[ref], let index = getIndex[object] else { return nil }
        return resolved[index]
    }

    /// A get returned.
    public func resolve(_ object: ObjectID, _ value: ObjectValue) {
        if phase == .waitingForGets, let parent = parentGets.removeValue(forKey: object) {
            readReferences(in: parent, object: object, value)
        }
        guard phase == .waitingForGets, let index = getIndex[object], resolved[index] == nil else { return }
        resolved[index] = value
        unresolvedGets -= 1
        if case .data(let data) = value, !isActorCall(getList[index]) { verify(getList[index], data) }
        // A caller task that saw its calls break Ray's rules: a safety failure.
        if case .error(let error) = value, isActorCaller(getList[index]),
           let marker = error.message.range(of: ActorCaller.violationMarker) {
            noteWrongValue(String(error.message[marker.upperBound...]))
        }
        getBorrowedIfDue()
        finishIfAllResolved()
    }

    /// A parent's value arrived: the program reads the references it holds to its children
    /// (borrowed from the parent's worker); a parent that failed leaves its error as theirs.
    private func readReferences(in parent: InstanceRef, object: ObjectID, _ value: ObjectValue) {
        guard let group = plan.groups[parent.name] else { return }
        let children = plan.childInstances(of: group, instance: parent.index)
        switch value {
        case .error(let error):
            for child in children {
                guard let index = getList.firstIndex(of: child), resolved[index] == nil else { continue }
                resolved[index] = .error(error)
                unresolvedGets -= 1
            }
            var unreachable: [InstanceRef: RayError] = [:]
            for child in children { unreachable[child] = error }
            submitDeferred(failing: unreachable)
        case .data:
            let held = world.containedReferences(of: object)
            guard held.count == children.count else {
                noteWrongValue("\(parent) returned \(held.count) references, expected its \(children.count) children's")
                var unreachable: [InstanceRef: RayError] = [:]
                for child in children {
                    let error = RayError(.objectLost, "\(parent) returned no reference to \(child)")
                    unreachable[child] = error
                    guard let index = getList.firstIndex(of: child), resolved[index] == nil else { continue }
                    resolved[index] = .error(error)
                    unresolvedGets -= 1
                }
                submitDeferred(failing: unreachable)
                return
            }
            world.holdBorrowed(held)
            for (child, borrowed) in zip(children, held) {
                remember(child, borrowed)
                guard let index = getList.firstIndex(of: child) else { continue }
                getIndex[borrowed] = index
                borrowedToGet.append(borrowed)
            }
            submitDeferred()
        }
        getBorrowedIfDue()
    }

    /// Borrowed references the program read wait for it to get them (last).
    public var borrowedWaiting: Bool { !borrowedToGet.isEmpty }

    /// The program still has gets to make (borrowed references it read and gets last).
    public var hasGetsToMake: Bool { !borrowedToGet.isEmpty || !parentGets.isEmpty }

    /// The program gets the references it borrowed last: once it read every parent's value,
    /// every other get and wait returned, and every fault that kills the owner of one it knows
    /// (`kill_worker: {owner_of:}`) fired — so that kill comes first, in both worlds.
    func getBorrowedIfDue() {
        guard phase == .waitingForGets, !borrowedToGet.isEmpty, parentGets.isEmpty, pendingWaits.isEmpty else { return }
        for (index, fault) in scenario.faults.enumerated() where !faultsDone[index] {
            if case .killWorkerOwning(let pattern) = fault.action, !objects(pattern).isEmpty { return }
        }
        let waitingOnOthers = unresolvedGets - borrowedToGet.filter { getIndex[$0].map { resolved[$0] == nil } ?? false }.count
        guard waitingOnOthers == 0 else { return }
        let objects = borrowedToGet
        borrowedToGet = []
        world.get(objects)
    }

    /// Safety: a value the driver gets must be exactly the value its lineage defines.
    private func verify(_ ref: InstanceRef, _ data: ObjectData) {
        let expectedDigest = plan.expectedDigests[ref] ?? 0
        let expectedSize = plan.expectedSize(ref)
        if data.digest != expectedDigest || data.sizeBytes != expectedSize {
            noteWrongValue("wrong content for \(ref): got \(data.sizeBytes) B with digest "
                + "\(String(data.digest, radix: 16)), expected \(expectedSize) B with digest \(String(expectedDigest, radix: 16))")
        }
    }

    /// A world that sees the bytes (real processes) reports bytes that differ from the digest's.
    public func noteWrongValue(_ problem: String) {
        wrongValue = wrongValue ?? problem
    }

    /// The program is waiting in `ray.wait` calls (its handles stay until they return).
    public var waiting: Bool { !pendingWaits.isEmpty }

    func finishIfAllResolved() {
        guard phase == .waitingForGets, unresolvedGets == 0, pendingWaits.isEmpty else { return }
        phase = .done
        finishedMicros = world.elapsedMicros
        world.programFinished()
        // Drop every handle and remove every group (as the job's end does): the cluster must then free everything.
        removePlacementGroups()
        world.release(handles)
    }

    /// The program's results are final (every get returned, or the driver died and was probed).
    public var finished: Bool { phase == .done || phase == .probed }

    /// After `kill_driver`: a borrower asks for each object the dead driver got.
    public func probe() {
        guard phase == .dead else { return }
        let objects = getObjects
        probesLeft = objects.count
        if objects.isEmpty {
            probeDone()
        } else {
            world.probeAsBorrower(objects)
        }
    }

    /// A borrower probe's answer: each must be OwnerDied.
    public func probeAnswered(_ object: ObjectID, _ value: ObjectValue) {
        guard phase == .dead, let index = getIndex[object] else { return }
        resolved[index] = value
        probesLeft -= 1
        if probesLeft == 0 { probeDone() }
    }

    private func probeDone() {
        phase = .probed
        world.programFinished()
    }

    /// The driver died (kill_driver, or with the head node): what it got died with it.
    func driverDied(withHead: Bool) {
        driverKilled = true
        if withHead {
            headKilled = true
            for job in jobs where !job.finished { job.driverDied(withHead: true) }
            // What a Ray user sees: the driver is gone, every get it made with it.
            for index in resolved.indices { resolved[index] = .error(Self.headDeathError) }
            unresolvedGets = 0
            phase = .probed
            world.programFinished()
        } else {
            phase = .dead
        }
    }

    /// How long after `kill_driver` the borrower probe asks (the GCS tells every raylet first),
    /// and how long a run goes on after the program's end (faults due then still fire), in
    /// both worlds.
    public static let probeDelayMicros: Int64 = 1_000_000
    public static let graceMicros: Int64 = 2_000_000

    /// What the program's gets end with when the head node dies (an OwnerDied error, in both worlds).
    public static let headDeathMessage = "the driver died with the head node (the driver and the GCS run there, as in "
        + "Ray): its gets have no results, a borrower would get OwnerDied"
    static let headDeathError = RayError(.ownerDied, headDeathMessage)

    /// A line the world adds to the fault list (a node exited, the GCS came back, a partition healed).
    public func note(_ line: String) {
        faultLines.append("  \(world.timestamp()) \(line)")
    }
}
