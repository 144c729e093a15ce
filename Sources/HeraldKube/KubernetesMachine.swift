import HeraldCore
import HeraldWire

/// Everything Herald decides about the Kubernetes API, pure: what the watchers report goes
/// in (`onUpdate`), the facts the node machine elects from come out (`facts`), and on each
/// reconcile, given what the node machine decided (`NodeDecisions`), the writes to make:
/// addresses for Services (when this node is the allocator), the pool annotation, and the
/// Events that say what happened. The shell (`KubernetesLoop`) only moves bytes: it runs
/// the writes in order and reports the Events it posted (`onPosted`).
///
/// Allocation, in one pass: Services that already hold addresses go first, oldest first,
/// so a restart or a new allocator keeps them; of two that hold one address without a
/// valid sharing key, the later one is moved (a Warning Event). While the hosts' configs
/// differ, a Service that holds an address is not moved to another one. A Service no
/// longer served (type or class changed) gives its pool addresses back.
public struct KubernetesMachine: Sendable {
    /// The kinds of object watched.
    public enum Kind: String, CaseIterable, Sendable {
        case services, nodes, endpointslices, namespaces
    }

    /// What the node machine decided that the API writes depend on.
    public struct NodeDecisions: Equatable, Sendable {
        public var nodeName: String
        /// This node allocates addresses (`NodeMachine.isAllocator`).
        public var isAllocator: Bool
        /// The hosts' configs differ (`NodeMachine.drift`): no Service moves to another address.
        public var configsDiffer: Bool
        public var announcements: ServiceAnnouncements
        public var pools: [PoolConfig]

        public init(nodeName: String, isAllocator: Bool, configsDiffer: Bool, announcements: ServiceAnnouncements,
                    pools: [PoolConfig]) {
            self.nodeName = nodeName
            self.isAllocator = isAllocator
            self.configsDiffer = configsDiffer
            self.announcements = announcements
            self.pools = pools
        }
    }

    /// The `load_balancer_class` this node serves (`""`: Services that name none).
    public let loadBalancerClass: String
    /// The kinds this node watches (namespaces only for pools' namespace selectors).
    public let watched: Set<Kind>
    public private(set) var services: [String: KubeService] = [:]
    public private(set) var nodes: [String: Node] = [:]
    public private(set) var slices: [String: EndpointSlice] = [:]
    public private(set) var namespaces: [String: Namespace] = [:]
    /// The kinds whose first list came in.
    public private(set) var listed: Set<Kind> = []
    /// Grows with every update: what a reader last saw is stale when it differs.
    public private(set) var version = 0
    /// Events posted, by `namespace/name#reason`: the last message of each, so an Event is
    /// posted once per distinct message, not on every reconcile. Forgotten with the Service.
    private var posted: [String: String] = [:]
    /// Services held at their addresses while configs differ (said once each).
    private var heldForDrift: Set<String> = []

    public init(loadBalancerClass: String, watchesNamespaces: Bool) {
        self.loadBalancerClass = loadBalancerClass
        watched = watchesNamespaces ? Set(Kind.allCases) : [.services, .nodes, .endpointslices]
    }

    /// Every watched kind has been listed once: the facts describe the cluster.
    public var isListed: Bool { listed.isSuperset(of: watched) }

    // MARK: Inputs

    public mutating func onUpdate(_ update: ObjectUpdate<KubeService>) {
        Self.apply(update, to: &services, key: \.key, listing: .services, in: &listed, version: &version)
    }

    public mutating func onUpdate(_ update: ObjectUpdate<Node>) {
        Self.apply(update, to: &nodes, key: \.metadata.name, listing: .nodes, in: &listed, version: &version)
    }

    public mutating func onUpdate(_ update: ObjectUpdate<EndpointSlice>) {
        Self.apply(update, to: &slices, key: { "\($0.metadata.namespace ?? "")/\($0.metadata.name)" }, listing: .endpointslices,
                   in: &listed, version: &version)
    }

    public mutating func onUpdate(_ update: ObjectUpdate<Namespace>) {
        Self.apply(update, to: &namespaces, key: \.metadata.name, listing: .namespaces, in: &listed, version: &version)
    }

    private static func apply<Object>(_ update: ObjectUpdate<Object>, to map: inout [String: Object], key: (Object) -> String,
                                      listing kind: Kind, in listed: inout Set<Kind>, version: inout Int) {
        version += 1
        switch update {
        case .replaced(let all):
            map = Dictionary(all.map { (key($0), $0) }, uniquingKeysWith: { _, last in last })
            listed.insert(kind)
        case .added(let object), .modified(let object): map[key(object)] = object
        case .deleted(let object): map[key(object)] = nil
        }
    }

    /// The Event `reason` with `message` on the Service `key` was posted.
    public mutating func onPosted(service key: String, reason: String, message: String) {
        guard services[key] != nil else { return }
        posted["\(key)#\(reason)"] = message
    }

