# A rolling restart loses nothing: three gossip hosts, a client asking for the VIP every
# 10 ms (arpblast asks), and each host stopped with SIGTERM (exit status 0), started again
# and awaited until the others see it alive, one after another, twice over. Every request
# must be answered (within 500 ms).
source "$(dirname "$0")/lib.sh"
vip=198.51.100.50
cluster_lab 3 $vip
wait_one_owner $vip h1 h2 h3 >/dev/null
lab_spawn asks c "$ARPBLAST" eth0 asks $vip 10
sleep 1
for round in 1 2; do
    for host in h1 h2 h3; do
        lab_stop "$host" || fail "$host: exit status $(cat "$LAB_DIR/$host.exit") on SIGTERM"
        lab_heraldd "$host" "$LAB_DIR/$host.toml"
        lab_wait_ready "$host"
        wait_members_alive 3 h1 h2 h3
    done
    pass "round $round: h1, h2, h3 restarted one after another"
done
sleep 1
kill -INT "$(cat "$LAB_DIR/asks.pid")"
for i in $(seq 50); do grep -q '^asks=' "$LAB_DIR/asks.log" && break; sleep 0.1; done
summary=$(grep '^asks=' "$LAB_DIR/asks.log") || fail "the client did not report: $(cat "$LAB_DIR/asks.log")"
echo "$summary"
unanswered=$(echo "$summary" | sed -n 's/.* unanswered=\([0-9]*\) .*/\1/p')
[ "$unanswered" = 0 ] || fail "requests unanswered during the rolling restart: $(cat "$LAB_DIR/asks.log")"
pass "rolling restart, twice over: $(echo "$summary" | sed -n 's/^asks=\([0-9]*\) answered=\([0-9]*\).*/\2 of \1/p') requests answered"
