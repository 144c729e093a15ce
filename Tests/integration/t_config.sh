# A config with errors is refused with FILE:LINE: key: message lines and exit status 78,
# by heraldd --check, heraldctl check and heraldd itself (which then starts nothing).
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11
mkdir -p "$LAB_DIR/etc/pools.d"
cat >"$LAB_DIR/etc/herald.toml" <<TOML
[node]
nmae = "h1"
interfaces = ["eth0"]

[[vip]]
name = "web"
address = "192.0.2.50"
TOML
cat >"$LAB_DIR/etc/pools.d/lab.toml" <<TOML
[[pool]]
name = "lab"
addresses = ["198.51.100.200-198.51.100.100"]
TOML
config="$LAB_DIR/etc/herald.toml"

expected="$config:2: node.nmae: unknown key (did you mean 'name'?)
$LAB_DIR/etc/pools.d/lab.toml:3: pool.addresses: range '198.51.100.200-198.51.100.100' ends before it starts"
status=0; out=$(lab_exec h1 "$HERALD_BIN/heraldd" --check --config "$config" 2>&1) || status=$?
[ "$status" = 78 ] || fail "heraldd --check exited $status"
[ "$out" = "$expected" ] || fail "heraldd --check said: $out"
pass "heraldd --check: $out"

status=0; out=$(lab_exec h1 "$HERALD_BIN/heraldctl" check "$config" 2>&1) || status=$?
[ "$status" = 78 ] && [ "$out" = "$expected" ] || fail "heraldctl check exited $status: $out"
pass "heraldctl check agrees"

# Semantic errors that need the host: this VIP is on no subnet of eth0.
sed -i 's/nmae/name/' "$config"
sed -i 's/198.51.100.200-198.51.100.100/198.51.100.100-198.51.100.200/' "$LAB_DIR/etc/pools.d/lab.toml"
status=0; out=$(lab_exec h1 "$HERALD_BIN/heraldd" --check --config "$config" 2>&1) || status=$?
[ "$status" = 78 ] || fail "exit $status"
[[ $out == "$config:5: vip.address: 192.0.2.50 is on no subnet of the interfaces Herald uses here (eth0: 198.51.100.11/24 2001:db8:100::11/64 fe80::"* ]] || fail "said: $out"
pass "VIP off-subnet refused"

# The daemon itself refuses to start, says why in its log, and binds nothing.
status=0; lab_exec h1 "$HERALD_BIN/heraldd" --config "$config" --control-socket "$LAB_DIR/h1.sock" >"$LAB_DIR/h1.log" 2>&1 || status=$?
[ "$status" = 78 ] || fail "heraldd exited $status"
grep -s >/dev/null "level=critical msg=\"invalid config; not starting\"" "$LAB_DIR/h1.log" || fail "no log line: $(cat "$LAB_DIR/h1.log")"
[ ! -e "$LAB_DIR/h1.sock" ] || fail "control socket created"
pass "daemon refuses to start"

sed -i 's/192.0.2.50/198.51.100.50/' "$config"
out=$(lab_exec h1 "$HERALD_BIN/heraldd" --check --config "$config") || fail "valid config refused"
[ "$out" = "$config: OK (1 pool(s), 1 VIP(s), node h1)" ] || [[ $out == "$config: OK (1 pool(s), 1 VIP(s), node "* ]] || fail "said: $out"
pass "valid config accepted"

# Every shipped example is valid, apart from this host's interfaces.
for example in etc/herald.toml etc/lab/herald.toml; do
    out=$("$HERALD_BIN/heraldctl" check --offline "$example" 2>&1) || fail "$example has errors: $out"
    pass "$example: $out"
done

