// What a raylet refuses to relay to the GCS from its local processes, by their credential (the
// wire's concern: the simulator has no credentials, and the GCS's machine cannot tell a task
// worker's job). The GCS's KV is the nodes' (each job's program and its bytes; programs have no
// KV API), so a job's code can neither swap another job's program nor fill the GCS's memory
// with entries; and an actor, a placement group or a put placed on another node is made for
// the job of the process that makes it — a driver's own job, or the job whose credential its
// worker was started with — so no job can charge what it makes to another job's quotas and
// rates (that node's raylet charges the job a remote store names).

import RayCore

extension RayletHost {
    /// Whether a peer of `role` may not send frames of `kind` at all: only the GCS and raylets
    /// report closed links and send directories (a local process claiming the GCS's link closed
    /// would cut its raylet off), and a client (the CLI) only asks (control requests).
    static func refuses(_ kind: FrameKind?, from role: Hello.Role) -> Bool {
        switch kind {
        case .peerClosed?, .directory?: role != .gcs && role != .raylet
        case .message?: role == .client
        default: false
        }
    }

    /// Whether a local process's message to `to` is checked before it is relayed: to the GCS, or
    /// to another node's raylet.
    func relayChecked(_ to: Address) -> Bool {
        switch to {
        case .gcs: true
        case .raylet(let node): node != nodeID
        case .worker: false
        }
    }

    /// Why `message`, sent to the GCS or another node's raylet by the local process `sender`, is
    /// not relayed (the action refused and the credential it needs), or nil.
    func relayRefusal(_ message: Message, from sender: WorkerID) -> (what: String, needs: Identity.Role)? {
        let claimed: JobID
        let what: String
        switch message {
        case .kvPut(let key, _):
            return ("write the GCS's KV (entry '\(key)'): its entries are the nodes' (each job's program)", .node)
        case .registerActor(let spec), .actorDependenciesReady(let spec):
            (claimed, what) = (spec.creation.jobID, "an actor")
        case .createPlacementGroup(let spec):
            (claimed, what) = (spec.job, "a placement group")
        case .storeRemoteObjects(_, _, _, _, let job):
            (claimed, what) = (job, "objects in another node's store")
        case .requestWorkerLease(let request):
            (claimed, what) = (request.jobID, "a lease request at another node")
        case .storeObjects:
            return ("store objects in another node's store without naming its job", .node)
        default:
            return nil
        }
        let own = workerJobs[sender] ?? (locals[sender]?.isDriver == true ? Self.job(ofDriver: sender) : nil)
        guard let own, own != claimed else { return nil }
        return ("create \(what) for \(claimed) (this process is \(own)'s; a job creates actors, placement groups "
            + "and objects for itself only)", .job)
    }
}
