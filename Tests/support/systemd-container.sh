# Debian containers booted by a real systemd (systemd-nspawn -b), for testing heraldd
# as users run it: the .deb installed, `systemctl`, the journal, the watchdog, the sandbox.
# Source after scripts/lab.sh. Each container runs in a lab host's network namespace (so
# its eth0 is on the lab's bridge and nothing else), on a shared cached root file system
# with a volatile overlay (nothing it writes outlives it). There is no machined or system
# bus on the host: commands go in with nsenter into the container's PID 1.

SD_CACHE=${SD_CACHE:-$(pwd)/.build/systemd-rootfs}

# sd_test_lab NAME...: the lab of a container test (test_lab, from Tests/integration/lib.sh),
# with the .deb `make deb` built in $SD_DEB and at $LAB_DIR/share/herald.deb (containers see
# /mnt/share/herald.deb), and containers NAME... stopped however the test ends.
sd_test_lab() {
    local name
    SD_DEB=$(ls .build/herald_*.deb 2>/dev/null | head -n 1)
    [ -n "$SD_DEB" ] || fail "no .build/herald_*.deb: run make deb first"
    test_lab
    for name in "$@"; do lab_on_cleanup sd_stop "$name"; done
    mkdir -p "$LAB_DIR/share"
    cp "$SD_DEB" "$LAB_DIR/share/herald.deb"
}

# sd_install NAME: installs /mnt/share/herald.deb in container NAME, or fails the test.
sd_install() {
    sd_exec "$1" dpkg -i /mnt/share/herald.deb >"$LAB_DIR/$1.dpkg" 2>&1 || fail "dpkg -i on $1: $(cat "$LAB_DIR/$1.dpkg")"
}

# sd_rootfs DEB [SUITE]: a cached root of Debian SUITE (default bookworm; trixie is the base
# of Proxmox VE 9 and Raspberry Pi OS) with systemd and the runtime dependencies of DEB
# (its Depends, and $SD_INCLUDE: more packages, comma-separated), built with mmdebstrap
# from Debian's mirror on first use (~30 s); prints
# its path. The cache is keyed by suite and package list, so a new dependency builds a
# new root.
sd_rootfs() {
    local deb=$1 suite=${2:-bookworm} depends includes key root
    depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/(.*)//' -e 's/|.*//' -e 's/[[:space:]]//g' | sort -u | paste -sd, -)
    # trixie renamed libraries for its 64-bit time_t; the new names provide the old ones,
    # which apt installs but will not pick among by itself.
    [ "$suite" = bookworm ] || depends=$(echo "$depends" | sed -e 's/\blibcurl4\b/libcurl4t64/' -e 's/\blibpcap0\.8\b/libpcap0.8t64/')
    includes="systemd,systemd-sysv,dbus,iproute2,procps,$depends${SD_INCLUDE:+,$SD_INCLUDE}"
    key=$(printf '%s %s\n' "$suite" "$includes" | sha256sum | cut -c1-16)
    root="$SD_CACHE/$key"
    if [ ! -d "$root/usr" ]; then
        rm -rf "$root.tmp"
        mkdir -p "$SD_CACHE"
        mmdebstrap --quiet --variant=minbase --mode=root --include="$includes" "$suite" "$root.tmp" \
            http://deb.debian.org/debian >&2
        # The node name comes from the host name; each container gets its own (bind-mounted).
        rm -f "$root.tmp/etc/hostname"
        mv "$root.tmp" "$root"
    fi
    echo "$root"
}

# sd_boot NAME HOST ROOT: boots container NAME (host name NAME) in lab host HOST's
# network namespace, with the directory $LAB_DIR/share mounted read-only at /mnt/share;
# waits (at most 60 s) until its systemd reports the system running.
sd_boot() {
    local name=$1 host=$2 root=$3 nspawn pid1 i state
    mkdir -p "$LAB_DIR/share"
    echo "$name" >"$LAB_DIR/$name.hostname"
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid systemd-nspawn --quiet -D "$root" -b --register=no --keep-unit \
        --volatile=overlay --network-namespace-path="/run/netns/$LAB-$host" -M "$name" \
        --bind-ro="$LAB_DIR/$name.hostname:/etc/hostname" --bind-ro="$LAB_DIR/share:/mnt/share" \
        </dev/null >"$LAB_DIR/$name.console" 2>&1 &
    nspawn=$!
    echo "$nspawn" >"$LAB_DIR/$name.nspawn"
    for i in $(seq 100); do
        # Not there yet is the normal case at first: pgrep exits 1 then.
        pid1=$(pgrep -P "$nspawn" -x systemd) && break
        kill -0 "$nspawn" 2>/dev/null || { echo "systemd-nspawn for $name exited: $(cat "$LAB_DIR/$name.console")"; return 1; }
        sleep 0.1
    done
    [ -n "$pid1" ] || { echo "no systemd in container $name: $(cat "$LAB_DIR/$name.console")"; return 1; }
    echo "$pid1" >"$LAB_DIR/$name.pid1"
    for i in $(seq 600); do
        # Non-zero while still starting; empty only if systemctl could not run at all.
        state=$(sd_exec "$name" systemctl is-system-running 2>/dev/null) || [ -n "$state" ]
        case $state in running|degraded) return 0 ;; esac
        sleep 0.1
    done
    echo "container $name: system is '$state' after 60 s; failed units: $(sd_exec "$name" systemctl --failed --no-legend)"
    return 1
}

# sd_exec NAME COMMAND...: runs COMMAND inside container NAME (as root).
sd_exec() {
    local name=$1
    shift
    nsenter -t "$(cat "$LAB_DIR/$name.pid1")" -a -- "$@"
}

# sd_show NAME UNIT PROPERTY: one property of UNIT in container NAME (`systemctl show`).
sd_show() { sd_exec "$1" systemctl show -P "$3" "$2"; }

# sd_stop NAME: powers container NAME off (SIGRTMIN+3 to its systemd) and waits at most
# 20 s for systemd-nspawn to exit, then kills both. Safe to call twice.
sd_stop() {
    local name=$1 nspawn pid1 i
    [ -e "$LAB_DIR/$name.nspawn" ] || return 0
    nspawn=$(cat "$LAB_DIR/$name.nspawn")
    pid1=$(cat "$LAB_DIR/$name.pid1" 2>/dev/null)
    [ -n "$pid1" ] && kill -RTMIN+3 "$pid1" 2>/dev/null
    for i in $(seq 200); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$nspawn" 2>/dev/null; then
        [ -n "$pid1" ] && kill -KILL "$pid1" 2>/dev/null
        kill -KILL "$nspawn" 2>/dev/null
    fi
    wait "$nspawn" 2>/dev/null || :   # its status after a forced stop says nothing
    rm -f "$LAB_DIR/$name.nspawn"
}
