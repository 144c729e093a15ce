# A barrage of malformed ARP and NDP frames: the daemon stays up, keeps answering, and
# counts what it dropped by reason.
source "$(dirname "$0")/lib.sh"
one_host_lab 198.51.100.50 2001:db8:100::50
lab_exec c "$ARPBLAST" eth0 garbage 60000 7
wait_settled h1
kill -0 "$(lab_pid h1)" || fail "heraldd died"
[ "$(arping_macs c 198.51.100.50 3 | wc -l)" = 3 ] || fail "not answering after the barrage"
[ "$(ndisc_mac c 2001:db8:100::50)" = "02:00:00:00:00:0b" ] || fail "NDP not answering after the barrage"
pass "alive and answering"
lab_ctl h1 status
reasons=$(lab_ctl h1 status --json | /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted({k for l in json.load(sys.stdin)["links"] for k in l["counters"]["dropped"] if k.startswith("malformed_")})))')
echo "malformed reasons: $reasons"
# Runts too short to name a watched address stop in the kernel's capture filter, uncounted;
# the rest reach the decoder.
for reason in malformed_arp_unsupported_format malformed_arp_unsupported_operation malformed_icmpv6_bad_checksum malformed_ndp_bad_hop_limit; do
    [[ " $reasons " == *" $reason "* ]] || fail "$reason not counted"
done
[ "$(counter h1 dropped bad_sender)" -gt 0 ] || fail "bad_sender not counted"
pass "drops counted by reason"

# With tuning.kernel_filters = false the capture sees every ARP/NDP frame: the runts the
# filter dropped reach the decoder and are counted.
lab_stop h1
printf '\n[tuning]\nkernel_filters = false\n' >>"$LAB_DIR/herald.toml"
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
lab_exec c "$ARPBLAST" eth0 garbage 20000 7 >/dev/null
wait_settled h1
[ "$(counter h1 dropped malformed_truncated)" -gt 0 ] || fail "kernel_filters = false: runts not counted"
pass "kernel_filters = false: heraldd decodes and counts every frame itself, runts too"
