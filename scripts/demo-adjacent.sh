#!/usr/bin/env bash
# `make demo-adjacent`: adjacent mode (docs/adjacent-mode.md). Three emulated Kubernetes
# nodes run no Herald (like Talos VMs); two adjacent hosts (like the Proxmox hosts) run
# heraldd with node.mode = "adjacent" and answer ARP for a LoadBalancer Service with a
# node's MAC. Shows where the client's traffic goes, then cuts that node and kills the
# answering host. Removes the lab at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
lab_init "hadjdemo$$"
trap lab_cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_change() { # wait_change IP OLD: until c reaches another node than OLD (at most 10 s)
    local i start
    start=$(date +%s%N)
    for i in $(seq 100); do
        now=$(reach "$1"); [ -n "$now" ] && [ "$now" != "$2" ] && break
        sleep 0.05
    done
    echo "c now reaches $now ($(( ($(date +%s%N) - start) / 1000000 )) ms)"
}

say "lab: API server 198.51.100.5, nodes n1-n3 (198.51.100.31-33, no Herald), adjacent hosts a1, a2 (.21, .22), client c (.2)"
lab_adjacent
say "a1's config"
cat "$LAB_DIR/a1.toml"

say "kubectl apply -f Tests/support/manifests/nginx.yaml; kubectl get svc"
kubectl apply -f Tests/support/manifests/nginx.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external nginx-test-lb)" ] && break; sleep 0.1; done
kubectl get svc
ip=$(external nginx-test-lb)
for i in $(seq 50); do [ -n "$(reach "$ip")" ] && break; sleep 0.1; done
target=$(reach "$ip")
say "client: curl http://$ip/ → $target; its neighbour table:"
lab_exec c ip neigh show "$ip"
say "heraldctl vips (on a1)"
lab_ctl a1 vips
say "heraldctl explain $ip"
lab_ctl a1 explain "$ip"

say "unplug $target from the switch; the client keeps asking"
lab_cut "$target"
wait_change "$ip" "$target"
lab_exec c ip neigh show "$ip"
lab_uncut "$target"

owner=$(lab_ctl a1 vips --json | /usr/bin/python3 -c 'import json,sys; print([v["owner"] for v in json.load(sys.stdin)["vips"] if v["address"] == sys.argv[1]][0])' "$ip")
survivor=$( [ "$owner" = a1 ] && echo a2 || echo a1 )
wait_reach "$ip" "$target" 10 || true
say "$target is back (c reaches it again); kill -9 heraldd on $owner (answering for $ip)"
kill -KILL "$(lab_pid "$owner")"; wait "$(lab_pid "$owner")" 2>/dev/null || true
for i in $(seq 100); do lab_ctl "$survivor" vips | grep -s >/dev/null "$ip *$survivor *announcing" && break; sleep 0.1; done
lab_ctl "$survivor" vips
echo "client: curl http://$ip/ → $(reach "$ip")"
say "done; removing the lab"
