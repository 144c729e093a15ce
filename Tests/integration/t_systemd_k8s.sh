# Kubernetes as the package runs it: heraldd under systemd in a Debian 12 container, as
# user herald in the unit's sandbox, reading /etc/herald/kubeconfig (root:herald 0640) and
# talking TLS to the test API server: a LoadBalancer Service (applied with kubectl) gets
# its EXTERNAL-IP from the pool and is answered with the container's MAC. Then the same
# container in adjacent mode: it probes a node that runs no Herald on the link and answers
# the Service with that node's MAC (the client's traffic reaches it), and moves it when
# the node stops answering.
source "$(dirname "$0")/lib.sh"
source Tests/support/systemd-container.sh
sd_test_lab s1
lab_host k 5; lab_host s1 21; lab_host c 2
lab_kube_api
root=$(sd_rootfs "$SD_DEB") || fail "cannot build the container root file system"
cp "$LAB_DIR/pki/herald-inline.kubeconfig" "$LAB_DIR/share/kubeconfig"
sd_boot s1 s1 "$root" || fail "container s1 did not boot"
sd_install s1
sd_exec s1 install -m 0640 -o root -g herald /mnt/share/kubeconfig /etc/herald/kubeconfig
journal() { sd_exec s1 journalctl -u herald --no-pager "$@"; }
config() { sd_exec s1 sh -c 'cat >/etc/herald/herald.toml'; }

# Local mode: s1 is the Node "s1".
cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: v1
kind: Node
metadata: {name: s1, labels: {kubernetes.io/hostname: s1}}
status: {conditions: [{type: Ready, status: "True"}], addresses: [{type: InternalIP, address: 198.51.100.21}]}
YAML
printf '[node]\ninterfaces = ["eth0"]\n\n[kubernetes]\nkubeconfig = "/etc/herald/kubeconfig"\n\n[[pool]]\nname = "homelab"\naddresses = ["198.51.100.100-198.51.100.110"]\n' | config
sd_exec s1 heraldctl check >"$LAB_DIR/check.txt" 2>&1 || fail "heraldctl check (for user herald) in the container: $(cat "$LAB_DIR/check.txt")"
sd_exec s1 systemctl enable --now herald 2>/dev/null || fail "enable --now: $(journal | tail -n 5)"
kubectl apply -f Tests/support/manifests/nginx.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external nginx-test-lb)" ] && break; sleep 0.1; done
[ "$(external nginx-test-lb)" = 198.51.100.100 ] || fail "EXTERNAL-IP '$(external nginx-test-lb)': $(journal -o cat | tail -n 5)"
for i in $(seq 50); do [ -n "$(arping_macs c 198.51.100.100 1)" ] && break; sleep 0.1; done
[ "$(arping_macs c 198.51.100.100 2 | sort -u)" = 02:00:00:00:00:15 ] || fail "198.51.100.100 not answered by s1: $(journal -o cat | tail -n 5)"
sd_exec s1 heraldctl explain default/nginx-test-lb | has 'owner s1' || fail "explain: $(sd_exec s1 heraldctl explain default/nginx-test-lb)"
[ "$(sd_exec s1 stat -c '%U' /proc/"$(sd_show s1 herald MainPID)")" = herald ] || fail "heraldd does not run as herald"
# The start-up cluster check ran under the sandbox too (this API server keeps no kube-proxy ConfigMap).
for i in $(seq 50); do journal -o cat | has 'kubernetes: no kube-proxy ConfigMap in kube-system' && break; sleep 0.1; done
journal -o cat | has 'kubernetes: no kube-proxy ConfigMap in kube-system' || fail "no cluster check in the journal: $(journal -o cat | grep kubernetes)"
pass "under the unit (user herald): $(head -n 1 "$LAB_DIR/check.txt"); kubeconfig read, cluster checked, Service allocated $(external nginx-test-lb) and answered with s1's MAC"

# Adjacent mode: s1 is a host next to node n1, which runs no Herald.
sd_exec s1 systemctl stop herald
lab_kube_node n1 31 198.51.100.100
lab_kube_node n2 32 198.51.100.100
kubectl delete node s1 >/dev/null
kubectl apply -f Tests/support/manifests/nodes-n1-n3.yaml >/dev/null
kubectl delete node n3 >/dev/null
printf '[node]\ninterfaces = ["eth0"]\nmode = "adjacent"\n\n[kubernetes]\nkubeconfig = "/etc/herald/kubeconfig"\n\n[[pool]]\nname = "homelab"\naddresses = ["198.51.100.100-198.51.100.110"]\n' | config
sd_exec s1 systemctl start herald || fail "start in adjacent mode: $(journal | tail -n 5)"
target=$(sd_exec s1 heraldctl explain 198.51.100.100 | sed -n 's/^target node \([a-z0-9]*\) .*/\1/p')
case $target in
    n1) other=n2 ;;
    n2) other=n1 ;;
    *) fail "no target node: $(sd_exec s1 heraldctl explain 198.51.100.100)" ;;
esac
# The ARP reply carries the target's MAC (from s1's Ethernet source): c's HTTP request
# to the Service address reaches that node.
wait_reach 198.51.100.100 "$target" 10 || fail "c does not reach $target at 198.51.100.100: '$(reach 198.51.100.100)'; $(journal -o cat | tail -n 5)"
pass "adjacent mode under the unit: the Service answered with target node $target's MAC; c's traffic reaches $target"
lab_cut "$target"
wait_reach 198.51.100.100 "$other" 10 || fail "not moved to $other after $target stopped answering: $(journal -o cat | tail -n 5)"
pass "its probes from the sandbox notice $target unplugged: the Service moves to $other"
