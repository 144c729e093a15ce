# A rolling restart loses nothing: three gossip hosts, a client asking for the VIP every
# 10 ms (arpblast asks), and each host stopped with SIGTERM (exit status 0), started again
# and awaited until the others see it alive, one after another, twice over. Every request
# must be answered (within 500 ms).
source "$(dirname "$0")/lib.sh"
vip=198.51.100.50
cluster_lab 3 $vip
wait_one_owner $vip h1 h2 h3 >/dev/null
# Not in $(...): lab_stop waits for heraldd, which only this shell can wait for.
rolling_restart $vip 2 h1 h2 h3 >"$LAB_DIR/rolling.out"
summary=$(cat "$LAB_DIR/rolling.out")
echo "$summary"
[ "$(echo "$summary" | sed -n 's/.* unanswered=\([0-9]*\) .*/\1/p')" = 0 ] \
    || fail "requests unanswered during the rolling restart: $(grep unanswered: "$LAB_DIR/asks.log")"
pass "rolling restart of h1, h2, h3, twice over: $(echo "$summary" | sed -n 's/^asks=\([0-9]*\) answered=\([0-9]*\).*/\2 of \1/p') requests answered"
