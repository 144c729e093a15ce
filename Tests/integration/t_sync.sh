# GitOps by pull, as packaged: herald-sync.service (heraldctl sync) on a Debian 12
# container booted under systemd, pulling a local git repository laid out as
# docs/gitops.md says, the gossip key encrypted with sops for the host's age identity.
# The first run installs the config and the key and heraldd starts on them; a good commit
# is applied and reloaded; a bad commit is refused with nothing installed, the old config
# still running, and the journal and heraldd's metrics say so; the next good commit heals.
# Then what a repository or a network may do: move, hang a fetch, leave a lock, ship a
# secret named sync.env or a link to /etc/shadow.
source "$(dirname "$0")/lib.sh"
source Tests/support/systemd-container.sh
sd_test_lab s1
lab_host s1 21; lab_host c 2
root=$(SD_INCLUDE=git sd_rootfs "$SD_DEB") || fail "cannot build the container root file system"

repo="$LAB_DIR/share/repo"
dir="$repo/clusters/lab"
mkdir -p "$dir/shared/pools.d" "$dir/secrets" "$dir/hosts/s1"
age-keygen -o "$LAB_DIR/s1.age" 2>/dev/null
printf '[[vip]]\nname = "web"\naddress = "198.51.100.50"\n' >"$dir/shared/pools.d/homelab.toml"
ln -s ../../shared/pools.d "$dir/hosts/s1/pools.d"
printf '[node]\nname = "s1"\ninterfaces = ["eth0"]\n\n[gossip]\nbind = "198.51.100.21:7946"\nkey_file = "/etc/herald/gossip.key"\n\n[metrics]\nlisten = "127.0.0.1:9473"\n' \
    >"$dir/hosts/s1/herald.toml"
"$HERALD_BIN/heraldctl" keygen "$LAB_DIR/gossip.key" >/dev/null
# A binary secret beside it (NUL bytes, no final newline) must come out byte for byte.
{ printf '\0\n\0\377'; head -c 256 /dev/urandom; } >"$LAB_DIR/blob.der"
for secret in gossip.key blob.der; do
    sops --encrypt --age "$(age-keygen -y "$LAB_DIR/s1.age")" \
        --input-type binary --output-type binary "$LAB_DIR/$secret" >"$dir/secrets/$secret.sops"
done
git -C "$repo" init -q -b main
commit() { git -C "$repo" add -A && git -C "$repo" -c user.email=ci@lab -c user.name=ci commit -qm "$1" && git -C "$repo" rev-parse --short=12 HEAD; }
first=$(commit "s1 announces web")
cp .build/tools/bin/sops "$LAB_DIR/share/sops"

