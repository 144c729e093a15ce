import FoundationEssentials
import HeraldCore
import HeraldKube
import HeraldWire
import Testing

/// The Kubernetes machine's rules, as tables of Services in and writes out: no HTTP.
@Suite struct KubernetesMachineTests {
    let pool = PoolConfig(name: "lab", addresses: [try! IPRange.parse("198.51.100.50-198.51.100.52").get()],
                          location: SourceLocation(file: "t", line: 1))

    func service(_ name: String, created: String, ingress: [String] = [], annotations: [String: String] = [:],
                 type: String = "LoadBalancer") -> KubeService {
        let annotationsJSON = annotations.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
        let ingressJSON = ingress.map { "{\"ip\": \"\($0)\"}" }.joined(separator: ", ")
        let json = """
            {"metadata": {"name": "\(name)", "namespace": "default", "creationTimestamp": "\(created)", "resourceVersion": "1",
                          "annotations": {\(annotationsJSON)}},
             "spec": {"type": "\(type)"}, "status": {"loadBalancer": {"ingress": [\(ingressJSON)]}}}
            """
        return try! JSONDecoder().decode(KubeService.self, from: Data(json.utf8))
    }

    func machine(_ services: [KubeService]) -> KubernetesMachine {
        var machine = KubernetesMachine(loadBalancerClass: "", watchesNamespaces: false)
        machine.onUpdate(ObjectUpdate<KubeService>.replaced(services))
        machine.onUpdate(ObjectUpdate<Node>.replaced([]))
        machine.onUpdate(ObjectUpdate<EndpointSlice>.replaced([]))
        return machine
    }

    func decisions(allocator: Bool = true, configsDiffer: Bool = false, owners: [String: String] = [:]) -> KubernetesMachine.NodeDecisions {
        var announcements = ServiceAnnouncements()
        announcements.owners = Dictionary(uniqueKeysWithValues: owners.map { (IPAddress($0.key)!, $0.value) })
        return .init(nodeName: "n1", isAllocator: allocator, configsDiffer: configsDiffer, announcements: announcements, pools: [pool])
    }

    func writes(_ actions: [KubernetesAction]) -> [String: ServiceWrites] {
        Dictionary(uniqueKeysWithValues: actions.compactMap { if case .write(let writes) = $0 { (writes.service.key, writes) } else { nil } })
    }

    @Test func aNewServiceGetsTheFirstFreeAddressItsPoolAndOneEvent() {
        var machine = machine([service("held", created: "2026-01-01T00:00:00Z", ingress: ["198.51.100.50"],
                                       annotations: [KubernetesMachine.poolAnnotation: "lab"]),
                               service("new", created: "2026-02-01T00:00:00Z")])
        let first = writes(machine.reconcile(decisions()))
        #expect(first.keys.sorted() == ["default/new"], "the Service that holds its address is left alone")
        let new = first["default/new"]
        #expect(new?.status == [IPAddress("198.51.100.51")!])
        #expect(new?.poolAnnotation == "lab")
        #expect(new?.events == [ServiceEvent(reason: "IPAllocated", type: .normal, message: "Assigned IP [\"198.51.100.51\"]")], "as MetalLB words it")
    }

    @Test func ofTwoHoldingOneAddressTheOlderKeepsItAndTheLaterIsMovedWithAWarning() {
        var machine = machine([service("later", created: "2026-02-01T00:00:00Z", ingress: ["198.51.100.50"]),
                               service("older", created: "2026-01-01T00:00:00Z", ingress: ["198.51.100.50"])])
        let all = writes(machine.reconcile(decisions()))
        #expect(all["default/older"]?.status == nil, "the older keeps its address (only its annotation is written)")
        let moved = all["default/later"]
        #expect(moved?.status == [IPAddress("198.51.100.51")!])
        #expect(moved?.events.map(\.reason) == ["IPReassigned"])
        #expect(moved?.events.first?.type == .warning)
        #expect(moved?.warning?.contains("also held by default/older") == true)
    }

