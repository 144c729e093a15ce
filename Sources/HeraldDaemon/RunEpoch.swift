import Glibc
import HeraldControl
import Logging

/// The epoch of this run, stamped on every gossip packet (`GossipSeal.Stamp`): peers
/// refuse packets from an earlier epoch as replays, so it must grow with every start. It
/// is the wall clock in microseconds, or one more than the last run's when the clock is
/// behind that (a Raspberry Pi without a real-time clock boots with an old time), kept in
/// `gossip.state_directory`/epoch (the unit's StateDirectory).
enum RunEpoch {
    static func next(directory: String, logger: Logger) -> UInt64 {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        let now = UInt64(max(clock.tv_sec, 0)) * 1_000_000 + UInt64(max(clock.tv_nsec, 0)) / 1000
        let path = "\(directory)/epoch"
        let stored = (try? System.readFile(path, limit: 64)).flatMap { UInt64($0.trimmingWhitespace) } ?? 0
        let epoch = max(now, stored < UInt64.max ? stored + 1 : stored)
        do {
            if !System.fileExists(directory), mkdir(directory, 0o700) != 0 {
                throw SystemError("cannot create \(directory)", errno: errno)
            }
            try System.writeFileAtomically(path, "\(epoch)\n", mode: 0o600)
        } catch {
            logger.warning("cannot keep the gossip run counter: \(error); if this host restarts with its clock set back, peers will refuse its gossip as replayed until they restart",
                           metadata: ["state_directory": "\(directory)"])
        }
        return epoch
    }
}
