@testable import HeraldCore
import HeraldWire
import Testing

func decode(_ text: String, fragments: [ConfigFile] = []) -> Result<HeraldConfig, ConfigErrors> {
    ConfigDecoder.decode(main: ConfigFile(path: "/etc/herald/herald.toml", text: text), fragments: fragments)
}

func errors(_ text: String, fragments: [ConfigFile] = [], host: HostFacts? = nil) -> [String] {
    switch decode(text, fragments: fragments) {
    case .failure(let errors): return errors.errors.map(\.description)
    case .success(let config): return ConfigValidator.validate(config, host: host).map(\.description)
    }
}

let labHost = HostFacts(hostname: "h1", interfaces: [
    HostInterface(name: "lo", index: 1, mac: nil, isUp: true, isBroadcast: false, isLoopback: true, isVirtual: true,
                  hasMaster: false, prefixes: [IPPrefix(address: IPAddress("127.0.0.1")!, length: 8)]),
    HostInterface(name: "eth0", index: 2, mac: MACAddress("02:00:00:00:00:11"), isUp: true, isBroadcast: true,
                  isLoopback: false, isVirtual: false, hasMaster: false,
                  prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24),
                             IPPrefix(address: IPAddress("2001:db8:100::11")!, length: 64),
                             IPPrefix(address: IPAddress("fe80::11")!, length: 64)]),
    HostInterface(name: "eth1", index: 3, mac: MACAddress("02:00:00:00:01:11"), isUp: true, isBroadcast: true,
                  isLoopback: false, isVirtual: false, hasMaster: false,
                  prefixes: [IPPrefix(address: IPAddress("203.0.113.11")!, length: 24)]),
    HostInterface(name: "veth9", index: 4, mac: MACAddress("02:00:00:00:09:11"), isUp: true, isBroadcast: true,
                  isLoopback: false, isVirtual: true, hasMaster: true, prefixes: []),
])

