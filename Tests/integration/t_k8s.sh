# Kubernetes Services, end to end with real kubectl: the reference nginx Deployment and
# LoadBalancer Service get an EXTERNAL-IP from the pool, written by heraldd through the
# status subresource, and the address answers ARP from the announcing node's MAC; the
# MetalLB variants (loadBalancerIP, pool annotation, shared IP, ETP Local) and refusals
# with Events; an API outage, a 410 on watch, and bad credentials.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host k 5; lab_host h1 11; lab_host c 2
lab_kube_api api1
kubectl apply -f Tests/support/manifests/node-h1.yaml >/dev/null
cat >"$LAB_DIR/herald.toml" <<TOML
[node]
interfaces = ["eth0"]
[kubernetes]
kubeconfig = "$LAB_DIR/pki/herald.kubeconfig"
[metrics]
listen = "127.0.0.1:9473"
[[pool]]
name = "homelab"
addresses = ["198.51.100.100-198.51.100.110"]
[[pool]]
name = "reserved"
addresses = ["198.51.100.120-198.51.100.121"]
auto_assign = false
TOML
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1

kubectl apply -f Tests/support/manifests/nginx.yaml
for i in $(seq 100); do [ -n "$(external nginx-test-lb)" ] && break; sleep 0.1; done
[ "$(external nginx-test-lb)" = 198.51.100.100 ] || fail "EXTERNAL-IP '$(external nginx-test-lb)': $(tail -5 "$LAB_DIR/h1.log")"
kubectl get svc nginx-test-lb
kubectl get svc nginx-test-lb | grep -s >/dev/null 'nginx-test-lb *LoadBalancer *10\.43\.[0-9.]* *198\.51\.100\.100 *80:' || fail "kubectl get svc does not show the EXTERNAL-IP"
pass "kubectl apply of the reference manifests: EXTERNAL-IP 198.51.100.100 from the pool"
for i in $(seq 30); do [ -n "$(arping_macs c 198.51.100.100 1)" ] && break; sleep 0.1; done
[ "$(arping_macs c 198.51.100.100 3 | sort -u)" = 02:00:00:00:00:0b ] || fail "198.51.100.100 not answered by h1"
pass "arping from the client reaches h1's MAC"

