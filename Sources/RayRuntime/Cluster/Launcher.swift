// Starting role processes from a parent (an embedded cluster's driver, or
// `swiftray start`): posix_spawn of an executable in a role, waiting for its
// READY line, with its stderr in the session's log directory.

import CLibUV
import Foundation
import Glibc

/// A role process started by `Launcher`.
public struct LaunchedProcess: Sendable {
    public var pid: Int32
    /// The port it listens on, from its READY line.
    public var port: Int
    /// The node ID a raylet got (0 for the GCS).
    public var node: UInt32
    /// Its stderr log.
    public var logPath: String
}

/// Starts role processes.
public enum Launcher {
    /// Write ends of embedded children's stdin pipes: held open while this process lives.
    nonisolated(unsafe) static var parentPipes: [Int32] = []

    /// Spawns `executable` with `environment` added to this process's, and waits for its READY line.
    /// - Parameters:
    ///   - exitWithParent: the child exits when this process does (its stdin is a pipe we hold).
    ///   - detach: the child gets its own session (it survives the terminal; `swiftray start`).
    /// - `wrapper`: a command prefix (e.g. `ip netns exec NS`) the executable runs under.
    public static func spawn(executable: String, role: String, environment extra: [String], logPath: String,
                             exitWithParent: Bool, detach: Bool, wrapper: [String] = [],
                             timeoutSeconds: Double = 15) throws(RuntimeError) -> LaunchedProcess {
        var stdinPipe: [Int32] = [-1, -1], stdoutPipe: [Int32] = [-1, -1]
        guard closeOnExecPipe(&stdoutPipe) else { throw RuntimeError("pipe: \(String(cString: strerror(errno)))") }
        if exitWithParent, !closeOnExecPipe(&stdinPipe) {
            throw RuntimeError("pipe: \(String(cString: strerror(errno)))")
        }
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw RuntimeError("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(logFD) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if exitWithParent {
            posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        // Nothing else of ours leaks into the child: a detached daemon holding, say, the pipe
        // a script reads our output from would keep that script waiting forever.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with no signal blocked, whatever the spawning thread blocks (test
        // runners' and Dispatch's threads block most): a raylet with SIGCHLD blocked never
        // reaps its workers, which stay zombies.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK) | (detach ? posixSpawnSetsid : 0))

        let environment = currentEnvironment().filter { entry in
            !entry.hasPrefix("SWIFTRAY_ROLE=") && !extra.contains { entry.hasPrefix($0.prefix { $0 != "=" } + "=") }
        } + ["SWIFTRAY_ROLE=\(role)"] + extra + (exitWithParent ? ["SWIFTRAY_EXIT_WITH_PARENT=1"] : [])
        let command = wrapper + [executable]
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        close(stdoutPipe[1])
        if exitWithParent { close(stdinPipe[0]) }
        guard status == 0 else {
            close(stdoutPipe[0])
            throw RuntimeError("cannot start the \(role) (\(executable)): \(String(cString: strerror(status)))")
        }
        if exitWithParent { parentPipes.append(stdinPipe[1]) }
        defer { close(stdoutPipe[0]) }
        guard let line = readLine(fd: stdoutPipe[0], timeoutSeconds: timeoutSeconds) else {
            kill(pid, SIGKILL)
            var ignored: Int32 = 0
            waitpid(pid, &ignored, 0)
            throw RuntimeError("the \(role) did not start: \(tail(of: logPath))")
        }
        let fields = line.split(separator: " ")
        guard fields.count == 3, fields[0] == "SWIFTRAY-READY", let port = Int(fields[1]), let node = UInt32(fields[2]) else {
            throw RuntimeError("the \(role) printed '\(line)' instead of its READY line")
        }
        return LaunchedProcess(pid: pid, port: port, node: node, logPath: logPath)
    }

    /// Reads one line from `fd`, or nil at end of stream or timeout.
    static func readLine(fd: Int32, timeoutSeconds: Double) -> String? {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(remaining * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            var byte: UInt8 = 0
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }

    /// The last lines of a log file, for error messages.
    static func tail(of path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty else {
            return "it exited without output (log: \(path))"
        }
        let lines = text.split(separator: "\n").suffix(5).joined(separator: "\n")
        return "\(lines)\n(log: \(path))"
    }
}

/// glibc's POSIX_SPAWN_SETSID (not exported to Swift).
let posixSpawnSetsid: Int16 = 0x80

/// A pipe whose ends are closed in children unless dup2'ed.
func closeOnExecPipe(_ fds: inout [Int32]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}

