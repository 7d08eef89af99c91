// Compact Codable forms for the identifiers and addresses, which appear many
// times in every logged input: one integer each (or two), instead of a keyed
// container per value. The logged bytes are the schema: changing these breaks
// old logs and traces (re-record them with tools/record-traces.sh).

extension JobID {
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(UInt32.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension TaskID {
    public init(from decoder: any Decoder) throws {
        self.init(value: try decoder.singleValueContainer().decode(UInt64.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension NodeID {
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(UInt32.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension WorkerID {
    /// Node in the high 32 bits, index in the low 32.
    var packed: UInt64 { UInt64(node.value) << 32 | UInt64(index) }
    init(packed: UInt64) {
        self.init(node: NodeID(UInt32(truncatingIfNeeded: packed >> 32)), index: UInt32(truncatingIfNeeded: packed))
    }
    public init(from decoder: any Decoder) throws {
        self.init(packed: try decoder.singleValueContainer().decode(UInt64.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(packed)
    }
}

extension ObjectID {
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let task = try container.decode(UInt64.self)
        self.init(task: TaskID(value: task), index: try container.decode(UInt32.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(task.value)
        try container.encode(index)
    }
}

extension LeaseID {
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let owner = WorkerID(packed: try container.decode(UInt64.self))
        self.init(owner: owner, index: try container.decode(UInt64.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(owner.packed)
        try container.encode(index)
    }
}

extension Address {
    /// Two tag bits, then the node (and worker index).
    var packed: UInt64 {
        switch self {
        case .gcs: return 0
        case .raylet(let node): return 1 << 62 | UInt64(node.value)
        case .worker(let worker): return 2 << 62 | worker.packed
        }
    }

    public init(from decoder: any Decoder) throws {
        let packed = try decoder.singleValueContainer().decode(UInt64.self)
        switch packed >> 62 {
        case 0: self = .gcs
        case 1: self = .raylet(NodeID(UInt32(truncatingIfNeeded: packed)))
        case 2: self = .worker(WorkerID(packed: packed & ~(UInt64(3) << 62)))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: "unknown address tag \(packed >> 62)"))
        }
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(packed)
    }
}

extension ResourceSet {
    /// Names and milli-quantities alternating, in name order.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var milli: [String: Int64] = [:]
        while !container.isAtEnd {
            let name = try container.decode(String.self)
            milli[name] = try container.decode(Int64.self)
        }
        self.init(milli)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for entry in entries {
            try container.encode(entry.name)
            try container.encode(entry.milli)
        }
    }
}

extension ObjectData {
    /// Size, digest, then the bytes when a real program produced them.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let size = try container.decode(Int64.self)
        let digest = try container.decode(UInt64.self)
        let bytes = container.isAtEnd ? nil : try container.decode([UInt8].self)
        guard size >= 0 else {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: "negative object size \(size)"))
        }
        self.init(sizeBytes: size, digest: digest, bytes: bytes)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(sizeBytes)
        try container.encode(digest)
        if let bytes { try container.encode(bytes) }
    }
}
