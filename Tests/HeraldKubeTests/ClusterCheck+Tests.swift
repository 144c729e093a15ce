import HeraldKube
import Testing

/// The judgements `heraldctl check` and heraldd print about the rest of the cluster.
@Suite struct ClusterCheckTests {
    @Test(arguments: [
        ("mode: ipvs\nipvs:\n  strictARP: false\n", true),
        ("mode: ipvs\n", true),
        ("mode: \"ipvs\"\nipvs:\n  strictARP: true\n", false),
        ("mode: iptables\nipvs:\n  strictARP: false\n", false),
        ("mode: \"\"\n", false),
        ("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: IPVS\n", true),
    ])
    func ipvsWithoutStrictARPIsReported(config: String, reported: Bool) {
        let findings = ClusterCheck.kubeProxy(config: config)
        #expect(findings.isEmpty != reported, "\(config): \(findings)")
        if reported { #expect(findings[0].fix.contains("strictARP: true")) }
    }

    @Test func anUnparsableConfigIsSaidNotIgnored() {
        #expect(ClusterCheck.kubeProxy(config: "mode: [ipvs\n").count == 1)
    }

    @Test func servicelbAndMetalLBPodsAreReportedWithTheirNamespace() {
        let pods = [
            ClusterCheck.Pod(namespace: "kube-system", name: "svclb-web-7f9c2", labels: ["svccontroller.k3s.cattle.io/svcname": "web"]),
            ClusterCheck.Pod(namespace: "infra", name: "metallb-speaker-x2", labels: ["app.kubernetes.io/name": "metallb", "app.kubernetes.io/component": "speaker"]),
            ClusterCheck.Pod(namespace: "metallb-system", name: "controller-1", labels: ["app": "metallb", "component": "controller"]),
            ClusterCheck.Pod(namespace: "default", name: "web-1", labels: ["app": "web"]),
        ]
        let findings = ClusterCheck.pods(pods).map(\.description)
        #expect(findings.count == 3, "\(findings)")
        #expect(findings.contains { $0.contains("servicelb") && $0.contains("--disable=servicelb") })
        #expect(findings.contains { $0.contains("speaker") && $0.contains("infra") })
        #expect(findings.contains { $0.contains("controller") && $0.contains("metallb-system") })
        #expect(ClusterCheck.pods([pods[3]]).isEmpty)
    }

    @Test func onlyMetalLBsCRDsAreReported() {
        #expect(ClusterCheck.customResources(["widgets.example.com"]).isEmpty)
        let finding = ClusterCheck.customResources(["l2advertisements.metallb.io", "ipaddresspools.metallb.io"])
        #expect(finding.count == 1 && finding[0].fix.contains("kubectl delete crd ipaddresspools.metallb.io l2advertisements.metallb.io"))
    }
}