sleep 1.1  # creation timestamps have 1 s resolution; the reassignment check below needs order
kubectl apply -f Tests/support/manifests/services.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external local)" ] && [ -n "$(external dns-udp)" ] && break; sleep 0.1; done
kubectl get svc
[ "$(external fixed)" = 198.51.100.105 ] || fail "loadBalancerIP: '$(external fixed)'"
[ "$(external pooled)" = 198.51.100.120 ] || fail "address-pool annotation: '$(external pooled)'"
[ "$(external dns-tcp)" = 198.51.100.101 ] && [ "$(external dns-udp)" = 198.51.100.101 ] || fail "shared IP: '$(external dns-tcp)' '$(external dns-udp)'"
[ "$(external local)" = 198.51.100.102 ] || fail "ETP Local: '$(external local)'"
[ -z "$(external outside)" ] || fail "an address outside every pool was assigned"
for ip in 198.51.100.105 198.51.100.120 198.51.100.101 198.51.100.102; do
    for i in $(seq 30); do [ -n "$(arping_macs c $ip 1)" ] && break; sleep 0.1; done
    [ "$(arping_macs c $ip 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "$ip not answered by h1"
done
[ -z "$(arping_macs c 198.51.100.99 2)" ] || fail "the refused address is answered"
pass "loadBalancerIP, address-pool, a shared IP and ETP Local get their addresses and answer ARP"
reasons() { kubectl get events -o jsonpath='{range .items[*]}{.involvedObject.name} {.reason} {.message}{"\n"}{end}'; }
for i in $(seq 50); do reasons | grep -s >/dev/null '^outside AllocationFailed' && break; sleep 0.1; done
reasons | grep -s >/dev/null '^outside AllocationFailed .*198.51.100.99 is not in any pool' || fail "no AllocationFailed Event: $(reasons) $(grep -i "event\\|warn" "$LAB_DIR/h1.log" | tail -5)"
reasons | grep -s >/dev/null '^nginx-test-lb IPAllocated ' || fail "no IPAllocated Event: $(reasons)"
[ "$(reasons | grep -c '^outside AllocationFailed')" = 1 ] || fail "AllocationFailed posted more than once"
pass "Events: IPAllocated, and AllocationFailed with the reason, once"
lab_exec h1 curl -sf http://127.0.0.1:9473/metrics >"$LAB_DIR/metrics.txt"
promtool check metrics <"$LAB_DIR/metrics.txt" || fail "promtool rejects the exposition"
for line in 'metallb_allocator_addresses_total{pool="homelab"} 11' 'metallb_allocator_addresses_in_use_total{pool="homelab"} 4' 'metallb_allocator_addresses_in_use_total{pool="reserved"} 1' \
            'metallb_speaker_announced{ip="198.51.100.100",node="h1",protocol="layer2",service="default/nginx-test-lb"} 1'; do
    grep -qxF "$line" "$LAB_DIR/metrics.txt" || fail "metrics lack: $line"$'\n'"$(grep -E 'allocator|announced' "$LAB_DIR/metrics.txt")"
done
pass "metrics: pool sizes, addresses in use per pool, and each Service address announced"

reasons | grep -s >/dev/null '^nginx-test-lb nodeAssigned announcing from node "h1"' || fail "no nodeAssigned Event: $(reasons)"
pass "nodeAssigned names the announcing node"

# Another writer gives a later Service an address an earlier one holds (no sharing key):
# the later one is moved, with a Warning Event.
status='{"apiVersion":"v1","kind":"Service","metadata":{"name":"local","namespace":"default"},"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.100"}]}}}'
lab_exec c curl -sf --cacert "$LAB_DIR/pki/ca.crt" --cert "$LAB_DIR/pki/admin.crt" --key "$LAB_DIR/pki/admin.key" \
    -X PUT -H 'Content-Type: application/json' -d "$status" https://198.51.100.5:6443/api/v1/namespaces/default/services/local/status >/dev/null
for i in $(seq 30); do reasons | grep -s >/dev/null '^local IPReassigned' && break; sleep 0.1; done
reasons | grep -s >/dev/null '^local IPReassigned 198.51.100.100 is also held by default/nginx-test-lb without a valid sharing key' \
    || fail "no IPReassigned Warning: $(reasons | grep local)"
[ "$(external local)" = 198.51.100.102 ] || fail "the later holder was not moved back to a free address: $(external local)"
[ "$(external nginx-test-lb)" = 198.51.100.100 ] || fail "the earlier holder lost its address"
pass "of two Services holding one address without a sharing key, the later is moved and warned"

# Delete and type change release the address.
kubectl delete svc fixed >/dev/null
for i in $(seq 30); do [ -z "$(arping_macs c 198.51.100.105 1)" ] && break; sleep 0.1; done
[ -z "$(arping_macs c 198.51.100.105 2)" ] || fail "deleted Service still answered: $(kubectl get svc; tail -5 "$LAB_DIR/h1.log")"
kubectl patch svc pooled -p '{"spec":{"type":"ClusterIP"}}' >/dev/null
for i in $(seq 50); do [ -z "$(external pooled)" ] && break; sleep 0.1; done
[ -z "$(external pooled)" ] || fail "type change did not clear the status"
pass "deleting a Service or changing its type releases the address"

# API outage: the API server dies; announcements go on; once it is back (its objects
# kept), the watches relist and new Services are served again.
kill -KILL "$(lab_pid api1)"
status=0; wait "$(lab_pid api1)" 2>/dev/null || status=$?
[ "$status" = 137 ] || fail "the API server did not die of SIGKILL (wait: $status)"
sleep 3
[ "$(arping_macs c 198.51.100.100 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "announcements stopped during the API outage"
lab_kube_api api2
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: after-outage}
spec: {type: LoadBalancer, selector: {app: after-outage}, ports: [{port: 80}]}
YAML
for i in $(seq 300); do [ -n "$(external after-outage)" ] && break; sleep 0.1; done
[ -n "$(external after-outage)" ] || fail "no address after the API came back: $(tail -5 "$LAB_DIR/h1.log")"
grep -s >/dev/null 'kubernetes services: cannot reach the API server' "$LAB_DIR/h1.log" || fail "the outage was not logged"
grep -q '^herald_kubernetes_api_errors_total{resource="services"} [1-9]' <(lab_exec h1 curl -sf http://127.0.0.1:9473/metrics) \
    || fail "API errors not counted"
pass "API outage: still announcing, reconnected, new Service got $(external after-outage); errors counted"

# 410: history compacted and watches cut; the next change still arrives.
debug() {
    lab_exec c curl -sf --cacert "$LAB_DIR/pki/ca.crt" --cert "$LAB_DIR/pki/admin.crt" --key "$LAB_DIR/pki/admin.key" \
        -X POST "https://198.51.100.5:6443/debug/$1"
}
debug compact >/dev/null
debug close >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: after-410}
spec: {type: LoadBalancer, selector: {app: after-410}, ports: [{port: 80}]}
YAML
for i in $(seq 100); do [ -n "$(external after-410)" ] && break; sleep 0.1; done
[ -n "$(external after-410)" ] || fail "no address after a 410: $(grep -v "level=debug" "$LAB_DIR/h1.log" | tail -8)"
pass "after a 410 the watch relists and the new Service got $(external after-410)"

# Bad credentials: a second daemon with a wrong token says so, keeps retrying, serves its
# standalone VIP, and becomes ready after the bounded wait.
lab_host h2 12
sed "s/token: .*/token: wrong-token/" "$LAB_DIR/pki/herald-token.kubeconfig" >"$LAB_DIR/bad.kubeconfig"
chmod 600 "$LAB_DIR/bad.kubeconfig"   # credentials others can read are refused at load
cat >"$LAB_DIR/h2.toml" <<TOML
[node]
interfaces = ["eth0"]
[kubernetes]
kubeconfig = "$LAB_DIR/bad.kubeconfig"
[[vip]]
name = "still-here"
address = "198.51.100.60"
TOML
lab_heraldd h2 "$LAB_DIR/h2.toml"
lab_wait_ready h2
grep -s >/dev/null 'refused our credentials (401)' "$LAB_DIR/h2.log" || fail "bad credentials not explained: $(tail -3 "$LAB_DIR/h2.log")"
grep -s >/dev/null 'has not answered the first lists in 10 s' "$LAB_DIR/h2.log" || fail "no bounded-wait notice"
[ "$(arping_macs c 198.51.100.60 2 | sort -u)" = 02:00:00:00:00:0c ] || fail "h2's VIP not served"
kill -0 "$(lab_pid h2)" || fail "h2 exited"
pass "bad credentials: explained, retried, the standalone VIP still served"

# Conflicting writes: another writer modifies the Service just before each of heraldd's
# next two status writes (409 each time); heraldd writes again from the newer version.
debug "conflict?count=2" >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: contested}
spec: {type: LoadBalancer, selector: {app: contested}, ports: [{port: 80}]}
YAML
for i in $(seq 100); do [ -n "$(external contested)" ] && break; sleep 0.1; done
[ -n "$(external contested)" ] || fail "no address after conflicting writes: $(tail -3 "$LAB_DIR/h1.log")"
[ "$(debug state | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["forcedConflicts"])')" = 0 ] \
    || fail "heraldd did not meet the forced conflicts"
