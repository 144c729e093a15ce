import Glibc
import HeraldControl
import HeraldSystem
import Logging
import ServiceLifecycle
import Synchronization

/// The root-only unix socket `heraldctl` talks to: one command line per connection, the
/// JSON answer the handler builds, then close (`RequestServer`, on a thread of its own).
public final class ControlServer: Service, Sendable {
    public typealias Handler = @Sendable (ControlRequest) -> [UInt8]

    let path: String
    private let listenFD: Int32
    private let handler: Handler
    private let loop = ThreadLoop("control")
    private let logger: Logger
    /// Beats once per turn of the serving loop, for the systemd watchdog.
    let heartbeat = Heartbeat("control")

    public init(path: String, logger: Logger, handler: @escaping Handler) throws(SystemError) {
        self.path = path
        self.handler = handler
        self.logger = logger
        if ControlClient.isListening(path) {
            throw SystemError("another heraldd is already listening on \(path)", errno: 0)
        }
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemError("\(path) exists and is not a socket; not replacing it", errno: 0)
            }
            unlink(path)
        }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty && !System.fileExists(directory) {
            guard mkdir(directory, 0o750) == 0 else { throw SystemError("cannot create \(directory)", errno: errno) }
        }
        var address = try ControlClient.socketAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)", errno: errno) }
        // Created 0600 (no window where others could connect), then only root can talk to us.
        let previous = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previous)
        guard bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw SystemError("cannot listen on \(path)", errno: code)
        }
        listenFD = fd
    }

    public func run() async throws {
        let server = RequestServer(
            listening: listenFD, settings: .init(requestLimit: 1024), heartbeat: heartbeat,
            isComplete: { $0.contains(UInt8(ascii: "\n")) }, respond: { [self] request in answer(request) })
        await loop.run { [loop] in server.serve(loop) }
        close(listenFD)
        unlink(path)
    }

    private func answer(_ request: [UInt8]) -> [UInt8] {
        let line = String(decoding: request.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        if let request = ControlRequest(line: line.trimmingWhitespace) { return handler(request) }
        logger.debug("unknown control command", metadata: ["command": "\(line.prefix(64))"])
        return controlReply(ControlErrorReply(error: "unknown command '\(line.prefix(64))'; known: \(ControlRequest.usage)"))
    }
}
