// The hello and directory frames as protobuf messages (swiftray.proto).

import Foundation
import RayCore
import RayWire

extension Hello {
    var proto: PBHello {
        var message = PBHello()
        message.role = role.rawValue
        if let node { message.node = node.value }
        if let worker { message.worker = worker.proto }
        if let job { message.job = job.value }
        if let host { message.host = host }
        if let port { message.port = Int64(port) }
        if let name { message.name = name }
        if let resources { message.resources = resources.proto }
        if let objectStoreBytes { message.objectStoreBytes = objectStoreBytes }
        if let executable { message.executable = executable }
        if let config { message.config = config.proto }
        if let session { message.session = session }
        return message
    }

    init(proto message: PBHello) throws {
        guard let role = Role(rawValue: message.role) else {
            throw RecordError(path: "Hello.role", problem: "unknown role \"\(message.role)\"")
        }
        self.init(role: role)
        node = message.hasNode ? NodeID(message.node) : nil
        worker = message.hasWorker ? try WorkerID(proto: message.worker, at: "Hello.worker") : nil
        job = message.hasJob ? JobID(message.job) : nil
        host = message.hasHost ? message.host : nil
        if message.hasPort {
            guard (0...65535).contains(message.port) else {
                throw RecordError(path: "Hello.port", problem: "port \(message.port) out of range")
            }
            port = Int(message.port)
        }
        name = message.hasName ? message.name : nil
        resources = message.hasResources ? try ResourceSet(proto: message.resources, at: "Hello.resources") : nil
        objectStoreBytes = message.hasObjectStoreBytes ? message.objectStoreBytes : nil
        executable = message.hasExecutable ? message.executable : nil
        config = message.hasConfig ? try RayConfig(proto: message.config, at: "Hello.config") : nil
        session = message.hasSession ? message.session : nil
    }
}

extension Directory {
    var proto: PBDirectory {
        var message = PBDirectory()
        message.entries = entries.map { entry in
            var proto = PBDirectory.Entry()
            proto.node = entry.node.value
            proto.host = entry.host
            proto.port = Int64(entry.port)
            proto.name = entry.name
            return proto
        }
        if let executable { message.executable = executable }
        return message
    }

    init(proto message: PBDirectory) throws {
        self.init(entries: try message.entries.map { entry in
            guard (0...65535).contains(entry.port) else {
                throw RecordError(path: "Directory.entries.port", problem: "port \(entry.port) out of range")
            }
            return Entry(node: NodeID(entry.node), host: entry.host, port: Int(entry.port), name: entry.name)
        }, executable: message.hasExecutable ? message.executable : nil)
    }
}
