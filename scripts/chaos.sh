#!/usr/bin/env bash
# A chaos run (scripts/chaos.py) in its own lab: five heraldd hosts h1..h5 (198.51.100.11-15)
# with gossip and six VIPs (.50-.55), a gateway g (.1, every host's default route, so the
# hosts' witness), and a client c. Everything stays in namespaces it creates and removes.
#   scripts/chaos.sh SECONDS SEED [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
lab_init "hchaos$$"
trap lab_cleanup EXIT
for i in 1 2 3 4 5; do
    lab_host "h$i" $((10 + i))
    ip -n "$LAB-h$i" route add default via 198.51.100.1
done
lab_host g 1
lab_host c 2
lab_gossip_key
: >"$LAB_DIR/vips.toml"
for i in 0 1 2 3 4 5; do printf '[[vip]]\nname = "vip%s"\naddress = "198.51.100.%s"\n' "$i" $((50 + i)) >>"$LAB_DIR/vips.toml"; done
for i in 1 2 3 4 5; do
    peers=()
    for j in 1 2 3 4 5; do [ "$j" = "$i" ] || peers+=($((10 + j))); done
    lab_cluster_config "h$i" $((10 + i)) "${peers[@]}"
done
LAB=$LAB LAB_DIR=$LAB_DIR HERALD_BIN=$HERALD_BIN ARPBLAST=$ARPBLAST /usr/bin/python3 scripts/chaos.py "$@"
