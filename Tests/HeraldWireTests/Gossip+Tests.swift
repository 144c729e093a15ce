import Crypto
import HeraldTestKit
import HeraldWire
import Testing

@Suite struct GossipCodecTests {
    let address = GossipAddress(ip: IPAddress("198.51.100.11")!, port: 7946)
    let address6 = GossipAddress(ip: IPAddress("2001:db8::11")!, port: 7946)

    var everyMessage: [GossipMessage] {
        [.ping(seq: 1, target: "h2", source: "h1"),
         .pingRequest(seq: 0xFFFF_FFFF, target: "h3", targetAddress: address6, source: "h1"),
         .ack(seq: 7, source: "h2"), .nack(seq: 8, source: "h3"),
         .alive(name: "h1", address: address, incarnation: 1 << 40, meta: [1, 2, 3]),
         .suspect(name: "h2", incarnation: 3, from: "h1"), .dead(name: "h3", incarnation: 4, from: "h3"),
         .pushPull(isReply: true, members: [
            MemberRecord(name: "h1", address: address, incarnation: 2, status: .alive, meta: Array(repeating: 9, count: 300)),
            MemberRecord(name: "h4", address: address6, incarnation: 0, status: .left, meta: [])]),
         .challenge(nonce: 0x0102_0304_0506_0708), .response(nonce: .max)]
    }

    @Test func everyMessageRoundTrips() throws {
        let bytes = GossipPayload.encode(everyMessage)
        #expect(try GossipPayload.decode(bytes) == everyMessage)
        for message in everyMessage {
            var single: [UInt8] = []
            message.encode(into: &single)
            #expect(single.count == message.encodedSize)
        }
    }

    @Test func goldenPing() {
        #expect(GossipPayload.encode([.ping(seq: 0x0102_0304, target: "b", source: "a")])
                == [1, 1, 1, 2, 3, 4, 1, UInt8(ascii: "b"), 1, UInt8(ascii: "a")])
    }

    @Test func rejectsTrailingAndUnknown() {
        #expect(throws: WireError.gossipTrailingBytes(1)) { try GossipPayload.decode([1, 3, 0, 0, 0, 1, 0, 0xFF]) }
        #expect(throws: WireError.unknownGossipMessage(99)) { try GossipPayload.decode([1, 99]) }
        #expect(throws: WireError.self) { try GossipPayload.decode([1, 8, 0, 0xFF, 0xFF]) }
    }

    @Test func decoderSurvivesMalformedInput() async {
        let seed = GossipPayload.encode(everyMessage)
        let decoded = await offPool { () -> Int in
            var rng = SplitMix64(state: 4)
            var decoded = 0
            for _ in 0..<200_000 {
                var bytes = seed
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
                    default: bytes += [UInt8.random(in: 0...255, using: &rng)]
                    }
                    if bytes.isEmpty { bytes = [0] }
                }
                if (try? GossipPayload.decode(bytes)) != nil { decoded += 1 }
            }
            return decoded
        }
        #expect(decoded < 200_000)
    }
}

@Suite struct GossipSealTests {
    let key = testKeyLine(1)
    let nonce = [UInt8](repeating: 7, count: 12)

    func keyring(_ lines: String...) -> Keyring { try! Keyring.parse(lines.joined(separator: "\n")).get() }

    let me = GossipAddress(ip: IPAddress("198.51.100.11")!, port: 7946)
    let stamp = GossipSeal.Stamp(sender: "h1", run: 0x0102_0304_0506_0708, counter: 7,
                                 destination: GossipAddress(ip: IPAddress("198.51.100.11")!, port: 7946))

    func sealed(_ seal: GossipSeal, _ payload: [UInt8]) -> [UInt8] { seal.seal(payload, stamp: stamp, nonce: nonce) }

    @Test func sealsAndOpensWithTheSendersStampUnderANonceThatIsTheStamp() throws {
        let seal = GossipSeal(keyring: keyring(key), clusterName: "lab")
        let packet = sealed(seal, [1, 2, 3])
        #expect(Array(packet.prefix(6)) == Array("HRLD".utf8) + [3, 1])
        #expect(Array(packet[6..<18]) == [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 7], "the nonce: the run, then the counter's low 32 bits")
        // Header, nonce, then the sealed name ("h1": 1 + 2), run and counter (8 + 8), the
        // destination (1 + 4 + 2), the payload; the tag.
        #expect(packet.count == 6 + 12 + (3 + 16 + 7 + 3) + 16)
        #expect(try seal.open(packet) == GossipSeal.Opened(stamp: stamp, payload: [1, 2, 3]))
        // Another nonce on the same plaintext does not open: the stamp cannot be changed.
        var renonced = packet
        renonced[17] ^= 1
        #expect(throws: WireError.gossipAuthenticationFailed) { try seal.open(renonced) }
    }

