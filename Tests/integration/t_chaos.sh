# A short seeded chaos run (scripts/chaos.sh): five hosts, six VIPs, a client asking for
# every VIP every 20 ms, and about ten random faults in 60 s (kill -9, two hosts killed,
# SIGSTOP, a switch port down and up, a partition, a reload). Passes within loose bounds:
# every fault recovered within 3 s, two MACs for one VIP never longer than 1 s outside a
# partition nor 3 s after one heals, converged, no unexpected death, every exit status 0.
# The figures against the goals come from the 300 s run in make bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(bash scripts/chaos.sh 60 14 --check) || { echo "$out"; echo "FAIL: the chaos run is outside its bounds"; exit 1; }
echo "$out"
echo "ok: $(echo "$out" | grep -c '^unanswered') fault kinds recovered, $(echo "$out" | sed -n 's/^two MACs answering one VIP, outside partitions, longest: \([0-9]* ms\).*/\1/p') of two MACs outside partitions"
