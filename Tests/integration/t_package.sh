# Packaging: the .deb `make test` built with `make deb` is lintian-clean, depends only on
# Debian libraries, installs (into a scratch root) with the unit disabled, keeps an edited
# /etc/herald/herald.toml, and its heraldd answers ARP. `make install` honours DESTDIR and
# PREFIX and never replaces an existing config.
source "$(dirname "$0")/lib.sh"
test_lab
deb=$(ls .build/herald_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "no .build/herald_*.deb: make deb failed (see the make test output above)"
version=$(dpkg-deb -f "$deb" Version)

lintian --fail-on error --tag-display-limit 0 "$deb" >"$LAB_DIR/lintian.txt" 2>&1 || fail "lintian: $(cat "$LAB_DIR/lintian.txt")"
! grep -s >/dev/null '^E:' "$LAB_DIR/lintian.txt" || fail "lintian errors: $(cat "$LAB_DIR/lintian.txt")"
pass "lintian: no errors ($(count '^[WI]:' "$LAB_DIR/lintian.txt") warnings/info)"

depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libpcap0.8 libsystemd0 libcurl4 libyaml-0-2; do [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"; done
[[ $depends != *swift* ]] || fail "depends on a Swift runtime: $depends"
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/herald/herald.toml ] || fail "conffiles: $(dpkg-deb -I "$deb" conffiles)"
# The shipped config announces nothing until the admin adds an address.
! dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/herald/herald.toml | has -E '^\[\[(vip|pool)\]\]' || fail "the conffile has an active VIP or pool"
dpkg-deb -c "$deb" | awk '{print $6}' >"$LAB_DIR/files.txt"
for file in ./usr/sbin/heraldd ./usr/sbin/heraldctl ./lib/systemd/system/herald.service ./usr/lib/sysusers.d/herald.conf \
            ./usr/share/man/man8/heraldd.8.gz ./usr/share/man/man8/heraldctl.8.gz ./usr/share/man/man5/herald.toml.5.gz \
            ./etc/herald/herald.toml ./usr/share/doc/herald/copyright ./usr/share/doc/herald/grafana-dashboard.json; do
    grep -qxF "$file" "$LAB_DIR/files.txt" || fail "$file not in the package"
done
pass "$version depends on $depends; binaries, unit, man pages, conffile, docs"

# Install into a scratch root: dpkg runs postinst with DPKG_ROOT set.
root=$LAB_DIR/root
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" "$root/var/log" "$root/etc"
touch "$root/var/lib/dpkg/status"
install_deb() { dpkg --root="$root" --force-script-chrootless --force-depends -i "$deb" </dev/null >>"$LAB_DIR/dpkg.log" 2>&1 || fail "dpkg -i: $(tail -5 "$LAB_DIR/dpkg.log")"; }
install_deb
grep -s >/dev/null '^herald:' "$root/etc/passwd" || fail "postinst did not create user herald"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/herald.service" ] || fail "the unit was enabled on install"
grep -qxF 'ExecStart=/usr/sbin/heraldd --config /etc/herald/herald.toml' "$root/lib/systemd/system/herald.service" || fail "unit ExecStart"
[ "$("$root/usr/sbin/heraldd" --version)" = "${version%-*}" ] || fail "heraldd --version"
[ "$("$root/usr/sbin/heraldctl" --version)" = "${version%-*}" ] || fail "heraldctl --version"
man -l "$root/usr/share/man/man5/herald.toml.5.gz" 2>/dev/null | grep -s >/dev/null 'key_file' || fail "herald.toml(5) does not render"
pass "installed: user herald created, unit present but not enabled, --version on both binaries"

echo '# edited by the admin' >>"$root/etc/herald/herald.toml"
install_deb
grep -s >/dev/null '^# edited by the admin' "$root/etc/herald/herald.toml" || fail "reinstall replaced the edited config"
pass "reinstalling keeps the edited /etc/herald/herald.toml"

# The packaged (stripped, statically linked Swift) heraldd answers for real.
lab_host h1 11; lab_host c 2
lab_vip_config 198.51.100.50
HERALD_BIN=$root/usr/sbin lab_heraldd h1 "$LAB_DIR/herald.toml"
HERALD_BIN=$root/usr/sbin lab_wait_ready h1
[ "$(arping_macs c 198.51.100.50 2 | sort -u)" = 02:00:00:00:00:0b ] || fail "the packaged heraldd does not answer"
pass "the packaged heraldd answers ARP"

# make install: DESTDIR and PREFIX, and an existing config is left alone.
dest=$LAB_DIR/dest
make -s install DESTDIR="$dest" PREFIX=/usr/local >"$LAB_DIR/install.log" 2>&1 || fail "make install: $(tail -5 "$LAB_DIR/install.log")"
for file in usr/local/sbin/heraldd usr/local/sbin/heraldctl usr/local/lib/systemd/system/herald.service \
            usr/local/share/man/man8/heraldd.8.gz etc/herald/herald.toml; do
    [ -e "$dest/$file" ] || fail "make install did not install $file"
done
grep -qxF 'ExecStart=/usr/local/sbin/heraldd --config /etc/herald/herald.toml' "$dest/usr/local/lib/systemd/system/herald.service" \
    || fail "unit not pointed at PREFIX: $(grep ExecStart "$dest/usr/local/lib/systemd/system/herald.service")"
echo '# mine' >"$dest/etc/herald/herald.toml"
make -s install DESTDIR="$dest" PREFIX=/usr/local >>"$LAB_DIR/install.log" 2>&1 || fail "second make install"
[ "$(cat "$dest/etc/herald/herald.toml")" = '# mine' ] || fail "make install replaced an existing config"
pass "make install honours DESTDIR and PREFIX and keeps an existing config"
