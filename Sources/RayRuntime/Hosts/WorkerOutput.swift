// Worker output, as Ray's log_to_driver: a raylet gives each worker a pipe for
// stdout and one for stderr and reads them on its loop. The worker's C stdio
// streams are replaced by line-buffered ones whose first write after a task
// starts is preceded by a marker line naming the task ("\u{1E}task square[12]"),
// so the raylet knows which task printed a line without any per-task cost
// when a task prints nothing. The raylet stores the lines per job
// (`<session>/logs/job-<n>-<node>.out`), keeps each worker's last lines of
// stderr for its crash report, and streams them to the job's driver, which
// prints them prefixed with the task and node: `(square[12], node-2) text`.
//
// Writes that bypass C stdio (`FileHandle.standardError.write`, `write(2)`,
// the Swift runtime's crash messages) reach the raylet too, without a marker:
// they are attributed to the newest task that printed through stdio on either
// stream (markers carry a generation number), or to the worker itself.

import CLibUV
import Glibc
import Synchronization
import RayCore

/// The worker side: which task is running, and the stdio streams that name it.
enum OutputMarkers {
    struct State {
        var generation = 0
        var function: String?
        var instance = 0
        /// The generation each stream (1 stdout, 2 stderr) last named.
        var marked = (0, 0)
    }
    static let state = Mutex(State())
    nonisolated(unsafe) static var installed = false
    /// The marker line's first byte (ASCII record separator: never in ordinary output).
    static let markerByte: UInt8 = 0x1E

    /// Replaces stdout and stderr with line-buffered streams that mark task changes
    /// (only when the raylet captures this worker's output).
    static func install() {
        var functions = swiftray_cookie_functions()
        functions.write = { cookie, buffer, size in
            let fd = Int32(Int(bitPattern: cookie))
            if let marker = OutputMarkers.marker(for: fd) {
                marker.withUnsafeBytes { OutputMarkers.writeAll(fd, $0.baseAddress!, $0.count) }
            }
            guard let buffer, size > 0 else { return 0 }
            OutputMarkers.writeAll(fd, buffer, size)
            return size
        }
        swiftray_flush_stdio()
        let start = [markerByte] + Array("task 0 \n".utf8)
        for fd: Int32 in [1, 2] {
            // What came before (the program's code up to Ray.start()) is the worker's start-up.
            start.withUnsafeBytes { writeAll(fd, $0.baseAddress!, $0.count) }
            guard let file = swiftray_fopencookie(UnsafeMutableRawPointer(bitPattern: Int(fd)), "w", functions) else {
                continue
            }
            setvbuf(file, nil, _IOLBF, 0)
            swiftray_replace_stdio(fd == 1 ? file : nil, fd == 2 ? file : nil)
        }
        installed = true
    }

    /// A task body starts running on this worker.
    static func begin(_ function: String, instance: Int) {
        guard installed else { return }
        state.withLock { state in
            state.generation += 1
            state.function = function
            state.instance = instance
        }
    }

    /// The task body returned: later output belongs to the worker.
    static func end() {
        guard installed else { return }
        swiftray_flush_stdio()
        // A task that printed named itself on the stream it printed on: close that attribution at
        // once, so a later task's writes past stdio are not taken for this one's. (One write per
        // printing task; a task that prints nothing costs nothing.)
        let printed = state.withLock { state -> (Bool, Bool) in
            let printed = (state.marked.0 == state.generation, state.marked.1 == state.generation)
            state.generation += 1
            state.function = nil
            return printed
        }
        if printed.0, let marker = marker(for: 1) { marker.withUnsafeBytes { writeAll(1, $0.baseAddress!, $0.count) } }
        if printed.1, let marker = marker(for: 2) { marker.withUnsafeBytes { writeAll(2, $0.baseAddress!, $0.count) } }
    }

    /// The marker to write before output on `fd`, if the task changed since its last one.
    static func marker(for fd: Int32) -> [UInt8]? {
        state.withLock { state -> [UInt8]? in
            let last = fd == 1 ? state.marked.0 : state.marked.1
            guard last != state.generation else { return nil }
            if fd == 1 { state.marked.0 = state.generation } else { state.marked.1 = state.generation }
            let name = state.function.map { "\($0)[\(state.instance)]" } ?? ""
            return [markerByte] + Array("task \(state.generation) \(name)\n".utf8)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) {
        var done = 0
        while done < count {
            let wrote = write(fd, bytes + done, count - done)
            if wrote < 0 {
                if errno == EINTR { continue }
                return
            }
            done += wrote
        }
    }
}

/// The raylet side: one worker's two pipes, read on the loop and split into lines.
final class WorkerOutput {
    enum Stream: UInt8 {
        case stdout = 1, stderr = 2
    }
    /// A line and the task that printed it (nil: the worker itself, outside any task).
    struct Line {
        var task: String?
        var text: String
        /// Printed before the worker started serving (the program's code up to Ray.start()).
        var startup = false
    }

