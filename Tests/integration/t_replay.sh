# Replay protection that cannot partition the cluster: nothing rests on the wall clock or
# a state directory. A host killed with SIGKILL and restarted with its wall clock an hour
# behind (tools/wallclock.c; its timers stay true) is heard again at once (its new run is
# challenged and confirmed) and takes its VIP back once it is ready, as
# is one stopped with SIGTERM (listed as left); a captured packet sent to another host
# than it was meant for is refused there; and one MAC answers the VIP at the end.
source "$(dirname "$0")/lib.sh"
vip=198.51.100.50
cluster_lab 3 $vip
rejected() { lab_ctl "$1" status --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['gossip']['rejected'].get('$2', 0))"; }
# seconds_until_alive HOST: how long until h1 and h2 see HOST alive (at most 30 s).
seconds_until_alive() {
    local start i status
    start=$(date +%s%N)
    for i in $(seq 300); do
        status=$(for h in h1 h2; do lab_ctl "$h" members --json | /usr/bin/python3 -c "import json,sys
m = [m for m in json.load(sys.stdin)['members'] if m['name'] == '$1']
print(m[0]['status'] if m else 'none')"; done | sort -u)
        [ "$status" = alive ] && { echo "$(( ($(date +%s%N) - start) / 1000000 ))"; return 0; }
        sleep 0.1
    done
    fail "h1 and h2 do not see $1 alive again 30 s after its restart: $(lab_ctl h1 members | grep "^$1")"
}

# SIGKILL, then a start with the wall clock an hour behind.
status=0; lab_stop h3 KILL >/dev/null || status=$?
[ "$status" = 137 ] || fail "h3 did not die of SIGKILL: status $status"
LAB_WRAP="env LD_PRELOAD=$PWD/.build/tools/wallclock.so WALLCLOCK_OFFSET=-3600" lab_heraldd h3 "$LAB_DIR/h3.toml"
lab_wait_ready h3
grep -q "^time=$(date -u -d '-1 hour' +%Y-%m-%dT%H)" "$LAB_DIR/h3.log" || fail "h3's clock is not an hour behind: $(tail -n 1 "$LAB_DIR/h3.log")"
after_kill=$(seconds_until_alive h3)
[ "$after_kill" -le 5000 ] || fail "h3 heard again only after $after_kill ms"
owner=$(wait_one_owner $vip h1 h2 h3)
# h3 is first in the VIP's ranking (sha256 of "h3#198.51.100.50"): ready again, it takes it back.
[ "$owner" = h3 ] || fail "h3, ranked first, did not take $vip back: the owner is $owner"
pass "killed, restarted with its wall clock an hour behind: h3 alive again for h1 and h2 after $after_kill ms; one owner ($owner)"

lab_stop h3 || fail "h3 exit status $? on SIGTERM"
lab_heraldd h3 "$LAB_DIR/h3.toml"
lab_wait_ready h3
after_leave=$(seconds_until_alive h3)
[ "$after_leave" -le 5000 ] || fail "h3 heard again only after $after_leave ms"
pass "stopped with SIGTERM (left) and started again: alive after $after_leave ms"

# A packet h1 sent to h2, captured on the switch, sent to h3 instead: refused there.
capture="$LAB_DIR/h1-to-h2.pcap"
lab_spawn capture sw tcpdump -i br0 --immediate-mode -n -U -c 1 -w "$capture" 'udp and src host 198.51.100.11 and dst host 198.51.100.12 and dst port 7946'
for i in $(seq 100); do [ -s "$capture" ] && ! kill -0 "$(cat "$LAB_DIR/capture.pid")" 2>/dev/null && break; sleep 0.1; done
payload=$(/usr/bin/python3 -c 'import sys
data = open(sys.argv[1], "rb").read()[24 + 16:]      # global and record headers
print(data[14 + 20 + 8:].hex())' "$capture")
[ -n "$payload" ] || fail "no packet from h1 to h2 captured"
before=$(rejected h3 gossip_wrong_destination)
lab_exec c /usr/bin/python3 -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(bytes.fromhex(sys.argv[1]), ("198.51.100.13", 7946))' "$payload"
for i in $(seq 50); do [ "$(rejected h3 gossip_wrong_destination)" -gt "$before" ] && break; sleep 0.1; done
[ "$(rejected h3 gossip_wrong_destination)" -gt "$before" ] || fail "h3 did not refuse h1's packet to h2 as meant for another node"
pass "a packet h1 sealed for h2, replayed to h3, is refused there (gossip_wrong_destination)"

[ "$(arping_macs c $vip 5 | sort -u | wc -l)" = 1 ] || fail "not one MAC for $vip: $(arping_macs c $vip 5 | sort -u)"
pass "one MAC answers $vip: $(arping_macs c $vip 1)"
