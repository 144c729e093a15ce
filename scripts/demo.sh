#!/usr/bin/env bash
# `make demo`: a lab of network namespaces on this machine — a bridge, two hosts (h1, h2)
# and a client — runs heraldd on both hosts with etc/lab/herald.toml, and shows the
# client resolving IPv4 and IPv6 VIPs to the hosts' MACs. Removes the lab at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
lab_init "hdemo$$"
trap lab_cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

lab_host h1 11; lab_host h2 12; lab_host c 2
# A copy, so the reload step below can edit it.
cp etc/lab/herald.toml "$LAB_DIR/herald.toml"
say "lab: h1 02:00:00:00:00:0b (198.51.100.11), h2 02:00:00:00:00:0c (198.51.100.12), client 198.51.100.2"
sed -n '/^\[/,$p' etc/lab/herald.toml

lab_spawn capture c tcpdump -i eth0 -n -l -e --immediate-mode 'arp or (icmp6 and ip6[40] == 136)'
sleep 1

say "starting heraldd on h1 and h2"
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_heraldd h2 "$LAB_DIR/herald.toml"
lab_wait_ready h1
lab_wait_ready h2
sleep 0.5
cat "$LAB_DIR/h1.log"

say "tcpdump on the client: gratuitous announcements as the daemons start"
grep -v 'listening on\|^tcpdump:' "$LAB_DIR/capture.log"

say "client: arping 198.51.100.50 (VIP 'web', owned by h1)"
lab_exec c arping -i eth0 -c 3 -W 0.2 198.51.100.50
say "client: arping 198.51.100.51 (VIP 'nas', owned by h2)"
lab_exec c arping -i eth0 -c 3 -W 0.2 198.51.100.51
say "client: ndisc6 2001:db8:100::50 (VIP 'web6', owned by h1)"
lab_exec c ndisc6 -1 -r 3 -w 300 2001:db8:100::50 eth0
say "client: arping 198.51.100.60 (not a VIP: nobody answers)"
may_fail lab_exec c arping -i eth0 -c 2 -W 0.2 198.51.100.60

say "heraldctl status on h1"
lab_ctl h1 status
say "heraldctl vips on h2"
lab_ctl h2 vips

say "Prometheus metrics on h1 (MetalLB's names), curl http://127.0.0.1:9473/metrics"
lab_exec h1 curl -s http://127.0.0.1:9473/metrics | grep -E '^metallb_(speaker_announced|layer2_requests_received)'

say "live reload: add VIP 'dns' 198.51.100.53 for h1, then systemctl-reload style SIGHUP"
printf '\n[[vip]]\nname = "dns"\naddress = "198.51.100.53"\nnodes = ["h1"]\n' >>"$LAB_DIR/herald.toml"
kill -HUP "$(lab_pid h1)"; kill -HUP "$(lab_pid h2)"
sleep 0.6  # the new VIP is probed for 150 ms before it is announced
grep 'config reloaded' "$LAB_DIR/h1.log"
lab_exec c arping -i eth0 -c 2 -W 0.2 198.51.100.53

say "SIGTERM to h1: it falls silent at once"
lab_stop h1
may_fail lab_exec c arping -i eth0 -c 2 -W 0.2 198.51.100.50
tail -n 2 "$LAB_DIR/h1.log"
say "done; removing the lab"
