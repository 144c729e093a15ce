# Moving from MetalLB with no unanswered moment. MetalLB cannot run here, so its speakers
# are stood in for: the node MetalLB's layer-2 rule elects (first by sha256(node#ip))
# answers ARP for the Service address from its own MAC (arpblast respond), as a speaker
# does, and the Service's status holds the address as MetalLB's controller wrote it.
# Herald starts beside it (gossip on 7947, since the speakers' memberlist holds 7946),
# adopts the address, elects the same node and answers from the same MAC; then the
# stand-in speaker goes. A client asks every 10 ms throughout: every request answered,
# by that one MAC.
source "$(dirname "$0")/lib.sh"
k8s_hosts
kubectl apply -f Tests/support/manifests/nginx.yaml >/dev/null
vip=198.51.100.100
kubectl patch service nginx-test-lb --subresource=status --type=merge \
    -p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$vip\"}]}}}" >/dev/null
elected=$(/usr/bin/python3 -c 'import hashlib, sys
print(min(sys.argv[2:], key=lambda node: hashlib.sha256(f"{node}#{sys.argv[1]}".encode()).digest()))' $vip h1 h2 h3)
lab_spawn speaker "$elected" "$ARPBLAST" eth0 respond $vip
for i in $(seq 50); do [ -n "$(arping_macs c $vip 1)" ] && break; sleep 0.1; done
[ "$(only_mac $vip 3)" = "$(mac_of "$elected")" ] || fail "the stand-in speaker on $elected does not answer $vip"
lab_spawn asks c "$ARPBLAST" eth0 asks $vip 10
pass "MetalLB's stand-in: $elected answers $vip (MetalLB's rule), a client asks every 10 ms"

LAB_GOSSIP_PORT=7947 k8s_heraldd
# Ready and alive is not yet settled: while a member still shows as starting, the address
# may wait for it (at most startupWait), with no owner in a view.
for i in $(seq 50); do owner=$(owner_of h1 $vip); [ -n "$owner" ] && break; sleep 0.1; done
[ "$owner" = "$elected" ] || fail "Herald elected $owner for $vip, MetalLB's rule $elected"
[ "$(kubectl get service nginx-test-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')" = $vip ] \
    || fail "Herald moved the Service off $vip"
! cat "$LAB_DIR"/h[123].log | has -e "msg=\"address conflict" -e "another host answers" || fail "Herald took the speaker for a conflict: $(grep -h -e conflict "$LAB_DIR"/h[123].log | head -3)"
pass "Herald beside it: $owner announces $vip too, from the same MAC, no conflict"

kill "$(cat "$LAB_DIR/speaker.pid")"
sleep 2   # two more seconds of requests, answered by Herald alone
kill -INT "$(cat "$LAB_DIR/asks.pid")"
for i in $(seq 50); do has '^asks=' "$LAB_DIR/asks.log" && break; sleep 0.1; done
summary=$(grep '^asks=' "$LAB_DIR/asks.log") || fail "the client did not report: $(cat "$LAB_DIR/asks.log")"
echo "$summary"
[ "$(echo "$summary" | sed -n 's/.* unanswered=\([0-9]*\) .*/\1/p')" = 0 ] || fail "unanswered during the switch: $(grep unanswered: "$LAB_DIR/asks.log" | head -5)"
macs=$(echo "$summary" | sed -n 's/.* macs=\(.*\)$/\1/p')
[ "${macs%%=*}" = "$(mac_of "$elected")" ] && [ "${macs#*,}" = "$macs" ] || fail "answered by more than one MAC: $macs"
pass "MetalLB gone: $(echo "$summary" | sed -n 's/^asks=\([0-9]*\) answered=\([0-9]*\).*/\2 of \1/p') requests answered, all by $elected's MAC $(mac_of "$elected")"
