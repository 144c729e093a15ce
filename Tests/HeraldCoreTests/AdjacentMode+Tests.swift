import Crypto
@testable import HeraldCore
import HeraldMembership
import HeraldWire
import Testing

/// Adjacent mode's pure parts: choosing the target node, tracking it on the link,
/// answering with its MAC, and the config and metadata that carry it.
@Suite struct TargetElectionTests {
    let service = IPAddress("198.51.100.100")!
    func pool(nodes: [String] = []) -> PoolConfig {
        PoolConfig(name: "lab", addresses: [], nodes: nodes.map(Glob.init), location: SourceLocation(file: "t", line: 1))
    }
    func node(_ octet: Int, ready: Bool = true, labels: [String: String] = [:]) -> KubeNodeFacts {
        KubeNodeFacts(labels: labels, ready: ready, internalIPs: [IPAddress("198.51.100.\(octet)")!])
    }
    var nodes: [String: KubeNodeFacts] { ["n1": node(31), "n2": node(32), "n3": node(33)] }
    /// The node that receives the traffic: the first eligible one.
    func firstTarget(addresses: [IPAddress], pool: PoolConfig, nodes: [String: KubeNodeFacts], endpointNodes: Set<String>?,
                unreachable: [String: [String]]) -> TargetElection.Ranked? {
        TargetElection.rank(addresses: addresses, pool: pool, nodes: nodes, endpointNodes: endpointNodes, unreachable: unreachable)
            .first { $0.ineligibility == nil }
    }

    func hashOrder(_ names: [String], for address: IPAddress) -> [String] {
        names.sorted {
            Array(SHA256.hash(data: Array("\($0)#\(address)".utf8))).lexicographicallyPrecedes(
                Array(SHA256.hash(data: Array("\($1)#\(address)".utf8))))
        }
    }

    @Test func ranksNodesBySHA256OfNameAndFirstAddress() {
        let ranked = TargetElection.rank(addresses: [service], pool: pool(), nodes: nodes, endpointNodes: nil, unreachable: [:])
        #expect(ranked.map(\.name) == hashOrder(["n1", "n2", "n3"], for: service))
        #expect(ranked.allSatisfy { $0.ineligibility == nil })
        let first = ranked[0]
        #expect(first.address == nodes[first.name]?.internalIPs.first)
    }

    @Test func passesOverNodesThatCannotTakeTraffic() {
        let first = hashOrder(["n1", "n2", "n3"], for: service)[0]
        var facts = nodes
        facts[first]?.ready = false
        var target = firstTarget(addresses: [service], pool: pool(), nodes: facts, endpointNodes: nil, unreachable: [:])
        #expect(target != nil && target?.name != first)
        #expect(TargetElection.rank(addresses: [service], pool: pool(), nodes: facts, endpointNodes: nil, unreachable: [:])
            .first { $0.name == first }?.ineligibility == .kubernetes(.notReady))

        facts = nodes
        facts[first]?.labels[KubeNodeFacts.excludeLabel] = ""
        #expect(firstTarget(addresses: [service], pool: pool(), nodes: facts, endpointNodes: nil, unreachable: [:])?.name != first)
        facts = nodes
        facts[first]?.internalIPs = []
        let ranked = TargetElection.rank(addresses: [service], pool: pool(), nodes: facts, endpointNodes: nil, unreachable: [:])
        #expect(ranked.first { $0.name == first }?.ineligibility == .noInternalIP)

