# scripts/check-deps.py, which `make test` runs first, accounts for every command the
# scripts and tests run, and names what is missing: taking packages out of the list makes
# it fail, naming each command and its package (the four a fresh Debian 12 lacked).
source "$(dirname "$0")/lib.sh"
out=$(/usr/bin/python3 scripts/check-deps.py 2>&1) || fail "check-deps fails on the real list: $out"
pass "$(echo "$out" | tail -n 1)"
if out=$(/usr/bin/python3 scripts/check-deps.py --exclude lintian --exclude iputils-ping --exclude kubectl --exclude dpkg-dev 2>&1); then
    fail "check-deps passes without lintian, iputils-ping, kubectl and dpkg-dev: $out"
fi
for expected in 'lintian (used in' 'ping (used in' 'kubectl (used in' 'dpkg-shlibdeps (used in'; do
    echo "$out" | grep -qF "check-deps: $expected" || fail "check-deps does not name ${expected%% *}: $out"
done
echo "$out" | grep -q 'dpkg-shlibdeps .*add package dpkg-dev' || fail "check-deps does not name dpkg-dev: $out"
pass "without them it fails, naming lintian, ping, kubectl and dpkg-shlibdeps (dpkg-dev)"
