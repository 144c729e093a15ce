#!/usr/bin/env bash
# `make bench`, Kubernetes part: one heraldd host, the test API server, a client.
#   apply-to-ARP  kubectl apply of a LoadBalancer Service -> its address in status (from
#                 heraldd's log) and -> first ARP answer at the client; p50/p99 over N
#   many          1,000 and then 10,000 Services created at once through the API: time
#                 until every one has its status, and until every address is answered
#                 at the client (arpblast sweep); heraldd's RSS after each; the test API
#                 server's own time per request, so it is clear what the figures measure
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
lab_init "hbk8s$$"
trap lab_cleanup EXIT
SERVICES=${BENCH_K8S_SERVICES:-50}
MANY=${BENCH_K8S_MANY:-"1000 10000"}

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
addresses = ["10.20.64.0/18"]
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
# dominate) by four connections in parallel, all in the "many" pool; each round's
# addresses follow the previous round's.
api() { # api METHOD PATH: as the admin, from the client; prints the JSON answer
    lab_exec c /usr/bin/python3 - "$LAB_DIR/pki" "$1" "$2" <<'PY'
import ssl, sys, http.client
pki, method, path = sys.argv[1:4]
context = ssl.create_default_context(cafile=f"{pki}/ca.crt")
context.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
connection = http.client.HTTPSConnection("198.51.100.5", 6443, context=context)
connection.request(method, path)
print(connection.getresponse().read().decode())
PY
}
rss_before=$(awk '/^VmRSS:/ {print $2}' "/proc/$(lab_pid h1)/status")
offset=0
many_rows=()
for round in $MANY; do
    prefix="m$round-"
    first=$(/usr/bin/python3 -c "import ipaddress; print(ipaddress.ip_address('10.20.64.0') + $offset)")
    lab_exec c "$ARPBLAST" eth0 sweep "$first" "$round" 180 >"$LAB_DIR/sweep-$round.txt" &
    sweeper=$!
    start=$(date +%s%N)
    lab_exec c /usr/bin/python3 - "$LAB_DIR/pki" "$round" "$prefix" <<'PY'
import json, ssl, sys, threading, http.client
pki, count, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def create(indexes):
    context = ssl.create_default_context(cafile=f"{pki}/ca.crt")
    context.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
    connection = http.client.HTTPSConnection("198.51.100.5", 6443, context=context)
    for n in indexes:
        body = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": f"{prefix}{n}", "annotations": {"metallb.io/address-pool": "many"}},
                "spec": {"type": "LoadBalancer", "selector": {"app": "bench"}, "ports": [{"port": 80}]}}
        connection.request("POST", "/api/v1/namespaces/default/services", json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse(); response.read()
        assert response.status == 201, response.status
threads = [threading.Thread(target=create, args=(range(i, count, 4),)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
    created=$(ms_since "$start")
    written=0
    for i in $(seq 1800); do
        written=$(grep 'status written' "$LAB_DIR/h1.log" | grep -c "service=default/$prefix" || [ $? = 1 ])
        [ "$written" -ge "$round" ] && break
        sleep 0.1
    done
    all_written=$(ms_since "$start")
    wait "$sweeper" || echo "  (the sweep did not see every address answered)"
    sweep=$(cat "$LAB_DIR/sweep-$round.txt")
    sleep 2
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$(lab_pid h1)/status")
    many_rows+=("$(printf '%6s Services: created in %6s ms; all %s statuses written %6s ms after the first create; answered at the client %s/%s, the last %s ms after; RSS %.1f MB' \
        "$round" "$created" "$written" "$all_written" "$(echo "$sweep" | sed -n 's/.*answered=\([0-9]*\).*/\1/p')" "$round" \
        "$(echo "$sweep" | sed -n 's/.*last_ms=\([0-9]*\).*/\1/p')" "$(awk -v r="$rss" 'BEGIN {print r / 1024}')")")
    echo "  ${many_rows[-1]}"
    offset=$((offset + round))
done
stats=$(api GET /debug/stats | /usr/bin/python3 -c 'import json, sys
for method, figures in sorted(json.load(sys.stdin).items()):
    count, mean, p50, p99 = (figures[key] for key in sorted(figures))  # count, mean_ms, p50_ms, p99_ms
    print("    %-6s %7d requests   mean %6.1f ms   p50 %6.1f ms   p99 %6.1f ms" % (method, count, mean, p50, p99))')
echo "Kubernetes: Services created at once through the API (target: 1,000 answered within 10 s, 10,000 within 60 s)"
for row in "${many_rows[@]}"; do echo "  $row"; done
awk -v b="$rss_before" -v s="$SERVICES" 'BEGIN {printf "  heraldd RSS before: %.1f MB with %d Services\n", b / 1024, s}'
echo "  the test API server's own time per request (Python; a real one answers in milliseconds):"
echo "$stats"