    // MARK: Facts for the node machine

    /// The Services this node serves and what the Nodes say, as plain values. A Node is
    /// ready when its `Ready` condition is true; an endpoint counts when it is ready (or,
    /// terminating, still serving).
    public var facts: KubernetesFacts {
        var slicesByService: [String: [EndpointSlice]] = [:]
        for slice in slices.values {
            guard let service = slice.metadata.labels?["kubernetes.io/service-name"] else { continue }
            slicesByService["\(slice.metadata.namespace ?? "default")/\(service)", default: []].append(slice)
        }
        return KubernetesFacts(
            services: services.values.filter { $0.isServed(loadBalancerClass: loadBalancerClass) }.map { service in
                let endpoints = Self.readyEndpoints(slicesByService[service.key] ?? [])
                return ServiceFacts(key: service.key, addresses: service.ingressAddresses,
                                    localTraffic: service.spec?.externalTrafficPolicy == "Local",
                                    hasReadyEndpoint: endpoints.any, readyEndpointNodes: endpoints.nodes)
            },
            nodes: nodes.mapValues { node in
                let conditions = node.status?.conditions ?? []
                return KubeNodeFacts(labels: node.metadata.labels ?? [:],
                                     networkUnavailable: conditions.contains { $0.type == "NetworkUnavailable" && $0.status == "True" },
                                     ready: conditions.contains { $0.type == "Ready" && $0.status == "True" },
                                     internalIPs: (node.status?.addresses ?? []).filter { $0.type == "InternalIP" }.compactMap { IPAddress($0.address) })
            })
    }

    private static func readyEndpoints(_ slices: [EndpointSlice]) -> (any: Bool, nodes: Set<String>) {
        var any = false
        var names: Set<String> = []
        for slice in slices {
            for endpoint in slice.endpoints ?? [] where endpoint.conditions?.ready ?? true || endpoint.conditions?.serving ?? false {
                any = true
                if let node = endpoint.nodeName { names.insert(node) }
            }
        }
        return (any, names)
    }

    // MARK: Reconciling

    /// The writes due now, one entry per Service (each runs in order: status, Events,
    /// annotation), and what to log. Forgets the Events of Services that are gone.
    public mutating func reconcile(_ node: NodeDecisions) -> [KubernetesAction] {
        guard listed.contains(.services) else { return [] }
        posted = posted.filter { services[String($0.key.prefix { $0 != "#" })] != nil }
        heldForDrift.formIntersection(services.keys)
        var actions = announcementWrites(node)
        if node.isAllocator { actions += allocationWrites(node) }
        return actions
    }

    private func needed(_ key: String, _ reason: String, _ message: String) -> Bool {
        posted["\(key)#\(reason)"] != message
    }

    /// `nodeAssigned` (and in adjacent mode `targetAssigned`) for each Service this node
    /// started announcing: once per change of announcer, from the new one, as MetalLB's
    /// speakers do.
    private mutating func announcementWrites(_ node: NodeDecisions) -> [KubernetesAction] {
        var actions: [KubernetesAction] = []
        for service in services.values.sorted(by: { $0.key < $1.key }) where service.isServed(loadBalancerClass: loadBalancerClass) {
            guard let first = service.ingressAddresses.first, node.announcements.owners[first] == node.nodeName else {
                // Not (or no longer) ours: said again if it comes back.
                posted["\(service.key)#nodeAssigned"] = nil
                posted["\(service.key)#targetAssigned"] = nil
                continue
            }
            let message = node.announcements.routed[first].map { "routed via VIP \"\($0)\", owned by node \"\(node.nodeName)\"" }
                ?? "announcing from node \"\(node.nodeName)\" with protocol \"layer2\""
            var events = [ServiceEvent(reason: "nodeAssigned", type: .normal, message: message)]
            if let target = node.announcements.targets[first] {
                events.append(ServiceEvent(reason: "targetAssigned", type: .normal, message:
                    "traffic goes to node \"\(target.node)\" (\(target.address)): \"\(node.nodeName)\" answers with its MAC (adjacent mode)"))
            }
            events = events.filter { needed(service.key, $0.reason, $0.message) }
            if !events.isEmpty { actions.append(.write(ServiceWrites(service: service, events: events))) }
        }
        return actions
    }

