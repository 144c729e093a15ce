import HeraldWire

/// Membership updates waiting to be piggybacked. Each is sent a limited number of times
/// (growing with log n, enough to reach everyone with high probability); a newer update
/// about a member replaces the queued one, so stale news is never spread.
struct BroadcastQueue: Sendable {
    struct Entry: Sendable {
        var message: GossipMessage
        var size: Int
        var transmits: Int
        var order: UInt64
    }

    private(set) var entries: [Entry] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { entries.isEmpty }

    mutating func enqueue(_ message: GossipMessage) {
        if let subject = message.subject {
            entries.removeAll { $0.message.subject == subject }
        }
        counter += 1
        entries.append(Entry(message: message, size: message.encodedSize, transmits: 0, order: counter))
    }

    /// The least-sent, newest updates that fit in `budget` bytes; each taken one counts a
    /// transmission and is dropped after `limit`.
    mutating func take(budget: Int, limit: Int) -> [GossipMessage] {
        guard !entries.isEmpty, budget > 0 else { return [] }
        entries.sort { ($0.transmits, ~$0.order) < ($1.transmits, ~$1.order) }
        var taken: [GossipMessage] = []
        var used = 0
        var index = 0
        while index < entries.count, taken.count < 200 {
            if used + entries[index].size <= budget {
                used += entries[index].size
                taken.append(entries[index].message)
                entries[index].transmits += 1
                if entries[index].transmits >= limit {
                    entries.remove(at: index)
                    continue
                }
            }
            index += 1
        }
        return taken
    }
}