    @Test func whileConfigsDifferAHeldAddressIsNotMovedAndThatIsSaidOnce() {
        let stray = service("stray", created: "2026-01-01T00:00:00Z", ingress: ["192.0.2.9"])
        var machine = machine([stray])
        let first = machine.reconcile(decisions(configsDiffer: true))
        #expect(writes(first).isEmpty)
        #expect(first.filter { if case .warn = $0 { true } else { false } }.count == 1)
        #expect(machine.reconcile(decisions(configsDiffer: true)).isEmpty, "said once")
        #expect(writes(machine.reconcile(decisions()))["default/stray"]?.status == [IPAddress("198.51.100.50")!],
                "once the configs agree it moves")
    }

    @Test func onlyTheAllocatorAllocatesAndTheAnnouncerSaysSoOncePerChange() {
        var machine = machine([service("web", created: "2026-01-01T00:00:00Z", ingress: ["198.51.100.50"]),
                               service("new", created: "2026-02-01T00:00:00Z")])
        let owned = decisions(allocator: false, owners: ["198.51.100.50": "n1"])
        let first = writes(machine.reconcile(owned))
        #expect(first.keys.sorted() == ["default/web"], "no allocation on a node that is not the allocator")
        let event = first["default/web"]!.events
        #expect(event.map(\.reason) == ["nodeAssigned"])
        machine.onPosted(service: "default/web", reason: "nodeAssigned", message: event[0].message)
        #expect(writes(machine.reconcile(owned)).isEmpty, "posted once")
        #expect(writes(machine.reconcile(decisions(allocator: false))).isEmpty, "no longer ours")
        #expect(writes(machine.reconcile(owned))["default/web"]?.events.map(\.reason) == ["nodeAssigned"], "ours again: said again")
    }

    @Test func aRoutedAddressSaysWhichVIPItIsRoutedVia() {
        var machine = machine([service("web", created: "2026-01-01T00:00:00Z", ingress: ["198.51.100.50"])])
        var routed = decisions(allocator: false, owners: ["198.51.100.50": "n1"])
        routed.announcements.routed = [IPAddress("198.51.100.50")!: "gateway"]
        let event = writes(machine.reconcile(routed))["default/web"]?.events
        #expect(event == [ServiceEvent(reason: "nodeAssigned", type: .normal, message: "routed via VIP \"gateway\", owned by node \"n1\"")])
    }

    @Test func theEventsOfADeletedServiceAreForgotten() {
        let failing = service("bad", created: "2026-01-01T00:00:00Z", annotations: ["metallb.io/address-pool": "nope"])
        var machine = machine([failing])
        let event = writes(machine.reconcile(decisions()))["default/bad"]!.events[0]
        #expect(event.reason == "AllocationFailed")
        machine.onPosted(service: "default/bad", reason: event.reason, message: event.message)
        #expect(writes(machine.reconcile(decisions())).isEmpty, "not posted twice")
        machine.onUpdate(ObjectUpdate<KubeService>.deleted(failing))
        _ = machine.reconcile(decisions())
        machine.onUpdate(ObjectUpdate<KubeService>.added(failing))
        #expect(writes(machine.reconcile(decisions()))["default/bad"]?.events.map(\.reason) == ["AllocationFailed"],
                "a Service created again under the same name hears it again")
    }

    @Test func aServiceNoLongerServedGivesItsPoolAddressesBack() {
        var machine = machine([service("was", created: "2026-01-01T00:00:00Z", ingress: ["198.51.100.50", "192.0.2.7"],
                                       type: "ClusterIP")])
        #expect(writes(machine.reconcile(decisions()))["default/was"]?.status == [IPAddress("192.0.2.7")!])
    }

    @Test func factsSayWhichNodesAreReadyAndWhichEndpointsCount() throws {
        var machine = machine([service("web", created: "2026-01-01T00:00:00Z", ingress: ["198.51.100.50"])])
        let node = try JSONDecoder().decode(Node.self, from: Data("""
            {"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
             "addresses": [{"type": "InternalIP", "address": "198.51.100.11"}]}}
            """.utf8))
        let slice = try JSONDecoder().decode(EndpointSlice.self, from: Data("""
            {"metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
             "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": false, "serving": true}, "nodeName": "n2"},
                           {"addresses": ["10.0.0.2"], "conditions": {"ready": false, "serving": false}, "nodeName": "n3"}]}
            """.utf8))
        machine.onUpdate(ObjectUpdate<Node>.added(node))
        machine.onUpdate(ObjectUpdate<EndpointSlice>.added(slice))
        let facts = machine.facts
        #expect(facts.nodes["n1"] == KubeNodeFacts(ready: true, internalIPs: [IPAddress("198.51.100.11")!]))
        #expect(facts.services.first?.readyEndpointNodes == ["n2"], "terminating but serving counts; neither does not")
        #expect(machine.isListed)
    }
}