    final class Pipe {
        let fd: Int32
        let stream: Stream
        var poll: UnsafeMutablePointer<uv_poll_t>?
        var partial: [UInt8] = []
        /// The task its last marker named, and that marker's generation.
        var task: String?
        var generation = 0
        var started = false
        weak var owner: WorkerOutput?
        init(fd: Int32, stream: Stream) {
            self.fd = fd
            self.stream = stream
        }
    }

    let worker: WorkerID
    let job: JobID
    /// The write ends, for the child's fd 1 and 2 (closed here once it is spawned).
    private(set) var childFDs: (Int32, Int32)
    private var pipes: [Pipe] = []
    /// The newest marker on either stream: output written past C stdio (FileHandle.standardError,
    /// write(2)) carries no marker of its own and belongs to the newest task that printed.
    private var latest: (generation: Int, task: String?) = (0, nil)
    /// The last lines the worker wrote to stderr (for its crash report).
    private(set) var tail: [String] = []
    static let tailLines = 20
    /// A line longer than this is cut into pieces.
    static let maxLineBytes = 16 * 1024
    var deliver: (Stream, [Line]) -> Void = { _, _ in }

    /// Opens the two pipes; throws when the system is out of descriptors.
    init(worker: WorkerID, job: JobID) throws(RuntimeError) {
        self.worker = worker
        self.job = job
        var ends: [Int32] = []
        for stream in [Stream.stdout, .stderr] {
            var fds: [Int32] = [0, 0]
            guard pipe2(&fds, O_CLOEXEC) == 0 else {
                let reason = String(cString: strerror(errno))
                for fd in ends { close(fd) }
                for pipe in pipes { close(pipe.fd) }
                throw RuntimeError("cannot capture the output of \(worker): pipe: \(reason)")
            }
            _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
            pipes.append(Pipe(fd: fds[0], stream: stream))
            ends.append(fds[1])
        }
        childFDs = (ends[0], ends[1])
    }

    /// The child has its copies of the write ends: close ours and start reading.
    func start(loop: EventLoop) {
        close(childFDs.0)
        close(childFDs.1)
        childFDs = (-1, -1)
        for pipe in pipes {
            pipe.owner = self
            let poll = UnsafeMutablePointer<uv_poll_t>.allocate(capacity: 1)
            guard uv_poll_init(loop.raw, poll, pipe.fd) == 0 else {
                poll.deallocate()
                continue
            }
            poll.pointee.data = Unmanaged.passUnretained(pipe).toOpaque()
            pipe.poll = poll
            uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { poll, _, _ in
                guard let data = poll?.pointee.data else { return }
                let pipe = Unmanaged<Pipe>.fromOpaque(data).takeUnretainedValue()
                pipe.owner?.readAll()
            }
        }
    }

    /// Reads stdout, then stderr: a marker the worker wrote on stdout before a line on stderr is
    /// seen first.
    private func readAll() {
        for pipe in pipes { read(pipe, final: false) }
    }

    /// The process exited: read what is left in the pipes and close them.
    func finish() {
        for pipe in pipes { read(pipe, final: true) }
        for pipe in pipes { stop(pipe) }
        pipes = []
    }

    /// Closes everything without reading (the process never started).
    func discard() {
        if childFDs.0 >= 0 {
            close(childFDs.0)
            close(childFDs.1)
            childFDs = (-1, -1)
        }
        for pipe in pipes { stop(pipe) }
        pipes = []
    }

    private func stop(_ pipe: Pipe) {
        if let poll = pipe.poll {
            pipe.poll = nil
            uv_poll_stop(poll)
            poll.withMemoryRebound(to: uv_handle_t.self, capacity: 1) { handle in
                uv_close(handle) { $0?.withMemoryRebound(to: uv_poll_t.self, capacity: 1) { $0.deallocate() } }
            }
        }
        if pipe.fd >= 0 { close(pipe.fd) }
    }

