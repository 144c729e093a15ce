import HeraldWire

/// Membership updates waiting to be piggybacked. Each is sent a limited number of times
/// (growing with log n, enough to reach everyone with high probability); a newer update
/// about a member replaces the queued one, so stale news is never spread.
///
/// Least-sent updates go first, the most recently queued or sent first among equals. Every
/// operation costs O(1)
/// amortized whatever the number of members: updates live in one bucket per transmission
/// count, superseded ones are dropped lazily when a scan reaches them (or when a bucket is
/// compacted), and a `take` examines a bounded number of entries.
struct BroadcastQueue: Sendable {
    struct Entry: Sendable {
        var message: GossipMessage
        var size: Int
        var transmits: Int
        var order: UInt64
    }

    /// A queued position: the update about `subject` enqueued as number `order`.
    private struct Slot: Sendable {
        var subject: String
        var order: UInt64
    }

    /// The current update about each member.
    private var latest: [String: Entry] = [:]
    /// `buckets[n]`: slots of updates sent `n` times, oldest first; some may be stale.
    private var buckets: [[Slot]] = []
    private var counter: UInt64 = 0

    /// Entries a `take` looks at, at most: a packet holds a few dozen updates.
    static let scanLimit = 512
    /// Updates in one packet, at most.
    static let takeLimit = 200
    /// The smallest update there is: a scan stops when less than this fits.
    static let smallestUpdate = 16

    var isEmpty: Bool { latest.isEmpty }

    var count: Int { latest.count }

    /// The queued updates, for tests.
    var entries: [Entry] { latest.values.sorted { $0.order < $1.order } }

    mutating func enqueue(_ message: GossipMessage) {
        guard let subject = message.subject else { return }
        counter += 1
        latest[subject] = Entry(message: message, size: message.encodedSize, transmits: 0, order: counter)
        append(Slot(subject: subject, order: counter), to: 0)
    }

    /// The least-sent, newest updates that fit in `budget` bytes; each taken one counts a
    /// transmission and is dropped after `limit`.
    mutating func take(budget: Int, limit: Int) -> [GossipMessage] {
        guard !latest.isEmpty, budget > 0 else { return [] }
        var taken: [GossipMessage] = []
        var promoted: [(slot: Slot, transmits: Int)] = []
        var used = 0
        var scanned = 0
        scan: for transmits in buckets.indices {
            var skipped: [Slot] = []
            // What did not fit goes back where it was, in order.
            defer { buckets[transmits] += skipped.reversed() }
            while let slot = buckets[transmits].popLast() {
                guard var entry = latest[slot.subject], entry.order == slot.order, entry.transmits == transmits else { continue }
                scanned += 1
                if used + entry.size <= budget {
                    used += entry.size
                    taken.append(entry.message)
                    entry.transmits += 1
                    if entry.transmits >= limit {
                        latest[slot.subject] = nil
                    } else {
                        latest[slot.subject] = entry
                        promoted.append((slot, entry.transmits))
                    }
                } else {
                    skipped.append(slot)
                }
                if taken.count >= Self.takeLimit || scanned >= Self.scanLimit || budget - used < Self.smallestUpdate {
                    break scan
                }
            }
        }
        // Moved up only now, so no update goes twice into one packet.
        for (slot, transmits) in promoted.reversed() { append(slot, to: transmits) }
        return taken
    }

    private mutating func append(_ slot: Slot, to transmits: Int) {
        while buckets.count <= transmits { buckets.append([]) }
        buckets[transmits].append(slot)
        // Superseded slots pile up when updates come faster than packets leave: drop them
        // once they outnumber the live ones.
        if buckets[transmits].count > 2 * latest.count + 64 {
            buckets[transmits].removeAll { slot in
                latest[slot.subject].map { $0.order != slot.order || $0.transmits != transmits } ?? true
            }
        }
    }
}
