// What a raylet refuses to relay to the GCS from its local processes, by their credential (the
// wire's concern: the simulator has no credentials, and the GCS's machine cannot tell a task
// worker's job). The GCS's KV is the nodes' (each job's program and its bytes; programs have no
// KV API), so a job's code can neither swap another job's program nor fill the GCS's memory
// with entries; and an actor or a placement group is created for the job of the process that
// creates it — a driver's own job, or the job whose credential its worker was started with — so
// no job can charge its creations to another job's quotas and rates.

import RayCore

extension RayletHost {
    /// Why `message`, sent to the GCS by the local process `sender`, is not relayed (the action
    /// refused and the credential it needs), or nil.
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
        default:
            return nil
        }
        let own = workerJobs[sender] ?? (locals[sender]?.isDriver == true ? Self.job(ofDriver: sender) : nil)
        guard let own, own != claimed else { return nil }
        return ("create \(what) for \(claimed) (this process is \(own)'s; a job creates actors and placement groups "
            + "for itself only)", .job)
    }
}
