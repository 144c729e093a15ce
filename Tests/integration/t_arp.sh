# ARP: exactly one reply per request, from the owner's MAC, for every IPv4 VIP; nothing
# for addresses that are not VIPs or belong to another node; probes are answered.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host h2 12; lab_host c 2
cat >"$LAB_DIR/herald.toml" <<TOML
[node]
interfaces = ["eth0"]
[[vip]]
name = "a"
address = "198.51.100.50"
nodes = ["h1"]
[[vip]]
name = "b"
address = "198.51.100.52"
nodes = ["h1"]
[[vip]]
name = "c"
address = "198.51.100.51"
nodes = ["h2"]
TOML
lab_heraldd h1 "$LAB_DIR/herald.toml"
lab_heraldd h2 "$LAB_DIR/herald.toml"
lab_wait_ready h1; lab_wait_ready h2

for vip in 198.51.100.50 198.51.100.52; do
    macs=$(arping_macs c $vip 5)
    [ "$(echo "$macs" | wc -l)" = 5 ] || fail "$vip: expected 5 replies to 5 requests, got: $macs"
    [ "$(echo "$macs" | sort -u)" = "02:00:00:00:00:0b" ] || fail "$vip: replies not (only) from h1: $macs"
    pass "$vip answered once per request by h1"
done
macs=$(arping_macs c 198.51.100.51 3)
[ "$(echo "$macs" | sort -u)" = "02:00:00:00:00:0c" ] && [ "$(echo "$macs" | wc -l)" = 3 ] || fail "198.51.100.51 not answered by h2 alone: $macs"
pass "198.51.100.51 answered by h2 only"

[ -z "$(arping_macs c 198.51.100.60 3)" ] || fail "198.51.100.60 is no VIP but was answered"
pass "non-VIP unanswered"

# A probe (sender 0.0.0.0, RFC 5227) must be answered so the prober sees the address is taken.
probe=$(may_fail lab_exec c arping -0 -i eth0 -c 2 -W 0.2 198.51.100.50)
[[ $probe == *"bytes from 02:00:00:00:00:0b"* ]] || fail "probe not answered: $probe"
pass "probe answered"

[ "$(counter h1 requestsReceived 198.51.100.50)" -ge 7 ] || fail "requests not counted"
# Requests for addresses the link does not watch stop in the kernel (the capture filter):
# heraldd never sees them, so none is counted as not_ours.
[ "$(counter h1 dropped not_ours)" = 0 ] || fail "requests for 198.51.100.60 reached heraldd: $(counter h1 dropped not_ours) not_ours drops"
pass "counters"