# --offline: the same checks without this host (CI on a repository of host configs);
# several files of one gossip cluster must agree on what they share.
repo="$LAB_DIR/repo"
# repo_host DIR NAME N PEER: a host config in DIR/NAME whose gossip binds 192.168.2.N and
# joins 192.168.2.PEER, with the shared pool.
repo_host() {
    mkdir -p "$1/$2/pools.d"
    printf '[node]\nname = "%s"\ninterfaces = ["vmbr0"]\n[gossip]\nbind = "192.168.2.%s:7946"\njoin = ["192.168.2.%s:7946"]\nkey_file = "/etc/herald/gossip.key"\n' \
        "$2" "$3" "$4" >"$1/$2/herald.toml"
    printf '[[pool]]\nname = "lab"\naddresses = ["192.168.2.100-192.168.2.120"]\n' >"$1/$2/pools.d/lab.toml"
}
repo_host "$repo" pve-1 11 12
repo_host "$repo" pve-2 12 11
out=$("$HERALD_BIN/heraldctl" check --offline "$repo"/pve-*/herald.toml 2>&1) || fail "offline check of two agreeing hosts: $out"
[ "$(echo "$out" | grep -c ': OK (1 pool(s), 0 VIP(s), node pve-[12], config digest [0-9a-f]\{16\})$')" = 2 ] || fail "said: $out"
sed -i 's/192.168.2.120/192.168.2.130/' "$repo/pve-2/pools.d/lab.toml"
status=0; out=$("$HERALD_BIN/heraldctl" check --offline "$repo"/pve-*/herald.toml 2>&1) || status=$?
[ "$status" = 78 ] || fail "differing hosts: exit $status: $out"
echo "$out" | grep -s >/dev/null "^gossip cluster \"herald\" ($repo/pve-1/herald.toml, $repo/pve-2/herald.toml): the hosts' shared config differs" || fail "said: $out"
echo "$out" | grep -s >/dev/null "^  [0-9a-f]\{16\}: $repo/pve-2/herald.toml$" || fail "pve-2 not named: $out"
status=0; "$HERALD_BIN/heraldctl" check "$repo/pve-1/herald.toml" >/dev/null 2>&1 || status=$?
[ "$status" = 78 ] || fail "without --offline the missing interface and key file must be errors (exit $status)"
pass "check --offline: host-independent checks, and two hosts whose pools differ are named"

# Two clusters in one repository (the FluxCD runbook's lab-dev and lab-prod), both under
# the default cluster name: each is checked on its own, so their pools may differ.
two="$LAB_DIR/two"
repo_host "$two/lab-dev" dev-1 21 22; repo_host "$two/lab-dev" dev-2 22 21
repo_host "$two/lab-prod" prod-1 31 32; repo_host "$two/lab-prod" prod-2 32 31
sed -i 's/192.168.2.100-192.168.2.120/192.168.2.140-192.168.2.150/' "$two"/lab-prod/*/pools.d/lab.toml
out=$("$HERALD_BIN/heraldctl" check --offline "$two"/*/*/herald.toml 2>&1) || fail "two clusters in one repository: $out"
sed -i 's/192.168.2.140-192.168.2.150/192.168.2.140-192.168.2.151/' "$two/lab-prod/prod-2/pools.d/lab.toml"
status=0; out=$("$HERALD_BIN/heraldctl" check --offline "$two"/*/*/herald.toml 2>&1) || status=$?
[ "$status" = 78 ] && echo "$out" | grep -s >/dev/null "^gossip cluster \"herald\" ($two/lab-prod/prod-1/herald.toml, $two/lab-prod/prod-2/herald.toml)" \
    || fail "a difference inside one of two clusters: $status $out"
pass "two clusters in one repository are checked each on its own: their pools may differ, a host that differs from its own cluster is named"

# [kubernetes] without a kubeconfig cannot work for a host service: a config error (78,
# so systemd does not restart it in a loop), said by heraldctl check and heraldd.
printf '[node]\ninterfaces = ["eth0"]\n[kubernetes]\n' >"$LAB_DIR/etc/kube.toml"
status=0; out=$(lab_exec h1 env -u KUBERNETES_SERVICE_HOST "$HERALD_BIN/heraldd" --config "$LAB_DIR/etc/kube.toml" \
    --control-socket "$LAB_DIR/k.sock" 2>&1) || status=$?
[ "$status" = 78 ] || fail "heraldd without a kubeconfig exited $status: $out"
echo "$out" | grep -s >/dev/null "kubernetes.kubeconfig: no kubernetes.kubeconfig set and not in a pod .*a host service needs kubernetes.kubeconfig" \
    || fail "said: $out"
printf '[node]\ninterfaces = ["eth0"]\n[kubernetes]\nkubeconfig = "%s/nope"\n' "$LAB_DIR" >"$LAB_DIR/etc/kube.toml"
status=0; out=$(lab_exec h1 "$HERALD_BIN/heraldctl" check "$LAB_DIR/etc/kube.toml" 2>&1) || status=$?
[ "$status" = 78 ] && echo "$out" | grep -s >/dev/null "kubernetes.kubeconfig: cannot use kubeconfig $LAB_DIR/nope: No such file" \
    || fail "heraldctl check of a missing kubeconfig: $status $out"
pass "a missing kubeconfig is a config error (78) for heraldd and heraldctl check"

