// Compact Codable forms for the values inside messages and inputs (task
// specs, lease requests, arguments, results): fields or a case tag and values
// in order, no keys. Part of the record schema — see Message+Codable.swift.

extension TaskSpec {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(taskID)
        try container.encode(jobID)
        try container.encode(function)
        try container.encode(instance)
        try container.encode(args)
        try container.encode(returnCount)
        try container.encode(resources)
        try container.encode(strategy)
        try container.encode(maxRetries)
        try container.encode(retryExceptions)
        try container.encode(body)
        try container.encode(owner)
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let taskID = try container.decode(TaskID.self)
        let jobID = try container.decode(JobID.self)
        let function = try container.decode(String.self)
        let instance = try container.decode(Int.self)
        let args = try container.decode([TaskArg].self)
        let returnCount = try container.decode(Int.self)
        let resources = try container.decode(ResourceSet.self)
        let strategy = try container.decode(SchedulingStrategy.self)
        let maxRetries = try container.decode(Int.self)
        let retryExceptions = try container.decode(Bool.self)
        let body = try container.decode([Int64].self)
        let owner = try container.decode(WorkerID.self)
        self.init(taskID: taskID, jobID: jobID, function: function, instance: instance, args: args, returnCount: returnCount, resources: resources, strategy: strategy, maxRetries: maxRetries, retryExceptions: retryExceptions, body: body, owner: owner)
    }
}

extension LeaseRequest {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(leaseID)
        try container.encode(taskID)
        try container.encode(resources)
        try container.encode(strategy)
        try container.encode(spillbackCount)
        try container.encode(dependencies)
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let leaseID = try container.decode(LeaseID.self)
        let taskID = try container.decode(TaskID.self)
        let resources = try container.decode(ResourceSet.self)
        let strategy = try container.decode(SchedulingStrategy.self)
        let spillbackCount = try container.decode(Int.self)
        let dependencies = try container.decode([ObjectID].self)
        self.init(leaseID: leaseID, taskID: taskID, resources: resources, strategy: strategy, spillbackCount: spillbackCount, dependencies: dependencies)
    }
}

extension TaskRequest {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(function)
        try container.encode(instance)
        try container.encode(args)
        try container.encode(resources)
        try container.encode(strategy)
        try container.encode(maxRetries)
        try container.encode(retryExceptions)
        try container.encode(body)
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let function = try container.decode(String.self)
        let instance = try container.decode(Int.self)
        let args = try container.decode([TaskArg].self)
        let resources = try container.decode(ResourceSet.self)
        let strategy = try container.decode(SchedulingStrategy.self)
        let maxRetries = try container.decode(Int.self)
        let retryExceptions = try container.decode(Bool.self)
        let body = try container.decode([Int64].self)
        self.init(function: function, instance: instance, args: args, resources: resources, strategy: strategy, maxRetries: maxRetries, retryExceptions: retryExceptions, body: body)
    }
}

extension SchedulingStrategy {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .default:
            try container.encode(UInt8(0))
        case .spread:
            try container.encode(UInt8(1))
        case .nodeAffinity(let v0, let v1):
            try container.encode(UInt8(2))
            try container.encode(v0)
            try container.encode(v1)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .default
        case 1:
            self = .spread
        case 2:
            self = .nodeAffinity(node: try container.decode(NodeID.self), soft: try container.decode(Bool.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown SchedulingStrategy tag \(tag)"))
        }
    }
}

extension TaskArg {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .reference(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .value(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        case .nestedReference(let v0):
            try container.encode(UInt8(2))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .reference(try container.decode(ObjectID.self))
        case 1:
            self = .value(try container.decode(ObjectData.self))
        case 2:
            self = .nestedReference(try container.decode(ObjectID.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown TaskArg tag \(tag)"))
        }
    }
}

extension ResolvedArg {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .inline(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .object(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        case .borrowed(let v0):
            try container.encode(UInt8(2))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .inline(try container.decode(ObjectData.self))
        case 1:
            self = .object(try container.decode(ObjectID.self))
        case 2:
            self = .borrowed(try container.decode(ObjectID.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown ResolvedArg tag \(tag)"))
        }
    }
}

extension ReturnValue {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .inline(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .stored(let v0, let v1):
            try container.encode(UInt8(1))
            try container.encode(v0)
            try container.encode(v1)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .inline(try container.decode(ObjectData.self))
        case 1:
            self = .stored(node: try container.decode(NodeID.self), sizeBytes: try container.decode(Int64.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown ReturnValue tag \(tag)"))
        }
    }
}

extension TaskOutcome {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .returned(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .applicationError(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        case .argumentFailed(let v0):
            try container.encode(UInt8(2))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .returned(try container.decode([ReturnValue].self))
        case 1:
            self = .applicationError(try container.decode(String.self))
        case 2:
            self = .argumentFailed(try container.decode(RayError.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown TaskOutcome tag \(tag)"))
        }
    }
}

extension ObjectValue {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .data(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .error(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .data(try container.decode(ObjectData.self))
        case 1:
            self = .error(try container.decode(RayError.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown ObjectValue tag \(tag)"))
        }
    }
}

extension LocationAnswer {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .at(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .failed(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        case .freed:
            try container.encode(UInt8(2))
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .at(try container.decode([NodeID].self))
        case 1:
            self = .failed(try container.decode(RayError.self))
        case 2:
            self = .freed
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown LocationAnswer tag \(tag)"))
        }
    }
}

extension ExecutionResult {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        switch self {
        case .returned(let v0):
            try container.encode(UInt8(0))
            try container.encode(v0)
        case .applicationError(let v0):
            try container.encode(UInt8(1))
            try container.encode(v0)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let tag = try container.decode(UInt8.self)
        switch tag {
        case 0:
            self = .returned(try container.decode([ObjectData].self))
        case 1:
            self = .applicationError(try container.decode(String.self))
        default:
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "unknown ExecutionResult tag \(tag)"))
        }
    }
}
