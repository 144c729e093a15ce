# Gossip key rotation without downtime, by reload only: add the new key as secondary
# everywhere, make it primary node by node, drop the old one. No member is suspected,
# no packet is rejected, no VIP moves; a node left with only the old key is shut out.
source "$(dirname "$0")/lib.sh"
cluster_lab 3 198.51.100.50 198.51.100.51 198.51.100.52
reload_all() {
    local host before
    for host in "$@"; do
        before=$(count 'msg="config reloaded' "$LAB_DIR/$host.log")
        kill -HUP "$(lab_pid "$host")"
        for i in $(seq 50); do [ "$(count 'msg="config reloaded' "$LAB_DIR/$host.log")" -gt "$before" ] && break; sleep 0.1; done
        [ "$(count 'msg="config reloaded' "$LAB_DIR/$host.log")" -gt "$before" ] || fail "$host did not reload: $(tail -3 "$LAB_DIR/$host.log")"
    done
}
rejected() { lab_ctl "$1" status --json | /usr/bin/python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["gossip"]["rejected"].values()))'; }
owners() { for vip in 198.51.100.50 198.51.100.51 198.51.100.52; do owner_of h1 $vip; done | tr '\n' ' '; }
before_owners=$(owners)
marks=()
for host in h1 h2 h3; do marks+=("$(wc -l <"$LAB_DIR/$host.log")"); done

# Each host gets its own copy of the key file (a key_file path change applies on reload).
for host in h1 h2 h3; do
    install -m 600 "$LAB_DIR/gossip.key" "$LAB_DIR/$host.key"
    sed -i "s|$LAB_DIR/gossip.key|$LAB_DIR/$host.key|" "$LAB_DIR/$host.toml"
done
reload_all h1 h2 h3
cp "$LAB_DIR/gossip.key" "$LAB_DIR/old.key"

# 1. The new key, secondary, on every node.
"$HERALD_BIN/heraldctl" keygen --add --secondary "$LAB_DIR/h1.key" >/dev/null
[ "$(wc -l <"$LAB_DIR/h1.key")" = 2 ] && [ "$(head -n 1 "$LAB_DIR/h1.key")" = "$(cat "$LAB_DIR/old.key")" ] || fail "--secondary did not append"
install -m 600 "$LAB_DIR/h1.key" "$LAB_DIR/h2.key"; install -m 600 "$LAB_DIR/h1.key" "$LAB_DIR/h3.key"
reload_all h1 h2 h3
# 2. Primary node by node, with a pause in between: mixed keys must interoperate.
for host in h1 h2 h3; do
    tac "$LAB_DIR/$host.key" >"$LAB_DIR/$host.key.new"; chmod 600 "$LAB_DIR/$host.key.new"; mv "$LAB_DIR/$host.key.new" "$LAB_DIR/$host.key"
    reload_all "$host"
    sleep 1
done
# 3. Drop the old key everywhere.
for host in h1 h2 h3; do
    head -n 1 "$LAB_DIR/$host.key" >"$LAB_DIR/$host.key.new"; chmod 600 "$LAB_DIR/$host.key.new"; mv "$LAB_DIR/$host.key.new" "$LAB_DIR/$host.key"
done
reload_all h1 h2 h3
sleep 2
wait_members_alive 3 h1 h2 h3
for n in 0 1 2; do
    host=h$((n + 1))
    [ "$(rejected "$host")" = 0 ] || fail "$host rejected packets during the rotation: $(lab_ctl "$host" status --json)"
    ! tail -n +"$((marks[n] + 1))" "$LAB_DIR/$host.log" | grep -E 'msg="member (suspect|dead)' || fail "$host suspected a member during the rotation"
done
[ "$(owners)" = "$before_owners" ] || fail "VIPs moved during the rotation: $before_owners -> $(owners)"
pass "rotated by reload: no suspicion, no rejected packet, no VIP moved ($before_owners)"

# A node still on the old key cannot join any more.
lab_host h4 14
lab_cluster_config h4 14 11
sed -i "s|$LAB_DIR/gossip.key|$LAB_DIR/old.key|" "$LAB_DIR/h4.toml"
lab_heraldd h4 "$LAB_DIR/h4.toml"
lab_wait_ready h4
for i in $(seq 50); do grep -s >/dev/null 'rejected gossip from 198.51.100.14:7946' "$LAB_DIR/h1.log" && break; sleep 0.1; done
grep -s >/dev/null 'rejected gossip from 198.51.100.14:7946' "$LAB_DIR/h1.log" || fail "the old key is still accepted"
pass "a node with only the retired key is rejected"
