# Hard faults move a VIP to the next host in election order: cutting the owner's link,
# SIGSTOP and SIGKILL. A stopped daemon that resumes holds back instead of fighting.
# Last, two of three killed at once: the survivor has lost more than it reaches, asks its
# witness (the client's kernel answers ARP for 198.51.100.2), hears it and takes the VIP.
source "$(dirname "$0")/lib.sh"
LAB_WITNESS=198.51.100.2 cluster_lab 3 198.51.100.50
vip=198.51.100.50

# fault NAME OWNER: inject; restore HOST NAME: undo.
fault() {
    case $1 in
        link) lab_exec "$2" ip link set eth0 down ;;
        stop) kill -STOP "$(lab_pid "$2")" ;;
        kill) kill -KILL "$(lab_pid "$2")" ;;
    esac
}
restore() {
    case $1 in
        link) lab_exec "$2" ip link set eth0 up ;;
        stop) kill -CONT "$(lab_pid "$2")" ;;
        kill) lab_heraldd "$2" "$LAB_DIR/$2.toml"; lab_wait_ready "$2" ;;
    esac
}

for kind in link stop kill; do
    owner=$(owner_of h1 $vip); [ "$owner" = h1 ] && owner=$(owner_of h2 $vip)
    observer=h1; [ "$owner" = h1 ] && observer=h2
    next=$(runner_up "$observer" $vip)
    only_mac $vip 2 >/dev/null
    fault $kind "$owner"
    start=$(date +%s.%N)
    wait_answered_by $vip "$(mac_of "$next")" 10 || fail "$kind: $vip not moved to $next: $(lab_ctl "$observer" vips)"
    pass "$kind of $owner: $vip moved to $next, the runner-up, after $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}') s (arping-polled)"
    only_mac $vip 4 >/dev/null
    restore $kind "$owner"
    if [ $kind = stop ]; then
        # Resumed: it notices it was stopped and holds down (3 s in the lan profile); the new
        # owner keeps answering alone meanwhile.
        resumed=$(date +%s%N)
        while [ $(( ($(date +%s%N) - resumed) / 1000000 )) -lt 2000 ]; do
            macs=$(arping_macs c $vip 1)
            [ "$macs" = "$(mac_of "$next")" ] || fail "after SIGCONT $vip answered by '$macs', not only $next"
        done
        grep -s >/dev/null 'holding down' "$LAB_DIR/$owner.log" || fail "resumed $owner did not hold down: $(tail -n 5 "$LAB_DIR/$owner.log")"
        pass "resumed $owner holds down; $next keeps $vip alone"
    fi
    wait_members_alive 3 h1 h2 h3
    # Settled again (after any hold-down): one owner, agreed by all, the only MAC answering.
    sleep 3.5
    final=$(wait_one_owner $vip h1 h2 h3)
    pass "$kind recovered: $final owns $vip, agreed by all, answering alone"
done

owner=$(owner_of h1 $vip); survivor=h1; [ "$owner" = h1 ] && survivor=h2
for h in h1 h2 h3; do [ "$h" = "$survivor" ] || kill -KILL "$(lab_pid "$h")"; done
start=$(date +%s.%N)
wait_answered_by $vip "$(mac_of "$survivor")" 10 \
    || fail "two killed: $survivor did not take $vip: $(lab_ctl "$survivor" status | grep -i -e isolat -e witness -e cut)"
grep -s >/dev/null 'witness' "$LAB_DIR/$survivor.log" || fail "$survivor did not ask its witness: $(tail -n 5 "$LAB_DIR/$survivor.log")"
pass "two of three killed: $survivor asked its witness and answers $vip after $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}') s"
