import HeraldCore
import HeraldTestKit
import HeraldWire
import Testing

@Suite struct AllocatorTests {
    func pools(_ text: String) throws -> [PoolConfig] { try decode(text).get().pools }

    func claim(_ key: String, _ configure: (inout ServiceClaim) -> Void = { _ in }) -> ServiceClaim {
        var claim = ServiceClaim(key: key, namespace: String(key.split(separator: "/")[0]))
        configure(&claim)
        return claim
    }

    func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    let homelab = """
        [[pool]]
        name = "homelab"
        addresses = ["198.51.100.100-198.51.100.102", "2001:db8:100::1:0/126"]
        [[pool]]
        name = "reserved"
        addresses = ["198.51.100.200/30"]
        auto_assign = false
        [[pool]]
        name = "team"
        addresses = ["198.51.100.210-198.51.100.211"]
        namespaces = ["team"]
        auto_assign = false
        """

    @Test func lowestFreeAddressFromTheFirstAutoAssignPoolUntilItIsFull() throws {
        var allocator = Allocator(pools: try pools(homelab))
        #expect(allocator.assign(claim("default/a")) == .success([ip("198.51.100.100")]))
        #expect(allocator.assign(claim("default/b")) == .success([ip("198.51.100.101")]))
        #expect(allocator.assign(claim("default/c")) == .success([ip("198.51.100.102")]))
        // reserved and team are not auto_assign: homelab is full, so nothing is left.
        #expect(allocator.assign(claim("default/d")) == .failure(AllocationError(message: "pool \"homelab\" has no free IPv4 address")))
        #expect(allocator.inUse(pool: "homelab") == 3)
        allocator.release("default/b")
        #expect(allocator.assign(claim("default/d")) == .success([ip("198.51.100.101")]))
    }

    @Test func reassigningKeepsTheAddressAServiceAlreadyHas() throws {
        var allocator = Allocator(pools: try pools(homelab))
        _ = allocator.assign(claim("default/a"))
        _ = allocator.assign(claim("default/b"))
        allocator.release("default/a")
        #expect(allocator.assign(claim("default/b")) == .success([ip("198.51.100.101")]))
        // After a restart: the status says .102; the rebuilt state keeps it.
        var restarted = Allocator(pools: try pools(homelab))
        #expect(restarted.assign(claim("default/x"), current: [ip("198.51.100.102")]) == .success([ip("198.51.100.102")]))
        #expect(restarted.assign(claim("default/y")) == .success([ip("198.51.100.100")]))
    }

