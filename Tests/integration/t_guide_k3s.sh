# The k3s-on-Proxmox MetalLB guide, step by step, with Herald in MetalLB's place: its
# pool (192.168.2.100-120, on 192.168.2.0/24 with nodes k3s-master and two workers at
# .20-.22) imported with heraldctl import-metallb from the guide's own IPAddressPool and
# L2Advertisement, Herald on each k3s node with gossip, the guide's example Service and
# its "request a specific IP" variant, then what the guide checks: kubectl get svc, ARP
# and ping from another machine, an HTTP request; then a node fails (unplugged) and the
# address moves to another node. The nodes hold the Service addresses as kube-proxy's
# IPVS mode does (on a local device, never answering ARP for them) and answer HTTP with
# their names, standing in for the pods behind kube-proxy.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host k 5
lab_host c 2
ip -n "$LAB-c" addr add 192.168.2.50/24 dev eth0
names=(k3s-master k3s-worker-1 k3s-worker-2)
for i in 0 1 2; do
    lab_kube_node "${names[$i]}" $((20 + i)) 192.168.2.100 192.168.2.101
    ip -n "$LAB-${names[$i]}" addr add "192.168.2.$((20 + i))/24" dev eth0
done
lab_kube_api
kubectl apply -f Tests/support/manifests/k3s-guide/nodes.yaml >/dev/null
lab_gossip_key

# The guide's manifests, imported; the same pools.d on every node.
mkdir -p "$LAB_DIR/pools.d"
"$HERALD_BIN/heraldctl" import-metallb Tests/fixtures/metallb/k3s-proxmox.yaml >"$LAB_DIR/pools.d/homelab.toml"
grep -s >/dev/null '^addresses = \["192.168.2.100-192.168.2.120"\]$' "$LAB_DIR/pools.d/homelab.toml" \
    || fail "import-metallb: $(cat "$LAB_DIR/pools.d/homelab.toml")"
for i in 0 1 2; do
    peers=$(for j in 0 1 2; do [ "$j" = "$i" ] || printf '"192.168.2.%s:7946", ' $((20 + j)); done)
    cat >"$LAB_DIR/${names[$i]}.toml" <<TOML
[node]
name = "${names[$i]}"
interfaces = ["eth0"]

[gossip]
bind = "192.168.2.$((20 + i)):7946"
join = [${peers%, }]
key_file = "$LAB_DIR/gossip.key"

[kubernetes]
kubeconfig = "$LAB_DIR/pki/herald.kubeconfig"

[metrics]
listen = "127.0.0.1:9473"
TOML
    lab_exec "${names[$i]}" "$HERALD_BIN/heraldctl" check "$LAB_DIR/${names[$i]}.toml" >/dev/null \
        || fail "heraldctl check ${names[$i]}: $(lab_exec "${names[$i]}" "$HERALD_BIN/heraldctl" check "$LAB_DIR/${names[$i]}.toml" 2>&1)"
done
pass "import-metallb of the guide's IPAddressPool and L2Advertisement; heraldctl check passes on every node"

for name in "${names[@]}"; do lab_heraldd "$name" "$LAB_DIR/$name.toml"; done
for name in "${names[@]}"; do lab_wait_ready "$name"; done
wait_members_alive 3 "${names[@]}"

# "Assigning LoadBalancer IP to a Service" and "Request Specific IP".
kubectl apply -f Tests/support/manifests/k3s-guide/example-service.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external example-service)" ] && [ -n "$(external example-fixed)" ] && break; sleep 0.1; done
# "Check LoadBalancer IP Assignments", as the guide runs it.
listing=$(kubectl get svc --all-namespaces --field-selector spec.type=LoadBalancer)
echo "$listing"
echo "$listing" | grep -s >/dev/null '^default *example-service *LoadBalancer *10\.43\.[0-9.]* *192\.168\.2\.100 ' || fail "no EXTERNAL-IP 192.168.2.100"
echo "$listing" | grep -s >/dev/null '^default *example-fixed *LoadBalancer *10\.43\.[0-9.]* *192\.168\.2\.101 ' || fail "loadBalancerIP 192.168.2.101 not assigned"
pass "kubectl get svc: example-service got 192.168.2.100 from the pool, example-fixed the requested 192.168.2.101"

# "Verify ARP announcement: from another machine on network".
for i in $(seq 50); do owner=$(owner_of k3s-master 192.168.2.100); [ -n "$owner" ] && break; sleep 0.1; done
[ -n "$owner" ] || fail "no owner of 192.168.2.100: $(lab_ctl k3s-master vips)"
for i in $(seq 50); do [ "$(reach 192.168.2.100)" = "$owner" ] && break; sleep 0.1; done
[ "$(reach 192.168.2.100)" = "$owner" ] || fail "curl http://192.168.2.100/ reaches '$(reach 192.168.2.100)', the owner is $owner"
lab_exec c ping -c 1 -W 1 192.168.2.100 >/dev/null || fail "ping 192.168.2.100 from the client"
neigh=$(lab_exec c ip neigh show 192.168.2.100 dev eth0)
echo "$neigh" | grep -s >/dev/null "lladdr $(lab_exec "$owner" cat /sys/class/net/eth0/address)" || fail "client's ARP entry: $neigh"
[ "$(reach 192.168.2.101)" != "" ] || fail "192.168.2.101 not reachable"
pass "arping/ping/curl from the client: 192.168.2.100 is $owner's MAC, and HTTP reaches $owner"

# The guide's metrics: each address counted once across the nodes (the allocator's).
in_use=0
for name in "${names[@]}"; do
    value=$(lab_exec "$name" curl -sf http://127.0.0.1:9473/metrics | sed -n 's/^metallb_allocator_addresses_in_use_total{pool="homelab-pool"} //p')
    in_use=$((in_use + ${value:-0}))
done
[ "$in_use" = 2 ] || fail "sum of metallb_allocator_addresses_in_use_total over the nodes: $in_use, want 2"
pass "sum(metallb_allocator_addresses_in_use_total) = 2 across three nodes"

# A node fails: unplugged. Another node answers, and HTTP follows.
lab_cut "$owner"
deadline=$(( $(date +%s) + 15 ))
while [ "$(date +%s)" -le "$deadline" ]; do
    now=$(reach 192.168.2.100)
    [ -n "$now" ] && [ "$now" != "$owner" ] && break
    sleep 0.1
done
[ -n "$now" ] && [ "$now" != "$owner" ] || fail "192.168.2.100 not served by another node after $owner failed"
[ "$(external example-service)" = 192.168.2.100 ] || fail "the Service's address changed: $(external example-service)"
pass "$owner unplugged: 192.168.2.100 moved to $now, the Service kept its address"
lab_uncut "$owner"
