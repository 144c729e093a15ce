@testable import HeraldCore
import HeraldMembership
import HeraldWire
import Testing

@Suite struct LabelSelectorTests {
    func selector(_ text: String) throws -> LabelSelector { try LabelSelector.parse(text).get() }

    @Test func readsKubectlsFormAndMatchesLikeKubernetes() throws {
        let selector = try selector("zone in (a, b), tier=web, disk notin (hdd), gpu, !node-role.kubernetes.io/control-plane, env!=dev")
        var labels = ["zone": "a", "tier": "web", "disk": "ssd", "gpu": "", "env": "prod"]
        #expect(selector.matches(labels))
        #expect(selector.description == "zone in (a,b), tier=web, disk notin (hdd), gpu, !node-role.kubernetes.io/control-plane, env!=dev")
        labels["node-role.kubernetes.io/control-plane"] = ""
        #expect(!selector.matches(labels))
        #expect(try self.selector("env!=dev").matches([:]), "a missing label is not equal to anything")
        #expect(!(try self.selector("disk in (ssd)")).matches([:]))
        #expect(try self.selector("disk notin (ssd)").matches([:]))
        #expect(try self.selector("tier==web").matches(["tier": "web"]))
    }

    @Test func badSelectorsSayWhatIsWrong() {
        for (text, message) in [("", "an empty selector selects everything; leave it out"),
                                ("zone in a,b", "\"zone in a\": the values of in go in parentheses: zone in (a,b)"),
                                ("zone maybe (a)", "cannot read \"zone maybe (a)\": use key=value, key!=value, key in (a,b), key notin (a,b), key or !key"),
                                ("bad key=x", "\"bad key\" is not a label key"),
                                ("k=a b", "\"a b\" is not a label value"),
                                ("a=1,,b=2", "empty requirement in \"a=1,,b=2\"")] {
            #expect(LabelSelector.parse(text).failure?.message == message, "\(text)")
        }
    }
}

extension Result {
    var failure: Failure? { if case .failure(let error) = self { error } else { nil } }
}

@Suite struct PoolSelectionTests {
    func pools(_ text: String) throws -> [PoolConfig] { try decode(text).get().pools }

    let config = """
        [[pool]]
        name = "cheap"
        addresses = ["198.51.100.100/31"]
        [[pool]]
        name = "premium"
        addresses = ["198.51.100.110/31"]
        priority = 10
        service_selectors = ["tier=premium"]
        [[pool]]
        name = "team"
        addresses = ["198.51.100.120/31"]
        priority = 20
        namespaces = ["team-a"]
        namespace_selectors = ["owner=team"]
        """

    func claim(_ key: String, labels: [String: String] = [:], namespaceLabels: [String: String] = [:]) -> ServiceClaim {
        var claim = ServiceClaim(key: key, namespace: String(key.split(separator: "/")[0]))
        claim.labels = labels
        claim.namespaceLabels = namespaceLabels
        return claim
    }

    @Test func priorityFirstThenConfigOrderAmongThePoolsAServiceMayUse() throws {
        var allocator = Allocator(pools: try pools(config))
        // Only the unrestricted pool.
        #expect(allocator.assign(claim("default/plain")) == .success([IPAddress("198.51.100.100")!]))
        // The premium pool (priority 10) before cheap (no priority), for Services it selects.
        #expect(allocator.assign(claim("default/shop", labels: ["tier": "premium"])) == .success([IPAddress("198.51.100.110")!]))
        // A namespace by name or by its labels; team (20) before cheap.
        #expect(allocator.assign(claim("team-a/api")) == .success([IPAddress("198.51.100.120")!]))
        #expect(allocator.assign(claim("team-b/api", namespaceLabels: ["owner": "team"])) == .success([IPAddress("198.51.100.121")!]))
        // The team pool is full: the next pool by order, cheap.
        #expect(allocator.assign(claim("team-c/api", namespaceLabels: ["owner": "team"])) == .success([IPAddress("198.51.100.101")!]))
    }

    @Test func aNamedPoolTheServiceMayNotUseIsRefusedWithTheReason() throws {
        var allocator = Allocator(pools: try pools(config))
        var named = claim("default/web")
        named.pool = "premium"
        #expect(allocator.assign(named) == .failure(AllocationError(message: "pool \"premium\" is only for Services matching \"tier=premium\"")))
        named.pool = "team"
        #expect(allocator.assign(named) == .failure(AllocationError(message: "pool \"team\" is not for namespace default")))
    }