@Suite struct ConfigTests {
    @Test func decodesAFullConfigWithDefaults() throws {
        let config = try decode("""
        [node]
        name = "pve-1"
        interfaces = ["vmbr0"]

        [gossip]
        bind = "192.168.2.20:7946"
        join = ["192.168.2.21:7946", "[fd00::2]:7946", "pve-3.lan:7946"]
        key_file = "/etc/herald/gossip.key"

        [kubernetes]

        [metrics]
        listen = "127.0.0.1:9473"

        [[pool]]
        name = "homelab"
        addresses = ["192.168.2.100-192.168.2.120", "fd00:2::/120"]
        nodes = ["pve-*"]

        [[vip]]
        name = "nas"
        address = "192.168.2.50"
        nodes = ["pve-1", "pve-2"]
        check = { tcp = "127.0.0.1:445", interval = "1s", rise = 3, fall = 2 }
        """).get()
        #expect(config.node.name == "pve-1")
        #expect(config.gossip?.join.count == 3)
        #expect(config.gossip?.profile == .lan)
        #expect(config.kubernetes?.loadBalancerClass == "")
        #expect(config.metrics?.listen == HostPort(host: "127.0.0.1", port: 9473))
        #expect(config.pools[0].autoAssign && !config.pools[0].avoidBuggyIPs)
        #expect(config.pools[0].addresses.map(\.count) == [21, 256])
        #expect(config.pools[0].location == SourceLocation(file: "/etc/herald/herald.toml", line: 15))
        #expect(config.vips[0].check == HealthCheck(probe: .tcp(HostPort(host: "127.0.0.1", port: 445)),
                                                    interval: .seconds(1), timeout: .seconds(1), rise: 3, fall: 2))
        #expect(config.vips[0].allows(node: "pve-2") && !config.vips[0].allows(node: "pve-3"))
    }

    @Test func everyErrorNamesFileLineAndKey() {
        let found = errors("""
        [node]
        nmae = "x"

        [gossip]
        bind = "nonsense"

        [[pool]]
        name = "a"
        addresses = ["10.0.0.9-10.0.0.1", "10.1.0.1/16", "banana"]
        auto_assign = "yes"

        [[vip]]
        name = "v"
        address = "10.0.0.0/24"
        check = { tcp = "x:1", command = "true" }
        """)
        #expect(found == [
            "/etc/herald/herald.toml:2: node.nmae: unknown key (did you mean 'name'?)",
            "/etc/herald/herald.toml:5: gossip.bind: 'nonsense' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)",
            "/etc/herald/herald.toml:4: gossip.key_file: is required unless insecure = true (make one with: heraldctl keygen /etc/herald/gossip.key)",
            "/etc/herald/herald.toml:9: pool.addresses: range '10.0.0.9-10.0.0.1' ends before it starts",
            "/etc/herald/herald.toml:9: pool.addresses: '10.1.0.1/16' has host bits set; the network is 10.1.0.0/16",
            "/etc/herald/herald.toml:9: pool.addresses: 'banana' is not an address, range (a-b) or CIDR (net/len)",
            "/etc/herald/herald.toml:10: pool.auto_assign: expected true or false, found string",
            "/etc/herald/herald.toml:14: vip.address: '10.0.0.0/24' is not an IP address (a VIP is one address, not a range)",
            "/etc/herald/herald.toml:15: vip.check.command: set either tcp or command, not both",
        ])
    }

    @Test func syntaxErrorsCarryLineAndColumn() {
        #expect(errors("[node]\nname = pve-1\n") == ["/etc/herald/herald.toml:2: invalid value 'pve-1' (strings need quotes; booleans are true or false) (column 8)"])
    }

    @Test func overlapsAndDuplicatesAcrossFiles() {
        let fragment = ConfigFile(path: "/etc/herald/pools.d/lab.toml", text: """
        [[pool]]
        name = "a"
        addresses = ["10.0.0.5-10.0.0.20"]

        [[vip]]
        name = "dup"
        address = "10.9.0.1"
        """)
        let found = errors("""
        [[pool]]
        name = "a"
        addresses = ["10.0.0.0/28"]

        [[vip]]
        name = "dup"
        address = "10.0.0.3"
        """, fragments: [fragment])
        #expect(found == [
            "/etc/herald/pools.d/lab.toml:1: pool.name: pool 'a' is already defined at /etc/herald/herald.toml:1",
            "/etc/herald/pools.d/lab.toml:1: pool.addresses: 10.0.0.5-10.0.0.20 overlaps 10.0.0.0-10.0.0.15 of pool 'a' at /etc/herald/herald.toml:1",
            "/etc/herald/herald.toml:5: vip.address: 10.0.0.3 lies in pool 'a' at /etc/herald/herald.toml:1; a pool address may be given to a Service",
            "/etc/herald/pools.d/lab.toml:5: vip.name: VIP 'dup' is already defined at /etc/herald/herald.toml:5",
        ])
    }

    @Test func poolsDirectoryHoldsOnlyPoolsAndVIPs() {
        let fragment = ConfigFile(path: "/etc/herald/pools.d/x.toml", text: "[node]\nname = \"x\"\n")
        #expect(errors("", fragments: [fragment]) == [
            "/etc/herald/pools.d/x.toml:1: node: [node] belongs in the main config file, not in pools.d",
        ])
    }

    @Test func vipsMustSitOnAnInterfaceSubnetOfThisHost() {
        let config = """
        [[vip]]
        name = "ok"
        address = "198.51.100.50"

        [[vip]]
        name = "elsewhere"
        address = "192.0.2.50"

        [[vip]]
        name = "other-node"
        address = "192.0.2.51"
        nodes = ["h2"]

        [[vip]]
        name = "kernel"
        address = "198.51.100.11"

        [[vip]]
        name = "v6"
        address = "2001:db8:100::50"

        [[vip]]
        name = "pinned"
        address = "203.0.113.50"
        interfaces = ["eth0"]
        """
        #expect(errors(config, host: labHost) == [
            "/etc/herald/herald.toml:14: vip.address: 198.51.100.11 is configured on eth0: the kernel already answers for it, so it cannot be a VIP",
            "/etc/herald/herald.toml:5: vip.address: 192.0.2.50 is on no subnet of the interfaces Herald uses here (eth0: 198.51.100.11/24 2001:db8:100::11/64 fe80::11/64; eth1: 203.0.113.11/24)",
            "/etc/herald/herald.toml:22: vip.address: 203.0.113.50 is on no subnet of the interfaces Herald uses here (eth0: 198.51.100.11/24 2001:db8:100::11/64 fe80::11/64)",
        ])
    }

    @Test func listedInterfacesMustExist() {
        #expect(errors("[node]\ninterfaces = [\"eth0\", \"vmbr9\"]\n", host: labHost) == [
            "/etc/herald/herald.toml:2: node.interfaces: interface 'vmbr9' does not exist on this host (present: eth0, eth1, veth9)",
        ])
    }

    @Test func refusesAddressesNobodyCanAnnounce() {
        #expect(errors("[[vip]]\nname = \"m\"\naddress = \"224.0.0.1\"\n") == [
            "/etc/herald/herald.toml:1: vip.address: 224.0.0.1 is a multicast or reserved address",
        ])
        #expect(errors("[[vip]]\nname = \"m\"\naddress = \"fe80::5\"\n") == [
            "/etc/herald/herald.toml:1: vip.address: fe80::5 is link-local; use a global or ULA address",
        ])
    }

    @Test func defaultInterfacesAreUpPhysicalNICsOnly() {
        #expect(labHost.usableInterfaces(NodeSettings()).map(\.name) == ["eth0", "eth1"])
        #expect(labHost.usableInterfaces(NodeSettings(interfaces: ["veth9"])).map(\.name) == ["veth9"])
    }

    @Test func linkPlanPutsEachVIPOnTheInterfaceOfItsSubnet() throws {
        let config = try decode("""
        [[vip]]
        name = "a"
        address = "198.51.100.50"
        [[vip]]
        name = "b"
        address = "203.0.113.50"
        nodes = ["h2"]
        [[vip]]
        name = "c"
        address = "2001:db8:100::50"
        """).get()
        let owned = LinkPlan.standaloneOwnership(config: config, nodeName: "h1")
        #expect(owned == [IPAddress("198.51.100.50")!, IPAddress("2001:db8:100::50")!])
        let plan = LinkPlan.make(config: config, host: labHost, owned: owned)
        #expect(plan.addressesByInterface == ["eth0": owned])
        #expect(LinkPlan.interfaces(config: config, host: labHost).map(\.name) == ["eth0", "eth1"])
    }

    @Test func durations() {
        let cases: [(String, Duration?)] = [("250ms", .milliseconds(250)), ("1s", .seconds(1)), ("1.5s", .milliseconds(1500)),
                                            ("2m", .seconds(120)), ("1h", .seconds(3600)), ("1", nil), ("s", nil), ("-1s", nil)]
        for (text, expected) in cases {
            var reader = "[[vip]]\nname = \"v\"\naddress = \"10.0.0.1\"\ncheck = { tcp = \"127.0.0.1:1\", interval = \"\(text)\" }\n"
            reader += ""
            switch decode(reader) {
            case .success(let config): #expect(config.vips[0].check?.interval == expected, "\(text)")
            case .failure(let failure): #expect(expected == nil, "\(text): \(failure)")
            }
        }
    }
}

