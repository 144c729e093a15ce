# Interfaces the config does not list get nothing, even when they carry the VIP's subnet.
source "$(dirname "$0")/lib.sh"
test_lab
LAB_SAME_SUBNET=1
lab_host h1 11 0 eth0; lab_host h1 11 1 eth1
lab_host c 2 0; lab_host c2 3 1
lab_vip_config 198.51.100.50 2001:db8:100::50
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_wait_ready h1
[ "$(arping_macs c 198.51.100.50 2 | sort -u)" = "02:00:00:00:00:0b" ] || fail "not answered on the listed interface"
pass "answered on eth0"
[ -z "$(arping_macs c2 198.51.100.50 3)" ] || fail "answered on the excluded eth1"
[ -z "$(ndisc_mac c2 2001:db8:100::50)" ] || fail "NDP answered on the excluded eth1"
pass "silent on eth1"
