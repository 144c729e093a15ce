import HeraldCore
import HeraldWire
import Testing

@Suite struct ResponderTests {
    let ours = MACAddress("02:00:00:00:00:11")!
    let client = MACAddress("02:00:00:00:00:12")!
    let vip4 = IPv4Address("198.51.100.50")!
    let vip6 = IPv6Address("2001:db8:100::50")!
    let clientIP6 = IPv6Address("2001:db8:100::2")!

    var context: ResponderContext {
        ResponderContext(mac: ours, answering: [.v4(vip4), .v6(vip6)],
                         ownedElsewhere: [IPAddress("203.0.113.50")!])
    }

    func arp(_ operation: ARPPacket.Operation = .request, from senderMAC: MACAddress? = nil, senderIP: IPv4Address = IPv4Address("198.51.100.2")!,
             target: IPv4Address? = nil, ethernetDestination: MACAddress = .broadcast, ethernetSource: MACAddress? = nil) -> [UInt8] {
        ARPPacket(operation: operation, senderMAC: senderMAC ?? client, senderIP: senderIP, targetMAC: .zero, targetIP: target ?? vip4)
            .frame(ethernetDestination: ethernetDestination, ethernetSource: ethernetSource ?? senderMAC ?? client)
    }

    func solicitation(target: IPv6Address? = nil, source: IPv6Address? = nil, destination: IPv6Address? = nil,
                      ethernetDestination: MACAddress? = nil, sourceLinkLayer: MACAddress?? = nil) -> [UInt8] {
        let target = target ?? vip6
        let destination = destination ?? target.solicitedNodeMulticast
        let isDAD = source?.isUnspecified ?? false
        return NDPPacket.frame(
            .solicitation(NeighborSolicitation(target: target, sourceLinkLayer: sourceLinkLayer ?? (isDAD ? nil : client))),
            source: source ?? clientIP6, destination: destination,
            ethernetDestination: ethernetDestination ?? .ipv6Multicast(destination), ethernetSource: client)
    }

    @Test func answersAnARPRequestForOurVIPUnicastFromOurMAC() throws {
        guard case .reply(let frame, let address) = Responder.decide(arp(), context: context),
              case .arp(let ethernet, let reply) = try Frame.decode(frame) else {
            Issue.record("no reply")
            return
        }
        #expect(address == .v4(vip4))
        #expect(ethernet.destination == client && ethernet.source == ours)
        #expect(reply == ARPPacket(operation: .reply, senderMAC: ours, senderIP: vip4, targetMAC: client,
                                   targetIP: IPv4Address("198.51.100.2")!))
    }

    @Test func answersUnicastRequestsToOurMAC() {
        guard case .reply = Responder.decide(arp(ethernetDestination: ours), context: context) else {
            Issue.record("unicast request (cache refresh) not answered")
            return
        }
    }

    @Test func answersProbesSoTheProberSeesTheConflict() throws {
        guard case .reply(let frame, _) = Responder.decide(arp(senderIP: .any), context: context),
              case .arp(_, let reply) = try Frame.decode(frame) else {
            Issue.record("probe not answered")
            return
        }
        #expect(reply.targetIP == .any && reply.senderIP == vip4 && reply.targetMAC == client)
    }

    @Test func dropsWithReasons() {
        let other = MACAddress("02:00:00:00:00:99")!
        let cases: [([UInt8], DropReason)] = [
            (arp(target: IPv4Address("198.51.100.60")!), .notOurs),
            (arp(target: IPv4Address("203.0.113.50")!), .wrongInterface),
            (arp(senderIP: IPv4Address("198.51.100.2")!, target: IPv4Address("198.51.100.2")!), .gratuitous),
            (arp(from: ours), .fromSelf),
            (arp(from: .broadcast), .badSender),
            (arp(from: MACAddress("01:00:5e:00:00:01")!), .badSender),
            (arp(ethernetDestination: other), .notForUs),
            (arp(.reply), .notRequest),
            ([0x01, 0x02], .malformed(.truncated(needed: 6, available: 2))),
            (solicitation(target: IPv6Address("2001:db8:100::60")!), .notOurs),
            (solicitation(destination: IPv6Address("ff02::1")!), .notForUs),
            (solicitation(ethernetDestination: other), .notForUs),
            (solicitation(sourceLinkLayer: .some(MACAddress("33:33:00:00:00:01")!)), .badSender),
        ]
        for (frame, reason) in cases {
            #expect(Responder.decide(frame, context: context) == .drop(reason), "\(reason)")
        }
    }

    @Test func reportsOtherHostsClaimingOurAddress() {
        let intruder = MACAddress("02:00:00:00:00:66")!
        let announcement = ARPPacket(operation: .reply, senderMAC: intruder, senderIP: vip4, targetMAC: .broadcast, targetIP: vip4)
            .frame(ethernetDestination: .broadcast, ethernetSource: intruder)
        #expect(Responder.decide(announcement, context: context) == .conflict(address: .v4(vip4), mac: intruder))
        let advertisement = NDPPacket.frame(
            .advertisement(NeighborAdvertisement(solicited: false, override: true, target: vip6, targetLinkLayer: intruder)),
            source: IPv6Address("2001:db8:100::66")!, destination: .allNodes, ethernetDestination: .ipv6Multicast(.allNodes),
            ethernetSource: intruder)
        #expect(Responder.decide(advertisement, context: context) == .conflict(address: .v6(vip6), mac: intruder))
    }

    @Test func answersMulticastSolicitationWithSolicitedOverrideAndOurMAC() throws {
        guard case .reply(let frame, _) = Responder.decide(solicitation(), context: context),
              case .ndp(let ethernet, let ndp) = try Frame.decode(frame),
              case .advertisement(let advertisement) = ndp.message else {
            Issue.record("no advertisement")
            return
        }
        #expect(ethernet.destination == client && ethernet.source == ours)
        #expect(ndp.header.source == vip6 && ndp.header.destination == clientIP6 && ndp.header.hopLimit == 255)
        #expect(advertisement == NeighborAdvertisement(solicited: true, override: true, target: vip6, targetLinkLayer: ours))
    }

    @Test func answersUnicastReachabilityProbes() throws {
        let nud = solicitation(destination: vip6, ethernetDestination: ours)
        guard case .reply(let frame, _) = Responder.decide(nud, context: context),
              case .ndp(_, let ndp) = try Frame.decode(frame) else {
            Issue.record("NUD not answered")
            return
        }
        #expect(ndp.header.destination == clientIP6)
    }

    @Test func answersDADProbesToAllNodesWithoutSolicitedFlag() throws {
        guard case .reply(let frame, _) = Responder.decide(solicitation(source: .unspecified), context: context),
              case .ndp(let ethernet, let ndp) = try Frame.decode(frame),
              case .advertisement(let advertisement) = ndp.message else {
            Issue.record("DAD probe not answered")
            return
        }
        #expect(ethernet.destination == MACAddress("33:33:00:00:00:01"))
        #expect(ndp.header.destination == .allNodes)
        #expect(!advertisement.solicited && advertisement.override)
    }

    @Test func answersNothingWhenItOwnsNothing() {
        let idle = ResponderContext(mac: ours, answering: [])
        #expect(Responder.decide(arp(), context: idle) == .drop(.notOurs))
        #expect(Responder.decide(solicitation(), context: idle) == .drop(.notOurs))
    }
}
