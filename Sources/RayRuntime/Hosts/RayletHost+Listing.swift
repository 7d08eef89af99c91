// `swiftray list tasks` across the cluster: tasks live in their owners, so a
// raylet asked for its tasks relays the request to every driver connected to
// it and answers once all of them did (or after 3 s, naming who did not).

import RayCore

extension RayletHost {
    static let listingTimeoutMicros: Int64 = 3_000_000

    func listTasks(for client: Connection) {
        let drivers = locals.filter { $0.value.isDriver && !$0.value.connection.isClosed }.keys.sorted()
        final class Gathering {
            var answers: [WorkerID: ControlDriverTasks] = [:]
            var replies = 0
            var done = false
        }
        let gathering = Gathering()
        let finish = { [unowned self] in
            guard !gathering.done else { return }
            gathering.done = true
            let listings = drivers.map { driver in
                gathering.answers[driver] ?? ControlDriverTasks(driver: driver, job: JobID(0), answered: false)
            }
            client.send(Wire.controlReplyFrame(.tasks(node: nodeID, name: options.name, drivers: listings)))
        }
        guard !drivers.isEmpty else { return finish() }
        for driver in drivers {
            driverReplies[driver, default: []].append { answer in
                if let answer { gathering.answers[driver] = answer }  // nil: it is gone.
                gathering.replies += 1
                if gathering.replies == drivers.count { finish() }
            }
            locals[driver]?.connection.send(Wire.controlFrame(.listTasks))
        }
        loop.timer(afterMicros: Self.listingTimeoutMicros) { finish() }
    }
}
