@testable import HeraldCore
import HeraldWire
import Testing

/// labHost (Config+Tests.swift) with a default route through 198.51.100.1.
let routedLabHost = HostFacts(hostname: labHost.hostname, interfaces: labHost.interfaces,
                              gateways: [IPAddress("198.51.100.1")!, IPAddress("2001:db8:100::1")!])

@Suite struct HostValidatorTests {
    @Test func bindAndListenAddressesMustBeThisHosts() {
        let config = """
        [gossip]
        bind = "198.51.100.99:7946"
        insecure = true

        [metrics]
        listen = "127.0.0.2:9473"
        """
        #expect(errors(config, host: routedLabHost) == [
            "/etc/herald/herald.toml:1: gossip.bind: 198.51.100.99 is not an address of this host, so heraldd could not bind it (this host's addresses: 127.0.0.1, 198.51.100.11, 203.0.113.11, 2001:db8:100::11, fe80::11)",
            "/etc/herald/herald.toml:5: metrics.listen: 127.0.0.2 is not an address of this host, so heraldd could not bind it (this host's addresses: 127.0.0.1, 198.51.100.11, 203.0.113.11, 2001:db8:100::11, fe80::11)",
        ])
        #expect(errors("[gossip]\nbind = \"0.0.0.0:7946\"\ninsecure = true\n[metrics]\nlisten = \"[::]:9473\"\n", host: routedLabHost) == [])
        #expect(errors("[gossip]\nbind = \"198.51.100.11:7946\"\ninsecure = true\n", host: routedLabHost) == [])
    }

    @Test func aVIPMayNotBeAnAddressTheLANAlreadyUses() {
        let config = """
        [gossip]
        bind = "198.51.100.11:7946"
        join = ["198.51.100.12:7946"]
        insecure = true

        [[vip]]
        name = "network"
        address = "198.51.100.0"

        [[vip]]
        name = "broadcast"
        address = "198.51.100.255"

        [[vip]]
        name = "gateway"
        address = "198.51.100.1"

        [[vip]]
        name = "member"
        address = "198.51.100.12"
        nodes = ["h1"]

        [[vip]]
        name = "anycast"
        address = "2001:db8:100::"

        [[vip]]
        name = "fine"
        address = "198.51.100.50"
        """
        #expect(errors(config, host: routedLabHost) == [
            "/etc/herald/herald.toml:6: vip.address: 198.51.100.0 is the network address of eth0's subnet 198.51.100.0/24, so it cannot be a VIP",
            "/etc/herald/herald.toml:10: vip.address: 198.51.100.255 is the broadcast address of eth0's subnet 198.51.100.0/24, so it cannot be a VIP",
            "/etc/herald/herald.toml:14: vip.address: 198.51.100.1 is this host's default gateway, so it cannot be a VIP",
            "/etc/herald/herald.toml:18: vip.address: 198.51.100.12 is the gossip address of a cluster member (gossip.join), so it cannot be a VIP",
            "/etc/herald/herald.toml:23: vip.address: 2001:db8:100:: is the subnet-router anycast address of eth0's subnet 2001:db8:100::/64, so it cannot be a VIP",
        ])
    }

    @Test func aVIPThatIsThisHostsAddressIsRefusedWhicheverNodesMayAnnounceIt() {
        // The host that owns the address refuses the shared config, although the VIP is
        // for other nodes: announced by them, two hosts would answer for it.
        let config = "[[vip]]\nname = \"h1s\"\naddress = \"198.51.100.11\"\nnodes = [\"h2\", \"h3\"]\n"
        #expect(errors(config, host: routedLabHost) == [
            "/etc/herald/herald.toml:1: vip.address: 198.51.100.11 is configured on eth0: the kernel already answers for it, so it cannot be a VIP",
        ])
    }

    @Test func aPoolMayNotHoldAnAddressTheLANAlreadyUses() {
        let config = """
        [[pool]]
        name = "whole"
        addresses = ["198.51.100.0/24"]

        [[pool]]
        name = "buggy"
        addresses = ["203.0.113.0/24"]
        avoid_buggy_ips = true

        [[pool]]
        name = "upper"
        addresses = ["2001:db8:100::/120"]
        """
        #expect(errors(config, host: routedLabHost) == [
            "/etc/herald/herald.toml:1: pool.addresses: range 198.51.100.0-198.51.100.255 holds 198.51.100.0, the network address of eth0's subnet 198.51.100.0/24: leave it out of the range",
            "/etc/herald/herald.toml:1: pool.addresses: range 198.51.100.0-198.51.100.255 holds 198.51.100.1, this host's default gateway: leave it out of the range",
            "/etc/herald/herald.toml:1: pool.addresses: range 198.51.100.0-198.51.100.255 holds 198.51.100.11, configured on eth0: the kernel already answers for it: leave it out of the range",
            "/etc/herald/herald.toml:1: pool.addresses: range 198.51.100.0-198.51.100.255 holds 198.51.100.255, the broadcast address of eth0's subnet 198.51.100.0/24: leave it out of the range",
            // avoid_buggy_ips skips .0 and .255, but not the host's own address.
            "/etc/herald/herald.toml:5: pool.addresses: range 203.0.113.0-203.0.113.255 holds 203.0.113.11, configured on eth1: the kernel already answers for it: leave it out of the range",
            "/etc/herald/herald.toml:10: pool.addresses: range 2001:db8:100::-2001:db8:100::ff holds 2001:db8:100::, the subnet-router anycast address of eth0's subnet 2001:db8:100::/64: leave it out of the range",
            "/etc/herald/herald.toml:10: pool.addresses: range 2001:db8:100::-2001:db8:100::ff holds 2001:db8:100::1, this host's default gateway: leave it out of the range",
            "/etc/herald/herald.toml:10: pool.addresses: range 2001:db8:100::-2001:db8:100::ff holds 2001:db8:100::11, configured on eth0: the kernel already answers for it: leave it out of the range",
        ])
    }

    @Test func aPoolThisHostMayAnnounceMustBeOnOneOfItsSubnets() {
        let config = """
        [[pool]]
        name = "here"
        addresses = ["198.51.100.100-198.51.100.120"]

        [[pool]]
        name = "nowhere"
        addresses = ["192.0.2.100-192.0.2.120", "198.51.100.200-198.51.100.210"]

        [[pool]]
        name = "straddles"
        addresses = ["198.51.100.250-198.51.101.5"]

        [[pool]]
        name = "others"
        addresses = ["192.0.2.130-192.0.2.140"]
        nodes = ["h2"]

        [[pool]]
        name = "labelled"
        addresses = ["192.0.2.150-192.0.2.160"]
        nodes = ["zone=b"]
        """
        let seen = "(eth0: 198.51.100.11/24 2001:db8:100::11/64 fe80::11/64; eth1: 203.0.113.11/24)"
        let advice = "so this host could never answer for it; list the interface in node.interfaces, or leave this host out with the pool's nodes"
        #expect(errors(config, host: labHost) == [
            "/etc/herald/herald.toml:9: pool.addresses: range 198.51.100.250-198.51.101.5 holds 198.51.100.255, the broadcast address of eth0's subnet 198.51.100.0/24: leave it out of the range",
            "/etc/herald/herald.toml:5: pool.addresses: range 192.0.2.100-192.0.2.120 is on no subnet of the interfaces Herald uses here \(seen), \(advice)",
            "/etc/herald/herald.toml:9: pool.addresses: range 198.51.100.250-198.51.101.5 is on no subnet of the interfaces Herald uses here \(seen), \(advice)",
            // Labels are known only on Kubernetes: a label entry may admit this host.
            "/etc/herald/herald.toml:18: pool.addresses: range 192.0.2.150-192.0.2.160 is on no subnet of the interfaces Herald uses here \(seen), \(advice)",
        ])
    }

    @Test func checkUserIsAPlainUserNameAndNeverRoot() throws {
        #expect(try decode("").get().node.checkUser == "herald-check")
        #expect(try decode("[node]\ncheck_user = \"nobody\"\n").get().node.checkUser == "nobody")
        #expect(errors("[node]\ncheck_user = \"root\"\n") == [
            "/etc/herald/herald.toml:2: node.check_user: health checks never run as root: name an unprivileged user of their own",
        ])
        #expect(errors("[node]\ncheck_user = \"a b\"\n") == ["/etc/herald/herald.toml:2: node.check_user: 'a b' is not a valid user name"])
        let old = try decode("[node]\ncheck_user = \"nobody\"\n").get()
        let new = try decode("[node]\ncheck_user = \"checks\"\n").get()
        #expect(ConfigChange.restartRequired(from: old, nodeName: "h1", to: new, nodeName: "h1", file: "/etc/herald/herald.toml")
            .map(\.keyPath) == ["node.check_user"])
    }

    @Test func hostsThatJoinOneAnotherAreOneClusterWhateverTheirName() throws {
        func gossip(_ bind: String, _ join: [String], cluster: String = "herald") -> GossipSettings {
            GossipSettings(bind: HostPort.parse(bind)!, join: join.map { HostPort.parse($0)! }, keyFile: "/k", cluster: cluster)
        }
        let hosts = [
            gossip("10.0.0.1:7946", ["10.0.0.2:7946"]),           // dev
            gossip("10.1.0.1:7946", ["10.1.0.2:7946", "10.1.0.3:7946"]),  // prod
            gossip("10.0.0.2:7946", ["10.0.0.1:7946"]),           // dev
            gossip("10.1.0.3:7946", ["10.1.0.1:7946"]),           // prod, through 10.1.0.1
            gossip("10.1.0.2:7946", ["10.1.0.9:7946"]),           // prod: 10.1.0.1 joins it
            gossip("10.0.0.3:7946", ["10.0.0.1:7946"], cluster: "other"),
        ]
        #expect(GossipClusters.group(hosts) == [[0, 2], [1, 3, 4], [5]])
    }
}

