#!/usr/bin/env bash
# Installs the Debian packages Herald builds and tests with, only those missing.
set -euo pipefail
packages=(libpcap-dev libsystemd-dev arping ndisc6 tcpdump iproute2 nftables util-linux procps python3 gcc libc6-dev
          curl prometheus libcurl4-openssl-dev libyaml-dev openssl)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
