import Glibc

/// A non-blocking pipe used to wake a thread blocked in poll(): `fd` becomes readable
/// after `signal()`.
package final class WakeSignal: @unchecked Sendable {
    package let fd: Int32
    private let writeFD: Int32

    package init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed")
        for descriptor in fds {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        fd = fds[0]
        writeFD = fds[1]
    }

    package func signal() {
        var byte: UInt8 = 1
        _ = Glibc.write(writeFD, &byte, 1)
    }

    package func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(fd, &buffer, buffer.count) > 0 {}
    }

    /// Blocks the calling thread until signalled or `milliseconds` pass (-1: no limit);
    /// whether it was signalled.
    @discardableResult
    package func wait(milliseconds: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, milliseconds)
        drain()
        return fds[0].revents != 0
    }

    deinit {
        close(fd)
        close(writeFD)
    }
}