    @Test func requestedAddressesAndPoolAnnotations() throws {
        var allocator = Allocator(pools: try pools(homelab))
        #expect(allocator.assign(claim("default/fixed") { $0.requested = [self.ip("198.51.100.201")] })
                == .success([ip("198.51.100.201")]))
        #expect(allocator.assign(claim("default/pooled") { $0.pool = "reserved" }) == .success([ip("198.51.100.200")]))
        #expect(allocator.assign(claim("default/taken") { $0.requested = [self.ip("198.51.100.201")] })
                == .failure(AllocationError(message: "198.51.100.201 is in use by default/fixed (sharing needs the same metallb.io/allow-shared-ip on both)")))
        #expect(allocator.assign(claim("default/outside") { $0.requested = [self.ip("198.51.100.50")] })
                == .failure(AllocationError(message: "198.51.100.50 is not in any pool")))
        #expect(allocator.assign(claim("default/mismatch") { $0.requested = [self.ip("198.51.100.100")]; $0.pool = "reserved" })
                == .failure(AllocationError(message: "198.51.100.100 is in pool \"homelab\", not in \"reserved\" (metallb.io/address-pool)")))
        #expect(allocator.assign(claim("default/nopool") { $0.pool = "nope" })
                == .failure(AllocationError(message: "pool \"nope\" (metallb.io/address-pool) does not exist")))
    }

    @Test func namespacesLimitWhoMayUseAPool() throws {
        var allocator = Allocator(pools: try pools(homelab))
        #expect(allocator.assign(claim("team/web") { $0.pool = "team" }) == .success([ip("198.51.100.210")]))
        #expect(allocator.assign(claim("default/web") { $0.pool = "team" })
                == .failure(AllocationError(message: "pool \"team\" is not for namespace default")))
        #expect(allocator.assign(claim("default/web") { $0.requested = [self.ip("198.51.100.211")] })
                == .failure(AllocationError(message: "198.51.100.211: pool \"team\" is not for namespace default")))
    }

    @Test func sharingNeedsOneKeyDisjointPortsAndForLocalTheSameBackends() throws {
        var allocator = Allocator(pools: try pools(homelab))
        let dnsTCP = claim("default/dns-tcp") { $0.sharingKey = "dns"; $0.ports = [.init(53, "TCP")] }
        let dnsUDP = claim("default/dns-udp") { $0.sharingKey = "dns"; $0.ports = [.init(53, "UDP")] }
        #expect(allocator.assign(dnsTCP) == .success([ip("198.51.100.100")]))
        // The same key and no common port: the same address, without asking for it.
        #expect(allocator.assign(dnsUDP) == .success([ip("198.51.100.100")]))
        #expect(Set(allocator.holders(of: ip("198.51.100.100"))) == ["default/dns-tcp", "default/dns-udp"])
        #expect(allocator.inUse(pool: "homelab") == 1)
        let clash = claim("default/dns-again") { $0.sharingKey = "dns"; $0.ports = [.init(53, "UDP")]; $0.requested = [self.ip("198.51.100.100")] }
        #expect(allocator.assign(clash) == .failure(AllocationError(message: "198.51.100.100 is shared with default/dns-udp, which also uses port 53/UDP")))
        let otherKey = claim("default/web") { $0.sharingKey = "web"; $0.requested = [self.ip("198.51.100.100")] }
        #expect(allocator.assign(otherKey) == .failure(AllocationError(message: "198.51.100.100 is in use by default/dns-tcp with another sharing key")))
        let local1 = claim("default/l1") { $0.sharingKey = "l"; $0.ports = [.init(80)]; $0.localBackends = "app=a" }
        let local2 = claim("default/l2") { $0.sharingKey = "l"; $0.ports = [.init(443)]; $0.localBackends = "app=b"; $0.requested = [self.ip("198.51.100.101")] }
        #expect(allocator.assign(local1) == .success([ip("198.51.100.101")]))
        #expect(allocator.assign(local2) == .failure(AllocationError(message: "198.51.100.101 is shared with default/l1; with externalTrafficPolicy: Local both must select the same pods")))
    }

    @Test func dualStackFollowsFamiliesAndPolicy() throws {
        var allocator = Allocator(pools: try pools(homelab))
        #expect(allocator.assign(claim("default/v6") { $0.families = [.v6] }) == .success([ip("2001:db8:100::1:0")]))
        #expect(allocator.assign(claim("default/dual") { $0.families = [.v6, .v4]; $0.familyPolicy = .requireDualStack })
                == .success([ip("2001:db8:100::1:1"), ip("198.51.100.100")]))
        // The reserved pool has no IPv6 range: prefer gets IPv4 only, require fails.
        #expect(allocator.assign(claim("default/prefer") { $0.pool = "reserved"; $0.familyPolicy = .preferDualStack })
                == .success([ip("198.51.100.200")]))
        #expect(allocator.assign(claim("default/require") { $0.pool = "reserved"; $0.familyPolicy = .requireDualStack })
                == .failure(AllocationError(message: "pool \"reserved\" has no IPv6 range")))
        #expect(allocator.assign(claim("default/wrongfamily") { $0.requested = [self.ip("198.51.100.101")]; $0.families = [.v6] })
                == .failure(AllocationError(message: "the requested addresses 198.51.100.101 do not match ipFamilies/ipFamilyPolicy")))
    }

    @Test func avoidBuggyIPsSkipsDotZeroAndDot255() throws {
        var allocator = Allocator(pools: try pools("""
            [[pool]]
            name = "p"
            addresses = ["198.51.100.255-198.51.101.1"]
            avoid_buggy_ips = true
            """))
        #expect(allocator.assign(claim("default/a")) == .success([ip("198.51.101.1")]))
        #expect(allocator.assign(claim("default/b")) == .failure(AllocationError(message: "pool \"p\" has no free IPv4 address")))
    }

    @Test func aThousandServicesAreDeterministic() throws {
        let config = try pools("""
            [[pool]]
            name = "big"
            addresses = ["10.0.0.0/20"]
            """)
        var first = Allocator(pools: config)
        var second = Allocator(pools: config)
        for index in 0..<1000 {
            let service = claim("ns/svc\(index)")
            #expect(first.assign(service) == second.assign(service))
        }
        #expect(first.inUse(pool: "big") == 1000)
        #expect(first.assignments["ns/svc999"]?.addresses == [ip("10.0.3.231")])
    }

    @Test func theLowestFreeAddressAlwaysThroughAssignsAndReleases() throws {
        // The allocator resumes its search where the last one ended; checked against the
        // plain rule (the lowest address nobody holds) over random assigns and releases,
        // with the pool's ranges listed out of order.
        var allocator = Allocator(pools: try pools("""
            [[pool]]
            name = "p"
            addresses = ["10.0.1.0/28", "10.0.0.0/28"]
            """))
        let all = (0..<16).map { ip("10.0.0.\($0)") } + (0..<16).map { ip("10.0.1.\($0)") }
        var holding: [String: IPAddress] = [:]
        var random = SplitMix64(state: 15)
        for step in 0..<3000 {
            if !holding.isEmpty, random.next() % 3 == 0 {
                let key = holding.keys.sorted()[Int(random.next() % UInt64(holding.count))]
                allocator.release(key)
                holding[key] = nil
            } else {
                let key = "default/s\(step)"
                let taken = Set(holding.values)
                if let expected = all.first(where: { !taken.contains($0) }) {
                    #expect(allocator.assign(claim(key)) == .success([expected]), "step \(step)")
                    holding[key] = expected
                } else {
                    #expect(allocator.assign(claim(key)) == .failure(AllocationError(message: "pool \"p\" has no free IPv4 address")))
                }
            }
        }
        // A Service that keeps an address above the search point (after a restart) is skipped.
        var restarted = Allocator(pools: try pools("[[pool]]\nname = \"p\"\naddresses = [\"10.0.0.0/30\"]\n"))
        #expect(restarted.assign(claim("default/a")) == .success([ip("10.0.0.0")]))
        #expect(restarted.assign(claim("default/kept"), current: [ip("10.0.0.1")]) == .success([ip("10.0.0.1")]))
        #expect(restarted.assign(claim("default/b")) == .success([ip("10.0.0.2")]))
    }

    @Test func poolNodesMatchNamesAndLabels() throws {
        let pool = try pools("""
            [[pool]]
            name = "edge"
            addresses = ["198.51.100.100/32"]
            nodes = ["pve-*", "node-role.kubernetes.io/edge=true"]
            """)[0]
        #expect(pool.admits(node: "pve-2"))
        #expect(pool.admits(node: "worker-1", labels: ["node-role.kubernetes.io/edge": "true"]))
        #expect(!pool.admits(node: "worker-1", labels: ["node-role.kubernetes.io/edge": "false"]))
        #expect(!pool.admits(node: "worker-1"))
        let open = try pools("[[pool]]\nname = \"all\"\naddresses = [\"198.51.100.101/32\"]")[0]
        #expect(open.admits(node: "anything"))
    }
}
