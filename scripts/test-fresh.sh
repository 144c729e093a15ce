#!/usr/bin/env bash
# `make test-fresh`: `make test` on a fresh machine, as a new user would run it. A Debian 12
# root file system with only Swift's own prerequisites and make (built with mmdebstrap,
# cached in .build/fresh-rootfs) gets a fresh clone of HEAD, the Swift toolchain and the
# Swift package mirror bind-mounted read-only, and runs `make test` in it as the root of
# its own mount namespace (the kernel, its network namespaces and the network are this
# machine's, as on any host). Nothing it installs or writes outlives the run: the root is
# an overlay. Takes as long as a CI run plus the root's first build (~1 min).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
swift_root=$(dirname "$(dirname "$(dirname "$(command -v swift)")")")   # /opt/swift for /opt/swift/usr/bin/swift

# Swift's documented prerequisites on Debian 12, and make; and libncurses6, which the
# 6.3 toolchain's own binaries need (swift: libncurses.so.6, libform, libpanel) though
# the documented list leaves it out: part of installing Swift, not of Herald.
prerequisites=binutils,gcc,git,libc6-dev,libcurl4-openssl-dev,libedit2,libgcc-12-dev,libpython3-dev,libsqlite3-0,libstdc++-12-dev,libxml2-dev,libz3-dev,pkg-config,tzdata,zlib1g-dev,unzip,make,ca-certificates,libncurses6
base=.build/fresh-rootfs/$(printf '%s\n' "$prerequisites" | sha256sum | cut -c1-16)
if [ ! -d "$base/usr" ]; then
    echo "building a Debian 12 root with only Swift's prerequisites and make"
    rm -rf "$base.tmp"
    mkdir -p "$(dirname "$base")"
    mmdebstrap --quiet --variant=minbase --mode=root --include="$prerequisites" bookworm "$base.tmp" http://deb.debian.org/debian
    mv "$base.tmp" "$base"
fi

run=$(mktemp -d /tmp/herald-fresh.XXXXXX)
cleanup() {
    umount -R "$run/root" 2>/dev/null || :   # nothing mounted if the run never started
    rm -rf "$run"
}
trap cleanup EXIT
mkdir -p "$run/upper" "$run/work" "$run/root"
mount -t overlay overlay -o "lowerdir=$repo/$base,upperdir=$run/upper,workdir=$run/work" "$run/root"
git clone --quiet "$repo" "$run/root/root/herald"
cp /etc/resolv.conf "$run/root/etc/resolv.conf"
# The machine's network, with its trust: where this host reaches the outside through a
# proxy whose CA it trusts (PIP_CERT, SSL_CERT_FILE … point at that bundle), so does
# the fresh root. On a machine without such variables nothing is passed on.
trust=()
for variable in PIP_CERT SSL_CERT_FILE CURL_CA_BUNDLE REQUESTS_CA_BUNDLE; do
    [ -n "${!variable:-}" ] && [ -f "${!variable}" ] || continue
    cp "${!variable}" "$run/root/etc/ssl/host-trust.crt"
    trust+=("$variable=/etc/ssl/host-trust.crt")
done
# The package mirror, as /etc/gitconfig points github.com at it on this kind of machine.
[ -f /etc/gitconfig ] && cp /etc/gitconfig "$run/root/etc/gitconfig"
echo "make test on a fresh Debian 12 root ($(git rev-parse --short HEAD)); Swift from $swift_root"
unshare --mount --propagation private -- bash -euo pipefail -c '
    root=$1 swift_root=$2
    shift 2
    for fs in proc sys dev; do mkdir -p "$root/$fs"; mount --rbind "/$fs" "$root/$fs"; done
    mount -t tmpfs tmpfs "$root/run"
    mount -t tmpfs tmpfs "$root/tmp"
    for dir in "$swift_root" /opt/swift-packages; do
        [ -d "$dir" ] || continue
        mkdir -p "$root$dir"
        mount --bind "$dir" "$root$dir"
        mount -o remount,bind,ro "$root$dir"
    done
    # Into the root with pivot_root, not chroot: t_systemd_boot boots containers with
    # systemd-nspawn, which pivots into them, and that needs a real root.
    cd "$root"
    mkdir -p .oldroot
    pivot_root . .oldroot
    umount -l /.oldroot
    exec /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH="$swift_root/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$@" \
        bash -c "cd /root/herald && make test"
' fresh "$run/root" "$swift_root" "${trust[@]}"