        target = firstTarget(addresses: [service], pool: pool(), nodes: nodes, endpointNodes: nil,
                                       unreachable: [first: ["a2", "a1"]])
        #expect(target?.name == hashOrder(["n1", "n2", "n3"], for: service)[1])
        #expect(TargetElection.rank(addresses: [service], pool: pool(), nodes: nodes, endpointNodes: nil, unreachable: [first: ["a2", "a1"]])
            .first { $0.name == first }?.ineligibility == .unreachable(reportedBy: ["a1", "a2"]))
    }

    @Test func externalTrafficPolicyLocalPicksOnlyEndpointNodes() {
        for endpoint in ["n1", "n2", "n3"] {
            let target = firstTarget(addresses: [service], pool: pool(), nodes: nodes, endpointNodes: [endpoint],
                                               unreachable: [:])
            #expect(target?.name == endpoint)
        }
        #expect(firstTarget(addresses: [service], pool: pool(), nodes: nodes, endpointNodes: [], unreachable: [:]) == nil)
    }

    @Test func poolNodesListRestrictsTargets() {
        let target = firstTarget(addresses: [service], pool: pool(nodes: ["n2"]), nodes: nodes, endpointNodes: nil,
                                           unreachable: [:])
        #expect(target?.name == "n2")
    }

    @Test func resolvesTheSameFamilyFirst() {
        let facts = KubeNodeFacts(internalIPs: [IPAddress("2001:db8::31")!, IPAddress("198.51.100.31")!])
        #expect(TargetElection.linkAddress(facts, for: service) == IPAddress("198.51.100.31"))
        #expect(TargetElection.linkAddress(facts, for: IPAddress("2001:db8::100")!) == IPAddress("2001:db8::31"))
        let v4only = KubeNodeFacts(internalIPs: [IPAddress("198.51.100.31")!])
        #expect(TargetElection.linkAddress(v4only, for: IPAddress("2001:db8::100")!) == IPAddress("198.51.100.31"))
    }

    @Test func unreachableReportsIgnoreMembersHoldingDown() {
        let reports = TargetElection.unreachable(reportedIn: [
            ("a1", NodeMeta(interfaces: [], unreachableNodes: ["n1"])),
            ("a2", NodeMeta(interfaces: [], unreachableNodes: ["n1", "n2"])),
            ("a3", NodeMeta(interfaces: [], holdingDown: true, unreachableNodes: ["n3"])),
        ])
        #expect(reports == ["n1": ["a1", "a2"], "n2": ["a2"]])
    }

    @Test func adjacentOwnersAreElectedWithoutKubernetesNodeChecks() {
        let lan = NodeMeta.Interface(name: "eth0", mac: .zero, prefixes: [IPPrefix(address: IPAddress("198.51.100.0")!, length: 24)])
        let members = ["a1", "a2"].map {
            Member(name: $0, address: GossipAddress(ip: .v4(.any), port: 7946), incarnation: 0, status: .alive,
                   meta: NodeMeta(interfaces: [lan]).encode(), statusSince: .zero, roundTrip: nil)
        }
        let ranked = Election.rank(service: "default/web", addresses: [service], pool: pool(nodes: ["n*"]), members: members,
                                   nodes: nil, endpointNodes: nil)
        #expect(ranked.allSatisfy { $0.ineligibility == nil })
        let local = Election.rank(service: "default/web", addresses: [service], pool: pool(), members: members,
                                  nodes: nodes, endpointNodes: nil)
        #expect(local.allSatisfy { $0.ineligibility == .notAKubernetesNode })
    }
}

@Suite struct TargetTrackerTests {
    let node = IPAddress("198.51.100.31")!
    let nodeMAC = MACAddress("02:00:00:00:03:31")!
    let ms = Duration.milliseconds(1)

    func tracker() -> TargetTracker { TargetTracker(settings: .init(interval: .milliseconds(100), misses: 3, rise: 3)) }

    @Test func resolvesByBroadcastThenProbesUnicast() {
        var tracker = tracker()
        #expect(tracker.watch([node], keep: [], now: .zero).isEmpty)
        #expect(tracker.onTick(now: .zero) == [.probe(node, unicastTo: nil)])
        #expect(tracker.onTick(now: ms * 50).isEmpty)
        #expect(tracker.onAnswer(node, mac: nodeMAC, now: ms * 1) == [.changed(node)])
        #expect(tracker.reachable == [node: nodeMAC])
        #expect(tracker.onTick(now: ms * 100) == [.probe(node, unicastTo: nodeMAC)])
        #expect(tracker.nextDeadline == ms * 200)
    }

