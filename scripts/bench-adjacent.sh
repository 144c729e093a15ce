#!/usr/bin/env bash
# Adjacent-mode figure for `make bench`: TRIALS times, unplug the node a Service's
# traffic goes to, and time from the cut to the first HTTP answer from another node at
# a client that keeps asking (Tests/support/http-watch.py). Detection is by the adjacent
# hosts' ARP probes: 3 misses at node.target_probe_interval, BENCH_TARGET_PROBE_INTERVAL
# (default "100ms", the default of the setting).
set -euo pipefail
cd "$(dirname "$0")/.."
source Tests/integration/lib.sh

TRIALS=${BENCH_TRIALS:-20}
export LAB_TARGET_PROBE_INTERVAL=${BENCH_TARGET_PROBE_INTERVAL:-100ms}
results=$(mktemp /tmp/herald-adjacent.XXXXXX)
trap 'rm -f "$results"; lab_cleanup' EXIT
lab_init "hbadj$$"
lab_adjacent >/dev/null
wait_members_alive 2 a1 a2
kubectl apply -f Tests/support/manifests/web.yaml >/dev/null
ip=""
for i in $(seq 100); do ip=$(external web); [ -n "$ip" ] && break; sleep 0.1; done
[ -n "$ip" ] || { echo "web got no address"; exit 1; }
target=""
for i in $(seq 100); do target=$(reach "$ip"); [ -n "$target" ] && break; sleep 0.1; done
echo "== adjacent mode: $ip, owner $(owner_of a1 "$ip"), target $target, target_probe_interval $LAB_TARGET_PROBE_INTERVAL; $TRIALS trials of cutting the target"
for t in $(seq "$TRIALS"); do
    lab_spawn watch c /usr/bin/python3 Tests/support/http-watch.py "$ip" 3
    # The client is asking (its first answer is logged) before the cut.
    for i in $(seq 50); do [ -s "$LAB_DIR/watch.log" ] && break; sleep 0.02; done
    fault_ns=$(date +%s%N)
    lab_cut "$target"
    for i in $(seq 50); do kill -0 "$(cat "$LAB_DIR/watch.pid")" 2>/dev/null || break; sleep 0.1; done
    answer_ns=$(awk -v t="$fault_ns" -v old="$target" '$1 > t && $2 != old {print $1; exit}' "$LAB_DIR/watch.log")
    echo "${answer_ns:+$(( (answer_ns - fault_ns) / 1000 ))}" | sed 's/^$/none/' >>"$results"
    lab_uncut "$target"
    # Traffic returns only once the node answered three probes again.
    wait_reach "$ip" "$target" 20 || { echo "c does not reach $target at $ip again"; exit 1; }
done

echo
echo "================ Herald adjacent mode ($(nproc) cores) ================"
echo "time from cutting the target node to the client's first answer from another node (ms)"
/usr/bin/python3 - "$results" <<'PY'
import sys
values = [int(v) / 1000 for v in open(sys.argv[1]).read().split() if v != "none"]
missed = sum(1 for v in open(sys.argv[1]).read().split() if v == "none")
def pct(p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]
if values:
    print(f"{'n':>4}{'p50':>9}{'p99':>9}{'min':>9}{'max':>9}  missed")
    print(f"{len(values):>4}{pct(.5):>9.1f}{pct(.99):>9.1f}{min(values):>9.1f}{max(values):>9.1f}  {missed}")
else:
    print(f"no trial recovered ({missed} missed)")
print("target: p50 <= 500 ms")
PY
