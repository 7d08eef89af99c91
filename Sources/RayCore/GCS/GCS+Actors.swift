// The GCS actor manager (Ray's gcs_actor_manager.cc and gcs_actor_scheduler.cc,
// reduced): registration, placement on a node whose resources fit (held by the
// actor's worker for its life), the lifecycle
// PENDING_CREATION → ALIVE ⇄ RESTARTING → DEAD with the cause of each death,
// restarts up to max_restarts, kills, fate-sharing with the owner for
// non-detached actors, named actors per namespace, and the publication of
// every change to the processes holding handles.
//
// Invariants: an actor's incarnation only grows; a dead actor never comes back;
// a name maps to at most one actor that is not dead; every message about an
// incarnation other than the current one is stale and ignored.

extension GCS {
    /// One row of the actor table.
    public struct ActorEntry: Hashable, Sendable {
        public struct Kill: Hashable, Sendable {
            public var noRestart: Bool
            public var reason: String
        }
        public var spec: ActorSpec
        public var state: ActorState
        /// Where the current incarnation was sent (nil: waiting for a node that fits).
        public var node: NodeID?
        public var worker: WorkerID?
        public var incarnation = 0
        public var restarts = 0
        /// Why it died, why it last restarted, or why it waits for a node.
        public var cause = ""
        /// A kill asked for while the current incarnation lives: applied when its worker's death
        /// is reported.
        public var kill: Kill?
        /// Nodes that refused this incarnation (its resources never fit there).
        public var refusedBy: [NodeID] = []
        /// Processes told of every change (the owner first), ascending.
        public var subscribers: [WorkerID] = []

        /// The kind of error its death is (nil: ActorDied): a refusal over a quota is QuotaExceeded.
        public var causeKind: RayErrorKind?
        /// Held back at its job's creation rate (GCS+CreationRate): not placed until admitted.
        public var delayed = false

        var info: ActorInfo {
            ActorInfo(actorID: spec.actorID, state: state, worker: worker ?? WorkerID(node: NodeID(0), index: 0),
                      incarnation: incarnation, cause: cause, maxTaskRetries: spec.options.maxTaskRetries,
                      name: spec.displayName, causeKind: causeKind?.rawValue ?? "")
        }
    }

    static func nameKey(_ name: String, in namespace: String) -> String { namespace + "/" + name }

    mutating func receiveActorMessage(_ message: Message, from: Address, into effects: inout [GCSEffect]) {
        switch message {
        case .registerActor(let spec):
            registerActor(spec, into: &effects)
        case .actorCreated(let id, let incarnation, let worker, let failure):
            actorCreated(id, incarnation: incarnation, worker: worker, failure: failure, into: &effects)
        case .actorPlacementFailed(let id, let incarnation, let reason):
            guard var entry = actors[id], entry.incarnation == incarnation, entry.state != .dead,
                  entry.worker == nil, let node = entry.node else { return }
            entry.refusedBy.append(node)
            entry.node = nil
            entry.cause = reason
            actors[id] = entry
            placeActor(id, into: &effects)
        case .actorWorkerDied(let id, let incarnation, let detail):
            guard let entry = actors[id], entry.incarnation == incarnation, entry.node != nil,
                  entry.state != .dead else { return }
            incarnationDied(id, cause: detail, into: &effects)
        case .killActor(let id, let noRestart, let reason):
            killActor(id, noRestart: noRestart, reason: reason, into: &effects)
        case .actorDependenciesReady(let spec):
            let id = spec.actorID
            guard var entry = actors[id], entry.state == .dependenciesUnready else { return }
            entry.state = .pendingCreation
            entry.spec = spec
            entry.spec.dependenciesReady = true
            actors[id] = entry
            placeActor(id, into: &effects)
        case .lookupActor(let name, let namespace):
            guard case .worker(let asker) = from else { return }
            let key = Self.nameKey(name, in: namespace)
            guard let id = namedActors[key], actors[id]?.state != .dead else {
                effects.append(.send(to: from, .actorNotFound(name: name, namespace: namespace)))
                return
            }
            insertSorted(asker, into: &actors[id]!.subscribers)
            effects.append(.send(to: from, .actorFound(name: name, namespace: namespace, actors[id]!.info)))
        case .subscribeActor(let id):
            guard case .worker(let worker) = from else { return }
            guard actors[id] != nil else {
                // Its registration is on its way from its owner: answer when it arrives (or, if
                // none comes within the grace, say no such actor exists here).
                // Bounded (a flood of subscriptions to made-up IDs): past the bound the answer is at once.
                guard earlySubscriptions < earlySubscriptionsMax else {
                    quota.earlySubscriptionsRefused += 1
                    effects.append(.send(to: .worker(worker), .actorUpdate(unknownActorInfo(
                        id, because: "the GCS already holds \(earlySubscriptions) subscriptions to actors it has not "
                            + "heard of, its bound; it answers at once until they are settled"))))
                    return
                }
                if earlySubscribers[id] == nil {
                    effects.append(.startTimer(.unknownActor(id), afterMicros: Self.unknownActorGraceMicros))
                }
                earlySubscribers[id, default: []].append(worker)
                earlySubscriptions += 1
                return
            }
            insertSorted(worker, into: &actors[id]!.subscribers)
            effects.append(.send(to: .worker(worker), .actorUpdate(actors[id]!.info)))
        default:
            break
        }
    }