# What heraldd checks at start against this host, heraldctl check says too, word for word
# (both load through one validation), and heraldd stops on it with 78 (systemd does not
# restart it). h1 has 198.51.100.11/24 and a default route through 198.51.100.1; h2
# (198.51.100.12) is a member it joins.
ip -n "$LAB-h1" route add default via 198.51.100.1
cat >"$LAB_DIR/etc/host.toml" <<TOML
[node]
interfaces = ["eth0"]

[gossip]
bind = "198.51.100.99:7946"
join = ["198.51.100.12:7946"]
insecure = true

[[vip]]
name = "network"
address = "198.51.100.0"

[[vip]]
name = "broadcast"
address = "198.51.100.255"

[[vip]]
name = "gateway"
address = "198.51.100.1"

[[vip]]
name = "member"
address = "198.51.100.12"

[[vip]]
name = "mine"
address = "198.51.100.11"
nodes = ["h2"]

[[pool]]
name = "elsewhere"
addresses = ["192.0.2.100-192.0.2.120"]
TOML
host="$LAB_DIR/etc/host.toml"
rm -f "$LAB_DIR/etc/pools.d/lab.toml"
expected="$host:4: gossip.bind: 198.51.100.99 is not an address of this host, so heraldd could not bind it (this host's addresses: 127.0.0.1, 198.51.100.11, ::1, 2001:db8:100::11, fe80::ff:fe00:b)
$host:9: vip.address: 198.51.100.0 is the network address of eth0's subnet 198.51.100.0/24, so it cannot be a VIP
$host:13: vip.address: 198.51.100.255 is the broadcast address of eth0's subnet 198.51.100.0/24, so it cannot be a VIP
$host:17: vip.address: 198.51.100.1 is this host's default gateway, so it cannot be a VIP
$host:21: vip.address: 198.51.100.12 is the gossip address of a cluster member (gossip.join), so it cannot be a VIP
$host:25: vip.address: 198.51.100.11 is configured on eth0: the kernel already answers for it, so it cannot be a VIP
$host:30: pool.addresses: range 192.0.2.100-192.0.2.120 is on no subnet of the interfaces Herald uses here (eth0: 198.51.100.11/24 2001:db8:100::11/64 fe80::ff:fe00:b/64), so this host could never answer for it; list the interface in node.interfaces, or leave this host out with the pool's nodes"
status=0; out=$(lab_exec h1 "$HERALD_BIN/heraldctl" check "$host" 2>&1) || status=$?
[ "$status" = 78 ] && [ "$out" = "$expected" ] || fail "heraldctl check of host errors exited $status: $out"
status=0; out=$(lab_exec h1 "$HERALD_BIN/heraldd" --config "$host" --control-socket "$LAB_DIR/h1.sock" 2>&1) || status=$?
[ "$status" = 78 ] && [ "$(echo "$out" | grep -v 'invalid config; not starting')" = "$expected" ] || fail "heraldd exited $status: $out"
printf '%s\n' "$out" | grep -v 'invalid config' | sed 's/^/    /'
pass "a non-local bind, the subnet's network and broadcast addresses, the gateway, a member's and this host's own address, a pool on no subnet: heraldctl check and heraldd say the same, heraldd exits 78"

# The key as heraldd's user reads it, not as the caller (root) does.
printf '[node]\ninterfaces = ["eth0"]\n[gossip]\nbind = "198.51.100.11:7946"\nkey_file = "%s/gossip.key"\n' "$LAB_DIR" >"$LAB_DIR/etc/key.toml"
lab_exec h1 "$HERALD_BIN/heraldctl" keygen "$LAB_DIR/gossip.key" >/dev/null
chmod 755 "$LAB_DIR"
lab_exec h1 "$HERALD_BIN/heraldctl" check "$LAB_DIR/etc/key.toml" >/dev/null || fail "root cannot use its own key"
status=0; out=$(lab_exec h1 "$HERALD_BIN/heraldctl" check --user nobody "$LAB_DIR/etc/key.toml" 2>&1) || status=$?
[ "$status" = 78 ] && [ "$out" = "$LAB_DIR/etc/key.toml:5: gossip.key_file: cannot use key file $LAB_DIR/gossip.key: heraldd runs as user nobody, who cannot read it (owner uid 0, mode 600); run: chown nobody:nobody $LAB_DIR/gossip.key" ] \
    || fail "a key heraldd's user cannot read: $status $out"
pass "check --user nobody: $out"
