@testable import HeraldCore
import HeraldWire
import Testing

/// A config file is input too: any value, however odd, ends in `FILE:LINE: key: message`
/// (and, on reload, in the running config being kept), never in a trap or a stack
/// overflow, and big files are read in time proportional to their size.
@Suite struct HostileConfigTests {
    @Test func durationsOutOfRangeAreErrorsNotTraps() {
        let check = """
            [[vip]]
            name = "nas"
            address = "198.51.100.50"
            check = { tcp = "127.0.0.1:445", interval = "9999999999999h", timeout = "99999999999999999999s" }
            """
        #expect(errors(check) == [
            "/etc/herald/herald.toml:4: vip.check.interval: '9999999999999h' is not a duration such as \"500ms\", \"1s\" or \"2m\"",
            "/etc/herald/herald.toml:4: vip.check.timeout: '99999999999999999999s' is not a duration such as \"500ms\", \"1s\" or \"2m\"",
        ])
        #expect(errors(check.replacingOccurrences("9999999999999h", with: "2h")).first
            == "/etc/herald/herald.toml:4: vip.check.interval: 2h is out of range (100ms to 1h)")
        #expect(errors("[node]\nmode = \"adjacent\"\ntarget_probe_interval = \"99999999999999999999s\"\n[kubernetes]\n").first?
            .hasPrefix("/etc/herald/herald.toml:3: node.target_probe_interval: '99999999999999999999s' is not a duration") == true)
    }

    @Test func nestingBeyondTheLimitIsRefusedWithoutRecursingDeep() {
        let arrays = "a = " + String(repeating: "[", count: 100_000) + "\n"
        #expect(errors(arrays) == ["/etc/herald/herald.toml:1: arrays and inline tables nested more than 32 deep (column 37)"])
        let tables = "a = " + String(repeating: "{ b = ", count: 100_000) + "\n"
        #expect(errors(tables).first?.contains("nested more than 32 deep") == true)
        let dotted = "[node]\n" + (0..<10_000).map { "k\($0)" }.joined(separator: ".") + " = 1\n"
        #expect(errors(dotted).first?.contains("a key with more than 32 dotted parts") == true)
        // Up to the limit is fine.
        #expect((try? TOMLParser.parse("a = " + String(repeating: "[", count: 32) + String(repeating: "]", count: 32))) != nil)
    }

    @Test func aLargeFileIsReadWhole() throws {
        // 20,000 VIPs and a table of 20,000 keys: each key found through the index, each
        // table grown in place (this took tens of seconds when every step copied).
        var text = "[node]\ninterfaces = [\"eth0\"]\n"
        for index in 0..<20_000 {
            text += "[[vip]]\nname = \"v\(index)\"\naddress = \"10.\(index / 65536).\(index / 256 % 256).\(index % 256)\"\n"
        }
        guard case .success(let config) = decode(text) else {
            Issue.record("\(decode(text))")
            return
        }
        #expect(config.vips.count == 20_000)
        #expect(ConfigValidator.validate(config, host: nil).isEmpty)
        let wide = "[node]\n" + (0..<20_000).map { "key\($0) = \($0)" }.joined(separator: "\n")
        let table = try TOMLParser.parse(wide)
        #expect(table["node"].flatMap { if case .table(let node) = $0.value.kind { node["key19999"]?.line } else { nil } } == 20_001)
    }

    @Test func aFileOfGarbageGetsAHundredErrorsAtMost() {
        let garbage = (0..<5000).map { "[[vip]]\nname = \"v\($0)\"\nnmae = 1\n" }.joined()
        let found = errors(garbage)
        #expect(found.count == 100)
        #expect(found.last?.contains("more problems (only the first 99 are listed)") == true)
    }

    @Test func duplicatesAndOverlapsAreFoundAcrossManyEntries() {
        var text = ""
        for index in 0..<3000 { text += "[[pool]]\nname = \"p\(index)\"\naddresses = [\"10.0.\(index / 256).\(index % 256)/32\"]\n" }
        text += "[[pool]]\nname = \"p7\"\naddresses = [\"10.0.0.0/24\"]\n"
        text += "[[vip]]\nname = \"a\"\naddress = \"10.0.5.1\"\n[[vip]]\nname = \"a\"\naddress = \"192.0.2.1\"\n"
        let found = errors(text)
        #expect(found.contains { $0.contains("pool 'p7' is already defined at /etc/herald/herald.toml:") })
        #expect(found.contains { $0.contains("10.0.0.0-10.0.0.255 overlaps 10.0.0.0 of pool 'p0'") })
        #expect(found.contains { $0.contains("10.0.5.1 lies in pool 'p1281'") })
        #expect(found.contains { $0.contains("VIP 'a' is already defined") })
    }

    @Test func aKeyFileWithInsecureIsAnError() {
        let text = "[gossip]\nbind = \"198.51.100.11:7946\"\nkey_file = \"/etc/herald/gossip.key\"\ninsecure = true\n"
        #expect(errors(text) == [
            "/etc/herald/herald.toml:3: gossip.key_file: set together with insecure = true, which would ignore it and send gossip unencrypted: remove one of the two",
        ])
    }

    @Test func passingChecksBeyondWhatFitsAreLeftOutNotTrapped() {
        let many = NodeMeta(interfaces: [], passingChecks: Array(repeating: "x", count: 600))
        #expect(NodeMeta.decode(many.encode())?.passingChecks.count == 255, "a count byte's worth")
        let long = NodeMeta(interfaces: [], passingChecks: (0..<600).map { "check-\($0)" })
        #expect(long.encode().count <= GossipMessage.maxMetaLength, "and a kilobyte's worth")
        #expect(NodeMeta.decode(long.encode()) != nil)
        #expect(NodeMeta.decode(NodeMeta(interfaces: [], passingChecks: [String(repeating: "x", count: 300)]).encode())?.passingChecks == [])
    }
}

extension String {
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
