// The checkers. Safety after every step (each machine's own invariants, which
// its ComponentDriver checks: resources never over-allocated or negative,
// store within capacity, a node marked dead at most once; and every
// value the driver gets byte-identical to what its lineage defines); a full
// scan every few thousand steps; at the end, liveness (every get resolved as
// `expect` says within max_sim_time), the expectations, and leaks.

import RayCore

extension Simulation {
    /// The O(state) scan: each machine's own (`fullInvariantViolation`): every count
    /// non-negative, every lease accounted for.
    func fullCheck() {
        if driverAlive, let problem = driver.machine.fullInvariantViolation() { violation = violation ?? problem }
        for node in nodeOrder where nodes[node]?.alive == true {
            guard let problem = nodes[node]?.raylet.machine.fullInvariantViolation() else { continue }
            violation = violation ?? problem
        }
    }

    /// Leaks after the driver finished: anything still held anywhere.
    func leaks() -> [String] {
        var found: [String] = []
        if driverAlive && !driver.isQuiescent {
            let tasks = driver.tasks.count, objects = driver.objects.count
            found.append("driver still holds \(tasks) task(s) and \(objects) object(s)")
        }
        for node in nodeOrder where nodes[node]?.alive == true {
            guard let raylet = nodes[node]?.raylet, raylet.running, !raylet.isQuiescent else { continue }
            var held: [String] = []
            if !raylet.leases.isEmpty { held.append("\(raylet.leases.count) lease(s)") }
            if raylet.queuedLeaseCount > 0 { held.append("\(raylet.queuedLeaseCount) queued request(s)") }
            if raylet.store.objectCount > 0 {
                let sample = raylet.store.entries.keys.sorted().prefix(3).map { object in
                    let entry = raylet.store.entries[object]!
                    let ref = refByObject[object].map { " \($0)" } ?? ""
                    return "\(object)\(ref) \(entry.primary ? "primary" : "secondary")"
                        + "\(entry.inMemory ? "" : " spilled") pins \(entry.pins)"
                }
                held.append("\(raylet.store.objectCount) object(s) [" + sample.joined(separator: "; ") + "]")
            }
            if raylet.available != raylet.info.resources { held.append("resources \(raylet.available) of \(raylet.info.resources)") }
            if held.isEmpty { held.append("open fetches or pulls") }
            found.append("\(raylet.info.name) (\(node)) still holds " + held.joined(separator: ", "))
        }
        for worker in executors.keys.sorted() where executors[worker]?.isBusy == true {
            found.append("\(worker) is still running a task")
        }
        if jobEnded {
            // The job ended (the program's clean exit): its workers end with it, as in Ray.
            let left = executors.keys.sorted()
            if !left.isEmpty {
                found.append("\(left.count) worker(s) of the finished job still alive: "
                    + left.prefix(4).map { "\($0)" }.joined(separator: ", "))
            }
            if gcsAlive, gcs.machine.jobs[JobID(1)]?.state == .running {
                found.append("the GCS still lists the finished job as running")
            }
        }
        return found
    }

    func finish(livenessExceeded: Bool) -> SimulationReport {
        var report = SimulationReport(scenario: scenario, seed: options.seed)
        report.simulatedMicros = now
        report.eventsProcessed = eventsProcessed
        report.tasksRun = driver.metrics.attemptsStarted
        report.retries = driver.metrics.retries
        report.reconstructions = driver.metrics.reconstructions
        for node in nodeOrder {
            guard let metrics = nodes[node]?.raylet.metrics else { continue }
            report.objectsSpilled += metrics.objectsSpilled
            report.objectsRestored += metrics.objectsRestored
            report.spillbacks += metrics.spillbacks
        }
        for (index, fault) in scenario.faults.enumerated() where !faultsDone[index] {
            faultLines.append(Self.unfiredFaultLine(index, fault))
        }
        report.faultLines = faultLines
        report.traceDigest = stepDigest.finalized
        report.results = getList.indices.map { (getList[$0], resolved[$0]) }
        if let violation {
            report.verdicts.append(("safety", "FAILED: \(violation)"))
            report.outcome = .invariantViolated(violation)
            return report
        }
        report.verdicts.append(("safety", "ok (every step)"))
        if livenessExceeded || !driverFinished {
            let pending = getList.indices.filter { resolved[$0] == nil }.map { getList[$0] }
            let detail = pending.prefix(8).map { ref in "\(ref) \(describePending(ref))" }.joined(separator: "; ")
            let message = "\(pending.count) get(s) unresolved at \(formatTime(now)) (max_sim_time "
                + "\(formatTime(scenario.expect.maxSimTimeMicros))): \(detail)"
            report.verdicts.append(("liveness", "FAILED: \(message)"))
            report.outcome = .livenessExceeded(message)
            return report
        }
        report.verdicts.append(("liveness", "ok (all \(getList.count) gets resolved by \(formatTime(finishedAt ?? now)))"))
        let failures = expectationFailures()
        report.verdicts.append(("expect", failures.isEmpty ? "ok" : "FAILED: " + failures.joined(separator: "; ")))
        var problems = failures
        if !options.acceptUnfiredFaults && driverAlive {
            for index in scenario.faults.indices where !faultsDone[index] { problems.append("fault \(index) did not fire") }
        }
        for node in killedNodes where !headKilled && gcs.nodes[node] != nil && gcs.nodes[node]?.state != .dead {
            problems.append("killed \(node) was never marked dead by the GCS")
        }
        if headKilled {
            report.verdicts.append(("leaks", "not checked (the head node died: the cluster went with it)"))
        } else if scenario.expect.checkLeaks {
            let leaked = leaks()
            report.verdicts.append(("leaks", leaked.isEmpty ? (jobEnded ? "none (and the job's end ended its workers)" : "none")
                : "FAILED: " + leaked.joined(separator: "; ")))
            problems += leaked
        } else {
            report.verdicts.append(("leaks", "not checked (leaks: allowed)"))
        }
        report.outcome = problems.isEmpty ? .passed : .expectationFailed(problems)
        return report
    }

