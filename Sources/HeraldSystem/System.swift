import CLinux
import Glibc

/// Small POSIX helpers for the two binaries; the pure modules never call these.
package enum System {
    package static func readFile(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> String {
        String(decoding: try readBytes(path, limit: limit), as: UTF8.self)
    }

    /// A file's bytes as they are (a secret need not be text).
    package static func readBytes(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> [UInt8] {
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
        return bytes
    }

    /// Replaces `path` with `contents` in one step: written to a temporary file in the same
    /// directory with `mode` (and `owner`, when given), flushed, then renamed over `path`,
    /// so a reader sees the old file or the new one, never half of one.
    package static func writeFileAtomically(_ path: String, _ contents: String, mode: mode_t,
                                    owner: (uid: uid_t, gid: gid_t)? = nil) throws(SystemError) {
        try writeFileAtomically(path, bytes: Array(contents.utf8), mode: mode, owner: owner)
    }

    package static func writeFileAtomically(_ path: String, bytes: [UInt8], mode: mode_t,
                                    owner: (uid: uid_t, gid: gid_t)? = nil) throws(SystemError) {
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("cannot create \(temporary)", errno: errno) }
        var written = true
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
    package static func listDirectory(_ path: String) -> [String] {
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

    package static func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Where `path` really is, every link followed; nil when it does not resolve.
    package static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    package static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cBuffer: buffer)
    }

    package static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    package static func errorString(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Writes all of `text` to a file descriptor, retrying short writes.
    package static func write(_ fd: Int32, _ text: String) {
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

    package init(_ message: String, errno code: Int32) {
        self.message = message
        self.code = code
    }

    public var description: String { code == 0 ? message : "\(message): \(System.errorString(code))" }
}

extension String {
    /// A string from a NUL-terminated C buffer such as libpcap's error buffer.
    package init(cBuffer: [CChar]) {
        self.init(decoding: cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Plain output for the command-line tools (Swift 6 does not allow the C `stderr` global).
public enum Console {
    public static func error(_ line: String) { System.write(2, line + "\n") }
}