    @Test func unreachableAfterMissesAndBackAfterRise() {
        var tracker = tracker()
        _ = tracker.watch([node], keep: [], now: .zero)
        _ = tracker.onTick(now: .zero)
        _ = tracker.onAnswer(node, mac: nodeMAC, now: ms * 1)
        // Probes at 100, 200, 300 ms go unanswered; the one at 400 ms counts the third miss.
        #expect(tracker.onTick(now: ms * 100) == [.probe(node, unicastTo: nodeMAC)])
        #expect(tracker.onTick(now: ms * 200) == [.probe(node, unicastTo: nil)])
        #expect(tracker.onTick(now: ms * 300) == [.probe(node, unicastTo: nil)])
        #expect(tracker.state(of: node) == .reachable)
        #expect(tracker.onTick(now: ms * 400) == [.changed(node), .probe(node, unicastTo: nil)])
        #expect(tracker.unreachable == [node])
        #expect(tracker.reachable.isEmpty)
        // Two answered probes are not enough to come back; the third is.
        #expect(tracker.onAnswer(node, mac: nodeMAC, now: ms * 401).isEmpty)
        _ = tracker.onTick(now: ms * 500)
        #expect(tracker.onAnswer(node, mac: nodeMAC, now: ms * 501).isEmpty)
        _ = tracker.onTick(now: ms * 600)
        #expect(tracker.onAnswer(node, mac: nodeMAC, now: ms * 601) == [.changed(node)])
        #expect(tracker.state(of: node) == .reachable)
    }

    @Test func aMissResetsTheRise() {
        var tracker = tracker()
        _ = tracker.watch([node], keep: [], now: .zero)
        for tick in 0..<3 { _ = tracker.onTick(now: Duration.milliseconds(100 * tick)) }
        _ = tracker.onTick(now: ms * 300)
        #expect(tracker.state(of: node) == .unreachable)
        _ = tracker.onAnswer(node, mac: nodeMAC, now: ms * 301)
        _ = tracker.onTick(now: ms * 400)
        _ = tracker.onAnswer(node, mac: nodeMAC, now: ms * 401)
        _ = tracker.onTick(now: ms * 500)   // unanswered
        _ = tracker.onTick(now: ms * 600)
        #expect(tracker.onAnswer(node, mac: nodeMAC, now: ms * 601).isEmpty)
        #expect(tracker.state(of: node) == .unreachable)
    }

    @Test func aNewMACIsLearnedOnlyFromAnAnswerToABroadcastProbe() {
        var tracker = tracker()
        _ = tracker.watch([node], keep: [], now: .zero)
        _ = tracker.onTick(now: .zero)
        _ = tracker.onAnswer(node, mac: nodeMAC, now: ms * 1)
        #expect(tracker.onAnswer(node, mac: nodeMAC, now: ms * 2).isEmpty, "no probe outstanding: not an answer")
        // While the node answers its unicast probes, another MAC claiming its address is ignored.
        let replaced = MACAddress("02:00:00:00:03:99")!
        #expect(tracker.onTick(now: ms * 100) == [.probe(node, unicastTo: nodeMAC)])
        #expect(tracker.onAnswer(node, mac: replaced, now: ms * 101).isEmpty)
        #expect(tracker.cluster == ClusterMACs([nodeMAC: [node]]))
        // The node got a new NIC: the unicast probe goes unanswered, the next one is broadcast,
        // and the new MAC answering it is taken.
        #expect(tracker.onTick(now: ms * 200) == [.probe(node, unicastTo: nil)])
        #expect(tracker.onAnswer(node, mac: replaced, now: ms * 201) == [.changed(node)])
        #expect(tracker.cluster == ClusterMACs([replaced: [node]]))
    }

    @Test func keepsWatchingUnreachableNodesWhileAsked() {
        var tracker = tracker()
        let other = IPAddress("198.51.100.32")!
        _ = tracker.watch([node, other], keep: [], now: .zero)
        for tick in 0...3 { _ = tracker.onTick(now: Duration.milliseconds(100 * tick)) }
        #expect(tracker.unreachable == [node, other])
        #expect(tracker.watch([], keep: [node], now: ms * 400) == [.changed(other)])
        #expect(tracker.watched == [node])
        #expect(tracker.watch([], keep: [], now: ms * 500) == [.changed(node)])
        #expect(tracker.watched.isEmpty)
        #expect(tracker.nextDeadline == nil)
    }
}

@Suite struct AdjacentAnswerTests {
    let ours = MACAddress("02:00:00:00:00:11")!
    let target = MACAddress("02:00:00:00:03:31")!
    let client = MACAddress("02:00:00:00:00:12")!
    let service4 = IPv4Address("198.51.100.100")!
    let service6 = IPv6Address("2001:db8:100::100")!
    let node = IPv4Address("198.51.100.31")!

