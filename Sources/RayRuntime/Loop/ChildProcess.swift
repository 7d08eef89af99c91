// Child processes spawned on the loop (uv_spawn) and reaped by it: a raylet's
// workers. The exit callback reports the status or the signal.

import CLibUV
import Glibc

/// A process spawned and reaped by a loop.
public final class ChildProcess {
    let handle = UnsafeMutablePointer<uv_process_t>.allocate(capacity: 1)
    var exited: ((_ status: Int64, _ signal: Int32) -> Void)?
    public private(set) var pid: Int32 = 0
    public private(set) var running = false

    /// Spawns `executable` with `arguments` (without argv[0]) and `environment` ("K=V");
    /// stdout and stderr go to `output` (or are inherited when nil); it runs as `user` when given
    /// (setuid and setgid, supplementary groups dropped: this process must be root).
    public init(loop: EventLoop, executable: String, arguments: [String], environment: [String],
                output: (stdout: Int32, stderr: Int32)?, user: WorkerUser? = nil,
                exited: @escaping (Int64, Int32) -> Void) throws(RuntimeError) {
        self.exited = exited
        var options = uv_process_options_t()
        if let user {
            options.flags = UInt32(UV_PROCESS_SETUID.rawValue | UV_PROCESS_SETGID.rawValue)
            options.uid = user.uid
            options.gid = user.gid
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        stdio[0].flags = UV_IGNORE
        stdio[1].flags = UV_INHERIT_FD
        stdio[1].data.fd = output?.stdout ?? 1
        stdio[2].flags = UV_INHERIT_FD
        stdio[2].data.fd = output?.stderr ?? 2
        let status: Int32 = executable.withCString { file in
            argv.withUnsafeBufferPointer { argvPointer in
                envp.withUnsafeBufferPointer { envPointer in
                    stdio.withUnsafeMutableBufferPointer { stdioPointer in
                        options.file = file
                        options.args = UnsafeMutablePointer(mutating: argvPointer.baseAddress)
                        options.env = UnsafeMutablePointer(mutating: envPointer.baseAddress)
                        options.stdio_count = 3
                        options.stdio = stdioPointer.baseAddress
                        options.exit_cb = { process, status, signal in
                            guard let process, let data = process.pointee.data else { return }
                            let child = Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue()
                            child.didExit(status, signal)
                        }
                        return uv_spawn(loop.raw, handle, &options)
                    }
                }
            }
        }
        guard status == 0 else {
            handle.deallocate()
            throw RuntimeError("cannot start \(executable)\(user.map { " as \($0.name)" } ?? ""): \(uvError(status))")
        }
        pid = handle.pointee.pid
        running = true
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Sends `signal` (SIGKILL by default) if the process still runs.
    public func kill(_ signal: Int32 = 9) {
        guard running else { return }
        uv_process_kill(handle, signal)
    }

    private func didExit(_ status: Int64, _ signal: Int32) {
        running = false
        let callback = exited
        exited = nil
        handle.withMemoryRebound(to: uv_handle_t.self, capacity: 1) { raw in
            uv_close(raw) { closed in
                guard let closed, let data = closed.pointee.data else { return }
                let child = Unmanaged<ChildProcess>.fromOpaque(data)
                closed.withMemoryRebound(to: uv_process_t.self, capacity: 1) { $0.deallocate() }
                child.release()
            }
        }
        callback?(status, signal)
    }
}