sd_boot s1 s1 "$root" || fail "container s1 did not boot"
sd_install s1
# sops behind a wrapper that notes the environment it is given (see "a good commit").
sd_exec s1 install -m 0755 /mnt/share/sops /usr/local/bin/sops.real
printf '#!/bin/sh\nenv >/var/lib/herald/sync/sops.env\nexec /usr/local/bin/sops.real "$@"\n' >"$LAB_DIR/share/sops-wrapper"
sd_exec s1 install -m 0755 /mnt/share/sops-wrapper /usr/local/bin/sops
[ "$(sd_show s1 herald-sync.timer UnitFileState)" = disabled ] || fail "herald-sync.timer is not disabled by default"
# The installed unit is the confined one (every run below is under that confinement).
exposure=$(sd_exec s1 systemd-analyze security herald-sync.service 2>/dev/null | sed -n 's/.*Overall exposure level for herald-sync.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] && /usr/bin/python3 -c "import sys; sys.exit(0 if float('$exposure') <= 2.3 else 1)" || fail "installed herald-sync.service: exposure '$exposure'"
sync_run() { # the unit, as the timer starts it; result (ok/failed) and its journal (each
    # run's lines name the revision it ran on)
    sd_exec s1 systemctl start herald-sync.service 2>/dev/null && result=ok || result=failed
    sync_log=$(sd_exec s1 journalctl -u herald-sync --no-pager -o cat)
}
scrape() { lab_exec s1 curl -sf --max-time 5 http://127.0.0.1:9473/metrics; }

# gitops.md's pull setup, verbatim, in /mnt/share with the host's age identity as host.age;
# `editor` stands in for the user, setting the repository, directory and secrets.
cp "$LAB_DIR/s1.age" "$LAB_DIR/share/host.age"
block=$(doc_block docs/gitops.md "herald-sync.timer" 2>&1) || fail "$block"
sd_exec s1 bash -euo pipefail -c "editor() {
    sed -i -e 's|^REPOSITORY=.*|REPOSITORY=/mnt/share/repo|' -e 's|^DIRECTORY=.*|DIRECTORY=clusters/lab/hosts/%H|' \\
        -e 's|^SECRETS=.*|SECRETS=clusters/lab/secrets|' \"\$1\"
}
cd /mnt/share
$block" </dev/null >"$LAB_DIR/setup.out" 2>&1 || fail "gitops.md's pull setup: $(tail -n 15 "$LAB_DIR/setup.out")"
has "herald-sync: revision $first: applied: installed; heraldd is not running" <"$LAB_DIR/setup.out" || fail "its journalctl said: $(cat "$LAB_DIR/setup.out")"
[ "$(sd_show s1 herald-sync.timer UnitFileState)/$(sd_show s1 herald-sync.timer ActiveState)" = enabled/active ] || fail "the timer is not enabled and active"
# From here each run is started by hand, so that each sees one commit.
sd_exec s1 systemctl stop herald-sync.timer
cmp -s <(sd_exec s1 cat /etc/herald/gossip.key) "$LAB_DIR/gossip.key" || fail "the key was not decrypted into place"
cmp <(sd_exec s1 cat /etc/herald/blob.der) "$LAB_DIR/blob.der" || fail "the binary secret differs from what was encrypted"
[ "$(sd_exec s1 stat -c '%a %U' /etc/herald/gossip.key)" = "600 herald" ] || fail "key: $(sd_exec s1 stat -c '%a %U' /etc/herald/gossip.key)"
sd_exec s1 systemctl enable --now herald 2>/dev/null || fail "enable --now: $(sd_exec s1 journalctl -u herald --no-pager | tail -n 5)"
for i in $(seq 30); do [ -n "$(arping_macs c 198.51.100.50 1)" ] && break; sleep 0.2; done
[ "$(arping_macs c 198.51.100.50 2 | sort -u)" = 02:00:00:00:00:15 ] || fail "198.51.100.50 not answered by s1"
has "herald_sync_result{result=\"applied\",revision=\"$first\"} 1" <<<"$(scrape)" || fail "metrics: $(scrape | grep sync)"
pass "gitops.md's pull setup, verbatim: the first sync installs config and key (600 herald, a binary secret byte for byte) from git, heraldd starts on them, herald_sync_result applied $first, under herald-sync.service's confinement (exposure $exposure)"

printf '[[vip]]\nname = "nas"\naddress = "198.51.100.51"\n' >>"$dir/shared/pools.d/homelab.toml"
good=$(commit "add nas")
# Root's tokens (here one in sync.env) stay away from sops: a repository's file may name
# a key service of its choosing.
sd_exec s1 sed -i '$a VAULT_TOKEN=root-token' /etc/herald/sync.env
sync_run
[ $result = ok ] && has "revision $good: applied: installed; heraldd: config reloaded: vips +1" <<<"$sync_log" || fail "a good commit: $result $sync_log"
sops_env=$(sd_exec s1 cat /var/lib/herald/sync/sops.env)
has '^HOME=/nonexistent$' <<<"$sops_env" && ! has VAULT_TOKEN <<<"$sops_env" || fail "sops was given: $sops_env"
sd_exec s1 sed -i '/^VAULT_TOKEN=/d' /etc/herald/sync.env
for i in $(seq 30); do [ -n "$(arping_macs c 198.51.100.51 1)" ] && break; sleep 0.2; done
[ -n "$(arping_macs c 198.51.100.51 1)" ] || fail "the new VIP is not answered"
pass "a good commit: applied and reloaded, the new VIP answered; sops saw none of root's environment"

before=$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)
sed -i 's/198.51.100.51/192.0.2.51/' "$dir/shared/pools.d/homelab.toml"
bad=$(commit "a typo")
sync_run
[ $result = failed ] && [ "$(sd_show s1 herald-sync.service ExecMainStatus)" = 78 ] || fail "a bad commit: $result $(sd_show s1 herald-sync.service ExecMainStatus)"
has "revision $bad: invalid: .*192.0.2.51 is on no subnet" <<<"$sync_log" || fail "journal: $sync_log"
[ "$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)" = "$before" ] || fail "a bad commit changed /etc/herald"
[ -n "$(arping_macs c 198.51.100.51 1)" ] || fail "the running config lost nas"
metrics=$(scrape)
has "herald_sync_result{result=\"invalid\",revision=\"$bad\"} 1" <<<"$metrics" || fail "metrics: $(echo "$metrics" | grep sync)"
has '^herald_sync_last_success_timestamp_seconds ' <<<"$metrics" || fail "no last success"
pass "a bad commit: exit 78, nothing installed, nas still answered, herald_sync_result invalid $bad"