    /// How long subscribers of an actor nobody registered wait before hearing it is dead: a
    /// registration races a handle passed on by at most a message delay (or a GCS restart).
    static let unknownActorGraceMicros: Int64 = 10_000_000

    /// No registration of `id` came within the grace: its subscribers hear it is dead, saying why.
    mutating func unknownActorWaited(_ id: ActorID, into effects: inout [GCSEffect]) {
        guard let waiting = earlySubscribers.removeValue(forKey: id) else { return }
        earlySubscriptions -= waiting.count
        guard actors[id] == nil else { return }
        let info = unknownActorInfo(id, because: "no actor \(id) was ever registered with this cluster (a handle "
            + "from another cluster, or one whose creator died before creating it), or it died long enough ago "
            + "to be forgotten (the GCS keeps the last \(deadActorsKept) dead actors)")
        for worker in waiting { effects.append(.send(to: .worker(worker), .actorUpdate(info))) }
    }

    /// What a subscriber of an actor the GCS does not know hears: dead, saying why.
    private func unknownActorInfo(_ id: ActorID, because cause: String) -> ActorInfo {
        ActorInfo(actorID: id, state: .dead, worker: WorkerID(node: NodeID(0), index: 0), incarnation: 0,
                  cause: cause, maxTaskRetries: 0, name: "\(id)")
    }

    /// A dead actor is kept for listings and late subscribers, the last `deadActorsKept` of them
    /// (Ray's maximum_gcs_destroyed_actor_cached_count): beyond, the oldest are forgotten, in
    /// bulk, so an actor storm cannot grow the GCS's table (and what scans it) without bound.
    mutating func noteDead(_ id: ActorID) {
        guard actors[id]?.state == .dead, deadActorSet.insert(id).inserted else { return }
        deadActors.append(id)
        guard deadActors.count >= 2 * deadActorsKept else { return }
        let forgotten = Set(deadActors.prefix(deadActors.count - deadActorsKept))
        deadActors.removeFirst(forgotten.count)
        for id in forgotten {
            actors[id] = nil
            deadActorSet.remove(id)
        }
        actorOrder.removeAll { forgotten.contains($0) }
    }

