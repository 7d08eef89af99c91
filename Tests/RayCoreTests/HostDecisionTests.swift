// Hosts route; machines decide. A runtime host that looks inside a message
// (switches over its case) is deciding something a machine should, and the
// simulator would not see it. Every place a host does so today is listed
// below with its reason; a new one fails this test until it moves into a
// machine or is listed with a reason. Checked by reading the sources.

import Foundation
import Testing

@Suite struct HostDecisionTests {
    /// (file, message case): why the host looks at it.
    static let allowed: [String: String] = [
        // I/O translations: bytes into or out of the shared-memory store, no decision.
        "WorkerHost.swift storeObjects": "writes return values into the node's store; the message then carries none of their bytes",
        "RayletHost+Objects.swift storeObjects": "reads the values a local worker wrote into the store",
        "RayletHost+Objects.swift storeRemoteObjects": "writes the bytes a put placed here carries into the store",
        "RayletHost+Objects.swift pushObject": "sends an object's bytes to another node in chunks",
        // Where one node's copy of an object lives with a store per job (RayletHost+JobStores): which
        // store's bytes a reader maps; the machine's answer is passed on unchanged.
        "RayletHost+Objects.swift fetchObjects": "notes what a local process fetches, to copy it into its job's store",
        "RayletHost+JobStores.swift fetchObjects": "notes what a local process fetches, to copy it into its job's store",
        "RayletHost+CrossJobCopies.swift objectsReady": "copies what the answer names into the reader's job's store first (holding the answer until then)",
        "RayletHost+Objects.swift jobFinished": "removes the ended job's store once it holds nothing and none of its processes runs",
        "GCSHost+Blobs.swift kvPut": "keeps large KV values (executables) in files, not in the log",
        "GCSHost+Blobs.swift kvValue": "reads large KV values back from their files",
        "RayletHost.swift kvValue": "writes the bytes of an executable it fetched into a file (which program a job runs is the machine's)",
        // Authorization by the connection's credential (the wire's concern; the simulator has no credentials).
        "RayletHost+Relay.swift kvPut": "refuses a KV write sent by a driver's or worker's connection (only nodes write the GCS's KV)",
        "RayletHost+Relay.swift registerActor": "refuses an actor a local process creates (or readies) for another job than its own",
        "RayletHost+Relay.swift createPlacementGroup": "refuses a placement group a local process creates for another job",
        "RayletHost+Relay.swift storeRemoteObjects": "refuses a put a local process places on another node for another job",
        "RayletHost+Relay.swift requestWorkerLease": "refuses a lease request a local process sends another node for another job",
        "RayletHost+Relay.swift storeObjects": "refuses a store sent to another node without naming its job",
        // The host's own requests, answered to the host.
        "DriverHost.swift objectsReady": "answers to the borrower probes the host itself sends (fetchAsBorrower)",
        "DriverHost.swift kvValue": "the GCS's answer confirming the job was registered (the join handshake)",
        "DriverHost.swift taskReply": "caches the owner's final inline values for caller-thread gets (reads the machine's state)",
    ]

    @Test func hostsLookInsideMessagesOnlyWhereListed() throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let messageSource = try String(contentsOf: url.appendingPathComponent("Sources/RayCore/Common/Message.swift"),
                                       encoding: .utf8)
        let body = messageSource[messageSource.range(of: "public enum Message")!.lowerBound...]
        let casePattern = try Regex(#"^\s*(?:indirect )?case (\w+)"#)
        var caseNames: Set<String> = []
        for line in body.split(separator: "\n") {
            if let match = String(line).firstMatch(of: casePattern), let name = match.output[1].substring {
                caseNames.insert(String(name))
            }
        }
        #expect(caseNames.contains("pushTask") && caseNames.contains("nodeDead"))

        let hosts = url.appendingPathComponent("Sources/RayRuntime/Hosts").path
        var found: Set<String> = []
        let patterns = [try Regex(#"case (?:let )?\.(\w+)"#), try Regex(#"\.messageReceived\([^,]*,\s*\.(\w+)"#)]
        for name in try FileManager.default.contentsOfDirectory(atPath: hosts) where name.hasSuffix(".swift") {
            let text = try String(contentsOfFile: hosts + "/" + name, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = String(line.components(separatedBy: "//").first ?? "")
                for pattern in patterns {
                    for match in code.matches(of: pattern) {
                        guard let caseName = match.output[1].substring.map(String.init), caseNames.contains(caseName)
                        else { continue }
                        let key = "\(name) \(caseName)"
                        found.insert(key)
                        if Self.allowed[key] == nil {
                            let text: String = "Sources/RayRuntime/Hosts/\(name):\(number + 1) looks inside a `"
                                + caseName + "` message: move the decision into a machine, or list it here with its reason"
                            Issue.record(Comment(rawValue: text))
                        }
                    }
                }
            }
        }
        // A listed place that no longer exists is taken off the list (the list stays true).
        for key in Self.allowed.keys where !found.contains(key) {
            Issue.record("\(key) is listed but no longer found: remove it from HostDecisionTests.allowed")
        }
    }
}
