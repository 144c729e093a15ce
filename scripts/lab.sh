# Network-namespace lab shared by `make demo`, the integration tests and `make bench`.
# Source it, call lab_init with a unique prefix, and `trap lab_cleanup EXIT`.
#
# Topology: namespace $LAB-sw holds the "switch" (bridges br0, br1); every host is a
# namespace with eth0 (and optionally eth1) plugged into it. Host N on segment 0 gets
# MAC 02:00:00:00:00:NN, 198.51.100.N/24 and 2001:db8:100::N/64 — documentation ranges,
# so nothing here can reach or be mistaken for a real network.

HERALD_BIN=${HERALD_BIN:-$(pwd)/.build/debug}
# kubectl as scripts/install-deps.sh installs it (a current release, from PyPI).
PATH="$(pwd)/.build/tools/bin:$PATH"
ARPBLAST=${ARPBLAST:-$(pwd)/.build/tools/arpblast}

# Commands lab_cleanup runs first (lab_on_cleanup COMMAND): stopping what needs more than
# a SIGKILL by PID, such as a booted container.
LAB_CLEANUP_HOOKS=()
lab_on_cleanup() { LAB_CLEANUP_HOOKS+=("$*"); }

lab_init() {
    LAB=$1
    LAB_DIR=$(mktemp -d "/tmp/$LAB.XXXXXX")
    ip netns add "$LAB-sw"
    ip -n "$LAB-sw" link set lo up
    for br in br0 br1; do
        ip -n "$LAB-sw" link add "$br" type bridge
        ip -n "$LAB-sw" link set "$br" up
    done
}

# lab_host NAME N [SEGMENT] [IFACE]: a host namespace (created on first use) with IFACE
# (default eth0) on bridge br$SEGMENT.
lab_host() {
    local name=$1 n=$2 segment=${3:-0} iface=${4:-eth0}
    local ns="$LAB-$name" hex
    hex=$(printf '%02x' "$n")
    if [ ! -e "/run/netns/$ns" ]; then
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    fi
    ip link add "$iface" netns "$ns" type veth peer name "p$name$segment" netns "$LAB-sw"
    ip -n "$LAB-sw" link set "p$name$segment" master "br$segment" up
    ip -n "$ns" link set "$iface" address "02:00:00:00:0$segment:$hex"
    ip -n "$ns" link set "$iface" up
    if [ "$segment" = 0 ] || [ -n "${LAB_SAME_SUBNET:-}" ]; then
        ip -n "$ns" addr add "198.51.100.$((n + 100 * segment))/24" dev "$iface"
        ip -n "$ns" addr add "2001:db8:100::$((n + 100 * segment))/64" dev "$iface" nodad
    fi
}

# lab_vip_config ADDRESS...: writes $LAB_DIR/herald.toml for eth0 with one [[vip]] per
# address (named vip1, vip2, ...), for every node.
lab_vip_config() {
    local n=0 address
    printf '[node]\ninterfaces = ["eth0"]\n' >"$LAB_DIR/herald.toml"
    for address in "$@"; do
        n=$((n + 1))
        printf '[[vip]]\nname = "vip%s"\naddress = "%s"\n' "$n" "$address" >>"$LAB_DIR/herald.toml"
    done
}

# lab_cluster_config HOST N PEERS... (host numbers): writes $LAB_DIR/HOST.toml: gossip
# on 198.51.100.N:7946 joining the peers, the shared key, metrics on the host's own
# 127.0.0.1:9473, node.mode = $LAB_NODE_MODE and node.target_probe_interval =
# $LAB_TARGET_PROBE_INTERVAL and node.witness = $LAB_WITNESS if set, the gossip port
# $LAB_GOSSIP_PORT (default 7946), and whatever $LAB_DIR/vips.toml holds. Make the key
# with lab_gossip_key first.
lab_cluster_config() {
    local host=$1 n=$2 peer join=""
    shift 2
    for peer in "$@"; do join="$join\"198.51.100.$peer:${LAB_GOSSIP_PORT:-7946}\", "; done
    {
        printf '[node]\ninterfaces = ["eth0"]\n'
        [ -z "${LAB_NODE_MODE:-}" ] || printf 'mode = "%s"\n' "$LAB_NODE_MODE"
        [ -z "${LAB_TARGET_PROBE_INTERVAL:-}" ] || printf 'target_probe_interval = "%s"\n' "$LAB_TARGET_PROBE_INTERVAL"
        [ -z "${LAB_WITNESS:-}" ] || printf 'witness = "%s"\n' "$LAB_WITNESS"
        printf '\n[gossip]\nbind = "198.51.100.%s:%s"\njoin = [%s]\n' "$n" "${LAB_GOSSIP_PORT:-7946}" "${join%, }"
        printf 'key_file = "%s"\nprofile = "%s"\n\n' "$LAB_DIR/gossip.key" "${LAB_PROFILE:-lan}"
        printf '[metrics]\nlisten = "127.0.0.1:9473"\n\n' 
        cat "$LAB_DIR/vips.toml"
    } >"$LAB_DIR/$host.toml"
}