    private mutating func registerActor(_ spec: ActorSpec, into effects: inout [GCSEffect]) {
        let id = spec.actorID
        if let entry = actors[id] {
            // A repeated registration (the owner sent it again): answer with the state now.
            effects.append(.send(to: .worker(spec.creation.owner), .actorUpdate(entry.info)))
            return
        }
        var entry = ActorEntry(spec: spec, state: .pendingCreation)
        entry.subscribers = [spec.creation.owner]
        if let early = earlySubscribers.removeValue(forKey: id) {
            earlySubscriptions -= early.count
            for subscriber in early { insertSorted(subscriber, into: &entry.subscribers) }
        }
        insertSorted(id, into: &actorOrder)
        if !spec.options.name.isEmpty {
            let key = Self.nameKey(spec.options.name, in: spec.options.namespace)
            if let holder = namedActors[key], actors[holder]?.state != .dead {
                entry.state = .dead
                entry.cause = "the name '\(spec.options.name)' is taken in namespace '\(spec.options.namespace)' by "
                    + "\(actors[holder]?.spec.displayName ?? "\(holder)") (\(holder))"
                actors[id] = entry
                publish(id, into: &effects)
                return
            }
            namedActors[key] = id
        }
        if !spec.options.detached && deadOwners.contains(spec.creation.owner) {
            entry.state = .dead
            entry.cause = "its owner \(spec.creation.owner) died before the actor was created"
            actors[id] = entry
            releaseName(id)
            publish(id, into: &effects)
            return
        }
        // Per-job quota of live actors (an actor create storm): over the hard limit it is refused,
        // dead at once with the cause and a typed kind; over the soft one it is counted.
        let job = spec.creation.jobID
        let live = liveActors[job, default: 0]
        if live >= config.actorsPerJobHard {
            entry.state = .dead
            entry.causeKind = .quotaExceeded
            entry.cause = "refused: \(job) already holds \(live) live actors, its hard quota "
                + "(RayConfig.actorsPerJobHardMax, SWIFTRAY_ACTORS_PER_JOB_HARD for a cluster's GCS); kill the "
                + "actors it no longer needs, or raise the quota"
            actors[id] = entry
            releaseName(id)
            quota.actorsRefused += 1
            publish(id, into: &effects)
            return
        }
        // Per-job creation rate (a create storm): past it the creation waits, and past the
        // delayed bound it is refused (GCS+CreationRate).
        // Past the soft quota each creation costs ten of the rate: the job is slowed down.
        let overSoft = live >= config.actorsPerJobSoft
        let delayed = !takeCreation(job, overSoft: overSoft)
        if delayed, let refusal = delayCreation(&entry, job: job, overSoft: overSoft, into: &effects) {
            entry.state = .dead
            entry.causeKind = .quotaExceeded
            entry.cause = refusal
            actors[id] = entry
            releaseName(id)
            quota.actorsRefused += 1
            publish(id, into: &effects)
            return
        }
        if overSoft { quota.actorsOverSoft += 1 }
        liveActors[job] = live + 1
        actors[id] = entry
        if delayed {
            publish(id, into: &effects)  // Pending, the cause saying why; started by `creationsDue`.
        } else {
            startCreation(id, into: &effects)
        }
    }

    /// Starts creating a registered actor: placed now, or once its constructor's arguments exist.
    mutating func startCreation(_ id: ActorID, into effects: inout [GCSEffect]) {
        guard var entry = actors[id], entry.state != .dead else { return }
        guard entry.spec.dependenciesReady else {
            // Its owner sends `actorDependenciesReady` once the constructor's arguments exist.
            entry.state = .dependenciesUnready
            actors[id] = entry
            publish(id, into: &effects)
            return
        }
        placeActor(id, into: &effects)
    }

