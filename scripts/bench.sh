#!/usr/bin/env bash
# `make bench`: heraldd (release build) against the kernel on the same veth link.
#   latency   ARP request to reply on the wire (kernel timestamps at the client), p50/p99,
#             for a heraldd VIP and for an address the host's kernel owns, interleaved
#   flood     ARP requests at fixed rates: replies/s, fraction answered, heraldd CPU
#   busy      the flood at 50,000/s again with a CPU hog on every core (stress-ng), the
#             sender at SCHED_FIFO 10 (it stands for another machine)
#   memory    heraldd's RSS, PSS and USS when idle, page cache dropped before it starts;
#             keepalived with one VRRP instance, measured the same way, as the anchor
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

# memory PID...: RSS, PSS and USS (private pages) summed over the processes, in kB.
memory() {
    local p
    for p; do cat "/proc/$p/smaps_rollup"; done |
        awk '/^Rss:/ {r += $2} /^Pss:/ {p += $2} /^Private_(Clean|Dirty):/ {u += $2} END {printf "rss=%d pss=%d uss=%d\n", r, p, u}'
}
# File-backed pages count the same way on every run: the page cache is dropped first.
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

lab_host h1 11; lab_host c 2
lab_vip_config "$VIP"
drop_caches
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
pid=$(lab_pid h1)
sleep 3
mem_idle=$(memory "$pid")

# The anchor: keepalived (its parent and VRRP child) with one VRRP instance on h1.
cat >"$LAB_DIR/keepalived.conf" <<CONF
vrrp_instance bench {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        198.51.100.60/24
    }
}
CONF
drop_caches
lab_spawn keepalived h1 keepalived --dont-fork --log-console --vrrp --use-file "$LAB_DIR/keepalived.conf" \
    --pid "$LAB_DIR/keepalived-main.run" --vrrp_pid "$LAB_DIR/keepalived-vrrp.run"
for i in $(seq 100); do [ -s "$LAB_DIR/keepalived-vrrp.run" ] && break; sleep 0.1; done
[ -s "$LAB_DIR/keepalived-vrrp.run" ] || { echo "keepalived did not start: $(cat "$LAB_DIR/keepalived.log")"; exit 1; }
sleep 3
mem_keepalived=$(memory "$(cat "$LAB_DIR/keepalived.pid")" "$(cat "$LAB_DIR/keepalived-vrrp.run")")
kill -TERM "$(cat "$LAB_DIR/keepalived.pid")"

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# The floor for any answer from user space: arpblast's minimal responder (C, a blocking
# packet socket, the reply sent at once) on h1 for FLOOR_IP.
FLOOR_IP=198.51.100.70
lab_spawn floor h1 "$ARPBLAST" eth0 respond "$FLOOR_IP"
echo "== ARP reply latency on the wire ($ROUNDS rounds x $SAMPLES requests each, interleaved)"
: >"$LAB_DIR/lat-herald"; : >"$LAB_DIR/lat-kernel"; : >"$LAB_DIR/lat-floor"
for round in $(seq "$ROUNDS"); do
    lab_exec c "$ARPBLAST" eth0 latency "$VIP" "$SAMPLES" | tee -a "$LAB_DIR/lat-herald" | sed 's/^/  heraldd /'
    lab_exec c "$ARPBLAST" eth0 latency "$KERNEL_IP" "$SAMPLES" | tee -a "$LAB_DIR/lat-kernel" | sed 's/^/  kernel  /'
    lab_exec c "$ARPBLAST" eth0 latency "$FLOOR_IP" "$SAMPLES" | tee -a "$LAB_DIR/lat-floor" | sed 's/^/  floor   /'
done
h50=$(field p50_us <"$LAB_DIR/lat-herald" | median); h99=$(field p99_us <"$LAB_DIR/lat-herald" | median)
k50=$(field p50_us <"$LAB_DIR/lat-kernel" | median); k99=$(field p99_us <"$LAB_DIR/lat-kernel" | median)
f50=$(field p50_us <"$LAB_DIR/lat-floor" | median); f99=$(field p99_us <"$LAB_DIR/lat-floor" | median)
kill "$(cat "$LAB_DIR/floor.pid")"

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

echo "== ARP flood at 50000/s for ${SECONDS_PER_RATE} s with a CPU hog on every core, the sender at SCHED_FIFO 10"
lab_hog_start 120
drops_before=$(lab_ctl h1 status --json | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(l["counters"]["kernelDrops"] for l in s["links"]))')
busy=$(lab_exec c chrt -f 10 "$ARPBLAST" eth0 flood "$VIP" 50000 "$SECONDS_PER_RATE")
busy_kernel=$(lab_exec c chrt -f 10 "$ARPBLAST" eth0 flood "$KERNEL_IP" 50000 "$SECONDS_PER_RATE")
lab_hog_stop
echo "  heraldd $busy"
echo "  kernel  $busy_kernel"
rss_after_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
drops=$(lab_ctl h1 status --json | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(l["counters"]["kernelDrops"] for l in s["links"]))')
priority=$(awk '{print $40}' "$(grep -l '^link-' /proc/$pid/task/*/comm | head -n 1 | sed 's|/comm$|/stat|')")