lab_gossip_key() {
    rm -f "$LAB_DIR/gossip.key"
    "$HERALD_BIN/heraldctl" keygen "$LAB_DIR/gossip.key" >/dev/null
}

# lab_loss HOST PERCENT: drop PERCENT % of what HOST sends, with tc netem where the
# kernel has it, else an nftables rule (numgen random) on the output hook — IP only, which
# is what gossip uses. lab_loss HOST 0 removes it.
lab_loss() {
    local host=$1 percent=$2
    may_fail lab_exec "$host" tc qdisc del dev eth0 root 2>/dev/null
    may_fail lab_exec "$host" nft delete table inet herald_loss 2>/dev/null
    [ "$percent" = 0 ] && return 0
    if lab_exec "$host" tc qdisc add dev eth0 root netem loss "$percent%" 2>/dev/null; then
        echo "loss on $host: tc netem $percent %"
    else
        lab_exec "$host" nft -f - <<NFT
table inet herald_loss {
    chain out {
        type filter hook output priority 0;
        numgen random mod 100 < $percent drop
    }
}
NFT
        echo "loss on $host: nftables numgen random $percent % (this kernel has no sch_netem)"
    fi
}

lab_exec() { local name=$1; shift; ip netns exec "$LAB-$name" "$@"; }

# may_fail COMMAND...: runs COMMAND and takes its failure as an answer (no reply, a
# timeout, nothing to delete), but not a program that is missing or cannot run (status
# 126 or 127): that stops the script, so a missing tool never passes for "no answer".
may_fail() {
    local status=0
    "$@" || status=$?
    if [ "$status" -ge 126 ]; then
        echo "FAIL: $1 could not run (status $status); is it installed? (scripts/install-deps.sh)" >&2
        exit 1
    fi
    return 0
}

# count PATTERN FILE: how many lines of FILE match PATTERN (0 when none; an unreadable
# file stops the script).
count() { grep -c -- "$1" "$2" || [ $? = 1 ]; }
# has GREP-ARGS...: whether any line of stdin matches. Unlike grep -q it reads all of its
# input, so the command before it in a pipeline never dies of SIGPIPE (which pipefail
# would count as a failure).
has() { grep "$@" >/dev/null; }

# lab_spawn ID HOST COMMAND...: runs COMMAND in HOST in the background, output to
# $LAB_DIR/ID.log, PID in $LAB_DIR/ID.pid so lab_cleanup stops it. `ip netns exec` execs
# the command, so the recorded PID is the command's own (a backgrounded shell function
# would record a subshell and leak the command).
lab_spawn() {
    local id=$1 host=$2
    shift 2
    ip netns exec "$LAB-$host" "$@" >"$LAB_DIR/$id.log" 2>&1 &
    echo $! >"$LAB_DIR/$id.pid"
}

# lab_heraldd HOST CONFIG [ARGS...]: starts heraldd in HOST with host name HOST (its own
# UTS namespace), logging to $LAB_DIR/HOST.log, control socket $LAB_DIR/HOST.sock;
# $LAB_WRAP, if set, goes before heraldd's path (t_replay: an env with LD_PRELOAD).
lab_heraldd() {
    local host=$1 config=$2
    shift 2
    stat -c %s "$LAB_DIR/$host.log" >"$LAB_DIR/$host.offset" 2>/dev/null || echo 0 >"$LAB_DIR/$host.offset"
    # shellcheck disable=SC2086 # LAB_WRAP: words put before heraldd (an env with LD_PRELOAD)
    ip netns exec "$LAB-$host" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$host" \
        ${LAB_WRAP:-} "$HERALD_BIN/heraldd" --config "$config" --control-socket "$LAB_DIR/$host.sock" "$@" \
        >>"$LAB_DIR/$host.log" 2>&1 &
    echo $! >"$LAB_DIR/$host.pid"
    grep -qx "$host" "$LAB_DIR/heraldd.hosts" 2>/dev/null || echo "$host" >>"$LAB_DIR/heraldd.hosts"
}

