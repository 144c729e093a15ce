@testable import HeraldMembership
import HeraldTestKit
import HeraldWire
import Testing

/// What a peer (or anyone, with `insecure = true`) can send must not trap the instance,
/// grow it without bound, or make it send a stranger more than the stranger sent.
@Suite struct HostileMembershipInputTests {
    let me = GossipAddress(ip: IPAddress("198.51.100.11")!, port: 7946)
    let peer = GossipAddress(ip: IPAddress("198.51.100.12")!, port: 7946)

    func instance(_ settings: MembershipSettings = .lan) -> MembershipMachine {
        MembershipMachine(name: "h1", address: me, meta: [1, 0, 0, 0], settings: settings, now: .zero)
    }

    @Test func aClaimAtTheHighestIncarnationIsOutbidWithoutOverflow() {
        var node = instance()
        for message in [GossipMessage.suspect(name: "h1", incarnation: GossipMessage.maxIncarnation, from: "x"),
                        .dead(name: "h1", incarnation: GossipMessage.maxIncarnation, from: "x"),
                        .alive(name: "h1", address: me, incarnation: GossipMessage.maxIncarnation, meta: [])] {
            _ = node.onPacket([message], from: peer, now: .milliseconds(1))
            #expect(node.incarnation == GossipMessage.maxIncarnation, "outbid, and stays within the bound")
        }
        _ = node.onMetaChanged([2])
        #expect(node.incarnation == GossipMessage.maxIncarnation)
    }

    @Test func anIncarnationAboveTheBoundDoesNotDecode() {
        var bytes = GossipPayload.encode([.suspect(name: "h1", incarnation: GossipMessage.maxIncarnation, from: "x")])
        #expect((try? GossipPayload.decode(bytes)) != nil)
        bytes = GossipPayload.encode([.suspect(name: "h1", incarnation: .max, from: "x")])
        #expect(throws: WireError.gossipIncarnationOutOfRange) { try GossipPayload.decode(bytes) }
    }

    @Test func membersAreCappedAndTheOldestDepartedMakeRoom() {
        var settings = MembershipSettings.lan
        settings.maxMembers = 10
        var node = instance(settings)
        func record(_ index: Int, _ status: MemberRecord.Status) -> MemberRecord {
            MemberRecord(name: "m\(index)", address: GossipAddress(ip: .v4(IPv4Address(rawValue: 0xC633_6400 + UInt32(index))), port: 7946),
                         incarnation: 1, status: status, meta: [])
        }
        _ = node.onPacket([.pushPull(isReply: true, members: (0..<4).map { record($0, .dead) })], from: peer, now: .seconds(1))
        _ = node.onPacket([.pushPull(isReply: true, members: (4..<100).map { record($0, .alive) })], from: peer, now: .seconds(2))
        #expect(node.members.count == 10)
        let living = node.members.values.allSatisfy { $0.isUp }
        #expect(living, "the departed made room for the living")
        #expect(node.refusedMembers == 86, "96 offered alive, 10 kept")
    }

    @Test func aLargeFullStateGoesAsSeveralMessagesWithinTheBudget() throws {
        var settings = MembershipSettings.lan
        settings.fullStateBytes = 2048
        var node = instance(settings)
        let records = (0..<300).map { index in
            MemberRecord(name: "member-\(index)", address: GossipAddress(ip: .v4(IPv4Address(rawValue: 0x0A00_0000 + UInt32(index))), port: 7946),
                         incarnation: 1, status: .alive, meta: Array(repeating: 7, count: 40))
        }
        _ = node.onPacket([.pushPull(isReply: true, members: records)], from: peer, now: .seconds(1))
        let actions = node.fullState(to: peer, isReply: false)
        #expect(actions.count > 1)
        var names: Set<String> = []
        for (index, action) in actions.enumerated() {
            guard case .send(let messages, _) = action, case .pushPull(let isReply, let members) = messages[0] else {
                Issue.record("not a push-pull")
                continue
            }
            #expect(GossipPayload.encode(messages).count <= 2048)
            #expect(isReply == (index > 0), "only the first one asks for an answer")
            names.formUnion(members.map(\.name))
        }
        #expect(names.count == 301, "every member and this node, once")
    }

