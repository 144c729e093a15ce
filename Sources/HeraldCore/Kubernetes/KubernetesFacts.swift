import HeraldWire

/// What the Kubernetes API says that elections need, as plain values: the daemon turns
/// the watched objects into these and the pure core never sees an API type.
public struct KubernetesFacts: Equatable, Sendable {
    /// The Services this node serves (its load balancer class), by `namespace/name`.
    public var services: [ServiceFacts]
    public var nodes: [String: KubeNodeFacts]

    public init(services: [ServiceFacts] = [], nodes: [String: KubeNodeFacts] = [:]) {
        self.services = services.sorted { $0.key < $1.key }
        self.nodes = nodes
    }
}

/// One LoadBalancer Service.
public struct ServiceFacts: Equatable, Sendable {
    /// `namespace/name`.
    public var key: String
    /// Its `status.loadBalancer.ingress` addresses, in order.
    public var addresses: [IPAddress]
    /// `externalTrafficPolicy: Local`: only nodes with a ready endpoint may take traffic.
    public var localTraffic: Bool
    /// Some endpoint is ready (or serving): as MetalLB's layer-2 speakers, a Service
    /// without one is not announced.
    public var hasReadyEndpoint: Bool
    /// Nodes with a ready (or serving) endpoint of it.
    public var readyEndpointNodes: Set<String>

    public init(key: String, addresses: [IPAddress], localTraffic: Bool = false, hasReadyEndpoint: Bool = true,
                readyEndpointNodes: Set<String> = []) {
        self.key = key
        self.addresses = addresses
        self.localTraffic = localTraffic
        self.hasReadyEndpoint = hasReadyEndpoint
        self.readyEndpointNodes = readyEndpointNodes
    }
}

/// What Kubernetes says about a node, for electing who announces a Service.
public struct KubeNodeFacts: Equatable, Sendable {
    public var labels: [String: String]
    public var networkUnavailable: Bool
    /// The `Ready` condition is true.
    public var ready: Bool
    /// `status.addresses` of type InternalIP, in the API's order.
    public var internalIPs: [IPAddress]

    public static let excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

    public init(labels: [String: String] = [:], networkUnavailable: Bool = false, ready: Bool = true,
                internalIPs: [IPAddress] = []) {
        self.labels = labels
        self.networkUnavailable = networkUnavailable
        self.ready = ready
        self.internalIPs = internalIPs
    }
}

/// Why Kubernetes keeps a node from taking a Service's traffic: the rules both elections
/// share (the announcer in local mode, `Election`; the target node in adjacent mode,
/// `TargetElection`), written once.
public enum KubernetesIneligibility: Equatable, Sendable, CustomStringConvertible {
    /// The `Ready` condition is not true (checked for target nodes; an announcer's own
    /// liveness is what gossip says).
    case notReady
    /// The node carries `node.kubernetes.io/exclude-from-external-load-balancers`.
    case excludedByLabel
    /// The node's `NetworkUnavailable` condition is true.
    case networkUnavailable
    /// The pool's `nodes` list (names or labels) leaves the node out.
    case excludedByPool
    /// `externalTrafficPolicy: Local` and no ready endpoint on the node.
    case noReadyEndpoint

    public var description: String {
        switch self {
        case .notReady: "node is not Ready"
        case .excludedByLabel: "node has \(KubeNodeFacts.excludeLabel)"
        case .networkUnavailable: "node's NetworkUnavailable condition is true"
        case .excludedByPool: "not in the pool's nodes list"
        case .noReadyEndpoint: "externalTrafficPolicy Local and no ready endpoint on this node"
        }
    }
}

extension KubeNodeFacts {
    /// Why the node `name` may not take the traffic of a Service from `pool` (`nil`: it
    /// may). `endpointNodes`: the nodes with a ready endpoint, for `externalTrafficPolicy:
    /// Local` (`nil` otherwise); `requireReady`: whether the node's Ready condition counts.
    public func ineligibility(name: String, pool: PoolConfig, endpointNodes: Set<String>?,
                              requireReady: Bool) -> KubernetesIneligibility? {
        if requireReady && !ready { return .notReady }
        if labels[Self.excludeLabel] != nil { return .excludedByLabel }
        if networkUnavailable { return .networkUnavailable }
        if !pool.admits(node: name, labels: labels) { return .excludedByPool }
        if let endpointNodes, !endpointNodes.contains(name) { return .noReadyEndpoint }
        return nil
    }
}
