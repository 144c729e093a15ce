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
for host in pve-1 pve-2; do
    mkdir -p "$repo/$host/pools.d"
    printf '[node]\nname = "%s"\ninterfaces = ["vmbr0"]\n[gossip]\nbind = "192.168.2.1%s:7946"\nkey_file = "/etc/herald/gossip.key"\n' \
        "$host" "${host#pve-}" >"$repo/$host/herald.toml"
    printf '[[pool]]\nname = "lab"\naddresses = ["192.168.2.100-192.168.2.120"]\n' >"$repo/$host/pools.d/lab.toml"
done
out=$("$HERALD_BIN/heraldctl" check --offline "$repo"/pve-*/herald.toml 2>&1) || fail "offline check of two agreeing hosts: $out"
[ "$(echo "$out" | grep -c ': OK (1 pool(s), 0 VIP(s), node pve-[12], config digest [0-9a-f]\{16\})$')" = 2 ] || fail "said: $out"
sed -i 's/192.168.2.120/192.168.2.130/' "$repo/pve-2/pools.d/lab.toml"
status=0; out=$("$HERALD_BIN/heraldctl" check --offline "$repo"/pve-*/herald.toml 2>&1) || status=$?
[ "$status" = 78 ] || fail "differing hosts: exit $status: $out"
echo "$out" | grep -s >/dev/null "^gossip cluster \"herald\": the hosts' shared config differs" || fail "said: $out"
echo "$out" | grep -s >/dev/null "^  [0-9a-f]\{16\}: $repo/pve-2/herald.toml$" || fail "pve-2 not named: $out"
status=0; "$HERALD_BIN/heraldctl" check "$repo/pve-1/herald.toml" >/dev/null 2>&1 || status=$?
[ "$status" = 78 ] || fail "without --offline the missing interface and key file must be errors (exit $status)"
pass "check --offline: host-independent checks, and two hosts whose pools differ are named"

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
