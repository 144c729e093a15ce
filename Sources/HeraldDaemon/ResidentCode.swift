import Glibc
import HeraldSystem

/// Keeps the code heraldd does not run out of its resident set.
///
/// heraldd's binary holds 19 MB of code (the Swift runtime, Foundation, BoringSSL, the
/// Kubernetes client), of which an idle daemon runs a small part. The kernel maps code
/// on a fault together with its neighbours (read-around, fault-around), so after start-up
/// about half of it was resident although most of it never runs again. heraldd therefore
/// asks the kernel, for its code mappings, not to read ahead (`MADV_RANDOM`), and once
/// it is ready unmaps the code pages mapped so far (`MADV_DONTNEED`): what the running
/// daemon uses faults back in (from the page cache, where the rest stays too, for the
/// kernel to keep or reclaim like any file data).
///
/// Only executable file mappings with no private copy of a page are dropped: their pages
/// were never written, so what faults back is what was there. Data, relocated read-only
/// data, the heap and the stacks are never touched.
enum ResidentCode {
    /// The executable (`r-xp`) file mappings of this process holding no anonymous (copied)
    /// page, from `/proc/self/smaps`.
    static func codeMappings() -> [(start: UInt, end: UInt)] {
        guard let text = try? System.readFile("/proc/self/smaps", limit: 16 << 20) else { return [] }
        var result: [(start: UInt, end: UInt)] = []
        var current: (start: UInt, end: UInt)?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), fields.count >= 5 {
                // address perms offset device inode [path]
                let bounds = first.split(separator: "-")
                current = nil
                if fields[1] == "r-xp", fields.count >= 6, fields[5].hasPrefix("/"), bounds.count == 2,
                   let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) {
                    current = (start, end)
                }
            } else if first == "Anonymous:", let mapping = current {
                if fields.count >= 2, fields[1] == "0" { result.append(mapping) }
                current = nil
            }
        }
        return result
    }

    /// No read-ahead for code from now on (call first thing in `main`).
    static func mapOnlyWhatRuns() {
        for (start, end) in codeMappings() {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_RANDOM)
        }
    }

    /// Unmaps the code pages mapped so far (once start-up is over); they fault back as used.
    static func dropStartupCode() {
        for (start, end) in codeMappings() {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_DONTNEED)
        }
    }
}
