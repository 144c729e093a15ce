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
            MemberRecord(name: "h4", address: address6, incarnation: 0, status: .left, meta: [])])]
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

    let stamp = GossipSeal.Stamp(sender: "h1", epoch: 1_700_000_000_000_000, counter: 7)

    func sealed(_ seal: GossipSeal, _ payload: [UInt8]) -> [UInt8] { seal.seal(payload, stamp: stamp, nonce: nonce) }

    @Test func sealsAndOpensWithTheSendersStamp() throws {
        let seal = GossipSeal(keyring: keyring(key), clusterName: "lab")
        let packet = sealed(seal, [1, 2, 3])
        #expect(Array(packet.prefix(6)) == Array("HRLD".utf8) + [2, 1])
        // Header, nonce, then the sealed name ("h1": 1 + 2), epoch and counter (8 + 8), payload; the tag.
        #expect(packet.count == 6 + 12 + (3 + 16 + 3) + 16)
        #expect(try seal.open(packet) == GossipSeal.Opened(stamp: stamp, payload: [1, 2, 3]))
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

    @Test func version1IsSpokenAndHeardOnlyWhenConfigured() throws {
        let legacy = GossipSeal(keyring: keyring(key), clusterName: "lab", wireVersion: 1)
        let current = GossipSeal(keyring: keyring(key), clusterName: "lab")
        let old = sealed(legacy, [4, 2])
        #expect(old[4] == 1 && old.count == 6 + 12 + 2 + 16, "Herald 0.1's layout: no stamp")
        #expect(try legacy.open(old) == GossipSeal.Opened(stamp: nil, payload: [4, 2]))
        #expect(throws: WireError.unsupportedGossipVersion(1)) { try current.open(old) }
        // A host with wire_version = 1 still hears the hosts already back on version 2.
        #expect(try legacy.open(sealed(current, [1])).stamp == stamp)
    }

    @Test func theReplayGuardAdmitsEachPacketOnceAndNothingFromAnEarlierRun() {
        var guardState = ReplayGuard(capacity: 8)
        func admit(_ stamp: GossipSeal.Stamp) -> Bool { guardState.admit(stamp) }
        func stamp(_ sender: String, epoch: UInt64 = 10, _ counter: UInt64) -> GossipSeal.Stamp {
            GossipSeal.Stamp(sender: sender, epoch: epoch, counter: counter)
        }
        func stamp(epoch: UInt64 = 10, _ counter: UInt64) -> GossipSeal.Stamp {
            GossipSeal.Stamp(sender: "h1", epoch: epoch, counter: counter)
        }
        #expect(admit(stamp(5)))
        #expect(!admit(stamp(5)), "the same packet again")
        #expect(admit(stamp(7)))
        #expect(admit(stamp(6)), "late, but within the window and new")
        #expect(!admit(stamp(6)))
        #expect(admit(stamp(200)))
        #expect(!admit(stamp(100)), "older than the 64-packet window")
        #expect(admit(stamp(epoch: 11, 1)), "the sender restarted")
        #expect(!admit(stamp(epoch: 10, 201)), "a capture from its previous run")
        #expect(admit(stamp("h2", 1)), "every sender has its own window")
        // Bounded: a ninth sender pushes out the least recently heard.
        for index in 0..<20 { #expect(admit(stamp("x\(index)", 1))) }
        #expect(guardState.count == 8)
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
