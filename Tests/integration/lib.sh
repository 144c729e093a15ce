# Common setup for integration tests: strict mode, the lab, and assertions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lab.sh

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# doc_block FILE TEXT: the shell block of FILE (README.md, docs/…) that contains TEXT and
# whose marker line, `<!-- run: TEST -->`, names the calling test: the commands as users
# copy them, for the test to run verbatim. Fails, saying so, when there is none.
doc_block() {
    /usr/bin/python3 - "$1" "$2" "$(basename "$0" .sh)" <<'PY'
import re, sys
name, text, test = sys.argv[1:]
doc = open(name).read()
for m in re.finditer(r'^<!-- run: ([^\n]*) -->\n```sh\n(.*?)^```', doc, re.S | re.M):
    if test in re.split(r',\s*', m.group(1)) and text in m.group(2):
        sys.stdout.write(m.group(2))
        sys.exit(0)
sys.exit(f"{name}: no shell block marked <!-- run: {test} --> contains {text!r}")
PY
}

# Starts a lab named after the test (unique per run) and cleans it up however we exit.
test_lab() {
    lab_init "ht$(basename "$0" .sh | tr -cd 'a-z0-9' | cut -c1-8)$BASHPID"
    trap lab_cleanup EXIT
}

# one_host_lab ADDRESS...: host h1 (02:00:00:00:00:0b) and client c on one bridge, and
# heraldd on h1, ready, answering for ADDRESS...
one_host_lab() {
    test_lab
    lab_host h1 11
    lab_host c 2
    lab_vip_config "$@"
    lab_heraldd h1 "$LAB_DIR/herald.toml"
    lab_wait_ready h1
}

# arping_macs HOST IP COUNT: the MAC of every reply, one per line (Habets arping; its
# status 1 means no reply, which is an answer too).
arping_macs() {
    local out
    out=$(may_fail lab_exec "$1" arping -i eth0 -c "$3" -W 0.2 "$2" 2>/dev/null)
    printf '%s\n' "$out" | sed -n 's/^.* bytes from \([0-9a-f:]*\) .*/\1/p'
}

# ndisc_mac HOST IP [IFACE]: the target link-layer address ndisc6 learns, or nothing when
# nobody answers (status 2); any other failure fails the test.
ndisc_mac() {
    local out status=0
    out=$(lab_exec "$1" ndisc6 -1 -r 3 -w 300 "$2" "${3:-eth0}" 2>/dev/null) || status=$?
    [ "$status" = 0 ] || [ "$status" = 2 ] || fail "ndisc6 $2 failed with status $status"
    printf '%s\n' "$out" | sed -n 's/^Target link-layer address: //p' | tr 'A-F' 'a-f'
}

# counter HOST JSON-PATH: a number from `heraldctl status --json`, summed over links.
counter() {
    lab_ctl "$1" status --json | /usr/bin/python3 -c '
import json, sys
status = json.load(sys.stdin)
kind, key = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
total = 0
for link in status["links"]:
    values = link["counters"][kind]
    total += sum(v for k, v in values.items() if key is None or k.startswith(key)) if isinstance(values, dict) else values
print(total)' "${@:2}"
}

# Waits (at most 30 s) until HOST's counters stop changing for half a second: the daemon
# has worked through whatever was queued.
wait_settled() {
    local before after i
    before=$(lab_ctl "$1" status --json)
    for i in $(seq 60); do
        sleep 0.5
        after=$(lab_ctl "$1" status --json | sed 's/"uptimeSeconds":[0-9]*//')
        [ "$after" = "$before" ] && return 0
        before=$after
    done
    fail "counters of $1 still changing after 30 s"
}

