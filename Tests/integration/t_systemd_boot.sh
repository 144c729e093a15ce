# heraldd under a real systemd (PID 1 of a Debian 12 container, systemd-nspawn), as users
# run it: the .deb installed, `systemctl enable --now`, READY, answers from outside,
# journal fields; health checks (command and TCP, passing and failing) run as herald-check
# inside the unit's sandbox, confined; the control socket and metrics; reload accepted
# and refused (`systemctl reload` fails then); restart, a clean stop (Result=success), a
# config error (status 78, no restart loop), the watchdog restarting a stopped daemon, no
# sandbox denial in the journal; then two containers with gossip and a key: the gossip
# thread's real-time priority, and stopping the owner is a success there and a takeover
# on the other.
source "$(dirname "$0")/lib.sh"
source Tests/support/systemd-container.sh
sd_test_lab s1 s2
lab_host s1 21; lab_host s2 22; lab_host c 2
root=$(sd_rootfs "$SD_DEB") || fail "cannot build the container root file system"
sd_boot s1 s1 "$root" || fail "container s1 did not boot"
pass "container s1 booted: systemd $(sd_exec s1 systemctl --version | head -n 1 | cut -d' ' -f2), system running"

# config NAME: writes /etc/herald/herald.toml in container NAME from stdin.
config() { sd_exec "$1" sh -c 'cat >/etc/herald/herald.toml'; }
vips() {
    printf '[node]\ninterfaces = ["eth0"]\n\n'
    local n=0 address
    for address in "$@"; do
        n=$((n + 1))
        printf '[[vip]]\nname = "vip%s"\naddress = "%s"\n' "$n" "$address"
    done
}
journal() { sd_exec s1 journalctl -u herald --no-pager "$@"; }
mac1=02:00:00:00:00:15
mac2=02:00:00:00:00:16

# README's install block, verbatim, in the container: the package under the name README
# gives (it must be what make deb builds), and `editor` standing in for the user: it finds
# the unit not enabled by the package and writes the lab's config.
block=$(doc_block README.md "apt install" 2>&1) || fail "$block"
deb=$(grep -o 'herald_[^ ]*\.deb' <<<"$block")
[ "$deb" = "herald_$(dpkg-deb -f "$SD_DEB" Version)_$(dpkg-deb -f "$SD_DEB" Architecture).deb" ] \
    || fail "README installs $deb; make deb builds $(basename "$SD_DEB")"
cp "$SD_DEB" "$LAB_DIR/share/$deb"
vips 198.51.100.50 2001:db8:100::50 >"$LAB_DIR/share/herald.toml"
sd_exec s1 bash -euo pipefail -c "editor() {
    [ \"\$(systemctl is-enabled herald)\" = disabled ] || { echo 'the package enabled the unit' >&2; return 1; }
    cp /mnt/share/herald.toml \"\$1\"
}
cd /mnt/share
$block" </dev/null >"$LAB_DIR/install.out" 2>&1 || fail "README's install block: $(tail -n 15 "$LAB_DIR/install.out"; journal | tail -n 5)"
sd_exec s1 id herald >/dev/null || fail "no user herald after install"
has -E '^vip1 +198\.51\.100\.50 +s1 ' <"$LAB_DIR/install.out" || fail "README's heraldctl vips said: $(tail -n 5 "$LAB_DIR/install.out")"
pass "README's install block, verbatim: apt install ./$deb, check, enable --now, vips"
[ "$(sd_show s1 herald ActiveState)/$(sd_show s1 herald SubState)" = active/running ] || fail "not active: $(journal | tail)"
status=$(sd_show s1 herald StatusText)
[ "$status" = "2 VIP(s) on eth0" ] || fail "STATUS=$status"
pid=$(sd_show s1 herald MainPID)
pass "systemctl enable --now: READY (active/running, status \"$status\"), main PID $pid"

[ "$(arping_macs c 198.51.100.50 3 | sort -u)" = "$mac1" ] || fail "198.51.100.50 not answered by $mac1"
[ "$(ndisc_mac c 2001:db8:100::50)" = "$mac1" ] || fail "2001:db8:100::50 not answered by $mac1"
pass "arping and ndisc6 from outside get the container's MAC"

