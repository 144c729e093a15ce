# 10 % packet loss on every host (tc netem, or nftables where the kernel lacks netem) for
# 30 s: no member is declared dead, no VIP moves, and each VIP keeps one owner.
source "$(dirname "$0")/lib.sh"
cluster_lab 3 198.51.100.50 198.51.100.51 198.51.100.52
takeovers() { for h in h1 h2 h3; do lab_ctl $h status --json; done | /usr/bin/python3 -c '
import json, sys
decoder = json.JSONDecoder(); text = sys.stdin.read(); total = 0; index = 0
while index < len(text.strip()):
    value, end = decoder.raw_decode(text, index); total += value["gossip"]["takeovers"]; index = end
    while index < len(text) and text[index].isspace(): index += 1
print(total)'; }
before=$(takeovers)
owners_before=$(for v in 198.51.100.50 198.51.100.51 198.51.100.52; do owner_of h1 $v; done | tr '\n' ' ')
for h in h1 h2 h3; do lab_loss $h 10; done
sleep 30
for h in h1 h2 h3; do lab_loss $h 0; done
after=$(takeovers)
owners_after=$(for v in 198.51.100.50 198.51.100.51 198.51.100.52; do owner_of h1 $v; done | tr '\n' ' ')
! grep -h 'msg="member dead"' "$LAB_DIR"/h[123].log || fail "a member was declared dead under 10 % loss"
[ "$before" = "$after" ] || fail "VIPs moved under loss: takeovers $before -> $after"
[ "$owners_before" = "$owners_after" ] || fail "owners changed: $owners_before -> $owners_after"
pass "30 s at 10 % loss: no death, no takeover ($(grep -ch 'msg="member suspect"' "$LAB_DIR"/h[123].log | awk "{s+=\$1} END {print s}") suspicions refuted)"
