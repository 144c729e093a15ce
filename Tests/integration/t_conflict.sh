# Address conflicts (RFC 5227 spirit): a VIP that another host already uses is probed,
# found taken, withheld, reported with the foreign MAC, and served once the other host
# lets go. A foreign claim on a VIP we announce is reported and defended once; claimed
# again right after (a router or host that really uses it), it is given up (RFC 5227
# §2.4(b)) and probed again later.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2; lab_host x 3
# Host x owns .50 and 2001:db8:100::50 by hand, as a forgotten static address would.
lab_exec x ip addr add 198.51.100.50/32 dev eth0
lab_exec x ip addr add 2001:db8:100::50/128 dev eth0 nodad
lab_vip_config 198.51.100.50 198.51.100.51 2001:db8:100::50
printf '[metrics]\nlisten = "127.0.0.1:9473"\n' >>"$LAB_DIR/herald.toml"
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
foreign=02:00:00:00:00:03

grep 'address conflict: another host uses this VIP' "$LAB_DIR/h1.log" | grep "foreign_mac=$foreign" | grep -s >/dev/null "vip=198.51.100.50" \
    || fail "no IPv4 conflict logged: $(cat "$LAB_DIR/h1.log")"
grep 'address conflict: another host uses this VIP' "$LAB_DIR/h1.log" | grep "foreign_mac=$foreign" | grep -s >/dev/null "vip=2001:db8:100::50" \
    || fail "no IPv6 conflict logged"
pass "probe found both addresses taken and logged the foreign MAC"

macs=$(arping_macs c 198.51.100.50 5 | sort -u)
[ "$macs" = "$foreign" ] || fail "conflicted VIP answered by '$macs', want only the owner $foreign"
[ "$(ndisc_mac c 2001:db8:100::50)" = "$foreign" ] || fail "conflicted IPv6 VIP answered by heraldd"
[ "$(arping_macs c 198.51.100.51 3 | sort -u)" = "02:00:00:00:00:0b" ] || fail "free VIP not answered by h1"
pass "heraldd withholds the taken addresses and serves the free one"

lab_ctl h1 vips >"$LAB_DIR/vips.txt"
grep 'vip1' "$LAB_DIR/vips.txt" | grep -s >/dev/null "conflict ($foreign answers)" || fail "heraldctl vips: $(cat "$LAB_DIR/vips.txt")"
[ "$(counter h1 conflicts 198.51.100.50)" -ge 1 ] || fail "conflict not counted"
lab_exec h1 curl -sf http://127.0.0.1:9473/metrics >"$LAB_DIR/metrics.txt"
grep -qxF "herald_vip_conflict{interface=\"eth0\",ip=\"198.51.100.50\",foreign_mac=\"$foreign\"} 1" "$LAB_DIR/metrics.txt" \
    || fail "no herald_vip_conflict: $(grep conflict "$LAB_DIR/metrics.txt")"
! grep -s >/dev/null 'metallb_speaker_announced{ip="198.51.100.50"' "$LAB_DIR/metrics.txt" || fail "conflicted VIP reported as announced"
pass "heraldctl vips, the counters and the metrics show the conflict"

# The other host lets go; the next probe (every 10 s) finds the address free.
lab_exec x ip addr del 198.51.100.50/32 dev eth0
for i in $(seq 250); do grep -q 'address conflict over.*vip=198.51.100.50' "$LAB_DIR/h1.log" && break; sleep 0.1; done
grep -q 'address conflict over.*vip=198.51.100.50' "$LAB_DIR/h1.log" || fail "conflict never resolved"
[ "$(arping_macs c 198.51.100.50 3 | sort -u)" = "02:00:00:00:00:0b" ] || fail "freed VIP not served by h1"
pass "once freed, the VIP is served by heraldd"

# While announcing .51, another host announces it: reported, defended, still ours.
before=$(counter h1 gratuitousSent 198.51.100.51)
may_fail lab_exec x arping -q -U -c 1 -i eth0 -S 198.51.100.51 198.51.100.51
for i in $(seq 50); do grep -q 'claims a VIP we announce.*vip=198.51.100.51' "$LAB_DIR/h1.log" && break; sleep 0.1; done
grep 'claims a VIP we announce' "$LAB_DIR/h1.log" | grep "foreign_mac=$foreign" | grep -s >/dev/null "vip=198.51.100.51" || fail "foreign announcement not reported"
for i in $(seq 30); do [ "$(counter h1 gratuitousSent 198.51.100.51)" -gt "$before" ] && break; sleep 0.1; done
[ "$(counter h1 gratuitousSent 198.51.100.51)" -gt "$before" ] || fail "not defended with an announcement"
[ "$(arping_macs c 198.51.100.51 3 | sort -u)" = "02:00:00:00:00:0b" ] || fail "announced VIP given up"
pass "a foreign claim on an announced VIP is reported and defended"

# The host claims .51 again within the defend interval: heraldd gives it up.
may_fail lab_exec x arping -q -U -c 1 -i eth0 -S 198.51.100.51 198.51.100.51
for i in $(seq 50); do grep -q 'giving it up.*vip=198.51.100.51' "$LAB_DIR/h1.log" && break; sleep 0.1; done
grep 'claims this VIP again right after it was defended; giving it up' "$LAB_DIR/h1.log" | grep "foreign_mac=$foreign" \
    | grep -s >/dev/null "vip=198.51.100.51" || fail "a second claim within the defend interval was not yielded: $(grep 198.51.100.51 "$LAB_DIR/h1.log" | tail -n 3)"
[ -z "$(arping_macs c 198.51.100.51 3)" ] || fail "the yielded VIP is still answered by heraldd"
lab_ctl h1 vips | grep 'vip2' | grep -s >/dev/null "conflict ($foreign answers)" || fail "heraldctl vips: $(lab_ctl h1 vips)"
pass "claimed again right after the defence: given up, withheld, shown as a conflict"
