#!/usr/bin/env bash
# `make bench`, Kubernetes part: one heraldd host, the test API server, a client.
#   apply-to-ARP  kubectl apply of a LoadBalancer Service -> its address in status (from
#                 heraldd's log) and -> first ARP answer at the client; p50/p99 over N
#   1000 Services created at once through the API: time until every one has its address
#   memory        heraldd's RSS with those 1000 Services
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
lab_init "hbk8s$$"
trap lab_cleanup EXIT
SERVICES=${BENCH_K8S_SERVICES:-50}
MANY=${BENCH_K8S_MANY:-1000}

lab_host k 5; lab_host h1 11; lab_host c 2
lab_exec h1 ip addr add 10.20.0.11/16 dev eth0
lab_exec c ip addr add 10.20.0.2/16 dev eth0
lab_kube_api
kubectl apply -f Tests/support/manifests/node-h1.yaml >/dev/null
cat >"$LAB_DIR/herald.toml" <<TOML
[node]
interfaces = ["eth0"]
[kubernetes]
kubeconfig = "$LAB_DIR/pki/herald.kubeconfig"
[[pool]]
name = "bench"
addresses = ["198.51.100.100-198.51.100.199"]
[[pool]]
name = "many"
addresses = ["10.20.10.0-10.20.13.255"]
auto_assign = false
TOML
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
# One Deployment the bench's Services all select: the lab API server lists its pods as their
# ready endpoints (a Service without one is not announced).
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec: {replicas: 1, selector: {matchLabels: {app: bench}}, template: {metadata: {labels: {app: bench}}, spec: {containers: [{name: app, image: nginx}]}}}
YAML

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
log_ms() { # log_ms SERVICE: ms since the epoch when heraldd wrote SERVICE's status
    local stamp
    stamp=$(grep 'status written' "$LAB_DIR/h1.log" | grep -m1 -E "service=default/$1( |\$)" | sed 's/^time=\([^ ]*\) .*/\1/')
    [ -n "$stamp" ] && echo $(( $(date -d "$stamp" +%s%N) / 1000000 ))
}
: >"$LAB_DIR/status.ms"; : >"$LAB_DIR/arp.ms"
for n in $(seq "$SERVICES"); do
    ip=198.51.100.$((99 + n))
    start=$(date +%s%N)
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: s%s}\nspec: {type: LoadBalancer, selector: {app: bench}, ports: [{port: 80}]}\n' "$n" \
        | kubectl apply -f - >/dev/null
    for i in $(seq 2000); do
        lab_exec c arping -i eth0 -c 1 -W 0.001 -w 0.01 "$ip" >/dev/null 2>&1 && break
    done
    echo $(( ($(date +%s%N) - start) / 1000000 )) >>"$LAB_DIR/arp.ms"
    written=$(log_ms "s$n" || true)
    [ -n "$written" ] && echo $(( written - start / 1000000 )) >>"$LAB_DIR/status.ms"
done
pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int((NR-1)*p/100)+1; print a[i]}'; }
echo "Kubernetes: kubectl apply of a LoadBalancer Service ($SERVICES Services, one heraldd, test API server)"
printf '  to address in status (heraldd log)   p50 %5s ms   p99 %5s ms\n' "$(pct "$LAB_DIR/status.ms" 50)" "$(pct "$LAB_DIR/status.ms" 99)"
printf '  to first ARP answer at the client     p50 %5s ms   p99 %5s ms   (target: p50 <= 500 ms)\n' \
    "$(pct "$LAB_DIR/arp.ms" 50)" "$(pct "$LAB_DIR/arp.ms" 99)"

# Many Services at once, created straight through the API (kubectl's own start-up would
# dominate), all in the "many" pool.
rss_before=$(awk '/^VmRSS:/ {print $2}' "/proc/$(lab_pid h1)/status")
start=$(date +%s%N)
lab_exec c /usr/bin/python3 - "$LAB_DIR/pki" "$MANY" <<'PY'
import json, ssl, sys, http.client
pki, count = sys.argv[1], int(sys.argv[2])
context = ssl.create_default_context(cafile=f"{pki}/ca.crt")
context.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
connection = http.client.HTTPSConnection("198.51.100.5", 6443, context=context)
for n in range(count):
    body = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"m{n}", "annotations": {"metallb.io/address-pool": "many"}},
            "spec": {"type": "LoadBalancer", "selector": {"app": "bench"}, "ports": [{"port": 80}]}}
    connection.request("POST", "/api/v1/namespaces/default/services", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse(); response.read()
    assert response.status == 201, response.status
PY
created=$(ms_since "$start")
done_count=0
for i in $(seq 1200); do
    done_count=$(grep 'status written' "$LAB_DIR/h1.log" | grep -c 'service=default/m' || [ $? = 1 ])
    [ "$done_count" -ge "$MANY" ] && break
    sleep 0.1
done
all=$(ms_since "$start")
sleep 2
rss_after=$(awk '/^VmRSS:/ {print $2}' "/proc/$(lab_pid h1)/status")
echo "Kubernetes: $MANY Services created at once through the API (creating them took $created ms)"
echo "  every one allocated and its status written: $all ms after the first was created ($done_count written)"
awk -v b="$rss_before" -v a="$rss_after" -v s="$SERVICES" -v n="$MANY" 'BEGIN {printf "  heraldd RSS: %.1f MB with %d Services, %.1f MB with %d more\n", b / 1024, s, a / 1024, n}'
