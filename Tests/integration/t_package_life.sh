# The package's whole life, as an admin lives it, on a Debian 12 and a Debian 13 (trixie,
# the base of Proxmox VE 9) container booted under systemd, sharing one VIP over gossip:
# install (lintian clean; the unit not enabled; users herald and herald-check), enable,
# upgrade each to a newer build while a client asks for the VIP every 10 ms (none
# unanswered, a new PID each: postinst restarted heraldd onto the new binary), remove
# (heraldd stopped, nothing left running, the config kept), purge (the state directory,
# the config and the enablement link gone; only what the admin made and the users stay).
source "$(dirname "$0")/lib.sh"
source Tests/support/systemd-container.sh
sd_test_lab s1 s2
lab_host s1 21; lab_host s2 22; lab_host c 2
deb=$SD_DEB
vip=198.51.100.50

# The newer build: the same package one Debian revision up, as an upgrade sees it.
version=$(dpkg-deb -f "$deb" Version)
newer="${version%-*}-$(( ${version##*-} + 1 ))"
mkdir -p "$LAB_DIR/repack"
cp "$deb" "$LAB_DIR/share/old.deb"
dpkg-deb -R "$deb" "$LAB_DIR/repack/herald"
sed -i "s/^Version: .*/Version: $newer/" "$LAB_DIR/repack/herald/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$LAB_DIR/repack/herald" "$LAB_DIR/share/new.deb" >/dev/null
for package in "$LAB_DIR/share/old.deb" "$LAB_DIR/share/new.deb"; do
    lintian --fail-on error,warning --suppress-tags initial-upload-closes-no-bugs "$package" >"$LAB_DIR/lintian.txt" 2>&1 \
        || fail "lintian $(dpkg-deb -f "$package" Version): $(cat "$LAB_DIR/lintian.txt")"
done
pass "lintian: $version and $newer without errors or warnings"

sd_boot s1 s1 "$(sd_rootfs "$deb" bookworm)" || fail "container s1 (bookworm) did not boot"
sd_boot s2 s2 "$(sd_rootfs "$deb" trixie)" || fail "container s2 (trixie) did not boot"
[ "$(sd_exec s2 sh -c '. /etc/os-release; echo $VERSION_CODENAME')" = trixie ] || fail "s2 is not trixie"
for s in s1 s2; do
    sd_exec "$s" dpkg -i /mnt/share/old.deb >"$LAB_DIR/$s.dpkg" 2>&1 || fail "dpkg -i on $s: $(cat "$LAB_DIR/$s.dpkg")"
    [ "$(sd_exec "$s" systemctl is-enabled herald)" = disabled ] || fail "the package enabled the unit on $s"
    [ "$(sd_show "$s" herald ActiveState)" = inactive ] || fail "the package started heraldd on $s"
    sd_exec "$s" id herald >/dev/null && sd_exec "$s" id herald-check >/dev/null || fail "users missing on $s"
    ! sd_exec "$s" id -nG herald-check | tr " " "\n" | has -x herald || fail "herald-check is in group herald on $s"
done
grep -q 'edit /etc/herald/herald.toml' "$LAB_DIR/s1.dpkg" || fail "no hint after install: $(cat "$LAB_DIR/s1.dpkg")"
pass "installed on bookworm (systemd $(sd_exec s1 systemctl --version | head -n 1 | cut -d' ' -f2)) and trixie (systemd $(sd_exec s2 systemctl --version | head -n 1 | cut -d' ' -f2)): unit present, not enabled, not started; users herald and herald-check"

sd_exec s1 heraldctl keygen /etc/herald/gossip.key >/dev/null
sd_exec s1 cat /etc/herald/gossip.key | sd_exec s2 install -m 0600 -o herald -g herald /dev/stdin /etc/herald/gossip.key
for n in 1 2; do
    printf '[node]\ninterfaces = ["eth0"]\n\n[gossip]\nbind = "198.51.100.2%s:7946"\njoin = ["198.51.100.2%s:7946"]\nkey_file = "/etc/herald/gossip.key"\n\n[[vip]]\nname = "web"\naddress = "%s"\n' \
        "$n" "$((3 - n))" "$vip" | sd_exec "s$n" sh -c 'cat >/etc/herald/herald.toml'
    sd_exec "s$n" systemctl enable --now herald 2>/dev/null || fail "enable --now on s$n: $(sd_exec "s$n" journalctl -u herald --no-pager | tail -n 5)"
