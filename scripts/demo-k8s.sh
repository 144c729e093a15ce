#!/usr/bin/env bash
# `make demo-k8s`: the lab of `make demo` with a Kubernetes API server (the test one,
# Tests/support/kube-apiserver.py, over TLS) and three heraldd hosts in a gossip cluster
# serving LoadBalancer Services. Applies the MetalLB guides' nginx Deployment and
# Service with kubectl and shows the EXTERNAL-IP and the MAC that answers for it, then
# kills the announcing host and shows another one take over. Removes the lab at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
lab_init "hk8sdemo$$"
trap lab_cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

lab_host k 5
for i in 1 2 3; do lab_host "h$i" $((10 + i)); done
lab_host c 2
say "lab: API server 198.51.100.5:6443, hosts h1-h3 (198.51.100.11-13, MACs 02:00:00:00:00:0b-0d), client 198.51.100.2"
lab_kube_api
kubectl apply -f Tests/support/manifests/nodes-h1-h3.yaml

lab_gossip_key
printf '[kubernetes]\nkubeconfig = "%s"\n\n[[pool]]\nname = "homelab"\naddresses = ["198.51.100.100-198.51.100.120"]\n' \
    "$LAB_DIR/pki/herald.kubeconfig" >"$LAB_DIR/vips.toml"
lab_cluster_config h1 11 12 13; lab_cluster_config h2 12 11 13; lab_cluster_config h3 13 11 12
say "h1's config"
cat "$LAB_DIR/h1.toml"
say "starting heraldd on h1, h2, h3"
for i in 1 2 3; do lab_heraldd "h$i" "$LAB_DIR/h$i.toml"; done
for i in 1 2 3; do lab_wait_ready "h$i"; done

say "kubectl apply -f Tests/support/manifests/nginx.yaml"
kubectl apply -f Tests/support/manifests/nginx.yaml
for i in $(seq 100); do [ -n "$(external nginx-test-lb)" ] && break; sleep 0.1; done
say "kubectl get svc"
kubectl get svc
ip=$(external nginx-test-lb)
sleep 0.5
say "client: arping $ip"
lab_exec c arping -i eth0 -c 3 -W 0.2 "$ip"
say "kubectl get events"
kubectl get events -o jsonpath='{range .items[*]}{.involvedObject.name}  {.type}  {.reason}  {.message}{"\n"}{end}'

owner=""
for host in h1 h2 h3; do
    lab_ctl "$host" status --json | grep -s >/dev/null "\"$ip\"" && owner=$host
done
say "kill -9 heraldd on $owner (announcing $ip); the client keeps asking"
kill -KILL "$(lab_pid "$owner")"; wait "$(lab_pid "$owner")" 2>/dev/null || true
start=$(date +%s%N)
for i in $(seq 100); do
    mac=$(may_fail lab_exec c arping -i eth0 -c 1 -W 0.05 "$ip" 2>/dev/null | sed -n 's/^.* bytes from \([0-9a-f:]*\) .*/\1/p')
    [ -n "$mac" ] && [ "$mac" != "$(printf '02:00:00:00:00:%02x' $((10 + ${owner#h})))" ] && break
done
echo "answered by $mac after $(( ($(date +%s%N) - start) / 1000000 )) ms"
may_fail lab_exec c arping -i eth0 -c 3 -W 0.2 "$ip"
say "done; removing the lab"
