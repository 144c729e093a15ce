# docs/gitops.md for real: a repository with two clusters (lab-dev, lab-prod) under the
# default cluster name, secrets encrypted with sops and age (the page's two secret blocks
# run verbatim in the container; --filename-override, as the
# page says, and the error without it), `heraldctl check --offline` over every host, and
# a rollout onto a Debian 12 container booted under systemd: the key decrypted with the
# host's age identity into place (0600, herald), `heraldctl apply` of the host's directory
# (pools.d a link to the shared pools), `systemctl enable --now`; then a good commit is
# applied and reloaded, a bad one installs nothing (78), one heraldd refuses is rolled
# back (1).
source "$(dirname "$0")/lib.sh"
source Tests/support/systemd-container.sh
sd_test_lab s1
lab_host s1 21; lab_host c 2
root=$(sd_rootfs "$SD_DEB") || fail "cannot build the container root file system"
heraldctl() { "$HERALD_BIN/heraldctl" "$@"; }

# The repository: each cluster as docs/gitops.md lays it out, under clusters/NAME.
repo="$LAB_DIR/repo"
deployer="$LAB_DIR/deployer.age"
age-keygen -o "$deployer" 2>/dev/null
age-keygen -o "$LAB_DIR/s1.age" 2>/dev/null
cluster() { # cluster NAME SUBNET HOST:N... : the layout, the shared pools, the hosts
    local name=$1 subnet=$2 dir="$repo/clusters/$1" host n peers
    shift 2
    mkdir -p "$dir/shared/pools.d" "$dir/secrets"
    printf '[[pool]]\nname = "%s"\naddresses = ["%s.100-%s.120"]\n\n[[vip]]\nname = "web"\naddress = "%s.50"\n' \
        "$name" "$subnet" "$subnet" "$subnet" >"$dir/shared/pools.d/homelab.toml"
    peers=$(printf '"%s:7946", ' "${@##*:}" | sed "s/\"\\([0-9]*\\):/\"$subnet.\\1:/g; s/, \$//")
    for host in "$@"; do
        n=${host##*:}; host=${host%%:*}
        mkdir -p "$dir/hosts/$host"
        ln -s ../../shared/pools.d "$dir/hosts/$host/pools.d"
        printf '[node]\nname = "%s"\ninterfaces = ["eth0"]\n\n[gossip]\nbind = "%s.%s:7946"\njoin = [%s]\nkey_file = "/etc/herald/gossip.key"\n' \
            "$host" "$subnet" "$n" "$peers" >"$dir/hosts/$host/herald.toml"
    done
    printf 'creation_rules:\n  - path_regex: secrets/.*\\.sops$\n    age: >-\n      %s,\n      %s\n' \
        "$(age-keygen -y "$deployer")" "$(age-keygen -y "$LAB_DIR/s1.age")" >"$dir/.sops.yaml"
}
cluster lab-dev 198.51.100 s1:21 dev-2:22
cluster lab-prod 192.168.2 prod-1:11 prod-2:12
sed -i 's/\.100-\(.*\)\.120/.100-\1.130/' "$repo/clusters/lab-prod/shared/pools.d/homelab.toml"

# The page's secret steps, in lab-dev (sops finds .sops.yaml from the working directory).
cd "$repo/clusters/lab-dev"
heraldctl keygen "$LAB_DIR/gossip.key" >/dev/null
status=0; out=$(sops --encrypt --input-type binary --output-type binary "$LAB_DIR/gossip.key" 2>&1 >/dev/null) || status=$?
[ "$status" != 0 ] && [[ $out == *"no matching creation rules found"* ]] || fail "sops without --filename-override: $status $out"
cd - >/dev/null
pass "sops: 'no matching creation rules found' without --filename-override"

out=$(heraldctl check --offline "$repo"/clusters/*/hosts/*/herald.toml 2>&1) || fail "check --offline of both clusters: $out"
[ "$(echo "$out" | grep -c ': OK ')" = 4 ] || fail "said: $out"
pass "heraldctl check --offline clusters/*/hosts/*/herald.toml: 4 hosts of two clusters, both under the default name"

# Deploy to s1, as deploy.sh would (copied with the pools.d link resolved).
cp .build/tools/bin/sops "$LAB_DIR/share/sops"
cp -rL "$repo/clusters/lab-dev" "$LAB_DIR/share/lab-dev"
printf 'apiVersion: v1\nkind: Config\n' >"$LAB_DIR/share/lab-dev/herald.kubeconfig"
sd_boot s1 s1 "$root" || fail "container s1 did not boot"
sd_install s1
sd_exec s1 install -m 0600 /dev/stdin /etc/herald/age.key <"$LAB_DIR/s1.age"
# The page's two secret blocks, verbatim, in the container (the encrypting one's /tmp is
# the container's) in a writable copy of the cluster's directory: encrypted for the
# deployer and the host, then decrypted into place with the host's own identity.
sd_exec s1 cp -r /mnt/share/lab-dev /root/lab-dev
for text in "sops --encrypt" "sops --decrypt"; do
    block=$(doc_block docs/gitops.md "$text" 2>&1) || fail "$block"
    sd_exec s1 env PATH="/mnt/share:$PATH" SOPS_AGE_KEY_FILE=/etc/herald/age.key bash -euo pipefail -c "cd /root/lab-dev
$block" </dev/null >"$LAB_DIR/secrets.out" 2>&1 || fail "gitops.md's '$text' block: $(tail -n 5 "$LAB_DIR/secrets.out")"
done
sd_exec s1 cat /root/lab-dev/secrets/gossip.key.sops >"$LAB_DIR/gossip.key.sops"
grep -q '"age"' "$LAB_DIR/gossip.key.sops" && ! grep -qF "$(sd_exec s1 cut -c1-20 /etc/herald/gossip.key)" "$LAB_DIR/gossip.key.sops" \
    || fail "secrets/gossip.key.sops is not encrypted"
cmp -s <(sd_exec s1 cat /etc/herald/gossip.key) \
    <(SOPS_AGE_KEY_FILE=$deployer sops --decrypt --input-type binary --output-type binary "$LAB_DIR/gossip.key.sops") \
    || fail "the deployer does not decrypt the key the host installed"
sd_exec s1 test ! -e /tmp/gossip.key || fail "the plain key was left in /tmp"
[ "$(sd_exec s1 stat -c '%a %U %G' /etc/herald/gossip.key)" = "600 herald herald" ] || fail "key: $(sd_exec s1 stat -c '%a %U %G' /etc/herald/gossip.key)"
[ "$(sd_exec s1 stat -c '%a %U %G' /etc/herald/kubeconfig)" = "640 root herald" ] || fail "kubeconfig: $(sd_exec s1 stat -c '%a %U %G' /etc/herald/kubeconfig)"
out=$(sd_exec s1 heraldctl apply /mnt/share/lab-dev/hosts/s1) || fail "apply on s1: $out"
[ "$out" = "installed /mnt/share/lab-dev/hosts/s1 as /etc/herald/herald.toml; heraldd is not running (systemctl start herald)" ] || fail "said: $out"
sd_exec s1 systemctl enable --now herald 2>/dev/null || fail "enable --now: $(sd_exec s1 journalctl -u herald --no-pager | tail -n 5)"
for i in $(seq 30); do [ -n "$(arping_macs c 198.51.100.50 1)" ] && break; sleep 0.2; done
[ "$(arping_macs c 198.51.100.50 2 | sort -u)" = 02:00:00:00:00:15 ] || fail "198.51.100.50 not answered by s1"
pass "gitops.md's secret blocks, verbatim: key and kubeconfig encrypted for deployer and host (both decrypt it), decrypted on the host with its identity (600 herald, 640 root:herald); heraldctl apply, enable --now, the VIP answered"

# apply SUBJECT: edit the shared pools with sed SUBJECT, copy as deploy.sh does, apply.
apply() {
    sed -i "$1" "$repo/clusters/lab-dev/shared/pools.d/homelab.toml"
    rm -rf "$LAB_DIR/share/lab-dev"
    cp -rL "$repo/clusters/lab-dev" "$LAB_DIR/share/lab-dev"
    sd_exec s1 heraldctl apply /mnt/share/lab-dev/hosts/s1
}
out=$(apply '$a [[vip]]\nname = "nas"\naddress = "198.51.100.51"') || fail "a good commit: $out"
[[ $out == *"heraldd: config reloaded: vips +1 -0 ~0"* ]] || fail "said: $out"
for i in $(seq 30); do [ -n "$(arping_macs c 198.51.100.51 1)" ] && break; sleep 0.2; done
[ "$(arping_macs c 198.51.100.51 2 | sort -u)" = 02:00:00:00:00:15 ] || fail "the new VIP is not answered"
pass "a good commit: $out"
before=$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)
status=0; out=$(apply 's/198.51.100.51/192.0.2.51/' 2>&1) || status=$?
[ "$status" = 78 ] && [[ $out == *"192.0.2.51 is on no subnet of the interfaces Herald uses here"* ]] || fail "a bad commit: $status $out"
[ "$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)" = "$before" ] || fail "a bad commit changed /etc/herald"
pass "a bad commit: exit 78, nothing installed ($(echo "$out" | head -n 1 | cut -c1-120)…)"
sed -i 's/192.0.2.51/198.51.100.51/' "$repo/clusters/lab-dev/shared/pools.d/homelab.toml"
printf '\n[metrics]\nlisten = "127.0.0.1:9473"\n' >>"$repo/clusters/lab-dev/hosts/s1/herald.toml"
status=0; out=$(apply 's/x/x/' 2>&1) || status=$?
[ "$status" = 1 ] && [[ $out == *"this takes a restart"* ]] && [[ $out == *"the previous files are back in place"* ]] || fail "a refused commit: $status $out"
[ "$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)" = "$before" ] || fail "a refused commit stayed installed"
[ "$(sd_show s1 herald ActiveState)" = active ] || fail "heraldd is $(sd_show s1 herald ActiveState)"
pass "a commit heraldd refuses (metrics take a restart): exit 1, rolled back, heraldd active on the old config"
