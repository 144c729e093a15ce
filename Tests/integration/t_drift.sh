# Config drift: three hosts of one cluster with [kubernetes], and h1 — the allocator —
# reloads a pool the others do not have. Every host names h1 (journal, heraldctl members,
# herald_config_drift, a warning in heraldctl status), the allocator keeps the Service on
# the address it holds although its own pools no longer contain it, and once h1's pool
# is back the drift clears everywhere.
source "$(dirname "$0")/lib.sh"
k8s_cluster_lab

kubectl apply -f Tests/support/manifests/nginx.yaml >/dev/null
for i in $(seq 100); do [ -n "$(external nginx-test-lb)" ] && break; sleep 0.1; done
[ "$(external nginx-test-lb)" = 198.51.100.100 ] || fail "EXTERNAL-IP '$(external nginx-test-lb)'"
# differs HOST: the members HOST sees with a config that differs, by name.
differs() {
    lab_ctl "$1" members --json | /usr/bin/python3 -c \
        'import json,sys; print(" ".join(m["name"] for m in json.load(sys.stdin)["members"] if m.get("configDiffers")))'
}
for host in h1 h2 h3; do [ -z "$(differs $host)" ] || fail "$host sees drift before any: $(lab_ctl $host members)"; done
digests=$(lab_ctl h2 members --json | /usr/bin/python3 -c 'import json,sys; print(len({m["configDigest"] for m in json.load(sys.stdin)["members"]}))')
[ "$digests" = 1 ] || fail "one config, $digests digests: $(lab_ctl h2 members)"
pass "three hosts, one config digest; the Service holds 198.51.100.100"

# h1 moves the pool (a half-finished rollout): everyone names h1.
sed -i 's/198.51.100.100-198.51.100.110/198.51.100.150-198.51.100.160/' "$LAB_DIR/h1.toml"
kill -HUP "$(lab_pid h1)"
for host in h1 h2 h3; do
    for i in $(seq 100); do [ "$(differs $host)" = h1 ] && break; sleep 0.1; done
    [ "$(differs $host)" = h1 ] || fail "$host does not name h1: $(lab_ctl $host members)"
done
grep -s >/dev/null "this host's config differs from the cluster's: h1" "$LAB_DIR/h1.log" || fail "h1's journal does not say its config differs"
for host in h2 h3; do
    grep -s >/dev/null 'config differs between hosts: h1' "$LAB_DIR/$host.log" || fail "$host's journal does not name h1"
done
lab_exec h2 curl -sf http://127.0.0.1:9473/metrics | grep -s >/dev/null '^herald_config_drift{node="h1",config_digest="[0-9a-f]*"} 1$' \
    || fail "no herald_config_drift sample for h1: $(lab_exec h2 curl -sf http://127.0.0.1:9473/metrics | grep drift)"
lab_ctl h3 members | grep -s >/dev/null '^h1 .* DIFFERS$' || fail "heraldctl members: $(lab_ctl h3 members)"
lab_ctl h3 status 2>&1 >/dev/null | grep -s >/dev/null '^WARNING: config differs between hosts: h1' || fail "no warning in heraldctl status"
pass "h1's pool differs: named by h1, h2 and h3 (journal, members, metric, status)"

# The allocator (h1) sees a change of the Service; its pools no longer hold the address,
# but it does not move the Service while the configs differ.
kubectl annotate service nginx-test-lb touched=yes >/dev/null
for i in $(seq 50); do grep -s >/dev/null 'default/nginx-test-lb: not moved to 198.51.100.150' "$LAB_DIR/h1.log" && break; sleep 0.1; done
grep -s >/dev/null 'default/nginx-test-lb: not moved to 198.51.100.150' "$LAB_DIR/h1.log" || fail "h1 does not say it keeps the address: $(tail -5 "$LAB_DIR/h1.log")"
sleep 1
[ "$(external nginx-test-lb)" = 198.51.100.100 ] || fail "the Service moved to '$(external nginx-test-lb)' while the configs differ"
pass "while the configs differ, the Service keeps 198.51.100.100"

sed -i 's/198.51.100.150-198.51.100.160/198.51.100.100-198.51.100.110/' "$LAB_DIR/h1.toml"
kill -HUP "$(lab_pid h1)"
for host in h1 h2 h3; do
    for i in $(seq 100); do [ -z "$(differs $host)" ] && break; sleep 0.1; done
    [ -z "$(differs $host)" ] || fail "$host still sees drift: $(lab_ctl $host members)"
    grep -s >/dev/null 'config agrees across the cluster' "$LAB_DIR/$host.log" || fail "$host does not say the config agrees again"
done
[ "$(external nginx-test-lb)" = 198.51.100.100 ] || fail "the Service lost its address: '$(external nginx-test-lb)'"
pass "h1's pool back: the drift clears on every host"