    @Test func wrongKeyOtherClusterOrTamperingFail() {
        let packet = sealed(GossipSeal(keyring: keyring(key), clusterName: "lab"), [1, 2, 3])
        #expect(throws: WireError.gossipAuthenticationFailed) {
            try GossipSeal(keyring: keyring(testKeyLine(2)), clusterName: "lab").open(packet)
        }
        #expect(throws: WireError.gossipAuthenticationFailed) {
            try GossipSeal(keyring: keyring(key), clusterName: "prod").open(packet)
        }
        var flipped = packet
        flipped[20] ^= 1
        #expect(throws: WireError.gossipAuthenticationFailed) { try GossipSeal(keyring: keyring(key), clusterName: "lab").open(flipped) }
        #expect(throws: WireError.gossipPacketTooLarge) {
            try GossipSeal(keyring: keyring(key), clusterName: "lab").open(packet + [UInt8](repeating: 0, count: GossipSeal.maxPacket))
        }
    }

    @Test func theSocketFilterPassesOnlyWhatANodeCouldHaveSent() {
        let udpHeader = [UInt8](repeating: 0, count: 8)
        let packet = sealed(GossipSeal(keyring: keyring(key), clusterName: "lab"), [1, 2, 3])
        let filter = GossipSeal.socketFilter
        #expect(filter.passes(udpHeader + packet))
        let largest = Array(packet.prefix(6)) + [UInt8](repeating: 7, count: GossipSeal.maxPacket - 6)
        #expect(filter.passes(udpHeader + largest), "the largest packet a node may send")
        #expect(!filter.passes(udpHeader + largest + [0]), "a byte more")
        #expect(!filter.passes(udpHeader + [UInt8](repeating: 0x48, count: 100)), "no magic")
        #expect(!filter.passes(udpHeader + Array("HRL".utf8)), "shorter than the magic")
    }

    @Test func rotationAcceptsEveryKeyAndEncryptsWithTheFirst() throws {
        let old = key, new = testKeyLine(3)
        let oldOnly = GossipSeal(keyring: keyring(old), clusterName: "c")
        let both = GossipSeal(keyring: keyring(new, "# old key, remove after rollout", old), clusterName: "c")
        #expect(try both.open(sealed(oldOnly, [5])).payload == [5])
        #expect(throws: WireError.gossipAuthenticationFailed) { try oldOnly.open(sealed(both, [5])) }
    }

    @Test func plaintextAndEncryptedNeverMix() {
        let plain = GossipSeal(keyring: nil, clusterName: "c")
        let secure = GossipSeal(keyring: keyring(key), clusterName: "c")
        #expect(throws: WireError.gossipEncryptionMismatch(peerEncrypted: false)) { try secure.open(sealed(plain, [1])) }
        #expect(throws: WireError.gossipEncryptionMismatch(peerEncrypted: true)) { try plain.open(sealed(secure, [1])) }
        #expect(throws: WireError.badGossipMagic) { try plain.open([0, 1, 2, 3, 4, 5, 6]) }
    }

    @Test func plaintextCarriesAndChecksTheClusterName() throws {
        let packet = sealed(GossipSeal(keyring: nil, clusterName: "lab"), [9])
        #expect(try GossipSeal(keyring: nil, clusterName: "lab").open(packet) == GossipSeal.Opened(stamp: stamp, payload: [9]))
        #expect(throws: WireError.gossipClusterMismatch) { try GossipSeal(keyring: nil, clusterName: "prod").open(packet) }
    }

    @Test func olderVersionsAreSpokenAndHeardOnlyWhenConfigured() throws {
        let current = GossipSeal(keyring: keyring(key), clusterName: "lab")
        for version: UInt8 in [1, 2] {
            let legacy = GossipSeal(keyring: keyring(key), clusterName: "lab", wireVersion: version)
            let old = sealed(legacy, [4, 2])
            #expect(old[4] == version)
            let opened = try legacy.open(old)
            #expect(opened.payload == [4, 2])
            #expect(opened.stamp == (version == 1 ? nil : GossipSeal.Stamp(sender: "h1", run: stamp.run, counter: 7, destination: nil)))
            #expect(throws: WireError.unsupportedGossipVersion(version)) { try current.open(old) }
            // A host speaking the old version still hears the hosts already on the new one.
            #expect(try legacy.open(sealed(current, [1])).stamp == stamp)
        }
    }

    @Test func theReplayGuardAdmitsEachPacketOnceOnlyFromTheSendersConfirmedRun() {
        var replays = ReplayGuard(destinations: [me], settings: .init(capacity: 8, pendingCapacity: 4))
        var rng = SplitMix64(state: 1)
        let h2 = GossipAddress(ip: IPAddress("198.51.100.12")!, port: 7946)
        let ping = GossipMessage.ping(seq: 1, target: "h1", source: "h2")
        func stamp(_ counter: UInt64, run: UInt64 = 10, from sender: String = "h2", to destination: GossipAddress? = nil) -> GossipSeal.Stamp {
            GossipSeal.Stamp(sender: sender, run: run, counter: counter, destination: destination ?? me)
        }
        func packet(_ stamp: GossipSeal.Stamp, _ messages: [GossipMessage] = [.ping(seq: 1, target: "h1", source: "h2")],
                    at now: Duration = .seconds(1)) -> ReplayGuard.Outcome {
            replays.onPacket(stamp, messages, from: h2, now: now, using: &rng)
        }
        // First contact: nothing admitted yet, the sender challenged, the packet held.
        let first = packet(stamp(5))
        #expect(first.admitted.isEmpty && first.refused == nil)
        guard case .challenge(let nonce)? = first.replies.first?.message, first.replies.first?.to == h2 else {
            Issue.record("no challenge: \(first)")
            return
        }
        // Its answer, sealed with its run, confirms the run and releases the held packet.
        let answered = packet(stamp(6), [.response(nonce: nonce)])
        #expect(answered.admitted == [ReplayGuard.Admitted(messages: [ping], from: h2)])
        #expect(packet(stamp(7)).admitted.count == 1)
        #expect(packet(stamp(7)).refused == .gossipReplayed, "the same packet again")
        #expect(packet(stamp(5)).refused == .gossipReplayed, "the held one, replayed")
        #expect(packet(stamp(200)).admitted.count == 1)
        #expect(packet(stamp(100)).refused == .gossipReplayed, "older than the 64-packet window")
        // A capture of another run (an earlier one, whatever its number): challenged, and
        // the running sender's answer confirms its own run, not the capture's.
        let capture = packet(stamp(999, run: 3), at: .seconds(2))
        guard case .challenge(let second)? = capture.replies.first?.message else { Issue.record("not challenged"); return }
        let confirmed = packet(stamp(201), [.response(nonce: second)], at: .seconds(2))
        #expect(confirmed.admitted.isEmpty, "the held capture is of another run")
        #expect(packet(stamp(1000, run: 3), at: .seconds(3)).admitted.isEmpty)
        // The sender restarted (a new random run, counters from 1): heard after one round trip.
        let restarted = packet(stamp(1, run: 77), at: .seconds(4))
        guard case .challenge(let third)? = restarted.replies.first?.message else { Issue.record("not challenged"); return }
        #expect(packet(stamp(2, run: 77), [.response(nonce: third)], at: .seconds(4)).admitted.count == 1)
        #expect(packet(stamp(3, run: 77), at: .seconds(4)).admitted.count == 1)
        // A packet for another node (a capture replayed here) is refused outright.
        #expect(packet(stamp(4, run: 77, to: GossipAddress(ip: IPAddress("198.51.100.13")!, port: 7946))).refused == .gossipWrongDestination)
        // Challenges are answered whoever asks, before anything else.
        let asked = packet(stamp(5, run: 77, from: "stranger"), [.challenge(nonce: 42)])
        #expect(asked.replies == [ReplayGuard.Reply(message: .response(nonce: 42), to: h2)])
        // Bounded: many senders, few remembered.
        for index in 0..<20 { _ = packet(stamp(1, from: "x\(index)"), at: .seconds(5)) }
        #expect(replays.pendingCount == 4)
        #expect(replays.count <= 8)
    }

    @Test func version2PacketsKeepTheEpochRule() {
        var replays = ReplayGuard(destinations: [me])
        var rng = SplitMix64(state: 1)
        func admit(epoch: UInt64, _ counter: UInt64) -> Bool {
            replays.onPacket(GossipSeal.Stamp(sender: "h1", run: epoch, counter: counter, destination: nil), [.ack(seq: 1, source: "h1")],
                             from: me, now: .zero, using: &rng).admitted.count == 1
        }
        #expect(admit(epoch: 10, 5))
        #expect(!admit(epoch: 10, 5))
        #expect(admit(epoch: 11, 1), "the sender restarted with a later clock")
        #expect(!admit(epoch: 10, 201), "a capture from its previous run")
    }

    @Test func sourcesAreCountedBeforeAnythingIsOpened() {
        var budget = SourceBudget(settings: .init(rate: 100, burst: 10, capacity: 2))
        let a = IPAddress("198.51.100.12")!
        var admitted = 0
        for _ in 0..<11 where budget.admit(a, now: .zero) { admitted += 1 }
        #expect(admitted == 10, "the burst, then nothing")
        let refilled = budget.admit(a, now: .milliseconds(10))
        #expect(refilled, "one more after a hundredth of a second")
        // Past the table's capacity, newcomers share one bucket.
        _ = budget.admit(IPAddress("198.51.100.13")!, now: .zero)
        #expect(budget.count == 2)
        admitted = 0
        for index in 0..<11 where budget.admit(.v4(IPv4Address(rawValue: UInt32(index))), now: .zero) { admitted += 1 }
        #expect(admitted == 10)
        #expect(budget.count == 2)
    }

    @Test func keyFileErrorsNameTheLine() {
        func failure(_ text: String) -> Keyring.KeyFileError? {
            if case .failure(let error) = Keyring.parse(text) { error } else { nil }
        }
        #expect(failure("\n# comment\nnot-base64\n")?.line == 3)
        #expect(failure("\n# comment\nnot-base64\n")?.message == "not a base64-encoded 32-byte key (make one with heraldctl keygen)")
        #expect(failure("# nothing\n")?.message == "contains no key")
        #expect(failure("c2hvcnQ=\n")?.line == 1)
    }
}
