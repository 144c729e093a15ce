# What else in the cluster answers for LoadBalancer addresses, read from the API server:
# kube-proxy in IPVS mode without strictARP, k3s' servicelb pods, MetalLB's speaker and
# controller (in a namespace of their own) and its CRDs. heraldctl check and heraldd
# both say so with the fix; once fixed, neither does.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host k 5; lab_host h1 11; lab_host c 2
lab_kube_api
cat >"$LAB_DIR/herald.toml" <<TOML
[node]
interfaces = ["eth0"]
[kubernetes]
kubeconfig = "$LAB_DIR/pki/herald.kubeconfig"
[[pool]]
name = "homelab"
addresses = ["198.51.100.100-198.51.100.110"]
TOML
# kube_proxy STRICT: the ConfigMap as kubeadm writes it, with ipvs.strictARP = STRICT.
kube_proxy() {
    kubectl apply --validate=false -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy, namespace: kube-system}
data:
  config.conf: |
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    mode: ipvs
    ipvs:
      strictARP: $1
YAML
}
kube_proxy false
kubectl apply --validate=false -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: svclb-web-7f9c2, namespace: kube-system, labels: {svccontroller.k3s.cattle.io/svcname: web}}
spec: {containers: [{name: lb, image: rancher/klipper-lb}]}
---
apiVersion: v1
kind: Pod
metadata: {name: speaker-x2f9, namespace: infra, labels: {app.kubernetes.io/name: metallb, app.kubernetes.io/component: speaker}}
spec: {containers: [{name: speaker, image: quay.io/metallb/speaker}]}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ipaddresspools.metallb.io}
spec: {group: metallb.io, names: {kind: IPAddressPool, plural: ipaddresspools}, scope: Namespaced}
YAML

lab_exec h1 "$HERALD_BIN/heraldctl" check "$LAB_DIR/herald.toml" >"$LAB_DIR/check.out" 2>&1 || fail "check failed: $(cat "$LAB_DIR/check.out")"
cat "$LAB_DIR/check.out"
has 'IPVS mode without strictARP.*strictARP: true' <"$LAB_DIR/check.out" || fail "no strictARP warning"
has "servicelb is enabled.*kube-system/svclb-web-7f9c2.*--disable=servicelb" <"$LAB_DIR/check.out" || fail "no servicelb warning"
has "MetalLB's speaker is running (1 pod(s) in infra)" <"$LAB_DIR/check.out" || fail "no MetalLB speaker warning"
has "kubectl delete crd ipaddresspools.metallb.io" <"$LAB_DIR/check.out" || fail "no MetalLB CRD warning"
pass "heraldctl check: strictARP, servicelb, MetalLB's speaker and CRDs, each with its fix"

lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
for i in $(seq 50); do has 'without strictARP' <"$LAB_DIR/h1.log" && break; sleep 0.1; done
has 'level=warning.*kubernetes: kube-proxy runs in IPVS mode without strictARP' <"$LAB_DIR/h1.log" || fail "heraldd did not warn: $(tail -n 5 "$LAB_DIR/h1.log")"
pass "heraldd warns in its journal"

kube_proxy true
kubectl -n kube-system delete pod svclb-web-7f9c2 >/dev/null
kubectl -n infra delete pod speaker-x2f9 >/dev/null
kubectl delete crd ipaddresspools.metallb.io >/dev/null
lab_exec h1 "$HERALD_BIN/heraldctl" check "$LAB_DIR/herald.toml" >"$LAB_DIR/check.out" 2>&1 || fail "check failed: $(cat "$LAB_DIR/check.out")"
! has 'warning: kubernetes' <"$LAB_DIR/check.out" || fail "warnings after the fixes: $(cat "$LAB_DIR/check.out")"
pass "fixed: heraldctl check is quiet"

kubectl -n kube-system delete configmap kube-proxy >/dev/null
lab_exec h1 "$HERALD_BIN/heraldctl" check "$LAB_DIR/herald.toml" >"$LAB_DIR/check.out" 2>&1 || fail "check failed"
has 'note: kubernetes: no kube-proxy ConfigMap in kube-system.*check strictARP by hand' <"$LAB_DIR/check.out" || fail "no note when the ConfigMap is missing: $(cat "$LAB_DIR/check.out")"
pass "no ConfigMap: check says to look by hand"