# cluster_lab N [VIP...]: hosts h1..hN (198.51.100.11..) and client c on one bridge, a
# shared gossip key, heraldd on every host announcing the VIPs (default: 198.51.100.50
# to .55), all ready, seeing each other alive, each VIP with one agreed owner answering.
cluster_lab() {
    local size=$1 i j peers
    shift
    test_lab
    for i in $(seq "$size"); do lab_host "h$i" $((10 + i)); done
    lab_host c 2
    lab_gossip_key
    local vips=("$@")
    [ ${#vips[@]} -gt 0 ] || vips=(198.51.100.50 198.51.100.51 198.51.100.52 198.51.100.53 198.51.100.54 198.51.100.55)
    : >"$LAB_DIR/vips.toml"
    for i in "${!vips[@]}"; do printf '[[vip]]\nname = "vip%s"\naddress = "%s"\n' "$i" "${vips[$i]}" >>"$LAB_DIR/vips.toml"; done
    for i in $(seq "$size"); do
        peers=()
        for j in $(seq "$size"); do [ "$j" = "$i" ] || peers+=($((10 + j))); done
        lab_cluster_config "h$i" $((10 + i)) "${peers[@]}"
        lab_heraldd "h$i" "$LAB_DIR/h$i.toml"
    done
    for i in $(seq "$size"); do lab_wait_ready "h$i"; done
    wait_members_alive "$size" h1
    # Settled: a daemon's view may still show a member starting (its addresses wait for
    # it, up to startupWait) after everyone is alive; tests start from one agreed owner.
    local hosts=()
    for i in $(seq "$size"); do hosts+=("h$i"); done
    for i in "${!vips[@]}"; do wait_one_owner "${vips[$i]}" "${hosts[@]}" >/dev/null; done
}

# k8s_hosts: hosts h1..h3 (.11-.13), the test API server in k listing them as Nodes, the
# client c; nothing started on the hosts.
k8s_hosts() {
    local i
    test_lab
    lab_host k 5
    for i in 1 2 3; do lab_host "h$i" $((10 + i)); done
    lab_host c 2
    lab_kube_api
    kubectl apply -f Tests/support/manifests/nodes-h1-h3.yaml >/dev/null
}

# k8s_heraldd: heraldd on h1..h3 with gossip (port $LAB_GOSSIP_PORT, default 7946) and
# [kubernetes] (the pool homelab, 198.51.100.100-110); returns when all three are ready
# and see each other alive.
k8s_heraldd() {
    local i
    lab_gossip_key
    printf '[kubernetes]\nkubeconfig = "%s"\n[[pool]]\nname = "homelab"\naddresses = ["198.51.100.100-198.51.100.110"]\n' \
        "$LAB_DIR/pki/herald.kubeconfig" >"$LAB_DIR/vips.toml"
    lab_cluster_config h1 11 12 13; lab_cluster_config h2 12 11 13; lab_cluster_config h3 13 11 12
    for i in 1 2 3; do lab_heraldd "h$i" "$LAB_DIR/h$i.toml"; done
    for i in 1 2 3; do lab_wait_ready "h$i"; done
    wait_members_alive 3 h1 h2 h3
}

# k8s_cluster_lab: k8s_hosts, then k8s_heraldd.
k8s_cluster_lab() { k8s_hosts; k8s_heraldd; }

# wait_members_alive COUNT HOST...: each HOST sees COUNT members alive (at most 30 s).
wait_members_alive() {
    local count=$1 host i
    shift
    for host in "$@"; do
        for i in $(seq 300); do
            [ "$(lab_ctl "$host" members --json | /usr/bin/python3 -c 'import json,sys; print(sum(m["status"] == "alive" for m in json.load(sys.stdin)["members"]))')" = "$count" ] && break
            sleep 0.1
        done
        [ "$i" != 300 ] || fail "$host does not see $count members alive: $(lab_ctl "$host" members)"
    done
}

# wait_one_owner VIP HOST...: waits (at most 20 s) until every HOST elects the same owner
# for VIP and only that owner's MAC answers it; prints the owner.
wait_one_owner() {
    local vip=$1 owner host agreed i macs
    shift
    for i in $(seq 40); do
        owner=$(owner_of "$1" "$vip")
        agreed=yes
        for host in "$@"; do [ "$(owner_of "$host" "$vip")" = "$owner" ] || agreed=no; done
        macs=$(arping_macs c "$vip" 3 | sort -u | tr '\n' ' ')
        if [ -n "$owner" ] && [ $agreed = yes ] && [ "$macs" = "$(mac_of "$owner") " ]; then echo "$owner"; return 0; fi
        sleep 0.3
    done
    fail "$vip: no single agreed owner after 20 s (h1 elects $(owner_of "$1" "$vip"), answered by: $macs)"
}

# mac_of HOST: the lab MAC of hN.
mac_of() { printf '02:00:00:00:00:%02x' $((10 + ${1#h})); }

# owner_of HOST VIP: the owner HOST's heraldd elects for VIP (empty while it has none, or
# does not know the address yet).
owner_of() {
    lab_ctl "$1" vips --json | /usr/bin/python3 -c 'import json,sys; print(next((v.get("owner", "") for v in json.load(sys.stdin)["vips"] if v["address"] == sys.argv[1]), ""))' "$2"
}

# runner_up HOST VIP: the next eligible candidate after the owner, in election order.
runner_up() {
    lab_ctl "$1" explain "$2" --json | /usr/bin/python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)["candidates"] if c["eligible"]][1])'
}

# wait_answered_by VIP MAC SECONDS: polls with arping from c until MAC answers VIP.
wait_answered_by() {
    local vip=$1 mac=$2 deadline=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -le "$deadline" ]; do
        [[ " $(arping_macs c "$vip" 1 | tr '\n' ' ') " == *" $mac "* ]] && return 0
    done
    return 1
}

# only_mac VIP COUNT: COUNT requests, every reply from one MAC, printed; fails otherwise.
only_mac() {
    local macs
    macs=$(arping_macs c "$1" "$2")
    [ -n "$macs" ] || fail "$1: no reply"
    [ "$(echo "$macs" | sort -u | wc -l)" = 1 ] || fail "$1: answered by several MACs: $(echo "$macs" | sort | uniq -c | tr '\n' ' ')"
    [ "$(echo "$macs" | wc -l)" = "$2" ] || fail "$1: $(echo "$macs" | wc -l) replies to $2 requests"
    echo "$macs" | head -n 1
}

# rolling_restart VIP ROUNDS HOST...: a client (c) asks for VIP every 10 ms (arpblast asks)
# while each HOST in turn is stopped with SIGTERM (exit status 0 required), started again
# and awaited until every host sees all of them alive; ROUNDS times over. Prints the
# client's summary line: "asks=N answered=N unanswered=N slowest_ms=... macs=...". Run it
# in the shell that started the hosts (not in a $(...) subshell): it waits for them.
rolling_restart() {
    local vip=$1 rounds=$2 round host i
    shift 2
    lab_spawn asks c "$ARPBLAST" eth0 asks "$vip" 10
    sleep 1
    for round in $(seq "$rounds"); do
        for host in "$@"; do
            lab_stop "$host" || fail "$host: exit status $(cat "$LAB_DIR/$host.exit") on SIGTERM"
            lab_heraldd "$host" "$LAB_DIR/$host.toml"
            lab_wait_ready "$host" >/dev/null
            wait_members_alive "$#" "$@"
        done
    done
    sleep 1
    kill -INT "$(cat "$LAB_DIR/asks.pid")"
    for i in $(seq 50); do grep -q '^asks=' "$LAB_DIR/asks.log" && break; sleep 0.1; done
    grep '^asks=' "$LAB_DIR/asks.log" || fail "the client did not report: $(cat "$LAB_DIR/asks.log")"
}