done
members_alive() { sd_exec "$1" heraldctl members 2>/dev/null | grep -c ' alive '; }
for i in $(seq 100); do [ "$(members_alive s1)" = 2 ] && [ "$(members_alive s2)" = 2 ] && break; sleep 0.2; done
[ "$(members_alive s1)" = 2 ] || fail "s1 and s2 do not see each other: $(sd_exec s1 heraldctl members)"
for i in $(seq 50); do [ "$(arping_macs c $vip 2 | sort -u | wc -l)" = 1 ] && break; sleep 0.2; done
pass "enabled on both: one cluster, $vip answered by $(arping_macs c $vip 1)"

# Upgrade each in turn while the client asks every 10 ms.
lab_spawn asks c "$ARPBLAST" eth0 asks "$vip" 10
sleep 1
for s in s1 s2; do
    before=$(sd_show "$s" herald MainPID)
    sd_exec "$s" dpkg -i /mnt/share/new.deb >"$LAB_DIR/$s.upgrade" 2>&1 || fail "upgrade on $s: $(cat "$LAB_DIR/$s.upgrade")"
    after=$(sd_show "$s" herald MainPID)
    [ "$after" != "$before" ] && [ "$after" != 0 ] || fail "heraldd on $s was not restarted onto the new binary (PID $before -> $after)"
    [ "$(sd_show "$s" herald ActiveState)" = active ] || fail "heraldd on $s is $(sd_show "$s" herald ActiveState) after the upgrade"
    [ "$(sd_exec "$s" dpkg-query -W -f '${Version}' herald)" = "$newer" ] || fail "$s runs $(sd_exec "$s" dpkg-query -W -f '${Version}' herald)"
    for i in $(seq 100); do [ "$(members_alive s1)" = 2 ] && [ "$(members_alive s2)" = 2 ] && break; sleep 0.2; done
    echo "$s: $version -> $newer, PID $before -> $after"
done
sleep 1
kill -INT "$(cat "$LAB_DIR/asks.pid")"
for i in $(seq 50); do grep -q '^asks=' "$LAB_DIR/asks.log" && break; sleep 0.1; done
summary=$(grep '^asks=' "$LAB_DIR/asks.log") || fail "the client did not report: $(cat "$LAB_DIR/asks.log")"
[ "$(echo "$summary" | sed -n 's/.* unanswered=\([0-9]*\) .*/\1/p')" = 0 ] || fail "unanswered during the upgrade: $summary"
pass "upgraded both to $newer, each restarted onto the new binary (new PIDs); the client's requests every 10 ms: $summary"

# Remove: heraldd stops before its binary goes; the config stays.
sd_exec s1 dpkg -r herald >"$LAB_DIR/remove.log" 2>&1 || fail "dpkg -r: $(cat "$LAB_DIR/remove.log")"
! sd_exec s1 pgrep -x heraldd >/dev/null || fail "heraldd still runs after removal: $(sd_exec s1 ps -ef | grep heraldd)"
! sd_exec s1 test -e /usr/sbin/heraldd || fail "the binary is still there"
sd_exec s1 test -e /etc/herald/herald.toml || fail "removal took the config"
for i in $(seq 50); do [ "$(arping_macs c $vip 1)" = 02:00:00:00:00:16 ] && break; sleep 0.1; done
[ "$(arping_macs c $vip 2 | sort -u)" = 02:00:00:00:00:16 ] || fail "s2 did not take $vip over from the removed s1"
pass "dpkg -r on s1: heraldd stopped (none running), binary gone, config kept; s2 answers $vip"

# Purge: only what the admin made (the key) and the users are left.
for s in s1 s2; do
    sd_exec "$s" dpkg -P herald >"$LAB_DIR/purge.log" 2>&1 || fail "dpkg -P on $s: $(cat "$LAB_DIR/purge.log")"
    ! sd_exec "$s" pgrep -x heraldd >/dev/null || fail "heraldd runs after purge on $s"
    left=$(sd_exec "$s" sh -c 'for f in /var/lib/herald /run/herald /etc/systemd/system/multi-user.target.wants/herald.service /lib/systemd/system/herald.service /usr/lib/sysusers.d/herald.conf /usr/share/doc/herald /etc/herald/herald.toml /etc/herald/pools.d; do if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done')
    [ -z "$left" ] || fail "left after purge on $s: $left"
    [ "$(sd_exec "$s" ls -A /etc/herald)" = gossip.key ] || fail "/etc/herald on $s holds: $(sd_exec "$s" ls -A /etc/herald)"
    [ -z "$(sd_exec "$s" dpkg-query -W -f '${Status}' herald 2>/dev/null | grep -v 'not-installed')" ] || fail "dpkg still knows herald on $s"
done
pass "dpkg -P on both: no state directory, unit, enablement link or config left; /etc/herald holds only the admin's gossip.key; users kept (policy)"
