import HeraldWire
import Testing

@Suite struct AddressTests {
    @Test func parsesAndPrintsIPv4Strictly() {
        #expect(IPv4Address("198.51.100.50")?.description == "198.51.100.50")
        for bad in ["198.51.100", "198.51.100.256", "198.051.100.1", "1.2.3.4.5", "", "a.b.c.d", "1..2.3", " 1.2.3.4"] {
            #expect(IPv4Address(bad) == nil, "\(bad)")
        }
    }

    @Test func parsesAndPrintsIPv6InCanonicalForm() {
        #expect(IPv6Address("2001:DB8:100:0:0:0:0:50")?.description == "2001:db8:100::50")
        #expect(IPv6Address("::1") == IPv6Address(high: 0, low: 1))
        #expect(IPv6Address("2001:db8::1::2") == nil)
        #expect(IPAddress("fe80::1")?.isIPv4 == false)
        #expect(IPAddress("2001:db8::50") == .v6(IPv6Address("2001:db8::50")!))
    }

    @Test func solicitedNodeGroupAndItsMAC() {
        let address = IPv6Address("2001:db8:100::12:3456")!
        #expect(address.solicitedNodeMulticast.description == "ff02::1:ff12:3456")
        #expect(MACAddress.ipv6Multicast(address.solicitedNodeMulticast).description == "33:33:ff:12:34:56")
    }

    @Test func macAddresses() {
        #expect(MACAddress("02:00:00:00:00:1a")?.description == "02:00:00:00:00:1a")
        #expect(MACAddress("02-00-00-00-00-1A") == MACAddress(2, 0, 0, 0, 0, 0x1A))
        #expect(MACAddress("02:00:00:00:00") == nil)
        #expect(MACAddress.broadcast.isMulticast)
        #expect(MACAddress("01:00:5e:00:00:01")!.isMulticast)
        #expect(!MACAddress("02:00:00:00:00:01")!.isMulticast)
    }
}
