/// What else in a Kubernetes cluster answers ARP for LoadBalancer addresses, or would fight
/// Herald for them, judged from what the API server shows; pure (the reads are
/// `ClusterProbe`'s). Each finding says what is wrong and the fix.
public enum ClusterCheck {
    public struct Finding: Equatable, Sendable, CustomStringConvertible {
        public let problem: String
        public let fix: String
        public var description: String { "\(problem); \(fix)" }
    }

    /// kube-proxy's configuration (`config.conf` of the `kube-proxy` ConfigMap in
    /// kube-system, a KubeProxyConfiguration): in IPVS mode without `ipvs.strictARP`, every
    /// node's kernel answers ARP for every LoadBalancer address, whatever Herald does.
    public static func kubeProxy(config text: String) -> [Finding] {
        guard let config = try? YAMLValue.parse(text) else {
            return [Finding(problem: "kube-proxy's config.conf does not parse as YAML",
                            fix: "check `kubectl -n kube-system get configmap kube-proxy -o yaml`")]
        }
        guard config["mode"]?.string?.lowercased() == "ipvs" else { return [] }
        guard config["ipvs"]?["strictARP"]?.string?.lowercased() != "true" else { return [] }
        return [Finding(problem: "kube-proxy runs in IPVS mode without strictARP: every node answers ARP for every LoadBalancer address, so clients reach random nodes whatever Herald announces",
                        fix: "set `ipvs: {strictARP: true}` in the kube-proxy ConfigMap (kubectl -n kube-system edit configmap kube-proxy) and restart kube-proxy (kubectl -n kube-system rollout restart daemonset kube-proxy)")]
    }

    /// A pod, as far as this check looks at it.
    public struct Pod: Equatable, Sendable {
        public var namespace: String
        public var name: String
        public var labels: [String: String]
        public init(namespace: String, name: String, labels: [String: String]) {
            self.namespace = namespace
            self.name = name
            self.labels = labels
        }
    }

    /// Pods of other load-balancer implementations: k3s' servicelb (klipper-lb: its
    /// `svclb-*` pods bind the Service ports on every node) and MetalLB's speaker and
    /// controller (they announce and assign the same addresses).
    public static func pods(_ pods: [Pod]) -> [Finding] {
        var findings: [Finding] = []
        let servicelb = pods.filter { $0.labels["svccontroller.k3s.cattle.io/svcname"] != nil || $0.name.hasPrefix("svclb-") }
        if let first = servicelb.first {
            findings.append(Finding(problem: "k3s' servicelb is enabled (\(servicelb.count) pod(s), e.g. \(first.namespace)/\(first.name)): it also takes LoadBalancer Services",
                                    fix: "start k3s with `--disable=servicelb` (or `disable: [servicelb]` in /etc/rancher/k3s/config.yaml) on every server"))
        }
        let metallb = pods.filter {
            $0.labels["app.kubernetes.io/name"] == "metallb" || $0.labels["app"] == "metallb"
        }
        for component in ["speaker", "controller"] {
            let found = metallb.filter { ($0.labels["app.kubernetes.io/component"] ?? $0.labels["component"]) == component }
            guard let first = found.first else { continue }
            findings.append(Finding(problem: "MetalLB's \(component) is running (\(found.count) pod(s) in \(first.namespace))",
                                    fix: "remove MetalLB as docs/migrating-from-metallb.md says, in the namespace it was installed to, once Herald answers"))
        }
        return findings
    }

    /// MetalLB's CRDs (`*.metallb.io`) still installed.
    public static func customResources(_ names: [String]) -> [Finding] {
        let metallb = names.filter { $0.hasSuffix(".metallb.io") }.sorted()
        guard !metallb.isEmpty else { return [] }
        return [Finding(problem: "MetalLB's CRDs are installed (\(metallb.joined(separator: ", ")))",
                        fix: "after MetalLB is removed, delete them: kubectl delete crd \(metallb.joined(separator: " "))")]
    }
}
