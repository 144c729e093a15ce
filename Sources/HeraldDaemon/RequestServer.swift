import CLinux
import Glibc

/// Serves a one-request-per-connection protocol (the control socket's command line, the
/// metrics endpoint's HTTP request) on a listening socket, from a thread of its own,
/// without letting any client hold it: connections are non-blocking and served side by
/// side (`maxClients` at once; more wait in the kernel's backlog), each lives at most
/// `deadline` from accept to its last byte, and the loop turns at least once a second
/// whatever clients do, so its heartbeat stays honest. A client that dribbles its request
/// a byte at a time, or never reads the answer, costs one slot for `deadline`, nothing
/// more.
final class RequestServer: @unchecked Sendable {
    struct Settings {
        /// The most a request may be, in bytes; a longer one is answered as it stands.
        var requestLimit: Int
        var deadline: Duration = .seconds(2)
        var maxClients = 16
    }

    private struct Client {
        var fd: Int32
        var deadline: ContinuousClock.Instant
        var request: [UInt8] = []
        /// Set once the request is complete: what is left to write.
        var reply: [UInt8]?
        var written = 0
    }

    private let listenFD: Int32
    private let settings: Settings
    private let heartbeat: Heartbeat?
    private let isComplete: ([UInt8]) -> Bool
    private let respond: ([UInt8]) -> [UInt8]

    /// `isComplete` says when a request has all it needs; `respond` turns it into the reply.
    init(listening fd: Int32, settings: Settings, heartbeat: Heartbeat?, isComplete: @escaping ([UInt8]) -> Bool,
         respond: @escaping ([UInt8]) -> [UInt8]) {
        listenFD = fd
        self.settings = settings
        self.heartbeat = heartbeat
        self.isComplete = isComplete
        self.respond = respond
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Serves until `loop` is stopped.
    func serve(_ loop: ThreadLoop) {
        var clients: [Client] = []
        defer { for client in clients { close(client.fd) } }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !loop.isStopping {
            heartbeat?.beat()
            let now = ContinuousClock.now
            clients.removeAll { client in
                guard now >= client.deadline else { return false }
                close(client.fd)
                return true
            }
            var fds = [pollfd(fd: clients.count < settings.maxClients ? listenFD : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: loop.wake.fd, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0.fd, events: Int16($0.reply == nil ? POLLIN : POLLOUT), revents: 0) }
            // Until the nearest client's deadline; with no client, until one connects.
            let timeout = clients.map(\.deadline).min().map { Int32(clamping: max(0, ContinuousClock.now.duration(to: $0).milliseconds + 1)) } ?? -1
            heartbeat?.willWait(milliseconds: timeout)
            guard poll(&fds, nfds_t(fds.count), timeout) >= 0 || errno == EINTR else { return }
            heartbeat?.beat()   // awake: what follows must come round within the limit
            if fds[1].revents != 0 { loop.wake.drain() }
            for (index, pfd) in fds.enumerated().dropFirst(2) where pfd.revents != 0 {
                step(&clients[index - 2], revents: pfd.revents, buffer: &buffer)
            }
            clients.removeAll { $0.fd < 0 }
            if fds[0].revents & Int16(POLLIN) != 0 {
                while clients.count < settings.maxClients {
                    let fd = accept4(listenFD, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                    guard fd >= 0 else { break }
                    clients.append(Client(fd: fd, deadline: .now + settings.deadline))
                }
            }
        }
    }

    /// Reads what a client sent or writes what it is owed; closes it (fd -1) when done.
    private func step(_ client: inout Client, revents: Int16, buffer: inout [UInt8]) {
        if client.reply == nil {
            let count = read(client.fd, &buffer, min(buffer.count, settings.requestLimit - client.request.count + 1))
            if count > 0 { client.request += buffer[..<count] }
            let ended = count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR)
            guard ended || isComplete(client.request) || client.request.count >= settings.requestLimit else { return }
            if ended && client.request.isEmpty {
                finish(&client)
                return
            }
            client.reply = respond(Array(client.request.prefix(settings.requestLimit)))
        }
        guard let reply = client.reply else { return }
        while client.written < reply.count {
            // MSG_NOSIGNAL: a client that hung up must not end the daemon with SIGPIPE.
            let count = reply[client.written...].withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                client.written += count
            } else if count < 0 && (errno == EAGAIN || errno == EINTR) {
                return
            } else {
                break
            }
        }
        finish(&client)
    }

    private func finish(_ client: inout Client) {
        close(client.fd)
        client.fd = -1
    }
}