lab_pid() { cat "$LAB_DIR/$1.pid"; }

# Waits (at most 30 s) until HOST's heraldd logged that it is ready (since its latest start).
lab_wait_ready() {
    local host=$1 i
    for i in $(seq 300); do
        tail -c +"$(( $(cat "$LAB_DIR/$host.offset") + 1 ))" "$LAB_DIR/$host.log" 2>/dev/null | grep -q 'msg=ready' && return 0
        kill -0 "$(lab_pid "$host")" 2>/dev/null || { echo "heraldd on $host exited:"; cat "$LAB_DIR/$host.log"; return 1; }
        sleep 0.1
    done
    echo "heraldd on $host not ready after 30 s:"
    cat "$LAB_DIR/$host.log"
    return 1
}

lab_ctl() { local host=$1; shift; "$HERALD_BIN/heraldctl" "$@" --socket "$LAB_DIR/$host.sock"; }

# lab_stop HOST [SIGNAL]: stops HOST's heraldd with SIGTERM (or SIGNAL), waits (at most
# 10 s, then SIGKILL) and returns its exit status, printing its last log lines when that
# is not 0. A stopped (SIGSTOP) daemon is continued first.
lab_stop() {
    local host=$1 signal=${2:-TERM} pid status watchdog
    pid=$(lab_pid "$host")
    kill -0 "$pid" 2>/dev/null || return 0
    kill -CONT "$pid" 2>/dev/null
    kill "-$signal" "$pid" 2>/dev/null
    (sleep 10; kill -KILL "$pid" 2>/dev/null) &
    watchdog=$!
    wait "$pid"
    status=$?
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null || :   # the killed timer's own status
    echo "$status" >"$LAB_DIR/$host.exit"
    if [ "$status" != 0 ]; then
        echo "heraldd on $host exited with status $status after SIG$signal; its last lines:"
        tail -n 5 "$LAB_DIR/$host.log"
    fi
    return "$status"
}

