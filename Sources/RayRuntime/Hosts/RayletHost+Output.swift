// What a raylet's workers print: kept with the job's output on this node (`swiftray logs`)
// and sent to the job's driver.

import Glibc
import RayCore

extension RayletHost {
    /// Lines a worker printed: stored with the job's output on this node and sent to its driver.
    func workerPrinted(_ worker: WorkerID, job: JobID, _ stream: WorkerOutput.Stream, _ lines: [WorkerOutput.Line]) {
        var text = "", startup = ""
        for line in lines {
            let prefixed = "(\(line.task ?? worker.description), \(nodeID)) \(line.text)\n"
            if line.startup { startup += prefixed } else { text += prefixed }
        }
        // The program's own output up to Ray.start(), printed again by every worker: kept, not sent.
        storeOutput(startup + text, job: job)
        guard !text.isEmpty else { return }
        let driver = Address.worker(Self.driver(of: job))
        route(Wire.outputFrame(from: .raylet(nodeID), to: driver, stream: stream.rawValue, text: text),
              from: .raylet(nodeID), to: driver)
    }

    /// Appends to `<session>/logs/<job>-<node name>.out` (what `swiftray logs` would read).
    private func storeOutput(_ text: String, job: JobID) {
        guard let session = options.session else { return }
        let path = "\(session)/logs/\(job)-\(options.name).out"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var text = text
        text.withUTF8 { OutputMarkers.writeAll(fd, $0.baseAddress!, $0.count) }
    }
}
