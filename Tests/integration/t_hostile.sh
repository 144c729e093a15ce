# Hostile input against running daemons: junk and forged gossip (the cluster runs with
# insecure = true, so anyone on the segment can send it), a flood of malformed frames with
# ever different fields, slow clients on the metrics port and the control socket, reloads
# with absurd values and deep nesting, and a join peer whose DNS server never answers.
# Afterwards every daemon still runs, still answers, its watchdog pings never stopped, its
# memory grew little, and it logged a bounded number of lines.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host h2 12; lab_host h3 13; lab_host x 66; lab_host c 2
vip=198.51.100.50
config() { # config HOST N JOIN...
    local host=$1 n=$2 join=""
    shift 2
    for peer in "$@"; do join="$join\"$peer\", "; done
    printf '[node]\ninterfaces = ["eth0"]\n\n[gossip]\nbind = "198.51.100.%s:7946"\njoin = [%s]\ninsecure = true\ncluster = "lab"\n\n[metrics]\nlisten = "127.0.0.1:9473"\n\n[[vip]]\nname = "web"\naddress = "%s"\n' \
        "$n" "${join%, }" "$vip" >"$LAB_DIR/$host.toml"
}
config h1 11 198.51.100.12:7946
config h2 12 198.51.100.11:7946
# h1 reports to a notify socket with a 2 s watchdog, as systemd would have it.
/usr/bin/python3 Tests/integration/listen_datagrams.py "$LAB_DIR/notify.sock" "$LAB_DIR/notify.txt" 240 &
echo $! >"$LAB_DIR/listener.pid"
for i in $(seq 50); do [ -S "$LAB_DIR/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$LAB_DIR/notify.sock" WATCHDOG_USEC=2000000 lab_heraldd h1 "$LAB_DIR/h1.toml"
lab_heraldd h2 "$LAB_DIR/h2.toml"
lab_wait_ready h1; lab_wait_ready h2
wait_members_alive 2 h1 h2
owner=$(wait_one_owner $vip h1 h2)
grep -q 'gossip is neither encrypted nor authenticated (insecure = true)' "$LAB_DIR/h1.log" || fail "no warning about insecure gossip"
pass "insecure cluster up (a warning at start), $owner owns $vip"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$(lab_pid "$1")/status"; }
pings() { count '^WATCHDOG=1' "$LAB_DIR/notify.txt"; }
rss1=$(rss h1)
lines1=$(wc -l <"$LAB_DIR/h1.log")
pings1=$(pings)
started=$(date +%s)
attack() { lab_exec x /usr/bin/python3 Tests/support/gossip-attack.py 198.51.100.11:7946 lab "$@"; }

attack junk 20000
attack suspect h1 $((1 << 48))
attack suspect h1 18446744073709551615
attack replay
attack v1
lab_exec x "$ARPBLAST" eth0 garbage 200000 42 >/dev/null
# A frame flood with random hardware and protocol types: every one a different error value.
pass "sent junk, a suspect at the highest incarnation and above it, a replay, a 0.1 packet and 200,000 malformed frames"

# Slow clients: a byte every 1.4 s on the metrics port and on the control socket, both at
# once, while the test keeps scraping and asking.
lab_spawn slow-metrics h1 /usr/bin/python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 9473))
for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n":
    s.send(bytes([byte])); time.sleep(1.4)'
lab_spawn slow-control h1 /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
for byte in b"status":
    s.send(bytes([byte])); time.sleep(1.4)' "$LAB_DIR/h1.sock"
before=$(pings)
for i in $(seq 8); do
    lab_exec h1 curl -sf --max-time 2 http://127.0.0.1:9473/metrics >/dev/null || fail "a scrape failed while a slow client was connected"
    lab_ctl h1 status >/dev/null || fail "heraldctl status failed while a slow client was connected"
    sleep 1
done
[ $(( $(pings) - before )) -ge 6 ] || fail "watchdog pings stalled during slow clients: $(( $(pings) - before )) in 8 s"
pass "slow clients on metrics and control: scrapes and status answered, $(( $(pings) - before )) watchdog pings in 8 s"

