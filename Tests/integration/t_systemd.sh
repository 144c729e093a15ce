# What systemd sees: the unit's hardening score, READY=1/STOPPING=1 on the notify socket,
# native journal fields, and the unit's privilege model (unprivileged, CAP_NET_RAW only).
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2
lab_vip_config 198.51.100.50

# 2.2: CAP_SETUID/CAP_SETGID and capset (0.5 of it) start health checks as herald-check
# without any capability; heraldd fences them to that user with a seccomp filter of its
# own, which systemd-analyze cannot see (t_check tests the fence).
score=$(systemd-analyze security --offline=yes systemd/herald.service 2>/dev/null | sed -n 's/.*Overall exposure level for herald.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] && /usr/bin/python3 -c "import sys; sys.exit(0 if float('$score') <= 2.2 else 1)" || fail "exposure $score > 2.2"
pass "systemd-analyze exposure $score"
# herald-sync runs git and sops on what it fetches, as root: confined all the same.
score=$(systemd-analyze security --offline=yes systemd/herald-sync.service 2>/dev/null | sed -n 's/.*Overall exposure level for herald-sync.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] && /usr/bin/python3 -c "import sys; sys.exit(0 if float('$score') <= 2.3 else 1)" || fail "herald-sync exposure $score > 2.3"
pass "systemd-analyze exposure of herald-sync.service $score"

# sd_notify: READY=1 only once the link announces (the VIP answers by then), STOPPING=1 on SIGTERM.
/usr/bin/python3 Tests/integration/listen_datagrams.py "$LAB_DIR/notify.sock" "$LAB_DIR/notify.txt" 40 &
echo $! >"$LAB_DIR/listener.pid"
for i in $(seq 50); do [ -S "$LAB_DIR/notify.sock" ] && break; sleep 0.1; done
# WATCHDOG_USEC as systemd sets it for WatchdogSec=2s.
NOTIFY_SOCKET="$LAB_DIR/notify.sock" WATCHDOG_USEC=2000000 lab_heraldd h1 "$LAB_DIR/herald.toml"
for i in $(seq 100); do grep -s >/dev/null READY=1 "$LAB_DIR/notify.txt" && break; sleep 0.1; done
grep -s >/dev/null '^READY=1' "$LAB_DIR/notify.txt" || fail "no READY=1: $(cat "$LAB_DIR/notify.txt" 2>&1)"
[ "$(counter h1 gratuitousSent)" -ge 1 ] || fail "READY=1 before the first announcement"
[ "$(arping_macs c 198.51.100.50 1)" = "02:00:00:00:00:0b" ] || fail "not answering after READY=1"
pass "READY=1 after the first announcement"

# Watchdog: a ping every WatchdogSec/2 while the loops turn, none while the process is stopped.
sleep 2.5
pings=$(count '^WATCHDOG=1' "$LAB_DIR/notify.txt")
[ "$pings" -ge 2 ] || fail "$pings WATCHDOG=1 in 2.5 s with WatchdogSec=2s"
kill -STOP "$(lab_pid h1)"
before=$(count '^WATCHDOG=1' "$LAB_DIR/notify.txt")
sleep 2
[ "$(count '^WATCHDOG=1' "$LAB_DIR/notify.txt")" = "$before" ] || fail "pings while stopped"
kill -CONT "$(lab_pid h1)"
for i in $(seq 30); do [ "$(count '^WATCHDOG=1' "$LAB_DIR/notify.txt")" -gt "$before" ] && break; sleep 0.1; done
[ "$(count '^WATCHDOG=1' "$LAB_DIR/notify.txt")" -gt "$before" ] || fail "no pings after SIGCONT"
pass "WATCHDOG=1 every second while running ($pings in 2.5 s), none while stopped"

# Reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
readies=$(grep -c '^READY=1' "$LAB_DIR/notify.txt")
kill -HUP "$(lab_pid h1)"
for i in $(seq 50); do [ "$(grep -c '^READY=1' "$LAB_DIR/notify.txt")" -gt "$readies" ] && break; sleep 0.1; done
grep -s >/dev/null '^RELOADING=1' "$LAB_DIR/notify.txt" || fail "no RELOADING=1: $(cat "$LAB_DIR/notify.txt")"
grep -s >/dev/null '^MONOTONIC_USEC=[0-9]' "$LAB_DIR/notify.txt" || fail "RELOADING=1 without MONOTONIC_USEC"
[ "$(grep -c '^READY=1' "$LAB_DIR/notify.txt")" -gt "$readies" ] || fail "no READY=1 after the reload"
pass "SIGHUP: RELOADING=1 then READY=1"
lab_stop h1
grep -s >/dev/null '^STOPPING=1' "$LAB_DIR/notify.txt" || fail "no STOPPING=1: $(cat "$LAB_DIR/notify.txt")"
pass "STOPPING=1 on SIGTERM"

# Journal: with JOURNAL_STREAM naming our stderr, log records go to journald's socket with
# HERALD_* fields. A private mount namespace puts a listener where journald's socket lives.
: >"$LAB_DIR/stderr.txt"
stream=$(stat -c '%d:%i' "$LAB_DIR/stderr.txt")
lab_exec h1 unshare --mount --propagation private sh -c '
    mount -t tmpfs none /run && mkdir -p /run/systemd/journal
    /usr/bin/python3 "$1" /run/systemd/journal/socket "$2" 4 & listener=$!
    for i in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
    JOURNAL_STREAM="$3" "$4/heraldd" --config "$5" --control-socket "$6" 2>>"$7" & daemon=$!
    sleep 1.5; kill -TERM $daemon; wait $daemon; wait $listener' \
    sh Tests/integration/listen_datagrams.py "$LAB_DIR/journal.txt" "$stream" "$HERALD_BIN" "$LAB_DIR/herald.toml" \
    "$LAB_DIR/j.sock" "$LAB_DIR/stderr.txt"
grep -s >/dev/null '^MESSAGE=answering ARP/NDP$' "$LAB_DIR/journal.txt" || fail "no journal record: $(cat "$LAB_DIR/journal.txt" 2>&1)"
grep -s >/dev/null '^HERALD_IFACE=eth0$' "$LAB_DIR/journal.txt" || fail "no HERALD_IFACE field"
grep -s >/dev/null '^HERALD_VIPS=198.51.100.50$' "$LAB_DIR/journal.txt" || fail "no HERALD_VIPS field"
grep -s >/dev/null '^PRIORITY=6$' "$LAB_DIR/journal.txt" || fail "no PRIORITY field"
[ ! -s "$LAB_DIR/stderr.txt" ] || fail "logged to stderr as well: $(cat "$LAB_DIR/stderr.txt")"
pass "journal fields HERALD_IFACE, HERALD_VIPS, PRIORITY"

# The unit's privilege model: an unprivileged user with only CAP_NET_RAW can answer.
mkdir -p "$LAB_DIR/run" && chown 65534:65534 "$LAB_DIR/run" && chmod 755 "$LAB_DIR" && chmod 644 "$LAB_DIR/herald.toml"
lab_spawn unpriv h1 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw \
    --bounding-set=-all,+net_raw "$HERALD_BIN/heraldd" --config "$LAB_DIR/herald.toml" --control-socket "$LAB_DIR/run/herald.sock"
for i in $(seq 100); do grep -s >/dev/null 'msg=ready' "$LAB_DIR/unpriv.log" && break; sleep 0.1; done
grep -s >/dev/null 'msg=ready' "$LAB_DIR/unpriv.log" || fail "not ready without root: $(cat "$LAB_DIR/unpriv.log")"
[ "$(arping_macs c 198.51.100.50 2 | sort -u)" = "02:00:00:00:00:0b" ] || fail "not answering without root"
pass "answers as nobody with only CAP_NET_RAW"
