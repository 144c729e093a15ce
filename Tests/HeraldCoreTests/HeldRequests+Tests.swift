import HeraldCore
import HeraldMembership
import HeraldWire
import Testing

/// A node that takes an address over answers the requests it saw for it a moment before.
@Suite struct HeldRequestsTests {
    let ours = MACAddress("02:00:00:00:00:11")!
    let client = MACAddress("02:00:00:00:00:12")!
    let vip = IPAddress("198.51.100.50")!
    let other = IPAddress("198.51.100.51")!

    func request(for target: IPAddress, from sender: String = "198.51.100.2") -> [UInt8] {
        guard case .v4(let ip) = target else { return [] }
        return ARPPacket(operation: .request, senderMAC: client, senderIP: IPv4Address(sender)!, targetMAC: .zero, targetIP: ip)
            .frame(ethernetDestination: .broadcast, ethernetSource: client)
    }

    @Test func aRequestForACandidateWeDoNotAnswerIsHeldNotAnswered() {
        let context = ResponderContext(mac: ours, answering: [], guarded: [vip])
        #expect(Responder.decide(request(for: vip), context: context) == .held(address: vip))
        // Not a candidate here: an ordinary drop.
        #expect(Responder.decide(request(for: other), context: context) == .drop(.notOurs))
    }

    @Test func heldRequestsAreAnsweredOnTakeoverOnceAndOnlyWhileFresh() {
        var held = HeldRequests(settings: .init(capacity: 8, maximumAge: .milliseconds(500)))
        for (index, frame) in [request(for: vip, from: "198.51.100.2"), request(for: other, from: "198.51.100.3"),
                               request(for: vip, from: "198.51.100.4")].enumerated() {
            frame.withUnsafeBytes { held.hold($0, for: index == 1 ? other : vip, now: .milliseconds(100 * index)) }
        }
        let taken = held.take(for: [vip], now: .milliseconds(550))
        // The first (held at 0 ms) is 550 ms old: too late; the third is answered.
        #expect(taken == [request(for: vip, from: "198.51.100.4")])
        #expect(held.take(for: [vip], now: .milliseconds(560)).isEmpty, "handed out once")
        #expect(held.take(for: [other], now: .milliseconds(560)) == [request(for: other, from: "198.51.100.3")])

        // The taken frame, decided again now that we answer, is a reply to its asker.
        let context = ResponderContext(mac: ours, answering: [vip], guarded: [vip])
        guard case .reply(let frame, let address) = Responder.decide(taken[0], context: context),
              case .arp(_, let reply) = try? Frame.decode(frame) else {
            Issue.record("held request not answered on takeover")
            return
        }
        #expect(address == vip && reply.targetIP == IPv4Address("198.51.100.4")! && reply.senderMAC == ours)
    }

    @Test func aFloodKeepsOnlyTheNewestFew() {
        var held = HeldRequests(settings: .init(capacity: 4, maximumAge: .seconds(1)))
        for index in 0..<1000 {
            request(for: vip, from: "198.51.100.\(index % 200 + 2)").withUnsafeBytes {
                held.hold($0, for: vip, now: .milliseconds(index))
            }
        }
        let taken = held.take(for: [vip], now: .milliseconds(1000))
        #expect(taken.count == 4)
        #expect(taken.first == request(for: vip, from: "198.51.100.\(996 % 200 + 2)"), "oldest of the newest four first")
    }
}

@Suite struct StartingUpTests {
    let interface = NodeMeta.Interface(name: "eth0", mac: MACAddress("02:00:00:00:00:0b")!,
                                       prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24)])

    @Test func startingUpRoundTripsAndOlderReadersSeeAHold() {
        let meta = NodeMeta(interfaces: [interface], startingUp: true)
        let bytes = meta.encode()
        #expect(NodeMeta.decode(bytes) == meta)
        #expect(bytes[1] == 2, "in the hold-down byte, which an older version reads as holding down (non-zero)")
        #expect(NodeMeta.decode(NodeMeta(interfaces: [interface]).encode())?.startingUp == false)
    }

    @Test func aStartingMemberIsNotElectedUntilReady() {
        let vip = VIPConfig(name: "web", address: IPAddress("198.51.100.50")!, location: SourceLocation(file: "t", line: 1))
        func member(_ name: String, startingUp: Bool) -> Member {
            Member(name: name, address: GossipAddress(ip: IPAddress("198.51.100.11")!, port: 7946), incarnation: 0, status: .alive,
                   meta: NodeMeta(interfaces: [interface], startingUp: startingUp).encode(), statusSince: .zero, roundTrip: nil)
        }
        let ranked = Election.rank(vip, members: [member("a", startingUp: true), member("b", startingUp: false)])
        #expect(ranked.first { $0.name == "a" }?.ineligibility == .startingUp)
        #expect(Election.owner(of: vip, members: [member("a", startingUp: true), member("b", startingUp: false)]) == "b")
        #expect(Election.owner(of: vip, members: [member("a", startingUp: true)]) == nil)
    }
}
