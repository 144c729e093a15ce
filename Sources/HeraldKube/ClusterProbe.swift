import FoundationEssentials

/// Reads what `ClusterCheck` judges: kube-proxy's ConfigMap, the pods of k3s' servicelb and
/// of MetalLB (by their labels, not every pod), and MetalLB's CRDs. What it cannot read
/// (no such ConfigMap, a ClusterRole without the rule, no answer) is said, not guessed.
public enum ClusterProbe {
    public struct Result: Sendable {
        public var findings: [ClusterCheck.Finding] = []
        /// What could not be read, and why.
        public var unread: [String] = []
    }

    /// On a connection of its own: each finding and each thing it could not read, to the sinks.
    public static func report(_ credentials: KubeCredentials, finding: (ClusterCheck.Finding) -> Void, unread: (String) -> Void) {
        let http: KubeHTTP
        do { http = try KubeHTTP(credentials: credentials) } catch { return unread("cannot connect to the API server: \(error)") }
        let result = run(http)
        result.findings.forEach(finding)
        result.unread.forEach(unread)
    }

    public static func run(_ http: KubeHTTP, timeout: Duration = .seconds(5)) -> Result {
        var result = Result()
        struct ConfigMap: Decodable { var data: [String: String]? }
        switch get(ConfigMap.self, http, "/api/v1/namespaces/kube-system/configmaps/kube-proxy", timeout: timeout) {
        case .success(let map):
            if let config = map.data?["config.conf"] {
                result.findings += ClusterCheck.kubeProxy(config: config)
            } else {
                result.unread.append("the kube-proxy ConfigMap has no config.conf; check strictARP by hand (docs/operations.md, \"strictARP, servicelb and MetalLB\")")
            }
        case .failure(.notFound):
            result.unread.append("no kube-proxy ConfigMap in kube-system (kube-proxy configured by flags, or replaced by a CNI): check strictARP by hand (docs/operations.md, \"strictARP, servicelb and MetalLB\")")
        case .failure(.transport(let message)):
            // Nothing else would get through either: one note, not six timeouts.
            result.unread.append("cannot reach the API server: \(message)")
            return result
        case .failure(let error):
            result.unread.append("cannot read the kube-proxy ConfigMap: \(error)")
        }
        struct PodList: Decodable {
            struct Item: Decodable {
                struct Meta: Decodable { var name: String; var namespace: String?; var labels: [String: String]? }
                var metadata: Meta
            }
            var items: [Item]
        }
        var pods: [ClusterCheck.Pod] = []
        for selector in ["svccontroller.k3s.cattle.io/svcname", "app.kubernetes.io/name=metallb", "app=metallb"] {
            let query = selector.replacing("/", with: "%2F").replacing("=", with: "%3D")
            switch get(PodList.self, http, "/api/v1/pods?labelSelector=\(query)&limit=50", timeout: timeout) {
            case .success(let list):
                pods += list.items.map { ClusterCheck.Pod(namespace: $0.metadata.namespace ?? "", name: $0.metadata.name,
                                                          labels: $0.metadata.labels ?? [:]) }
            case .failure(let error):
                result.unread.append("cannot list pods (\(selector)): \(error)")
            }
        }
        result.findings += ClusterCheck.pods(pods)
        var crds: [String] = []
        for name in ["ipaddresspools.metallb.io", "l2advertisements.metallb.io", "bgppeers.metallb.io"] {
            struct Named: Decodable {}
            switch get(Named.self, http, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/\(name)", timeout: timeout) {
            case .success: crds.append(name)
            case .failure(.notFound): break
            case .failure(let error): result.unread.append("cannot read CRD \(name): \(error)")
            }
        }
        result.findings += ClusterCheck.customResources(crds)
        return result
    }

    private static func get<Value: Decodable>(_ type: Value.Type, _ http: KubeHTTP, _ path: String,
                                              timeout: Duration) -> Swift.Result<Value, KubeError> {
        do {
            let bytes = try http.request("GET", path, timeout: timeout)
            do { return .success(try JSONDecoder().decode(Value.self, from: Data(bytes))) } catch {
                return .failure(.malformed("\(path): \(error)"))
            }
        } catch {
            return .failure(error)
        }
    }
}