    /// One read buffer for every worker: a raylet reads its pipes on its loop thread only.
    nonisolated(unsafe) private static var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// Reads what the pipe holds; `final`: also hands over an unterminated last line.
    private func read(_ pipe: Pipe, final: Bool) {
        var lines: [Line] = []
        var ended = false
        while true {
            let count = Self.buffer.withUnsafeMutableBytes { Glibc.read(pipe.fd, $0.baseAddress, $0.count) }
            if count > 0 {
                split(pipe, Self.buffer[0..<count], into: &lines)
                if count < Self.buffer.count { break }
            } else if count == 0 {
                ended = true
                break
            } else if errno == EINTR {
                continue
            } else {
                break  // EAGAIN: all read for now.
            }
        }
        if (final || ended) && !pipe.partial.isEmpty {
            lines.append(Line(task: attribution(pipe), text: String(decoding: pipe.partial, as: UTF8.self),
                              startup: !pipe.started))
            pipe.partial = []
        }
        if ended, let poll = pipe.poll { uv_poll_stop(poll) }
        guard !lines.isEmpty else { return }
        if pipe.stream == .stderr {
            for line in lines { keepForCrashReport(line.text) }
        }
        deliver(pipe.stream, lines)
    }

    /// Whether the Swift runtime's backtracer is printing (after "*** Signal N: Backtracing").
    private var inBacktrace = false
    private var backtraceFrames = 0

    /// Keeps the last lines of stderr; of a Swift backtrace only the crash line and the first
    /// frames (its registers and image list would push out the error that caused it).
    private func keepForCrashReport(_ text: String) {
        if text.hasPrefix("*** Signal ") && text.contains("Backtracing") {
            inBacktrace = true
            backtraceFrames = 0
            return
        }
        if inBacktrace {
            let trimmed = text.drop { $0 == " " }
            if text.hasPrefix("*** Program crashed") {
                tail.append(text)
            } else if let first = trimmed.first, first.isNumber, backtraceFrames < 8 {
                backtraceFrames += 1
                tail.append(text)
            } else {
                return
            }
        } else if !text.isEmpty {
            tail.append(text)
        }
        if tail.count > Self.tailLines { tail.removeFirst(tail.count - Self.tailLines) }
    }

    private func split(_ pipe: Pipe, _ bytes: ArraySlice<UInt8>, into lines: inout [Line]) {
        var rest = bytes[...]
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            let piece = rest[rest.startIndex..<newline]
            rest = rest[(newline + 1)...]
            if pipe.partial.isEmpty {
                line(pipe, piece, into: &lines)
            } else {
                pipe.partial.append(contentsOf: piece)
                let whole = pipe.partial
                pipe.partial = []
                line(pipe, whole[...], into: &lines)
            }
        }
        pipe.partial.append(contentsOf: rest)
        while pipe.partial.count > Self.maxLineBytes {
            lines.append(Line(task: attribution(pipe), text: String(decoding: pipe.partial.prefix(Self.maxLineBytes), as: UTF8.self),
                              startup: !pipe.started))
            pipe.partial.removeFirst(Self.maxLineBytes)
        }
    }

    private static let marker = [OutputMarkers.markerByte] + Array("task ".utf8)

    private func line(_ pipe: Pipe, _ bytes: ArraySlice<UInt8>, into lines: inout [Line]) {
        let marker = Self.marker
        if bytes.first == OutputMarkers.markerByte, bytes.starts(with: marker) {
            let words = String(decoding: bytes.dropFirst(marker.count), as: UTF8.self).split(separator: " ", maxSplits: 1)
            let name = words.count > 1 ? String(words[1]) : ""
            pipe.task = name.isEmpty ? nil : name
            pipe.generation = words.first.flatMap { Int($0) } ?? 0
            pipe.started = true
            if pipe.generation >= latest.generation { latest = (pipe.generation, pipe.task) }
            return
        }
        lines.append(Line(task: attribution(pipe), text: String(decoding: bytes, as: UTF8.self), startup: !pipe.started))
    }

    private func attribution(_ pipe: Pipe) -> String? {
        latest.generation > pipe.generation ? latest.task : pipe.task
    }
}

/// How a worker process ended, in words: "exited with status 3", "killed by signal 9 (SIGKILL)".
func describeExit(status: Int64, signal: Int32) -> String {
    if signal != 0 {
        let name = String(cString: strsignal(signal))
        return "killed by signal \(signal) (\(name))"
    }
    return "exited with status \(status)"
}
