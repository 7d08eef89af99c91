// The actor classes a program defines (the actor half of FunctionRegistry):
// each class name maps to a constructor that makes an instance from the
// creation arguments; the instance answers method calls by name. A worker that
// hosts an actor keeps its one instance for its life (a restart is a new
// process: the constructor runs again and the state starts afresh).

public import RayCore

/// An actor instance a worker hosts: runs a method call by name on the instance's state.
public protocol ActorInstance: AnyObject {
    /// Starts `method` with the arguments and returns at once; `done` gets one encoded value per
    /// return, or the error the method threw (on any thread). The worker's loop goes on meanwhile.
    func call(_ method: String, _ arguments: [FetchedValue],
              done: @escaping @Sendable (Result<[[UInt8]], any Error>) -> Void)
}

/// The actor classes this program registered (before `Ray.start()`, as functions).
public enum ActorRegistry {
    public typealias Constructor = ([FetchedValue]) throws -> any ActorInstance
    nonisolated(unsafe) static var constructors: [String: Constructor] = [:]

    /// Registers the class `name` (call before `Ray.start()`: workers run the program up to there).
    public static func register(_ name: String, _ constructor: @escaping Constructor) {
        constructors[name] = constructor
    }

    public static func lookup(_ name: String) -> Constructor? { constructors[name] }
    public static var names: [String] { constructors.keys.sorted() }

    /// Runs actor tasks of classes not registered (scenario actors under `swiftray up`): the
    /// spec, which call it is, and the arguments.
    nonisolated(unsafe) public static var fallback: ((TaskSpec, ActorTask, [FetchedValue]) -> ExecutionResult)?
}
