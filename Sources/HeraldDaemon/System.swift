import CLinux
import Glibc
import ServiceLifecycle
import Synchronization

/// Small POSIX helpers for the shell; the pure modules never call these.
enum System {
    static func readFile(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError("cannot read \(path)", errno: errno)
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= limit else { throw SystemError("\(path) is larger than \(limit) bytes", errno: 0) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces `path` with `contents` in one step: written to a temporary file in the same
    /// directory with `mode` (and `owner`, when given), flushed, then renamed over `path`,
    /// so a reader sees the old file or the new one, never half of one.
    static func writeFileAtomically(_ path: String, _ contents: String, mode: mode_t,
                                    owner: (uid: uid_t, gid: gid_t)? = nil) throws(SystemError) {
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("cannot create \(temporary)", errno: errno) }
        var written = true
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { written = false; break }
            offset += count
        }
        let code = errno
        let owned = owner.map { fchown(fd, $0.uid, $0.gid) == 0 } ?? true
        let synced = fsync(fd) == 0
        close(fd)
        guard written, owned, synced, rename(temporary, path) == 0 else {
            let failure = errno
            unlink(temporary)
            throw SystemError("cannot write \(path)", errno: written ? failure : code)
        }
    }

    /// The names in a directory, sorted; empty when it does not exist.
    static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cBuffer: buffer)
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    static func errorString(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Starts `arguments[0]` (a path) as the leader of a new process group (so it can be
    /// killed with everything it starts), with `environment` only, standard input and
    /// output on /dev/null, every other descriptor of the daemon closed, every signal
    /// unblocked and at its default action (the daemon ignores SIGPIPE and its threads may
    /// block signals: a child inherits both). `nil` if it cannot be started.
    static func spawn(_ arguments: [String], environment: [String]) -> pid_t? {
        var pid: pid_t = 0
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
        _ = withUnsafeMutablePointer(to: &actions) { posix_spawn_file_actions_addclosefrom_np($0, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var reset = sigset_t()
        sigemptyset(&reset)
        sigaddset(&reset, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &reset)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        guard posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, &envp) == 0 else { return nil }
        return pid
    }

    /// Writes all of `text` to a file descriptor, retrying short writes.
    static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let code: Int32

    init(_ message: String, errno code: Int32) {
        self.message = message
        self.code = code
    }

    public var description: String { code == 0 ? message : "\(message): \(System.errorString(code))" }
}

/// A thread of its own for blocking work (pcap, accept), so it never occupies the
/// cooperative pool. `join()` waits for it to finish.
final class DedicatedThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(name: String, _ body: @escaping () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            let this = Unmanaged<DedicatedThread>.fromOpaque(raw!).takeRetainedValue()
            this.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    func join() { pthread_join(thread, nil) }

    /// Lets the thread end on its own: nobody will join it.
    func detach() { pthread_detach(thread) }
}

/// A one-shot signal a thread sets and async code awaits, so waiting for a thread never
/// blocks the cooperative pool (as `pthread_join` would).
final class Completion: Sendable {
    private struct State {
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }
}

/// Parks the calling task until the service group shuts down (or the task is cancelled):
/// the body of a service whose work runs on threads of its own.
func untilShutdown() async {
    await withTaskCancellationHandler {
        try? await gracefulShutdown()
    } onCancel: {}
}

/// A non-blocking pipe used to wake a thread blocked in poll(): `fd` becomes readable
/// after `signal()`.
final class WakeSignal: @unchecked Sendable {
    let fd: Int32
    private let writeFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed")
        for descriptor in fds {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        fd = fds[0]
        writeFD = fds[1]
    }

    func signal() {
        var byte: UInt8 = 1
        _ = Glibc.write(writeFD, &byte, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(fd, &buffer, buffer.count) > 0 {}
    }

    /// Blocks the calling thread until signalled or `milliseconds` pass.
    func wait(milliseconds: Int32) {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, milliseconds)
        drain()
    }

    deinit {
        close(fd)
        close(writeFD)
    }
}

extension String {
    /// A string from a NUL-terminated C buffer such as libpcap's error buffer.
    init(cBuffer: [CChar]) {
        self.init(decoding: cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Plain output for the command-line tools (Swift 6 does not allow the C `stderr` global).
public enum Console {
    public static func error(_ line: String) { System.write(2, line + "\n") }
}

/// When a loop last came round, for the watchdog: each long-running thread beats once per
/// turn, and a turn is never longer than `Heartbeat.maximumWait`.
final class Heartbeat: Sendable {
    /// Loops cap their poll() timeouts to this, so an idle loop still beats.
    static let maximumWait: Int32 = 1000

    let name: String
    private let last: Atomic<Int64>

    init(_ name: String) {
        self.name = name
        last = Atomic(Self.monotonicNanoseconds())
    }

    func beat() { last.store(Self.monotonicNanoseconds(), ordering: .relaxed) }

    /// Time since the last beat.
    var age: Duration { .nanoseconds(Self.monotonicNanoseconds() - last.load(ordering: .relaxed)) }

    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
