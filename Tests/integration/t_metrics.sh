# Prometheus metrics: the exposition passes `promtool check metrics`, carries MetalLB's
# names with the right values, and a real Prometheus server scraping heraldd on loopback
# answers a query for metallb_speaker_announced.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2
lab_vip_config 198.51.100.50 2001:db8:100::50
cat >>"$LAB_DIR/herald.toml" <<'TOML'
[metrics]
listen = "127.0.0.1:9473"
[[pool]]
name = "homelab"
addresses = ["198.51.100.200-198.51.100.209", "2001:db8:100::1:0/124"]
TOML
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
[ -n "$(arping_macs c 198.51.100.50 3)" ] || fail "VIP not answered"

scrape() { lab_exec h1 curl -sf --max-time 5 http://127.0.0.1:9473/metrics; }
scrape >"$LAB_DIR/metrics.txt" || fail "no answer on /metrics"
promtool check metrics <"$LAB_DIR/metrics.txt" || fail "promtool rejects the exposition: $(cat "$LAB_DIR/metrics.txt")"
pass "promtool check metrics accepts the exposition"

has() { grep -qxF "$1" "$LAB_DIR/metrics.txt" || fail "missing line: $1"$'\n'"$(cat "$LAB_DIR/metrics.txt")"; }
has 'metallb_speaker_announced{ip="198.51.100.50",node="h1",protocol="layer2",service="vip1"} 1'
has 'metallb_speaker_announced{ip="2001:db8:100::50",node="h1",protocol="layer2",service="vip2"} 1'
# Allocator gauges come from the allocating host of a Kubernetes cluster only (t_k8s):
# a standalone host declares the families and has no samples, so sum() stays right.
! grep -q '^metallb_allocator_addresses' "$LAB_DIR/metrics.txt" || fail "allocator samples without Kubernetes: $(grep '^metallb_allocator' "$LAB_DIR/metrics.txt")"
has 'herald_config_reloads_total{result="ok"} 0'
requests=$(sed -n 's/^metallb_layer2_requests_received{ip="198.51.100.50"} //p' "$LAB_DIR/metrics.txt")
[ "${requests:-0}" -ge 3 ] || fail "requests_received for the VIP is '${requests}', want >= 3"
grep -q '^metallb_layer2_gratuitous_sent{ip="198.51.100.50"} [1-9]' "$LAB_DIR/metrics.txt" || fail "no gratuitous count"
pass "MetalLB-named metrics carry this node's announcements and counts"

[ "$(lab_exec h1 curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9473/nope)" = 404 ] || fail "unknown path not 404"
[ "$(lab_exec h1 curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9473/metrics)" = 405 ] || fail "POST not 405"
printf 'garbage\r\n\r\n' | lab_exec h1 timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", 9473)); s.sendall(sys.stdin.buffer.read()); print(s.recv(100).split(b"\r\n")[0].decode())' \
    | grep -s >/dev/null '400' || fail "garbage request not answered 400"
scrape >/dev/null || fail "metrics endpoint gone after bad requests"
pass "bad requests get 404/405/400 and the endpoint keeps serving"

# A real Prometheus in the same namespace scrapes every second.
cat >"$LAB_DIR/prometheus.yml" <<'YAML'
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: herald
    static_configs:
      - targets: ["127.0.0.1:9473"]
YAML
lab_spawn prometheus h1 prometheus --config.file="$LAB_DIR/prometheus.yml" --storage.tsdb.path="$LAB_DIR/tsdb" \
    --web.listen-address=127.0.0.1:9090
answer=""
for i in $(seq 120); do
    answer=$(may_fail lab_exec h1 curl -sf --max-time 2 'http://127.0.0.1:9090/api/v1/query?query=metallb_speaker_announced')
    echo "$answer" | grep -s >/dev/null '"ip":"198.51.100.50"' && break
    sleep 0.5
done
echo "$answer" | grep -s >/dev/null '"ip":"198.51.100.50"' || fail "Prometheus has no metallb_speaker_announced: $answer $(tail -5 "$LAB_DIR/prometheus.log")"
echo "$answer" | grep -s >/dev/null '"node":"h1"' || fail "node label missing: $answer"
health=$(lab_exec h1 curl -sf 'http://127.0.0.1:9090/api/v1/targets' | grep -o '"health":"[a-z]*"' | head -1)
[ "$health" = '"health":"up"' ] || fail "scrape target not up: $health"
pass "Prometheus scraped heraldd and answered metallb_speaker_announced"

# Every metric the shipped Grafana dashboard queries is one heraldd exports.
missing=$(/usr/bin/python3 - "$LAB_DIR/metrics.txt" <<'PY'
import json, re, sys
declared = {line.split()[2] for line in open(sys.argv[1]) if line.startswith("# TYPE ")}
dashboard = json.load(open("docs/grafana-dashboard.json"))
used = set()
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        used |= {re.sub(r"_(bucket|sum|count)$", "", name) for name in re.findall(r"\b((?:metallb|herald)_[a-z0-9_]+)", target["expr"])}
print(" ".join(sorted(used - declared)))
PY
)
[ -z "$missing" ] || fail "the dashboard queries metrics heraldd does not export: $missing"
pass "docs/grafana-dashboard.json queries only exported metrics"
