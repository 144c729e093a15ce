# NDP: multicast solicitations (ndisc6), unicast reachability probes from the kernel's
# neighbor cache (NUD), and duplicate address detection are all answered for IPv6 VIPs.
source "$(dirname "$0")/lib.sh"
one_host_lab 2001:db8:100::50

[ "$(ndisc_mac c 2001:db8:100::50)" = "02:00:00:00:00:0b" ] || fail "ndisc6 did not resolve the VIP to h1"
pass "multicast solicitation answered"
[ -z "$(ndisc_mac c 2001:db8:100::60)" ] || fail "non-VIP answered"
pass "non-VIP unanswered"

# NUD: a STALE entry makes the kernel send a unicast NS to the VIP; only a solicited NA
# (nothing else answers, the VIP is not configured anywhere) makes it REACHABLE again.
lab_exec c sysctl -qw net.ipv6.neigh.eth0.delay_first_probe_time=1
lab_exec c ip -6 neigh replace 2001:db8:100::50 lladdr 02:00:00:00:00:0b dev eth0 nud stale
may_fail lab_exec c ping -6 -c 1 -W 1 2001:db8:100::50 >/dev/null 2>&1
for i in $(seq 50); do
    lab_exec c ip -6 neigh show 2001:db8:100::50 dev eth0 | grep -s >/dev/null REACHABLE && break
    sleep 0.1
done
lab_exec c ip -6 neigh show 2001:db8:100::50 dev eth0 | grep -s >/dev/null REACHABLE \
    || fail "unicast NUD probe not answered: $(lab_exec c ip -6 neigh show dev eth0)"
pass "unicast NUD answered"

# DAD: the client tries to configure the VIP itself; Herald's answer makes it fail.
lab_exec c sysctl -qw net.ipv6.conf.eth0.accept_dad=1
lab_exec c ip -6 addr add 2001:db8:100::50/64 dev eth0
for i in $(seq 50); do
    lab_exec c ip -6 addr show dev eth0 | grep -s >/dev/null dadfailed && break
    sleep 0.1
done
lab_exec c ip -6 addr show dev eth0 | grep '2001:db8:100::50' | grep -s >/dev/null dadfailed || fail "DAD did not detect the VIP in use"
pass "DAD probe answered"
