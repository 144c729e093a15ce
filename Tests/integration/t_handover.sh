# SIGTERM hands over at once (the leaving daemon tells everyone), a partition is reported
# on both sides, and after it heals exactly one owner answers each VIP.
source "$(dirname "$0")/lib.sh"
cluster_lab 3 198.51.100.50 198.51.100.51 198.51.100.52
vip=198.51.100.50
owner=$(owner_of h1 $vip); observer=h1; [ "$owner" = h1 ] && observer=h2
next=$(runner_up "$observer" $vip)
start=$(date +%s.%N)
lab_stop "$owner" || fail "$owner did not exit with status 0 on SIGTERM"
wait_answered_by $vip "$(mac_of "$next")" 5 || fail "no handover to $next"
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.3f", e - s}')
grep -s >/dev/null 'left the cluster' "$LAB_DIR/$owner.log" || fail "$owner did not leave"
grep -s >/dev/null "member left.*node=$owner" "$LAB_DIR/$observer.log" || fail "$observer did not see $owner leave"
pass "SIGTERM: $owner left with exit status 0, $next answers $vip after $elapsed s (arping-polled)"
lab_heraldd "$owner" "$LAB_DIR/$owner.toml"; lab_wait_ready "$owner"
wait_members_alive 3 h1 h2 h3

# Partition: move h3's switch port to the other bridge.
ip -n "$LAB-sw" link set ph30 master br1
status_at() {
    lab_ctl "$1" members --json | /usr/bin/python3 -c 'import json,sys; print(next(m["status"] for m in json.load(sys.stdin)["members"] if m["name"] == sys.argv[1]))' "$2"
}
for i in $(seq 100); do
    [ "$(status_at h1 h3)" = dead ] && [ "$(status_at h3 h1)" = dead ] && break
    sleep 0.1
done
lab_ctl h1 members | grep -E '^h3 .* dead' >/dev/null || fail "h1 does not report h3 dead: $(lab_ctl h1 members)"
lab_ctl h3 members | grep -E '^h1 .* dead' >/dev/null || fail "h3 does not report h1 dead: $(lab_ctl h3 members)"
pass "partition reported on both sides"
ip -n "$LAB-sw" link set ph30 master br0
wait_members_alive 3 h1 h2 h3
# h3 was cut off, so it holds down (3 s) before taking its VIPs back: wait past that.
sleep 3.5
for v in 198.51.100.50 198.51.100.51 198.51.100.52; do
    final=$(wait_one_owner $v h1 h2 h3)
    [ "$(only_mac $v 4)" = "$(mac_of "$final")" ] || fail "$v not answered by $final alone after healing"
done
pass "healed: one owner answers each VIP"