    private mutating func allocationWrites(_ node: NodeDecisions) -> [KubernetesAction] {
        var actions: [KubernetesAction] = []
        let ordered = services.values.sorted { lhs, rhs in
            (lhs.ingressAddresses.isEmpty ? 1 : 0, lhs.metadata.creationTimestamp ?? "", lhs.key)
                < (rhs.ingressAddresses.isEmpty ? 1 : 0, rhs.metadata.creationTimestamp ?? "", rhs.key)
        }
        var allocator = Allocator(pools: node.pools)
        for service in ordered {
            let held = service.ingressAddresses.filter { allocator.pool(of: $0) != nil }
            guard service.isServed(loadBalancerClass: loadBalancerClass) else {
                // No longer ours (type or class changed): give its pool addresses back.
                if !held.isEmpty {
                    actions.append(.write(ServiceWrites(service: service, status: service.ingressAddresses.filter { allocator.pool(of: $0) == nil })))
                }
                continue
            }
            let namespaceLabels = namespaces[service.metadata.namespace ?? "default"]?.metadata.labels ?? [:]
            switch service.claim(namespaceLabels: namespaceLabels).flatMap({ allocator.assign($0, current: held) }) {
            case .success(let addresses):
                if addresses != service.ingressAddresses, node.configsDiffer, !service.ingressAddresses.isEmpty {
                    if heldForDrift.insert(service.key).inserted {
                        actions.append(.warn("\(service.key): not moved to \(addresses.map(\.description).joined(separator: ",")) while the hosts' configs differ (heraldctl members)"))
                    }
                    continue
                }
                heldForDrift.remove(service.key)
                let pool = allocator.assignments[service.key]?.pool
                let annotation = pool.flatMap { service.metadata.annotations?[Self.poolAnnotation] == $0 ? nil : $0 }
                if addresses == service.ingressAddresses {
                    if let annotation { actions.append(.write(ServiceWrites(service: service, poolAnnotation: annotation))) }
                    continue
                }
                let lost = held.filter { !addresses.contains($0) }
                var writes = ServiceWrites(service: service, status: addresses, poolAnnotation: annotation)
                if lost.isEmpty {
                    writes.events = [ServiceEvent(reason: "IPAllocated", type: .normal, message: "Assigned IP \(addresses.map(\.description))")]
                } else {
                    let others = lost.flatMap { allocator.holders(of: $0) }.filter { $0 != service.key }
                    let message = "\(lost.map(\.description).joined(separator: ",")) is also held by \(others.joined(separator: ", ")) without a valid sharing key; reassigned to \(addresses.map(\.description).joined(separator: ","))"
                    writes.events = [ServiceEvent(reason: "IPReassigned", type: .warning, message: message)]
                    writes.warning = "\(service.key): \(message)"
                }
                writes.events = writes.events.filter { needed(service.key, $0.reason, $0.message) }
                actions.append(.write(writes))
            case .failure(let error):
                let message = "Failed to allocate IP for \"\(service.key)\": \(error)"
                if needed(service.key, "AllocationFailed", message) {
                    actions.append(.write(ServiceWrites(service: service, events: [ServiceEvent(reason: "AllocationFailed", type: .warning, message: message)])))
                }
            }
        }
        return actions
    }

    /// MetalLB's controller names the pool a Service's address came from here.
    public static let poolAnnotation = "metallb.io/ip-allocated-from-pool"
}

/// A change one watcher reports.
public enum ObjectUpdate<Object: Sendable>: Sendable {
    /// A full list: everything there is now (after start, a 410 or a resync).
    case replaced([Object])
    case added(Object), modified(Object), deleted(Object)
}

/// What the Kubernetes machine asks of the shell.
public enum KubernetesAction: Equatable, Sendable {
    /// One Service's writes, in order.
    case write(ServiceWrites)
    /// Say this in the journal (warning).
    case warn(String)
}

/// One Service's writes, made in this order: `status.loadBalancer.ingress` (with the
/// object's resourceVersion as precondition: a conflict means the Service changed, the
/// watch brings it, and the rest waits for the next reconcile), then the Events, then the
/// pool annotation (a merge patch of that one annotation; after the status, since a patch
/// first would make the status write's precondition stale).
public struct ServiceWrites: Equatable, Sendable {
    public var service: KubeService
    /// The addresses to write to its status; `nil`: leave the status alone.
    public var status: [IPAddress]?
    public var events: [ServiceEvent]
    /// The pool to name in `metallb.io/ip-allocated-from-pool`.
    public var poolAnnotation: String?
    /// A warning for the journal once the status is written.
    public var warning: String?

    public init(service: KubeService, status: [IPAddress]? = nil, events: [ServiceEvent] = [], poolAnnotation: String? = nil,
                warning: String? = nil) {
        self.service = service
        self.status = status
        self.events = events
        self.poolAnnotation = poolAnnotation
        self.warning = warning
    }
}

/// A core/v1 Event on a Service.
public struct ServiceEvent: Equatable, Sendable {
    public enum Kind: String, Sendable { case normal = "Normal", warning = "Warning" }

    public var reason: String
    public var type: Kind
    public var message: String

    public init(reason: String, type: Kind, message: String) {
        self.reason = reason
        self.type = type
        self.message = message
    }
}