sed -i 's/192.0.2.51/198.51.100.51/' "$dir/shared/pools.d/homelab.toml"
fixed=$(commit "fix the typo")
sync_run
[ $result = ok ] && has "revision $fixed: unchanged" <<<"$sync_log" || fail "the fix: $result $sync_log"
has "herald_sync_result{result=\"unchanged\",revision=\"$fixed\"} 1" <<<"$(scrape)" || fail "metrics after the fix"
pass "the fix: the running config is the repository's again (unchanged), metrics say so"

# The repository moves (a new server): the next run fetches from the new REPOSITORY, not
# from where the checkout was first cloned.
git clone -q "$repo" "$LAB_DIR/share/moved"
git -C "$LAB_DIR/share/moved" -c user.email=ci@lab -c user.name=ci commit -q --allow-empty -m "on the new server"
moved=$(git -C "$LAB_DIR/share/moved" rev-parse --short=12 HEAD)
sd_exec s1 sed -i "s|^REPOSITORY=.*|REPOSITORY=/mnt/share/moved|" /etc/herald/sync.env
sync_run
[ $result = ok ] && has "revision $moved: unchanged" <<<"$sync_log" || fail "after the move: $result $sync_log"
pass "a moved repository: the next run fetches from the new REPOSITORY ($moved)"

# A fetch that hangs (a server that stopped answering; here ssh is `sleep`, and the #
# drops the arguments git adds) is stopped at the unit's TimeoutStartSec (3 s in a
# drop-in), with nothing installed.
[ "$(sd_show s1 herald-sync.service TimeoutStartUSec)" = 5min ] || fail "the packaged unit does not bound a run: $(sd_show s1 herald-sync.service TimeoutStartUSec)"
sd_exec s1 mkdir -p /etc/systemd/system/herald-sync.service.d
printf '[Service]\nTimeoutStartSec=3s\n' | sd_exec s1 tee /etc/systemd/system/herald-sync.service.d/timeout.conf >/dev/null
sd_exec s1 systemctl daemon-reload
sd_exec s1 sed -i -e 's|^REPOSITORY=.*|REPOSITORY=ssh://git.invalid/repo|' -e '$a GIT_SSH_COMMAND=sleep 600 #' /etc/herald/sync.env
before=$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)
started=$(date +%s)
sync_run
[ $result = failed ] && [ "$(sd_show s1 herald-sync.service Result)" = timeout ] \
    || fail "a hung fetch: $result, Result=$(sd_show s1 herald-sync.service Result)"
