#!/usr/bin/env bash
# `make bench`, floods against a busy host: how much of one CPU a flood aimed at heraldd
# takes from a normal-priority CPU-bound process (stress-ng, one worker) on that CPU.
# heraldd on h1 (all its threads) and the competitor are pinned to CPU 0; the attacker in
# the client namespace to CPU 1. Three hosts gossip (h2 and h3 watch h1), one VIP.
#   baseline   the competitor alone beside an idle heraldd
#   arp        ARP requests for an address nobody owns, as fast as arpblast sends them
#   gossip60k  60,000-byte datagrams with a valid encrypted header at the gossip port
#   gossip20k  the same at 20,000 bytes (under the size cap: they reach the rate limit)
# Each with the default node.realtime_priority and with 0. Goal: the competitor keeps at
# least 80 % of its baseline throughput, and no peer declares h1 dead.
#   scripts/bench-flood.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
SECONDS_PER_RUN=${1:-10}
[ "$(nproc)" -ge 2 ] || { echo "bench-flood needs 2 CPUs (heraldd and the competitor on one, the attacker on the other)" >&2; exit 1; }
lab_init "hflood$$"
trap lab_cleanup EXIT
lab_host h1 11
lab_host h2 12
lab_host h3 13
lab_host c 2
lab_gossip_key
printf '[[vip]]\nname = "web"\naddress = "198.51.100.50"\n' >"$LAB_DIR/vips.toml"
lab_cluster_config h1 11 12 13
lab_cluster_config h2 12 11 13
lab_cluster_config h3 13 11 12

# The competitor's throughput (stress-ng bogo ops/s, real time) on CPU 0 for the run.
competitor() {
    taskset -c 0 stress-ng --cpu 1 --cpu-method int64 --timeout "${SECONDS_PER_RUN}s" --metrics-brief 2>&1 |
        awk '$4 == "cpu" {print $(NF - 1)}'
}

deaths() { cat "$LAB_DIR"/h2.log "$LAB_DIR"/h3.log | grep -c 'msg="member dead"' || [ $? = 1 ]; }
suspicions() { cat "$LAB_DIR"/h2.log "$LAB_DIR"/h3.log | grep -c 'msg="member suspect"' || [ $? = 1 ]; }

# One flood (a command in the client namespace, pinned to CPU 1) beside the competitor:
# prints "ratio flood-output".
during() {
    local baseline=$1
    shift
    lab_exec c taskset -c 1 "$@" >"$LAB_DIR/flood.out" 2>&1 &
    local flooder=$!
    sleep 1
    local ops
    ops=$(competitor)
    wait "$flooder"
    awk -v ops="$ops" -v base="$baseline" 'BEGIN {printf "%.1f", 100 * ops / base}'
}

rows=()
for priority in default 0; do
    for host in h1 h2 h3; do
        if [ "$priority" = default ]; then config="$LAB_DIR/$host.toml"; else
            config="$LAB_DIR/$host-normal.toml"
            sed 's/^\[node\]$/[node]\nrealtime_priority = 0/' "$LAB_DIR/$host.toml" >"$config"
        fi
        lab_heraldd "$host" "$config"
    done
    for host in h1 h2 h3; do lab_wait_ready "$host"; done
    taskset -a -p -c 0 "$(lab_pid h1)" >/dev/null
    sleep 3
    baseline=$(competitor)
    dead_before=$(deaths)
    suspect_before=$(suspicions)
    arp=$(during "$baseline" "$ARPBLAST" eth0 flood 198.51.100.99 0 $((SECONDS_PER_RUN + 2)))
    arp_rate=$(sed -n 's/.*offered_per_s=\([0-9]*\).*/\1/p' "$LAB_DIR/flood.out")
    g60=$(during "$baseline" python3 Tests/support/gossip-attack.py 198.51.100.11:7946 - flood 60000 $((SECONDS_PER_RUN + 2)))
    g60_rate=$(sed -n 's/.*per_s=\([0-9]*\).*/\1/p' "$LAB_DIR/flood.out")
    g20=$(during "$baseline" python3 Tests/support/gossip-attack.py 198.51.100.11:7946 - flood 20000 $((SECONDS_PER_RUN + 2)))
    g20_rate=$(sed -n 's/.*per_s=\([0-9]*\).*/\1/p' "$LAB_DIR/flood.out")
    h1_seen=$(lab_ctl h2 members 2>/dev/null | awk '$1 == "h1" {print $3}')
    rows+=("$(printf '%-9s %10s  %6s%% (%s/s)  %6s%% (%s/s)  %6s%% (%s/s)  h1 dead: %s, suspected: %s, h2 sees it %s' \
        "$priority" "$baseline" "$arp" "$arp_rate" "$g60" "$g60_rate" "$g20" "$g20_rate" \
        "$(($(deaths) - dead_before))" "$(($(suspicions) - suspect_before))" "${h1_seen:-?}")")
    for host in h1 h2 h3; do lab_stop "$host"; done
done

echo
echo "================ Floods against a busy host ($(nproc) cores, ${SECONDS_PER_RUN} s per run) ================"
echo "The competitor's throughput beside heraldd on one CPU, as a share of its baseline (goal: >= 80 %, h1 never dead):"
echo "priority  baseline/s  ARP, unowned          gossip 60 KB          gossip 20 KB"
for row in "${rows[@]}"; do echo "$row"; done
grep -h 'rejected gossip' "$LAB_DIR/h1.log" | tail -1 | sed 's/^/h1 last said: /' | cut -c1-200