    var context: ResponderContext {
        ResponderContext(mac: ours, answering: [.v4(service4), .v6(service6)],
                         answerMACs: [.v4(service4): target, .v6(service6): target], neighbors: [.v4(node)])
    }

    @Test func arpReplyCarriesTheTargetMACFromOurEthernetSource() throws {
        let request = ARPPacket(operation: .request, senderMAC: client, senderIP: IPv4Address("198.51.100.2")!, targetMAC: .zero,
                                targetIP: service4).frame(ethernetDestination: .broadcast, ethernetSource: client)
        guard case .reply(let frame, _) = Responder.decide(request, context: context),
              case .arp(let ethernet, let reply) = try Frame.decode(frame) else {
            Issue.record("no reply")
            return
        }
        #expect(ethernet.source == ours)
        #expect(reply.senderMAC == target)
        #expect(reply.senderIP == service4)
    }

    @Test func neighborAdvertisementCarriesTheTargetMAC() throws {
        let solicitation = NDPPacket.frame(.solicitation(NeighborSolicitation(target: service6, sourceLinkLayer: client)),
                                           source: IPv6Address("2001:db8:100::2")!, destination: service6.solicitedNodeMulticast,
                                           ethernetDestination: .ipv6Multicast(service6.solicitedNodeMulticast), ethernetSource: client)
        guard case .reply(let frame, _) = Responder.decide(solicitation, context: context),
              case .ndp(let ethernet, let ndp) = try Frame.decode(frame),
              case .advertisement(let advertisement) = ndp.message else {
            Issue.record("no advertisement")
            return
        }
        #expect(ethernet.source == ours)
        #expect(advertisement.targetLinkLayer == target)
    }

    @Test func aWatchedNodeAnsweringIsANeighborNotAConflict() {
        let reply = ARPPacket(operation: .reply, senderMAC: target, senderIP: node, targetMAC: ours, targetIP: .any)
            .frame(ethernetDestination: ours, ethernetSource: target)
        #expect(Responder.decide(reply, context: context) == .neighbor(address: .v4(node), mac: target))
        // Another adjacent host's announcement with the same target MAC is a claim, judged
        // by the conflict guard (which knows the target's MAC).
        let other = MACAddress("02:00:00:00:00:22")!
        let announcement = Announcement.frames(for: .v4(service4), mac: other, hardware: target)[0]
        #expect(Responder.decide(announcement, context: context) == .conflict(address: .v4(service4), mac: target))
    }

    @Test func onlyAReplyToUsTellsANodesMAC() {
        let spoofer = MACAddress("02:00:00:00:00:66")!
        // A request from the node's address, a gratuitous reply, a reply to someone else:
        // anyone can send those, so none of them says where the node is.
        let request = ARPPacket(operation: .request, senderMAC: spoofer, senderIP: node, targetMAC: .zero, targetIP: IPv4Address("198.51.100.2")!)
            .frame(ethernetDestination: .broadcast, ethernetSource: spoofer)
        let gratuitous = ARPPacket(operation: .reply, senderMAC: spoofer, senderIP: node, targetMAC: .broadcast, targetIP: node)
            .frame(ethernetDestination: .broadcast, ethernetSource: spoofer)
        let elsewhere = ARPPacket(operation: .reply, senderMAC: spoofer, senderIP: node, targetMAC: client, targetIP: .any)
            .frame(ethernetDestination: client, ethernetSource: spoofer)
        for frame in [request, gratuitous, elsewhere] {
            if case .neighbor = Responder.decide(frame, context: context) { Issue.record("learned a node's MAC from \(frame)") }
        }
    }

