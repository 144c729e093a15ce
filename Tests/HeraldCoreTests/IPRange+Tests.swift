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