    /// Sends the current incarnation to a node whose resources fit: the one with the most of
    /// them free now (ties: the lowest ID), else one whose total fits (its raylet queues it);
    /// with none, it waits (pending) and the cause says for what.
    mutating func placeActor(_ id: ActorID, into effects: inout [GCSEffect]) {
        guard var entry = actors[id], entry.state != .dead, entry.state != .dependenciesUnready, entry.node == nil,
              !entry.delayed else { return }
        let needs = entry.spec.creation.resources
        var best: NodeID?
        var bestFree: Int64 = -1
        var fallback: NodeID?
        for node in nodeOrder {
            guard let row = nodes[node], row.state == .alive, !entry.refusedBy.contains(node),
                  needs.fits(in: row.info.resources) else { continue }
            if fallback == nil { fallback = node }
            guard needs.fits(in: row.available) else { continue }
            let free = row.available["CPU"]
            if free > bestFree {
                best = node
                bestFree = free
            }
        }
        guard let node = best ?? fallback else {
            entry.cause = "waiting for a node with \(needs) (no alive node has that much)"
            actors[id] = entry
            publish(id, into: &effects)
            return
        }
        entry.node = node
        entry.cause = entry.state == .restarting ? entry.cause : ""
        actors[id] = entry
        // Counted at once, so a burst of creations spreads before the next resource report.
        if needs.fits(in: nodes[node]!.available) { nodes[node]!.available = nodes[node]!.available - needs }
        effects.append(.send(to: .raylet(node), .createActor(entry.spec, incarnation: entry.incarnation)))
        if entry.incarnation == 0 && entry.state == .pendingCreation { publish(id, into: &effects) }
    }

    /// Retries every actor that waits for a node (one joined, or resources were freed).
    mutating func placePendingActors(into effects: inout [GCSEffect]) {
        for id in actorOrder {
            guard let entry = actors[id], entry.node == nil, entry.state == .pendingCreation || entry.state == .restarting
            else { continue }
            actors[id]!.refusedBy = []
            placeActor(id, into: &effects)
        }
    }

    private mutating func actorCreated(_ id: ActorID, incarnation: Int, worker: WorkerID, failure: String,
                                       into effects: inout [GCSEffect]) {
        guard var entry = actors[id], entry.incarnation == incarnation, entry.state != .dead,
              entry.worker == nil, entry.node == worker.node else {
            // An incarnation given up on came up after all: it must not run.
            if actors[id]?.worker != worker {
                effects.append(.send(to: .raylet(worker.node), .killActorWorker(id, incarnation: incarnation)))
            }
            return
        }
        entry.worker = worker
        if !failure.isEmpty {
            // A constructor that raises leaves the actor dead for good (Ray's creation-task
            // exception); its worker goes.
            entry.state = .dead
            entry.cause = "its constructor raised: \(failure)"
            actors[id] = entry
            actorEnded(id)
            effects.append(.send(to: .raylet(worker.node), .killActorWorker(id, incarnation: incarnation)))
            publish(id, into: &effects)
            return
        }
        entry.state = .alive
        entry.cause = ""
        actors[id] = entry
        publish(id, into: &effects)
        if entry.kill != nil {
            effects.append(.send(to: .raylet(worker.node), .killActorWorker(id, incarnation: incarnation)))
        }
    }

    /// The current incarnation's worker died (or was never to be): restart if allowed, else dead.
    private mutating func incarnationDied(_ id: ActorID, cause: String, into effects: inout [GCSEffect]) {
        guard var entry = actors[id], entry.state != .dead else { return }
        let options = entry.spec.options
        let ownerGone = !options.detached && deadOwners.contains(entry.spec.creation.owner)
        let restartsLeft = options.maxRestarts < 0 || entry.restarts < options.maxRestarts
        entry.node = nil
        entry.worker = nil
        entry.refusedBy = []
        if let kill = entry.kill, kill.noRestart {
            entry.state = .dead
            entry.cause = kill.reason
        } else if ownerGone {
            entry.state = .dead
            entry.cause = "its owner \(entry.spec.creation.owner) died"
        } else if restartsLeft {
            entry.state = .restarting
            entry.restarts += 1
            entry.incarnation += 1
            entry.cause = entry.kill?.reason ?? cause
        } else {
            entry.state = .dead
            entry.cause = (entry.kill?.reason ?? cause)
                + (options.maxRestarts == 0 ? "" : " (max_restarts=\(options.maxRestarts) used up)")
        }
        entry.kill = nil
        actors[id] = entry
        if entry.state == .dead { actorEnded(id) }
        publish(id, into: &effects)
        if entry.state == .restarting { placeActor(id, into: &effects) }
    }

