# Health checks gate a standalone VIP (no [gossip]): failing at start, the VIP is not
# answered; after `rise` passes it is; after `fall` failures it is not; and back again.
# The check is a command testing for a file the test creates and removes; a failing run
# says why in the log. Commands run as node.check_user ("nobody" here; the package's
# herald-check under the unit, t_systemd_boot) with nothing of heraldd's: no capability,
# real-time or nice limit, descriptor, environment variable, or access to its key and
# control socket; heraldd itself can switch to that user and to nobody else (root here).
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2
# The check user may pass through the lab directory but not list it; outputs go to out/.
chmod 711 "$LAB_DIR"
mkdir -m 1777 "$LAB_DIR/out"
up="$LAB_DIR/out/service-up"
out="$LAB_DIR/out"
echo secret >"$LAB_DIR/secret.key"
chmod 600 "$LAB_DIR/secret.key"
cat >"$LAB_DIR/herald.toml" <<TOML
[node]
interfaces = ["eth0"]
check_user = "nobody"
[[vip]]
name = "smb"
address = "198.51.100.50"
check = { command = "test -e $up || { echo 'smb is down' >&2; exit 3; }", interval = "200ms", timeout = "1s", rise = 2, fall = 2 }
[[vip]]
name = "hung"
address = "198.51.100.51"
check = { command = "r=$out/hung.\$\$; exec 2>\$r.err; id -u >\$r.id; env >\$r.env; grep -E '^(Cap(Inh|Prm|Eff|Amb)|NoNewPrivs)' /proc/self/status >\$r.caps; grep -E '^Max (realtime priority|nice priority)' /proc/self/limits >\$r.limits; ls -l /proc/\$\$/fd >\$r.fds; cat $LAB_DIR/secret.key >\$r.key; /usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"$LAB_DIR/h1.sock\")' 2>\$r.control || echo refused >>\$r.control; touch \$r.done; sleep 307 & sleep 306", interval = "700ms", timeout = "500ms" }
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
grep -s >/dev/null 'msg="health check failed: exit status 3: smb is down".*vip=198.51.100.50' "$LAB_DIR/h1.log" \
    || fail "no reason for the failing check in the log: $(grep 'health check' "$LAB_DIR/h1.log" | head -n 3)"
[ "$(grep -c 'health check failed: exit status 3' "$LAB_DIR/h1.log")" -le 2 ] || fail "failed runs are not rate-limited in the log"
lab_ctl h1 explain smb | grep -s >/dev/null 'health check not passing (last run: exit status 3: smb is down)' \
    || fail "explain does not say why: $(lab_ctl h1 explain smb)"
pass "failing check: the standalone VIP is not answered; the log and explain say 'exit status 3: smb is down'"

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

# The "hung" check never finishes within its 500 ms: each run is killed with its whole
# process group (no orphaned sleeps piling up) and logged as a timeout.
sleeps() { grep -lx 'sleep.30[67].' /proc/[0-9]*/cmdline 2>/dev/null | wc -l; }
sleep 3
[ "$(sleeps)" -le 2 ] || fail "$(sleeps) check processes left running after timeouts (not killed as a group)"
grep -s >/dev/null 'msg="health check failed: timed out after 500ms".*vip=198.51.100.51' "$LAB_DIR/h1.log" \
    || fail "no timeout in the log: $(grep 'vip=198.51.100.51' "$LAB_DIR/h1.log" | head -n 3)"
pass "a hung check is killed with its children after its timeout, and the log says so"

# What one run that got through its probes (each writes its own files, marked done before
# it sleeps) saw.
done_run=$(ls "$out"/hung.*.done 2>/dev/null | head -n 1)
[ -n "$done_run" ] || fail "no run of the hung check got through its probes within its 500 ms"
run=${done_run%.done}
nobody=$(id -u nobody)
[ "$(cat "$run.id")" = "$nobody" ] || fail "the check ran as uid $(cat "$run.id"), not nobody ($nobody)"
grep -q '^HERALD_VIP=198.51.100.51$' "$run.env" || fail "no HERALD_VIP in the check's environment: $(cat "$run.env")"
! grep -q HERALD_TEST_SECRET "$run.env" || fail "heraldd's environment reached the check"
[ "$(grep '^Cap' "$run.caps" | awk '{print $2}' | sort -u)" = 0000000000000000 ] || fail "the check has capabilities: $(cat "$run.caps")"
grep -qE '^NoNewPrivs:\s+1$' "$run.caps" || fail "the check may gain privileges: $(cat "$run.caps")"
[ "$(awk '{print $4, $5}' "$run.limits" | sort -u)" = "0 0" ] || fail "the check inherits priority limits: $(cat "$run.limits")"
# Its own 0-2 (and dash's copy of stdin, fd 10) only: none of heraldd's sockets, pipes or eventfds.
! grep -qE 'socket:|anon_inode:' "$run.fds" || fail "the check inherited descriptors: $(cat "$run.fds")"
[ ! -s "$run.key" ] && grep -q 'Permission denied' "$run.err" || fail "the check could read heraldd's key: $(cat "$run.key" "$run.err")"
grep -q '^refused$' "$run.control" || fail "the check could connect to the control socket: $(cat "$run.control")"
pass "the check runs as nobody with PATH and HERALD_VIP only, no capabilities or priority limits, no descriptors; it cannot read the key or reach the control socket"

# heraldd's own identity changes are fenced to the check user: every thread carries the
# filter, and the filter (built into a small program here) refuses any other identity.
pid=$(lab_pid h1)
for status in /proc/"$pid"/task/*/status; do
    grep -qE '^Seccomp_filters:\s+[1-9]' "$status" || fail "thread $status without the identity fence: $(grep Seccomp "$status")"
done
cc -O2 -Wall -I Sources/CConfine/include -o "$LAB_DIR/pin-check" Tests/support/pin-check.c Sources/CConfine/cconfine.c
results=$("$LAB_DIR/pin-check" "$nobody" "$(id -g nobody)" | tr '\n' ' ')
expected="setuid-root refused setresuid-root refused setresuid-mixed refused setreuid refused setfsuid refused setgid-root refused setresgid-other refused setgroups-some refused setgroups-none ok setresgid-pinned ok setresuid-pinned ok uid $nobody gid $(id -g nobody) "
[ "$results" = "$expected" ] || fail "the identity fence: $results"
pass "every thread of heraldd is fenced ($(ls /proc/"$pid"/task | wc -l) threads); the fence allows only the check user: $results"