    @Test func aStrangerAskingForTheFullStateGetsAPingFirst() throws {
        var node = instance()
        let stranger = GossipAddress(ip: IPAddress("203.0.113.66")!, port: 7946)
        let request: [GossipMessage] = [.pushPull(isReply: false, members: [
            MemberRecord(name: "h9", address: stranger, incarnation: 0, status: .alive, meta: [])])]
        let answer = node.onPacket(request, from: stranger, now: .seconds(1)).filter {
            if case .send = $0 { true } else { false }
        }
        guard case .send(let sent, let destination)? = answer.first, case .ping(let seq, "h9", "h1")? = sent.first else {
            Issue.record("expected a ping to the stranger, got \(answer)")
            return
        }
        #expect(answer.count == 1 && destination == stranger, "the ping is all it gets")
        #expect(GossipPayload.encode(sent).count <= GossipPayload.encode(request).count, "no bigger than the request")
        // Its ack from that address proves it: now the full state follows.
        let after = node.onPacket([.ack(seq: seq, source: "h9")], from: stranger, now: .seconds(1) + .milliseconds(2))
        #expect(after.contains { if case .send(let messages, stranger) = $0, case .pushPull(true, _) = messages[0] { true } else { false } })
        // An ack from anywhere else proves nothing.
        var other = instance()
        _ = other.onPacket(request, from: stranger, now: .seconds(1))
        let forged = other.onPacket([.ack(seq: seq, source: "h9")], from: peer, now: .seconds(1))
        #expect(!forged.contains { if case .send(let messages, _) = $0, case .pushPull = messages[0] { true } else { false } })
    }

    @Test func aClaimFarAboveWhatIsKnownIsIgnoredSoTheMemberCanAlwaysRefute() {
        var node = instance()
        let m = GossipAddress(ip: IPAddress("198.51.100.13")!, port: 7946)
        _ = node.onPacket([.alive(name: "m", address: m, incarnation: 3, meta: [])], from: m, now: .seconds(1))
        // A key holder claims m suspect (or dead, or alive with made-up metadata) at the
        // bound: nothing m could outbid. Ignored, and counted.
        for claim in [GossipMessage.suspect(name: "m", incarnation: GossipMessage.maxIncarnation, from: "x"),
                      .dead(name: "m", incarnation: 3 + GossipMessage.maxIncarnationStep + 1, from: "x"),
                      .alive(name: "m", address: peer, incarnation: GossipMessage.maxIncarnation, meta: [9])] {
            _ = node.onPacket([claim], from: peer, now: .seconds(2))
            #expect(node.members["m"]?.status == .alive && node.members["m"]?.incarnation == 3 && node.members["m"]?.address == m)
        }
        #expect(node.implausibleClaims == 3)
        // A claim within reach is believed, and m's refutation (one more) wins it back.
        _ = node.onPacket([.suspect(name: "m", incarnation: 3 + GossipMessage.maxIncarnationStep, from: "x")], from: peer, now: .seconds(3))
        #expect(node.members["m"]?.status == .suspect)
        _ = node.onPacket([.alive(name: "m", address: m, incarnation: 4 + GossipMessage.maxIncarnationStep, meta: [])], from: m,
                          now: .seconds(3) + .milliseconds(1))
        #expect(node.members["m"]?.status == .alive)
    }