journal -o export >"$LAB_DIR/export.txt"
for field in SYSLOG_IDENTIFIER=heraldd HERALD_IFACE=eth0 HERALD_VIP=198.51.100.50 HERALD_VIP=2001:db8:100::50 PRIORITY=5; do
    grep -qx "$field" "$LAB_DIR/export.txt" || fail "no journal field $field"
done
journal -o cat HERALD_VIP=198.51.100.50 >"$LAB_DIR/vip.txt"
grep -qx 'announcing VIP' "$LAB_DIR/vip.txt" || fail "journalctl HERALD_VIP=198.51.100.50 has no announce line: $(cat "$LAB_DIR/vip.txt")"
grep -qx 'probed VIP: nobody else answers it' "$LAB_DIR/vip.txt" || fail "no probe result for the VIP"
pass "journal: native fields; journalctl HERALD_VIP=198.51.100.50 gives $(wc -l <"$LAB_DIR/vip.txt") lines, the announce among them"

# Health checks as the package runs them: as herald-check, in the unit's sandbox. A stub
# service stands for what a keepalived track script watches; a TCP listener for a port.
sd_exec s1 sh -c 'printf "[Service]\nExecStart=/bin/sleep infinity\n" >/etc/systemd/system/stub.service && systemctl daemon-reload && systemctl start stub'
# Passes only when it runs confined; says on standard error (the journal) what is not.
sd_exec s1 sh -c 'cat >/usr/local/bin/herald-confined && chmod 755 /usr/local/bin/herald-confined' <<'SH'
#!/bin/sh
[ "$(id -un)" = herald-check ] || { echo "runs as $(id -un)" >&2; exit 1; }
grep -E '^Cap(Inh|Prm|Eff|Amb):' /proc/self/status | grep -qv ':[[:space:]]*0*$' && { grep ^Cap /proc/self/status | tr '\n' ' ' >&2; exit 2; }
[ "$(awk '/^Max (realtime|nice) priority/ {print $4 $5}' /proc/self/limits)" = "$(printf '00\n00')" ] || { grep priority /proc/self/limits | tr '\n' ' ' >&2; exit 3; }
cat /etc/herald/gossip.key >/dev/null 2>&1 && { echo "reads the gossip key" >&2; exit 4; }
cat /etc/herald/kubeconfig >/dev/null 2>&1 && { echo "reads the kubeconfig" >&2; exit 5; }
heraldctl status >/dev/null 2>&1 && { echo "reaches the control socket" >&2; exit 6; }
exit 0
SH
block=$(doc_block README.md "heraldctl keygen" 2>&1) || fail "$block"
sd_exec s1 bash -euo pipefail -c "$block" >/dev/null || fail "README's keygen block failed"
sd_exec s1 sh -c 'echo "apiVersion: v1" >/etc/herald/kubeconfig && chown root:herald /etc/herald/kubeconfig && chmod 640 /etc/herald/kubeconfig'
check_vip() { printf '[[vip]]\nname = "%s"\naddress = "%s"\ncheck = %s\n' "$@"; }
{ vips 198.51.100.50 2001:db8:100::50 198.51.100.51
  printf '\n[metrics]\nlisten = "127.0.0.1:9473"\n'
  check_vip ok 198.51.100.60 '{ command = "true", interval = "500ms", rise = 1 }'
  check_vip bad 198.51.100.61 '{ command = "echo no service here >&2; false", interval = "500ms" }'
  check_vip unit 198.51.100.62 '{ command = "systemctl is-active --quiet stub.service", interval = "500ms", rise = 1, fall = 1 }'
  check_vip tcp 198.51.100.63 '{ tcp = "127.0.0.1:8080", interval = "500ms", rise = 1, fall = 1 }'
  check_vip confined 198.51.100.64 '{ command = "/usr/local/bin/herald-confined", interval = "500ms", rise = 1 }'
} | config s1
lab_spawn tcp8080 s1 /usr/bin/python3 -m http.server 8080 --bind 127.0.0.1
sd_exec s1 systemctl restart herald || fail "restart with checks: $(journal | tail -n 5)"
pid=$(sd_show s1 herald MainPID)
# answered ADDRESS MAC|"" SECONDS: polls until ADDRESS is answered by MAC (or by nobody).
answered() {
    local i
    for i in $(seq $(( $3 * 5 ))); do
        [ "$(arping_macs c "$1" 1)" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
answered 198.51.100.60 "$mac1" 10 || fail "a check of 'true' does not pass under the unit: $(journal -o cat HERALD_VIP=198.51.100.60 | tail -n 3)"
answered 198.51.100.64 "$mac1" 10 || fail "the check is not confined: $(journal -o cat HERALD_VIP=198.51.100.64 | tail -n 3)"
answered 198.51.100.62 "$mac1" 10 || fail "systemctl is-active from a check: $(journal -o cat HERALD_VIP=198.51.100.62 | tail -n 3)"
answered 198.51.100.63 "$mac1" 10 || fail "a TCP check: $(journal -o cat HERALD_VIP=198.51.100.63 | tail -n 3)"
[ -z "$(arping_macs c 198.51.100.61 3)" ] || fail "the VIP of a failing check is answered"
journal -o cat HERALD_VIP=198.51.100.61 | grep -sx >/dev/null 'health check failed: exit status 1: no service here' \
    || fail "the journal does not say why the check fails: $(journal -o cat HERALD_VIP=198.51.100.61)"
sd_exec s1 heraldctl explain bad | has 'no: health check not passing (last run: exit status 1: no service here)' \
    || fail "explain: $(sd_exec s1 heraldctl explain bad)"
pass "checks under the unit: true, systemctl is-active and a TCP port pass; false fails and the journal says 'exit status 1: no service here'; the check runs as herald-check with no capabilities or priority limits and cannot read the key or kubeconfig or reach the control socket"
sd_exec s1 systemctl stop stub
answered 198.51.100.62 "" 10 || fail "still answered after the watched service stopped"
journal -o cat HERALD_VIP=198.51.100.62 | grep -sx >/dev/null 'health check failed: exit status 3' || fail "no reason: $(journal -o cat HERALD_VIP=198.51.100.62 | tail -n 3)"
kill "$(cat "$LAB_DIR/tcp8080.pid")"
answered 198.51.100.63 "" 10 || fail "still answered after the port closed"
journal -o cat HERALD_VIP=198.51.100.63 | grep -s >/dev/null '^health check failed: connecting to 127.0.0.1:8080: Connection refused$' \
    || fail "no reason: $(journal -o cat HERALD_VIP=198.51.100.63 | tail -n 3)"
sd_exec s1 systemctl start stub
answered 198.51.100.62 "$mac1" 10 || fail "not answered again after the watched service started"
pass "a stopped service (exit status 3) and a closed port (connection refused) take their VIPs away, and the service's return brings its VIP back"

sd_exec s1 heraldctl status | has "^node s1, heraldd " || fail "heraldctl status in the container: $(sd_exec s1 heraldctl status 2>&1)"
sd_exec s1 heraldctl vips | has -E '^ok +198\.51\.100\.60 +s1 +announcing' || fail "heraldctl vips: $(sd_exec s1 heraldctl vips)"
lab_exec s1 curl -sf http://127.0.0.1:9473/metrics >"$LAB_DIR/metrics.txt" || fail "no metrics from the unit"
grep -q '^metallb_speaker_announced{.*ip="198.51.100.60".*} 1$' "$LAB_DIR/metrics.txt" || fail "metrics: $(grep announced "$LAB_DIR/metrics.txt")"
pass "the control socket (heraldctl status, vips, explain) and the metrics endpoint under the unit"

block=$(doc_block docs/operations.md "systemctl is-active herald" 2>&1) || fail "$block"
sd_exec s1 bash -euo pipefail -c "$block" >"$LAB_DIR/checklist.out" 2>&1 || fail "operations.md's checklist: $(tail -n 15 "$LAB_DIR/checklist.out")"
has ': OK (' <"$LAB_DIR/checklist.out" && has -x active <"$LAB_DIR/checklist.out" && has -E '^ok +198\.51\.100\.60 +s1 +announcing' <"$LAB_DIR/checklist.out" \
    || fail "operations.md's checklist said: $(cat "$LAB_DIR/checklist.out")"
pass "operations.md's after-install checklist, verbatim: check OK, active, journal, members, vips, status"

{ vips 198.51.100.50 2001:db8:100::50 198.51.100.51; printf '\n[metrics]\nlisten = "127.0.0.1:9473"\n'; } | config s1
block=$(doc_block docs/operations.md "systemctl reload herald" 2>&1) || fail "$block"
sd_exec s1 bash -euo pipefail -c "$block" >"$LAB_DIR/reload.out" 2>&1 || fail "operations.md's reload block: $(cat "$LAB_DIR/reload.out"; journal | tail -n 5)"
has 'config reloaded' <"$LAB_DIR/reload.out" || fail "operations.md's journalctl -n 5 after the reload: $(cat "$LAB_DIR/reload.out")"
[ "$(sd_show s1 herald MainPID)" = "$pid" ] || fail "reload changed the main PID"
[ "$(arping_macs c 198.51.100.51 3 | sort -u)" = "$mac1" ] || fail "added VIP not answered after reload"
journal -o cat | grep -s >/dev/null '^config reloaded$' || fail "no 'config reloaded' in the journal"
pass "systemctl reload: new VIP answered, same PID"

printf '[node]\ninterfaces = ["eth0"]\nnmae = "x"\n' | config s1
if sd_exec s1 systemctl reload herald >"$LAB_DIR/reload.out" 2>&1; then fail "systemctl reload of a refused config succeeded"; fi
grep -q 'Job for herald.service failed' "$LAB_DIR/reload.out" || fail "systemctl reload said: $(cat "$LAB_DIR/reload.out")"
journal -o cat | grep -s >/dev/null '/etc/herald/herald.toml:3: node.nmae: unknown key' || fail "the bad key is not named in the journal: $(journal | tail -n 5)"
journal -o cat | grep -s >/dev/null 'reload failed; still running the previous config' || fail "no reload failure in the journal"
sd_exec s1 journalctl -u herald --no-pager -o cat _COMM=heraldctl | grep -s >/dev/null '^/etc/herald/herald.toml:3: node.nmae: unknown key' \
    || fail "ExecReload's own output does not name the problem: $(sd_exec s1 journalctl -u herald --no-pager -o cat _COMM=heraldctl | tail -n 3)"
[ "$(sd_show s1 herald MainPID)" = "$pid" ] || fail "a bad reload changed the main PID"
[ "$(sd_show s1 herald ActiveState)" = active ] || fail "a refused reload left the unit $(sd_show s1 herald ActiveState)"
[ "$(arping_macs c 198.51.100.51 3 | sort -u)" = "$mac1" ] || fail "VIP lost after a bad reload"
pass "systemctl reload with a bad key fails ($(head -n 1 "$LAB_DIR/reload.out")); the journal names FILE:LINE; heraldd stays active on the old config, its VIPs still answered"

vips 198.51.100.50 2001:db8:100::50 | config s1
sd_exec s1 systemctl restart herald || fail "restart failed: $(journal | tail -n 5)"
new=$(sd_show s1 herald MainPID)
[ "$new" != "$pid" ] && [ "$new" != 0 ] || fail "restart kept PID $pid"
[ "$(arping_macs c 198.51.100.50 3 | sort -u)" = "$mac1" ] || fail "not answering after restart"
pass "systemctl restart: PID $pid -> $new, answering"

sd_exec s1 systemctl stop herald
result="$(sd_show s1 herald Result) $(sd_show s1 herald ExecMainStatus) $(sd_show s1 herald ActiveState)"
[ "$result" = "success 0 inactive" ] || fail "after stop: Result ExecMainStatus ActiveState = $result; $(journal | tail -n 5)"
[ -z "$(arping_macs c 198.51.100.50 2)" ] || fail "still answering after stop"
pass "systemctl stop: Result=success, exit status 0, silent"

printf '[node]\ninterfaces = ["eth0"]\n\n[[vip]]\nname = "bad"\naddress = "198.51.100.300"\n' | config s1
if sd_exec s1 systemctl start herald 2>/dev/null; then fail "start with a config error succeeded"; fi
sleep 3 # RestartSec is 2 s: a restart loop would have restarted it by now
result="$(sd_show s1 herald ExecMainStatus) $(sd_show s1 herald NRestarts) $(sd_show s1 herald ActiveState)"
[ "$result" = "78 0 failed" ] || fail "config error: ExecMainStatus NRestarts ActiveState = $result"
journal -o cat | grep -s >/dev/null '/etc/herald/herald.toml:6: vip.address' || fail "the bad line is not in the journal: $(journal -o cat | tail -n 5)"
# troubleshooting.md's "heraldd won't start" block, verbatim (without -e: as users type it,
# systemctl status says 3 for a failed unit; the block ends with heraldctl check's 78).
block=$(doc_block docs/troubleshooting.md "systemctl status herald" 2>&1) || fail "$block"
status=0
sd_exec s1 bash -uo pipefail -c "$block" </dev/null >"$LAB_DIR/wontstart.out" 2>&1 || status=$?
[ $status = 78 ] && has 'status=78/CONFIG' <"$LAB_DIR/wontstart.out" \
    && [ "$(grep -c '/etc/herald/herald.toml:6: vip.address' "$LAB_DIR/wontstart.out")" -ge 2 ] \
    || fail "troubleshooting.md's won't-start block ($status): $(cat "$LAB_DIR/wontstart.out")"
pass "config error at start: status=78, no restart, FILE:LINE in the journal; troubleshooting.md's block, verbatim, shows all three"
sd_exec s1 systemctl reset-failed herald

vips 198.51.100.50 | config s1
sd_exec s1 systemctl start herald || fail "start failed: $(journal | tail -n 5)"
pid=$(sd_show s1 herald MainPID)
sd_exec s1 kill -STOP "$pid"  # the PID as the container sees it
for i in $(seq 300); do
    [ "$(sd_show s1 herald NRestarts)" -ge 1 ] && [ "$(sd_show s1 herald ActiveState)" = active ] && break
    sleep 0.1
done
[ "$(sd_show s1 herald NRestarts)" -ge 1 ] || fail "no restart 30 s after SIGSTOP: $(journal | tail -n 5)"
journal -o cat | grep -s >/dev/null 'Watchdog timeout' || fail "no watchdog timeout in the journal: $(journal -o cat | tail -n 5)"
for i in $(seq 50); do [ "$(arping_macs c 198.51.100.50 1)" = "$mac1" ] && break; sleep 0.2; done
[ "$(arping_macs c 198.51.100.50 3 | sort -u)" = "$mac1" ] || fail "not answering after the watchdog restart"
pass "SIGSTOP: systemd's watchdog restarted heraldd (NRestarts=$(sd_show s1 herald NRestarts)), answering again"

if journal -o cat | grep -E 'errno=1\b|EPERM|SIGSYS|status=31|Operation not permitted' \
        | grep -v 'at normal priority: cannot use real-time priority 10: Operation not permitted' >"$LAB_DIR/denied.txt"; then
    fail "sandbox denials in the journal: $(cat "$LAB_DIR/denied.txt")"
fi
# libdispatch renices one thread to -4, which LimitNICE=24 allows. Where systemd cannot
# raise the limit (this container's host lacks CAP_SYS_RESOURCE, so it stays 0), the
# attempt fails with EACCES, once per start and no more.
starts=$(journal -o cat | grep -c '^starting$')
priority=$(journal -o cat | grep -c 'Failed to set thread priority' || [ $? = 1 ])
nice=$(sd_exec s1 sh -c "sed -n 's/^Max nice priority *\([0-9]*\).*/\1/p' /proc/$(sd_show s1 herald MainPID)/limits")
if [ "$nice" -ge 24 ]; then
    [ "$priority" = 0 ] || fail "LimitNICE=$nice, yet $priority 'Failed to set thread priority' lines"
    pass "no EPERM or SIGSYS in the unit's journal, and no priority warning (LimitNICE=$nice)"
else
    [ "$priority" -le "$starts" ] || fail "$priority priority warnings for $starts starts"
    pass "no EPERM or SIGSYS in the unit's journal; $priority EACCES priority warnings for $starts starts (RLIMIT_NICE stays $nice here)"
fi

# Two containers with gossip: the owner of the VIP stops, the other takes over.
sd_boot s2 s2 "$root" || fail "container s2 did not boot"
sd_install s2
sd_exec s1 cat /etc/herald/gossip.key | sd_exec s2 sh -c 'umask 077; cat >/etc/herald/gossip.key; chown herald:herald /etc/herald/gossip.key'
sd_exec s1 chown herald:herald /etc/herald/gossip.key
for n in 1 2; do
    { vips 198.51.100.50
      printf '\n[gossip]\nbind = "198.51.100.2%s:7946"\njoin = ["198.51.100.2%s:7946"]\nkey_file = "/etc/herald/gossip.key"\n' "$n" "$((3 - n))"
    } | config "s$n"
done
sd_exec s1 systemctl restart herald || fail "restart with gossip on s1: $(journal | tail -n 5)"
sd_exec s2 systemctl enable --now herald || fail "start with gossip on s2: $(sd_exec s2 journalctl -u herald --no-pager | tail -n 5)"
# The gossip thread runs at SCHED_FIFO 10 as the unprivileged user (LimitRTPRIO=10; the
# capture thread only while frames queue up, t_busy) — unless the kernel schedules
# real-time tasks per cgroup (CONFIG_RT_GROUP_SCHED, not in Debian's kernels), which gives
# a service no real-time budget: then heraldd says it runs at normal priority.
main=$(sd_show s1 herald MainPID)
normal='gossip thread at normal priority: cannot use real-time priority 10: Operation not permitted'
for i in $(seq 50); do
    policy=$(sd_exec s1 sh -c "for t in /proc/$main/task/*; do if [ \"\$(cat \$t/comm)\" = gossip ]; then cut -d' ' -f40,41 \$t/stat; fi; done")
    [ "$policy" = "10 1" ] && break
    journal -o cat | grep -sF >/dev/null "$normal" && break
    sleep 0.1
done
rt_groups=$(zcat /proc/config.gz 2>/dev/null | grep -c '^CONFIG_RT_GROUP_SCHED=y$' || [ $? = 1 ])
if [ "$policy" = "10 1" ]; then
    pass "the gossip thread runs at SCHED_FIFO priority 10 under the unit"
elif [ "$rt_groups" = 1 ] && [ "$policy" = "0 0" ] && journal -o cat | grep -sF >/dev/null "$normal"; then
    pass "kernel with CONFIG_RT_GROUP_SCHED: no real-time budget for services; heraldd says the gossip thread runs at normal priority"
else
    fail "the gossip thread's priority and policy: '$policy' (want 10 1: SCHED_FIFO 10)"
fi
owner_mac=""
for i in $(seq 100); do
    owner_mac=$(arping_macs c 198.51.100.50 2 | sort -u)
    [ "$(echo "$owner_mac" | wc -w)" = 1 ] && [ -n "$owner_mac" ] && break
    sleep 0.2
done
case $owner_mac in
    "$mac1") owner=s1 other=s2 other_mac=$mac2 ;;
    "$mac2") owner=s2 other=s1 other_mac=$mac1 ;;
    *) fail "no single owner of 198.51.100.50: '$owner_mac'" ;;
esac
sd_exec "$owner" systemctl stop herald
result="$(sd_show "$owner" herald Result) $(sd_show "$owner" herald ExecMainStatus)"
[ "$result" = "success 0" ] || fail "stopping the owner $owner: Result ExecMainStatus = $result; $(sd_exec "$owner" journalctl -u herald --no-pager | tail -n 5)"
for i in $(seq 50); do [ "$(arping_macs c 198.51.100.50 1)" = "$other_mac" ] && break; sleep 0.1; done
[ "$(arping_macs c 198.51.100.50 3 | sort -u)" = "$other_mac" ] || fail "$other did not take over"
sd_exec "$other" journalctl -u herald --no-pager -o cat HERALD_VIP=198.51.100.50 | grep -s >/dev/null "taking over VIP from $owner" \
    || fail "no takeover line on $other"
pass "gossip: systemctl stop on the owner $owner is Result=success; $other took over 198.51.100.50"
