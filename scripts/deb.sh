#!/usr/bin/env bash
# `make deb`: stages `make install` at Debian's paths, adds the package metadata, builds
# .build/herald_VERSION-1_ARCH.deb with dpkg-deb and checks it with lintian (errors fail).
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(.build/release/heraldd --version)-1"
arch=$(dpkg --print-architecture)
stage=$PWD/.build/deb/herald
deb=.build/herald_${version}_${arch}.deb
rm -rf .build/deb
mkdir -p "$stage/DEBIAN"
make -s install DESTDIR="$stage" PREFIX=/usr UNITDIR=/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d >/dev/null
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/sbin/heraldd" "$stage/usr/sbin/heraldctl"

doc=$stage/usr/share/doc/herald
cat >"$doc/copyright" <<'TEXT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: herald
Source: https://github.com/herald-lb/herald

Files: *
Copyright: 2026 The Herald developers
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy of
 the License at https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 License for the specific language governing permissions and limitations under
 the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can be
 found in "/usr/share/common-licenses/Apache-2.0".
TEXT
{
    echo "herald ($version) unstable; urgency=medium"
    echo
    echo "  * Package built from the Herald source tree (make deb)."
    echo
    echo " -- Herald developers <dev@herald-lb.org>  $(date -R -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$doc/changelog.Debian.gz"

# Library dependencies as the dynamic linker sees them (libc, libpcap, libsystemd,
# libyaml), plus libcurl, which heraldd loads only with [kubernetes] (dlopen: the linker
# does not see it).
shlibs=$(mktemp -d)
mkdir "$shlibs/debian"
printf 'Source: herald\n\nPackage: herald\nArchitecture: any\n' >"$shlibs/debian/control"
depends=$(cd "$shlibs" && dpkg-shlibdeps -O -e"$stage/usr/sbin/heraldd" -e"$stage/usr/sbin/heraldctl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlibs"
[ -n "$depends" ] || { echo "dpkg-shlibdeps found no dependencies" >&2; exit 1; }

cat >"$stage/DEBIAN/control" <<TEXT
Package: herald
Version: $version
Architecture: $arch
Maintainer: Herald developers <dev@herald-lb.org>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends, libcurl4 (>= 7.71), systemd
Section: net
Priority: optional
Homepage: https://github.com/herald-lb/herald
Description: layer-2 load-balancer announcer (ARP/NDP) for VIPs and Services
 Herald makes virtual IP addresses reachable on a local network without a
 cloud load balancer: heraldd answers ARP and IPv6 neighbor discovery for the
 addresses its host owns and announces them when it takes them over. Several
 hosts agree over encrypted gossip which one announces each address and fail
 over in under a second. It probes addresses before use, reloads its config
 without dropping requests and exports Prometheus metrics.
TEXT
echo /etc/herald/herald.toml >"$stage/DEBIAN/conffiles"
# Maintainer scripts as debhelper's systemd handling would write them: the unit is never
# enabled or started by the package (the admin writes a config first), a running heraldd
# is restarted onto the new binary on upgrade and stopped on removal, and purge removes
# what the package and heraldd made (the state directory, the enablement link). Users
# stay, as Debian policy asks; files the admin made in /etc/herald (a key, a kubeconfig)
# stay too. Without systemd running (a chroot, an image build) they only touch files.
cat >"$stage/DEBIAN/postinst" <<'TEXT'
#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} herald.conf
    if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        # An upgrade (or a failed one undone) puts a running heraldd on this binary.
        if [ -n "$2" ]; then
            deb-systemd-invoke try-restart herald.service || echo "herald: restarting heraldd failed; see: journalctl -u herald" >&2
        fi
    fi
fi
if [ "$1" = configure ] && [ -z "$2" ]; then
    echo "herald: edit /etc/herald/herald.toml, check it with heraldctl check, then: systemctl enable --now herald"
fi
exit 0
TEXT
cat >"$stage/DEBIAN/prerm" <<'TEXT'
#!/bin/sh
set -e
# On removal heraldd stops answering before its binary goes; an upgrade restarts it in
# postinst instead, so its VIPs move away only for the moment of the restart.
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop herald-sync.timer herald-sync.service herald.service || true
fi
exit 0
TEXT
cat >"$stage/DEBIAN/postrm" <<'TEXT'
#!/bin/sh
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
    rm -rf "${DPKG_ROOT:-}/var/lib/herald"
    link="${DPKG_ROOT:-}/etc/systemd/system/multi-user.target.wants/herald.service"
    if [ -L "$link" ]; then rm -f "$link"; fi
fi
exit 0
TEXT
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
# Built outside Debian's archive: there is no bug to close.
mkdir -p "$stage/usr/share/lintian/overrides"
echo "herald: initial-upload-closes-no-bugs" >"$stage/usr/share/lintian/overrides/herald"
(cd "$stage" && find . \( -path ./DEBIAN -o -path ./etc \) -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 755 {} +
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "built $deb ($(du -h "$deb" | cut -f1))"
lintian --fail-on error --tag-display-limit 0 "$deb"
echo "lintian: no errors"