    mutating func killActor(_ id: ActorID, noRestart: Bool, reason: String, into effects: inout [GCSEffect]) {
        guard var entry = actors[id], entry.state != .dead else { return }
        guard let node = entry.node else {
            // Nothing runs yet: it dies (or restarts) at once.
            entry.kill = ActorEntry.Kill(noRestart: noRestart, reason: reason)
            actors[id] = entry
            incarnationDied(id, cause: reason, into: &effects)
            return
        }
        // Keep the strongest request: a kill without restart wins over one with.
        if entry.kill?.noRestart != true { entry.kill = ActorEntry.Kill(noRestart: noRestart, reason: reason) }
        actors[id] = entry
        // A kill for good frees the name at once (as Ray's): a lookup after it finds nothing.
        if noRestart { releaseName(id) }
        effects.append(.send(to: .raylet(node), .killActorWorker(id, incarnation: entry.incarnation)))
    }

    /// An owner died: its actors that are not detached die with it (Ray's fate-sharing).
    mutating func actorOwnerDied(_ owner: WorkerID, into effects: inout [GCSEffect]) {
        guard deadOwners.insert(owner).inserted else { return }
        for id in actorOrder {
            guard let entry = actors[id], entry.state != .dead, entry.spec.creation.owner == owner,
                  !entry.spec.options.detached else { continue }
            killActor(id, noRestart: true, reason: "its owner \(owner) died", into: &effects)
        }
    }

    /// A node died: the incarnations placed there died with it.
    mutating func actorNodeDied(_ node: NodeID, into effects: inout [GCSEffect]) {
        for id in actorOrder where actors[id]?.node == node && actors[id]?.state != .dead {
            incarnationDied(id, cause: "its node \(node) died", into: &effects)
        }
    }

    /// A counted actor died for good: its name is free, and its job holds one live actor fewer.
    private mutating func actorEnded(_ id: ActorID) {
        releaseName(id)
        guard let job = actors[id]?.spec.creation.jobID, let live = liveActors[job] else { return }
        liveActors[job] = live > 1 ? live - 1 : nil
    }

    private mutating func releaseName(_ id: ActorID) {
        guard let options = actors[id]?.spec.options, !options.name.isEmpty else { return }
        let key = Self.nameKey(options.name, in: options.namespace)
        if namedActors[key] == id { namedActors[key] = nil }
    }

    private mutating func publish(_ id: ActorID, into effects: inout [GCSEffect]) {
        guard let entry = actors[id] else { return }
        let info = entry.info
        for subscriber in entry.subscribers where !deadOwners.contains(subscriber) {
            effects.append(.send(to: .worker(subscriber), .actorUpdate(info)))
        }
        if entry.state == .dead { noteDead(id) }
    }

    func addActors(to digest: inout Digest) {
        for id in actorOrder {
            guard let entry = actors[id] else { continue }
            digest.add(id.creationTask.value)
            digest.add(entry.state.rawValue)
            digest.add(UInt64(entry.node?.value ?? 0))
            digest.add(UInt64(bitPattern: Int64(entry.incarnation)))
            digest.add(UInt64(bitPattern: Int64(entry.restarts)))
            digest.add(entry.cause)
            for subscriber in entry.subscribers { digest.add(UInt64(subscriber.node.value) << 32 | UInt64(subscriber.index)) }
        }
        for key in namedActors.keys.sorted() { digest.add(key) }
    }
}
