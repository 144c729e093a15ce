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

# Every shipped example is valid TOML with only known keys.
for example in etc/herald.toml etc/lab/herald.toml; do
    errors=$("$HERALD_BIN/heraldctl" check "$example" 2>&1 | grep -v ': OK (\|is on no subnet\|does not exist on this host' || [ $? = 1 ])
    [ -z "$errors" ] || fail "$example has errors: $errors"
    pass "$example has no errors beyond this host's interfaces"
done