# The trade-off of the real-time capture thread, measured: the same latency rounds and
# busy flood with node.realtime_priority = 0 (normal scheduling).
echo "== with node.realtime_priority = 0: latency ($ROUNDS rounds, interleaved with the kernel) and the busy flood"
lab_stop h1
sed 's/^\[node\]$/[node]\nrealtime_priority = 0/' "$LAB_DIR/herald.toml" >"$LAB_DIR/normal.toml"
lab_heraldd h1 "$LAB_DIR/normal.toml"
lab_wait_ready h1
sleep 3
: >"$LAB_DIR/lat-normal"; : >"$LAB_DIR/lat-kernel2"
for round in $(seq "$ROUNDS"); do
    lab_exec c "$ARPBLAST" eth0 latency "$VIP" "$SAMPLES" | tee -a "$LAB_DIR/lat-normal" | sed 's/^/  heraldd /'
    lab_exec c "$ARPBLAST" eth0 latency "$KERNEL_IP" "$SAMPLES" | tee -a "$LAB_DIR/lat-kernel2" | sed 's/^/  kernel  /'
done
n50=$(field p50_us <"$LAB_DIR/lat-normal" | median); n99=$(field p99_us <"$LAB_DIR/lat-normal" | median)
k250=$(field p50_us <"$LAB_DIR/lat-kernel2" | median)
lab_hog_start 120
busy_normal=$(lab_exec c chrt -f 10 "$ARPBLAST" eth0 flood "$VIP" 50000 "$SECONDS_PER_RATE")
lab_hog_stop
echo "  heraldd $busy_normal"

echo
echo "================ Herald benchmark ($(nproc) cores, $(uname -r)) ================"
printf 'ARP reply latency, request to reply on the wire (median of %s rounds):\n' "$ROUNDS"
printf '  %-10s p50 %8s us   p99 %8s us\n' heraldd "$h50" "$h99" kernel "$k50" "$k99"
awk -v h="$h50" -v k="$k50" -v h9="$h99" -v k9="$k99" 'BEGIN {printf "  ratio      p50 %8.2fx     p99 %8.2fx   (target: p50 <= 1.5x)\n", h / k, h9 / k9}'
printf '  %-10s p50 %8s us   p99 %8s us   (the floor from user space: arpblast respond, C)\n' floor "$f50" "$f99"
awk -v f="$f50" -v k="$k50" -v h="$h50" 'BEGIN {printf "  floor/kernel p50 %.2fx; heraldd above the floor: %.1f us\n", f / k, h - f}'
echo "ARP flood (target: >= 50000/s answered with >= 99.9 %):"
printf '  %11s  %14s  %9s  %6s  %14s  %9s\n' offered "heraldd ans." fraction cpu "kernel ans." fraction
for row in "${flood_rows[@]}"; do echo "  $row"; done
echo "  heraldd capture drops reported by the kernel: $drops"
echo "ARP flood at 50000/s, CPU hog on every core, sender at SCHED_FIFO 10 (target: >= 99.9 %):"
printf '  heraldd %12s/s  %9s   (capture thread SCHED_FIFO priority %s; capture drops %s)\n' "$(echo "$busy" | field answered_per_s)" \
    "$(echo "$busy" | field fraction)" "$priority" "$((drops - drops_before))"
printf '  kernel  %12s/s  %9s\n' "$(echo "$busy_kernel" | field answered_per_s)" "$(echo "$busy_kernel" | field fraction)"
echo "The same heraldd with node.realtime_priority = 0 (normal scheduling):"
printf '  latency    p50 %8s us   p99 %8s us   kernel p50 %s us in the same rounds: ratio %s\n' "$n50" "$n99" "$k250" \
    "$(awk -v h="$n50" -v k="$k250" 'BEGIN {printf "%.2fx", h / k}')"
printf '  busy flood %12s/s  %9s\n' "$(echo "$busy_normal" | field answered_per_s)" "$(echo "$busy_normal" | field fraction)"
echo "Memory, idle, one VIP, page cache dropped before the start (target: heraldd RSS <= 13 MB):"
for row in "heraldd $mem_idle" "keepalived $mem_keepalived"; do
    set -- $row
    echo "$2 $3 $4" | awk -v who="$1" -F'[ =]' '{printf "  %-11s RSS %5.1f MB   PSS %5.1f MB   USS %5.1f MB\n", who, $2 / 1024, $4 / 1024, $6 / 1024}'
done
awk -v after="$rss_after_kb" 'BEGIN {printf "  heraldd RSS after the floods %.1f MB\n", after / 1024}'
