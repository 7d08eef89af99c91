// Simulated processes: each component's inputs are logged, handed to its
// machine, and its effects interpreted in order. Process deaths drop the
// machine and tell its peers through closed connections.

import RayCore
import RayWire
import RayStorage

extension Simulation {
    // MARK: - Logging and tracing

    func makeLog(_ component: String) -> (any EventLog)? {
        switch options.inputLog {
        case .off:
            return nil
        case .memory:
            return InMemoryEventLog()
        case .lmdb(let directory):
            do {
                let safe = component.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
                return try LMDBEventLog(path: directory + "/" + String(safe), component: component, durable: false)
            } catch {
                violation = violation ?? "cannot open the event log for \(component): \(error)"
                return nil
            }
        }
    }

    /// Appends `input`, with its time, to `log` before the machine sees it; returns the record.
    @inline(__always)
    func log<Input: ProtoRecord>(_ input: Input, at time: Int64, to log: (any EventLog)?) -> [UInt8]? {
        guard let log else { return nil }
        do {
            let record = try LogRecord.encode(input, at: time)
            if log.pendingCount == 0 { dirtyLogs.append(log) }
            try log.append(record)
            return record
        } catch {
            violation = violation ?? "cannot log an input: \(error)"
            return nil
        }
    }

    /// Folds one step into the run digest, and into the trace when recording. `logged`: the
    /// input's log record, if it has one.
    @inline(__always)
    func record<Input: ProtoRecord, Effect: Encodable>(_ component: ComponentID, _ input: Input, _ logged: [UInt8]?,
                                                     _ effects: [Effect]) {
        stepDigest.add(UInt64(bitPattern: now))
        stepDigest.add(UInt64(effects.count))
        guard traceRecorder != nil else { return }
        do {
            let inputBytes = try logged.map { Array(LogRecord.inputBytes($0)) } ?? input.recordBytes()
            let effectBytes = try BinaryCoder.encode(effects)
            stepDigest.add(inputBytes)
            stepDigest.add(effectBytes)
            traceRecorder?.append(TraceStep(time: now, component: component, input: inputBytes, effects: effectBytes))
        } catch {
            violation = violation ?? "cannot record a trace step: \(error)"
        }
    }

    /// Puts a component's driver into this world: simulated time, its event log, the run
    /// digest and trace, invariant checks after every step. (Closures hold the simulation
    /// `unowned(unsafe)`: it owns every driver, and the check an `unowned` reference costs
    /// showed in the profile.)
    func attach<C: Component>(_ driver: ComponentDriver<C>, log eventLog: @escaping () -> (any EventLog)?,
                              as component: @escaping () -> ComponentID)
    where C.Input: ProtoRecord, C.Effect: Encodable {
        driver.clock = { [unowned(unsafe) self] in now }
        driver.checksInvariants = true
        driver.violated = { [unowned(unsafe) self] problem, _ in violation = violation ?? problem }
        // Without logs or a trace, the hooks do only what every run needs (the run digest).
        if options.inputLog != .off {
            driver.log = { [unowned(unsafe) self] input, time in lastLogged = log(input, at: time, to: eventLog()) }
        }
        if traceRecorder == nil {
            driver.observe = { [unowned(unsafe) self] _, _, effects in
                stepDigest.add(UInt64(bitPattern: now))
                stepDigest.add(UInt64(effects.count))
                lastLogged = nil
            }
        } else {
            driver.observe = { [unowned(unsafe) self] input, _, effects in
                record(component(), input, lastLogged, effects)
                lastLogged = nil
            }
        }
    }

    // MARK: - Components

    func makeGCS() -> ComponentDriver<GCS> {
        let driver = ComponentDriver<GCS>()
        attach(driver, log: { [unowned(unsafe) self] in gcsLog }, as: { [unowned(unsafe) self] in .gcs(incarnation: gcsIncarnation) })
        driver.perform = { [unowned(unsafe) self] effect in
            switch effect {
            case .send(let to, let message): send(message, from: .gcs, to: to)
            case .startTimer: break  // Armed by the driver.
            case .admitNode(let node): admittedNode = node
            case .refuseNode(let reason): violation = violation ?? "the GCS refused a new node: \(reason)"
            }
        }
        driver.schedule = { [unowned(unsafe) self] timer, token, after in schedule(.gcsTimer(timer, token), after: after) }
        return driver
    }

    func handleGCS(_ input: GCSInput) {
        gcs.submit(input)
    }