    @Test func nodeSelectorsAndNodesBothLimitWhoAnnounces() throws {
        let pool = try pools("""
            [[pool]]
            name = "edge"
            addresses = ["198.51.100.100/32"]
            nodes = ["k3s-*"]
            node_selectors = ["zone in (a,b), !node-role.kubernetes.io/control-plane", "edge=true"]
            """)[0]
        #expect(pool.admits(node: "k3s-1", labels: ["zone": "a"]))
        #expect(pool.admits(node: "k3s-2", labels: ["edge": "true", "node-role.kubernetes.io/control-plane": ""]))
        #expect(!pool.admits(node: "k3s-3", labels: ["zone": "a", "node-role.kubernetes.io/control-plane": ""]))
        #expect(!pool.admits(node: "other", labels: ["zone": "a"]))
        #expect(decode("[[pool]]\nname = \"x\"\naddresses = [\"198.51.100.1/32\"]\nnode_selectors = [\"zone in a\"]").failure?.description
                == "/etc/herald/herald.toml:4: pool.node_selectors: \"zone in a\": the values of in go in parentheses: zone in (a,b)")
    }
}

@Suite struct AnnouncementTests {
    let lan = NodeMeta.Interface(name: "eth0", mac: MACAddress("02:00:00:00:00:0b")!,
                                 prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24)])

    @Test func aServiceWithoutAReadyEndpointIsNotAnnounced() throws {
        let config = try decode("[kubernetes]\n[[pool]]\nname = \"lab\"\naddresses = [\"198.51.100.100/30\"]").get()
        let members = [Member(name: "n1", address: GossipAddress(ip: .v4(.any), port: 7946), incarnation: 0, status: .alive,
                              meta: NodeMeta(interfaces: [lan]).encode(), statusSince: .zero, roundTrip: nil)]
        let address = IPAddress("198.51.100.100")!
        var facts = KubernetesFacts(services: [ServiceFacts(key: "default/web", addresses: [address], hasReadyEndpoint: false)],
                                    nodes: ["n1": KubeNodeFacts()])
        let silent = ServiceAnnouncements(facts, config: config, members: members)
        #expect(silent.owners.isEmpty)
        #expect(silent.vips.map(\.address) == [address], "still probed, so it is answered the moment a pod is ready")
        #expect(ServiceAnnouncements.ranking(for: "default/web", facts, config: config, members: members)?.election.noReadyEndpoint == true)
        facts.services[0].hasReadyEndpoint = true
        #expect(ServiceAnnouncements(facts, config: config, members: members).owners == [address: "n1"])
    }
}

@Suite struct ConfigDriftTests {
    func member(_ name: String, digest: String?) -> Member {
        let about = digest.map { NodeMeta.About(version: "0.1.0", mode: "local", configDigest: $0) }
        return Member(name: name, address: GossipAddress(ip: .v4(.any), port: 7946), incarnation: 0, status: .alive,
                      meta: NodeMeta(interfaces: [], about: about).encode(), statusSince: .zero, roundTrip: nil)
    }

    @Test func theDigestCoversWhatHostsMustShareAndNothingElse() throws {
        let base = try decode("""
            [node]
            name = "h1"
            interfaces = ["eth0"]
            [[pool]]
            name = "lab"
            addresses = ["198.51.100.100/30"]
            """).get()
        var other = base
        other.node.name = "h2"
        other.node.interfaces = ["vmbr0"]
        #expect(ConfigDigest.of(base) == ConfigDigest.of(other), "per-host settings are not in the digest")
        other.pools[0].addresses = [try IPRange.parse("198.51.100.96/29").get()]
        #expect(ConfigDigest.of(base) != ConfigDigest.of(other))
        #expect(ConfigDigest.of(base).count == 16)
    }

