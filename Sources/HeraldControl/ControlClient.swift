import Glibc
import HeraldSystem

/// The client side, used by `heraldctl`.
public enum ControlClient {
    public static let defaultPath = "/run/herald/herald.sock"

    package static func socketAddress(_ path: String) throws(SystemError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SystemError("socket path \(path) is too long", errno: 0) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }

    package static func connectSocket(_ path: String) throws(SystemError) -> Int32 {
        var address = try socketAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)", errno: errno) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw SystemError("cannot connect to heraldd at \(path) (is it running? are you root?)", errno: code)
        }
        return fd
    }

    package static func isListening(_ path: String) -> Bool {
        guard let fd = try? connectSocket(path) else { return false }
        close(fd)
        return true
    }

    /// Sends one command and returns the raw JSON answer.
    public static func request(_ command: ControlRequest, path: String = defaultPath) throws(SystemError) -> [UInt8] {
        let fd = try connectSocket(path)
        defer { close(fd) }
        // A reload reads, checks and applies a whole config before it answers.
        var timeout = timeval(tv_sec: command == .reload ? 60 : 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = Array((command.line + "\n").utf8)
        guard send(fd, line, line.count, Int32(MSG_NOSIGNAL)) == line.count else {
            throw SystemError("writing to heraldd", errno: errno)
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while reply.count < 16 << 20 {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 { throw SystemError("reading from heraldd", errno: errno) }
            if count == 0 { break }
            reply += buffer[..<count]
        }
        return reply
    }
}
