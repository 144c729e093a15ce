import HeraldCore
import HeraldWire

/// Reading what a Service asks of the allocator from its spec and MetalLB's annotations
/// (both the `metallb.io/` and the older `metallb.universe.tf/` forms), so manifests
/// written for MetalLB work unchanged.
extension KubeService {
    static let annotationPrefixes = ["metallb.io/", "metallb.universe.tf/"]

    func annotation(_ name: String) -> String? {
        for prefix in Self.annotationPrefixes {
            if let value = metadata.annotations?[prefix + name], !value.isEmpty { return value }
        }
        return nil
    }

    /// Whether Herald serves this Service: `type: LoadBalancer` and the configured
    /// `load_balancer_class` (`""`: Services that name no class).
    public func isServed(loadBalancerClass: String) -> Bool {
        spec?.type == "LoadBalancer" && (spec?.loadBalancerClass ?? "") == loadBalancerClass
    }

    /// The allocator's view of this Service, or an error for the `AllocationFailed` Event
    /// when an annotation or field cannot be read. `namespaceLabels`: the labels of its
    /// namespace, for pools' namespace selectors.
    public func claim(namespaceLabels: [String: String] = [:]) -> Result<ServiceClaim, AllocationError> {
        var claim = ServiceClaim(key: key, namespace: metadata.namespace ?? "default")
        claim.labels = metadata.labels ?? [:]
        claim.namespaceLabels = namespaceLabels
        if annotation("loadBalancerIPs") != nil, let field = spec?.loadBalancerIP, !field.isEmpty {
            // MetalLB refuses the two together rather than pick one.
            return .failure(AllocationError(message: "spec.loadBalancerIP and metallb.io/loadBalancerIPs are both set; keep one"))
        }
        if let list = annotation("loadBalancerIPs") {
            var addresses: [IPAddress] = []
            for text in list.split(separator: ",").map({ String($0).trimmingWhitespace }) {
                guard let address = IPAddress(text) else {
                    return .failure(AllocationError(message: "metallb.io/loadBalancerIPs: '\(text)' is not an IP address"))
                }
                addresses.append(address)
            }
            claim.requested = addresses
        } else if let text = spec?.loadBalancerIP, !text.isEmpty {
            guard let address = IPAddress(text) else {
                return .failure(AllocationError(message: "spec.loadBalancerIP: '\(text)' is not an IP address"))
            }
            claim.requested = [address]
        }
        claim.pool = annotation("address-pool")
        claim.sharingKey = annotation("allow-shared-ip")
        claim.ports = (spec?.ports ?? []).map { ServiceClaim.Port($0.port, $0.protocol ?? "TCP") }
        var families: [IPFamily] = []
        for name in spec?.ipFamilies ?? [] {
            switch name {
            case "IPv4": families.append(.v4)
            case "IPv6": families.append(.v6)
            default: return .failure(AllocationError(message: "spec.ipFamilies: unknown family '\(name)'"))
            }
        }
        if families.isEmpty {
            // Without ipFamilies (older clusters), the requested addresses say which family.
            families = claim.requested.first.map { [$0.isIPv4 ? .v4 : .v6] } ?? [.v4]
        }
        claim.families = families
        switch spec?.ipFamilyPolicy ?? "SingleStack" {
        case "SingleStack": claim.familyPolicy = .singleStack
        case "PreferDualStack": claim.familyPolicy = .preferDualStack
        case "RequireDualStack": claim.familyPolicy = .requireDualStack
        case let other: return .failure(AllocationError(message: "spec.ipFamilyPolicy: unknown policy '\(other)'"))
        }
        if spec?.externalTrafficPolicy == "Local" {
            claim.localBackends = (spec?.selector ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: ",")
        }
        return .success(claim)
    }

    /// The addresses in `status.loadBalancer.ingress`, in order; what the Service holds.
    public var ingressAddresses: [IPAddress] {
        (status?.loadBalancer?.ingress ?? []).compactMap { $0.ip.flatMap(IPAddress.init) }
    }
}