    @Test func nothingInBulkGoesToAnAddressThatDidNotAnswerAPing() {
        // A key holder announces a thousand made-up members, all at a victim's address, and
        // dead ones too: the cluster may ping the victim, never send it a full state.
        var node = instance()
        var rng = SplitMix64(state: 7)
        let victim = GossipAddress(ip: IPAddress("203.0.113.99")!, port: 7946)
        let records = (0..<1000).map { index in
            MemberRecord(name: "fake-\(index)", address: victim, incarnation: 1, status: index % 2 == 0 ? .alive : .dead,
                         meta: Array(repeating: 1, count: 1000))
        }
        _ = node.onPacket([.pushPull(isReply: true, members: records)], from: peer, now: .seconds(1))
        var bytesToVictim = 0
        var now = Duration.seconds(1)
        while now < .seconds(61) {
            for action in node.onTick(now: now, using: &rng) {
                guard case .send(let messages, victim) = action else { continue }
                #expect(!messages.contains { if case .pushPull = $0 { true } else { false } }, "a full state to an unverified address")
                bytesToVictim += GossipPayload.encode(messages).count
            }
            now += .milliseconds(10)
        }
        #expect(bytesToVictim < 1_000_000, "\(bytesToVictim) bytes in a minute, pings only")
    }

    @Test func joiningSendsOnlyThisNodesOwnRecordUntilTheSeedAnswers() {
        var node = instance()
        let actions = node.onJoin(seeds: [peer], now: .zero)
        guard case .send(let messages, peer)? = actions.first, case .pushPull(false, let members) = messages[0] else {
            Issue.record("expected a push-pull request, got \(actions)")
            return
        }
        #expect(members.map(\.name) == ["h1"])
    }

    @Test func thousandsOfDepartedRecordsMakeRoomOldestFirstInOnePass() {
        // At the cap, every unknown dead record evicts the member that departed longest ago:
        // a constant step each (this was a full scan per record: seconds per datagram).
        var settings = MembershipSettings.lan
        settings.maxMembers = 2048
        var node = instance(settings)
        func records(_ range: Range<Int>, _ status: MemberRecord.Status) -> [MemberRecord] {
            range.map { MemberRecord(name: "m\($0)", address: GossipAddress(ip: .v4(IPv4Address(rawValue: UInt32($0))), port: 1),
                                     incarnation: 1, status: status, meta: []) }
        }
        var now = Duration.seconds(1)
        for start in stride(from: 0, to: 2048, by: 512) {
            _ = node.onPacket([.pushPull(isReply: true, members: records(start..<start + 512, .dead))], from: peer, now: now)
            now += .seconds(1)
        }
        #expect(node.members.count == 2048)
        _ = node.onPacket([.pushPull(isReply: true, members: records(5000..<7500, .dead))], from: peer, now: now)
        #expect(node.members.count == 2048)
        #expect(node.members["m0"] == nil && node.members["m2047"] == nil, "the oldest made room first")
        #expect(node.members["m7499"] != nil && node.members["m5452"] != nil)
        #expect(node.refusedMembers == 0)
    }

    @Test func theBroadcastQueueTakesEachUpdateOncePerPacketAndKeepsOnlyTheNewest() {
        var queue = BroadcastQueue()
        for round in 0..<3 {
            for index in 0..<5000 {
                queue.enqueue(.alive(name: "m\(index)", address: GossipAddress(ip: .v4(IPv4Address(rawValue: UInt32(index))), port: 1),
                                     incarnation: UInt64(round), meta: []))
            }
        }
        #expect(queue.count == 5000, "a newer update replaces the queued one")
        let taken = queue.take(budget: 1200, limit: 4)
        #expect(taken.reduce(0) { $0 + $1.encodedSize } <= 1200)
        #expect(Set(taken.compactMap(\.subject)).count == taken.count, "no update twice in one packet")
        #expect(taken.allSatisfy { if case .alive(_, _, 2, _) = $0 { true } else { false } }, "only the newest news")
        // Every update goes out `limit` times, then leaves the queue.
        var sent = taken.count
        while !queue.isEmpty { sent += queue.take(budget: 1200, limit: 4).count }
        #expect(sent == 5000 * 4)
    }
}
