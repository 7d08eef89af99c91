// Executing a distributed method by its mangled name without demangling it on
// every call. Swift's `executeDistributedTarget` demangles the target's name
// three times per call (its parameter count, parameter types and return type:
// ≈ 26 % of an actor's thread under `actor_calls_async`, perf). The types of a
// non-generic target never change: they are looked up once per name here, and
// the call goes straight to the runtime entry point that
// `executeDistributedTarget` itself ends in. Generic targets, and any name the
// runtime cannot describe, take Swift's own path.
//
// The entry points are the Distributed runtime's exported functions (declared
// here as Swift's own Distributed module declares them, with `UnsafeRawPointer`
// for its `Builtin.RawPointer` parameters).

import Distributed
import Synchronization

@_silgen_name("swift_distributed_execute_target")
private func executeTarget<D: DistributedTargetInvocationDecoder>(
    on actor: AnyObject,
    _ targetName: UnsafePointer<UInt8>, _ targetNameLength: UInt,
    argumentDecoder: inout D,
    argumentTypes: UnsafeRawPointer,
    resultBuffer: UnsafeRawPointer,
    substitutions: UnsafeRawPointer?,
    witnessTables: UnsafeRawPointer?,
    numWitnessTables: UInt
) async throws

@_silgen_name("swift_func_getParameterTypeInfo")
private func parameterTypeInfo(
    _ typeNameStart: UnsafePointer<UInt8>, _ typeNameLength: UInt,
    _ genericEnv: UnsafeRawPointer?, _ genericArguments: UnsafeRawPointer?,
    _ types: UnsafeMutableRawPointer, _ typesLength: Int
) -> Int32

/// What a non-generic target takes and returns, looked up once per name.
private final class ResolvedTarget: @unchecked Sendable {
    /// Never freed (one per distinct method called in this process): the name's UTF-8 bytes and
    /// the parameter types, as the runtime takes them.
    let name: UnsafeMutableBufferPointer<UInt8>
    let argumentTypes: UnsafeMutableBufferPointer<Any.Type>
    let returnType: any Encodable.Type
    let returnsVoid: Bool

    init(name: UnsafeMutableBufferPointer<UInt8>, argumentTypes: UnsafeMutableBufferPointer<Any.Type>, returnType: any Encodable.Type,
         returnsVoid: Bool) {
        self.name = name
        self.argumentTypes = argumentTypes
        self.returnType = returnType
        self.returnsVoid = returnsVoid
    }

    /// Nil for a generic target or one the runtime cannot describe (Swift's path reports why).
    static func resolve(_ identifier: String) -> ResolvedTarget? {
        let name = Array(identifier.utf8)
        return name.withUnsafeBufferPointer { utf8 -> ResolvedTarget? in
            let start = utf8.baseAddress!, length = UInt(utf8.count)
            guard _getGenericEnvironmentOfDistributedTarget(start, length) == nil else { return nil }
            let count = __getParameterCount(start, length)
            guard count >= 0 else { return nil }
            let types = UnsafeMutableBufferPointer<Any.Type>.allocate(capacity: max(1, Int(count)))
            let written = parameterTypeInfo(start, length, nil, nil, UnsafeMutableRawPointer(types.baseAddress!), Int(count))
            guard written == count, let returned = __getReturnTypeInfo(start, length, nil, nil) else {
                types.deallocate()
                return nil
            }
            let returnsVoid = returned == Void.self
            guard let encodable = returnsVoid ? RayVoid.self : returned as? any Encodable.Type else {
                types.deallocate()
                return nil
            }
            let kept = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: utf8.count)
            _ = kept.initialize(from: utf8)
            return ResolvedTarget(name: kept, argumentTypes: UnsafeMutableBufferPointer(rebasing: types[0..<Int(count)]),
                                  returnType: encodable, returnsVoid: returnsVoid)
        }
    }
}

enum DistributedTargets {
    private static let resolved = Mutex<[String: ResolvedTarget?]>([:])

    /// Runs `target` on `actor` (a local instance), its result or error going to `handler`, as
    /// `executeDistributedTarget` does.
    static func execute<Act: DistributedActor>(
        on actor: Act, target: RemoteCallTarget, decoder: inout RayInvocationDecoder, handler: RayResultHandler,
        system: RayActorSystem
    ) async throws {
        let identifier = target.identifier
        let known = resolved.withLock { $0[identifier] }
        let entry: ResolvedTarget?
        if let known {
            entry = known
        } else {
            entry = ResolvedTarget.resolve(identifier)
            resolved.withLock { $0[identifier] = .some(entry) }
        }
        guard let entry else {
            try await system.executeDistributedTarget(on: actor, target: target, invocationDecoder: &decoder,
                                                      handler: handler)
            return
        }
        try await run(entry, entry.returnType, on: actor, decoder: &decoder, handler: handler)
    }

    private static func run<R: Encodable, Act: DistributedActor>(
        _ entry: ResolvedTarget, _ returnType: R.Type, on actor: Act, decoder: inout RayInvocationDecoder,
        handler: RayResultHandler
    ) async throws {
        let result = UnsafeMutablePointer<R>.allocate(capacity: 1)
        defer { result.deallocate() }
        do {
            try await executeTarget(
                on: actor, UnsafePointer(entry.name.baseAddress!), UInt(entry.name.count), argumentDecoder: &decoder,
                argumentTypes: UnsafeRawPointer(entry.argumentTypes.baseAddress!),
                resultBuffer: UnsafeRawPointer(result), substitutions: nil, witnessTables: nil, numWitnessTables: 0)
        } catch {
            try await handler.onThrow(error: error)
            return
        }
        if entry.returnsVoid {
            try await handler.onReturnVoid()
        } else {
            try await handler.onReturnEncodable(value: result.move())
        }
    }
}