    func makeRaylet(_ node: NodeID, log eventLog: (any EventLog)?) -> ComponentDriver<Raylet> {
        let driver = ComponentDriver<Raylet>()
        attach(driver, log: { eventLog }, as: { .raylet(node) })
        driver.perform = { [unowned(unsafe) self] effect in
            switch effect {
            case .send(let to, let message):
                send(message, from: .raylet(node), to: to)
            case .startTimer:
                break  // Armed by the driver (`schedule`).
            case .spawnWorker(let worker, _):
                spawnWorker(worker)  // Every simulated job runs the synthetic bodies.
            case .killWorker(let worker):
                // Its raylet hears it exit, as a real raylet sees the process's pipe close (a kill
                // it accounted for already is a no-op there; a bundle's release counts on it).
                killWorkerProcess(worker, notifyRaylet: true)
            case .spillObject:
                break  // The disk write happens in the background; memory was released already.
            case .restoreObject(let object, let size):
                schedule(.restoreFinished(node, object), after: diskMicros(size))
            case .deleteSpilledObject, .releaseObject:
                break
            case .disconnect:
                // The simulated network keeps no links to close: a dead node's processes are
                // gone, and messages across a partition's cut are lost with it.
                break
            case .exit(let reason):
                program.note("\(nodes[node]?.spec.name ?? "?") (\(node)) exited: \(reason)")
                killNode(node)
            }
        }
        driver.schedule = { [unowned(unsafe) self] timer, token, after in schedule(.rayletTimer(node, timer, token), after: after) }
        return driver
    }

    func handleRaylet(_ node: NodeID, _ input: RayletInput) {
        guard let simNode = nodes[node], simNode.alive else { return }
        simNode.raylet.submit(input)
        if !strictGroups.isEmpty { checkStrictGroups(on: simNode) }
    }

    func makeExecutor(_ worker: WorkerID, log eventLog: (any EventLog)?) -> ComponentDriver<Executor> {
        let driver = ComponentDriver<Executor>()
        attach(driver, log: { eventLog }, as: { .worker(worker) })
        driver.perform = { [unowned(unsafe) self] effect in
            switch effect {
            case .send(let to, let message): send(message, from: .worker(worker), to: to)
            case .startTimer: break  // Armed by the driver (`schedule`).
            case .execute(let spec, let attempt, let arguments): runBody(spec, attempt: attempt, arguments, on: worker)
            case .executeActor(let spec, let attempt, _, let task):
                if task.call > 0 { noteActorExecution(spec) }
                runActorBody(spec, attempt: attempt, task, on: worker)
            }
        }
        driver.schedule = { [unowned(unsafe) self] timer, token, after in schedule(.executorTimer(worker, timer, token), after: after) }
        return driver
    }

    func handleExecutor(_ worker: WorkerID, _ input: ExecutorInput) {
        executors[worker]?.submit(input)
    }

    func makeOwner(_ job: SimJob) -> ComponentDriver<Owner> {
        let driver = ComponentDriver<Owner>()
        attach(driver, log: { [unowned(unsafe) job] in job.log }, as: { [unowned(unsafe) job] in .driver(job.worker) })
        driver.perform = { [unowned(unsafe) self, unowned(unsafe) job] effect in
            switch effect {
            case .send(let to, let message): send(message, from: .worker(job.worker), to: to)
            case .getResolved(let object, let value): job.program.resolve(object, value)
            case .actorLookedUp: break  // Scenario programs look no actor up.
            case .placementGroupUpdated(let info):
                job.program.checkPlacementGroups()
                onPlacementGroupUpdate?(info)
            }
        }
        return driver
    }

    /// An input of the program's driver.
    func handleDriver(_ input: OwnerInput) {
        jobs[0].handle(input)
    }

    func deliver(_ message: Message, from: Address, to: Address) {
        switch to {
        case .gcs:
            if gcsAlive {
                handleGCS(.messageReceived(from: from, message))
            } else if nodes[nodeOf(from)]?.alive == true {
                heldForGCS[nodeOf(from), default: []].append((from, message))
            }
        case .raylet(let node):
            if nodes[node]?.alive == true {
                handleRaylet(node, .messageReceived(from: from, message))
            } else {
                connectionReset(from: from, to: to)
            }
        case .worker(let worker):
            if let job = jobByWorker[worker] {
                job.handle(.messageReceived(from: from, message))
            } else if worker == probeWorker {
                probeAnswered(message)
            } else if executors[worker] != nil {
                if message.workerPart == .owner, let owner = workerOwners[worker] {
                    owner.submit(.messageReceived(from: from, message))
                } else {
                    handleExecutor(worker, .messageReceived(from: from, message))
                }
            } else if case .worker = from {
                // The worker's process is gone: its host resets the connection.
                connectionReset(from: from, to: to)
            }
        }
    }

    /// A message reached a dead node: its host answers with a reset, once per link.
    func connectionReset(from: Address, to: Address) {
        guard resetLinks.insert(Link(from: from, to: to)).inserted else { return }
        scheduleDisconnect(observer: from, peer: to, after: latency(from: nodeOf(to), to: nodeOf(from)))
    }

    /// `observer` sees its connection to `peer` close — after everything `peer` sent it
    /// before dying (TCP delivers the data before the FIN).
    func scheduleDisconnect(observer: Address, peer: Address, after micros: Int64) {
        var time = now + max(0, micros)
        if let last = linkClock[Link(from: peer, to: observer)], last > time { time = last }
        queue.push(.disconnected(observer: observer, peer: peer), at: time)
    }