@Suite struct RealtimePriorityTests {
    @Test func defaultsToTenDecodesWithinRangeAndNamesTheLine() throws {
        #expect(try decode("").get().node.realtimePriority == 10)
        #expect(try decode("[node]\nrealtime_priority = 0\n").get().node.realtimePriority == 0)
        #expect(try decode("[node]\nrealtime_priority = 49\n").get().node.realtimePriority == 49)
        #expect(errors("[node]\nrealtime_priority = 50\n").count == 1)
        #expect(errors("[node]\nrealtime_priority = 50\n").first?.hasPrefix("/etc/herald/herald.toml:2: node.realtime_priority:") == true)
        #expect(errors("[node]\nrealtime_priority = -1\n").first?.hasPrefix("/etc/herald/herald.toml:2: node.realtime_priority:") == true)
        #expect(errors("[node]\nrealtime_priority = \"high\"\n").first?.hasPrefix("/etc/herald/herald.toml:2: node.realtime_priority:") == true)
    }

    @Test func changingItTakesARestart() throws {
        let old = try decode("").get()
        let new = try decode("[node]\nrealtime_priority = 20\n").get()
        let refused = ConfigChange.restartRequired(from: old, nodeName: "h1", to: new, nodeName: "h1", file: "herald.toml")
        #expect(refused.map(\.keyPath) == ["node.realtime_priority"])
    }
}

@Suite struct TuningTests {
    @Test func everyTradeIsOnByDefaultAndEachCanBeTurnedOff() throws {
        let defaults = try decode("").get().tuning
        #expect(defaults.dropStartupCode && defaults.kernelFilters)
        let off = try decode("[tuning]\ndrop_startup_code = false\nkernel_filters = false\n").get().tuning
        #expect(!off.dropStartupCode && !off.kernelFilters)
        #expect(errors("[tuning]\nkernel_filters = \"no\"\n").first?.hasPrefix("/etc/herald/herald.toml:2: tuning.kernel_filters:") == true)
        #expect(errors("[tuning]\nturbo = true\n").first?.hasPrefix("/etc/herald/herald.toml:2: tuning.turbo:") == true)
    }

    @Test func changingOneTakesARestart() throws {
        let old = try decode("").get()
        let new = try decode("[tuning]\nkernel_filters = false\n").get()
        let refused = ConfigChange.restartRequired(from: old, nodeName: "h1", to: new, nodeName: "h1", file: "herald.toml")
        #expect(refused.map(\.keyPath) == ["tuning.kernel_filters"])
    }
}