/// A pool routed to a VIP (docs/routed-pools.md): off the LAN, through a VIP of the config.
@Suite struct RoutedPoolTests {
    static let config = """
        [[vip]]
        name = "next-hop"
        address = "198.51.100.60"

        [[pool]]
        name = "routed"
        addresses = ["10.5.0.0/24"]
        routed_via = "next-hop"
        """

    @Test func aRoutedPoolIsOffTheLANAndNeedsNoInterface() throws {
        #expect(errors(Self.config, host: labHost) == [])
        let pool = try #require(try decode(Self.config).get().pools.first)
        #expect(pool.routedVia == "next-hop")
    }

    @Test func itMustNameAVIPAndLieOffEverySubnet() {
        #expect(errors(Self.config.replacing("routed_via = \"next-hop\"", with: "routed_via = \"gateway\""), host: labHost) == [
            "/etc/herald/herald.toml:5: pool.routed_via: no [[vip]] is named 'gateway': a routed pool's traffic comes through a VIP of this config",
        ])
        #expect(errors(Self.config.replacing("10.5.0.0/24", with: "198.51.100.200-198.51.100.210"), host: labHost) == [
            "/etc/herald/herald.toml:5: pool.routed_via: range 198.51.100.200-198.51.100.210 is on eth0's subnet, so it is not routed: drop routed_via, or use addresses off the LAN",
        ])
    }

    @Test func withoutItTheSamePoolIsRefusedHere() {
        let unrouted = Self.config.replacing("routed_via = \"next-hop\"", with: "")
        #expect(errors(unrouted, host: labHost).first?.contains("is on no subnet of the interfaces Herald uses here") == true)
    }
}
