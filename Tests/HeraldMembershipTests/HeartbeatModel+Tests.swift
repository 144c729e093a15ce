import HeraldTestKit
import Testing

/// A model of the protocol change docs/performance.md ("Idle cost") proposes for small
/// clusters, to weigh it against SWIM before building it: each member pushes a heartbeat
/// to every other every `interval` (one wake-up sends them all), carrying the members it
/// suspects; a member unheard for `missed` intervals is suspect, and dead once another up
/// member suspects it too (a confirmation, as Lifeguard's), or after `unconfirmed` alone.
/// No probes, no acks: a member wakes once per interval to send and once per heartbeat it
/// receives, n per interval in all, where SWIM at `lan`'s 50 ms wakes about 60 times a
/// second whatever n is. Virtual time in 1 ms steps; loss and delay per datagram.
struct HeartbeatModel {
    var interval: Int = 100      // ms
    var missed = 3
    var unconfirmed = 1500       // ms
    var loss = 0.0
    let size: Int
    var rng: SplitMix64

    private(set) var now = 0
    private var phase: [Int]
    private var lastHeard: [[Int]]
    private var suspects: [Set<Int>]
    private var suspectedSince: [[Int: Int]]
    /// What each member last heard each other one suspect.
    private var heardSuspects: [[Set<Int>]]
    private(set) var dead: [Set<Int>]
    private(set) var deadAt: [[Int: Int]]
    private var crashed: Set<Int> = []
    private var inFlight: [(at: Int, from: Int, to: Int, suspects: Set<Int>)] = []
    /// The milliseconds in which each member did anything (sent or received): its wake-ups.
    private(set) var busy: [Set<Int>]

    init(size: Int, seed: UInt64) {
        self.size = size
        rng = SplitMix64(state: seed)
        phase = (0..<size).map { _ in 0 }
        lastHeard = Array(repeating: Array(repeating: 0, count: size), count: size)
        suspects = Array(repeating: [], count: size)
        suspectedSince = Array(repeating: [:], count: size)
        heardSuspects = Array(repeating: Array(repeating: [], count: size), count: size)
        dead = Array(repeating: [], count: size)
        deadAt = Array(repeating: [:], count: size)
        busy = Array(repeating: [], count: size)
        phase = (0..<size).map { _ in Int.random(in: 0..<interval, using: &rng) }
    }

    mutating func crash(_ member: Int) { crashed.insert(member) }

    mutating func run(for milliseconds: Int) {
        for _ in 0..<milliseconds { step() }
    }

    private mutating func step() {
        now += 1
        let arriving = inFlight.filter { $0.at <= now }
        inFlight.removeAll { $0.at <= now }
        for packet in arriving where !crashed.contains(packet.to) {
            busy[packet.to].insert(now)
            lastHeard[packet.to][packet.from] = now
            heardSuspects[packet.to][packet.from] = packet.suspects
            if !dead[packet.to].contains(packet.from) {
                suspects[packet.to].remove(packet.from)
                suspectedSince[packet.to][packet.from] = nil
            }
        }
        for member in 0..<size where !crashed.contains(member) {
            if (now + phase[member]) % interval == 0 {
                busy[member].insert(now)
                for peer in 0..<size where peer != member && !dead[member].contains(peer) {
                    guard Double.random(in: 0..<1, using: &rng) >= loss else { continue }
                    inFlight.append((now + Int.random(in: 1...2, using: &rng), member, peer, suspects[member]))
                }
            }
            for peer in 0..<size where peer != member && !dead[member].contains(peer) {
                if now - lastHeard[member][peer] > interval * missed, suspects[member].insert(peer).inserted {
                    suspectedSince[member][peer] = now
                }
                guard let since = suspectedSince[member][peer] else { continue }
                let confirmed = (0..<size).contains { other in
                    other != member && other != peer && !dead[member].contains(other) && heardSuspects[member][other].contains(peer)
                }
                if confirmed || now - since >= unconfirmed {
                    dead[member].insert(peer)
                    deadAt[member][peer] = now
                }
            }
        }
    }

    /// Wake-ups per second of `member` over the run so far.
    func wakeups(_ member: Int) -> Double { Double(busy[member].count) * 1000 / Double(now) }
}

@Suite struct HeartbeatModelTests {
    /// Failover: from a crash to the moment every other member holds the crashed one dead
    /// (the next owner may be any of them), over 20 crashes.
    static func failovers(size: Int, interval: Int) -> [Int] {
        (0..<20).map { trial in
            var model = HeartbeatModel(size: size, seed: UInt64(trial + 1))
            model.interval = interval
            model.run(for: 2000)
            let start = model.now
            model.crash(0)
            model.run(for: 3000)
            return (1..<size).map { (model.deadAt[$0][0] ?? Int.max) - start }.max()!
        }.sorted()
    }

    @Test func threeMembersWakeAbout30TimesASecondAndFailOverWithinHalfASecond() {
        var model = HeartbeatModel(size: 3, seed: 1)
        model.run(for: 20_000)
        let wakeups = (0..<3).map(model.wakeups)
        let failovers = Self.failovers(size: 3, interval: 100)
        print("heartbeat model, 3 members, 100 ms: wake-ups/s \(wakeups.map { Int($0.rounded()) }); failover p50 \(failovers[10]) ms, max \(failovers.last!) ms")
        #expect(wakeups.allSatisfy { $0 <= 32 })
        #expect(failovers[10] <= 500 && failovers.last! <= 600)
    }

    @Test func tenPercentLossFor120sKillsNobody() {
        for size in [2, 3, 5] {
            var model = HeartbeatModel(size: size, seed: 7)
            model.loss = 0.10
            model.run(for: 120_000)
            let deaths = (0..<size).map { model.dead[$0].count }.reduce(0, +)
            print("heartbeat model, \(size) members, 10 % loss for 120 s: \(deaths) false deaths, wake-ups/s \(Int(model.wakeups(0).rounded()))")
            #expect(deaths == 0, "\(size) members")
        }
    }
}
