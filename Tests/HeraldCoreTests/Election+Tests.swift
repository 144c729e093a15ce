import Crypto
@testable import HeraldCore
import HeraldMembership
import HeraldWire
import Testing

@Suite struct ElectionTests {
    let lan = NodeMeta.Interface(name: "eth0", mac: MACAddress("02:00:00:00:00:0b")!,
                                 prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24)])

    func member(_ name: String, status: MemberRecord.Status = .alive, meta: NodeMeta? = nil) -> Member {
        Member(name: name, address: GossipAddress(ip: IPAddress("198.51.100.1")!, port: 7946), incarnation: 0, status: status,
               meta: (meta ?? NodeMeta(interfaces: [lan])).encode(), statusSince: .zero, roundTrip: nil)
    }

    func vip(_ address: String = "198.51.100.50", nodes: [String] = [], check: Bool = false) -> VIPConfig {
        VIPConfig(name: "web", address: IPAddress(address)!, nodes: nodes.map(Glob.init), interfaces: nil,
                  check: check ? HealthCheck(probe: .tcp(HostPort(host: "127.0.0.1", port: 80))) : nil,
                  location: SourceLocation(file: "t", line: 1))
    }

    @Test func ordersByMetalLBsHash() {
        let members = ["h1", "h2", "h3", "h4"].map { member($0) }
        let expected = ["h1", "h2", "h3", "h4"].sorted {
            Array(SHA256.hash(data: Array("\($0)#198.51.100.50".utf8))).lexicographicallyPrecedes(
                Array(SHA256.hash(data: Array("\($1)#198.51.100.50".utf8))))
        }
        #expect(Election.rank(vip(), members: members).map(\.name) == expected)
        #expect(Election.owner(of: vip(), members: members) == expected[0])
        // The same inputs in any order give the same owner.
        #expect(Election.owner(of: vip(), members: members.reversed()) == expected[0])
    }

    @Test func passesOverIneligibleMembersWithReasons() {
        let ranked = Election.rank(vip(nodes: ["h*"], check: true), members: [
            member("h1", status: .dead),
            member("x9"),
            member("h2", meta: NodeMeta(interfaces: [NodeMeta.Interface(name: "eth1", mac: .zero, prefixes: [])])),
            member("h3", meta: NodeMeta(interfaces: [lan], passingChecks: [])),
            member("h4", meta: NodeMeta(interfaces: [lan], passingChecks: ["web"], holdingDown: true)),
            member("h5", meta: NodeMeta(interfaces: [lan], passingChecks: ["web"])),
            member("h6", status: .suspect, meta: NodeMeta(interfaces: [lan], passingChecks: ["web"])),
        ])
        let reasons = Dictionary(uniqueKeysWithValues: ranked.map { ($0.name, $0.ineligibility) })
        #expect(reasons["h1"] == .notAlive(.dead))
        #expect(reasons["x9"] == .excludedByNodes)
        #expect(reasons["h2"] == .noInterfaceOnSubnet)
        #expect(reasons["h3"] == .checkNotPassing)
        #expect(reasons["h4"] == .holdingDown)
        #expect(reasons["h5"]! == nil && reasons["h6"]! == nil, "suspicion alone moves no VIP")
        #expect(ranked.first { $0.ineligibility == nil }?.interfaces == ["eth0"])
    }

    @Test func vipsSpreadOverMembers() {
        let members = (1...5).map { member("h\($0)") }
        let vips = (50..<100).map { vip("198.51.100.\($0)") }
        let owners = Election.owners(vips, members: members)
        #expect(owners.count == 50)
        #expect(Set(owners.values).count == 5)
    }

    @Test func metaRoundTripsAndRejectsGarbage() {
        let meta = NodeMeta(interfaces: [lan, NodeMeta.Interface(name: "vmbr0", mac: MACAddress("02:00:00:00:01:0b")!,
                                                                   prefixes: [IPPrefix(address: IPAddress("2001:db8::1")!, length: 64)])],
                            passingChecks: ["web", "nas"], holdingDown: true)
        #expect(NodeMeta.decode(meta.encode()) == meta)
        #expect(NodeMeta.decode([]) == nil)
        #expect(NodeMeta.decode(meta.encode() + [0]) == nil)
        #expect(NodeMeta.decode(Array(meta.encode().dropLast())) == nil)
        let many = NodeMeta(interfaces: [], passingChecks: (0..<200).map { "check-with-a-long-name-\($0)" })
        #expect(many.encode().count <= GossipMessage.maxMetaLength)
    }
}

