@testable import HeraldCore
import HeraldWire
import Testing

@Suite struct IPRangeTests {
    func range(_ text: String) throws -> IPRange { try IPRange.parse(text).get() }

    @Test func parsesRangesCIDRsAndSingles() throws {
        #expect(try range("192.168.2.100-192.168.2.120").count == 21)
        #expect(try range(" 192.168.2.100 - 192.168.2.120 ").first == IPAddress("192.168.2.100"))
        #expect(try range("192.168.2.0/24").last == IPAddress("192.168.2.255"))
        #expect(try range("10.0.0.7").count == 1)
        #expect(try range("fd00:2::/120").count == 256)
        #expect(try range("::/0").count == UInt128.max)
        #expect(try range("0.0.0.0/0").count == 1 << 32)
    }

    @Test func refusesWithReasons() {
        #expect(IPRange.parse("10.0.0.1-fd00::1") == .failure(.init("range '10.0.0.1-fd00::1' mixes IPv4 and IPv6")))
        #expect(IPRange.parse("10.0.0.0/33") == .failure(.init("'/33' is not a prefix length for IPv4 (0-32)")))
    }

    @Test func membershipAndOverlap() throws {
        let pool = try range("192.168.2.100-192.168.2.120")
        #expect(pool.contains(IPAddress("192.168.2.120")!))
        #expect(!pool.contains(IPAddress("192.168.2.121")!))
        #expect(!pool.contains(IPAddress("::ffff:c0a8:264")!))
        #expect(pool.overlaps(try range("192.168.2.120/30")))
        #expect(!pool.overlaps(try range("192.168.2.124/30")))
        #expect(!pool.overlaps(try range("fd00::/8")))
    }

    @Test func prefixes() {
        let prefix = IPPrefix(address: IPAddress("2001:db8:100::11")!, length: 64)
        #expect(prefix.contains(IPAddress("2001:db8:100::ffff")!))
        #expect(!prefix.contains(IPAddress("2001:db8:101::1")!))
        #expect(IPPrefix(address: IPAddress("198.51.100.11")!, length: 0).contains(IPAddress("8.8.8.8")!))
    }

    @Test func globs() {
        #expect(Glob("pve-*").matches("pve-1"))
        #expect(Glob("pve-?").matches("pve-1") && !Glob("pve-?").matches("pve-10"))
        #expect(Glob("*").matches(""))
        #expect(Glob("a*b*c").matches("aXbYbc") && !Glob("a*b*c").matches("aXbY"))
        #expect(!Glob("pve-1").matches("pve-10"))
    }
}

@Suite struct AddressSetTests {
    func set(_ texts: [String], avoidBuggy: Bool = false) throws -> AddressSet {
        AddressSet(try texts.map { try IPRange.parse($0).get() }, avoidBuggyIPs: avoidBuggy)
    }

    @Test func iteratesRangesInOrderAcrossFamilies() throws {
        let addresses = try set(["198.51.100.254-198.51.100.255", "2001:db8::ffff:fffe/127", "10.0.0.1"]).map(\.description)
        #expect(addresses == ["198.51.100.254", "198.51.100.255", "2001:db8::ffff:fffe", "2001:db8::ffff:ffff", "10.0.0.1"])
    }

    @Test func iterationEndsAtTheTopOfTheAddressSpace() throws {
        #expect(try set(["255.255.255.254/31"]).map(\.description) == ["255.255.255.254", "255.255.255.255"])
        #expect(try set(["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]).map(\.description) == ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
    }

    @Test func avoidsBuggyAddressesInCountMembershipAndIteration() throws {
        let pool = try set(["198.51.100.0/23", "2001:db8::/120"], avoidBuggy: true)
        #expect(pool.count == 512 - 4 + 256)
        #expect(!pool.contains(IPAddress("198.51.100.255")!) && !pool.contains(IPAddress("198.51.101.0")!))
        #expect(pool.contains(IPAddress("198.51.100.1")!) && pool.contains(IPAddress("2001:db8::ff")!))
        let iterated = Array(pool)
        #expect(UInt128(iterated.count) == pool.count)
        #expect(iterated.first == IPAddress("198.51.100.1") && !iterated.contains(IPAddress("198.51.100.255")!))
        #expect(try set(["10.0.0.3-10.0.1.2"], avoidBuggy: true).count == UInt128(Array(try set(["10.0.0.3-10.0.1.2"], avoidBuggy: true)).count))
    }

    @Test func countsHugeRangesWithoutIterating() throws {
        let huge = try set(["2001:db8::/64", "::/0"])
        #expect(huge.count == .max)
        var iterator = huge.makeIterator()
        #expect(iterator.next() == IPAddress("2001:db8::"))
    }
}
