import HeraldWire
import Testing

@Suite struct FrameTests {
    let h1MAC = MACAddress(0x02, 0, 0, 0, 0, 0x11)
    let clientMAC = MACAddress(0x02, 0, 0, 0, 0, 0x12)

    @Test func decodesArpingRequest() throws {
        guard case .arp(let ethernet, let arp) = try Frame.decode(Fixtures.arpingRequest) else {
            Issue.record("not ARP")
            return
        }
        #expect(ethernet.destination == .broadcast)
        #expect(ethernet.source == clientMAC)
        #expect(arp.operation == .request)
        #expect(arp.senderMAC == clientMAC)
        #expect(arp.senderIP == IPv4Address(198, 51, 100, 2))
        #expect(arp.targetIP == IPv4Address(198, 51, 100, 11))
        #expect(!arp.isGratuitous)
        #expect(!arp.isProbe)
    }

    @Test func encodesTheKernelsReplyByteForByte() throws {
        guard case .arp(let ethernet, let arp) = try Frame.decode(Fixtures.kernelARPReply) else {
            Issue.record("not ARP")
            return
        }
        #expect(arp.operation == .reply)
        #expect(arp.senderMAC == h1MAC)
        #expect(arp.frame(ethernetDestination: ethernet.destination, ethernetSource: ethernet.source) == Fixtures.kernelARPReply)
    }

    @Test func decodesNdisc6Solicitation() throws {
        guard case .ndp(_, let ndp) = try Frame.decode(Fixtures.ndisc6Solicitation),
              case .solicitation(let solicitation) = ndp.message else {
            Issue.record("not a neighbor solicitation")
            return
        }
        #expect(solicitation.target == IPv6Address("2001:db8:100::11"))
        #expect(solicitation.sourceLinkLayer == clientMAC)
        #expect(ndp.header.destination == IPv6Address("2001:db8:100::11")!.solicitedNodeMulticast)
        #expect(ndp.header.hopLimit == 255)
    }

    @Test func encodesTheKernelsAdvertisementByteForByte() throws {
        guard case .ndp(let ethernet, let ndp) = try Frame.decode(Fixtures.kernelAdvertisement),
              case .advertisement(let advertisement) = ndp.message else {
            Issue.record("not a neighbor advertisement")
            return
        }
        #expect(advertisement.solicited && advertisement.override && !advertisement.router)
        #expect(advertisement.targetLinkLayer == h1MAC)
        let encoded = NDPPacket.frame(.advertisement(advertisement), source: ndp.header.source,
                                      destination: ndp.header.destination,
                                      ethernetDestination: ethernet.destination, ethernetSource: ethernet.source)
        #expect(encoded == Fixtures.kernelAdvertisement)
    }

    @Test func decodesDADProbeAndSkipsNonceOption() throws {
        guard case .ndp(_, let ndp) = try Frame.decode(Fixtures.kernelDADProbe),
              case .solicitation(let solicitation) = ndp.message else {
            Issue.record("not a neighbor solicitation")
            return
        }
        #expect(ndp.header.source.isUnspecified)
        #expect(solicitation.target == IPv6Address("2001:db8:100::99"))
        #expect(solicitation.sourceLinkLayer == nil)
    }

    @Test func otherICMPv6IsNotOurs() throws {
        #expect(try Frame.decode(Fixtures.routerSolicitation) == nil)
    }

    @Test func solicitationRoundTrips() throws {
        let target = IPv6Address("2001:db8::7")!
        let frame = NDPPacket.frame(.solicitation(NeighborSolicitation(target: target, sourceLinkLayer: clientMAC)),
                                    source: IPv6Address("2001:db8::1")!, destination: target.solicitedNodeMulticast,
                                    ethernetDestination: .ipv6Multicast(target.solicitedNodeMulticast), ethernetSource: clientMAC)
        guard case .ndp(let ethernet, let ndp) = try Frame.decode(frame) else {
            Issue.record("did not decode")
            return
        }
        #expect(ethernet.destination == MACAddress(0x33, 0x33, 0xFF, 0, 0, 0x07))
        #expect(ndp.message == .solicitation(NeighborSolicitation(target: target, sourceLinkLayer: clientMAC)))
    }

    @Test func rejectsTypicalMalformations() {
        var badChecksum = Fixtures.ndisc6Solicitation
        badChecksum[57] ^= 0xFF
        #expect(throws: WireError.badICMPv6Checksum) { try Frame.decode(badChecksum) }

        var lowHopLimit = Fixtures.ndisc6Solicitation
        lowHopLimit[21] = 64
        #expect(throws: WireError.badNDPHopLimit(64)) { try Frame.decode(lowHopLimit) }

        var zeroLengthOption = Fixtures.ndisc6Solicitation
        zeroLengthOption[79] = 0
        #expect(throws: WireError.self) { try Frame.decode(zeroLengthOption) }

        var badHardwareLength = Fixtures.arpingRequest
        badHardwareLength[18] = 8
        #expect(throws: WireError.unsupportedARPHardware(hardwareType: 1, protocolType: 0x0800, hardwareLength: 8, protocolLength: 4)) {
            try Frame.decode(badHardwareLength)
        }

        var badOperation = Fixtures.arpingRequest
        badOperation[21] = 9
        #expect(throws: WireError.unsupportedARPOperation(9)) { try Frame.decode(badOperation) }

        #expect(throws: WireError.truncated(needed: 28, available: 14)) { try Frame.decode(Array(Fixtures.arpingRequest.prefix(28))) }

        // Valid checksums (built by our encoder), addressing RFC 4861 §7.1.2 forbids.
        let multicastTarget = NDPPacket.frame(
            .advertisement(NeighborAdvertisement(solicited: false, override: true, target: .allNodes, targetLinkLayer: h1MAC)),
            source: IPv6Address("2001:db8::1")!, destination: .allNodes, ethernetDestination: .ipv6Multicast(.allNodes),
            ethernetSource: h1MAC)
        #expect(throws: WireError.badNDPTarget) { try Frame.decode(multicastTarget) }
        let solicitedToGroup = NDPPacket.frame(
            .advertisement(NeighborAdvertisement(solicited: true, override: true, target: IPv6Address("2001:db8::1")!,
                                                 targetLinkLayer: h1MAC)),
            source: IPv6Address("2001:db8::1")!, destination: .allNodes, ethernetDestination: .ipv6Multicast(.allNodes),
            ethernetSource: h1MAC)
        #expect(throws: WireError.badNDPAddressing) { try Frame.decode(solicitedToGroup) }

        // A solicitation from a multicast source (RFC 4291 §2.7): the fuzzer found that the
        // responder built a reply to it that did not decode (Fuzz/corpus/FuzzFrames/ns-from-multicast-source).
        let fromMulticast = NDPPacket.frame(
            .solicitation(NeighborSolicitation(target: IPv6Address("2001:db8:100::50")!, sourceLinkLayer: h1MAC)),
            source: IPv6Address("ff02::2")!, destination: IPv6Address("2001:db8:100::50")!.solicitedNodeMulticast,
            ethernetDestination: .ipv6Multicast(IPv6Address("2001:db8:100::50")!.solicitedNodeMulticast), ethernetSource: h1MAC)
        #expect(throws: WireError.badNDPAddressing) { try Frame.decode(fromMulticast) }

        var longPayload = Fixtures.ndisc6Solicitation
        longPayload[19] = 0xFF
        #expect(throws: WireError.self) { try Frame.decode(longPayload) }
    }
}
