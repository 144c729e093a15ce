# Five daemons: exactly one MAC answers each VIP, it is the elected owner's, VIPs spread
# over the hosts, and every daemon agrees. A daemon with the wrong key is rejected and
# the others say why.
source "$(dirname "$0")/lib.sh"
cluster_lab 5
owners=()
for vip in 198.51.100.50 198.51.100.51 198.51.100.52 198.51.100.53 198.51.100.54 198.51.100.55; do
    owner=$(owner_of h1 $vip)
    for host in h2 h3 h4 h5; do [ "$(owner_of $host $vip)" = "$owner" ] || fail "$host elects $(owner_of $host $vip) for $vip, h1 $owner"; done
    mac=$(only_mac $vip 4)
    [ "$mac" = "$(mac_of "$owner")" ] || fail "$vip answered by $mac, owner is $owner"
    owners+=("$owner")
    pass "$vip: owner $owner ($mac) on every daemon, the only MAC that answers"
done
[ "$(printf '%s\n' "${owners[@]}" | sort -u | wc -l)" -ge 3 ] || fail "VIPs not spread: ${owners[*]}"
pass "VIPs spread over $(printf '%s\n' "${owners[@]}" | sort -u | wc -l) hosts"
lab_ctl h1 vips
lab_ctl h1 explain 198.51.100.50

# A sixth daemon with its own key: rejected, and the reason is logged on both sides.
lab_host h6 16
cp "$LAB_DIR/h5.toml" "$LAB_DIR/h6.toml"
sed -i 's/198.51.100.15:7946"/198.51.100.16:7946"/; s|gossip.key|wrong.key|' "$LAB_DIR/h6.toml"
sed -i 's/^join = .*/join = ["198.51.100.11:7946"]/' "$LAB_DIR/h6.toml"
"$HERALD_BIN/heraldctl" keygen "$LAB_DIR/wrong.key" >/dev/null
lab_heraldd h6 "$LAB_DIR/h6.toml"
lab_wait_ready h6
for i in $(seq 50); do grep -s >/dev/null 'rejected gossip from 198.51.100.16:7946' "$LAB_DIR/h1.log" && break; sleep 0.1; done
grep 'rejected gossip from 198.51.100.16:7946' "$LAB_DIR/h1.log" | head -n 1 | grep -s >/dev/null 'wrong key or cluster name' \
    || fail "h1 did not say why: $(tail -n 5 "$LAB_DIR/h1.log")"
for i in $(seq 60); do grep -s >/dev/null 'no answer from join peers' "$LAB_DIR/h6.log" && break; sleep 0.1; done
grep 'no answer from join peers 198.51.100.11:7946' "$LAB_DIR/h6.log" | grep -s >/dev/null 'gossip.key' || fail "h6 did not say why: $(tail -n 3 "$LAB_DIR/h6.log")"
[ "$(lab_ctl h1 status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["gossip"]["rejected"].get("gossip_authentication_failed", 0))')" -gt 0 ] \
    || fail "rejection not counted"
lab_ctl h1 members | grep -s >/dev/null h6 && fail "h6 joined with the wrong key"
pass "wrong key rejected: $(grep -m1 'rejected gossip from 198.51.100.16' "$LAB_DIR/h1.log" | sed 's/.*msg=//')"

# The cluster in the metrics: members by state, probe round trips, the rejected key.
lab_exec h1 curl -sf http://127.0.0.1:9473/metrics >"$LAB_DIR/metrics.txt" || fail "no metrics from h1"
promtool check metrics <"$LAB_DIR/metrics.txt" || fail "promtool rejects h1's exposition"
grep -qxF 'herald_members{state="alive"} 5' "$LAB_DIR/metrics.txt" || fail "members: $(grep herald_members "$LAB_DIR/metrics.txt")"
rtts=$(sed -n 's/^herald_gossip_probe_rtt_seconds_count //p' "$LAB_DIR/metrics.txt")
[ "${rtts:-0}" -gt 0 ] || fail "no probe round trips measured"
grep -q '^herald_gossip_packets_rejected_total{reason="gossip_authentication_failed"} [1-9]' "$LAB_DIR/metrics.txt" || fail "rejections not in metrics"
announced=0
for host in h1 h2 h3 h4 h5; do
    lab_exec $host curl -sf http://127.0.0.1:9473/metrics >"$LAB_DIR/metrics-$host.txt" || fail "no metrics from $host"
    announced=$((announced + $(count '^metallb_speaker_announced{' "$LAB_DIR/metrics-$host.txt")))
done
[ "$announced" = 6 ] || fail "$announced announcements in the metrics of 5 hosts, want 6 (one per VIP)"
pass "metrics: 5 members alive, $rtts probe round trips, rejections by reason, each VIP announced once"
