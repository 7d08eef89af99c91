// `swiftray list tasks` across the cluster: tasks live in their owners, so a
// raylet asked for its tasks relays the request to every driver connected to
// it and answers once all of them did (or after 3 s, naming who did not).

import RayCore

extension RayletHost {
    static let listingTimeoutMicros: Int64 = 3_000_000

    func listTasks(for client: Connection) {
        let drivers = locals.filter { $0.value.isDriver && !$0.value.connection.isClosed }.keys.sorted()
        guard !drivers.isEmpty else {
            client.send(Wire.textFrame(.controlReply, "node \(nodeID.value) (\(options.name)): no driver connected"))
            return
        }
        final class Gathering {
            var answers: [WorkerID: String] = [:]
            var done = false
        }
        let gathering = Gathering()
        let finish = { [unowned self] in
            guard !gathering.done else { return }
            gathering.done = true
            let lines = drivers.map { gathering.answers[$0] ?? "driver \($0): no answer within 3 s" }
            client.send(Wire.textFrame(.controlReply, "node \(nodeID.value) (\(options.name)):\n" + lines.joined(separator: "\n")))
        }
        for driver in drivers {
            driverReplies[driver, default: []].append { answer in
                gathering.answers[driver] = answer
                if gathering.answers.count == drivers.count { finish() }
            }
            locals[driver]?.connection.send(Wire.textFrame(.control, "list tasks"))
        }
        loop.timer(afterMicros: Self.listingTimeoutMicros) { finish() }
    }
}