@Suite struct ServiceElectionTests {
    let v4 = NodeMeta.Interface(name: "eth0", mac: MACAddress("02:00:00:00:00:0b")!,
                                prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24)])
    let v6 = NodeMeta.Interface(name: "eth0", mac: MACAddress("02:00:00:00:00:0b")!,
                                prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24),
                                           IPPrefix(address: IPAddress("2001:db8:100::11")!, length: 64)])

    func member(_ name: String, _ interface: NodeMeta.Interface) -> Member {
        Member(name: name, address: GossipAddress(ip: IPAddress("198.51.100.1")!, port: 7946), incarnation: 0, status: .alive,
               meta: NodeMeta(interfaces: [interface]).encode(), statusSince: .zero, roundTrip: nil)
    }

    func pool(nodes: [String] = []) -> PoolConfig {
        PoolConfig(name: "homelab", addresses: [], nodes: nodes.map(Glob.init), location: SourceLocation(file: "t", line: 1))
    }

    @Test func kubernetesFactsPassNodesOverWithReasons() {
        let members = ["n1", "n2", "n3", "n4", "n5", "n6", "n7"].map { member($0, v4) } + [member("n8", v6)]
        let nodes: [String: KubeNodeFacts] = [
            "n1": KubeNodeFacts(labels: [KubeNodeFacts.excludeLabel: ""]),
            "n2": KubeNodeFacts(networkUnavailable: true),
            "n3": KubeNodeFacts(labels: ["zone": "b"]),
            "n4": KubeNodeFacts(labels: ["zone": "a"]),
            "n5": KubeNodeFacts(labels: ["zone": "a"]),
            "n6": KubeNodeFacts(labels: ["zone": "a"]),
            "n8": KubeNodeFacts(labels: ["zone": "a"]),
        ]
        let addresses = [IPAddress("198.51.100.100")!, IPAddress("2001:db8:100::1:5")!]
        let ranked = Election.rank(service: "default/web", addresses: addresses, pool: pool(nodes: ["zone=a"]), members: members,
                                   nodes: nodes, endpointNodes: ["n4", "n5", "n8"])
        let reasons = Dictionary(uniqueKeysWithValues: ranked.map { ($0.name, $0.ineligibility) })
        #expect(reasons["n1"] == .kubernetes(.excludedByLabel))
        #expect(reasons["n2"] == .kubernetes(.networkUnavailable))
        #expect(reasons["n3"] == .kubernetes(.excludedByPool))
        #expect(reasons["n4"] == .noInterfaceOnSubnet)  // no IPv6 subnet for the second address
        #expect(reasons["n6"] == .kubernetes(.noReadyEndpoint))  // what Kubernetes says comes first
        #expect(reasons["n7"] == .notAKubernetesNode)
        #expect(reasons["n8"] == .some(nil))
        // Single-stack, every Local endpoint node on zone a is eligible, in hash order.
        let single = Election.rank(service: "default/web", addresses: [addresses[0]], pool: pool(nodes: ["zone=a"]),
                                   members: members, nodes: nodes, endpointNodes: ["n4", "n5", "n8"])
        #expect(Set(single.filter { $0.ineligibility == nil }.map(\.name)) == ["n4", "n5", "n8"])
        #expect(single.first { $0.name == "n6" }?.ineligibility == .kubernetes(.noReadyEndpoint))
        // The order is MetalLB's hash on the first address, as for a VIP.
        let vipOrder = Election.rank(VIPConfig(name: "x", address: addresses[0], location: SourceLocation(file: "t", line: 1)),
                                     members: members).map(\.name)
        #expect(single.map(\.name) == vipOrder)
    }
}
