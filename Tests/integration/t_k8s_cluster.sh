# Kubernetes Services on a gossip cluster of three hosts: exactly one host allocates and
# writes status, the elected host (MetalLB's hash) announces each Service address alone,
# and when it is killed another host takes the address over; when the allocator itself
# dies, the next one allocates new Services.
source "$(dirname "$0")/lib.sh"
k8s_cluster_lab

announcer() { # announcer IP: the hosts whose metrics say they announce IP
    local host
    for host in h1 h2 h3; do
        kill -0 "$(lab_pid $host)" 2>/dev/null || continue
        lab_exec $host curl -sf http://127.0.0.1:9473/metrics | grep -s >/dev/null "^metallb_speaker_announced{ip=\"$1\"" && echo $host
    done
}
kubectl apply -f Tests/support/manifests/nginx.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external nginx-test-lb)" ] && break; sleep 0.1; done
ip=$(external nginx-test-lb)
[ "$ip" = 198.51.100.100 ] || fail "EXTERNAL-IP '$ip'"
writers=$(grep -l 'service status written' "$LAB_DIR"/h?.log | xargs -n1 basename | tr '\n' ' ')
[ "$writers" = "h1.log " ] || fail "status written by: $writers (want only the allocator, h1)"
pass "one allocator (h1) wrote EXTERNAL-IP $ip"

# The announcer is the hash-first of h1..h3 for the address, and it alone answers.
expected=$(for h in h1 h2 h3; do printf '%s %s\n' "$(printf '%s#%s' $h "$ip" | sha256sum | cut -c1-64)" $h; done | sort | head -n 1 | cut -d' ' -f2)
for i in $(seq 50); do [ "$(announcer "$ip")" = "$expected" ] && break; sleep 0.1; done
[ "$(announcer "$ip")" = "$expected" ] || fail "announced by '$(announcer "$ip")', MetalLB's hash picks $expected"
[ "$(arping_macs c "$ip" 4 | sort -u)" = "$(mac_of "$expected")" ] || fail "$ip not answered by $expected alone"
pass "$ip announced by $expected (MetalLB's hash), the only MAC that answers"

# Kill the announcer: another host takes the address over.
kill -KILL "$(lab_pid "$expected")"
for i in $(seq 100); do
    macs=$(arping_macs c "$ip" 1)
    [ -n "$macs" ] && [ "$macs" != "$(mac_of "$expected")" ] && break
done
[ -n "$macs" ] && [ "$macs" != "$(mac_of "$expected")" ] || fail "$ip not taken over after $expected was killed"
pass "killing $expected moved $ip to $macs"

# If the allocator died, the next host by name allocates new Services.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: second}
spec: {type: LoadBalancer, selector: {app: second}, ports: [{port: 80}]}
YAML
for i in $(seq 100); do [ -n "$(external second)" ] && break; sleep 0.1; done
[ "$(external second)" = 198.51.100.101 ] || fail "second Service got '$(external second)' after $expected was killed"
pass "a new Service got $(external second) with $expected gone"