    private func describePending(_ ref: InstanceRef) -> String {
        guard let object = refs[ref] else { return "(never submitted)" }
        guard let task = driver.tasks[object.task] else { return "(no task entry)" }
        var detail = "(task \(task.state), \(task.attempts) attempt(s)"
        if case .running(_, let worker) = task.state, let raylet = nodes[worker.node]?.raylet {
            detail += "; on \(raylet.info.name): " + raylet.machine.fetchDescription(worker: worker)
        }
        if case .leasing(_, let node) = task.state, let simNode = nodes[node] {
            let raylet = simNode.raylet
            detail += "; \(raylet.info.name) \(simNode.alive ? "alive" : "dead"): \(raylet.queuedLeaseCount) queued, "
                + "\(raylet.leases.count) leased, available \(raylet.available)"
        }
        if let entry = driver.objects[object] {
            detail += "; object \(entry.state) at \(entry.locations)"
        }
        if let raylet = nodes[driverWorker.node]?.raylet {
            detail += "; driver's fetches: " + raylet.machine.fetchDescription(worker: driverWorker)
        }
        return detail + ")"
    }

    private func expectationFailures() -> [String] {
        var failures: [String] = []
        var expected: [InstanceRef: ExpectSpec.Outcome] = [:]
        for (pattern, outcome) in scenario.expect.results {
            for ref in plan.resolve(pattern) { expected[ref] = outcome }
        }
        for ref in getList {
            guard let value = result(ref) else { continue }
            switch (expected[ref] ?? .ok, value) {
            case (.ok, .data):
                continue
            case (.ok, .error(let error)):
                if expected[ref] == nil && options.acceptErrorResults { continue }
                failures.append("\(ref): expected ok, got \(error)")
            case (.error(let kind), .data):
                failures.append("\(ref): expected \(kind.rawValue), got a value")
            case (.error(let kind), .error(let error)):
                if error.kind != kind { failures.append("\(ref): expected \(kind.rawValue), got \(error)") }
            }
        }
        if let comparison = scenario.expect.reconstructions, !comparison.holds(for: Int64(driver.metrics.reconstructions)) {
            failures.append("reconstructions: expected \(comparison), got \(driver.metrics.reconstructions)")
        }
        if let comparison = scenario.expect.retries, !comparison.holds(for: Int64(driver.metrics.retries)) {
            failures.append("retries: expected \(comparison), got \(driver.metrics.retries)")
        }
        let spilled = nodeOrder.reduce(0) { $0 + (nodes[$1]?.raylet.metrics.objectsSpilled ?? 0) }
        if let comparison = scenario.expect.spilled, !comparison.holds(for: Int64(spilled)) {
            failures.append("spilled: expected \(comparison), got \(spilled)")
        }
        let spillbacks = nodeOrder.reduce(0) { $0 + (nodes[$1]?.raylet.metrics.spillbacks ?? 0) }
        if let comparison = scenario.expect.spillbacks, !comparison.holds(for: Int64(spillbacks)) {
            failures.append("spillbacks: expected \(comparison), got \(spillbacks)")
        }
        return failures
    }
}
