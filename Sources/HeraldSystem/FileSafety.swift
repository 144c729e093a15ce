import Glibc
import HeraldCore

/// Who may read and who may change the files a config relies on: the users heraldd and
/// its checks run as, and the ownership of files whose contents become commands.
package enum FileSafety {
    /// A user of this host by name, with its groups; `nil` when there is none.
    package static func user(named name: String) -> UserIdentity? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return identity(entry, name: name)
    }

    /// The user this process runs as.
    package static func currentUser() -> UserIdentity {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(geteuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil {
            return identity(entry, name: String(cString: entry.pw_name))
        }
        return UserIdentity(name: "uid \(geteuid())", uid: geteuid(), gid: getegid())
    }

    private static func identity(_ entry: passwd, name: String) -> UserIdentity {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, entry.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, entry.pw_gid, &groups, &count)
        }
        return UserIdentity(name: name, uid: entry.pw_uid, gid: entry.pw_gid, groups: Array(groups.prefix(Int(max(count, 0)))))
    }

    /// Why `user` cannot read the file `info` describes (mode bits as its owner, group or
    /// others), or `nil` when it can. Root reads everything.
    package static func unreadable(_ info: stat, by user: UserIdentity) -> String? {
        if user.uid == 0 { return nil }
        let mode = info.st_mode
        let allowed = info.st_uid == user.uid ? mode & 0o400 != 0
            : user.groups.contains(info.st_gid) ? mode & 0o040 != 0 : mode & 0o004 != 0
        return allowed ? nil : "heraldd runs as user \(user.name), who cannot read it (owner uid \(info.st_uid), mode \(String(mode & 0o777, radix: 8)))"
    }

    /// Why others than root could change what `path` holds: the file or a directory above
    /// it owned by someone else or writable by group or others (a sticky directory such as
    /// /tmp protects the files in it); `nil` when only root can.
    package static func changeableByOthers(_ path: String) -> String? {
        var current = path
        while true {
            var info = stat()
            guard stat(current, &info) == 0 else { return "\(current) cannot be examined: \(System.errorString(errno))" }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            let what = current == path ? "it" : "its directory \(current)"
            if info.st_uid != 0 { return "\(what) is owned by uid \(info.st_uid), not root" }
            if info.st_mode & 0o022 != 0 && !(isDirectory && info.st_mode & S_ISVTX != 0) {
                return "\(what) can be changed by group or others (mode \(String(info.st_mode & 0o7777, radix: 8)))"
            }
            guard current != "/", let slash = current.lastIndex(of: "/") else { return nil }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
    }

    /// The absolute path of a file relative to the working directory, for the ownership walk.
    package static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let directory = String(cBuffer: buffer)
        return (directory == "/" ? "" : directory) + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }
}
