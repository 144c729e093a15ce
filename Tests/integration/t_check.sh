# Health checks gate a standalone VIP (no [gossip]): failing at start, the VIP is not
# answered; after `rise` passes it is; after `fall` failures it is not; and back again.
# The check is a command testing for a file the test creates and removes.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2
up="$LAB_DIR/service-up"
cat >"$LAB_DIR/herald.toml" <<TOML
[node]
interfaces = ["eth0"]
[[vip]]
name = "smb"
address = "198.51.100.50"
check = { command = "test -e $up", interval = "200ms", timeout = "1s", rise = 2, fall = 2 }
TOML
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1

# answered_within SECONDS: whether c gets a reply for the VIP within SECONDS (polling).
answered_within() {
    local i
    for i in $(seq $(( $1 * 5 ))); do
        [ -n "$(arping_macs c 198.51.100.50 1)" ] && return 0
        sleep 0.2
    done
    return 1
}
# silent_within SECONDS: whether c's requests stop being answered within SECONDS.
silent_within() {
    local i
    for i in $(seq $(( $1 * 5 ))); do
        [ -z "$(arping_macs c 198.51.100.50 2)" ] && return 0
        sleep 0.2
    done
    return 1
}

[ -z "$(arping_macs c 198.51.100.50 3)" ] || fail "answered while the check has never passed"
lab_ctl h1 vips | grep -s >/dev/null "198.51.100.50 .*not-eligible" || fail "vips: $(lab_ctl h1 vips)"
pass "failing check: the standalone VIP is not answered (vips says not-eligible)"

touch "$up"
answered_within 10 || fail "not answered 10 s after the check started passing"
grep -s >/dev/null 'msg="health check passing".*vip=198.51.100.50' "$LAB_DIR/h1.log" || fail "no 'health check passing' line"
[ "$(arping_macs c 198.51.100.50 1)" = 02:00:00:00:00:0b ] || fail "not answered by h1"
pass "after rise passes the VIP is answered"

rm "$up"
silent_within 10 || fail "still answered 10 s after the check started failing"
grep -s >/dev/null 'msg="health check failing".*vip=198.51.100.50' "$LAB_DIR/h1.log" || fail "no 'health check failing' line"
pass "after fall failures it is not"

touch "$up"
answered_within 10 || fail "not answered again after the check passed again"
pass "and back once the check passes again"
