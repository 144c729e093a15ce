import FoundationEssentials
import HeraldCore
import HeraldKube
import HeraldWire
import Testing

@Suite struct ServiceClaimTests {
    func service(_ json: String) throws -> KubeService { try JSONDecoder().decode(KubeService.self, from: Data(json.utf8)) }

    @Test func readsMetalLBAnnotationsInBothForms() throws {
        let modern = try service("""
            {"metadata":{"name":"dns","namespace":"infra","annotations":{
               "metallb.io/loadBalancerIPs":"198.51.100.100, 2001:db8:100::1:5",
               "metallb.io/address-pool":"homelab","metallb.io/allow-shared-ip":"dns"}},
             "spec":{"type":"LoadBalancer","ports":[{"port":53,"protocol":"UDP"},{"port":53}],
                     "ipFamilies":["IPv4","IPv6"],"ipFamilyPolicy":"RequireDualStack",
                     "externalTrafficPolicy":"Local","selector":{"tier":"dns","app":"coredns"}}}
            """)
        let claim = try modern.claim().get()
        #expect(claim.key == "infra/dns" && claim.namespace == "infra")
        #expect(claim.requested == [IPAddress("198.51.100.100")!, IPAddress("2001:db8:100::1:5")!])
        #expect(claim.pool == "homelab" && claim.sharingKey == "dns")
        #expect(claim.ports == [.init(53, "UDP"), .init(53, "TCP")])
        #expect(claim.families == [.v4, .v6] && claim.familyPolicy == .requireDualStack)
        #expect(claim.localBackends == "app=coredns,tier=dns")

        let legacy = try service("""
            {"metadata":{"name":"web","annotations":{"metallb.universe.tf/address-pool":"old",
               "metallb.universe.tf/allow-shared-ip":"k"}},
             "spec":{"type":"LoadBalancer","loadBalancerIP":"2001:db8:100::1:9"}}
            """)
        let old = try legacy.claim().get()
        #expect(old.key == "default/web" && old.pool == "old" && old.sharingKey == "k")
        #expect(old.requested == [IPAddress("2001:db8:100::1:9")!])
        #expect(old.families == [.v6] && old.familyPolicy == .singleStack && old.localBackends == nil)
    }

    @Test func badValuesAreRefusedWithTheFieldNamed() throws {
        let bad = try service("""
            {"metadata":{"name":"x","annotations":{"metallb.io/loadBalancerIPs":"198.51.100.300"}},"spec":{"type":"LoadBalancer"}}
            """)
        #expect(bad.claim() == .failure(AllocationError(message: "metallb.io/loadBalancerIPs: '198.51.100.300' is not an IP address")))
        let policy = try service(#"{"metadata":{"name":"x"},"spec":{"type":"LoadBalancer","ipFamilyPolicy":"Sometimes"}}"#)
        #expect(policy.claim() == .failure(AllocationError(message: "spec.ipFamilyPolicy: unknown policy 'Sometimes'")))
    }

    @Test func servesOnlyLoadBalancersOfItsClass() throws {
        let plain = try service(#"{"metadata":{"name":"a"},"spec":{"type":"LoadBalancer"}}"#)
        let classed = try service(#"{"metadata":{"name":"b"},"spec":{"type":"LoadBalancer","loadBalancerClass":"herald"}}"#)
        let clusterIP = try service(#"{"metadata":{"name":"c"},"spec":{"type":"ClusterIP"}}"#)
        #expect(plain.isServed(loadBalancerClass: "") && !classed.isServed(loadBalancerClass: ""))
        #expect(classed.isServed(loadBalancerClass: "herald") && !plain.isServed(loadBalancerClass: "herald"))
        #expect(!clusterIP.isServed(loadBalancerClass: ""))
        let held = try service(#"{"metadata":{"name":"d"},"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.7"}]}}}"#)
        #expect(held.ingressAddresses == [IPAddress("198.51.100.7")!])
    }

    @Test func bothTheAnnotationAndTheFieldAreRefusedAsMetalLBDoes() throws {
        let both = try service("""
            {"metadata":{"name":"x","annotations":{"metallb.io/loadBalancerIPs":"198.51.100.100"}},
             "spec":{"type":"LoadBalancer","loadBalancerIP":"198.51.100.101"}}
            """)
        #expect(both.claim().failureMessage == "spec.loadBalancerIP and metallb.io/loadBalancerIPs are both set; keep one")
        let labelled = try service(#"{"metadata":{"name":"y","labels":{"tier":"web"}},"spec":{"type":"LoadBalancer"}}"#)
        let claim = try labelled.claim(namespaceLabels: ["team": "a"]).get()
        #expect(claim.labels == ["tier": "web"] && claim.namespaceLabels == ["team": "a"])
    }
}
