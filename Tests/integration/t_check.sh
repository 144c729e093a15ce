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
[[vip]]
name = "hung"
address = "198.51.100.51"
check = { command = "env >$LAB_DIR/hung.env; grep -E '^Cap(Inh|Amb)' /proc/self/status >$LAB_DIR/hung.caps; ls -l /proc/\$\$/fd >$LAB_DIR/hung.fds; sleep 307 & sleep 306", interval = "300ms", timeout = "200ms" }
TOML
# Nothing of heraldd's environment may reach a check.
HERALD_TEST_SECRET=do-not-pass lab_heraldd h1 "$LAB_DIR/herald.toml"
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

# The "hung" check never finishes within its 200 ms: each run is killed with its whole
# process group (no orphaned sleeps piling up), with PATH and HERALD_VIP only, no
# inheritable or ambient capabilities (under the unit heraldd's CAP_NET_RAW is ambient;
# here heraldd is root, whose commands run as root) and no descriptor of heraldd's.
sleeps() { grep -lx 'sleep.30[67].' /proc/[0-9]*/cmdline 2>/dev/null | wc -l; }
sleep 3
[ "$(sleeps)" -le 2 ] || fail "$(sleeps) check processes left running after timeouts (not killed as a group)"
grep -q '^HERALD_VIP=198.51.100.51$' "$LAB_DIR/hung.env" || fail "no HERALD_VIP in the check's environment: $(cat "$LAB_DIR/hung.env")"
! grep -q HERALD_TEST_SECRET "$LAB_DIR/hung.env" || fail "heraldd's environment reached the check"
[ "$(awk '{print $2}' "$LAB_DIR/hung.caps" | sort -u)" = 0000000000000000 ] || fail "the check inherits capabilities: $(cat "$LAB_DIR/hung.caps")"
# Its own 0-2 (and dash's copy of stdin, fd 10) only: none of heraldd's sockets, pipes or eventfds.
! grep -qE 'socket:|pipe:|anon_inode:' "$LAB_DIR/hung.fds" || fail "the check inherited descriptors: $(cat "$LAB_DIR/hung.fds")"
pass "a hung check is killed with its children; it sees PATH and HERALD_VIP only, no inherited capabilities, no descriptors"
