# On start: gratuitous ARP (request and reply) and an unsolicited NA with Override.
# On SIGTERM: silence at once.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2
lab_vip_config 198.51.100.50 2001:db8:100::50
lab_spawn capture c tcpdump -i eth0 -n -l --immediate-mode -e 'arp or icmp6'
sleep 1
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
for i in $(seq 50); do grep -q 'neighbor advertisement' "$LAB_DIR/capture.log" && break; sleep 0.1; done
sleep 0.5
grep -q 'Request who-has 198.51.100.50 tell 198.51.100.50' "$LAB_DIR/capture.log" || fail "no gratuitous request: $(cat "$LAB_DIR/capture.log")"
grep -q 'Reply 198.51.100.50 is-at 02:00:00:00:00:0b' "$LAB_DIR/capture.log" || fail "no gratuitous reply"
grep 'ff02::1' "$LAB_DIR/capture.log" | grep -s >/dev/null 'neighbor advertisement, tgt is 2001:db8:100::50' || fail "no unsolicited NA"
pass "gratuitous ARP request, reply and unsolicited NA seen"
[ "$(counter h1 gratuitousSent)" -ge 3 ] || fail "gratuitous not counted"

lab_stop h1
lines=$(wc -l <"$LAB_DIR/capture.log")
[ -z "$(arping_macs c 198.51.100.50 3)" ] || fail "still answering after SIGTERM"
sleep 2.5
! tail -n +"$((lines + 1))" "$LAB_DIR/capture.log" | grep -s >/dev/null 'is-at 02:00:00:00:00:0b' || fail "announcements after SIGTERM"
pass "silent after SIGTERM"
grep -q 'msg="stopped answering"' "$LAB_DIR/h1.log" || fail "no shutdown log"