pass "two status writes lost to a concurrent writer (409); the third landed: $(external contested)"

# A host in local mode whose name is no Kubernetes Node (a Proxmox host next to the nodes,
# say) announces no Service: it says so at once, in the journal, heraldctl and metrics.
lab_host pve 13
cat >"$LAB_DIR/pve.toml" <<TOML
[node]
interfaces = ["eth0"]
name = "pve-1"
[kubernetes]
kubeconfig = "$LAB_DIR/pki/herald.kubeconfig"
load_balancer_class = "elsewhere"
[metrics]
listen = "127.0.0.1:9473"
[[pool]]
name = "other"
addresses = ["198.51.100.130-198.51.100.139"]
TOML
lab_heraldd pve "$LAB_DIR/pve.toml"
lab_wait_ready pve
for i in $(seq 50); do grep -s >/dev/null 'this host (pve-1) is not a Kubernetes Node' "$LAB_DIR/pve.log" && break; sleep 0.1; done
grep -s >/dev/null 'level=error msg=.this host (pve-1) is not a Kubernetes Node.*Did you mean mode = \\"adjacent\\"' "$LAB_DIR/pve.log" \
    || fail "no error at start: $(grep -i node "$LAB_DIR/pve.log" | tail -3)"
lab_ctl pve vips 2>&1 >/dev/null | grep -s >/dev/null '^WARNING: this host (pve-1) is not a Kubernetes Node' || fail "heraldctl vips: no warning"
lab_exec pve curl -sf http://127.0.0.1:9473/metrics | has -x 'herald_kubernetes_node_missing 1' || fail "no herald_kubernetes_node_missing 1"
pass "a host that is no Kubernetes Node says so: journal, heraldctl vips, metrics"
