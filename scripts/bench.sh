#!/usr/bin/env bash
# `make bench`: heraldd (release build) against the kernel on the same veth link.
#   latency   ARP request to reply on the wire (kernel timestamps at the client), p50/p99,
#             for a heraldd VIP and for an address the host's kernel owns, interleaved
#   flood     ARP requests at fixed rates: replies/s, fraction answered, heraldd CPU
#   memory    heraldd's resident set size when idle
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab.sh
lab_init "hbench$$"
trap lab_cleanup EXIT

SAMPLES=${BENCH_SAMPLES:-500}
ROUNDS=${BENCH_ROUNDS:-4}
RATES=${BENCH_RATES:-"25000 50000 100000"}
SECONDS_PER_RATE=${BENCH_SECONDS:-3}
VIP=198.51.100.50
KERNEL_IP=198.51.100.11

lab_host h1 11; lab_host c 2
lab_vip_config "$VIP"
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
pid=$(lab_pid h1)
sleep 3
rss_idle_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "== ARP reply latency on the wire ($ROUNDS rounds x $SAMPLES requests each, interleaved)"
: >"$LAB_DIR/lat-herald"; : >"$LAB_DIR/lat-kernel"
for round in $(seq "$ROUNDS"); do
    lab_exec c "$ARPBLAST" eth0 latency "$VIP" "$SAMPLES" | tee -a "$LAB_DIR/lat-herald" | sed 's/^/  heraldd /'
    lab_exec c "$ARPBLAST" eth0 latency "$KERNEL_IP" "$SAMPLES" | tee -a "$LAB_DIR/lat-kernel" | sed 's/^/  kernel  /'
done
h50=$(field p50_us <"$LAB_DIR/lat-herald" | median); h99=$(field p99_us <"$LAB_DIR/lat-herald" | median)
k50=$(field p50_us <"$LAB_DIR/lat-kernel" | median); k99=$(field p99_us <"$LAB_DIR/lat-kernel" | median)

echo "== ARP flood ($SECONDS_PER_RATE s per rate)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
flood_rows=()
for rate in $RATES; do
    before=$(cpu_ticks); start=$(date +%s.%N)
    out=$(lab_exec c "$ARPBLAST" eth0 flood "$VIP" "$rate" "$SECONDS_PER_RATE")
    after=$(cpu_ticks); end=$(date +%s.%N)
    cpu=$(awk -v t="$((after - before))" -v hz="$hz" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", 100 * t / hz / (e - s)}')
    kernel=$(lab_exec c "$ARPBLAST" eth0 flood "$KERNEL_IP" "$rate" "$SECONDS_PER_RATE")
    echo "  heraldd $out cpu_percent=$cpu"
    echo "  kernel  $kernel"
    flood_rows+=("$(printf '%9s/s  %12s/s  %9s  %5s%%  %12s/s  %9s' "$rate" "$(echo "$out" | field answered_per_s)" \
        "$(echo "$out" | field fraction)" "$cpu" "$(echo "$kernel" | field answered_per_s)" "$(echo "$kernel" | field fraction)")")
done
rss_after_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
drops=$(lab_ctl h1 status --json | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(l["counters"]["kernelDrops"] for l in s["links"]))')

echo
echo "================ Herald benchmark ($(nproc) cores, $(uname -r)) ================"
printf 'ARP reply latency, request to reply on the wire (median of %s rounds):\n' "$ROUNDS"
printf '  %-10s p50 %8s us   p99 %8s us\n' heraldd "$h50" "$h99" kernel "$k50" "$k99"
awk -v h="$h50" -v k="$k50" -v h9="$h99" -v k9="$k99" 'BEGIN {printf "  ratio      p50 %8.2fx     p99 %8.2fx   (target: p50 <= 2x)\n", h / k, h9 / k9}'
echo "ARP flood (target: >= 50000/s answered with >= 99.9 %):"
printf '  %11s  %14s  %9s  %6s  %14s  %9s\n' offered "heraldd ans." fraction cpu "kernel ans." fraction
for row in "${flood_rows[@]}"; do echo "  $row"; done
echo "  heraldd capture drops reported by the kernel: $drops"
awk -v idle="$rss_idle_kb" -v after="$rss_after_kb" \
    'BEGIN {printf "heraldd RSS: idle %.1f MB, after the floods %.1f MB   (target: idle < 20 MB)\n", idle / 1024, after / 1024}'