# Reloads with absurd values and deep nesting: refused, the running config kept.
cp "$LAB_DIR/h1.toml" "$LAB_DIR/h1.good"
printf '\n[[vip]]\nname = "bad"\naddress = "198.51.100.51"\ncheck = { tcp = "127.0.0.1:1", interval = "9999999999999h" }\n' >>"$LAB_DIR/h1.toml"
kill -HUP "$(lab_pid h1)"
for i in $(seq 50); do [ "$(count 'msg="reload failed' "$LAB_DIR/h1.log")" -ge 1 ] && break; sleep 0.1; done
{ cat "$LAB_DIR/h1.good"; printf 'deep = '; head -c 100000 /dev/zero | tr '\0' '['; echo; } >"$LAB_DIR/h1.toml"
kill -HUP "$(lab_pid h1)"
for i in $(seq 50); do [ "$(count 'msg="reload failed' "$LAB_DIR/h1.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(count 'msg="reload failed' "$LAB_DIR/h1.log")" = 2 ] || fail "bad reloads not refused: $(tail -n 5 "$LAB_DIR/h1.log")"
grep -q 'vip.check.interval' "$LAB_DIR/h1.log" || fail "the absurd interval is not named"
grep -q 'nested more than 32 deep' "$LAB_DIR/h1.log" || fail "the nesting is not named"
cp "$LAB_DIR/h1.good" "$LAB_DIR/h1.toml"
pass "reloads with a 9999999999999h interval and 100,000 nested arrays refused, the running config kept"

# A third host whose only named join peer is behind a DNS server that never answers:
# resolution happens off the gossip thread, so it joins by the address it has and stays.
mkdir -p "/etc/netns/$LAB-h3"
lab_on_cleanup rm -rf "/etc/netns/$LAB-h3"
printf 'nameserver 198.51.100.254\noptions timeout:5 attempts:2\n' >"/etc/netns/$LAB-h3/resolv.conf"
config h3 13 peers.herald.invalid:7946 198.51.100.11:7946
lab_heraldd h3 "$LAB_DIR/h3.toml"
lab_wait_ready h3
# The made-up members are in the views too: check that the three real hosts see each other.
hosts_alive() {
    local host i
    for host in h1 h2 h3; do
        for i in $(seq 100); do
            lab_ctl "$host" members --json | /usr/bin/python3 -c 'import json,sys
alive = {m["name"] for m in json.load(sys.stdin)["members"] if m["status"] == "alive"}
sys.exit(0 if {"h1", "h2", "h3"} <= alive else 1)' && break
            sleep 0.2
        done
        [ "$i" != 100 ] || fail "$host does not see h1, h2 and h3 alive: $(lab_ctl "$host" members | grep -E '^h[123] ')"
    done
}
hosts_alive
sleep 3
hosts_alive
grep -q 'cannot resolve join peers yet: peers.herald.invalid:7946' "$LAB_DIR/h3.log" || fail "h3 did not say which peer it cannot resolve"
pass "a join peer behind an unanswering DNS server: h3 joined by address and stays alive"

final=$(wait_one_owner $vip h1 h2 h3)
pass "after all that, one owner: $final answers $vip"

# Last, as it poisons the views of an insecure cluster (docs/gossip.md): 3000 made-up
# members. Each host keeps at most its cap of 2048, and keeps running.
attack members 3000
sleep 2
for host in h1 h2 h3; do kill -0 "$(lab_pid "$host")" 2>/dev/null || fail "heraldd on $host died: $(tail -n 20 "$LAB_DIR/$host.log")"; done
rss2=$(rss h1)
lines2=$(wc -l <"$LAB_DIR/h1.log")
[ $(( rss2 - rss1 )) -lt 20000 ] || fail "RSS of h1 grew from $rss1 kB to $rss2 kB"
[ $(( lines2 - lines1 )) -lt 100 ] || fail "h1 logged $(( lines2 - lines1 )) lines under attack: $(tail -n 20 "$LAB_DIR/h1.log")"
[ "$(count 'rejected gossip' "$LAB_DIR/h1.log")" -le 6 ] || fail "rejected gossip logged $(count 'rejected gossip' "$LAB_DIR/h1.log") times"
status=$(lab_ctl h1 status --json)
reasons=$(echo "$status" | /usr/bin/python3 -c 'import json,sys; print(len({r for l in json.load(sys.stdin)["links"] for r in l["counters"]["dropped"]}))')
[ "$reasons" -le 30 ] || fail "$reasons distinct drop counters (expected a fixed set)"
rejected=$(echo "$status" | /usr/bin/python3 -c 'import json,sys; r = json.load(sys.stdin)["gossip"]["rejected"]; print(" ".join(f"{k}={v}" for k, v in sorted(r.items())))')
# Junk is dropped by the socket's kernel filter (no magic), counted all the same.
for reason in gossip_dropped_by_kernel gossip_incarnation_out_of_range gossip_replayed gossip_unsupported_version; do
    [[ "$rejected" == *"$reason="* ]] || fail "no rejection counted as $reason: $rejected"
done
lab_ctl h1 members --json | /usr/bin/python3 -c 'import json,sys; n = len(json.load(sys.stdin)["members"]); sys.exit(0 if n <= 2049 else 1)' \
    || fail "h1 keeps more members than its cap"
elapsed=$(( $(date +%s) - started ))
[ $(( $(pings) - pings1 )) -ge $(( elapsed - 3 )) ] || fail "$(( $(pings) - pings1 )) watchdog pings in $elapsed s: they stopped at some point"
macs=$(arping_macs c $vip 3 | sort -u | tr '\n' ' ')
[ -n "$macs" ] || fail "$vip not answered after the member flood"
pass "all alive, $vip answered by $macs; h1: $(( $(pings) - pings1 )) watchdog pings in $elapsed s, RSS $rss1 -> $rss2 kB, $(( lines2 - lines1 )) log lines, $reasons drop counters, rejected: $rejected"
