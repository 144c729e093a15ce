import HeraldCore
import HeraldWire
import Testing

@Suite struct CaptureFilterTests {
    let ours = MACAddress(0x02, 0, 0, 0, 0, 0x0b)
    let client = MACAddress(0x02, 0, 0, 0, 0, 0x02)

    func request(for target: String, from sender: String = "198.51.100.2") -> [UInt8] {
        ARPPacket(operation: .request, senderMAC: client, senderIP: IPv4Address(sender)!, targetMAC: .zero,
                  targetIP: IPv4Address(target)!).frame(ethernetDestination: .broadcast, ethernetSource: client)
    }

    func solicitation(for target: String) -> [UInt8] {
        let address = IPv6Address(target)!
        return NDPPacket.frame(.solicitation(NeighborSolicitation(target: address, sourceLinkLayer: client)),
                               source: IPv6Address("2001:db8:100::2")!, destination: address.solicitedNodeMulticast,
                               ethernetDestination: .ipv6Multicast(address.solicitedNodeMulticast), ethernetSource: client)
    }

    @Test func passesOnlyFramesAboutWatchedAddresses() throws {
        let watched: Set<IPAddress> = [IPAddress("198.51.100.50")!, IPAddress("198.51.100.51")!, IPAddress("2001:db8:100::50")!]
        let program = try #require(CaptureFilter.program(watching: watched))
        #expect(program.passes(request(for: "198.51.100.50")))
        #expect(program.passes(request(for: "198.51.100.51")))
        #expect(!program.passes(request(for: "198.51.100.52")), "a request for an address nobody here serves")
        #expect(program.passes(request(for: "198.51.100.9", from: "198.51.100.50")), "another host claiming ours")
        #expect(program.passes(solicitation(for: "2001:db8:100::50")))
        #expect(!program.passes(solicitation(for: "2001:db8:100::51")))
        let advertisement = NDPPacket.frame(
            .advertisement(NeighborAdvertisement(solicited: false, override: true, target: IPv6Address("2001:db8:100::50")!,
                                                 targetLinkLayer: client)),
            source: IPv6Address("2001:db8:100::50")!, destination: .allNodes, ethernetDestination: .ipv6Multicast(.allNodes),
            ethernetSource: client)
        #expect(program.passes(advertisement), "another host announcing ours")
        #expect(!program.passes([UInt8](repeating: 0, count: 60)), "neither ARP nor IPv6")
    }

    @Test func aLongListFallsBackToTheBroadFilter() throws {
        let many = Set((0..<1000).map { IPAddress.v4(IPv4Address(rawValue: 0xC633_6400 + UInt32($0))) })
        #expect(CaptureFilter.program(watching: many) == nil)
        let v4 = Set((0..<800).map { IPAddress.v4(IPv4Address(rawValue: 0xC633_6400 + UInt32($0))) })
        let program = try #require(CaptureFilter.program(watching: v4), "800 IPv4 addresses fit")
        let last = program.passes(request(for: "198.51.103.31", from: "192.0.2.1"))   // 198.51.100.0 + 799
        let beyond = program.passes(request(for: "198.51.103.32", from: "192.0.2.1"))
        #expect(last && !beyond)
    }
}