    /// A closed connection, as seen by `observer`.
    func disconnected(observer: Address, peer: Address) {
        switch observer {
        case .gcs:
            if gcsAlive { handleGCS(.peerDisconnected(peer)) }
        case .raylet(let node):
            if case .worker(let worker) = peer, worker.node == node {
                handleRaylet(node, .workerExited(worker))
            } else {
                handleRaylet(node, .peerDisconnected(peer))
            }
        case .worker(let worker):
            if let job = jobByWorker[worker] {
                job.handle(.peerDisconnected(peer))
            } else if executors[worker] != nil {
                workerOwners[worker]?.submit(.peerDisconnected(peer))
            }
        }
    }

    // MARK: - Processes

    func addNode(_ spec: NodeSpec) {
        // The GCS hands out node IDs; while it is down, the node waits to join, as a raylet does.
        guard gcsAlive else {
            schedule(.nodeRejoins(spec), after: 1_000)
            return
        }
        admittedNode = nil
        handleGCS(.nodeJoining(known: nil))
        guard let id = admittedNode else { return }
        let log = makeLog("raylet-\(spec.name)-\(id.value)")
        nodes[id] = SimNode(spec: spec, log: log, raylet: makeRaylet(id, log: log))
        nodeOrder.append(id)
        nodeByName[spec.name] = id
        handleRaylet(id, .started(config, NodeInfo(nodeID: id, name: spec.name, resources: spec.resources,
                                                  objectStoreBytes: spec.objectStoreBytes)))
    }

    /// The configuration a node's raylet hands its drivers and workers (the object size limit
    /// made concrete for its store), as a real raylet's hello does.
    func nodeConfig(_ node: NodeID) -> RayConfig {
        config.forNode(storeBytes: nodes[node]?.spec.objectStoreBytes ?? 0)
    }

    func spawnWorker(_ worker: WorkerID) {
        let log = makeLog("worker-\(worker.node.value)-\(worker.index)")
        workerLogs[worker] = log
        let executor = makeExecutor(worker, log: log)
        executors[worker] = executor
        executor.submit(.started(nodeConfig(worker.node), worker))
        schedule(.workerStarted(worker), after: options.workerStartMicros)
    }

    /// A worker process dies: its raylet and its owner see the connection close.
    func killWorkerProcess(_ worker: WorkerID, notifyRaylet: Bool = true) {
        guard executors.removeValue(forKey: worker) != nil else { return }
        try? workerLogs.removeValue(forKey: worker)?.commit()
        dropWorkerOwner(worker)
        deadWorkersCount += 1
        if notifyRaylet {
            scheduleDisconnect(observer: .raylet(worker.node), peer: .worker(worker), after: options.localLatencyMicros)
        }
        for job in jobs {
            scheduleDisconnect(observer: .worker(job.worker), peer: .worker(worker),
                               after: latency(from: worker.node, to: job.worker.node))
        }
        // Owners in workers see it too (those it ran children for act on it).
        for owner in workerOwners.keys.sorted() {
            scheduleDisconnect(observer: .worker(owner), peer: .worker(worker), after: latency(from: worker.node, to: owner.node))
        }
    }

    /// A node dies: its raylet and workers are gone; peers see their connections close.
    func killNode(_ node: NodeID) {
        guard let simNode = nodes[node], simNode.alive else { return }
        simNode.alive = false
        heldForGCS[node] = nil  // What its raylet held for the GCS dies with it.
        killedNodes.append(node)
        for worker in executors.keys.sorted() where worker.node == node {
            killWorkerProcess(worker, notifyRaylet: false)
        }
        let gcsLatency = latency(from: node, to: headNode)
        // A partitioned node's close cannot cross the cut: the GCS finds out by health checks.
        if !isCut(node, headNode) { scheduleDisconnect(observer: .gcs, peer: .raylet(node), after: gcsLatency) }
        for other in nodeOrder where other != node && nodes[other]?.alive == true && !isCut(node, other) {
            scheduleDisconnect(observer: .raylet(other), peer: .raylet(node), after: latency(from: node, to: other))
        }
    }

    func restartGCS() {
        gcsIncarnation += 1
        var inputs: [(GCSInput, Int64)] = []
        // Checked at start: a restart_gcs scenario is persistent and logs its inputs.
        if let log = gcsLog {
            do {
                try log.forEach { _, bytes in
                    do {
                        inputs.append(try LogRecord.decode(GCSInput.self, bytes))
                        return true
                    } catch {
                        violation = violation ?? "the GCS log holds an undecodable record: \(error)"
                        return false
                    }
                }
            } catch {
                violation = violation ?? "cannot read the GCS log: \(error)"
            }
        }
        // Replayed with their logged times; their effects already happened once: recorded for
        // replay, not performed again.
        gcs.replay(inputs)
        gcsAlive = true
        program.note("GCS back (incarnation \(gcsIncarnation)), \(inputs.count) logged inputs replayed, \(gcs.machine.aliveNodeIDs.count) nodes known")
        handleGCS(.recovered)
        for node in nodeOrder where nodes[node]?.alive == true {
            schedule(.gcsReconnected(node), after: latency(from: headNode, to: node))
        }
    }

    func diskMicros(_ bytes: Int64) -> Int64 {
        100 + bytes * 1_000_000 / max(1, options.diskBytesPerSecond)
    }
}
