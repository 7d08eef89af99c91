// Actors hosted by a raylet (the raylet's half of Ray's GCS actor scheduling:
// the lease the GCS takes for an actor's creation task). The GCS places an
// incarnation here; it waits until its resources fit, then a dedicated worker
// of its job starts, holding them for its whole life, and runs the
// constructor. The worker's death (or a kill) returns the resources and is
// reported to the GCS, which decides between restart and death.
//
// Invariants: an actor holds resources only while it is hosted (queued actors
// hold none); every hosted incarnation's end is reported to the GCS once.

extension Raylet {
    /// One actor incarnation placed here.
    public struct HostedActor: Hashable, Sendable {
        public var spec: ActorSpec
        public var incarnation: Int
        /// Its dedicated worker, once its resources were taken (nil while queued).
        public var worker: WorkerID?
    }

    /// Resources held by the actors hosted here.
    public var actorHeld: ResourceSet {
        hostedActors.values.reduce(ResourceSet()) { total, hosted in
            hosted.worker == nil ? total : total + hosted.spec.creation.resources
        }
    }

    /// Resources held by the detached actors hosted here (they outlive their job).
    public var detachedActorHeld: ResourceSet {
        hostedActors.values.reduce(ResourceSet()) { total, hosted in
            hosted.worker == nil || !hosted.spec.options.detached ? total : total + hosted.spec.creation.resources
        }
    }

    func isActorWorker(_ worker: WorkerID) -> Bool {
        if case .actor = workers[worker] { return true }
        return false
    }

    func hostsDetachedActor(_ worker: WorkerID) -> Bool {
        guard case .actor(let actor) = workers[worker] else { return false }
        return hostedActors[actor]?.spec.options.detached == true
    }

    mutating func createActor(_ spec: ActorSpec, incarnation: Int, into effects: inout [RayletEffect]) {
        let id = spec.actorID
        if let hosted = hostedActors[id] {
            if hosted.incarnation >= incarnation { return }  // A repeated placement.
            // A newer incarnation replaces one the GCS gave up on.
            killActorWorker(id, incarnation: hosted.incarnation, into: &effects)
        }
        guard spec.creation.resources.fits(in: info.resources) else {
            effects.append(.send(to: .gcs, .actorPlacementFailed(id, incarnation: incarnation,
                reason: "\(info.name) (\(nodeID)) has \(info.resources), less than the \(spec.creation.resources) it needs")))
            return
        }
        hostedActors[id] = HostedActor(spec: spec, incarnation: incarnation, worker: nil)
        actorQueue.append(id)
        dispatch(into: &effects)
    }

    /// Starts a worker for each queued actor whose resources fit, in placement order.
    mutating func dispatchActors(into effects: inout [RayletEffect]) {
        var waiting: [ActorID] = []
        for id in actorQueue {
            guard let hosted = hostedActors[id], hosted.worker == nil else { continue }
            let needs = hosted.spec.creation.resources
            guard needs.fits(in: available), waiting.isEmpty else {
                waiting.append(id)
                continue
            }
            available = available - needs
            let worker = newWorker(for: hosted.spec.creation.jobID, into: &effects)
            workers[worker] = .actor(id)
            hostedActors[id]?.worker = worker
        }
        actorQueue = waiting
    }

    /// The actor's worker connected: it runs the constructor.
    mutating func actorWorkerStarted(_ id: ActorID, worker: WorkerID, into effects: inout [RayletEffect]) {
        guard let hosted = hostedActors[id], hosted.worker == worker else { return }
        effects.append(.send(to: .worker(worker), .createActor(hosted.spec, incarnation: hosted.incarnation)))
    }

    /// The GCS kills this incarnation (`Ray.kill`, its owner died, a constructor raised, a
    /// stale incarnation): its worker goes, its resources return, the GCS hears it ended.
    mutating func killActorWorker(_ id: ActorID, incarnation: Int, into effects: inout [RayletEffect]) {
        guard let hosted = hostedActors[id], hosted.incarnation == incarnation else { return }
        guard let worker = hosted.worker else {
            hostedActors[id] = nil
            actorQueue.removeAll { $0 == id }
            effects.append(.send(to: .gcs, .actorWorkerDied(id, incarnation: incarnation,
                                                            detail: "it was killed before it started")))
            return
        }
        effects.append(.killWorker(worker))
        workerExited(worker, detail: "it was killed", into: &effects)
    }

    /// The actor's worker is gone: its resources return and the GCS hears of it.
    mutating func actorWorkerExited(_ id: ActorID, worker: WorkerID, detail: String, into effects: inout [RayletEffect]) {
        guard let hosted = hostedActors[id], hosted.worker == worker else { return }
        hostedActors[id] = nil
        available = available + hosted.spec.creation.resources
        effects.append(.send(to: .gcs, .actorWorkerDied(id, incarnation: hosted.incarnation, detail: detail)))
        dispatch(into: &effects)
    }
}
