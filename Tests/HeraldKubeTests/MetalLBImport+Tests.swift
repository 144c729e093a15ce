import HeraldCore
import HeraldKube
import HeraldWire
import Testing

@Suite struct MetalLBImportTests {
    static let fixtures: String = {
        // #filePath is ROOT/Tests/HeraldKubeTests/MetalLBImport+Tests.swift.
        let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        return parts.dropLast(2).joined(separator: "/") + "/fixtures/metallb"
    }()

    func read(_ name: String) throws -> (name: String, text: String) {
        (name, try String(contentsOfFile: "\(Self.fixtures)/\(name)", encoding: .utf8))
    }

    /// The output as Herald reads it: a pools.d fragment next to a main file with [kubernetes].
    func pools(_ toml: String) throws -> [PoolConfig] {
        try ConfigDecoder.decode(main: ConfigFile(path: "herald.toml", text: "[kubernetes]\n"),
                                 fragments: [ConfigFile(path: "pools.d/metallb.toml", text: toml)]).get().pools
    }

    func convert(_ sources: [(name: String, text: String)]) throws -> MetalLBImport.Output {
        try MetalLBImport.convert(sources).get()
    }

    @Test(arguments: [
        (["k3s-proxmox.yaml"], ["homelab-pool": ["192.168.2.100-192.168.2.120"]]),
        (["talos-default.yaml"], ["default-pool": ["192.168.50.50-192.168.50.250"]]),
        (["talos-ipaddresspool.yaml", "talos-l2advertisement.yaml"], ["default-pool": ["192.168.88.60-192.168.88.69"]]),
        (["raspberry-pi-configmap.yaml"], ["address-pool-1": ["192.168.2.128-192.168.2.255"]]),
        (["flux-lab-dev.yaml"], ["primary": ["10.5.0.0-10.5.0.255"]]),
        (["talos-multiple-pools.yaml"], ["web-services": ["192.168.50.50-192.168.50.100"],
                                         "database-services": ["192.168.50.101-192.168.50.150"],
                                         "reserved-manual": ["192.168.50.151-192.168.50.250"]]),
    ])
    func everyGuidesManifestsBecomePoolsHeraldReads(files: [String], expected: [String: [String]]) throws {
        let output = try convert(files.map(read))
        let pools = try pools(output.toml)
        #expect(Dictionary(uniqueKeysWithValues: pools.map { ($0.name, $0.addresses.map(\.description)) }) == expected)
        #expect(output.pools == expected.count)
        if files == ["talos-multiple-pools.yaml"] {
            #expect(pools.first { $0.name == "reserved-manual" }?.autoAssign == false)
            #expect(output.toml.contains("# The input holds no L2Advertisement"))
        }
    }

    @Test func advertisementsDecideWhatIsAnnouncedAndWhere() throws {
        let output = try convert([("inline.yaml", """
            apiVersion: metallb.io/v1beta1
            kind: IPAddressPool
            metadata: {name: edge, namespace: metallb-system, labels: {tier: edge}}
            spec:
              addresses: ["198.51.100.100 - 198.51.100.110"]
              avoidBuggyIPs: true
              serviceAllocation:
                priority: 5
                namespaces: [web]
                namespaceSelectors: [{matchLabels: {team: a}}]
                serviceSelectors: [{matchExpressions: [{key: tier, operator: In, values: [front, api]}]}]
            ---
            apiVersion: metallb.io/v1beta1
            kind: IPAddressPool
            metadata: {name: quiet, namespace: metallb-system}
            spec: {addresses: [198.51.100.200/30]}
            ---
            apiVersion: metallb.io/v1beta1
            kind: L2Advertisement
            metadata: {name: by-label, namespace: metallb-system}
            spec:
              ipAddressPoolSelectors: [{matchLabels: {tier: edge}}]
              interfaces: [vmbr0]
              nodeSelectors:
              - matchLabels: {zone: a}
                matchExpressions: [{key: node-role.kubernetes.io/control-plane, operator: DoesNotExist}]
            ---
            apiVersion: metallb.io/v1beta1
            kind: BGPAdvertisement
            metadata: {name: bgp, namespace: metallb-system}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            """)])
        let pools = try pools(output.toml)
        #expect(pools.map(\.name) == ["edge"], "quiet is selected by no advertisement")
        let edge = try #require(pools.first)
        #expect(edge.addresses.map(\.description) == ["198.51.100.100-198.51.100.110"])
        #expect(edge.avoidBuggyIPs && edge.priority == 5 && edge.namespaces == ["web"])
        #expect(edge.namespaceSelectors.map(\.description) == ["team=a"])
        #expect(edge.serviceSelectors.map(\.description) == ["tier in (front,api)"])
        #expect(edge.nodeSelectors.map(\.description) == ["zone=a, !node-role.kubernetes.io/control-plane"])
        #expect(edge.interfaces == ["vmbr0"])
        #expect(output.toml.contains("# IPAddressPool metallb-system/quiet: no L2Advertisement selects it"))
        #expect(output.toml.contains("# [[pool]]\n# name = \"quiet\""))
        #expect(output.toml.contains("# skipped: BGPAdvertisement metallb-system/bgp: BGP is not supported"))
        #expect(output.toml.contains("# skipped: Service metallb-system/web: not MetalLB configuration"))
    }

    @Test func badInputIsRefusedWithTheObjectNamed() {
        #expect(MetalLBImport.convert([("a.yaml", "kind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: []}")]).failureMessage
                == "a.yaml: IPAddressPool metallb-system/p: spec.addresses is empty")
        #expect(MetalLBImport.convert([("b.yaml", "kind: Service\nmetadata: {name: s}")]).failureMessage
                == "no IPAddressPool and no MetalLB config ConfigMap with address-pools in the input")
        #expect(MetalLBImport.convert([("c.yaml", "kind: [")]).failureMessage?.hasPrefix("c.yaml: line ") == true)
    }
}

extension Result {
    var failureMessage: String? { if case .failure(let error) = self { "\(error)" } else { nil } }
}
