# Through a macvlan, which filters multicast like a real NIC: the solicitation for the
# VIP reaches Herald only because it joined the VIP's solicited-node group.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host c 2
ip netns add "$LAB-h3"
ip link add eth0 netns "$LAB-h3" type veth peer name ph3 netns "$LAB-sw"
ip -n "$LAB-sw" link set ph3 master br0 up
ip -n "$LAB-h3" link set eth0 up
ip -n "$LAB-h3" link add mv0 link eth0 type macvlan mode bridge
ip -n "$LAB-h3" link set mv0 address 02:00:00:00:00:0d up
ip -n "$LAB-h3" addr add 198.51.100.13/24 dev mv0
ip -n "$LAB-h3" addr add 2001:db8:100::13/64 dev mv0 nodad
cat >"$LAB_DIR/herald.toml" <<TOML
[node]
interfaces = ["mv0"]
[[vip]]
name = "v6"
address = "2001:db8:100::53"
TOML
lab_heraldd h3 "$LAB_DIR/herald.toml"
lab_wait_ready h3

lab_exec h3 ip -6 maddr show dev mv0 | grep -s >/dev/null 'ff02::1:ff00:53' || fail "solicited-node group not joined: $(lab_exec h3 ip -6 maddr show dev mv0)"
pass "joined ff02::1:ff00:53 on mv0"
[ "$(ndisc_mac c 2001:db8:100::53)" = "02:00:00:00:00:0d" ] || fail "ndisc6 did not resolve the VIP through the macvlan"
pass "resolved through the macvlan"

# Without the join the group is filtered: stop Herald and the membership goes with it.
lab_stop h3
! lab_exec h3 ip -6 maddr show dev mv0 | grep -s >/dev/null 'ff02::1:ff00:53' || fail "group still joined after stop"
pass "group left on stop"
