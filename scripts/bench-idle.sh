#!/usr/bin/env bash
# Idle cost for `make bench`: three hosts, one VIP, nothing else happening. For each
# host, the CPU time (user + system, from /proc/PID/stat) and the context switches (every
# thread's voluntary and involuntary ones) over IDLE_SECONDS, per minute and per second.
# heraldd on the default (lan) and conservative profiles; the anchor is keepalived with
# its default 1 s adverts (about 3 s failover) and with 0.1 s adverts (about 0.3 s).
set -euo pipefail
cd "$(dirname "$0")/.."
source Tests/integration/lib.sh

IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60}
VIP=198.51.100.50
results=$(mktemp /tmp/herald-idle.XXXXXX)
trap 'rm -f "$results"' EXIT

# cost LABEL PIDS_OF_H1 PIDS_OF_H2 PIDS_OF_H3 (each a quoted list): measures and appends
# "LABEL host cpu_s_per_min cs_per_s" lines to $results.
cost() {
    local label=$1 hz host pids p t
    shift
    hz=$(getconf CLK_TCK)
    ticks() { local p s=0; for p; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
    switches() {
        local p
        for p; do cat /proc/"$p"/task/*/status; done |
            awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s}'
    }
    local -a t0 c0
    local i=0
    for pids; do t0[i]=$(ticks $pids); c0[i]=$(switches $pids); i=$((i + 1)); done
    sleep "$IDLE_SECONDS"
    i=0
    for pids; do
        awk -v l="$label" -v h="h$((i + 1))" -v t="$(( $(ticks $pids) - t0[i] ))" -v c="$(( $(switches $pids) - c0[i] ))" \
            -v hz="$hz" -v d="$IDLE_SECONDS" 'BEGIN {printf "%s %s %.3f %.1f\n", l, h, t / hz * 60 / d, c / d}' >>"$results"
        i=$((i + 1))
    done
}

for profile in lan conservative; do
    echo "== heraldd, $profile profile: 3 hosts, one VIP, $IDLE_SECONDS s"
    ( export LAB_PROFILE=$profile
      cluster_lab 3 $VIP >/dev/null
      wait_one_owner $VIP h1 h2 h3 >/dev/null
      sleep 5
      cost "heraldd-$profile" "$(lab_pid h1)" "$(lab_pid h2)" "$(lab_pid h3)" )
done

for advert in 1 0.1; do
    echo "== keepalived, adverts every $advert s: 3 hosts, one VIP, $IDLE_SECONDS s"
    ( test_lab
      for i in 1 2 3; do
          lab_host "h$i" $((10 + i))
          cat >"$LAB_DIR/h$i.conf" <<CONF
global_defs {
    vrrp_version 3
}
vrrp_instance bench {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $((110 - 10 * i))
    advert_int $advert
    virtual_ipaddress {
        $VIP/24
    }
}
CONF
          lab_spawn "keepalived-h$i" "h$i" keepalived --dont-fork --log-console --vrrp --use-file "$LAB_DIR/h$i.conf" \
              --pid "$LAB_DIR/h$i-main.run" --vrrp_pid "$LAB_DIR/h$i-vrrp.run"
      done
      for i in 1 2 3; do
          for t in $(seq 100); do [ -s "$LAB_DIR/h$i-vrrp.run" ] && break; sleep 0.1; done
          [ -s "$LAB_DIR/h$i-vrrp.run" ] || { echo "keepalived on h$i did not start: $(cat "$LAB_DIR/keepalived-h$i.log")"; exit 1; }
      done
      sleep 5
      grep -l 'Entering MASTER STATE' "$LAB_DIR"/keepalived-h*.log >/dev/null || { echo "no keepalived became master"; exit 1; }
      cost "keepalived-${advert}s" "$(cat "$LAB_DIR/keepalived-h1.pid") $(cat "$LAB_DIR/h1-vrrp.run")" \
          "$(cat "$LAB_DIR/keepalived-h2.pid") $(cat "$LAB_DIR/h2-vrrp.run")" \
          "$(cat "$LAB_DIR/keepalived-h3.pid") $(cat "$LAB_DIR/h3-vrrp.run")"
      for i in 1 2 3; do kill -TERM "$(cat "$LAB_DIR/keepalived-h$i.pid")"; done
      sleep 1 )
done

echo
echo "================ Herald idle cost ($(nproc) cores, $IDLE_SECONDS s) ================"
echo "per host: CPU seconds per minute, context switches per second (all threads)"
awk '{cpu[$1] = cpu[$1] sprintf(" %s %.3f", $2, $3); cs[$1] = cs[$1] sprintf(" %s %.1f", $2, $4)}
     END {for (k in cpu) printf "  %-18s CPU-s/min%s   cs/s%s\n", k, cpu[k], cs[k]}' "$results" | sort
echo "goal (heraldd, lan): <= 0.15 CPU-s per host per minute, <= 40 context switches/s (docs/performance.md, Idle cost)"
