# Adjacent mode (Talos-like nodes that run no Herald): two adjacent hosts answer ARP for
# a Service address with the MAC of a target node, from their own Ethernet source; the
# client's traffic reaches that node. externalTrafficPolicy: Local picks an endpoint
# node; a target cut from the link is replaced and traffic follows, then returns; the
# owning adjacent host killed, the other one answers with the same target.
source "$(dirname "$0")/lib.sh"
test_lab
lab_adjacent
wait_members_alive 2 a1 a2

mac() { printf '02:00:00:00:00:%02x' "$1"; }
node_mac() { mac $((30 + ${1#n})); }
adjacent_mac() { mac $((20 + ${1#a})); }
# hash_order IP NAME...: the names in MetalLB's order for IP (sha256 of "name#ip").
hash_order() {
    local ip=$1 name
    shift
    for name in "$@"; do printf '%s %s\n' "$(printf '%s#%s' "$name" "$ip" | sha256sum | cut -c1-64)" "$name"; done | sort | cut -d' ' -f2
}
# client_mac IP: the MAC in c's neighbour table for IP.
client_mac() { lab_exec c ip neigh show "$1" dev eth0 | sed -n 's/.* lladdr \([0-9a-f:]*\).*/\1/p'; }
# arp_answers IP COUNT: "ETHERNET-SOURCE SENDER-MAC" of each ARP reply to c for its COUNT requests.
arp_answers() {
    local pcap="$LAB_DIR/answers.pcap" i
    rm -f "$pcap"
    lab_spawn tcpdump c tcpdump -i eth0 --immediate-mode -n -U -w "$pcap" 'arp[6:2] = 2'
    for i in $(seq 50); do grep -s >/dev/null 'listening on' "$LAB_DIR/tcpdump.log" && break; sleep 0.1; done
    local got
    got=$(arping_macs c "$1" "$2" | wc -l)
    # Every reply arping got is in the capture before it stops (at most 2 s).
    for i in $(seq 20); do
        [ "$(tcpdump -r "$pcap" -n 2>/dev/null | grep -c 'is-at' || [ $? = 1 ])" -ge "$got" ] && break
        sleep 0.1
    done
    kill -INT "$(cat "$LAB_DIR/tcpdump.pid")"
    for i in $(seq 50); do kill -0 "$(cat "$LAB_DIR/tcpdump.pid")" 2>/dev/null || break; sleep 0.1; done
    tcpdump -r "$pcap" -e -n 2>/dev/null | sed -n 's/^[^ ]* \([0-9a-f:]*\) > 02:00:00:00:00:02, .* is-at \([0-9a-f:]*\).*/\1 \2/p'
}
json() { /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin); print($1)"; }

kubectl apply -f Tests/support/manifests/web.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external web)" ] && break; sleep 0.1; done
ip=$(external web)
[ "$ip" = 198.51.100.100 ] || fail "EXTERNAL-IP of web: '$ip'"
target=$(hash_order "$ip" n1 n2 n3 | head -n 1)
wait_reach "$ip" "$target" 15 || fail "c does not reach $target at $ip (reaches '$(reach "$ip")'); a1: $(lab_ctl a1 vips)"
[ "$(client_mac "$ip")" = "$(node_mac "$target")" ] || fail "c's neighbour entry for $ip is '$(client_mac "$ip")', want $target's $(node_mac "$target")"
# One host answering does not mean the other has the Service yet (its watch may lag).
for i in $(seq 50); do
    owner=$(owner_of a1 "$ip")
    [ "$owner" = "$(owner_of a2 "$ip")" ] && [ -n "$owner" ] && break
    sleep 0.2
done
[ "$owner" = "$(owner_of a2 "$ip")" ] && [ -n "$owner" ] || fail "a1 and a2 disagree on the owner of $ip: '$owner', '$(owner_of a2 "$ip")'"
answers=$(arp_answers "$ip" 3 | sort -u)
[ "$answers" = "$(adjacent_mac "$owner") $(node_mac "$target")" ] \
    || fail "ARP answers for $ip (Ethernet source, sender MAC): '$answers', want from $owner carrying $target's MAC"
pass "$ip: $owner answers with $target's MAC from its own Ethernet source; c's HTTP request reaches $target"

# What operators see: heraldctl, metrics, Events.
lab_ctl "$owner" vips | grep -s >/dev/null "$ip .*$target ($(node_mac "$target"))" || fail "heraldctl vips: $(lab_ctl "$owner" vips)"
lab_ctl "$owner" explain "$ip" | grep -s >/dev/null "^target node $target (MAC $(node_mac "$target"))" \
    || fail "heraldctl explain: $(lab_ctl "$owner" explain "$ip")"
lab_exec "$owner" curl -sf http://127.0.0.1:9473/metrics | grep -s >/dev/null \
    "^herald_adjacent_target{interface=\"eth0\",ip=\"$ip\",service=\"default/web\",node=\"$target\",mac=\"$(node_mac "$target")\"} 1" \
    || fail "no herald_adjacent_target sample: $(lab_exec "$owner" curl -sf http://127.0.0.1:9473/metrics | grep adjacent)"
lab_exec "$owner" curl -sf http://127.0.0.1:9473/metrics | promtool check metrics >/dev/null || fail "promtool rejects the metrics"
for i in $(seq 50); do
    kubectl get events --field-selector reason=targetAssigned -o jsonpath='{.items[*].message}' | grep -s >/dev/null "node \"$target\"" && break
    sleep 0.1
done
kubectl get events --field-selector reason=targetAssigned -o jsonpath='{.items[*].message}' | grep -s >/dev/null "node \"$target\"" \
    || fail "no targetAssigned Event naming $target: $(kubectl get events)"
pass "heraldctl vips/explain, metrics and a targetAssigned Event name $target"

# externalTrafficPolicy: Local: only a node with a ready endpoint takes the traffic.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: local}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: local}, ports: [{port: 80}]}
YAML
for i in $(seq 100); do [ -n "$(external local)" ] && break; sleep 0.1; done
local_ip=$(external local)
[ "$local_ip" = 198.51.100.101 ] || fail "EXTERNAL-IP of local: '$local_ip'"
[ -z "$(arping_macs c "$local_ip" 2)" ] || fail "$local_ip answered with no endpoint anywhere"
endpoint=$(hash_order "$local_ip" n1 n2 n3 | tail -n 1)
kubectl apply -f - >/dev/null <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: local-x1, labels: {kubernetes.io/service-name: local}}
addressType: IPv4
endpoints: [{addresses: [10.42.0.9], conditions: {ready: true}, nodeName: $endpoint}]
ports: [{port: 80}]
YAML
wait_reach "$local_ip" "$endpoint" 15 || fail "$local_ip: c reaches '$(reach "$local_ip")', want the endpoint node $endpoint"
answers=$(arp_answers "$local_ip" 3 | cut -d' ' -f2 | sort -u)
[ "$answers" = "$(node_mac "$endpoint")" ] || fail "$local_ip not answered with $endpoint's MAC alone: $answers"
pass "externalTrafficPolicy Local: $local_ip goes to $endpoint, the one node with an endpoint (the hash would pick it last)"

# IPv6: the neighbor advertisement carries the target's MAC (resolved through the node's
# IPv6 InternalIP), and the client's traffic reaches that node.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web6}
spec: {type: LoadBalancer, ipFamilyPolicy: SingleStack, ipFamilies: [IPv6], selector: {app: web}, ports: [{port: 80}]}
YAML
for i in $(seq 100); do [ -n "$(external web6)" ] && break; sleep 0.1; done
ip6=$(external web6)
[ "$ip6" = 2001:db8:100::100 ] || fail "EXTERNAL-IP of web6: '$ip6'"
target6=$(hash_order "$ip6" n1 n2 n3 | head -n 1)
for i in $(seq 50); do [ "$(ndisc_mac c "$ip6")" = "$(node_mac "$target6")" ] && break; sleep 0.2; done
[ "$(ndisc_mac c "$ip6")" = "$(node_mac "$target6")" ] || fail "ndisc6 $ip6: '$(ndisc_mac c "$ip6")', want $target6's $(node_mac "$target6")"
six=$(may_fail lab_exec c curl -s --max-time 1 "http://[$ip6]/" 2>/dev/null)
[ "$six" = "$target6" ] || fail "c reaches '$six' at [$ip6], want $target6"
lab_ctl a1 explain "$ip6" | grep -s >/dev/null "^  1\. *$target6 *eligible *2001:db8:100::$((30 + ${target6#n}))" \
    || fail "$target6 not resolved through its IPv6 InternalIP: $(lab_ctl a1 explain "$ip6")"
pass "IPv6: $ip6 answered with $target6's MAC (resolved over NDP); c reaches $target6"

# Cut the target node from the link: the owner stops getting answers from it, re-targets,
# announces the new MAC, and the client's traffic follows.
next=$(hash_order "$ip" n1 n2 n3 | sed -n 2p)
lab_cut "$target"
wait_reach "$ip" "$next" 15 || fail "with $target cut, c reaches '$(reach "$ip")' at $ip, want $next"
[ "$(client_mac "$ip")" = "$(node_mac "$next")" ] || fail "c's neighbour entry for $ip is '$(client_mac "$ip")' after re-targeting"
lab_ctl a1 explain "$ip" | grep -s >/dev/null "$target .*does not answer on the link" || fail "explain: $(lab_ctl a1 explain "$ip")"
[ "$(lab_ctl "$owner" status --json | json 'sum(sum(l["counters"]["retargets"].values()) for l in v["links"])')" -ge 1 ] \
    || fail "no retarget counted on $owner"
pass "$target cut: $ip re-targeted to $next (the next by hash); both adjacent hosts know why"

lab_uncut "$target"
wait_reach "$ip" "$target" 15 || fail "with $target back, c reaches '$(reach "$ip")' at $ip"
pass "$target back: $ip goes to it again"

# Kill the owning adjacent host: the other one answers, with the same target.
survivor=$( [ "$owner" = a1 ] && echo a2 || echo a1 )
kill -KILL "$(lab_pid "$owner")"
for i in $(seq 60); do
    answers=$(arp_answers "$ip" 2 | sort -u)
    [ "$answers" = "$(adjacent_mac "$survivor") $(node_mac "$target")" ] && break
    sleep 0.2
done
[ "$answers" = "$(adjacent_mac "$survivor") $(node_mac "$target")" ] \
    || fail "after killing $owner, ARP answers for $ip: '$answers', want $survivor carrying $target's MAC"
[ "$(reach "$ip")" = "$target" ] || fail "after killing $owner, c reaches '$(reach "$ip")'"
[ "$(lab_ctl "$survivor" vips --json | json "[x.get('targetNode') for x in v['vips'] if x['address'] == '$ip'][0]")" = "$target" ] \
    || fail "$survivor does not report $target as the target of $ip"
pass "$owner killed: $survivor answers for $ip, the target is still $target"
