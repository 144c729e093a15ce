# Live reload (SIGHUP): 20 reloads while a client asks for an unchanged VIP every 10 ms
# miss no answer; added VIPs (also on a new interface) start and removed ones stop; a
# broken or restart-only config is refused, logged with FILE:LINE, counted, and the
# running config keeps answering.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2
lab_host h1 11 1 eth1; lab_host c2 2 1
lab_exec h1 ip addr add 203.0.113.11/24 dev eth1
lab_exec c2 ip addr add 203.0.113.2/24 dev eth0
config=$LAB_DIR/herald.toml
# write_config INTERFACES VIP-TABLES: the unchanged VIPs plus whatever is passed.
write_config() {
    cat >"$config.new" <<TOML
[node]
interfaces = [$1]
[metrics]
listen = "127.0.0.1:9473"
[[vip]]
name = "steady4"
address = "198.51.100.50"
[[vip]]
name = "steady6"
address = "2001:db8:100::50"
$2
TOML
    mv "$config.new" "$config"
}
extra4='[[vip]]
name = "extra4"
address = "198.51.100.52"'
extra_eth1='[[vip]]
name = "other-lan"
address = "203.0.113.50"'
write_config '"eth0"' ""
lab_heraldd h1 "$config"
lab_wait_ready h1
reloaded() { count 'msg="config reloaded' "$LAB_DIR/h1.log"; }
failed() { count 'msg="reload failed' "$LAB_DIR/h1.log"; }
wait_count() { # wait_count FUNCTION N
    local i
    for i in $(seq 100); do [ "$($1)" -ge "$2" ] && return 0; sleep 0.05; done
    fail "$1 stayed at $($1), want $2: $(tail -5 "$LAB_DIR/h1.log")"
}

# One request every 10 ms for the whole run; every one must be answered.
lab_spawn steady c arping -i eth0 -W 0.01 -c 1200 198.51.100.50
sleep 0.5
for n in $(seq 20); do
    case $((n % 4)) in
        1) write_config '"eth0"' "$extra4" ;;
        2) write_config '"eth0", "eth1"' "$extra4
$extra_eth1" ;;
        3) write_config '"eth0", "eth1"' "$extra_eth1" ;;
        0) write_config '"eth0"' "" ;;
    esac
    kill -HUP "$(lab_pid h1)"
    wait_count reloaded "$n"
    if [ "$n" = 2 ]; then
        # New VIPs are probed for 150 ms before they are answered.
        for i in $(seq 30); do [ -n "$(arping_macs c 198.51.100.52 1)" ] && break; done
        for i in $(seq 30); do [ -n "$(arping_macs c2 203.0.113.50 1)" ] && break; done
        [ "$(arping_macs c 198.51.100.52 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "added VIP not answered"
        [ "$(arping_macs c2 203.0.113.50 2 | sort -u)" = 02:00:00:00:01:0b ] || fail "VIP on the added interface not answered"
        pass "added VIPs answered, also on a newly added interface"
    elif [ "$n" = 4 ]; then
        [ -z "$(arping_macs c 198.51.100.52 2)" ] || fail "removed VIP still answered"
        [ -z "$(arping_macs c2 203.0.113.50 2)" ] || fail "VIP of the removed interface still answered"
        pass "removed VIPs and the removed interface fall silent"
    else
        sleep 0.25
    fi
done
for i in $(seq 300); do kill -0 "$(lab_pid steady)" 2>/dev/null || break; sleep 0.1; done
summary=$(grep 'packets transmitted' "$LAB_DIR/steady.log") || fail "arping gave no summary: $(tail -3 "$LAB_DIR/steady.log")"
sent=$(echo "$summary" | awk '{print $1}')
received=$(echo "$summary" | awk '{print $4}')
[ "$sent" -ge 1000 ] && [ "$received" = "$sent" ] || fail "unchanged VIP missed answers across 20 reloads: $summary"
pass "20 reloads, $sent requests every 10 ms to an unchanged VIP, $received answered"
[ "$(ndisc_mac c 2001:db8:100::50)" = 02:00:00:00:00:0b ] || fail "unchanged IPv6 VIP lost"

# A broken file: refused with FILE:LINE, counted, and the running config still answers.
printf '[node]\ninterfaces = ["eth0"]\nintervals = 3\n' >"$config"
kill -HUP "$(lab_pid h1)"
wait_count failed 1
grep -s >/dev/null "$config:3: node.intervals: unknown key" "$LAB_DIR/h1.log" || fail "no FILE:LINE error: $(tail -5 "$LAB_DIR/h1.log")"
[ "$(arping_macs c 198.51.100.50 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "broken reload stopped the running config"
# A change that needs a restart: refused the same way.
write_config '"eth0"' ""
sed -i 's/9473/9474/' "$config"
kill -HUP "$(lab_pid h1)"
wait_count failed 2
grep -s >/dev/null "metrics.listen: changed from 127.0.0.1:9473 to 127.0.0.1:9474; this takes a restart" "$LAB_DIR/h1.log" || fail "restart-only change not explained"
metrics=$(lab_exec h1 curl -sf http://127.0.0.1:9473/metrics)
echo "$metrics" | has -xF 'herald_config_reloads_total{result="ok"} 20' || fail "ok reloads not counted: $(echo "$metrics" | grep reloads)"
echo "$metrics" | has -xF 'herald_config_reloads_total{result="failed"} 2' || fail "failed reloads not counted"
[ "$(arping_macs c 198.51.100.50 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "refused reload stopped the running config"
pass "broken and restart-only configs are refused with FILE:LINE, counted, and nothing is lost"
