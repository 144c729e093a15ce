# Common setup for integration tests: strict mode, the lab, and assertions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lab.sh

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# Starts a lab named after the test (unique per run) and cleans it up however we exit.
test_lab() {
    lab_init "ht$(basename "$0" .sh | tr -cd 'a-z0-9' | cut -c1-8)$$"
    trap lab_cleanup EXIT
}

# one_host_lab ADDRESS...: host h1 (02:00:00:00:00:0b) and client c on one bridge, and
# heraldd on h1, ready, answering for ADDRESS...
one_host_lab() {
    test_lab
    lab_host h1 11
    lab_host c 2
    lab_vip_config "$@"
    lab_heraldd h1 "$LAB_DIR/herald.toml"
    lab_wait_ready h1
}

# arping_macs HOST IP COUNT: the MAC of every reply, one per line (Habets arping).
arping_macs() {
    lab_exec "$1" arping -i eth0 -c "$3" -W 0.2 "$2" 2>/dev/null | sed -n 's/^.* bytes from \([0-9a-f:]*\) .*/\1/p' || true
}

# ndisc_mac HOST IP: the target link-layer address ndisc6 learns, or nothing.
ndisc_mac() {
    lab_exec "$1" ndisc6 -1 -r 3 -w 300 "$2" "${3:-eth0}" 2>/dev/null | sed -n 's/^Target link-layer address: //p' | tr 'A-F' 'a-f' || true
}

# counter HOST JSON-PATH: a number from `heraldctl status --json`, summed over links.
counter() {
    lab_ctl "$1" status --json | /usr/bin/python3 -c '
import json, sys
status = json.load(sys.stdin)
kind, key = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
total = 0
for link in status["links"]:
    values = link["counters"][kind]
    total += sum(v for k, v in values.items() if key is None or k.startswith(key)) if isinstance(values, dict) else values
print(total)' "${@:2}"
}

# Waits (at most 30 s) until HOST's counters stop changing for half a second: the daemon
# has worked through whatever was queued.
wait_settled() {
    local before after i
    before=$(lab_ctl "$1" status --json)
    for i in $(seq 60); do
        sleep 0.5
        after=$(lab_ctl "$1" status --json | sed 's/"uptimeSeconds":[0-9]*//')
        [ "$after" = "$before" ] && return 0
        before=$after
    done
    fail "counters of $1 still changing after 30 s"
}