[ $(($(date +%s) - started)) -lt 30 ] || fail "the hung run was not stopped in time"
[ "$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)" = "$before" ] || fail "a hung run changed /etc/herald"
pass "a hung fetch: stopped at TimeoutStartSec (5min packaged, 3s here; Result=timeout), nothing installed"

# The next run finds a lock a killed git would leave in the checkout: it clones afresh.
sd_exec s1 sed -i -e "s|^REPOSITORY=.*|REPOSITORY=/mnt/share/moved|" -e '/^GIT_SSH_COMMAND=/d' /etc/herald/sync.env
sd_exec s1 touch /var/lib/herald/sync/checkout/.git/shallow.lock
git -C "$LAB_DIR/share/moved" -c user.email=ci@lab -c user.name=ci commit -q --allow-empty -m "after the lock"
relocked=$(git -C "$LAB_DIR/share/moved" rev-parse --short=12 HEAD)
sync_run
[ $result = ok ] && has "revision $relocked: unchanged" <<<"$sync_log" || fail "after a stale lock: $result $sync_log"
pass "a stale lock in the checkout: the next run clones afresh and runs $relocked"

# The repository is trusted with the host's Herald config, not with the host. A secret
# named sync.env would choose what this root unit runs next (GIT_SSH_COMMAND): refused,
# with nothing decrypted or installed.
moved_repo="$LAB_DIR/share/moved"
mcommit() { git -C "$moved_repo" add -A && git -C "$moved_repo" -c user.email=ci@lab -c user.name=ci commit -qm "$1" && git -C "$moved_repo" rev-parse --short=12 HEAD; }
printf 'GIT_SSH_COMMAND=touch /tmp/owned #\n' >"$LAB_DIR/sync.env.evil"
sops --encrypt --age "$(age-keygen -y "$LAB_DIR/s1.age")" --input-type binary --output-type binary "$LAB_DIR/sync.env.evil" \
    >"$moved_repo/clusters/lab/secrets/sync.env.sops"
env_before=$(sd_exec s1 cat /etc/herald/sync.env)
evil=$(mcommit "a secret named sync.env")
sync_run
[ $result = failed ] && [ "$(sd_show s1 herald-sync.service ExecMainStatus)" = 78 ] || fail "a secret named sync.env: $result $sync_log"
has "revision $evil: invalid: clusters/lab/secrets/sync.env.sops: a secret may not be named sync.env" <<<"$sync_log" || fail "journal: $sync_log"
[ "$(sd_exec s1 cat /etc/herald/sync.env)" = "$env_before" ] || fail "sync.env was replaced"
pass "a secret named sync.env: refused (exit 78), sync.env untouched"
git -C "$moved_repo" rm -q clusters/lab/secrets/sync.env.sops

# A config file that is a link out of the repository (to a file only root may read) is
# refused before anything reads it, and nothing of that file reaches the journal.
ln -s /etc/shadow "$moved_repo/clusters/lab/shared/pools.d/zz.toml"
out=$(mcommit "a link to /etc/shadow")
before=$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)
sync_run
[ $result = failed ] && [ "$(sd_show s1 herald-sync.service ExecMainStatus)" = 78 ] || fail "a link out: $result $sync_log"
has "revision $out: invalid: clusters/lab/hosts/s1/pools.d/zz.toml leads out of the repository (/etc/shadow)" <<<"$sync_log" || fail "journal: $sync_log"
has '^root:' <<<"$sync_log" && fail "the journal shows /etc/shadow"
[ "$(sd_exec s1 cat /etc/herald/herald.toml /etc/herald/pools.d/homelab.toml)" = "$before" ] || fail "a link out changed /etc/herald"
rm "$moved_repo/clusters/lab/shared/pools.d/zz.toml"
healed=$(mcommit "no link")
sync_run
[ $result = ok ] && has "revision $healed: unchanged" <<<"$sync_log" || fail "after the link went: $result $sync_log"
pass "a config file linked to /etc/shadow: refused (exit 78) unread; links inside the repository (pools.d) still work"
