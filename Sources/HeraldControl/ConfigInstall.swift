import CLinux
import FoundationEssentials
import Glibc
import HeraldCore
import HeraldSystem

/// Puts a new config in place the way a rollout should: `herald.toml` and `pools.d/*.toml`
/// from a source directory (a checkout of a host's configs) are copied next to the running
/// ones, checked there as heraldd would check them at start, then swapped in — the
/// `pools.d` directory in one exchange, `herald.toml` in one rename — and heraldd is asked
/// to reload. If the check fails nothing is installed; if heraldd refuses the reload the old
/// files are put back, so what is on disk is always what runs (and what the next boot runs).
/// `heraldctl apply` and the pull sync use it.
package enum ConfigInstall {
    package enum Outcome: Equatable {
        /// The files on disk already are the source's.
        case unchanged
        /// Installed; heraldd's reload verdict message, or nil when it was not asked.
        case installed(String?)
        /// Installed, but heraldd is not running to reload.
        case installedNotRunning
    }

    package struct Failure: Error, CustomStringConvertible {
        /// The problems, one per line (`FILE:LINE: key: message` for config errors).
        package var lines: [String]
        /// 78 when the config is invalid, 1 otherwise (heraldd refused, or a file operation failed).
        package var status: Int32

        package var description: String { lines.joined(separator: "\n") }
    }

    /// Installs `source`/herald.toml and `source`/pools.d/*.toml as `target` (a main
    /// config path such as /etc/herald/herald.toml) and its pools.d; reloads heraldd through
    /// `socket` unless `reload` is false.
    package static func apply(source: String, target: String, socket: String, reload: Bool = true,
                              serviceUser: UserIdentity?) throws(Failure) -> Outcome {
        let directory = target.contains("/") ? String(target[..<target.lastIndex(of: "/")!]) : "."
        let sourcePools = "\(source)/pools.d"
        let files: [(name: String, text: String)]
        do {
            files = [("herald.toml", try System.readFile("\(source)/herald.toml"))]
                + (try System.listDirectory(sourcePools).filter { $0.hasSuffix(".toml") }.map { name throws(SystemError) in
                    ("pools.d/\(name)", try System.readFile("\(sourcePools)/\(name)"))
                })
        } catch {
            throw Failure(lines: ["\(error)"], status: 1)
        }
        if current(target: target, directory: directory) == Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.text) }) {
            return .unchanged
        }

        // Staged next to the target: the same file system, so the swaps below are renames.
        var template = Array("\(directory)/.herald-apply.XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw Failure(lines: ["cannot stage in \(directory): \(System.errorString(errno))"], status: 1) }
        let stage = String(cBuffer: template)
        defer { removeTree(stage) }
        chmod(stage, 0o755)
        do {
            mkdir("\(stage)/pools.d", 0o755)
            for file in files { try System.writeFileAtomically("\(stage)/\(file.name)", file.text, mode: 0o644) }
        } catch {
            throw Failure(lines: ["\(error)"], status: 1)
        }

        if case .failure(let errors) = ConfigLoader.load(path: "\(stage)/herald.toml", serviceUser: serviceUser) {
            // Named as the source files, which is where they are to be fixed.
            throw Failure(lines: errors.errors.map { $0.description.replacing(stage, with: source) }
                          + ["nothing installed: \(target) and its pools.d are as they were"], status: ConfigLoader.exitStatus)
        }

        let pools = "\(directory)/pools.d"
        let previous = "\(stage)/herald.toml.previous"
        let hadPools = System.fileExists(pools)
        let hadMain = System.fileExists(target)
        func swapPools() -> Bool {
            hadPools ? renameat2(AT_FDCWD, "\(stage)/pools.d", AT_FDCWD, pools, 2) == 0 : rename("\(stage)/pools.d", pools) == 0
        }
        guard !hadMain || link(target, previous) == 0 else {
            throw Failure(lines: ["cannot keep \(target) for a rollback: \(System.errorString(errno))"], status: 1)
        }
        guard swapPools() else { throw Failure(lines: ["cannot install \(pools): \(System.errorString(errno))"], status: 1) }
        guard rename("\(stage)/herald.toml", target) == 0 else {
            let code = errno
            _ = hadPools ? renameat2(AT_FDCWD, "\(stage)/pools.d", AT_FDCWD, pools, 2) : rename(pools, "\(stage)/pools.d")
            throw Failure(lines: ["cannot install \(target): \(System.errorString(code))"], status: 1)
        }
        guard reload else { return .installed(nil) }
        guard ControlClient.isListening(socket) else { return .installedNotRunning }

        let verdict: ReloadReport
        do {
            let raw = try ControlClient.request(.reload, path: socket)
            verdict = try JSONDecoder().decode(ReloadReport.self, from: Data(raw))
        } catch {
            return .installed("heraldd did not answer the reload: \(error); check journalctl -u herald")
        }
        if verdict.applied { return .installed(verdict.message) }
        // Put the old files back: the next start must not meet what heraldd refused.
        var rollback: [String] = []
        if hadMain { if rename(previous, target) != 0 { rollback.append("cannot restore \(target): \(System.errorString(errno))") } } else { unlink(target) }
        let restored = hadPools ? renameat2(AT_FDCWD, "\(stage)/pools.d", AT_FDCWD, pools, 2) == 0 : rename(pools, "\(stage)/pools.d") == 0
        if !restored { rollback.append("cannot restore \(pools): \(System.errorString(errno))") }
        throw Failure(lines: verdict.errors + ["heraldd: \(verdict.message)"]
                      + (rollback.isEmpty ? ["the previous files are back in place"] : rollback), status: 1)
    }

    /// The config files now in place, by name relative to the directory.
    private static func current(target: String, directory: String) -> [String: String] {
        var files: [String: String] = [:]
        files["herald.toml"] = try? System.readFile(target)
        for name in System.listDirectory("\(directory)/pools.d") where name.hasSuffix(".toml") {
            files["pools.d/\(name)"] = try? System.readFile("\(directory)/pools.d/\(name)")
        }
        return files
    }

    /// Removes a staging directory: its files and its pools.d (no deeper).
    private static func removeTree(_ path: String) {
        for name in System.listDirectory("\(path)/pools.d") { unlink("\(path)/pools.d/\(name)") }
        rmdir("\(path)/pools.d")
        for name in System.listDirectory(path) { unlink("\(path)/\(name)") }
        rmdir(path)
    }
}