# lab_hog_start [SECONDS]: a CPU hog on every core of the machine (stress-ng --cpu 0, at
# nice 0, as VMs or a build would be), for at most SECONDS (default 900); lab_hog_stop,
# also run by the cleanup, stops it and waits for its workers (SIGKILL on the parent
# alone would leave them spinning).
lab_hog_start() {
    stress-ng --cpu 0 --timeout "${1:-900}s" --quiet >"$LAB_DIR/hog.log" 2>&1 &
    echo $! >"$LAB_DIR/hog.run"
    lab_on_cleanup lab_hog_stop
    sleep 1
    kill -0 "$(cat "$LAB_DIR/hog.run")" 2>/dev/null || { echo "FAIL: stress-ng did not start: $(cat "$LAB_DIR/hog.log")" >&2; exit 1; }
}
lab_hog_stop() {
    local pid i
    pid=$(cat "$LAB_DIR/hog.run" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null || :   # its status after SIGTERM
    rm -f "$LAB_DIR/hog.run"
    return 0
}

# Stops every heraldd the lab started that still runs with SIGTERM, then kills the rest
# of what it started (by recorded PID) and deletes its namespaces. Runs from an EXIT trap,
# so it must not stop half way: errexit is off here. A test that passed so far fails if a
# heraldd does not exit with status 0 on SIGTERM: every test checks the clean stop.
lab_cleanup() {
    local status=$?
    set +e
    local pidfile pid ns host hook
    for hook in "${LAB_CLEANUP_HOOKS[@]}"; do eval "$hook"; done
    for pidfile in "$LAB_DIR"/*.pid; do
        [ -e "$pidfile" ] || continue
        host=$(basename "$pidfile" .pid)
        grep -qx "$host" "$LAB_DIR/heraldd.hosts" 2>/dev/null || continue
        if ! lab_stop "$host" && [ "$status" = 0 ]; then
            echo "FAIL: heraldd on $host did not stop cleanly"
            status=1
        fi
    done
    for pidfile in "$LAB_DIR"/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    for ns in $(ip netns list | awk '{print $1}' | grep "^$LAB-"); do ip netns del "$ns"; done
    [ -n "${LAB_KEEP:-}" ] || rm -rf "$LAB_DIR"
    exit "$status"
}

# lab_kube_api [ID]: the test Kubernetes API server (Tests/support/kube-apiserver.py) in
# host k (198.51.100.5:6443, create it with `lab_host k 5` first), with a CA, client
# certificates and kubeconfigs in $LAB_DIR/pki and its objects in $LAB_DIR/api.json (so
# a restart keeps them); waits until it answers. ID names the process (default api).
lab_kube_api() {
    local id=${1:-api} i
    [ -e "$LAB_DIR/pki/ca.crt" ] || bash Tests/support/kube-pki.sh "$LAB_DIR/pki" 198.51.100.5:6443
    lab_spawn "$id" k /usr/bin/python3 Tests/support/kube-apiserver.py --listen 198.51.100.5:6443 --state "$LAB_DIR/api.json" \
        --cert "$LAB_DIR/pki/server.crt" --key "$LAB_DIR/pki/server.key" --client-ca "$LAB_DIR/pki/ca.crt"
    for i in $(seq 50); do kubectl version >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "test API server did not start: $(cat "$LAB_DIR/$id.log")"
    return 1
}

# lab_kube_node NAME N SERVICE-IP...: a namespace emulating a Kubernetes node that runs
# no Herald (Talos), set up as kube-proxy's IPVS mode does: eth0 at 198.51.100.N, the
# Service addresses on a device of their own (lo here: this kernel has no dummy module)
# with arp_ignore=1 and arp_announce=2, so its kernel accepts their traffic but never
# answers ARP for them, and an HTTP server on port 80 answering with the node's name.
lab_kube_node() {
    local name=$1 n=$2 address
    shift 2
    lab_host "$name" "$n"
    lab_exec "$name" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
    for address in "$@"; do
        case $address in
            *:*) lab_exec "$name" ip addr add "$address/128" dev lo ;;
            *) lab_exec "$name" ip addr add "$address/32" dev lo ;;
        esac
    done
    lab_spawn "http-$name" "$name" /usr/bin/python3 Tests/support/node-http.py --name "$name" --port 80
}

# lab_adjacent: the adjacent-mode lab. The test API server in k lists nodes n1..n3
# (198.51.100.31-33 and 2001:db8:100::31-33, lab_kube_node, holding Service addresses
# .100-.102 and 2001:db8:100::100); adjacent hosts a1 and a2 (.21, .22) run heraldd with
# node.mode = "adjacent", gossip and the pool 198.51.100.100-110, 2001:db8:100::100-110;
# the client is c (.2). Returns when both daemons are ready.
lab_adjacent() {
    local i
    lab_host k 5
    lab_host c 2
    for i in 1 2 3; do lab_kube_node "n$i" $((30 + i)) 198.51.100.100 198.51.100.101 198.51.100.102 2001:db8:100::100; done
    lab_host a1 21
    lab_host a2 22
    lab_kube_api
    kubectl apply -f Tests/support/manifests/nodes-n1-n3.yaml >/dev/null
    lab_gossip_key
    printf '[kubernetes]\nkubeconfig = "%s"\n\n[[pool]]\nname = "homelab"\naddresses = ["198.51.100.100-198.51.100.110", "2001:db8:100::100-2001:db8:100::110"]\n' \
        "$LAB_DIR/pki/herald.kubeconfig" >"$LAB_DIR/vips.toml"
    LAB_NODE_MODE=adjacent lab_cluster_config a1 21 22
    LAB_NODE_MODE=adjacent lab_cluster_config a2 22 21
    lab_heraldd a1 "$LAB_DIR/a1.toml"
    lab_heraldd a2 "$LAB_DIR/a2.toml"
    lab_wait_ready a1
    lab_wait_ready a2
}

# reach IP: the name of the node an HTTP request from c to IP reaches, or nothing.
reach() { may_fail lab_exec c curl -s --max-time 0.5 "http://$1/" 2>/dev/null; }

# wait_reach IP NODE SECONDS: polls until c reaches NODE at IP; fails after SECONDS.
wait_reach() {
    local deadline=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -le "$deadline" ]; do
        [ "$(reach "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# lab_cut HOST / lab_uncut HOST: unplug HOST's eth0 from the switch and plug it back.
lab_cut() { ip -n "$LAB-sw" link set "p${1}0" down; }
lab_uncut() { ip -n "$LAB-sw" link set "p${1}0" up; }

# kubectl as the cluster admin, run in the client namespace c.
kubectl() { lab_exec c kubectl --kubeconfig "$LAB_DIR/pki/admin.kubeconfig" "$@"; }

# external SERVICE: the first address in its status (kubectl's EXTERNAL-IP), or nothing.
external() { kubectl get svc "$1" -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null; }
