# docs/routed-pools.md in the lab: a pool off the LAN (10.5.0.0/24, as the FluxCD
# runbook's clusters use) that the router sends to a Herald VIP as next hop. Router r
# joins the LAN (198.51.100.1) and a second network (192.0.2.0/24) where client w sits,
# with the static route 10.5.0.0/24 via 198.51.100.60. h1 and h2 accept 10.5.0.1 as a
# node accepts a Service address (on lo, as kube-proxy's rules would) and serve their
# name on it. A LoadBalancer Service gets 10.5.0.1 from the pool; heraldctl vips and its
# Event name it routed via the VIP, owned by the VIP's owner. w reaches the VIP's owner;
# when the owner is killed, the other node, which heraldctl vips then names.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host k 5; lab_host h1 11; lab_host h2 12; lab_host c 2; lab_host r 1; lab_host r 1 1 eth1; lab_host w 3 1
lab_kube_api
kubectl apply -f Tests/support/manifests/nodes-h1-h3.yaml >/dev/null
lab_exec r ip addr add 192.0.2.1/24 dev eth1
lab_exec r sysctl -qw net.ipv4.ip_forward=1
lab_exec r ip route add 10.5.0.0/24 via 198.51.100.60
lab_exec w ip addr add 192.0.2.2/24 dev eth0
lab_exec w ip route add default via 192.0.2.1
for h in h1 h2; do
    lab_exec $h ip route add default via 198.51.100.1
    lab_exec $h ip addr add 10.5.0.1/32 dev lo
    lab_spawn "http-$h" $h /usr/bin/python3 Tests/support/node-http.py --name $h --port 80
done
lab_gossip_key
printf '[kubernetes]\nkubeconfig = "%s"\n\n[[vip]]\nname = "next-hop"\naddress = "198.51.100.60"\n\n[[pool]]\nname = "routed"\naddresses = ["10.5.0.1-10.5.0.10"]\nrouted_via = "next-hop"\n' \
    "$LAB_DIR/pki/herald.kubeconfig" >"$LAB_DIR/vips.toml"
lab_cluster_config h1 11 12; lab_cluster_config h2 12 11
for h in h1 h2; do
    out=$(lab_exec $h "$HERALD_BIN/heraldctl" check "$LAB_DIR/$h.toml" 2>&1) || fail "check on $h: $out"
    lab_heraldd $h "$LAB_DIR/$h.toml"
done
for h in h1 h2; do lab_wait_ready $h; done
wait_members_alive 2 h1 h2
owner=$(wait_one_owner 198.51.100.60 h1 h2)
other=h1; [ "$owner" = h1 ] && other=h2
kubectl apply -f Tests/support/manifests/nginx.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external nginx-test-lb)" ] && break; sleep 0.1; done
[ "$(external nginx-test-lb)" = 10.5.0.1 ] || fail "EXTERNAL-IP '$(external nginx-test-lb)', not 10.5.0.1 from the routed pool"
# routed_line HOST: HOST's heraldctl vips line for 10.5.0.1, spaces squeezed.
routed_line() { lab_ctl "$1" vips | tr -s ' ' | grep ' 10.5.0.1 ' || [ $? = 1 ]; }
for h in h1 h2; do
    for i in $(seq 50); do routed_line $h | has "^default/nginx-test-lb 10.5.0.1 $owner routed (via next-hop) *$" && break; sleep 0.1; done
    routed_line $h | has "^default/nginx-test-lb 10.5.0.1 $owner routed (via next-hop) *$" || fail "vips on $h: '$(routed_line $h)'"
done
reasons() { kubectl get events -o jsonpath='{range .items[*]}{.involvedObject.name} {.reason} {.message}{"\n"}{end}'; }
for i in $(seq 50); do reasons | has "nginx-test-lb nodeAssigned routed via VIP \"next-hop\", owned by node \"$owner\"" && break; sleep 0.1; done
reasons | has "nginx-test-lb nodeAssigned routed via VIP \"next-hop\", owned by node \"$owner\"" || fail "events: $(reasons)"
lab_ctl h1 explain 10.5.0.1 | has "owner $owner" || fail "explain: $(lab_ctl h1 explain 10.5.0.1)"
lab_ctl h1 explain 10.5.0.1 | has 'note: pool routed is routed via VIP next-hop: nobody answers ARP for this address' \
    || fail "explain has no routed note: $(lab_ctl h1 explain 10.5.0.1)"
pass "a Service gets 10.5.0.1 from the routed pool: heraldctl vips on both says routed (via next-hop) owned by $owner, explain and its Event too"
reached() { lab_exec w curl -sf --max-time 2 http://10.5.0.1/; }
for i in $(seq 30); do [ "$(reached)" = "$owner" ] && break; sleep 0.2; done
[ "$(reached)" = "$owner" ] || fail "w reached '$(reached)', not $owner, the next hop's owner"
pass "routed pool: w reaches 10.5.0.1 through the router's static route to the VIP, on $owner"
kill -KILL "$(lab_pid "$owner")"
for i in $(seq 50); do [ "$(reached)" = "$other" ] && break; sleep 0.2; done
[ "$(reached)" = "$other" ] || fail "after $owner was killed, w reached '$(reached)'"
pass "$owner killed: the VIP moved and w reaches 10.5.0.1 on $other, with no change on the router"
for i in $(seq 50); do routed_line $other | has "^default/nginx-test-lb 10.5.0.1 $other routed (via next-hop) *$" && break; sleep 0.1; done
routed_line $other | has "^default/nginx-test-lb 10.5.0.1 $other routed (via next-hop) *$" || fail "vips on $other after the kill: '$(routed_line $other)'"
pass "heraldctl vips on $other: 10.5.0.1 routed via next-hop, now owned by $other"
