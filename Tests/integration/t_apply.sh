# heraldctl apply: a rollout's step on one host. A new config directory is checked first
# (an invalid one installs nothing, exit 78), swapped in and reloaded; one heraldd refuses
# is rolled back (exit 1), so the files on disk always are the config that runs; the same
# directory again is a no-op.
source "$(dirname "$0")/lib.sh"
test_lab
lab_host h1 11; lab_host c 2
etc="$LAB_DIR/etc"
mkdir -p "$etc/pools.d"
printf '[node]\ninterfaces = ["eth0"]\n[[vip]]\nname = "a"\naddress = "198.51.100.50"\n' >"$etc/herald.toml"
lab_heraldd h1 "$etc/herald.toml"
lab_wait_ready h1
apply() { lab_exec h1 "$HERALD_BIN/heraldctl" apply --config "$etc/herald.toml" --socket "$LAB_DIR/h1.sock" "$@"; }
snapshot() { (cd "$etc" && find . -type f | sort | xargs cat); }

# A directory shaped like /etc/herald: herald.toml and a pools.d fragment with a second VIP.
next="$LAB_DIR/next"
mkdir -p "$next/pools.d"
cp "$etc/herald.toml" "$next/herald.toml"
printf '[[vip]]\nname = "b"\naddress = "198.51.100.51"\n' >"$next/pools.d/b.toml"
out=$(apply "$next") || fail "apply of a good config: $out"
[[ $out == "installed $next as $etc/herald.toml; heraldd: config reloaded: vips +1 -0 ~0"* ]] || fail "said: $out"
cmp -s "$next/pools.d/b.toml" "$etc/pools.d/b.toml" || fail "pools.d not installed"
for i in $(seq 30); do [ -n "$(arping_macs c 198.51.100.51 1)" ] && break; sleep 0.1; done
[ "$(arping_macs c 198.51.100.51 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "the new VIP is not answered"
[ -z "$(ls -A "$etc" | grep herald-apply)" ] || fail "staging left behind: $(ls -A "$etc")"
pass "$out"

out=$(apply "$next") || fail "apply of the same config: $out"
[ "$out" = "$etc/herald.toml: already the config in $next; nothing to do" ] || fail "said: $out"
pass "the same directory again: $out"

# Invalid: nothing installed, the errors named in the source's files, exit 78.
before=$(snapshot)
printf '[[vip]]\nname = "c"\naddress = "198.51.100.300"\n' >"$next/pools.d/c.toml"
status=0; out=$(apply "$next" 2>&1) || status=$?
[ "$status" = 78 ] || fail "apply of an invalid config exited $status: $out"
echo "$out" | has -x "$next/pools.d/c.toml:3: vip.address: '198.51.100.300' is not an IP address" || fail "said: $out"
[ "$(snapshot)" = "$before" ] || fail "an invalid config changed the installed files"
pass "an invalid config: exit 78, nothing installed: $(echo "$out" | head -n 1)"
rm "$next/pools.d/c.toml"

# Valid, but heraldd refuses it (metrics take a restart): rolled back, exit 1.
printf '[metrics]\nlisten = "127.0.0.1:9473"\n' >>"$next/herald.toml"
status=0; out=$(apply "$next" 2>&1) || status=$?
[ "$status" = 1 ] || fail "apply of a refused config exited $status: $out"
echo "$out" | has 'metrics.listen: changed from absent to 127.0.0.1:9473; this takes a restart' || fail "said: $out"
echo "$out" | has -x 'the previous files are back in place' || fail "said: $out"
[ "$(snapshot)" = "$before" ] || fail "a refused config stayed installed"
[ "$(arping_macs c 198.51.100.51 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "VIP lost after a refused apply"
pass "a config heraldd refuses: exit 1, the previous files back, still answering"

# --no-reload installs it for a restart.
out=$(apply --no-reload "$next") || fail "apply --no-reload: $out"
grep -q '^listen = "127.0.0.1:9473"$' "$etc/herald.toml" || fail "not installed with --no-reload"
pass "$out"
