import CConfine
import Glibc
import HeraldCore
import HeraldSystem

/// How one run of a health check ended: passed, or why not, in words for the journal and
/// `heraldctl explain`.
enum CheckOutcome: Equatable, Sendable {
    case passed
    case failed(String)

    var passed: Bool { self == .passed }
}

/// A health check's command, run the way keepalived's `enable_script_security` would want:
/// `/bin/sh -c COMMAND` as the check user (`node.check_user`), in a process group of its
/// own that is killed as a whole when it is done or late, with PATH and the VIP it checks
/// as its only environment, without any capability, real-time priority or nice limit of
/// heraldd's, and without any of its descriptors (`herald_spawn_confined`).
enum ConfinedCommand {
    static let shell = "/bin/sh"
    /// The most of a command's standard error that is read: its first line goes to the journal.
    static let stderrLimit = 64 << 10

    /// Runs `command` until it exits, `timeout` passes, or `wake` (when given) becomes
    /// readable and `stopping()` says so.
    static func run(_ command: String, as user: UserIdentity?, timeout: Duration, environment: [String], wake: Int32? = nil,
                    stopping: () -> Bool = { false }) -> CheckOutcome {
        guard let user else { return .failed("cannot start: no check user (node.check_user) on this host") }
        var pipeFDs: [Int32] = [0, 0]
        guard herald_stderr_pipe(&pipeFDs) == 0 else { return .failed("cannot start: pipe: \(System.errorString(errno))") }
        let stderrFD = pipeFDs[0]
        defer { close(stderrFD) }
        let words: [String] = [shell, "-c", command]
        var argv = words.map { strdup($0) } + [nil]
        var envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var failure = herald_spawn_failure()
        let pid = herald_spawn_confined(shell, &argv, &envp, user.uid == geteuid() ? 0 : 1, user.uid, user.gid, pipeFDs[1], &failure)
        close(pipeFDs[1])
        guard pid > 0 else { return .failed("cannot start as user \(user.name): \(describe(failure))") }
        defer { kill(-pid, SIGKILL) }

        var firstLine: [UInt8] = []
        var lineDone = false
        var readTotal = 0
        var stderrOpen = true
        func readStandardError() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while stderrOpen && readTotal < stderrLimit {
                let count = read(stderrFD, &buffer, buffer.count)
                if count == 0 { stderrOpen = false }
                guard count > 0 else { return }
                readTotal += count
                for byte in buffer[..<count] where !lineDone {
                    if byte == UInt8(ascii: "\n") || firstLine.count >= 200 { lineDone = true } else { firstLine.append(byte) }
                }
            }
        }
        func withStderr(_ text: String) -> String {
            let line = String(decoding: firstLine, as: UTF8.self).trimmingWhitespace
            return line.isEmpty ? text : "\(text): \(line)"
        }

        let exited = herald_pidfd_open(pid)
        defer { if exited >= 0 { close(exited) } }
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while true {
            if waitpid(pid, &status, WNOHANG) == pid {
                readStandardError()
                if status & 0x7F == 0 {
                    let code = (status >> 8) & 0xFF
                    return code == 0 ? .passed : .failed(withStderr("exit status \(code)"))
                }
                return .failed(withStderr("killed by signal \(status & 0x7F)"))
            }
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero || stopping() { break }
            // Without a pidfd (a kernel before 5.3), look again every 50 ms.
            // Past the limit its standard error is left unread: a command that writes on
            // blocks, and ends at its timeout.
            let reading = stderrOpen && readTotal < stderrLimit
            var fds = [pollfd(fd: exited, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: reading ? stderrFD : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake ?? -1, events: Int16(POLLIN), revents: 0)]
            let wait = exited >= 0 ? left : min(left, .milliseconds(50))
            if poll(&fds, nfds_t(fds.count), Int32(clamping: wait.milliseconds + 1)) > 0, fds[1].revents != 0 {
                readStandardError()
            }
        }
        kill(-pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        readStandardError()
        return stopping() ? .failed("stopped") : .failed(withStderr("timed out after \(timeout.configText)"))
    }

    private static func describe(_ failure: herald_spawn_failure) -> String {
        let step = switch Int(failure.stage) {
        case Int(HERALD_SPAWN_FORK.rawValue): "fork"
        case Int(HERALD_SPAWN_DESCRIPTORS.rawValue): "setting up its descriptors"
        case Int(HERALD_SPAWN_LIMITS.rawValue): "dropping real-time priority and limits"
        case Int(HERALD_SPAWN_GROUPS.rawValue): "dropping supplementary groups"
        case Int(HERALD_SPAWN_GID.rawValue): "switching group (heraldd needs CAP_SETGID, which the packaged unit grants)"
        case Int(HERALD_SPAWN_UID.rawValue): "switching user (heraldd needs CAP_SETUID, which the packaged unit grants)"
        case Int(HERALD_SPAWN_CAPABILITIES.rawValue): "dropping capabilities"
        case Int(HERALD_SPAWN_NO_NEW_PRIVILEGES.rawValue): "setting no_new_privs"
        default: "starting \(shell)"
        }
        return "\(step): \(System.errorString(failure.error))"
    }

    /// Fences what heraldd itself may ever become: from now on this thread, and every thread
    /// it starts, can switch only to `user` (nobody at all without one), whatever
    /// capabilities the process holds (`herald_pin_identity`). Call before any other thread
    /// starts. `nil`, or why it could not.
    static func pinIdentity(to user: UserIdentity?) -> String? {
        let threads = herald_thread_count()
        guard threads == 1 else { return "\(threads) threads run already; only the first would be fenced" }
        let result = herald_pin_identity(user?.uid ?? geteuid(), user?.gid ?? getegid())
        return result == 0 ? nil : System.errorString(result)
    }
}