    @Test func announcementsAndProbesKeepOurEthernetSource() throws {
        for frame in Announcement.frames(for: .v4(service4), mac: ours, hardware: target) {
            guard case .arp(let ethernet, let arp) = try Frame.decode(frame) else { Issue.record("not ARP"); continue }
            #expect(ethernet.source == ours && arp.senderMAC == target)
        }
        guard case .ndp(let ethernet, let ndp) = try Frame.decode(Announcement.frames(for: .v6(service6), mac: ours, hardware: target)[0]),
              case .advertisement(let advertisement) = ndp.message else { Issue.record("not NDP"); return }
        #expect(ethernet.source == ours && advertisement.targetLinkLayer == target)

        guard case .arp(let probeEthernet, let probe) = try Frame.decode(AddressProbe.frames(for: .v4(node), mac: ours, unicastTo: target)[0])
        else { Issue.record("not ARP"); return }
        #expect(probeEthernet.destination == target && probe.senderIP == .any && probe.senderMAC == ours)
        let node6 = IPv6Address("2001:db8:100::31")!
        guard case .ndp(let ethernet6, let solicitation) = try Frame.decode(AddressProbe.frames(for: .v6(node6), mac: ours, unicastTo: target)[0])
        else { Issue.record("not NDP"); return }
        // Source :: needs the solicited-node destination even when the frame is unicast.
        #expect(ethernet6.destination == target && solicitation.header.destination == node6.solicitedNodeMulticast
                && solicitation.header.source.isUnspecified)
    }

    @Test func schedulerRestartsTheBurstForARetarget() {
        var scheduler = AnnouncementScheduler()
        let address = IPAddress.v4(service4)
        scheduler.onOwnershipChanged([address], now: .zero)
        for offset in [0, 200, 500, 1000, 2000] { _ = scheduler.onTick(now: .milliseconds(offset)) }
        #expect(scheduler.nextDeadline == .seconds(32))
        scheduler.restart([address], now: .seconds(5))
        #expect(scheduler.onTick(now: .seconds(5)) == [address])
        #expect(scheduler.nextDeadline == .milliseconds(5200))
    }
}

@Suite struct AdjacentConfigTests {
    @Test func modeAndProbeIntervalDecode() throws {
        let config = try decode("""
        [node]
        mode = "adjacent"
        target_probe_interval = "250ms"
        [kubernetes]
        """).get()
        #expect(config.node.mode == .adjacent)
        #expect(config.node.targetProbeInterval == .milliseconds(250))
        #expect(try decode("").get().node.mode == .local)
        #expect(try decode("").get().node.targetProbeInterval == .milliseconds(100))
    }

    @Test func badValuesNameFileLineAndKey() {
        #expect(errors("[node]\nmode = \"remote\"\n") == ["/etc/herald/herald.toml:2: node.mode: 'remote' is not one of local, adjacent"])
        #expect(errors("[node]\nmode = \"adjacent\"\ntarget_probe_interval = \"5ms\"\n[kubernetes]\n")
            == ["/etc/herald/herald.toml:3: node.target_probe_interval: 5ms is out of range (10ms to 10s)"])
        #expect(errors("[node]\nmode = \"adjacent\"\n")
            == ["/etc/herald/herald.toml:2: node.mode: \"adjacent\" announces Kubernetes Services on behalf of their nodes and needs a [kubernetes] section"])
    }

    @Test func changingTheModeTakesARestart() throws {
        let old = try decode("[kubernetes]\n").get()
        let new = try decode("[node]\nmode = \"adjacent\"\n[kubernetes]\n").get()
        let refused = ConfigChange.restartRequired(from: old, nodeName: "a1", to: new, nodeName: "a1", file: "herald.toml")
        #expect(refused.map(\.keyPath) == ["node.mode"])
    }
}

@Suite struct AdjacentMetaTests {
    let lan = NodeMeta.Interface(name: "eth0", mac: MACAddress("02:00:00:00:00:0b")!,
                                 prefixes: [IPPrefix(address: IPAddress("198.51.100.0")!, length: 24)])

    @Test func unreachableNodesRoundTrip() {
        let meta = NodeMeta(interfaces: [lan], passingChecks: ["nas"], unreachableNodes: ["n1", "talos-cp-2"])
        #expect(NodeMeta.decode(meta.encode()) == meta)
    }

    @Test func withoutReportsTheBytesAreThoseOfEarlierVersions() {
        let meta = NodeMeta(interfaces: [lan], passingChecks: ["nas"])
        let bytes = meta.encode()
        // version, holding down, one interface … then the check count and the check: no trailer.
        #expect(bytes.suffix(5) == [1, 3] + Array("nas".utf8))
        #expect(NodeMeta.decode(bytes + [1]) == nil)
    }
}