    @Test func theMemberOffTheMajorityIsNamedAndATieNamesEveryone() {
        let drift = ConfigDrift(view: [member("h1", digest: "aa"), member("h2", digest: "aa"), member("h3", digest: "bb"),
                                       member("old", digest: nil)], me: "h1")
        #expect(drift.majority == "aa" && drift.differing == ["h3": "bb"])
        let tie = ConfigDrift(view: [member("h1", digest: "aa"), member("h2", digest: "bb")], me: "h1")
        #expect(tie.majority == nil && tie.differing == ["h1": "aa", "h2": "bb"])
        #expect(ConfigDrift(view: [member("h1", digest: "aa"), member("h2", digest: "aa")], me: "h1").isEmpty)
    }

    @Test func aboutTravelsWhereOlderVersionsIgnoreIt() {
        let about = NodeMeta.About(version: "0.1.0", mode: "adjacent", configDigest: "0123456789abcdef")
        let meta = NodeMeta(interfaces: [], unreachableNodes: ["n1"], about: about)
        let decoded = NodeMeta.decode(meta.encode())
        #expect(decoded?.about == about)
        #expect(decoded?.unreachableNodes == ["n1"], "the about entry is not a node")
        // An older version reads it as one more unreachable node name, which no Kubernetes
        // node can have: no target election passes over a real node for it.
        let reports = TargetElection.unreachable(reportedIn: [("a1", NodeMeta(interfaces: [], unreachableNodes: ["=herald 0.1.0 local x"]))])
        let ranked = TargetElection.rank(addresses: [IPAddress("198.51.100.100")!],
                                         pool: PoolConfig(name: "p", addresses: [], location: SourceLocation(file: "t", line: 1)),
                                         nodes: ["n1": KubeNodeFacts(internalIPs: [IPAddress("198.51.100.31")!])],
                                         endpointNodes: nil, unreachable: reports)
        #expect(ranked.allSatisfy { $0.ineligibility == nil })
    }
}

@Suite struct NodeWarningTests {
    static let host = HostFacts(hostname: "pve-1", interfaces: [HostInterface(
        name: "vmbr0", index: 2, mac: MACAddress("02:00:00:00:00:0b")!, isUp: true, isBroadcast: true, isLoopback: false,
        isVirtual: true, hasMaster: false, prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24)])])

    func machine(gossip: Bool) throws -> NodeMachine {
        let config = try decode("""
            [node]
            interfaces = ["vmbr0"]
            [kubernetes]
            kubeconfig = "/etc/herald/kubeconfig"
            [[pool]]
            name = "lab"
            addresses = ["198.51.100.100/30"]
            """).get()
        let settings = gossip ? NodeMachine.Settings(gossip: .lan, hasJoinPeers: false) : .standalone
        return NodeMachine(loaded: LoadedConfig(config: config, nodeName: "pve-1", host: Self.host), settings: settings, now: .zero)
    }

    @Test func aLocalModeHostThatIsNoNodeIsSaidOnce() throws {
        var node = try machine(gossip: false)
        let facts = KubernetesFacts(services: [ServiceFacts(key: "default/web", addresses: [IPAddress("198.51.100.100")!])],
                                    nodes: ["k3s-1": KubeNodeFacts(), "k3s-2": KubeNodeFacts()])
        let actions = node.onKubernetes(facts, now: .zero)
        #expect(actions.contains(.missingKubernetesNode(true)))
        #expect(node.isMissingKubernetesNode)
        #expect(node.owners.isEmpty, "a host that is no Node is never elected")
        var again = facts
        again.services[0].localTraffic = true
        #expect(!node.onKubernetes(again, now: .zero).contains(.missingKubernetesNode(true)))
    }

    @Test func withoutGossipAnotherAnnouncerOfAServiceAddressIsSaidOncePerAddress() throws {
        var node = try machine(gossip: false)
        let address = IPAddress("198.51.100.100")!
        _ = node.onKubernetes(KubernetesFacts(services: [ServiceFacts(key: "default/web", addresses: [address])],
                                              nodes: ["pve-1": KubeNodeFacts()]), now: .zero)
        let other = MACAddress("02:00:00:00:00:0c")!
        #expect(node.onConflict(address, from: other, now: .zero) == [.announcedElsewhereWithoutGossip(address, by: other)])
        #expect(node.onConflict(address, from: other, now: .zero).isEmpty)
        #expect(node.onConflict(IPAddress("198.51.100.50")!, from: other, now: .zero).isEmpty, "not a Service address")
        var gossiping = try machine(gossip: true)
        #expect(gossiping.onConflict(address, from: other, now: .zero).isEmpty)
    }
}
