#!/usr/bin/env bash
# Failover figures for `make bench`. First, busy hosts: with a CPU hog on every core
# (stress-ng, nice 0) all through, a soak of SOAK_SECONDS at 5 % loss on every host of a
# 3-host cluster, counting false failovers, and alongside it BUSY_TRIALS link cuts and
# SIGSTOPs of the owner on another 3-host cluster. Then, without the hog, for each gossip
# profile and cluster size, TRIALS times each of link cut, SIGSTOP and SIGTERM of the VIP's
# current owner. The figure is the time from the fault to the first ARP reply from
# another MAC, seen by a client that asks every 2 ms. Last, a rolling restart of three
# hosts, five rounds, counting unanswered requests.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tests/integration/lib.sh

TRIALS=${BENCH_TRIALS:-20}
PROFILES=${BENCH_PROFILES:-"lan fast"}
SIZES=${BENCH_SIZES:-"3 5"}
SOAK_SECONDS=${BENCH_SOAK_SECONDS:-600}
BUSY_TRIALS=${BENCH_BUSY_TRIALS:-10}
VIP=198.51.100.50
results=$(mktemp /tmp/herald-failover.XXXXXX)

hold_down_seconds() { case $1 in lan|lan+hog) echo 3 ;; fast) echo 1.25 ;; conservative) echo 40 ;; esac; }

trial() {
    local kind=$1 size=$2 profile=$3 owner observer fault_ns reply_ns
    owner=$(owner_of h1 $VIP); observer=h1
    [ "$owner" = h1 ] && observer=h2 && owner=$(owner_of h2 $VIP)
    lab_exec c "$ARPBLAST" eth0 watch $VIP 4 >"$LAB_DIR/watch.txt" &
    local watcher=$!
    sleep 0.3
    fault_ns=$(date +%s%N)
    case $kind in
        link) lab_exec "$owner" ip link set eth0 down ;;
        stop) kill -STOP "$(lab_pid "$owner")" ;;
        term) kill -TERM "$(lab_pid "$owner")" ;;
    esac
    wait $watcher || true
    reply_ns=$(awk -v t="$fault_ns" -v old="$(mac_of "$owner")" '$1 > t && $2 != old {print $1; exit}' "$LAB_DIR/watch.txt")
    if [ -n "$reply_ns" ]; then
        echo "$profile $size $kind $(( (reply_ns - fault_ns) / 1000 ))" >>"$results"
    else
        echo "$profile $size $kind none" >>"$results"
    fi
    case $kind in
        link) lab_exec "$owner" ip link set eth0 up ;;
        stop) kill -CONT "$(lab_pid "$owner")" ;;
        term) for i in $(seq 50); do kill -0 "$(lab_pid "$owner")" 2>/dev/null || break; sleep 0.1; done
              lab_heraldd "$owner" "$LAB_DIR/$owner.toml"; lab_wait_ready "$owner" >/dev/null ;;
    esac
    wait_members_alive "$size" $(seq -f 'h%g' "$size")
    # A node back from a cut or a stop holds down, then takes its VIPs back: let that pass.
    [ $kind = term ] || sleep "$(hold_down_seconds "$profile")"
    sleep 0.5
}

echo "== busy hosts: a CPU hog on every core; soak: $SOAK_SECONDS s at 5 % loss on every host, lan profile, 3 hosts"
soak_file=$(mktemp /tmp/herald-soak.XXXXXX)
(
    export LAB_PROFILE=lan
    cluster_lab 3 198.51.100.50 198.51.100.51 198.51.100.52 >/dev/null
    lab_hog_start $((SOAK_SECONDS + 120))
    owners() { for v in 198.51.100.50 198.51.100.51 198.51.100.52; do owner_of h1 $v; done | tr '\n' ' '; }
    takeovers() { for h in h1 h2 h3; do lab_ctl $h status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["gossip"]["takeovers"])'; done | awk '{s += $1} END {print s}'; }
    sleep 5
    before=$(owners)
    takeovers_before=$(takeovers)
    for h in h1 h2 h3; do lab_loss $h 5 >&2; done
    sleep "$SOAK_SECONDS"
    for h in h1 h2 h3; do lab_loss $h 0 >/dev/null; done
    after=$(owners)
    deaths=$(cat "$LAB_DIR"/h[123].log | grep -c 'msg="member dead"' || [ $? = 1 ])
    suspicions=$(cat "$LAB_DIR"/h[123].log | grep -c 'msg="member suspect"' || [ $? = 1 ])
    echo "false deaths=$deaths, VIP takeovers during the soak=$(( $(takeovers) - takeovers_before )), suspicions refuted=$suspicions, owners before: $before after: $after"
) >"$soak_file" 2>/dev/null &
soak_pid=$!
sleep 10
echo "== busy hosts: lan profile, 3 hosts, $BUSY_TRIALS link cuts and SIGSTOPs alongside the soak"
( export LAB_PROFILE=lan
  cluster_lab 3 $VIP
  for kind in link stop; do
      for t in $(seq "$BUSY_TRIALS"); do trial $kind 3 lan+hog; done
      echo "   $kind: $(grep -c "^lan+hog 3 $kind " "$results") trials"
  done )
wait "$soak_pid" || echo "   (the soak ended with status $?)"
soak=$(tail -n 1 "$soak_file")
rm -f "$soak_file"
echo "   soak: $soak"

for profile in $PROFILES; do
    for size in $SIZES; do
        echo "== $profile profile, $size hosts"
        export LAB_PROFILE=$profile
        ( cluster_lab "$size" $VIP
          for kind in link stop term; do
              for t in $(seq "$TRIALS"); do trial $kind "$size" "$profile"; done
              echo "   $kind: $(grep -c "^$profile $size $kind " "$results") trials"
          done )
    done
done

echo "== rolling restart: 3 hosts (lan), each restarted in turn, 5 rounds, a request every 10 ms"
rolling=$( export LAB_PROFILE=lan
           cluster_lab 3 $VIP >/dev/null
           wait_one_owner $VIP h1 h2 h3 >/dev/null
           rolling_restart $VIP 5 h1 h2 h3 )
echo "   $rolling"

echo
echo "================ Herald failover ($(nproc) cores) ================"
echo "time from fault to the first ARP reply from the new owner, at the client (ms)"
/usr/bin/python3 - "$results" <<'PY'
import sys, collections
rows = collections.defaultdict(list)
missing = collections.Counter()
for line in open(sys.argv[1]):
    profile, size, kind, value = line.split()
    key = (profile, int(size), kind)
    if value == "none": missing[key] += 1
    else: rows[key].append(int(value) / 1000)
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]
print(f"{'profile':<13}{'hosts':>5}  {'fault':<8}{'n':>4}{'p50':>9}{'p99':>9}{'max':>9}  missed")
for key in sorted(set(rows) | set(missing)):
    values = rows[key]
    if values:
        print(f"{key[0]:<13}{key[1]:>5}  {key[2]:<8}{len(values):>4}{pct(values, .5):>9.1f}{pct(values, .99):>9.1f}{max(values):>9.1f}  {missing[key]}")
    else:
        print(f"{key[0]:<13}{key[1]:>5}  {key[2]:<8}   0        -        -        -  {missing[key]}")
print("targets (lan): hard fault p50 <= 500 ms, p99 <= 1000 ms; SIGTERM <= 50 ms; fast: p50 <= 200 ms; lan+hog (CPU hog on every core): p50 <= 500 ms")
PY
echo "soak, CPU hog on every core (target: 0 false deaths, 0 takeovers): $soak"
echo "rolling restart (target: every request answered): $rolling"
rm -f "$results"
