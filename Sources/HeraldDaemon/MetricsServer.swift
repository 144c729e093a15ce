import Glibc
import HeraldCore
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Serves `GET /metrics` on `[metrics] listen` for Prometheus. A minimal HTTP/1.1 server
/// (`RequestServer`): one request per connection (`Connection: close`), requests of at
/// most 8 KiB, 2 s from connect to the last byte of the answer, 16 clients at once.
/// Scrapes are rare and small; nothing here needs more.
final class MetricsServer: Service, Sendable {
    let listen: HostPort
    private let fd: Int32
    private let loop = ThreadLoop("metrics")
    private let render: @Sendable () -> String
    private let logger: Logger
    let heartbeat = Heartbeat("metrics")

    init(listen: HostPort, logger: Logger, render: @escaping @Sendable () -> String) throws(SystemError) {
        guard let address = UDPSocket.resolve(listen) else {
            throw SystemError("metrics.listen \(listen) does not resolve", errno: 0)
        }
        let family = address.ip.isIPv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("metrics socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = UDPSocket.sockaddr(address)
        let length = socklen_t(address.ip.isIPv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw SystemError("cannot listen for metrics on \(listen)", errno: code)
        }
        self.listen = listen
        self.fd = fd
        self.render = render
        self.logger = logger
    }

    func run() async throws {
        let server = RequestServer(listening: fd, settings: .init(requestLimit: 8192), heartbeat: heartbeat,
                                   isComplete: HTTPRequestLine.isComplete, respond: { [self] in respond(to: $0) })
        logger.info("metrics on http://\(listen)/metrics")
        await loop.run { [loop] in server.serve(loop) }
        close(fd)
    }

    private func respond(to request: [UInt8]) -> [UInt8] {
        let line = HTTPRequestLine.parse(request)
        let reply: (status: String, type: String, body: String)
        switch line {
        case .some(let line) where line.method != "GET" && line.method != "HEAD":
            reply = ("405 Method Not Allowed", "text/plain", "only GET\n")
        case .some(let line) where line.path == "/metrics" || line.path.hasPrefix("/metrics?"):
            reply = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render())
        case .some(let line) where line.path == "/":
            reply = ("200 OK", "text/html", "<html><body><a href=\"/metrics\">metrics</a></body></html>\n")
        case .some:
            reply = ("404 Not Found", "text/plain", "not found; try /metrics\n")
        case .none:
            reply = ("400 Bad Request", "text/plain", "bad request\n")
        }
        let head = "HTTP/1.1 \(reply.status)\r\nContent-Type: \(reply.type)\r\nContent-Length: \(reply.body.utf8.count)\r\nConnection: close\r\n\r\n"
        return Array((line?.method == "HEAD" ? head : head + reply.body).utf8)
    }
}

/// The first line of an HTTP/1.x request, parsed leniently but bounded.
struct HTTPRequestLine: Equatable {
    var method: String
    var path: String

    /// Whether the header block has ended (a blank line).
    static func isComplete(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && (0...(bytes.count - 4)).contains { index in
            bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10
        } || bytes.count >= 2 && (0...(bytes.count - 2)).contains { bytes[$0] == 10 && bytes[$0 + 1] == 10 }
    }

    static func parse(_ bytes: [UInt8]) -> HTTPRequestLine? {
        guard let end = bytes.firstIndex(of: 10) else { return nil }
        let line = String(decoding: bytes[..<end], as: UTF8.self).trimmingWhitespace
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else { return nil }
        return HTTPRequestLine(method: String(parts[0]), path: String(parts[1]))
    }
}
